"""A corpus of real applications' schemas (issue 21): each one's models at an older
release go into a copy of the project, the first revision is generated on SQLite as
the everyday workflow does, applied and checked on every configured database and
filled with rows; then its models at a newer release, the difference generated,
applied, checked, taken down and up again with the rows kept. Keys are compared with
the models' by columns and ON DELETE, not by name.

The models come from tools/corpus_extract.py run on mirrors of the applications'
repositories: ``CORPUS_MIRRORS`` names a folder of them (``<owner>+<name>/repo``,
bare); unset, the corpus is not run, as a server database whose URL is unset. A stage
that fails is a known defect, named in ``KNOWN_DEFECTS``: the case stops there as
an expected failure, and fails if the defect is gone (strict).
"""

import datetime
import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import orm

from conftest import alembic_runner, configured_backends, copy_project, fresh_url
from flask_alembic_kit.conventions import NAMING_CONVENTION
from tools.corpus_extract import APPS, extract

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(
        not os.environ.get("CORPUS_MIRRORS"),
        reason="CORPUS_MIRRORS names no folder of the applications' repositories",
    ),
]

# (app, database) -> (stage, what the error says, the defect): the first stage that
# fails there. Found by this file's first run; the kit is not changed here.
NOT_NULL = (
    "the newer release adds a NOT NULL column without a server default to a table "
    "with rows: revision --autogenerate says so in one line as it writes the file "
    "(the draft needs a step by hand: add nullable, fill, set NOT NULL), and the "
    "database refuses the unedited draft"
)
NO_LENGTH = (
    "the application's String() without a length, which MySQL cannot create: "
    "revision --autogenerate says so in one line as it writes the file"
)
KNOWN_DEFECTS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("ctfd", "sqlite"): ("apply newer", "Cannot add a NOT NULL column", NOT_NULL),
    ("ctfd", "postgresql"): ("apply newer", '"logic" of relation', NOT_NULL),
    ("ctfd", "mysql"): ("apply newer", "column logic of ctfd_challenges", NOT_NULL),
    ("flaskbb", "sqlite"): ("apply newer", "Cannot add a NOT NULL column", NOT_NULL),
    ("flaskbb", "postgresql"): ("apply newer", '"viewhidden" of relation', NOT_NULL),
    ("flaskbb", "mysql"): ("apply older", "VARCHAR requires a length", NO_LENGTH),
    ("pgadmin", "mysql"): ("apply older", "VARCHAR requires a length", NO_LENGTH),
    ("lemur", "postgresql"): (
        "apply older",
        '"gin_trgm_ops" does not exist',
        "the application's trigram indexes need CREATE EXTENSION pg_trgm, which "
        "the generated revision does not run (the kit does not render extensions): "
        "revision --autogenerate says so in one line as it writes the file",
    ),
}


class StageFailed(Exception):
    """A stage of the walk did not do what it should."""

    def __init__(self, stage: str, error: str) -> None:
        super().__init__(f"{stage}: {error}")
        self.stage = stage
        self.error = error


def cases() -> list:
    """One case per application and configured database it supports."""
    return [
        pytest.param(name, backend, id=f"{name}-{backend}")
        for name, app in APPS.items()
        for backend in configured_backends()
        if backend in app.databases
    ]


def metadata_of(source: str) -> sa.MetaData:
    """The tables a fixture module defines, on a ``db`` of their own with the
    project's naming convention, so the test process's models stay as they are."""

    class Base(orm.DeclarativeBase):
        metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

    namespace = {"db": SQLAlchemy(model_class=Base)}
    exec(
        compile(source.replace("from app.db import db", ""), "fixture", "exec"),
        namespace,
    )
    return Base.metadata


def value_for(column: sa.Column):
    """A value the column's type accepts, small enough for its length and checks."""
    kind = column.type
    if isinstance(kind, sa.Enum):
        return next(iter(kind.enum_class)) if kind.enum_class else kind.enums[0]
    for types, value in (
        (sa.Boolean, True),
        (sa.Integer, 1),
        (sa.Numeric | sa.Float, 1.5),
        (sa.DateTime, datetime.datetime(2024, 1, 2, 3, 4, 5)),
        (sa.Date, datetime.date(2024, 1, 2)),
        (sa.Time, datetime.time(3, 4, 5)),
        (sa.Interval, datetime.timedelta(seconds=5)),
        (sa.LargeBinary, b"corpus"),
        (sa.PickleType | sa.JSON, {"corpus": 1}),
        (sa.ARRAY, ["corpus"]),
        (sa.Uuid, uuid.UUID(int=1)),
    ):
        if isinstance(kind, types):
            return value
    if isinstance(kind, sa.String):
        return "corpus"[: kind.length or 6]
    return None


def insert_rows(engine: sa.Engine, metadata: sa.MetaData) -> dict[str, str]:
    """One row in every table whose keys can be met, parents first; a key that
    closes a cycle is left NULL. The tables that took no row, with why."""
    rows: dict[str, dict] = {}
    pending = dict(metadata.tables)
    refused: dict[str, str] = {}
    while pending:
        ready = [
            table
            for table in pending.values()
            if all(
                key.column.table.name in rows
                for key in table.foreign_keys
                if not key.parent.nullable and key.column.table is not table
            )
        ]
        if not ready:
            refused.update(dict.fromkeys(pending, "its keys form a NOT NULL cycle"))
            break
        for table in ready:
            del pending[table.name]
            row = row_for(table, rows)
            try:
                with engine.begin() as connection:
                    key = connection.execute(
                        table.insert().values(row)
                    ).inserted_primary_key
            except sa.exc.DBAPIError as error:
                refused[table.name] = str(error.orig).splitlines()[0]
                continue
            row.update(zip((c.name for c in table.primary_key), key, strict=False))
            rows[table.name] = row
    return refused


def row_for(table: sa.Table, rows: dict[str, dict]) -> dict:
    """The values of a table's one row: its keys point at the rows already in."""
    row = {}
    for column in table.columns:
        keys = list(column.foreign_keys)
        if keys:
            parent = rows.get(keys[0].column.table.name)
            row[column.name] = parent[keys[0].column.name] if parent else None
        elif column.autoincrement is True or (
            column.primary_key
            and len(table.primary_key) == 1
            and isinstance(column.type, sa.Integer)
        ):
            continue
        else:
            row[column.name] = value_for(column)
    return row


def row_counts(engine: sa.Engine, tables) -> dict[str, int]:
    """How many rows each of ``tables`` holds."""
    with engine.connect() as connection:
        return {
            name: connection.execute(
                sa.select(sa.func.count()).select_from(sa.table(name))
            ).scalar()
            for name in tables
        }


def action(ondelete: str | None) -> str | None:
    """ON DELETE as a database reports it; NO ACTION and RESTRICT as no action."""
    spelled = (ondelete or "").upper()
    return None if spelled in ("", "NO ACTION", "RESTRICT") else spelled


def keys_of_models(metadata: sa.MetaData) -> dict[str, set]:
    """Each table's foreign keys (columns, table, columns, ON DELETE) and unique
    keys (columns), from the models."""
    keys = {}
    for table in metadata.tables.values():
        foreign = {
            (
                tuple(c.name for c in key.columns),
                key.referred_table.name,
                tuple(e.column.name for e in key.elements),
                action(key.ondelete),
            )
            for key in table.foreign_key_constraints
        }
        unique = {
            tuple(c.name for c in each.columns)
            for each in (*table.constraints, *table.indexes)
            if isinstance(each, sa.UniqueConstraint)
            or (isinstance(each, sa.Index) and each.unique)
        }
        keys[table.name] = {"foreign": foreign, "unique": unique}
    return keys


def keys_in_database(engine: sa.Engine, tables) -> dict[str, set]:
    """The same, as the database reports them."""
    inspector = sa.inspect(engine)
    keys = {}
    for name in tables:
        foreign = {
            (
                tuple(key["constrained_columns"]),
                key["referred_table"],
                tuple(key["referred_columns"]),
                action(key["options"].get("ondelete")),
            )
            for key in inspector.get_foreign_keys(name)
        }
        unique = {
            tuple(each["column_names"])
            for each in inspector.get_unique_constraints(name)
        } | {
            tuple(each["column_names"])
            for each in inspector.get_indexes(name)
            if each["unique"]
        }
        keys[name] = {"foreign": foreign, "unique": unique}
    return keys


def compare_keys(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """The database's foreign and unique keys are the models', by meaning."""
    wanted = keys_of_models(metadata)
    found = keys_in_database(engine, wanted)
    differences = [
        f"{table} {kind}: models {sorted(wanted[table][kind] - found[table][kind])}"
        f" database {sorted(found[table][kind] - wanted[table][kind])}"
        for table in sorted(wanted)
        for kind in ("foreign", "unique")
        if wanted[table][kind] != found[table][kind]
    ]
    if differences:
        raise StageFailed("keys", "; ".join(differences))


class Walk:
    """The stages of one application on one database, each run in turn."""

    def __init__(self, name: str, backend: str, tmp_path: Path, target: sa.URL) -> None:
        self.app = APPS[name]
        self.name = name
        self.backend = backend
        self.project = copy_project(tmp_path / "project")
        # A PostgreSQL-only application cannot be created on SQLite at all: its
        # revisions are generated on the one database it supports.
        generate_on = target if "sqlite" not in self.app.databases else None
        self.generate = alembic_runner(
            self.project, generate_on or f"sqlite:///{tmp_path / 'generate.sqlite'}"
        )
        self.apply = alembic_runner(self.project, target)
        self.apply_is_generate = generate_on is not None
        self.engine = sa.create_engine(target)
        models = self.project / "app" / "models.py"
        models.write_text(
            models.read_text() + "\nimport app.corpus_models  # noqa: E402,F401\n"
        )

    def run(self, stage: str, alembic, *arguments: str) -> None:
        """One ``alembic`` command, which must succeed."""
        result = alembic(*arguments)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            last = output.splitlines()[-1] if output else "(no output)"
            failed = output[output.rfind("FAILED") :] if "FAILED" in output else last
            failed = failed.split("\nINFO")[0]  # the error, not the log after it
            raise StageFailed(stage, " ".join(failed.split())[:400])

    def use_models(self, version: int) -> str:
        """Put the models of the older (0) or newer (1) release in the copy."""
        source = extract(self.app, self.app.versions[version])
        (self.project / "app" / "corpus_models.py").write_text(source)
        return source

    def step(self, version: int) -> sa.MetaData:
        """Generate the revision for a release's models, apply it, check it."""
        label = ("older", "newer")[version]
        source = self.use_models(version)
        self.run(f"generate {label}", self.generate, "upgrade", "head")
        self.run(
            f"generate {label}",
            self.generate,
            "revision",
            "--autogenerate",
            "-m",
            f"{self.name} {self.app.versions[version]}",
        )
        metadata = metadata_of(source)
        self.run(f"apply {label}", self.apply, "upgrade", "head")
        self.run(f"check {label}", self.apply, "check")
        try:
            compare_keys(self.engine, metadata)
        except StageFailed as failed:
            raise StageFailed(f"keys {label}", failed.error) from None
        return metadata

    def walk(self) -> list[str]:
        """Every stage; the names of those passed."""
        older = self.step(0)
        refused = insert_rows(self.engine, older)
        filled = sorted(set(older.tables) - set(refused))
        if len(filled) < len(older.tables) / 2:
            raise StageFailed("insert rows", f"refused: {refused}")
        before = row_counts(self.engine, filled)
        newer = self.step(1)
        kept = [name for name in filled if name in newer.tables]
        self.run("downgrade", self.apply, "downgrade", "-1")
        self.run("upgrade again", self.apply, "upgrade", "head")
        self.run("check again", self.apply, "check")
        after = row_counts(self.engine, kept)
        lost = {
            name: (before[name], after[name])
            for name in kept
            if before[name] != after[name]
        }
        if lost:
            raise StageFailed("rows survive", f"rows before and after: {lost}")
        return filled


@pytest.mark.parametrize(("name", "backend"), cases())
def test_a_real_schema_walks_two_releases(name, backend, tmp_path):
    """Older models generated, applied, checked and filled; newer models generated,
    applied, checked, down and up again; the rows stay; keys are the models'."""
    if not APPS[name].mirror.exists():
        pytest.skip(f"no mirror of {APPS[name].repo} at {APPS[name].mirror}")
    known = KNOWN_DEFECTS.get((name, backend))
    with fresh_url(backend, tmp_path / "apply.sqlite") as url:
        walk = Walk(name, backend, tmp_path, url)
        try:
            filled = walk.walk()
        except StageFailed as failed:
            if known and known[0] == failed.stage and known[1] in failed.error:
                pytest.xfail(f"{failed.stage} on {backend}: {known[2]}")
            raise
        finally:
            walk.engine.dispose()
    assert known is None, f"known defect gone, remove it from KNOWN_DEFECTS: {known}"
    assert filled

"""``migration-squash REV``: REV and every revision before it become one baseline
revision file, with REV's own id, that creates the schema as it is at REV.

Databases at REV or past it keep working with no stamp: their ``alembic_version``
names a revision that still exists. The revisions after REV are not touched.

The schema comes from the old history, never from today's models: a throw-away
SQLite database is migrated to REV and reflected. SQLite keeps CHECK constraints,
expression indexes and server defaults as the revisions wrote them, in SQL every
database takes. What SQLite cannot hold (PostgreSQL enum types, time zones, UUIDs,
comments) comes from a throw-away PostgreSQL database migrated the same way. The
file is written with Alembic's ops and renderer, the project's ``render_item``,
``script.py.mako`` and post-write hooks, as autogenerate writes a revision (README,
"Squashing the history").
"""

import argparse
import ast
import contextlib
import io
import os
import re
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.config import Config
from alembic.operations import ops
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import conv

from app.migration.rendering import render_item
from app.migration.state import quiet_context
from tools import gitrepo
from tools.revision_source import RevisionSource, call_name
from tools.snapshot import sqlite_index_sql
from tools.squash_review import (
    first_differences,
    migrated_engine,
    quiet_migrations,
    schema_at,
)
from tools.trace import TraceError, first_line, server_urls
from tools.trace_findings import DATABASE_NAMES

# Revision code that asks for more than SQLite keeps: without PostgreSQL, the
# baseline would lose an enum type, a time zone, a UUID type or a comment.
NEEDS_POSTGRESQL = re.compile(
    r"\b(Enum|ENUM|Uuid|UUID|Interval|INTERVAL|ARRAY|JSONB)\s*\("
    r"|\bcomment\s*=|_comment\(|\btimezone\s*=\s*True|DateTime\(True"
    r"|\bpostgresql[._]|create_enum_type"
)

# Calls in an ``upgrade()`` that do more than change the schema: the baseline does
# not carry them over.
DATA_STEPS = {"execute", "bulk_insert", "fill_column", "exec_driver_sql"}

# The generic types that compile to the same DDL as SQLite's reflected ones on every
# database; a reflected type not listed stays as it is (``sa.CHAR(length=32)``).
GENERIC = {
    "INTEGER": lambda t: sa.Integer(),
    "BIGINT": lambda t: sa.BigInteger(),
    "SMALLINT": lambda t: sa.SmallInteger(),
    "VARCHAR": lambda t: sa.String(length=t.length),
    "TEXT": lambda t: sa.Text(),
    "BOOLEAN": lambda t: sa.Boolean(),
    "DATETIME": lambda t: sa.DateTime(),
    "TIMESTAMP": lambda t: sa.DateTime(),
    "DATE": lambda t: sa.Date(),
    "TIME": lambda t: sa.Time(),
    "NUMERIC": lambda t: sa.Numeric(t.precision, t.scale),
    "FLOAT": lambda t: sa.Float(),
    "DOUBLE": lambda t: sa.Double(),
    "JSON": lambda t: sa.JSON(),
    "BLOB": lambda t: sa.LargeBinary(),
}

# PostgreSQL's own types, kept for PostgreSQL next to the type the others have.
POSTGRESQL_ONLY = {"JSONB", "ARRAY", "INET", "CIDR", "MACADDR", "CITEXT", "TSVECTOR"}

# PostgreSQL's reflected types that say more than SQLite's, as generic types.
RICHER = {
    "ENUM": lambda t: sa.Enum(*t.enums, name=t.name),
    "UUID": lambda t: sa.Uuid(),
    "INTERVAL": lambda t: sa.Interval(),
    "TIMESTAMP": lambda t: sa.DateTime(timezone=True),
    "TIME": lambda t: sa.Time(timezone=True),
}


class SquashError(Exception):
    """A squash that cannot be made: one line, exit status 2, nothing written."""


@dataclass
class Squash:
    """What a squash replaces, and the baseline that replaces it."""

    target: Script
    replaced: list[Script]  # the first revision first
    script_folder: str  # where script.py.mako is
    earlier_squashed: tuple[str, ...] = ()
    data_steps: list[str] = field(default_factory=list)
    verified_on: list[str] = field(default_factory=list)
    baseline_name: str = ""
    baseline_text: str = ""

    @property
    def squashed(self) -> tuple[str, ...]:
        """Every id the baseline stands for, but its own: earlier squashes too."""
        ids = [script.revision for script in self.replaced[:-1]]
        return (*self.earlier_squashed, *ids)

    @property
    def message(self) -> str:
        """The baseline's message: the first line ``alembic history`` shows, and
        the end of its file name."""
        return f"Squashed baseline of {len(self.replaced)} revisions"


def replaced_revisions(script: ScriptDirectory, target_text: str) -> list[Script]:
    """The revisions a squash at ``target_text`` replaces, the first one first; a
    ``SquashError`` when the history does not allow the squash."""
    try:
        target = script.get_revision(target_text)
    except CommandError:
        target = None
    if target_text == "base":
        raise SquashError(
            "base is the empty database, not a revision: nothing to squash"
        )
    if target is None or not target_text:
        raise SquashError(f"unknown revision: {target_text!r} is not in the history")
    if target.down_revision is None:
        raise SquashError(
            f"{target.revision} is the first revision already: nothing to squash"
        )
    replaced = list(script.iterate_revisions(target.revision, "base"))[::-1]
    for head in script.get_heads():
        ancestors = {each.revision for each in script.iterate_revisions(head, "base")}
        if target.revision not in ancestors:
            raise SquashError(
                f"{target.revision} is not an ancestor of the head {head}: "
                "squash at a revision every head builds on"
            )
    for each in replaced[::-1]:
        if len(each._all_down_revisions) > 1:
            raise SquashError(
                f"{each.revision} merges branches: squash at a revision after the "
                "merge, or with no merge before it"
            )
    for each in replaced:
        if each is not target and len(each.nextrev) > 1:
            raise SquashError(
                f"the history branches at {each.revision}, before {target.revision}: "
                "squash at a revision after the branches are merged"
            )
    replaced_ids = {each.revision for each in replaced} - {target.revision}
    for each in script.walk_revisions():
        needed = set(each._resolved_dependencies) & replaced_ids
        if needed and each.revision not in replaced_ids:
            raise SquashError(
                f"{each.revision} depends on {', '.join(sorted(needed))}, which the "
                "squash would remove"
            )
    return replaced


def refuse_uncommitted(versions: Path) -> None:
    """The squash deletes files under ``versions``: they must be committed, so that
    the change can be reviewed and undone."""
    try:
        root = gitrepo.checkout_root(versions)
    except gitrepo.ReviewInputError:
        raise SquashError(
            f"{versions} is not in a git checkout: commit the revisions first, so "
            "that the squash can be reviewed and undone"
        ) from None
    status = gitrepo.git(root, "status", "--porcelain", "--", str(versions))
    if status.strip():
        first = status.splitlines()[0][3:]  # after "XY ", the status letters
        folder = versions.resolve().relative_to(root.resolve()).as_posix()
        raise SquashError(
            f"uncommitted changes under {folder}/ ({first}): commit or stash them first"
        )


def data_steps(replaced: list[Script]) -> list[str]:
    """The replaced revisions whose ``upgrade()`` does more than schema operations
    (SQL of its own, rows written), one line each: what the baseline does not carry
    over."""
    found = []
    for script in replaced:
        tree = RevisionSource.parse(Path(script.path)).tree
        # upgrade() and the helpers it may call: everything but downgrade().
        parts = [node for node in tree.body if getattr(node, "name", "") != "downgrade"]
        calls = sorted(
            {
                (node.lineno, call_name(node))
                for part in parts
                for node in ast.walk(part)
                if isinstance(node, ast.Call) and call_name(node) in DATA_STEPS
            }
        )
        if calls:
            where = ", ".join(f"{name} (line {line})" for line, name in calls)
            found.append(f"{script.revision} {script.doc}: {where}")
    return found


def refuse_lost_types(replaced: list[Script], postgresql: sa.URL | None) -> None:
    """Without PostgreSQL, refuse a history whose types or comments SQLite loses."""
    if postgresql is not None:
        return
    uses = {}
    for script in replaced:
        text = Path(script.path).read_text(encoding="utf-8")
        for match in NEEDS_POSTGRESQL.finditer(text):
            uses.setdefault(match[0].strip("(=._ "), script.revision)
    if uses:
        what = ", ".join(f"{name} ({revision})" for name, revision in uses.items())
        raise SquashError(
            f"the revisions use what SQLite does not keep: {what}; give --postgresql "
            "SERVER_URL (or set TEST_POSTGRESQL_URL) so that the baseline keeps it"
        )


def reflected_at(config_path: Path, revision: str, name: str, server) -> sa.MetaData:
    """The schema a throw-away database has once the history reaches ``revision``,
    reflected; on SQLite with what SQLAlchemy skips there (indexes on expressions,
    partial indexes) read from SQLite's own text."""
    try:
        with migrated_engine(config_path, revision, name, server) as engine:
            metadata = sa.MetaData()
            with warnings.catch_warnings():
                # "Skipped unsupported reflection of expression-based index".
                warnings.simplefilter("ignore", sa.exc.SAWarning)
                metadata.reflect(engine)
            metadata.remove(metadata.tables["alembic_version"])
            if name == "sqlite":
                with engine.connect() as connection:
                    add_sqlite_indexes(connection, metadata)
            return metadata
    except (CommandError, sa.exc.SQLAlchemyError) as error:
        raise SquashError(
            f"the history up to {revision} fails on {DATABASE_NAMES[name]}: "
            f"{first_line(error)}"
        ) from None


def add_sqlite_indexes(connection: sa.Connection, metadata: sa.MetaData) -> None:
    """Give SQLite's reflected indexes their WHERE clause, and add the indexes on
    expressions it skipped, from the SQL SQLite keeps as written."""
    inspector = sa.inspect(connection)
    for table in metadata.tables.values():
        from_sql = sqlite_index_sql(inspector, table.name)
        for index in table.indexes:
            where = from_sql.get(index.name, {}).get("where")
            if where:
                index.dialect_kwargs["sqlite_where"] = sa.text(where)
        known = {index.name for index in table.indexes}
        for name, found in from_sql.items():
            if name in known:
                continue
            expressions = [
                table.c[part.strip('"`')]
                if part.strip('"`') in table.c
                else sa.text(part)
                for part in found["parts"]
            ]
            where = {"sqlite_where": sa.text(found["where"])} if found["where"] else {}
            sa.Index(name, *expressions, unique=found["unique"], _table=table, **where)


def portable_schema(sqlite: sa.MetaData, postgresql: sa.MetaData | None) -> sa.MetaData:
    """SQLite's reflected schema, with generic types, and what PostgreSQL keeps
    that SQLite does not, where PostgreSQL was migrated too."""
    for table in sqlite.tables.values():
        # The names the database has, as they are: ``op.f()`` keeps the models'
        # naming convention from being applied to them again.
        for item in (*table.constraints, *table.indexes):
            if item.name:
                item.name = conv(item.name)
        for index in table.indexes:
            index.unique = bool(index.unique)  # SQLite says 1
        for column in table.c:
            generic = GENERIC.get(type(column.type).__name__)
            if generic is not None:
                column.type = generic(column.type)
            if column.computed is not None and not column.computed.persisted:
                column.computed.persisted = None  # each database's default kind
        other = postgresql.tables.get(table.name) if postgresql is not None else None
        if other is not None:
            with_postgresql_details(table, other)
    return sqlite


def with_postgresql_details(table: sa.Table, other: sa.Table) -> None:
    """The comments, enum types, time zones, UUIDs and PostgreSQL-only types of
    ``other`` (PostgreSQL's reflection of ``table``), and its index options."""
    table.comment = other.comment
    for column in table.c:
        if column.name not in other.c:
            continue
        found = other.c[column.name]
        column.comment = found.comment
        name = type(found.type).__name__
        zoned = getattr(found.type, "timezone", False)
        if name in RICHER and (name not in ("TIMESTAMP", "TIME") or zoned):
            column.type = RICHER[name](found.type)
        elif isinstance(column.type, sa.types.NullType):
            column.type = found.type  # a type SQLite does not know
        elif name in POSTGRESQL_ONLY:
            # e.g. JSON on SQLite and MariaDB, JSONB on PostgreSQL
            column.type = column.type.with_variant(found.type, "postgresql")
    indexes = {index.name: index for index in other.indexes}
    for index in table.indexes:
        found = indexes.get(str(index.name))
        if found is None:
            continue
        for key in ("where", "using", "include"):
            value = found.dialect_options["postgresql"].get(key)
            if value and value != "btree":
                if key == "where":
                    value = sa.text(str(value))
                index.dialect_kwargs[f"postgresql_{key}"] = value


def is_expression_index(index: sa.Index) -> bool:
    """Whether an index is on an expression rather than on columns only."""
    return any(not isinstance(item, sa.Column) for item in index.expressions)


def rendered(container: ops.OpContainer, batch: bool = False) -> str:
    """Ops as the Python lines of a revision, as autogenerate renders them."""
    # PostgreSQL's renderer knows its own types (JSONB, ARRAY) in a variant.
    context = quiet_context(dialect=postgresql.dialect())
    code = render_python_code(
        container,
        render_item=render_item,
        migration_context=context,
        render_as_batch=batch,
    )
    lines = [line for line in code.splitlines() if not line.strip().startswith("# ###")]
    return "\n".join(lines).strip("\n")  # each line indented for a function body


def baseline_ops(metadata: sa.MetaData) -> tuple[str, str, str]:
    """The baseline's ``upgrade()`` and ``downgrade()`` bodies, and its imports.

    Tables in dependency order, each with its indexes; foreign keys that form a
    cycle (two tables pointing at each other) are added once both tables exist,
    and dropped first. Dropping a table drops its indexes (MariaDB refuses a
    foreign key's index first) and, on PostgreSQL, the enum types no other column
    uses.
    """
    ordered = sa.schema.sort_tables_and_constraints(metadata.tables.values())
    cycles = [key for table, keys in ordered if table is None for key in keys]
    for key in cycles:
        key.parent.constraints.discard(key)
    tables = [table for table, _ in ordered if table is not None]
    upgrade, on_expressions = ops.UpgradeOps(ops=[]), ops.UpgradeOps(ops=[])
    for table in tables:
        upgrade.ops.append(ops.CreateTableOp.from_table(table))
        for index in sorted(table.indexes, key=lambda index: index.name):
            on = on_expressions if is_expression_index(index) else upgrade
            on.ops.append(ops.CreateIndexOp.from_index(index))
    later = ops.UpgradeOps(
        ops=[per_table(key, ops.CreateForeignKeyOp) for key in cycles]
    )
    first = ops.DowngradeOps(
        ops=[per_table(key, ops.DropConstraintOp) for key in cycles]
    )
    downgrade = ops.DowngradeOps(
        ops=[ops.DropTableOp.from_table(table) for table in reversed(tables)]
    )
    upgrades = rendered(upgrade)
    if later.ops:
        upgrades += "\n\n" + rendered(later, batch=True)
    if on_expressions.ops:
        guarded = rendered(on_expressions).replace("\n", "\n    ")
        upgrades += (
            "\n\n    # MariaDB and MySQL have no indexes on expressions: the history "
            "made\n    # these on the other databases only.\n"
            '    if op.get_context().dialect.name not in ("mysql", "mariadb"):\n'
            f"    {guarded}"
        )
    downgrades = rendered(downgrade)
    if first.ops:
        downgrades = rendered(first, batch=True) + "\n\n" + downgrades
    dialects = sorted(set(re.findall(r"\b(postgresql|mysql|sqlite)\.", upgrades)))
    imports = "".join(f"from sqlalchemy.dialects import {name}\n" for name in dialects)
    return upgrades.lstrip(), downgrades.lstrip(), imports


def per_table(key: sa.ForeignKeyConstraint, op_class) -> ops.ModifyTableOps:
    """A foreign key's create or drop op, in its table's batch (SQLite copies the
    table to change its keys)."""
    return ops.ModifyTableOps(key.parent.name, [op_class.from_constraint(key)])


def baseline_file(
    squash: Squash, config_path: Path, upgrades: str, downgrades: str, imports: str
) -> tuple[str, str]:
    """The baseline's file name and text, written by Alembic from the project's
    ``script.py.mako`` and run through its post-write hooks (ruff), in a scratch
    folder inside the project (so that ruff reads the project's settings)."""
    script_folder = Path(squash.script_folder)
    with tempfile.TemporaryDirectory(
        prefix=".migration-squash-", dir=config_path.parent
    ) as directory:
        shutil.copy(script_folder / "script.py.mako", directory)
        config = Config(str(config_path), stdout=io.StringIO())
        config.cmd_opts = argparse.Namespace(quiet=True)  # no "Generating ..."
        config.set_main_option("script_location", directory)
        config.set_main_option("version_locations", str(Path(directory, "versions")))
        scratch = ScriptDirectory.from_config(config)
        # REV's own create date: the file name sorts where REV's did, before the
        # revisions after it (file_template starts with the date here).
        scratch._generate_create_date = lambda: create_date_of(squash.target)
        try:
            # The hooks say "Running post write hook ..." whatever the options say.
            with contextlib.redirect_stdout(io.StringIO()):
                written = scratch.generate_revision(
                    squash.target.revision,
                    squash.message,
                    head="base",
                    splice=True,
                    upgrades=upgrades,
                    downgrades=downgrades,
                    imports=imports,
                    squashed=squash.squashed,
                    squashed_on=datetime.now(UTC).date().isoformat(),
                    replaced=[
                        shortened(f"{each.revision} {each.doc}")
                        for each in squash.replaced
                    ],
                )
        except CommandError as error:  # a post-write hook failed, or is missing
            raise SquashError(
                f"cannot write the baseline: {first_line(error)} (alembic.ini's "
                "post-write hooks; the dev extra installs ruff)"
            ) from None
        path = Path(written.path)
        return path.name, path.read_text(encoding="utf-8")


def create_date_of(script: Script) -> datetime:
    """The ``Create Date`` a revision's docstring gives (Alembic writes it), else
    now."""
    match = re.search(r"^Create Date: (.+)$", script.longdoc or "", re.MULTILINE)
    try:
        return datetime.fromisoformat(match[1].strip())
    except (TypeError, ValueError):
        return datetime.now(UTC)


def shortened(line: str, longest: int = 76) -> str:
    """A line of the docstring, cut to fit ruff's line length."""
    return line if len(line) <= longest else line[: longest - 1] + "…"


def plan(
    config_path: Path,
    target_text: str,
    postgresql_option: str | None = None,
    mysql_option: str | None = None,
) -> Squash:
    """Everything a squash at ``target_text`` writes and deletes; nothing written."""
    try:
        script = ScriptDirectory.from_config(Config(str(config_path)))
        for folder in script.version_locations or [script.versions]:
            refuse_uncommitted(Path(folder))
        replaced = replaced_revisions(script, target_text)
    except CommandError as error:
        raise SquashError(first_line(error)) from None
    target = replaced[-1]
    servers = server_urls(postgresql_option, mysql_option)
    refuse_lost_types(replaced, servers.get("postgresql"))
    squash = Squash(
        target,
        replaced,
        script.dir,
        earlier_squashed=tuple(getattr(replaced[0].module, "squashed", ())),
        data_steps=data_steps(replaced),
    )
    with quiet_migrations():
        schema = reflected_at(config_path, target.revision, "sqlite", None)
        details = None
        if servers.get("postgresql") is not None:
            server = servers["postgresql"]
            details = reflected_at(config_path, target.revision, "postgresql", server)
    bodies = baseline_ops(portable_schema(schema, details))
    squash.baseline_name, squash.baseline_text = baseline_file(
        squash, config_path, *bodies
    )
    with quiet_migrations():
        verify(squash, config_path, servers)
    return squash


def verify(squash: Squash, config_path: Path, servers: dict) -> None:
    """Refuse a baseline that does not build, on every database at hand, the schema
    the old revisions build at its revision (``schema-snapshot``'s text)."""
    versions = Path(squash.target.path).parent
    replaced = {Path(each.path).name for each in squash.replaced}
    revision = squash.target.revision
    with tempfile.TemporaryDirectory(prefix="migration-squash-") as directory:
        squashed = Path(directory)
        for path in versions.glob("*.py"):
            if path.name not in replaced:
                shutil.copy(path, squashed / path.name)
        (squashed / squash.baseline_name).write_text(
            squash.baseline_text, encoding="utf-8"
        )
        for name, server in servers.items():
            shown = DATABASE_NAMES[name]
            before = schema_at(config_path, versions, revision, name, server)
            try:
                after = schema_at(config_path, squashed, revision, name, server)
            except (CommandError, sa.exc.SQLAlchemyError) as error:
                raise SquashError(
                    f"the baseline fails on {shown}: {first_line(error)}; nothing "
                    "written"
                ) from None
            if after != before:
                raise SquashError(
                    f"the baseline would not build the schema the old revisions "
                    f"build on {shown} ({first_differences(before, after)}); nothing "
                    "written: squash at another revision, or write the baseline by hand"
                )
        squash.verified_on = [DATABASE_NAMES[name] for name in servers]


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="migration-squash",
        description="Replace REV and every revision before it with one baseline "
        "revision, with REV's id, that creates the schema as it is at REV. "
        "Databases at REV or later need nothing.",
    )
    parser.add_argument("revision", metavar="REV", help="the last revision to squash")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the baseline and the files it replaces; write nothing",
    )
    parser.add_argument(
        "--postgresql",
        metavar="SERVER_URL",
        help="migrate a throw-away database here too, for the enum types, time "
        "zones, UUIDs and comments SQLite does not keep (default: "
        "$TEST_POSTGRESQL_URL)",
    )
    parser.add_argument(
        "--mysql",
        metavar="SERVER_URL",
        help="check the baseline on a throw-away database here too (default: "
        "$TEST_MYSQL_URL)",
    )
    parser.add_argument(
        "-c", "--config", default="alembic.ini", help="Alembic config file"
    )
    return parser.parse_args(argv)


def report(squash: Squash, versions: Path, root: Path, dry_run: bool) -> str:
    """What the squash wrote and deleted (or would), and what it did not carry; paths
    from the folder of alembic.ini (``root``)."""
    would = "Would " if dry_run else ""
    shown = Path(os.path.relpath(versions, root))
    lines = [
        f"{would}{'w' if dry_run else 'W'}rite {shown / squash.baseline_name}: "
        f"{squash.message}.",
        f"{would}{'d' if dry_run else 'D'}elete:",
        *(f"  {shown / Path(each.path).name}" for each in squash.replaced),
    ]
    if squash.data_steps:
        lines += [
            "Not carried over (they ran on every database that reached "
            f"{squash.target.revision}; a view, trigger or function they made is not "
            "in the baseline: check each):",
            *(f"  {line}" for line in squash.data_steps),
        ]
    if dry_run:
        lines += ["", squash.baseline_text.rstrip()]
    else:
        lines += [
            "Next: review the baseline, check it with `alembic upgrade head` on an "
            "empty database and `schema-snapshot --check`, and commit the change.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Squash (or show what a squash would do); one line and exit 2 on a refusal."""
    arguments = parse_arguments(argv)
    config_path = Path(arguments.config).resolve()
    if not config_path.is_file():
        print(
            f"migration-squash: error: no Alembic config at {config_path}",
            file=sys.stderr,
        )
        return 2
    try:
        squash = plan(
            config_path, arguments.revision, arguments.postgresql, arguments.mysql
        )
    except (SquashError, TraceError, gitrepo.ReviewInputError) as error:
        print(f"migration-squash: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("migration-squash: interrupted; nothing was written", file=sys.stderr)
        return 130
    versions = Path(squash.target.path).parent
    if not arguments.dry_run:
        (versions / squash.baseline_name).write_text(
            squash.baseline_text, encoding="utf-8"
        )
        for each in squash.replaced:
            if Path(each.path).name != squash.baseline_name:
                Path(each.path).unlink()
    sys.stdout.write(report(squash, versions, config_path.parent, arguments.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The release that is running, against a database the trace migrated: run by
``running_release.py`` as a process of its own, in a checkout of the base branch,
so that the base's ``app`` is the one imported (never the branch's).

``python running_release_worker.py CHECKOUT BIND`` imports the base's models as
``alembic/env.py`` does (``import app``, ``from app.db import db``), then answers
each request line on stdin (JSON: ``url``, ``rows``) with one line on stdout: for
every mapped class of that bind, one row inserted through the ORM, selected back,
one column updated, and deleted; each failure as its class, op and error line.

The migration kit is the review's (``fill.py``, which generates the values, is
loaded first and imports it): the same package for a project that installs the
kit; for this repository, whose kit is in the checkout, the branch's.

Values come from the column types (``fill.py``): the columns the base's models
declare NOT NULL without a default get one; nullable ones are left NULL, as the
running release may leave them; a foreign key points at a row that exists.
"""

import importlib.util
import json
import signal
import sys
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import orm

ORM_OPS = ("insert", "select", "update", "delete")


def load_fill():
    """``tools/fill.py``, loaded from its file: the checkout may have a ``tools``
    package of its own (the base's), which ``import tools`` would find first."""
    path = Path(__file__).with_name("fill.py")
    spec = importlib.util.spec_from_file_location("migration_review_fill", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def error_line(error: BaseException, url: sa.URL) -> str:
    """The database's error, first line, without the password."""
    text = str(getattr(error, "orig", None) or error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return line.replace(url.password, "***") if url.password else line


class Exercise:
    """One row per mapped class of a bind, through the ORM, on one database."""

    def __init__(self, db, bind: str | None, url: sa.URL, rows: int, fill) -> None:
        """The base's ``db``, the bind whose classes to exercise, the database,
        and ``rows``: the rows the trace filled (the generated values start there,
        so that unique columns hold)."""
        metadata = db.metadatas.get(bind)
        tables = list(metadata.sorted_tables) if metadata is not None else []
        mappers = [
            mapper
            for mapper in db.Model.registry.mappers
            if mapper.local_table in tables
        ]
        self.mappers = sorted(mappers, key=lambda m: tables.index(m.local_table))
        self.url, self.number, self.fill = url, rows, fill
        self.engine = sa.create_engine(url)
        self.identities: dict = {}  # mapper -> the identity of the row inserted
        self.parents: dict = {}  # (table, column) -> [a value rows refer to]
        self.failures: list[dict] = []

    def run(self) -> dict:
        """Each op on each class (parents inserted first and deleted last)."""
        try:
            for op in ORM_OPS:
                order = self.mappers if op != "delete" else self.mappers[::-1]
                for mapper in order:
                    if op == "insert" or mapper in self.identities:
                        self.attempt(op, mapper)
        finally:
            self.engine.dispose()
        return {
            "checked": [mapper.class_.__name__ for mapper in self.mappers],
            "failures": self.failures,
        }

    def attempt(self, op: str, mapper) -> None:
        """One ORM op in a session of its own; a failure is noted, and the class's
        later ops are skipped (there is no row to work on)."""
        try:
            with orm.Session(self.engine, expire_on_commit=False) as session:
                getattr(self, op)(session, mapper)
                session.commit()
        except Exception as error:  # noqa: BLE001 - any failure is the finding
            self.identities.pop(mapper, None)
            self.failures.append(
                {
                    "class": mapper.class_.__name__,
                    "op": op,
                    "error": error_line(error, self.url),
                }
            )

    def insert(self, session: orm.Session, mapper) -> None:
        """A new object with generated values, added and flushed."""
        self.find_parents(session, mapper)
        instance = mapper.class_manager.new_instance()
        for key, column in self.columns(mapper):
            if self.generated(column):
                value = self.fill.value_for(column, self.number, self.parents)
                setattr(instance, key, value)
        session.add(instance)
        session.flush()
        self.identities[mapper] = mapper.identity_key_from_instance(instance)[1]
        for key, column in self.columns(mapper):
            self.parents[column.table.name, column.name] = [getattr(instance, key)]

    def select(self, session: orm.Session, mapper) -> None:
        """The row inserted, read back with every column the class maps."""
        if session.get(mapper.class_, self.identities[mapper]) is None:
            raise LookupError("the row inserted is not there")

    def update(self, session: orm.Session, mapper) -> None:
        """One column that is not a key set to another generated value."""
        instance = session.get(mapper.class_, self.identities[mapper])
        for key, column in self.columns(mapper):
            if not (column.primary_key or column.foreign_keys):
                value = self.fill.value_for(column, self.number + 1, self.parents)
                setattr(instance, key, value)
                return

    def delete(self, session: orm.Session, mapper) -> None:
        """The row deleted."""
        session.delete(session.get(mapper.class_, self.identities[mapper]))

    @staticmethod
    def columns(mapper) -> list[tuple[str, sa.Column]]:
        """The class's attributes mapped to a table column, with the column."""
        return [
            (prop.key, prop.columns[0])
            for prop in mapper.column_attrs
            if isinstance(prop.columns[0], sa.Column)
        ]

    @staticmethod
    def generated(column: sa.Column) -> bool:
        """Whether the insert sets the column: NOT NULL, neither generated by the
        database (an autoincrement key) nor given a default by the model."""
        if column is column.table.autoincrement_column:
            return False
        if column.default is not None or column.server_default is not None:
            return False
        return column.primary_key or not column.nullable

    def find_parents(self, session: orm.Session, mapper) -> None:
        """A value each foreign key can point at: a row this check inserted, else
        one the trace filled in."""
        for column in mapper.local_table.columns:
            for key in column.foreign_keys:
                referred = key.column
                where = (referred.table.name, referred.name)
                if where not in self.parents:
                    query = sa.select(referred).limit(1)
                    self.parents[where] = list(session.execute(query).scalars())


def outside_of(checkout: str) -> None:
    """Refuse an ``app`` module found elsewhere than in the base's checkout (an
    editable install of the project maps ``app`` to the working tree's)."""
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None)
        is_app = name == "app" or name.startswith("app.")
        if is_app and where and not Path(where).resolve().is_relative_to(checkout):
            raise ModuleNotFoundError(f"{name} is not in the base's checkout")


def main() -> None:
    """Import the base's models, then answer each request."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the review stops this process
    checkout, bind = str(Path(sys.argv[1]).resolve()), sys.argv[2] or None
    # The generator first, with the review's own imports (the migration kit as the
    # review has it: a base from before a kit module fill.py uses still imports).
    fill = load_fill()
    sys.path[0] = checkout  # not this script's folder: the base's app comes first
    try:
        import app  # noqa: F401  (the factory's module imports the models)
        from app.db import db

        outside_of(checkout)
    except Exception as error:  # noqa: BLE001 - reported, in one line
        line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        reason = f"{type(error).__name__}: {line}"
        failed = {"error": f"the base's models do not import (app.db.db): {reason}"}
        for _ in sys.stdin:
            print(json.dumps(failed), flush=True)
        return
    for request in sys.stdin:
        asked = json.loads(request)
        url = sa.make_url(asked["url"])
        checked = Exercise(db, bind, url, asked["rows"], fill).run()
        print(json.dumps(checked), flush=True)


if __name__ == "__main__":
    main()

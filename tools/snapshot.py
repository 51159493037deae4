"""``schema-snapshot``: the schema at head, as a committed, human-readable text file.

The schema comes from migrating an empty database to head (never from the models),
dumped with SQLAlchemy's inspector in a stable order. One file per database in
``schema/``: ``sqlite.txt`` always, ``postgresql.txt`` and ``mysql.txt`` from a
server given by URL, or by the variable the tests read (``TEST_POSTGRESQL_URL``,
``TEST_MYSQL_URL``): a throw-away database is created there and dropped again. In a
pull request, the diff of these files shows the schema change next to the revision.
"""

import argparse
import itertools
import os
import sys
import tempfile
import warnings
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from flask_alembic_kit.sections import history_config
from flask_alembic_kit.serving import kit_tables
from tools.databases import throwaway_database
from tools.histories import history_sections
from tools.schema_lines import table_lines
from tools.trace_servers import TraceError, server_urls

SNAPSHOT_FOLDER = "schema"
SERVER_OPTIONS = {"postgresql": "TEST_POSTGRESQL_URL", "mysql": "TEST_MYSQL_URL"}


def regenerate_command(backend: str) -> str:
    """The one command that rewrites a backend's snapshot."""
    if backend == "sqlite":
        return "schema-snapshot"
    return f'schema-snapshot --{backend} "${SERVER_OPTIONS[backend]}"'


def backend_of(engine: sa.Engine) -> str:
    """``sqlite``, ``postgresql`` or ``mysql`` (MariaDB included)."""
    name = engine.dialect.name
    return "mysql" if name == "mariadb" else name


def snapshot_path(config_path: Path, backend: str, bind: str | None = None) -> Path:
    """Where a backend's snapshot is committed: ``schema/<backend>.txt``, and
    ``schema/<bind>/<backend>.txt`` for another database (docs/binds.md)."""
    folder = config_path.resolve().parent / SNAPSHOT_FOLDER
    return (folder / bind if bind else folder) / f"{backend}.txt"


def config_of(config_path: Path, bind: str | None = None) -> Config:
    """The Alembic config of the default database's history, or of a bind's."""
    return history_config(config_path, bind or "alembic")


def head_of(config_path: Path, bind: str | None = None) -> str:
    """The head revision of the history (one, or several joined by commas)."""
    script = ScriptDirectory.from_config(config_of(config_path, bind))
    return ",".join(sorted(script.get_heads()))


def migrate_to_head(
    config_path: Path, engine: sa.Engine, bind: str | None = None
) -> None:
    """``alembic upgrade head`` on the engine's (empty) database."""
    config = config_of(config_path, bind)
    config.attributes["connection"] = engine
    config.attributes["configure_logger"] = False  # the report alone, no INFO lines
    command.upgrade(config, "head")


def binds_of(config_path: Path) -> list[str]:
    """The other databases: those alembic.ini declares a history for (env.py
    refuses a bind of the models without one)."""
    return history_sections(config_path)[1:]


def schema_text(
    engine: sa.Engine, head: str, version_table: str = "alembic_version"
) -> str:
    """The schema of the engine's database as sorted, readable text."""
    inspector = sa.inspect(engine)
    lines = [
        f"# The schema at head ({head}) on {backend_of(engine)}, made by migrating",
        f"# an empty database. Regenerate: {regenerate_command(backend_of(engine))}",
    ]
    tables = sorted(set(inspector.get_table_names()) - kit_tables(version_table))
    for table in tables:
        lines += ["", f"table {table}"]
        with warnings.catch_warnings():
            # SQLite: "Skipped unsupported reflection of expression-based index";
            # table_lines reads those from SQLite's own text.
            warnings.simplefilter("ignore", sa.exc.SAWarning)
            lines += table_lines(inspector, engine.dialect, table)
    if engine.dialect.name == "postgresql":  # the enum types, which stand alone
        for enum in sorted(inspector.get_enums(), key=lambda enum: enum["name"]):
            lines += ["", f"enum type {enum['name']}: {', '.join(enum['labels'])}"]
    return "\n".join(lines) + "\n"


def snapshot_of(config_path: Path, url: sa.URL, bind: str | None = None) -> str:
    """Migrate the empty database at ``url`` to head and dump its schema."""
    engine = sa.create_engine(url)
    version_table = config_of(config_path, bind).get_main_option(
        "version_table", "alembic_version"
    )
    try:
        migrate_to_head(config_path, engine, bind)
        return schema_text(engine, head_of(config_path, bind), version_table)
    finally:
        engine.dispose()


def snapshot(
    config_path: Path, backend: str, server: sa.URL | None, bind: str | None = None
) -> str:
    """The snapshot of one backend: SQLite in a temporary file, a server in a
    throw-away database."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="schema-snapshot-") as directory:
            url = sa.URL.create("sqlite", database=str(Path(directory) / "s.sqlite"))
            return snapshot_of(config_path, url, bind)
    with throwaway_database(server, "schema_snapshot") as url:
        return snapshot_of(config_path, url, bind)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="schema-snapshot",
        description="Write schema/<database>.txt: the schema after "
        "`alembic upgrade head` on an empty database. SQLite always; a server when "
        "its URL is given or its test variable is set (a throw-away database is "
        "made on it).",
    )
    for backend, variable in SERVER_OPTIONS.items():
        parser.add_argument(
            f"--{backend}",
            metavar="SERVER_URL",
            help=f"also snapshot {backend} on this server (default: ${variable}, "
            "the server the tests use, when it is set)",
        )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a snapshot is out of date",
    )
    parser.add_argument(
        "-c", "--config", default="alembic.ini", help="Alembic config file"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Write (or check) the snapshots; one line per snapshot."""
    arguments = parse_arguments(argv)
    config_path = Path(arguments.config).resolve()
    if not config_path.is_file():
        print(
            f"schema-snapshot: error: no Alembic config at {config_path}",
            file=sys.stderr,
        )
        return 2
    try:
        backends = server_urls(arguments.postgresql, arguments.mysql)
    except TraceError as error:
        print(f"schema-snapshot: error: {error}", file=sys.stderr)
        return 2
    stale = False
    databases = [None, *binds_of(config_path)]
    # Every snapshot is made before any file is written: a server that fails
    # leaves the files as they were, not some of them rewritten.
    texts = {}
    for bind, (backend, server) in itertools.product(databases, backends.items()):
        try:
            texts[bind, backend] = snapshot(config_path, backend, server, bind)
        except (sa.exc.SQLAlchemyError, ValueError, CommandError) as error:
            # CommandError: env.py refused to migrate (a bad MIGRATION_* value, the
            # run lock busy, a failed revision) and said why in its message.
            first = str(error).strip().splitlines()[0]
            where = f"{bind} on {backend}" if bind else backend
            if backend != "sqlite" and not getattr(arguments, backend):
                where += f" ({SERVER_OPTIONS[backend]})"
            print(f"schema-snapshot: error: {where}: {first}", file=sys.stderr)
            return 2
    for (bind, backend), text in texts.items():
        path = snapshot_path(config_path, backend, bind)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        relative_path = os.path.relpath(path)
        if arguments.check:
            stale = stale or current != text
            if current == text:
                print(f"{relative_path}: up to date")
            else:
                print(
                    f"{relative_path}: out of date; rewrite it with: "
                    f"{regenerate_command(backend)}"
                )
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"{relative_path}: {'unchanged' if current == text else 'written'}")
    for bind, backend in itertools.product(
        databases, SERVER_OPTIONS.keys() - backends.keys()
    ):
        path = snapshot_path(config_path, backend, bind)
        if path.exists():
            done = "not checked" if arguments.check else "not rewritten"
            print(
                f"{os.path.relpath(path)}: {done}; give --{backend} SERVER_URL or "
                f"set {SERVER_OPTIONS[backend]}"
            )
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

"""``migration-squash REV``: REV and every revision before it become one baseline
revision file, with REV's own id, that creates the schema as it is at REV.

Databases at REV or past it keep working with no stamp: their ``alembic_version``
names a revision that still exists. The revisions after REV are not touched.

The schema comes from the old history, never from today's models: throw-away
databases are migrated to REV and reflected (``baseline.py`` makes the ops). Before
anything is written, the baseline must build the schema the old revisions build, on
SQLite and every server at hand (docs/squash.md).
"""

import argparse
import ast
import contextlib
import io
import os
import re
import shutil
import signal
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError

from flask_alembic_kit.internals import set_create_date
from tools import baseline, gitrepo
from tools.revision_ast import call_name
from tools.revision_source import RevisionSource
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
        if each.is_merge_point:
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
        depends_on = script.revision_map.get_revisions(each.dependencies)
        needed = {needed.revision for needed in depends_on} & replaced_ids
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
    # git leaves out what .gitignore names; Python's bytecode is left out always: a
    # checkout without that .gitignore line still has it after any alembic command.
    status = gitrepo.git(
        root, "status", "--porcelain", "--untracked-files=all", "--", str(versions)
    )
    changes = [
        line[3:]  # after "XY ", the status letters
        for line in status.splitlines()
        if not is_bytecode(line[3:])
    ]
    if changes:
        first = changes[0]
        folder = versions.resolve().relative_to(root.resolve()).as_posix()
        raise SquashError(
            f"uncommitted changes under {folder}/ ({first}): commit or stash them first"
        )


def is_bytecode(path: str) -> bool:
    """Whether a path git reports is Python's bytecode cache, never a change."""
    return "__pycache__/" in f"/{path}" or path.endswith((".pyc", ".pyo"))


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
                    baseline.add_sqlite_indexes(connection, metadata)
            return metadata
    except (CommandError, sa.exc.SQLAlchemyError) as error:
        raise SquashError(
            f"the history up to {revision} fails on {DATABASE_NAMES[name]}: "
            f"{first_line(error)}"
        ) from None


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
        set_create_date(scratch, lambda: create_date_of(squash.target))
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
    bodies = baseline.baseline_ops(baseline.portable_schema(schema, details))
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


def write(squash: Squash, versions: Path) -> None:
    """Write the baseline, then delete the files it replaces (Ctrl-C waits)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        (versions / squash.baseline_name).write_text(
            squash.baseline_text, encoding="utf-8"
        )
        for each in squash.replaced:
            if Path(each.path).name != squash.baseline_name:
                Path(each.path).unlink()
    finally:
        signal.signal(signal.SIGINT, previous)


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
    except (SquashError, TraceError, gitrepo.ReviewInputError, ValueError) as error:
        # ValueError: an index SQLite's text does not let us read.
        print(f"migration-squash: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("migration-squash: interrupted; nothing was written", file=sys.stderr)
        return 130
    versions = Path(squash.target.path).parent
    if not arguments.dry_run:
        try:
            write(squash, versions)
        except OSError as error:
            print(
                f"migration-squash: error: cannot write {versions}: {error.strerror}; "
                "`git checkout -- .` there puts the revisions back",
                file=sys.stderr,
            )
            return 2
    sys.stdout.write(report(squash, versions, config_path.parent, arguments.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())

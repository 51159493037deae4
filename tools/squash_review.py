"""A squash on the branch, as ``migration-review`` reports it.

``migration-squash`` deletes revision files and writes a baseline under the id of
the last one; file by file, that reads as removed revisions and a reused id. Here
the files whose ids the new baseline lists in ``squashed`` (and the file of the id
it took over) are recognised as the squash, and the one thing that matters is
checked instead: the old history and the baseline build the same schema at the
baseline's revision, each on an empty database (``schema-snapshot``'s text).
"""

import difflib
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from flask_alembic_kit.errors import first_line
from flask_alembic_kit.network import add_connect_timeout
from tools import gitrepo
from tools.graph import History
from tools.revision_ast import module_assignments
from tools.revision_source import RevisionSource
from tools.snapshot import schema_text
from tools.trace import alembic_config, run
from tools.trace_findings import DATABASE_NAMES
from tools.trace_servers import connect_timeout, traced_database


@dataclass
class BranchSquash:
    """The squash a branch makes: the baseline and the revisions it replaced."""

    baseline: RevisionSource
    path: str
    replaced: list[tuple[str, str]]  # (revision id, message), first revision first
    schemas: dict[str, str] = field(default_factory=dict)  # database: "identical"
    differences: dict[str, str] = field(default_factory=dict)  # database: why not


def squashed_ids(source: RevisionSource) -> tuple[str, ...]:
    """The ``squashed`` tuple of a baseline written by ``migration-squash``."""
    value = module_assignments(source.tree).get("squashed")
    return tuple(value) if isinstance(value, list | tuple) else ()


def find_squash(
    current: History, base: History, changed: dict[Path, str]
) -> tuple[Path, RevisionSource, set[str]] | None:
    """The baseline the branch adds (or rewrites in place) and the ids of the base's
    revisions it replaces, if the branch squashes."""
    base_ids = {source.revision for source in base.sources.values()}
    for path, status in changed.items():
        source = current.sources[path]
        ids = set(squashed_ids(source))
        if status in ("added", "modified") and ids & base_ids:
            return path, source, (ids | {source.revision}) & base_ids
    return None


@contextmanager
def quiet_migrations() -> Iterator[None]:
    """No "Running upgrade ..." lines from env.py while the block runs."""
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(previous)


@contextmanager
def migrated_engine(
    config_path: Path,
    revision: str,
    name: str,
    server,
    versions: Path | None = None,
) -> Iterator[sa.Engine]:
    """An engine on a throw-away database on ``server`` (SQLite when ``None``),
    migrated to ``revision`` by the project's env.py and the revision files in
    ``versions`` (default: the project's own)."""
    with traced_database(name, server, "squash") as url:
        engine = sa.create_engine(url)
        add_connect_timeout(engine, connect_timeout())
        try:
            config = alembic_config(config_path, engine)
            if versions is not None:
                config.set_main_option("version_locations", str(versions))
            run(config, command.upgrade, revision)
            yield engine
        finally:
            engine.dispose()


def schema_at(config_path: Path, versions: Path, revision: str, name: str, server):
    """The schema text of an empty database migrated to ``revision`` by the revision
    files in ``versions``."""
    with migrated_engine(config_path, revision, name, server, versions) as engine:
        return schema_text(engine, revision)


def first_differences(before: str, after: str, count: int = 4) -> str:
    """The first lines two schema texts differ in, ``-`` before and ``+`` after,
    each with the table it is in."""
    old, new = before.splitlines(), after.splitlines()
    changes = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if tag == "equal":
            continue
        for sign, lines, start, end in (
            ("-", old, old_start, old_end),
            ("+", new, new_start, new_end),
        ):
            changes += [
                f"{sign} {lines[index].strip()}{table_of(lines, index)}"
                for index in range(start, end)
            ]
    return "; ".join(changes[:count])


def table_of(lines: list[str], index: int) -> str:
    """`` (table x)`` for a line inside table ``x`` of a schema text, else ``""``."""
    if not lines[index].startswith("  "):
        return ""
    for line in reversed(lines[:index]):
        if line.startswith("table "):
            return f" ({line})"
    return ""


def compare_schemas(
    squash: BranchSquash,
    config_path: Path,
    root: Path,
    merge_base: str,
    folder: str,
    servers: dict,
) -> None:
    """Migrate an empty database with the base's history and one with the branch's,
    to the baseline's revision, on each database; note where they differ."""
    revision = squash.baseline.revision
    current = (root / folder).resolve()
    with (
        tempfile.TemporaryDirectory(prefix="migration-review-") as directory,
        quiet_migrations(),
    ):
        gitrepo.export_folder(root, merge_base, folder, Path(directory))
        old = Path(directory) / folder
        for name, server in servers.items():
            shown = DATABASE_NAMES[name]
            try:
                before = schema_at(config_path, old, revision, name, server)
                after = schema_at(config_path, current, revision, name, server)
            except Exception as error:  # noqa: BLE001 - any failure is reported
                squash.differences[shown] = f"not compared: {first_line(error)}"
                continue
            if before == after:
                squash.schemas[shown] = "identical"
            else:
                squash.differences[shown] = first_differences(before, after)

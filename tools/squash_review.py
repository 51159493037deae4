"""A squash on the branch, as ``migration-review`` reports it.

``migration-squash`` deletes revision files and writes a baseline under the id of
the last one; file by file, that reads as removed revisions and a reused id. Here
the files whose ids the new baseline lists in ``squashed`` (and the file of the id
it took over) are recognised as the squash, and the one thing that matters is
checked instead: the old history and the baseline build the same schema at the
baseline's revision, each on an empty database (``schema-snapshot``'s text).
"""

import difflib
import io
import logging
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from app.migration.connection import add_connect_timeout
from tools import gitrepo
from tools.graph import History
from tools.revision_source import RevisionSource, module_assignments
from tools.snapshot import schema_text
from tools.trace import CONNECT_TIMEOUT, first_line, traced_database
from tools.trace_findings import DATABASE_NAMES


@dataclass
class Squash:
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


def schema_at(config_path: Path, versions: Path, revision: str, name: str, server):
    """The schema text of an empty database migrated to ``revision`` by the revision
    files in ``versions``, with the project's env.py."""
    with traced_database(name, server, "review") as url:
        engine = sa.create_engine(url)
        add_connect_timeout(engine, CONNECT_TIMEOUT)
        try:
            config = Config(str(config_path), stdout=io.StringIO())
            config.set_main_option("version_locations", str(versions))
            config.attributes["connection"] = engine
            command.upgrade(config, revision)
            return schema_text(engine, revision)
        finally:
            engine.dispose()


@contextmanager
def restored_logging(level: int):
    """Put ``logging.disable`` back to ``level`` when the block ends."""
    try:
        yield
    finally:
        logging.disable(level)


def compare_schemas(
    squash: Squash,
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
    previous_disable = logging.root.manager.disable
    logging.disable(logging.INFO)  # env.py's "Running upgrade ..." lines
    with (
        tempfile.TemporaryDirectory(prefix="migration-review-") as directory,
        restored_logging(previous_disable),
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
                continue
            changes = [
                line
                for line in difflib.unified_diff(
                    before.splitlines(), after.splitlines(), lineterm="", n=0
                )
                if line[:1] in "+-" and line[:3] not in ("+++", "---")
            ]
            squash.differences[shown] = "; ".join(changes[:4])

"""The baseline of ``migration-squash``: the schema a throw-away database has at
REV, and the revision file, with REV's own id and date, that builds it."""

import argparse
import contextlib
import io
import re
import shutil
import tempfile
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError

from flask_alembic_kit.errors import first_line
from flask_alembic_kit.internals import set_create_date
from flask_alembic_kit.serving import kit_tables
from tools import baseline
from tools.squash_checks import SquashError
from tools.squash_review import migrated_engine
from tools.trace_findings import DATABASE_NAMES

if TYPE_CHECKING:
    from tools.squash import Squash


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
            for table in kit_tables("alembic_version") & set(metadata.tables):
                metadata.remove(metadata.tables[table])
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
    squash: "Squash", config_path: Path, upgrades: str, downgrades: str, imports: str
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

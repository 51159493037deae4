"""The SQL a revision runs, rendered offline (``alembic upgrade prev:rev --sql``).

No database is needed: ``env.py`` renders for the dialect of ``DATABASE_URL`` (a
bind's history, ``-n audit``, for that of ``DATABASE_URL_AUDIT``), so a dialect-only
URL is set while rendering. Each statement written is tagged with the
line of the revision file that wrote it, so findings on the SQL (squawk's) can be
traced back to an op.
"""

import functools
import inspect
import io
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command

from flask_alembic_kit.sections import history_config

# Offline mode connects to nothing: these URLs only choose the dialect.
DIALECT_URLS = {
    "postgresql": "postgresql://review@localhost/review",
    "mysql": "mysql://review@localhost/review",
    "sqlite": "sqlite:///review.sqlite",
}


@dataclass
class Statement:
    """One chunk of rendered SQL and the revision file line that wrote it."""

    text: str
    source_line: int | None


class AttributingBuffer(io.StringIO):
    """An output buffer that remembers which line of a revision file wrote what.

    Alembic writes each statement with one ``write``; the revision's frame is on
    the stack then, at the op call (or the ``with`` line, for batch ops run at the
    end of ``batch_alter_table``).
    """

    def __init__(self, revision_path: Path) -> None:
        super().__init__()
        self.revision_path = str(revision_path.resolve())
        self.statements: list[Statement] = []

    def write(self, text: str) -> int:
        """Record the chunk with the revision line on the stack, then buffer it."""
        self.statements.append(Statement(text, self.revision_line()))
        return super().write(text)

    def revision_line(self) -> int | None:
        """The line of the revision file being run, if it is on the stack."""
        return line_on_stack(self.revision_path, inspect.currentframe().f_back)


def line_on_stack(revision_path: str, frame) -> int | None:
    """The line of the revision file at ``revision_path`` that ``frame`` or one of
    its callers is running, if any."""
    while frame is not None:
        if real_path(frame.f_code.co_filename) == revision_path:
            return frame.f_lineno
        frame = frame.f_back
    return None


@functools.cache
def real_path(filename: str) -> str:
    """A code object's file name as an absolute path without symlinks (cached: it is
    asked for every frame of every statement)."""
    return os.path.realpath(filename)


@dataclass
class Rendered:
    """The rendered SQL of one revision step for one dialect, or why it failed."""

    sql: str
    statements: list[Statement]
    error: str | None = None


@contextmanager
def database_url(url: str, *variables: str):
    """Set ``DATABASE_URL`` (and any other ``variables``, such as a bind's
    ``DATABASE_URL_AUDIT``) for the duration, restoring the previous values."""
    names = dict.fromkeys(("DATABASE_URL", *variables))
    previous = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, url))
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def render(
    config_path: Path,
    revision_path: Path,
    dialect: str,
    revision_range: str,
    downgrade: bool = False,
    section: str = "alembic",
    url_variable: str = "DATABASE_URL",
) -> Rendered:
    """``alembic [-n section] upgrade|downgrade <range> --sql`` for one dialect,
    captured; ``url_variable``: where env.py reads that history's database URL."""
    config = history_config(config_path, section)
    buffer = AttributingBuffer(revision_path)
    config.output_buffer = buffer
    run = command.downgrade if downgrade else command.upgrade
    # env.py logs each step at INFO; the report shows the SQL, not the log.
    previous_disable = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        with database_url(DIALECT_URLS[dialect], url_variable):
            run(config, revision_range, sql=True)
    except Exception as error:  # noqa: BLE001 - any failure is reported, not raised
        message = str(error).strip().splitlines()
        return Rendered(
            "", [], f"{type(error).__name__}: {message[0] if message else ''}"
        )
    finally:
        logging.disable(previous_disable)
    return Rendered(buffer.getvalue(), buffer.statements)

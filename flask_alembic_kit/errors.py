"""One-line errors: what went wrong and what to do, never a traceback or a password.

Alembic prints a ``CommandError`` as ``FAILED: <message>`` and exits non-zero;
``alembic --raiseerr <command>`` shows the traceback instead. The database's own
message is cut to its first line, which holds no SQL, parameters or URL.
"""

import os
import traceback
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import context
from alembic.util import CommandError

from flask_alembic_kit.history_errors import explained
from flask_alembic_kit.network import is_network_timeout
from flask_alembic_kit.offline import OFFLINE_BATCH, offline_batch_refused
from flask_alembic_kit.settings import seconds_text
from flask_alembic_kit.urls import SettingError

RAISEERR_HINT = "Run with --raiseerr for the traceback"


class SettingFailed(CommandError):
    """A setting that cannot be used (``DATABASE_URL``, ``MIGRATION_*``): its
    message names the variable, which belongs to no one database."""


class MigrationFailed(CommandError):
    """A revision failed on the database; the hint to ``--raiseerr`` is added unless
    the user asked for the traceback already."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message, or its class name when it has none;
    without Alembic's hint to ``--raiseerr``."""
    lines = str(error).strip().splitlines()
    line = lines[0] if lines else type(error).__name__
    return line.split(f" {RAISEERR_HINT}")[0]


def is_lock_timeout(error: sa.exc.DBAPIError) -> bool:
    """Whether the database gave up waiting for a lock (PostgreSQL's SQLSTATE 55P03,
    MariaDB/MySQL's error 1205)."""
    code = error.orig.args[0] if error.orig.args else None
    return getattr(error.orig, "sqlstate", None) == "55P03" or code == 1205


def one_line(error: sa.exc.DBAPIError) -> str:
    """The database's own message, first line: no SQL, parameters or URL in it."""
    reason = error.orig.args[-1] if error.orig.args else error.orig
    line = str(reason).strip().splitlines()[0]
    return line.removeprefix("connection failed: ").replace("FATAL:  ", "")


def waiting_for_run_lock(settings, backend: str = "") -> str:
    """The line said when the run lock is held as a migration starts: it waits,
    silent otherwise, for as long as ``MIGRATION_RUN_LOCK_WAIT`` allows. SQLite's
    write lock is also any writer's, the app's included."""
    holders = (
        "another migration or a writer of this database holds it"
        if backend == "SQLite"
        else "another migration of this database holds it (or one whose network "
        "was cut, until the server ends its session)"
    )
    return (
        f"Waiting for the run lock: {holders}; giving up after "
        f"MIGRATION_RUN_LOCK_WAIT ({settings.run_lock_wait:g} s)"
    )


def run_lock_busy() -> CommandError:
    """The error for a run lock that another migrator held for too long."""
    return CommandError(
        "another migration is running on this database, for longer than "
        "MIGRATION_RUN_LOCK_WAIT allows; let it finish, then run this one again"
    )


def network_lost(
    error: sa.exc.DBAPIError, seconds: float | None, revision: str | None, kept_ddl
) -> MigrationFailed:
    """The error for a server that went quiet in the middle of a migration: the
    keepalives gave up (``network.py``); the server ends the session, and with it
    the run lock and (but on MariaDB/MySQL) the revision under way, by itself."""
    waited = f" ({seconds_text(seconds)})" if seconds else ""
    return MigrationFailed(
        f"the database server stopped answering: no reply within "
        f"MIGRATION_NETWORK_TIMEOUT{waited}, so the connection was given up "
        f"({one_line(error)}). {database_is_at(revision, kept_ddl)}; the server "
        "ends the session and frees the run lock by itself: run the command again "
        "once the network is back"
    )


def database_is_at(revision: str | None, kept_ddl) -> str:
    """Where a failed revision left the database, and what MariaDB/MySQL kept."""
    where = (
        f"The database is at {revision}, the last revision that completed"
        if revision
        else "The database is at the last revision that completed"
    )
    if kept_ddl:
        where += (
            "; MariaDB/MySQL kept these statements of the failed revision, and a "
            f"rerun resumes after them (fix what failed, not them): {kept_ddl}"
        )
    return where


def revision_frames(raised_at) -> list[traceback.FrameSummary]:
    """The frames of a traceback that are in the revision files."""
    script = getattr(context, "script", None)  # None outside an alembic command
    versions = os.path.abspath(script.versions) + os.sep if script else "\0"
    return [
        frame
        for frame in traceback.extract_tb(raised_at)
        if os.path.abspath(frame.filename).startswith(versions)
    ]


def callers_own(error: Exception) -> bool:
    """Whether an exception belongs to a caller that runs env.py itself, not to a
    revision: raised outside the revision files when no command runs (such as
    pytest-alembic's model check, which stops autogenerate by raising)."""
    config = getattr(context, "config", None)
    no_command = config is None or config.cmd_opts is None
    return no_command and not revision_frames(error.__traceback__)


def revision_raised(
    error: Exception, revision: str | None, kept_ddl
) -> MigrationFailed:
    """The error for a revision whose Python code raised: the exception's first line
    (never SQL or its parameters) and the line of the revision file it came from.
    Raised outside every revision file (a history whose down_revision names no
    revision of it), it is the migration that failed, not a revision."""
    raised_at = error.__traceback__
    if isinstance(error, sa.exc.StatementError) and error.orig is not None:
        error = error.orig
    lines = str(error).strip().splitlines() or [""]
    text = lines[0][:200]
    frames = revision_frames(raised_at)
    place, who = "", "the migration raised"
    if frames:
        path = os.path.relpath(frames[-1].filename)
        place, who = f" ({path}, line {frames[-1].lineno})", "a revision raised"
    return MigrationFailed(
        f"{who} {type(error).__name__}: {text}{place}. "
        f"{database_is_at(revision, kept_ddl)}"
    )


def revision_failed(
    error: sa.exc.DBAPIError, revision: str | None, kept_ddl=None
) -> MigrationFailed:
    """The error for a revision that failed: why, where the database is now (when
    known), and on MariaDB/MySQL the DDL statements it kept."""
    where = database_is_at(revision, kept_ddl)
    if is_lock_timeout(error):
        rolled_back = "" if kept_ddl else "; its revision was rolled back"
        return MigrationFailed(
            "a migration statement waited too long for a table lock that another "
            f"connection holds ({one_line(error)}){rolled_back}. {where}. "
            "Run again later, or raise MIGRATION_LOCK_TIMEOUT"
        )
    if session_ended(error):
        where += (
            ". The server ended the session: if the revision's Python code paused "
            "longer than MIGRATION_NETWORK_TIMEOUT between two statements, raise it"
        )
    return MigrationFailed(f"a migration statement failed: {one_line(error)}. {where}")


# How each server says it ended a session that waited too long for its next
# statement (timeouts.py sets how long): PostgreSQL's SQLSTATEs for the idle
# timeouts; MariaDB/MySQL's client errors for a connection the server closed, and
# MariaDB's own for a client it disconnected for inactivity.
IDLE_SQLSTATES = frozenset({"25P03", "57P05"})
GONE_CODES = frozenset({2006, 2013, 4031})


def session_ended(error: sa.exc.DBAPIError) -> bool:
    """Whether the server ended the session while it waited for a statement."""
    code = error.orig.args[0] if error.orig.args else None
    return getattr(error.orig, "sqlstate", None) in IDLE_SQLSTATES or (
        code in GONE_CODES and "timed out" not in str(error.orig).lower()
    )


@contextmanager
def clear_errors(config):
    """Turn the failures of a migration into one line, ``FAILED: <line>``, naming
    the database when it is a bind's (``database audit: ...``); with
    ``--raiseerr`` the traceback shows instead, without the hint to use it."""
    section = config.config_ini_section
    try:
        with one_line_errors(config):
            yield
    except CommandError as error:
        undone = [undo() for undo in config.attributes.pop(UNDO_ON_FAILURE, [])]
        if undone:
            error.args = (f"{error} ({'; '.join(undone)})",)
        if (
            section == "alembic"
            or isinstance(error, SettingFailed)
            or str(error).startswith("database ")
        ):
            raise
        raise CommandError(f"database {section}: {error}") from error


# The config attribute listing what a failed command takes back (binds.py: a bind's
# revision file written before the default database's run failed); each callable
# undoes one thing and says what in a few words.
UNDO_ON_FAILURE = "undo on failure"


@contextmanager
def one_line_errors(config):
    """The failures of a migration, each as one line."""
    raiseerr = getattr(config.cmd_opts, "raiseerr", False)
    try:
        yield
    except SettingError as error:
        raise SettingFailed(error.message) from error
    except sa.exc.DBAPIError as error:
        if error.statement is None:  # connecting succeeded: the connection broke
            if is_network_timeout(error):
                lost = network_lost(error, None, None, None)
                raise with_hint(lost, raiseerr) from error
            line = one_line(error)
            raise CommandError(f"the database connection failed: {line}") from error
        raise with_hint(revision_failed(error, None), raiseerr) from error
    except MigrationFailed as error:
        raise with_hint(error, raiseerr) from error.__cause__
    except CommandError as error:  # e.g. ``upgrade A:B --sql`` naming a squashed A
        if str(error).startswith(OFFLINE_BATCH):
            raise offline_batch_refused(error) from error
        said = explained(error, lambda: None)
        if said is None:
            raise
        raise said from error


def with_hint(error: MigrationFailed, raiseerr: bool) -> CommandError:
    """The error, ending with the hint to ``--raiseerr`` unless it is on already."""
    return error if raiseerr else CommandError(f"{error}. {RAISEERR_HINT}")

"""One-line errors: what went wrong and what to do, never a traceback or a password.

Alembic prints a ``CommandError`` as ``FAILED: <message>`` and exits non-zero;
``alembic --raiseerr <command>`` shows the traceback instead. The database's own
message is cut to its first line, which holds no SQL, parameters or URL.
"""

import os
import re
import traceback
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import context
from alembic.util import CommandError

from flask_alembic_kit.network import is_network_timeout
from flask_alembic_kit.settings import seconds_text
from flask_alembic_kit.state import squashed_into
from flask_alembic_kit.urls import SettingError, query_parameter_error

RAISEERR_HINT = "Run with --raiseerr for the traceback"

# Alembic's wording for a revision id the history does not have (script/base.py).
UNKNOWN_REVISION = re.compile(r"Can't locate revision identified by '([^']+)'")


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


def is_connect_timeout(error: sa.exc.DBAPIError) -> bool:
    """Whether connecting gave up on a server that did not answer in time (psycopg's
    ``connection timeout expired``, PyMySQL's ``(timed out)``)."""
    text = str(error.orig).lower()
    return "timeout expired" in text or "timed out" in text


def one_line(error: sa.exc.DBAPIError) -> str:
    """The database's own message, first line: no SQL, parameters or URL in it."""
    reason = error.orig.args[-1] if error.orig.args else error.orig
    line = str(reason).strip().splitlines()[0]
    return line.removeprefix("connection failed: ").replace("FATAL:  ", "")


def run_lock_busy() -> CommandError:
    """The error for a run lock that another migrator held for too long."""
    return CommandError(
        "another migration is running on this database, for longer than "
        "MIGRATION_RUN_LOCK_WAIT allows; let it finish, then run this one again"
    )


def connect_failed(
    error: sa.exc.DBAPIError, connect_timeout: float, url: sa.URL | None = None
) -> CommandError:
    """The error for a database that could not be reached; for an SQLite file that
    cannot be opened, the file's path (SQLite's own words name none)."""
    if is_connect_timeout(error) and connect_timeout:
        reason = (
            f"no answer within {seconds_text(connect_timeout)} "
            "(MIGRATION_CONNECT_TIMEOUT)"
        )
    elif (
        url is not None
        and url.get_backend_name() == "sqlite"
        and "unable to open" in one_line(error)
    ):
        reason = (
            f"{one_line(error)} {url.database}: its folder must exist, and this "
            "user must be allowed to write in it"
        )
    else:
        reason = one_line(error)
    return CommandError(f"cannot connect to the database: {reason}")


def parameter_refused(
    engine: sa.Engine, error: Exception, variable: str
) -> SettingError | None:
    """The error for a query parameter of the URL that the driver refused before
    connecting (PyMySQL's ``?charset=nosuch``, ``?ssl_ca=/missing.pem``, an unknown
    one): a ``ValueError``, ``TypeError`` or ``OSError`` of its own rather than a
    database error. Found by trying each parameter alone with PyMySQL's
    ``defer_connect``, which reads them all and sends nothing; ``None`` when no
    parameter is at fault, or for a driver that cannot be asked without
    connecting."""
    dialect = engine.dialect
    if dialect.driver != "pymysql":
        return None
    for key, value in engine.url.query.items():
        cargs, cparams = dialect.create_connect_args(engine.url.set(query={key: value}))
        try:
            dialect.loaded_dbapi.connect(*cargs, **cparams, defer_connect=True)
        except Exception as refused:  # whatever the driver raises
            return query_parameter_error(key, driver_reason(refused), variable)
    return None


def driver_reason(error: Exception) -> str:
    """Why a driver refused a parameter, in words: its own message, but for an
    unknown name or value, where the message says nothing to the user (PyMySQL's
    ``'NoneType' object has no attribute 'encoding'`` for an unknown charset)."""
    if isinstance(error, TypeError) and "unexpected keyword" in str(error):
        return "the driver has no such parameter"
    if isinstance(error, (AttributeError, LookupError)):
        return "the driver does not know this value"
    return str(error).strip() or type(error).__name__


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
def behind_head_explained(revision_now):
    """Say what to do when autogenerate refuses a database that is not at head,
    rather than Alembic's bare "Target database is not up to date."."""
    try:
        yield
    except CommandError as error:
        # Alembic's own wording (autogenerate/api.py), pinned by
        # test_autogenerate_on_a_database_behind_says_what_to_do.
        if str(error) != "Target database is not up to date.":
            said = explained(error, revision_now)
            if said is None:
                raise
            raise said from error
        heads = sorted(context.get_context().script.get_heads())
        if len(heads) > 1:
            raise CommandError(
                f"the history has {len(heads)} heads ({', '.join(heads)}) and the "
                f"database is at {revision_now()}: merge them first ({MERGE}), then "
                "alembic upgrade head"
            ) from error
        raise CommandError(
            f"the database is at {revision_now()}, behind head {heads[0]}: "
            "run alembic upgrade head first"
        ) from error


# Alembic's words for a command that names "head" in a history with several.
SEVERAL_HEADS = "Multiple head revisions are present for given argument 'head'"
MERGE = 'alembic merge heads -m "Merge"'


def explained(error: CommandError, revision_now) -> CommandError | None:
    """Alembic's error said as what to do: a revision the code does not have
    (``squash_explained``), or a history with several heads. ``None`` for any
    other error."""
    if str(error).startswith(SEVERAL_HEADS):
        return CommandError(
            "the history has several heads, so 'head' names none of them: merge "
            f"them ({MERGE}), or name one (<revision> or <branch>@head), or all of "
            "them (heads)"
        )
    return squash_explained(error, revision_now)


def squash_explained(error: CommandError, revision_now) -> CommandError | None:
    """Say what to do about a revision the code does not have, rather than Alembic's
    "Can't locate revision": the database is at one that newer code wrote, or at
    one a squash removed, or a command named one a squash removed. ``None`` for any
    other error."""
    match = UNKNOWN_REVISION.fullmatch(str(error))
    script = getattr(context, "script", None)
    if match is None or script is None:
        return None
    baseline = squashed_into(script).get(match[1])
    at_it = match[1] in (revision_now() or "").split(", ")
    if baseline is None and at_it:  # what the guard says of it too (state.py)
        heads = ", ".join(sorted(script.get_heads()))
        return CommandError(
            f"the database is at {match[1]}, a revision this code does not know "
            f"(head {heads}): it was migrated by newer code. Deploy that code, or "
            "check that DATABASE_URL names this project's database"
        )
    if baseline is None:
        return None
    if at_it:
        return CommandError(
            f"the database is at {match[1]}, which was squashed into the baseline "
            f"{baseline}; upgrade it to {baseline} with a release that still has the "
            "old revisions first"
        )
    return CommandError(
        f"{match[1]} was squashed into the baseline {baseline}: the history starts "
        f"at {baseline} now"
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


# Alembic's words for a batch operation that --sql cannot render: SQLite's table
# copy must read the table first (operations/batch.py).
OFFLINE_BATCH = "This operation cannot proceed in --sql mode; batch mode"
# Ours instead (migration-review's report recognises it).
OFFLINE_BATCH_REFUSED = "--sql cannot render a revision's batch operation"


def offline_batch_refused(error: CommandError) -> CommandError:
    """The error for a revision whose batch operation ``--sql`` cannot render on
    SQLite: what works instead."""
    table = re.search(r'reflect the table "([^"]+)"', str(error))
    where = f" on {table[1]}" if table else ""
    return CommandError(
        f"{OFFLINE_BATCH_REFUSED}{where} for SQLite: its "
        "table copy reads the table from the database. Run alembic upgrade on the "
        "database itself, or render the script for a server's URL (DATABASE_URL="
        "postgresql://... or mysql://...); nothing was printed"
    )


def with_hint(error: MigrationFailed, raiseerr: bool) -> CommandError:
    """The error, ending with the hint to ``--raiseerr`` unless it is on already."""
    return error if raiseerr else CommandError(f"{error}. {RAISEERR_HINT}")

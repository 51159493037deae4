"""The database's Alembic revision compared with the head of the code's revisions.

Read only: nothing here runs a migration. The guard and ``/healthz`` use it.
"""

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext

from flask_alembic_kit.code_revisions import CodeRevisions, code_revisions
from flask_alembic_kit.phases import CONTRACT, MERGE
from flask_alembic_kit.serving import read_serving_heads

UPGRADE_COMMAND = "alembic upgrade head"

# The states a database can be in, compared with the code.
OK = "ok"  # at the code's head
EMPTY = "empty"  # never migrated: no revision recorded
BEHIND = "behind"  # at a revision the code knows, older than head
UNKNOWN = "unknown"  # at a revision the code does not know: newer code migrated it
SQUASHED = "squashed"  # at a revision the code squashed into its baseline
UNAVAILABLE = "unavailable"  # the revision could not be read
# Deploys without downtime (phases.py): states the code serves in, not at head.
AHEAD = "ahead"  # ahead by expand revisions only: an older release, mid-deploy
CONTRACT_PENDING = "contract_pending"  # behind by contract revisions only


@dataclass(frozen=True)
class MigrationState:
    """Where the database is, where the code expects it, and what to do about it."""

    status: str
    database: tuple[str, ...]
    head: tuple[str, ...]
    baseline: str | None = None  # SQUASHED: the baseline that replaced the revision

    @property
    def ok(self) -> bool:
        """True when the database is at the code's head."""
        return self.status == OK

    @property
    def serves(self) -> bool:
        """True when the code can serve on the database: at head, or off it by
        revisions its release survives (a rolling deploy's two releases)."""
        return self.status in (OK, AHEAD, CONTRACT_PENDING)

    @property
    def command(self) -> str | None:
        """The command that brings the database to head, when one does."""
        return UPGRADE_COMMAND if self.status in (EMPTY, BEHIND) else None

    @property
    def message(self) -> str:
        """One line saying what is wrong and what to do, for the log and the client."""
        database, head = revisions_text(self.database), revisions_text(self.head)
        if self.status == OK:
            return f"The database is at head ({head})."
        if self.status == AHEAD:
            return (
                f"The database is at revision {database}, ahead of this code's head "
                f"{head} by expand revisions only: this code can serve on it, as "
                "the release that runs while a newer one is deployed."
            )
        if self.status == CONTRACT_PENDING:
            return (
                f"The database is at revision {database}, behind this code's head "
                f"{head} by contract revisions only: this code can serve on it; they "
                f"wait for `{UPGRADE_COMMAND}` once every instance runs this release."
            )
        if self.status == EMPTY:
            return (
                f"The database has no Alembic revision (expected head {head}); "
                f"run `{UPGRADE_COMMAND}`."
            )
        if self.status == BEHIND:
            return (
                f"The database is at revision {database}, behind the code's head "
                f"{head}; run `{UPGRADE_COMMAND}`."
            )
        if self.status == SQUASHED:
            return (
                f"The database is at revision {database}, which was squashed into the "
                f"baseline {self.baseline}; upgrade it to {self.baseline} with a "
                "release that still has the old revisions first."
            )
        if self.status == UNKNOWN:
            return (
                f"The database is at revision {database}, which this code does not "
                f"know (head {head}): it was migrated by newer code. Deploy that code, "
                "or downgrade the database with it."
            )
        if not self.head:
            return (
                "The code's revision scripts could not be read: ALEMBIC_CONFIG does "
                "not name the project's alembic.ini."
            )
        return f"The database's revision could not be read (expected head {head})."

    def as_json(self) -> dict:
        """The fields ``/healthz`` and the guard's 503 answer with: the status and
        both revisions, plus the message as ``error`` (the field every error answer
        of the app uses) and the command when not at head.

        Only revision ids and advice: never the database URL or its password.
        """
        body = {
            "status": self.status,
            "database": revisions_text(self.database) or None,
            "head": revisions_text(self.head) or None,
        }
        if self.serves and not self.ok:
            body["message"] = self.message
        elif not self.ok:
            body["error"] = self.message
        if self.command:
            body["command"] = self.command
        return body


def revisions_text(revisions: tuple[str, ...]) -> str:
    """Revision ids as one string: ``"ab12"``, or ``"ab12, cd34"`` for branches."""
    return ", ".join(revisions)


def quiet_context(connection=None, dialect=None, opts=None) -> MigrationContext:
    """A migration context for reading the version table or rendering ops, made
    without the "Context impl ... / Will assume ... DDL" lines Alembic logs for a
    new one: in the middle of a command, they would contradict its own."""
    logger = logging.getLogger("alembic.runtime.migration")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return MigrationContext.configure(connection, dialect=dialect, opts=opts)
    finally:
        logger.setLevel(level)


def database_heads(
    connection: sa.Connection, version_table: str = "alembic_version"
) -> tuple[str, ...]:
    """The revision(s) recorded in the database's ``alembic_version`` table (or a
    bind's own version table).

    Empty when the table does not exist or has no row.
    """
    context = quiet_context(connection, opts={"version_table": version_table})
    return tuple(sorted(context.get_current_heads()))


def compare(
    database: tuple[str, ...],
    code: CodeRevisions,
    serving: frozenset[str] = frozenset(),
) -> MigrationState:
    """Classify the database's revisions against the code's. ``serving``: the code
    heads the database's serving table lists (``serving.py``), for a database at
    revisions the code does not know."""
    if database == code.heads:
        status = OK
    elif not database:
        status = EMPTY
    elif code.known.issuperset(database):
        pending = code.pending(database)
        only_contract = all(
            code.phases.get(each) in (CONTRACT, MERGE) for each in pending
        )
        status = CONTRACT_PENDING if pending and only_contract else BEHIND
    elif all(revision in code.squashed for revision in database):
        baseline = code.squashed[database[0]]
        return MigrationState(SQUASHED, database, code.heads, baseline)
    elif serving.issuperset(code.heads):
        status = AHEAD
    else:
        status = UNKNOWN
    return MigrationState(status, database, code.heads)


def read_state(
    engine: sa.Engine, alembic_config: str, section: str = "alembic"
) -> MigrationState:
    """Connect, read the database's revision and compare it with the code's head.

    Errors reaching the database propagate: the caller decides how to answer.
    """
    code = code_revisions(alembic_config, section)
    with engine.connect() as connection:
        for _ in range(2):
            heads = database_heads(connection, code.version_table)
            state = compare(heads, code)
            if state.status != UNKNOWN:
                return state
            # Newer code migrated it: its serving table says whether this code
            # serves. A migrator may commit its next revision between the two
            # reads; then the version table has moved too, and is read again.
            serving = read_serving_heads(connection, code.version_table, heads)
            state = compare(heads, code, frozenset(serving))
            if state.serves or database_heads(connection, code.version_table) == heads:
                return state
            connection.rollback()  # a fresh snapshot where reads repeat
        return state


def unavailable_state(alembic_config: str, section: str = "alembic") -> MigrationState:
    """The state of a database whose revision could not be read."""
    heads = code_revisions(alembic_config, section).heads
    return MigrationState(UNAVAILABLE, (), heads)


def scripts_unavailable_state() -> MigrationState:
    """The state when the code's own revision scripts could not be read: no head to
    compare with, so nothing can be said about the database either."""
    return MigrationState(UNAVAILABLE, (), ())


@dataclass(frozen=True)
class DatabaseStates:
    """The state of each database the app uses: the default one, then each
    Flask-SQLAlchemy bind (docs/binds.md). It answers as one
    state: ok when every database is at its head, else as the first that is not."""

    states: tuple[tuple[str, MigrationState], ...]  # ("default", ...), ("audit", ...)

    @property
    def first_wrong(self) -> MigrationState:
        """The first database's state the code cannot serve on, else the first
        that is not at head, else the default's."""
        refusing = [state for _, state in self.states if not state.serves]
        off_head = [state for _, state in self.states if not state.ok]
        return (refusing or off_head or [self.states[0][1]])[0]

    @property
    def ok(self) -> bool:
        """True when every database is at its head."""
        return all(state.ok for _, state in self.states)

    @property
    def serves(self) -> bool:
        """True when the code can serve on every database (``MigrationState``)."""
        return all(state.serves for _, state in self.states)

    @property
    def status(self) -> str:
        """The status of the first database that is not at head."""
        return self.first_wrong.status

    @property
    def unavailable(self) -> bool:
        """True when a database's revision could not be read."""
        return any(state.status == UNAVAILABLE for _, state in self.states)

    @property
    def message(self) -> str:
        """One line: the default database's, or each database that is not at
        head, named."""
        if len(self.states) == 1:
            return self.states[0][1].message
        wrong = [(name, state) for name, state in self.states if not state.ok]
        return " ".join(
            f"Database {name}: {state.message}"
            for name, state in (wrong or self.states[:1])
        )

    def as_json(self) -> dict:
        """The single database's fields, as ever. With binds, each database's
        fields under ``databases``; at the top, the status, and the error and the
        command to run of the first database not at head, named."""
        if len(self.states) == 1:
            return self.states[0][1].as_json()
        body = {"status": self.status}
        if not self.ok:
            body["message" if self.serves else "error"] = self.message
        if command := self.first_wrong.as_json().get("command"):
            body["command"] = command
        body["databases"] = {name: state.as_json() for name, state in self.states}
        return body

"""The migration guard, and ``/healthz``.

With ``MIGRATION_GUARD=on`` (the default) every request but ``/healthz`` answers 503
while the database is not at the code's head. The check runs on the first request,
not at start-up, so building the app never connects.

- Once the database is found at head, the result is kept and no request checks
  again: that is the cost of the guard afterwards, one attribute read.
- While it is not at head, each request checks again (one small query), so a database
  upgraded while the app runs is served as soon as it is at head, without a restart.
- A database downgraded under a running app is noticed by the first request that
  fails on a database error (it re-checks, and answers 503 rather than 500), or by
  ``/healthz``, which always reads the database afresh and hands what it finds to
  the guard.
- ``warn`` logs the mismatch and serves anyway; it checks until it could read the
  revision once. ``off`` neither checks nor logs; ``/healthz`` still reports.

Each new mismatch is logged once, not once per request.
"""

import logging
import threading

import sqlalchemy as sa
from alembic.util import CommandError
from flask import Blueprint, Flask, current_app, jsonify, request

from flask_alembic_kit.errors import first_line
from flask_alembic_kit.state import (
    DatabaseStates,
    MigrationState,
    read_state,
    scripts_unavailable_state,
    unavailable_state,
)

bp = Blueprint("health", __name__)

# Endpoints served whatever the migration state: the health check reports it.
EXEMPT_ENDPOINTS = frozenset({"health.healthz"})

# What the guard does when the database is not at the code's head.
GUARD_MODES = ("on", "warn", "off")

REFUSING = "Requests are refused with 503 until it is at head."
SERVING = "Serving anyway (MIGRATION_GUARD=warn)."


class MigrationGuard:
    """What one app last learned about its database's migration state."""

    def __init__(self, app: Flask, mode: str, alembic_config: str) -> None:
        """A guard in ``mode`` (on, warn, off) for ``alembic_config``'s revisions."""
        # The app's own logger's child ("app.migration_guard"): it logs through the
        # handler Flask gives the app's logger, with the level and time.
        self.log = app.logger.getChild("migration_guard")
        self.mode = mode
        self.alembic_config = alembic_config
        self.settled: DatabaseStates | None = None  # kept: no need to check again
        self.last_seen: DatabaseStates | None = None
        self.lock = threading.Lock()

    def state(self) -> DatabaseStates:
        """The kept state, or a fresh reading when there is none."""
        return self.settled or self.check()

    def check(self, cause: str = "") -> DatabaseStates:
        """Read each database's revision now, and remember what was found; ``cause``
        says what made the app look again, for the log."""
        states, reasons = [], []
        for name, bind in databases():
            state, reason = self.read(bind)
            states.append((name, state))
            reasons += [reason] if reason else []
        state = DatabaseStates(tuple(states))
        # A reason the databases share (ALEMBIC_CONFIG) is said once.
        self.remember(state, " ".join(dict.fromkeys(reasons)), cause)
        return state

    def read(self, bind: str | None) -> tuple[MigrationState, str]:
        """One database's state, and why it could not be read, for the log."""
        section = bind or "alembic"
        try:
            return read_state(engines()[bind], self.alembic_config, section), ""
        except sa.exc.SQLAlchemyError as error:
            # The driver's message names the host at most, never the password; it goes
            # to the log only, never into an answer.
            state = unavailable_state(self.alembic_config, section)
            return state, f"Cause: {first_line(getattr(error, 'orig', None) or error)}"
        except CommandError as error:
            # Alembic found no revision scripts where ALEMBIC_CONFIG points, as with a
            # non-editable install, which has no alembic.ini next to the package. The
            # path goes to the log only.
            reason = f"ALEMBIC_CONFIG is {self.alembic_config!r}: {first_line(error)}"
            return scripts_unavailable_state(), reason

    def remember(
        self, state: DatabaseStates, reason: str = "", cause: str = ""
    ) -> None:
        """Keep ``state`` when no further check is needed; log it when it is new.

        Refusing is an error, serving anyway a warning; so is a mismatch that a
        failed request found (``cause``): its client is answered, nothing crashed.
        """
        keep = state.ok or (self.mode == "warn" and not state.unavailable)
        self.settled = state if keep else None
        with self.lock:
            is_new, self.last_seen = state != self.last_seen, state
        if not is_new or self.mode == "off":
            return
        if state.ok:
            self.log.info(state.message)
            return
        refusing = self.mode == "on"
        level = logging.ERROR if refusing and not cause else logging.WARNING
        outcome = REFUSING if refusing else SERVING
        self.log.log(
            level, " ".join(filter(None, [cause, state.message, reason, outcome]))
        )


def engines() -> dict[str | None, sa.Engine]:
    """The app's engines by bind, from its Flask-SQLAlchemy extension."""
    return current_app.extensions["sqlalchemy"].engines


def databases() -> list[tuple[str, str | None]]:
    """Each database of the app, by name and bind: the default one, then the
    binds (``DATABASE_URL_<NAME>``)."""
    binds = sorted(current_app.config.get("SQLALCHEMY_BINDS") or {})
    return [("default", None), *((name, name) for name in binds)]


def guard_of(app: Flask) -> MigrationGuard:
    """The app's migration guard."""
    return app.extensions["migration_guard"]


def refuse_requests_off_head():
    """Before each request: 503 when the database is not at head (mode ``on``)."""
    if request.endpoint in EXEMPT_ENDPOINTS:
        return None
    guard = guard_of(current_app)
    state = guard.state()
    if state.ok or guard.mode != "on":
        return None
    return refusal(state)


def refused_after_database_error(error: BaseException | None):
    """After a request failed on a database error, look at the revision again.

    Kept results are not re-read by later requests, so a database downgraded under a
    running app would answer 500s; the first such error re-checks, and answers the
    guard's 503 instead when the database has left head. Returns ``None`` otherwise.
    """
    guard = guard_of(current_app)
    if guard.mode == "off" or not isinstance(error, sa.exc.DBAPIError):
        return None
    state = guard.check(f"A request failed on the database ({first_line(error.orig)}).")
    return None if state.ok or guard.mode != "on" else refusal(state)


def refusal(state: DatabaseStates):
    """The guard's 503: the state's fields, its message as the ``error``."""
    return jsonify(state.as_json()), 503


@bp.get("/healthz")
def healthz():
    """The database's revision and the code's head: 200 when they match, else 503.

    With the guard at ``warn`` or ``off`` a mismatch answers 200 (the app is serving,
    as asked), still naming it; a database that cannot be read is always 503.
    """
    guard = guard_of(current_app)
    state = guard.check()
    serving = state.ok or (guard.mode != "on" and not state.unavailable)
    return jsonify(state.as_json()), 200 if serving else 503


def guard_mode(value: str | None, log: logging.Logger) -> str:
    """``MIGRATION_GUARD`` normalised to ``on``, ``warn`` or ``off`` (unset: ``on``).

    An unknown value keeps the guard on, with a warning: a typo must not switch it
    off, and must not stop ``alembic`` (which builds the app) with a traceback.
    """
    mode = (value or "on").strip().lower()
    if mode not in GUARD_MODES:
        log.warning(
            "MIGRATION_GUARD=%r is not one of %s; the guard stays on.",
            value,
            ", ".join(GUARD_MODES),
        )
        return "on"
    return mode


def init_app(app: Flask) -> None:
    """Give the app its guard and ``/healthz``; ``off`` installs no check. The app's
    Flask-SQLAlchemy extension must be set up first (``db.init_app(app)``): the
    guard reads each of its engines. ``MIGRATION_GUARD`` (on, warn, off; default
    on) and ``ALEMBIC_CONFIG`` (the path of the project's alembic.ini) come from the
    app's config."""
    mode = guard_mode(app.config.get("MIGRATION_GUARD"), app.logger)
    app.config["MIGRATION_GUARD"] = mode
    app.extensions["migration_guard"] = MigrationGuard(
        app, mode, app.config["ALEMBIC_CONFIG"]
    )
    if mode != "off":
        app.before_request(refuse_requests_off_head)
    app.register_blueprint(bp)

"""The migration guard, and ``/healthz``.

With ``MIGRATION_GUARD=on`` (the default) every request but ``/healthz`` answers 503
while the code cannot serve on the database: off its head, except by revisions a
rolling deploy leaves there (docs/deploys.md). It serves on a
database ahead of its head by expand revisions only (the old release while the new
one is deployed: ``serving.py`` says which releases may serve), and behind it by
contract revisions only (the new release before the contract step). The check runs
on the first request, not at start-up, so building the app never connects.

- Once the code can serve, the result is kept for ``MIGRATION_GUARD_INTERVAL``
  seconds (default 5): requests in between cost one attribute read; the first
  after it reads the revision again (one small query), so a database that moved
  while the app runs is noticed within the interval.
- While it cannot serve, each request checks again, so a database upgraded while
  the app runs is served as soon as it can be, without a restart.
- A database moved under a running app is also noticed by the first request that
  fails on a database error (it re-checks, and answers 503 rather than 500), and
  by ``/healthz``, which always reads the database afresh, hands what it finds to
  the guard, and says which case holds (``status``: ok, ahead, contract_pending).
- ``strict`` serves at the code's head only, as before rolling deploys.
- ``warn`` logs the mismatch and serves anyway; it checks until it could read the
  revision once. ``off`` neither checks nor logs; ``/healthz`` still reports.

Each new mismatch is logged once, not once per request.
"""

import logging
import os
import threading
import time

import sqlalchemy as sa
from alembic.util import CommandError
from flask import Blueprint, Flask, current_app, jsonify, request

from flask_alembic_kit.errors import first_line
from flask_alembic_kit.guard_settings import (
    DEFAULT_INTERVAL,
    REFUSING_MODES,
    guard_interval,
    guard_mode,
)
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

# What the guard says it does when the code cannot serve on the database.
REFUSING = "Requests are refused with 503 until the code can serve on it."
SERVING = "Serving anyway (MIGRATION_GUARD=warn)."
STRICT = "MIGRATION_GUARD=strict serves at the code's head only."


class MigrationGuard:
    """What one app last learned about its database's migration state."""

    def __init__(
        self,
        app: Flask,
        mode: str,
        alembic_config: str,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        """A guard in ``mode`` (on, strict, warn, off) for ``alembic_config``'s
        revisions, keeping a state it serves in for ``interval`` seconds."""
        # The app's own logger's child ("app.migration_guard"): it logs through the
        # handler Flask gives the app's logger, with the level and time.
        self.log = app.logger.getChild("migration_guard")
        self.mode = mode
        self.alembic_config = alembic_config
        self.interval = interval
        # The state kept (no need to check again), with the time its reading
        # began: one attribute, so that a request never sees half of an update.
        self.settled: tuple[DatabaseStates, float] | None = None
        self.last_seen: DatabaseStates | None = None
        self.lock = threading.Lock()
        self.reading = threading.Lock()  # one request reads again at a time
        self.clock = time.monotonic  # seconds; a test can wind it on

    def state(self) -> DatabaseStates:
        """The kept state, or a fresh reading when there is none or it is older
        than the interval. While one request reads it again, the others go on
        with the kept state rather than each sending its own query."""
        settled = self.settled
        if settled is None:
            return self.check()
        state, read_at = settled
        if self.clock() - read_at < self.interval:
            return state
        if not self.reading.acquire(blocking=False):
            return state
        try:
            return self.check()
        finally:
            self.reading.release()

    def serves(self, state: DatabaseStates) -> bool:
        """Whether the code serves on ``state`` in this mode: at head, or (``on``)
        off it by what a rolling deploy leaves."""
        return state.ok or (self.mode != "strict" and state.serves)

    def check(self, cause: str = "") -> DatabaseStates:
        """Read each database's revision now, and remember what was found; ``cause``
        says what made the app look again, for the log."""
        started, states, reasons = self.clock(), [], []
        for name, bind in databases():
            state, reason = self.read(bind)
            states.append((name, state))
            reasons += [reason] if reason else []
        state = DatabaseStates(tuple(states))
        # A reason the databases share (ALEMBIC_CONFIG) is said once.
        self.remember(state, " ".join(dict.fromkeys(reasons)), cause, started)
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
            cause = first_line(getattr(error, "orig", None) or error).rstrip(".")
            return state, f"Cause: {cause}."
        except CommandError as error:
            # Alembic found no revision scripts where ALEMBIC_CONFIG points, as with a
            # non-editable install, which has no alembic.ini next to the package. The
            # path goes to the log only.
            reason = f"ALEMBIC_CONFIG is {self.alembic_config!r}: {first_line(error)}"
            return scripts_unavailable_state(), reason

    def remember(
        self,
        state: DatabaseStates,
        reason: str = "",
        cause: str = "",
        started: float | None = None,
    ) -> None:
        """Keep ``state`` when no further check is needed; log it when it is new. A
        reading that began before the one kept is older news: it changes nothing.

        Refusing is an error, serving anyway a warning; so is a mismatch that a
        failed request found (``cause``): its client is answered, nothing crashed.
        """
        started = self.clock() if started is None else started
        keep = self.serves(state) or (self.mode == "warn" and not state.unavailable)
        with self.lock:
            if self.settled and self.settled[1] > started:
                return
            self.settled = (state, started) if keep else None
            is_new, self.last_seen = state != self.last_seen, state
        if not is_new or self.mode == "off":
            return
        if self.serves(state):
            self.log.info(state.message)
            return
        refusing = self.mode in REFUSING_MODES
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
    if guard.serves(state) or guard.mode not in REFUSING_MODES:
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
    refusing = guard.mode in REFUSING_MODES and not guard.serves(state)
    return refusal(state) if refusing else None


def refusal(state: DatabaseStates):
    """The guard's 503: the state's fields, its message as the ``error``."""
    body = state.as_json()
    if "error" not in body:  # strict: a state the default guard serves in
        body["error"] = f"{body.pop('message')} {STRICT}"
    return jsonify(body), 503


@bp.get("/healthz")
def healthz():
    """The database's revision and the code's head: 200 when the code serves on it
    (at head, or in a rolling deploy's tolerated cases, named by ``status``), else
    503.

    With the guard at ``warn`` or ``off`` a mismatch answers 200 (the app is serving,
    as asked), still naming it; a database that cannot be read is always 503.
    """
    guard = guard_of(current_app)
    state = guard.check()
    refusing = guard.mode in REFUSING_MODES
    serving = guard.serves(state) or (not refusing and not state.unavailable)
    if not serving:
        return refusal(state)
    return jsonify(state.as_json()), 200


def init_app(app: Flask) -> None:
    """Give the app its guard and ``/healthz``; ``off`` installs no check. The app's
    Flask-SQLAlchemy extension must be set up first (``db.init_app(app)``): the
    guard reads each of its engines. ``MIGRATION_GUARD`` (on, warn, off; default
    on), ``MIGRATION_GUARD_INTERVAL`` (seconds; default 5) and ``ALEMBIC_CONFIG``
    (the path of the project's alembic.ini) come from the app's config, the
    interval from the environment when the config does not set it."""
    mode = guard_mode(app.config.get("MIGRATION_GUARD"), app.logger)
    app.config["MIGRATION_GUARD"] = mode
    interval = app.config.get("MIGRATION_GUARD_INTERVAL")
    if interval is None:
        interval = os.environ.get("MIGRATION_GUARD_INTERVAL")
    app.extensions["migration_guard"] = MigrationGuard(
        app,
        mode,
        app.config["ALEMBIC_CONFIG"],
        guard_interval(interval, app.logger),
    )
    if mode != "off":
        app.before_request(refuse_requests_off_head)
    app.register_blueprint(bp)

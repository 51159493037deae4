"""Giving up on a database server that does not answer: one that never answers a
new connection (``MIGRATION_CONNECT_TIMEOUT``), and one that went quiet in the
middle of a session (``MIGRATION_NETWORK_TIMEOUT``).

A connection can stop carrying packets without either end being told: a NAT or a
firewall forgets an idle flow, a server fails over, a cable is pulled. Nothing comes
back, not even a reset, so the statement under way waits for its answer forever;
the server's statement timeout cannot help, the server being out of reach.

The client finds out with TCP keepalives: after ``idle`` seconds without a packet
the kernel sends a probe every ``interval`` seconds, and gives up after ``count``
unanswered ones (``TCP_USER_TIMEOUT`` bounds the same for data sent and never
acknowledged). A server that is busy with a long statement still answers the probes
from its kernel, so a long statement is never cut: only silence is.

- psycopg: libpq's ``keepalives_*`` and ``tcp_user_timeout`` connection parameters.
- PyMySQL: a socket of our own, with the same options, handed to the public
  ``Connection.connect(sock)`` (PyMySQL sets ``SO_KEEPALIVE`` with the kernel's
  two-hour default only).

The server ends the dead client's session by itself (``timeouts.py`` sets how
soon), which frees the run lock.
"""

import math
import socket

import sqlalchemy as sa

from flask_alembic_kit import internals
from flask_alembic_kit.settings import Settings

# The largest idle time Linux takes for TCP_KEEPIDLE.
LONGEST_IDLE = 32767

# psycopg, like libpq, waits at least 2 s for a connection whatever is asked.
PSYCOPG_MIN_CONNECT_TIMEOUT = 2


def keepalive_schedule(seconds: float) -> tuple[int, int, int]:
    """Keepalive ``idle``, ``interval`` and ``count`` that notice ``seconds`` of
    silence: half of it idle, then probes a tenth of it apart until it is over."""
    idle = min(max(1, math.floor(seconds / 2)), LONGEST_IDLE)
    interval = max(1, math.floor(seconds / 10))
    count = max(1, math.ceil((seconds - idle) / interval))
    return idle, interval, count


def psycopg_parameters(seconds: float) -> dict[str, int]:
    """libpq's connection parameters for the keepalives."""
    idle, interval, count = keepalive_schedule(seconds)
    return {
        "keepalives": 1,
        "keepalives_idle": idle,
        "keepalives_interval": interval,
        "keepalives_count": count,
        "tcp_user_timeout": math.ceil(seconds * 1000),
    }


def socket_options(seconds: float) -> list[tuple[int, int, int]]:
    """The ``setsockopt`` arguments for the keepalives, those this system has
    (macOS names the idle time ``TCP_KEEPALIVE`` and has no user timeout)."""
    idle, interval, count = keepalive_schedule(seconds)
    wanted = [
        (getattr(socket, "TCP_KEEPIDLE", getattr(socket, "TCP_KEEPALIVE", None)), idle),
        (getattr(socket, "TCP_KEEPINTVL", None), interval),
        (getattr(socket, "TCP_KEEPCNT", None), count),
        (getattr(socket, "TCP_USER_TIMEOUT", None), math.ceil(seconds * 1000)),
    ]
    return [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)] + [
        (socket.IPPROTO_TCP, option, value)
        for option, value in wanted
        if option is not None
    ]


def pymysql_connection(dbapi, cargs, cparams, seconds: float):
    """A PyMySQL connection on a TCP socket with keepalives: PyMySQL's own
    connecting, but for the socket, which it takes as it is."""
    connection = dbapi.connect(*cargs, **cparams, defer_connect=True)
    host, port = cparams.get("host", "localhost"), cparams.get("port", 3306)
    try:
        sock = socket.create_connection((host, port), cparams.get("connect_timeout"))
    except OSError as error:  # PyMySQL's wording for the same failure
        raise dbapi.err.OperationalError(
            2003, f"Can't connect to MySQL server on {host!r} ({error})"
        ) from error
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for level, option, value in socket_options(seconds):
        sock.setsockopt(level, option, value)
    connection.connect(sock)
    return connection


def add_network_timeout(engine: sa.Engine, seconds: float) -> None:
    """Make ``engine``'s connections give up on a server silent for ``seconds``
    (0: wait for ever). Parameters in the URL's query win; a Unix socket, which no
    network can cut, is left alone."""
    if not seconds:
        return
    driver = engine.dialect.driver

    def with_keepalives(dialect, connection_record, cargs, cparams):
        """Add the keepalives to the driver's connect arguments, or connect."""
        if driver == "psycopg":
            for name, value in psycopg_parameters(seconds).items():
                cparams.setdefault(name, value)
        elif driver == "pymysql" and not cparams.get("unix_socket"):
            return pymysql_connection(dialect.loaded_dbapi, cargs, cparams, seconds)
        return None

    if driver in ("psycopg", "pymysql"):
        sa.event.listen(engine, "do_connect", with_keepalives)


def protect(engine: sa.Engine, settings: Settings) -> None:
    """Bound how long ``engine``'s connections wait on the network: for a server to
    answer (``MIGRATION_CONNECT_TIMEOUT``), and once connected, for a server that
    went quiet (``MIGRATION_NETWORK_TIMEOUT``, ``network.py``)."""
    if settings.connect_timeout:
        add_connect_timeout(engine, settings.connect_timeout)
    add_network_timeout(engine, settings.network_timeout)


def applied_connect_timeout(driver: str, seconds: float) -> float:
    """The connect timeout the driver applies when asked for ``seconds``; 0 for the
    drivers this project does not set one for."""
    if driver == "psycopg":
        return max(math.ceil(seconds), PSYCOPG_MIN_CONNECT_TIMEOUT)
    return seconds if driver == "pymysql" else 0


def add_connect_timeout(engine: sa.Engine, seconds: float) -> None:
    """Make ``engine`` give up connecting after ``seconds``, handshake included: a
    server that accepts the TCP connection and never answers would otherwise hang
    the command, and the deploy with it. A timeout in the URL's query wins."""
    driver = engine.dialect.driver
    if driver == "psycopg":
        parameters = {"connect_timeout": applied_connect_timeout(driver, seconds)}
    elif driver == "pymysql":
        # PyMySQL's connect_timeout bounds the TCP connect only; the read timeout
        # bounds the handshake, and is lifted once connected (see below).
        parameters = {"connect_timeout": seconds, "read_timeout": seconds}
        sa.event.listen(engine, "connect", lift_read_timeout, insert=True)
    else:
        return

    def with_timeout(dialect, connection_record, cargs, cparams) -> None:
        """Add the timeout to the driver's connect arguments."""
        for name, value in parameters.items():
            cparams.setdefault(name, value)

    sa.event.listen(engine, "do_connect", with_timeout)


def lift_read_timeout(dbapi_connection, connection_record) -> None:
    """Once a PyMySQL connection is made, let its statements run as long as the
    session's ``max_statement_time`` allows: a read timeout would cut a long
    migration statement short (``internals``)."""
    internals.lift_read_timeout(dbapi_connection)


def is_network_timeout(error: sa.exc.DBAPIError) -> bool:
    """Whether a connection that was made gave up on a silent server: the kernel's
    ``Connection timed out`` (ETIMEDOUT), as psycopg and PyMySQL report it."""
    return "timed out" in str(error.orig).lower() and not isinstance(
        error, sa.exc.TimeoutError
    )

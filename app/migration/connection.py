"""The connection a migration runs on: the app's engine, or one a caller hands in.

The URL never goes through ``alembic.ini``: a ``%`` in a password would break
configparser, and printing the config would show the password.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from app import create_app
from app.db import db
from app.migration.errors import connect_failed
from app.migration.settings import Settings

# psycopg, like libpq, waits at least 2 s for a connection whatever is asked.
PSYCOPG_MIN_CONNECT_TIMEOUT = 2


def app_engine(settings: Settings | None = None, bind: str | None = None) -> sa.Engine:
    """The engine Flask-SQLAlchemy builds from the app's config (``DATABASE_URL``,
    or a ``bind``'s ``DATABASE_URL_<NAME>``), giving up on a server that does not
    answer within ``MIGRATION_CONNECT_TIMEOUT``.

    The app is built without its web parts: a migration serves no requests.
    """
    app = create_app(web=False)
    with app.app_context():
        engine = db.engines[bind]
    if settings is not None and settings.connect_timeout:
        add_connect_timeout(engine, settings.connect_timeout)
    return engine


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
    migration statement short. PyMySQL has no public setter: pinned by a test."""
    dbapi_connection._read_timeout = None


@contextmanager
def connect(
    handed_in, settings: Settings, bind: str | None = None
) -> Iterator[sa.Connection]:
    """The connection to migrate on.

    A caller may hand one in through ``config.attributes["connection"]``: a
    ``Connection`` (Alembic's cookbook), used as it is, or an ``Engine``
    (pytest-alembic). Otherwise the app's own engine is used, and disposed of
    afterwards. Failing to connect is one line.
    """
    if isinstance(handed_in, sa.Connection):
        yield handed_in
        return
    engine = handed_in if handed_in is not None else app_engine(settings, bind)
    timeout = 0  # a caller's engine, or the URL's own connect_timeout, says its own
    if (
        handed_in is None
        and settings.connect_timeout
        and "connect_timeout" not in engine.url.query
    ):
        timeout = applied_connect_timeout(
            engine.dialect.driver, settings.connect_timeout
        )
    try:
        try:
            connection = engine.connect()
        except sa.exc.DBAPIError as error:
            raise connect_failed(error, timeout) from error
        with connection:
            yield connection
    finally:
        if handed_in is None:
            engine.dispose()

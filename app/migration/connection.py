"""The connection a migration runs on: the app's engine, or one a caller hands in.

The URL never goes through ``alembic.ini``: a ``%`` in a password would break
configparser, and printing the config would show the password.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from app import create_app
from app.db import db
from app.migration.errors import connect_failed
from app.migration.network import applied_connect_timeout, protect
from app.migration.settings import Settings


def app_engine(settings: Settings | None = None, bind: str | None = None) -> sa.Engine:
    """The engine Flask-SQLAlchemy builds from the app's config (``DATABASE_URL``,
    or a ``bind``'s ``DATABASE_URL_<NAME>``), giving up on a server that does not
    answer within ``MIGRATION_CONNECT_TIMEOUT`` or that went quiet.

    The app is built without its web parts: a migration serves no requests.
    """
    app = create_app(web=False)
    with app.app_context():
        engine = db.engines[bind]
    if settings is not None:
        protect(engine, settings)
    return engine


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

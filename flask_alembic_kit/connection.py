"""The connection a migration runs on: the app's engine, or one a caller hands in.

The URL never goes through ``alembic.ini``: a ``%`` in a password would break
configparser, and printing the config would show the password.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from flask_alembic_kit.errors import connect_failed, parameter_refused
from flask_alembic_kit.network import applied_connect_timeout, protect
from flask_alembic_kit.project import FlaskProject
from flask_alembic_kit.settings import Settings
from flask_alembic_kit.urls import bind_variable


def app_engine(
    project: FlaskProject, settings: Settings, bind: str | None = None
) -> sa.Engine:
    """The engine the project's app builds (``DATABASE_URL``, or a ``bind``'s
    ``DATABASE_URL_<NAME>``), giving up on a server that does not answer within
    ``MIGRATION_CONNECT_TIMEOUT`` or that went quiet."""
    engine = project.engine(bind)
    protect(engine, settings)
    return engine


@contextmanager
def connect(
    handed_in,
    settings: Settings,
    project: FlaskProject,
    bind: str | None = None,
    *,
    create_file: bool = True,
) -> Iterator[sa.Connection | None]:
    """The connection to migrate on.

    A caller may hand one in through ``config.attributes["connection"]``: a
    ``Connection`` (Alembic's cookbook), used as it is, or an ``Engine``
    (pytest-alembic). Otherwise the ``project``'s app's engine is used, and disposed of
    afterwards. Failing to connect is one line, and so is a query parameter of the
    URL that the driver refuses. ``create_file=False``: an SQLite file that does
    not exist yet is not created, and ``None`` is yielded instead of a connection.
    """
    if isinstance(handed_in, sa.Connection):
        yield handed_in
        return
    engine = handed_in if handed_in is not None else app_engine(project, settings, bind)
    if not create_file and new_sqlite_file(engine.url) is not None:
        if handed_in is None:
            engine.dispose()
        yield None
        return
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
            raise connect_failed(error, timeout, engine.url) from error
        except Exception as error:  # the driver refused a parameter of the URL
            variable = "DATABASE_URL" if bind is None else bind_variable(bind)
            refused = handed_in is None and parameter_refused(engine, error, variable)
            if not refused:
                raise
            raise refused from error
        with connection:
            yield connection
    finally:
        if handed_in is None:
            engine.dispose()


def new_sqlite_file(url: sa.URL) -> Path | None:
    """The SQLite file a URL names, when it does not exist yet: connecting will
    create it, empty."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = Path(url.database)
    return None if path.exists() else path

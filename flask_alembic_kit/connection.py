"""The connection a migration runs on: the app's engine, or one a caller hands in.

The URL never goes through ``alembic.ini``: a ``%`` in a password would break
configparser, and printing the config would show the password.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic.util import CommandError

from flask_alembic_kit.errors import one_line
from flask_alembic_kit.network import applied_connect_timeout, protect
from flask_alembic_kit.project import FlaskProject
from flask_alembic_kit.settings import Settings, seconds_text
from flask_alembic_kit.urls import SettingError, bind_variable, query_parameter_error


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


def is_connect_timeout(error: sa.exc.DBAPIError) -> bool:
    """Whether connecting gave up on a server that did not answer in time (psycopg's
    ``connection timeout expired``, PyMySQL's ``(timed out)``)."""
    text = str(error.orig).lower()
    return "timeout expired" in text or "timed out" in text


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

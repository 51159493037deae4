"""Database URLs from the environment, read the way every command of the kit reads
them: ``DATABASE_URL`` for the default database, ``DATABASE_URL_<NAME>`` for a
Flask-SQLAlchemy bind, each checked so that a bad one is one line naming the
variable, never its value (which may hold a password).
"""

import functools
import logging
import os
import warnings

import click
import sqlalchemy as sa

log = logging.getLogger(__name__)

# The driver used when a URL names only the database (``postgresql://``,
# ``mysql://``): the ones this project installs, rather than SQLAlchemy's defaults
# (psycopg2, mysqlclient) that it does not.
DEFAULT_DRIVERS = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}

# Relative SQLite paths are resolved by Flask-SQLAlchemy against the instance folder.
DEFAULT_DATABASE_URL = "sqlite:///app.sqlite"

# What a database URL looks like, for the errors that say it is not one.
URL_EXAMPLE = "postgresql://user:password@host:5432/name"

# The largest TCP port number.
LARGEST_PORT = 65535


class SettingError(click.ClickException):
    """A setting that cannot be used. Its message names the variable and the fix,
    never the value, which may hold a password.

    A ``ClickException``, so that ``flask run`` prints it as one line
    (``Error: ...``), as ``alembic`` prints its own (``FAILED: ...``).
    """


def database_url(value: str | sa.URL | None, variable: str = "DATABASE_URL") -> sa.URL:
    """Parse a database URL, filling in the driver this project installs.

    The result stays a ``URL`` object: turning it back into a string would either
    hide the password (SQLAlchemy 2) or expose it.
    """
    try:
        url = sa.make_url(value or DEFAULT_DATABASE_URL)
    except ValueError:  # SQLAlchemy's int() of the port
        raise not_a_url("its port is not a number", variable) from None
    except sa.exc.ArgumentError:
        raise not_a_url(
            "it does not parse as scheme://user:password@host", variable
        ) from None
    if "@" in (url.host or "") or "@" in (url.database or ""):
        # The password held an @ that was not percent-encoded: what follows it was
        # taken for the host or the database, and a driver would print it.
        raise not_a_url(
            "its host has an @ in it: percent-encode special characters in the "
            "password, %40 for @, %3A for :, %2F for /, %25 for %",
            variable,
        )
    if url.get_backend_name() == "sqlite":
        refuse_sqlite_server_parts(url, variable)
    if url.port is not None and not 0 < url.port <= LARGEST_PORT:
        raise not_a_url(
            f"its port must be from 1 to {LARGEST_PORT}, not {url.port}", variable
        )
    url = url.set(drivername=DEFAULT_DRIVERS.get(url.drivername, url.drivername))
    if url.get_backend_name() in ("mysql", "mariadb") and not url.database:
        # MariaDB/MySQL has no database of the user's by default; SQLAlchemy would
        # fail on it with an assertion, deep in the first query.
        raise not_a_url("it names no database: add /name after the host", variable)
    check_query(url, variable)
    return url


def refuse_sqlite_server_parts(url: sa.URL, variable: str) -> None:
    """Refuse an SQLite URL with a user, password, host or port, naming the parts
    but never their values (SQLAlchemy's own error lists five lines of forms)."""
    parts = {
        "a user": url.username,
        "a password": url.password,
        "a host": url.host,
        "a port": url.port,
    }
    given = [name for name, value in parts.items() if value not in (None, "")]
    if given:
        named = (
            ", ".join(given[:-1]) + " and " + given[-1] if len(given) > 1 else given[0]
        )
        raise SettingError(
            f"{variable} gives an SQLite database {named}, and an SQLite URL has no "
            "user, password, host or port: write sqlite:///relative/path or "
            "sqlite:////absolute/path"
        )


def check_query(url: sa.URL, variable: str) -> None:
    """Read each query parameter of the URL as SQLAlchemy's dialect does when the
    engine is built (``?connect_timeout=abc`` is no number), so that a bad one is
    one line naming it rather than a traceback. An unknown dialect is left to the
    engine, which says so."""
    if not url.query:
        return
    try:
        dialect = url.get_dialect()()
    except sa.exc.ArgumentError:
        return
    for key, value in url.query.items():
        try:
            with warnings.catch_warnings():  # the engine warns, once, itself
                warnings.simplefilter("ignore")
                dialect.create_connect_args(url.set(query={key: value}))
        except ValueError as error:
            raise query_parameter_error(key, str(error), variable) from None


def query_parameter_error(key: str, reason: str, variable: str) -> SettingError:
    """The error for a query parameter of a database URL that the dialect or the
    driver refuses; the reason (which may quote the value) is left out for a
    parameter that holds a password."""
    lines = reason.strip().splitlines()
    because = "" if "pass" in key.lower() or not lines else f" ({lines[0]})"
    return SettingError(
        f"{variable}'s query parameter {key} is not usable{because}: correct it, or "
        "leave it out of the URL"
    )


def not_a_url(reason: str, variable: str = "DATABASE_URL") -> SettingError:
    """The error for a ``DATABASE_URL`` (or a bind's) that is not a database URL."""
    return SettingError(
        f"{variable} is not a database URL such as {URL_EXAMPLE} ({reason})"
    )


def engine_error(error: Exception, variable: str = "DATABASE_URL") -> SettingError:
    """The error for a ``DATABASE_URL`` (or a bind's) that parses but gives no
    engine: an unknown database or a driver that is not installed."""
    if isinstance(error, ImportError):
        return SettingError(f"{variable} needs a driver: {error}")
    lines = str(error).strip().splitlines()  # SQLAlchemy's may list URL forms
    return not_a_url(lines[0] if lines else type(error).__name__, variable)


# Each other database, a Flask-SQLAlchemy bind, has its URL in DATABASE_URL_<NAME>.
BIND_URL_PREFIX = "DATABASE_URL_"


def bind_variable(name: str) -> str:
    """The variable that holds a bind's URL: ``DATABASE_URL_AUDIT`` for ``audit``."""
    return f"{BIND_URL_PREFIX}{name.upper()}"


def on_a_server(value: str | None) -> bool:
    """Whether a database URL names a server rather than an SQLite file."""
    return bool(value) and not value.startswith("sqlite")


@functools.cache  # once per process
def warn_of_default_bind(name: str) -> None:
    """Say that a bind is on its default SQLite file while the default database is
    on a server: in production, most likely a forgotten variable."""
    log.warning(
        "%s is unset: the %s database is the SQLite file %s.sqlite in the instance "
        "folder, while DATABASE_URL names a server.",
        bind_variable(name),
        name,
        name,
    )


def default_bind_url(name: str) -> str:
    """A bind's database when its variable is unset: an SQLite file of its own in
    the instance folder (``sqlite:///audit.sqlite``), as ``DATABASE_URL``'s is."""
    return f"sqlite:///{name}.sqlite"


def bind_urls(names, *, warn: bool = False) -> dict[str, sa.URL]:
    """``SQLALCHEMY_BINDS`` for the binds the models use (``names``), from the
    environment (docs/binds.md). Another ``DATABASE_URL_*`` a
    platform sets means nothing here. ``warn``: say when a bind is left on its
    SQLite file while the default database is on a server (an app that serves, a
    command that migrates every database)."""
    urls = {}
    for name in sorted(names):
        variable = bind_variable(name)
        value = os.environ.get(variable)
        if warn and not value and on_a_server(os.environ.get("DATABASE_URL")):
            warn_of_default_bind(name)
        urls[name] = database_url(value or default_bind_url(name), variable)
        try:  # its database and driver, named here rather than as DATABASE_URL's
            urls[name].get_dialect().import_dbapi()
        except (sa.exc.ArgumentError, ImportError) as error:
            raise engine_error(error, variable) from None
    return urls

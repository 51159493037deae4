"""Alembic's environment: how every ``alembic`` command reaches the app's models and
database.

Read it top to bottom: logging, the models' metadata, the few helpers, then offline
mode (``--sql``, renders a script), online mode (runs on a live connection), and the
one line that picks between them.
"""

import logging
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

from app import create_app
from app.db import db

config = context.config
log = logging.getLogger("alembic.env")

# Logging as alembic.ini sets it, when there is a file (tests may build the config in
# code); existing loggers, such as the app's and pytest's, keep working.
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Every model's table: importing ``app`` imports the models, so autogenerate sees all.
target_metadata = db.metadata


def app_engine() -> sa.Engine:
    """The engine Flask-SQLAlchemy builds from the app's config (``DATABASE_URL``).

    The URL never goes through ``alembic.ini``: a ``%`` in a password would break
    configparser, and printing the config would show the password.
    """
    app = create_app()
    with app.app_context():
        return db.engine


def skip_empty_revision(context, revision, directives) -> None:
    """Write no revision file when ``revision --autogenerate`` finds no change."""
    autogenerate = getattr(config.cmd_opts, "autogenerate", False)
    if autogenerate and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected; no revision file written.")


def sqlite_foreign_keys_off(connection: sa.Connection) -> None:
    """Turn SQLite's foreign keys off for this connection, as batch mode needs.

    Batch mode recreates a table (copy, drop, rename); with foreign keys enforced,
    dropping the old table would delete or reject the rows that refer to it.
    """
    if connection.dialect.name != "sqlite":
        return
    began_here = not connection.in_transaction()
    connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
    if began_here:
        connection.commit()


# Options for both modes. Batch mode lets one revision file ALTER tables on SQLite
# too; each revision commits on its own, so a failure stops at the last good one.
MIGRATION_OPTIONS = {
    "target_metadata": target_metadata,
    "render_as_batch": True,
    "compare_type": True,
    "compare_server_default": True,
    "transaction_per_migration": True,
    "process_revision_directives": skip_empty_revision,
}


def run_migrations_offline() -> None:
    """Render the migrations as SQL for the dialect of ``DATABASE_URL`` (``--sql``).

    No connection is made; bound values are rendered inline so the script runs as is.
    """
    context.configure(
        url=app_engine().url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **MIGRATION_OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_on(connection: sa.Connection) -> None:
    """Run the migrations on one live connection."""
    sqlite_foreign_keys_off(connection)
    context.configure(connection=connection, **MIGRATION_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a live connection.

    A caller may hand one in through ``config.attributes["connection"]``: a
    ``Connection`` (Alembic's cookbook) or an ``Engine`` (pytest-alembic). Otherwise
    the app's own engine is used, and disposed of afterwards.
    """
    handed_in = config.attributes.get("connection")
    if isinstance(handed_in, sa.Connection):
        run_migrations_on(handed_in)
        return
    engine = handed_in if handed_in is not None else app_engine()
    try:
        with engine.connect() as connection:
            run_migrations_on(connection)
    finally:
        if handed_in is None:
            engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

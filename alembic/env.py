"""Alembic's environment: how every ``alembic`` command reaches the app's models and
database. The shape of Alembic's generic template; each addition is one call into
``app/migration/``, whose modules say what they keep (README, "How env.py works").
"""

from logging.config import fileConfig

from alembic import context

from app.db import db

# Importing registers what revision files use beyond Alembic's own ops
# (op.create_enum_type, op.alter_enum_values) and the checks added to Alembic's.
from app.migration import operations  # noqa: F401
from app.migration.autogenerate import autogenerate_options
from app.migration.binds import (
    bind_of,
    binds_before_and_after_default,
    check_binds_answer,
    heading,
    metadata_of,
    other_databases,
    run_on_binds,
    runs_here,
)
from app.migration.connection import app_engine, connect
from app.migration.errors import clear_errors
from app.migration.offline import RenderedRevisions, write_timeouts
from app.migration.retry import lock_retries
from app.migration.run_lock import is_migrating, run_lock
from app.migration.settings import Settings

# The Alembic Config object, which provides access to the values in alembic.ini.
config = context.config

# Logging as alembic.ini sets it, when there is a file (tests may build the config in
# code) and the caller wants it (Alembic's cookbook: a tool that migrates quietly
# sets configure_logger False); existing loggers, such as the app's, keep working.
if config.config_file_name and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# The database this run is about: the default one, or the Flask-SQLAlchemy bind
# that the alembic.ini section names (``alembic -n audit ...``, README, "More than
# one database"). Importing ``app`` imports the models, so autogenerate sees all
# of its tables.
BIND = bind_of(config)
target_metadata = db.metadata if BIND is None else metadata_of(BIND)

# Options for both modes. Batch mode lets one revision file ALTER tables on SQLite
# too; each revision commits on its own, so a failure stops at the last good one.
MIGRATION_OPTIONS = {
    "target_metadata": target_metadata,
    "render_as_batch": True,
    "transaction_per_migration": True,
    "version_table": config.get_main_option("version_table", "alembic_version"),
    **autogenerate_options(),
}


def run_migrations_offline() -> None:
    """Render the migrations as SQL for the dialect of ``DATABASE_URL`` (``--sql``).

    No connection is made; bound values are rendered inline so the script runs as is.
    """
    settings = Settings.from_environment()
    rendered = RenderedRevisions(config)
    context.configure(
        url=app_engine(bind=BIND).url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        on_version_apply=[rendered.note],
        output_buffer=rendered.script,  # printed once whole
        **MIGRATION_OPTIONS,
    )
    # The script sets the timeouts the online run sets on its connection.
    write_timeouts(context.get_context(), settings)
    with context.begin_transaction():
        context.run_migrations()
    # A range with no revision in it (``upgrade head:base``) is an error.
    rendered.refuse_empty(config, context.get_context())
    rendered.write_out()


def run_migrations_online() -> None:
    """Run the migrations on a live connection: the app's engine, or a connection or
    engine a caller handed in through ``config.attributes["connection"]``."""
    settings = Settings.from_environment()
    handed_in = config.attributes.get("connection")
    # upgrade, downgrade and stamp run one at a time, with statement timeouts;
    # current and check only read, and never wait behind a migration.
    migrating = is_migrating(config)
    with (
        connect(handed_in, settings, BIND) as connection,
        run_lock(
            connection,
            settings,
            migrating=migrating,
            version_table=MIGRATION_OPTIONS["version_table"],
        ) as run,
    ):
        # A revision that gave up on a busy table was rolled back: run it again.
        for attempt in lock_retries(settings.lock_retries, run.kept_ddl):
            with attempt:
                context.configure(
                    connection=connection, **MIGRATION_OPTIONS, **run.options
                )
                with context.begin_transaction():
                    context.run_migrations()


# Failures become one line, ``FAILED: ...``, and a non-zero exit. A revision the
# command names that is another database's is left to that database's run.
with clear_errors(config):
    # The other databases the command runs on (binds.py): after this one, or before
    # it for ``alembic check``, whose verdict Alembic prints when env.py is done.
    # run_on_binds runs the same Alembic command again, with the bind's section,
    # and so this file again, for that database.
    others = other_databases(config)
    check_binds_answer(config, others)
    before, after = binds_before_and_after_default(config, others)
    run_on_binds(config, before)
    if runs_here(config, context.script, others):
        if others:
            heading(config, "default")
        if context.is_offline_mode():
            run_migrations_offline()
        else:
            run_migrations_online()
    run_on_binds(config, after)

"""How every ``alembic`` command reaches the app's models and databases: Alembic's
generic template, each addition one call into the kit (docs/env-py.md)."""

from logging.config import fileConfig

from alembic import context

from app import create_app
from app.db import db

# Registers the ops revision files use beyond Alembic's, and the kit's checks.
from flask_alembic_kit import operations  # noqa: F401
from flask_alembic_kit.autogenerate import autogenerate_options
from flask_alembic_kit.binds import bind_of, run_on_every_database
from flask_alembic_kit.connection import connect
from flask_alembic_kit.deploys import deploy_phases
from flask_alembic_kit.errors import clear_errors
from flask_alembic_kit.offline import RenderedRevisions, write_timeouts
from flask_alembic_kit.project import FlaskProject
from flask_alembic_kit.retry import lock_retries
from flask_alembic_kit.run_lock import is_migrating, run_lock
from flask_alembic_kit.settings import Settings

# The Alembic Config object, which provides access to the values in alembic.ini.
config = context.config

# Logging as alembic.ini sets it, unless there is no file or the caller says not to
# (Alembic's cookbook: configure_logger False); the app's loggers keep working.
if config.config_file_name and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# The app meets the migration kit here, and only here: its models per database and
# its engines, built by the factory without the web parts (no requests to serve).
project = FlaskProject(db, create_app=lambda: create_app(web=False))

# This run's database: the default one, or a bind (``alembic -n audit``, binds.md).
BIND = bind_of(config)
target_metadata = project.metadata(BIND)
VERSION_TABLE = config.get_main_option("version_table", "alembic_version")

# Deploys without downtime (docs/deploys.md): ``-x phase=expand``, and who may
# serve after each revision (``deploys.py``).
DEPLOY = deploy_phases(context, BIND, VERSION_TABLE)

# Options for both modes. Batch mode lets one revision file ALTER tables on SQLite
# too; each revision commits on its own, so a failure stops at the last good one.
MIGRATION_OPTIONS = {
    "target_metadata": target_metadata,
    "render_as_batch": True,
    "transaction_per_migration": True,
    "version_table": VERSION_TABLE,
    **autogenerate_options(VERSION_TABLE),
    **DEPLOY.options,
}


def run_migrations_offline() -> None:
    """Render the migrations as SQL for the dialect of ``DATABASE_URL`` (``--sql``),
    with no connection; values inline, so that the script runs as it is."""
    rendered = RenderedRevisions(config)
    context.configure(
        url=project.engine(BIND).url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        on_version_apply=[rendered.note, DEPLOY.record],
        output_buffer=rendered.script,  # printed once whole
        **MIGRATION_OPTIONS,
    )
    # The script sets the timeouts the online run sets on its connection.
    write_timeouts(context.get_context(), Settings.from_environment())
    with context.begin_transaction():
        context.run_migrations()
    rendered.write_out(config, context.get_context())  # or refuse an empty range


def run_migrations_online() -> None:
    """Run the migrations on a live connection: the app's engine, or a connection or
    engine a caller handed in through ``config.attributes["connection"]``."""
    settings = Settings.from_environment()
    handed_in = config.attributes.get("connection")
    # upgrade, downgrade, stamp: one at a time, timed out; current, check: no wait.
    lock = {"migrating": is_migrating(config), "version_table": VERSION_TABLE}
    with (
        connect(handed_in, settings, project, BIND) as connection,
        run_lock(connection, settings, DEPLOY.record, **lock) as run,
    ):
        # A revision that gave up on a busy table was rolled back: run it again.
        for attempt in lock_retries(settings.lock_retries, run.kept_ddl):
            with attempt:
                context.configure(
                    connection=connection, **MIGRATION_OPTIONS, **run.options
                )
                with context.begin_transaction():
                    context.run_migrations()


# Each failure is one ``FAILED: ...`` line; the command runs on each database.
migrate = run_migrations_offline if context.is_offline_mode() else run_migrations_online
with clear_errors(config):
    run_on_every_database(config, project, migrate)

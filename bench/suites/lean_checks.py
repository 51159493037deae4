"""Our migration checks, run by pytest in a copy of the project: one head, every
revision up, down and up again, and the schema at head equal to the models.

One process, one script directory, one connection: each step runs the revisions on
that connection through a ``MigrationContext`` instead of a fresh ``alembic`` command,
so the revision files are read once, not once per step.
The database is ``BENCH_DATABASE_URL``; the project is the working directory.
"""

import os

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.db import db


@pytest.fixture(scope="module")
def script() -> ScriptDirectory:
    """The project's script directory, read once."""
    return ScriptDirectory.from_config(Config("alembic.ini"))


@pytest.fixture(scope="module")
def connection():
    """One connection for every step, as env.py prepares it for migrations."""
    engine = sa.create_engine(os.environ["BENCH_DATABASE_URL"])
    with engine.connect() as connection:
        # As tests/test_revisions.py: commits need not wait for the disk on a
        # throw-away database.
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA synchronous = OFF")
            # As env.py does: batch mode's table copy must not cascade.
            connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
        elif connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET synchronous_commit = off")
        connection.commit()
        yield connection
    engine.dispose()


def migrate(script, connection, target: str, downgrade: bool = False) -> str | None:
    """Upgrade or downgrade to ``target`` on the connection; the revision reached."""

    def steps(current, context):
        """The revisions to run, as ``alembic upgrade/downgrade`` computes them."""
        if downgrade:
            return script._downgrade_revs(target, current)
        return script._upgrade_revs(target, current)

    context = MigrationContext.configure(
        connection,
        opts={
            "script": script,
            "fn": steps,
            "target_metadata": db.metadata,
            "transaction_per_migration": True,
        },
    )
    with Operations.context(context), context.begin_transaction():
        context.run_migrations()
    reached = context.get_current_revision()
    # The read began a transaction: end it, or the next step's context would take it
    # for the caller's and commit nothing.
    connection.commit()
    return reached


def test_history_has_one_head_and_one_base(script):
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


def test_every_revision_up_down_up(script, connection):
    history = list(reversed(list(script.walk_revisions())))
    for revision in history:
        parent = revision.down_revision or "base"
        assert migrate(script, connection, revision.revision) == revision.revision
        assert (
            migrate(script, connection, parent, downgrade=True)
            == revision.down_revision
        )
        assert migrate(script, connection, revision.revision) == revision.revision


def test_head_matches_the_models(script, connection):
    migrate(script, connection, "head")
    # Committed: what another connection reads, not only this one's transaction.
    with connection.engine.connect() as reader:
        assert MigrationContext.configure(reader).get_current_heads() == tuple(
            script.get_heads()
        )
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    assert compare_metadata(context, db.metadata) == []

"""The SQLite run lock leaves a handed-in connection as it found it, even when the lock
is busy."""

import sqlite3
import threading

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.util import CommandError

from conftest import Database, alembic_config


def test_busy_run_lock_fails_clearly_and_restores_the_connection(tmp_path, monkeypatch):
    url = sa.URL.create("sqlite", database=str(tmp_path / "test.sqlite"))
    # One pooled connection, so the one env.py used is the one checked afterwards.
    database = Database(
        url, sa.create_engine(url, poolclass=sa.pool.SingletonThreadPool)
    )
    other_migrator = sqlite3.connect(url.database, isolation_level=None)
    other_migrator.execute("BEGIN IMMEDIATE")
    monkeypatch.setenv("MIGRATION_RUN_LOCK_WAIT", "0")

    with pytest.raises(CommandError, match="another migration is running"):
        command.upgrade(alembic_config(database.engine), "head")

    other_migrator.rollback()
    other_migrator.close()
    with database.engine.connect() as connection:
        driver_connection = connection.connection.driver_connection
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert driver_connection.isolation_level == ""
    database.upgrade("head")
    assert database.current() is not None
    database.engine.dispose()


def test_the_commit_waits_for_a_reader_as_the_lock_does(tmp_path):
    """The write lock is tried at once first (to say when it waits), but the run's
    COMMIT, which waits for readers to finish, waits up to MIGRATION_RUN_LOCK_WAIT
    too: a reader of the database mid-migration (the app, another migrator reading
    the version table) must not fail the run with "database is locked". The reader
    reads from before the migration to half a second into its COMMIT."""
    url = sa.URL.create("sqlite", database=str(tmp_path / "test.sqlite"))
    database = Database(url, sa.create_engine(url))
    database.upgrade("base")
    reader = sqlite3.connect(
        url.database, isolation_level=None, check_same_thread=False
    )
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM sqlite_master").fetchall()  # a SHARED lock
    release = threading.Timer(0.5, reader.rollback)
    sa.event.listen(database.engine, "commit", lambda connection: release.start())
    try:
        command.upgrade(alembic_config(database.engine), "head")
    finally:
        if release.is_alive():
            release.join()
        reader.close()

    assert release.finished.is_set()
    assert database.current() is not None
    database.engine.dispose()

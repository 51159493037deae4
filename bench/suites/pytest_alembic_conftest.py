"""pytest-alembic's set-up, as its documentation shows: the project's alembic.ini
and an engine on a fresh, empty database for each of its built-in tests.

The server is ``BENCH_SERVER_URL`` (unset for SQLite); the project is the working
directory.
"""

import os
import uuid

import pytest
import sqlalchemy as sa
from alembic.config import Config


@pytest.fixture
def alembic_config():
    """The project's own alembic.ini, env.py and versions/."""
    return Config("alembic.ini")


@pytest.fixture
def alembic_engine(tmp_path):
    """An engine on a database created for this test, dropped after it."""
    server = os.environ.get("BENCH_SERVER_URL")
    if not server:
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'test.sqlite'}")
        yield engine
        engine.dispose()
        return
    server_url = sa.make_url(server)
    name = f"alembic_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    engine = sa.create_engine(server_url.set(database=name))
    yield engine
    engine.dispose()
    force = " WITH (FORCE)" if server_url.get_backend_name() == "postgresql" else ""
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
    admin.dispose()

"""The private parts of Alembic, SQLAlchemy and PyMySQL the kit relies on
(``flask_alembic_kit/internals.py``), each pinned: a release that changes one
fails here, by name, rather than in a migration."""

import datetime
import os
import shutil
from pathlib import Path

import pymysql
import pytest
import sqlalchemy as sa
from alembic import context as alembic_context
from alembic.autogenerate import produce_migrations
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.operations import Operations, ops
from alembic.operations.batch import ApplyBatchImpl
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from conftest import ROOT, database_url_from
from flask_alembic_kit import internals
from flask_alembic_kit.enums.types_once import EnumTypesOnce
from flask_alembic_kit.sqlite import autocommit_block, table_elements_by_name


def test_alembic_add_and_drop_column_are_its_own_implementations():
    """The replacements registered with ``implementation_for(..., replace=True)``
    call Alembic's own, which take (operations, operation)."""
    for function in (internals.alembic_add_column, internals.alembic_drop_column):
        assert function.__module__ == "alembic.operations.toimpl"
        assert list(function.__code__.co_varnames[:2]) == ["operations", "operation"]


def test_the_module_level_context_can_be_put_back():
    """A nested command removes Alembic's module-level proxy; the outer one is
    kept and reinstalled."""
    config = Config(ROOT / "alembic.ini")
    script = ScriptDirectory.from_config(config)
    with EnvironmentContext(config, script) as environment:
        outer = internals.outer_context()
        assert outer is environment
        with EnvironmentContext(config, script):
            pass  # its exit removes the module-level proxy
        assert not hasattr(alembic_context, "_proxy") or (
            alembic_context._proxy is not outer
        )
        internals.reinstall(outer)
        assert alembic_context.config is config


def test_the_command_hands_env_py_its_list_of_steps_as_fn(tmp_path):
    """``-x phase=expand`` filters the steps ``upgrade`` lists: the function the
    command passed as ``fn``, which takes the heads and the migration context and
    returns revision steps, each with its ``Script`` as ``revision``."""
    config = Config(ROOT / "alembic.ini")
    script = ScriptDirectory.from_config(config)
    seen = {}

    def upgrade(heads, context):
        seen["steps"] = script._upgrade_revs("head", heads)
        return []

    with EnvironmentContext(config, script, fn=upgrade) as environment:
        steps_of = internals.migration_steps_function(environment)
        assert steps_of is upgrade
        engine = sa.create_engine(f"sqlite:///{tmp_path}/steps.sqlite")
        with engine.connect() as connection:
            environment.configure(connection=connection)
            environment.run_migrations()
        engine.dispose()
    first = seen["steps"][0]
    assert first.revision is script.get_revision(first.revision.revision)
    assert first.is_upgrade


def test_the_command_line_keeps_its_command_function():
    from alembic import command
    from alembic.config import CommandLine

    options = CommandLine().parser.parse_args(["upgrade", "head"])
    function, positional, keywords = internals.command_function(options)
    assert function is command.upgrade
    assert [getattr(options, name) for name in positional] == ["head"]
    assert "sql" in keywords


def test_a_types_own_check_is_marked():
    table = sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("kind", sa.Enum("a", "b", name="kind", create_constraint=True)),
        sa.Column("n", sa.Integer, sa.CheckConstraint("n > 0")),
    )
    checks = [c for c in table.constraints if isinstance(c, sa.CheckConstraint)]
    checks += [c for c in table.c.n.constraints]
    bound = {internals.is_type_bound(check) for check in checks}
    assert bound == {True, False}


def test_types_compare_by_affinity():
    assert internals.type_affinity(sa.TEXT()) is internals.type_affinity(sa.Text())
    assert internals.type_affinity(sa.VARCHAR(5)) is sa.String
    assert internals.type_affinity(sa.Integer()) is not sa.String


def test_a_column_is_copied_unattached():
    table = sa.Table("t", sa.MetaData(), sa.Column("kind", sa.String(5)))
    copy = internals.copy_column(table.c.kind)
    assert copy is not table.c.kind
    assert getattr(copy, "table", None) is None
    assert (copy.name, copy.type.length) == ("kind", 5)


def test_pymysql_keeps_its_read_timeout_on_the_connection():
    """``read_timeout`` is set when connecting and read on each read."""
    connection = pymysql.connections.Connection(defer_connect=True, read_timeout=7)
    assert connection._read_timeout == 7
    internals.lift_read_timeout(connection)
    assert connection._read_timeout is None


def test_the_migration_context_says_whose_transaction_it_is(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert not internals.in_external_transaction(context)
        assert not internals.in_transaction_of_its_own(context)
    with engine.connect() as connection:
        connection.begin()
        context = MigrationContext.configure(
            connection, opts={"transaction_per_migration": True}
        )
        assert internals.in_external_transaction(context)
    engine.dispose()


def test_a_dropped_table_keeps_its_reflected_create_op(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE gone (id INTEGER PRIMARY KEY)")
        context = MigrationContext.configure(connection)
        script = produce_migrations(context, sa.MetaData())
    engine.dispose()
    [drop] = [op for op in script.upgrade_ops.ops if isinstance(op, ops.DropTableOp)]
    reflected = internals.reflected_table_of(drop)
    assert isinstance(reflected, ops.CreateTableOp)
    assert reflected.table_name == "gone"
    assert drop.reverse() is not reflected  # a new op on each call


def test_a_script_directory_takes_the_create_date_it_is_given(tmp_path):
    shutil.copy(ROOT / "alembic" / "script.py.mako", tmp_path / "script.py.mako")
    (tmp_path / "versions").mkdir()
    script = ScriptDirectory(
        str(tmp_path), version_locations=[str(tmp_path / "versions")]
    )
    when = datetime.datetime(2020, 1, 2, 3, 4, 5)
    internals.set_create_date(script, lambda: when)
    written = script.generate_revision("abc123", "baseline")
    assert "Create Date: 2020-01-02 03:04:05" in Path(written.path).read_text()


def test_the_postgresql_impl_is_the_kits():
    """``EnumTypesOnce`` registered for the dialect (Alembic's impl registry)."""
    assert DefaultImpl.get_by_dialect(sa.dialects.postgresql.dialect()) is (
        EnumTypesOnce
    )


def test_alembic_autocommit_block_is_wrapped_for_sqlite(tmp_path):
    assert MigrationContext.autocommit_block is autocommit_block
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with engine.connect() as connection:
        connection.begin()
        context = MigrationContext.configure(connection)
        with Operations.context(context), context.autocommit_block():
            connection.exec_driver_sql("CREATE TABLE t (id INTEGER)")
        assert connection.in_transaction()  # the caller's, not ended
    engine.dispose()


@pytest.mark.skipif(not os.environ.get("TEST_MYSQL_URL"), reason="no MariaDB")
def test_pymysql_reads_without_a_timeout_once_lifted():
    url = database_url_from("TEST_MYSQL_URL")
    engine = sa.create_engine(url, connect_args={"read_timeout": 1})
    with engine.connect() as connection:
        internals.lift_read_timeout(connection.connection.dbapi_connection)
        assert connection.exec_driver_sql("SELECT SLEEP(1.5)").scalar() == 0
    engine.dispose()


def test_batch_mode_gathers_the_copied_tables_parts_in_dicts_by_name():
    """``ApplyBatchImpl._grab_table_elements`` fills ``named_constraints`` and
    ``indexes``, dicts keyed by name, which the copy's CREATE statements follow; the
    kit sorts them after it."""
    assert ApplyBatchImpl._grab_table_elements is table_elements_by_name
    metadata = sa.MetaData()
    table = sa.Table(
        "t",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("b", sa.Integer),
        sa.Column("a", sa.Integer),
        sa.UniqueConstraint("b", name="uq_t_b"),
        sa.UniqueConstraint("a", name="uq_t_a"),
        sa.Index("ix_t_b", "b"),
        sa.Index("ix_t_a", "a"),
    )
    impl = MigrationContext.configure(dialect_name="sqlite").impl
    batch = ApplyBatchImpl(impl, table, (), {}, False)
    assert list(batch.named_constraints) == ["uq_t_a", "uq_t_b"]
    assert list(batch.indexes) == ["ix_t_a", "ix_t_b"]

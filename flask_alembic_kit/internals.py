"""Every use the kit makes of a library's private parts, in one place, with why no
public way serves. ``tests/test_internals.py`` pins each: when a release of
Alembic, SQLAlchemy or PyMySQL changes one, that test fails by name, before any
migration does. ``pyproject.toml`` bounds those releases at their next minor
version, and ``.ci/run`` runs the kit's tests on the oldest supported ones too.

The functions below wrap an attribute read or call. Two uses are structural and
stay where they act, each pinned all the same:

- ``enum_types.EnumTypesOnce`` subclasses Alembic's ``PostgresqlImpl`` (it
  registers itself for the ``postgresql`` dialect, as a third-party dialect's impl
  does): enum types are created and dropped inside ``create_table``,
  ``drop_table``, ``add_column`` and ``drop_column``, which
  ``Operations.implementation_for`` cannot reach for batch mode's and autogenerate's
  own calls.
- ``sqlite`` wraps ``MigrationContext.autocommit_block`` for SQLite: Alembic has no
  hook for it, and its own asserts on the transaction env.py began there.
- ``sqlite`` sorts by name the constraints and indexes that batch mode's table copy
  gathers (``ApplyBatchImpl._grab_table_elements``), which come in set order.
"""

import sqlalchemy as sa
from alembic import context as alembic_context
from alembic.operations import toimpl
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

# Alembic's own implementations of ``add_column`` and ``drop_column``, which the
# kit's replacements (``Operations.implementation_for(..., replace=True)``, the
# public way) call after their own step. ``alembic.operations.toimpl`` is not
# documented; nothing public returns the implementation a replacement replaced.
alembic_add_column = toimpl.add_column
alembic_drop_column = toimpl.drop_column


def outer_context():
    """Alembic's module-level ``context`` proxy of the run in progress. A bind's
    run (``alembic.command.upgrade`` called from env.py for another database)
    removes it when it ends; ``reinstall`` puts the outer run's back. Alembic
    has no public way to nest a command."""
    return alembic_context._proxy


def migration_steps_function(environment):
    """The function the command in progress hands env.py's context to list the
    revision steps it runs (``upgrade``'s, from ``ScriptDirectory._upgrade_revs``):
    ``EnvironmentContext.context_opts["fn"]``. ``context.configure(fn=...)``
    replaces it, but nothing public returns the command's own to filter."""
    return environment.context_opts["fn"]


def step_revision(step):
    """The revision script of one step of that list (``RevisionStep.revision``,
    not documented: Alembic's own ``on_version_apply`` hands out a ``MigrationInfo``
    after the step ran, too late to hold it back)."""
    return step.revision


def reinstall(outer) -> None:
    """Make ``outer`` (from ``outer_context``) the module-level context again."""
    outer._install_proxy()


def command_function(options):
    """The Alembic command function the command line is running (``upgrade``),
    from the options Alembic's ``CommandLine`` parsed: its ``cmd`` attribute, set
    by its argument parser and not documented."""
    return options.cmd


def is_type_bound(constraint: sa.Constraint) -> bool:
    """Whether a CHECK constraint belongs to a type (an ``Enum`` or ``Boolean``
    with ``create_constraint=True``) rather than to the model: SQLAlchemy marks
    it with ``_type_bound`` and says so nowhere public."""
    return bool(getattr(constraint, "_type_bound", False))


def type_affinity(type_: sa.types.TypeEngine) -> type:
    """The generic class a type compares as (``TEXT`` reflected and ``sa.Text()``
    alike): SQLAlchemy's ``_type_affinity``, which its own comparisons use;
    ``as_generic()`` raises for many dialect types."""
    return type_._type_affinity


def copy_column(column: sa.Column) -> sa.Column:
    """A copy of a column not attached to any table: ``Column._copy()``, since
    SQLAlchemy deprecated the public ``copy()`` without a replacement."""
    return column._copy()


def lift_read_timeout(dbapi_connection) -> None:
    """Let a PyMySQL connection wait for its statements without a read timeout
    once connected (``MIGRATION_STATEMENT_TIMEOUT`` bounds them on the server).
    PyMySQL takes ``read_timeout`` only when connecting, and has no setter."""
    dbapi_connection._read_timeout = None


def in_transaction_of_its_own(context: MigrationContext) -> bool:
    """Whether Alembic began the transaction the migration is in (``False`` on a
    connection env.py handed over with no transaction begun yet): Alembic's
    ``_transaction``."""
    return context._transaction is not None


def in_external_transaction(context: MigrationContext) -> bool:
    """Whether the caller handed in a connection inside its own transaction, which
    a commit by the kit would end: Alembic notes it when configured
    (``_in_external_transaction``) and exposes it nowhere."""
    return bool(context._in_external_transaction)


def reflected_table_of(drop: "object"):
    """The ``CreateTableOp`` autogenerate reflected for a ``DropTableOp``
    (``_reverse``): ``reverse()`` builds a new op from it on each call, so keys
    removed from it would come back."""
    return drop._reverse


def set_create_date(script: ScriptDirectory, create_date) -> None:
    """Make the next revision file ``script`` writes carry ``create_date`` (its
    file name starts with it): ``revision`` takes no date, and the squash's
    baseline must sort where the revision it replaces did."""
    script._generate_create_date = create_date

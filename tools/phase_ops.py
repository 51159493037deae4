"""A revision's ``upgrade()`` ops as the Alembic operation objects they make
(``op.drop_column("users", "bio")`` -> ``ops.DropColumnOp("users", "bio")``), built
from the file's syntax tree, never by running it: so that ``flask_alembic_kit.phases``
classifies them by the very rules ``alembic revision --autogenerate`` uses.

Only the ops those rules read are built: tables created, dropped or renamed, columns
added, dropped or altered, Enum values changed. An argument that is not a literal
(a variable, a call) is left out, as if it were not given; a type that cannot be
built (a custom one) stands in as an unknown type named as the file names it.
"""

import ast

import sqlalchemy as sa
from alembic.operations import ops
from sqlalchemy.dialects import mysql, postgresql

from flask_alembic_kit.enums.values import AlterEnumValuesOp
from tools.column_types import column_call, column_type
from tools.revision_ast import argument, keyword, literal
from tools.revision_source import Op, RevisionSource

# Where a type written as ``sa.String``, ``postgresql.JSONB`` or ``mysql.DATETIME``
# is found; the first that has the name wins.
TYPE_MODULES = (sa, postgresql, mysql)


def alembic_ops(source: RevisionSource) -> list:
    """The Alembic operations of the revision's upgrade that the phase rules read."""
    built = (alembic_op(op) for op in source.upgrade_ops())
    return [operation for operation in built if operation is not None]


def alembic_op(op: Op):
    """One op as an Alembic operation object, or None for an op the phase rules
    do not read (an index, a data step)."""
    builder = BUILDERS.get(op.name)
    if builder is None or op.table is None:
        return None
    # ``batch_op.drop_column("bio")`` has no table argument: the rest come first.
    first = 0 if op.batch_line is not None else 1
    return builder(op, first)


def create_table(op: Op, first: int) -> ops.CreateTableOp:
    """``op.create_table(name, ...)``: only the name matters to the phase."""
    return ops.CreateTableOp(op.table, [])


def drop_table(op: Op, first: int) -> ops.DropTableOp:
    """``op.drop_table(name)``."""
    return ops.DropTableOp(op.table)


def rename_table(op: Op, first: int) -> ops.RenameTableOp:
    """``op.rename_table(old, new)``."""
    new_name = literal(argument(op.call, 1, "new_table_name"))
    return ops.RenameTableOp(op.table, new_name or "?")


def drop_column(op: Op, first: int) -> ops.DropColumnOp:
    """``op.drop_column(table, name)`` or ``batch_op.drop_column(name)``."""
    name = literal(argument(op.call, first, "column_name"))
    return ops.DropColumnOp(op.table, name or "?")


def add_column(op: Op, first: int) -> ops.AddColumnOp | None:
    """``op.add_column(table, sa.Column(...))``: the column's name, nullability and
    server default, as the file writes them."""
    column = column_call(op.call)
    if column is None:
        return None
    return ops.AddColumnOp(op.table, built_column(column))


def built_column(column: ast.Call) -> sa.Column:
    """An ``sa.Column(...)`` call as a Column: name, type, NULL or not, and whether
    it has a server default (its value is not needed)."""
    name = literal(argument(column, 0, "name")) or "?"
    primary_key = literal(keyword(column, "primary_key")) is True
    nullable = literal(keyword(column, "nullable"))
    if not isinstance(nullable, bool):
        nullable = not primary_key
    default = server_default(keyword(column, "server_default"))
    return sa.Column(
        name,
        type_of(column_type(column)) or sa.types.NullType(),
        nullable=nullable,
        server_default=default if default is not False else None,
    )


def server_default(node: ast.AST | None):
    """A ``server_default=`` argument as Alembic holds it: ``False`` when it is not
    given (left as it is), ``None`` when it is ``None`` (dropped), else a text."""
    if node is None:
        return False
    if isinstance(node, ast.Constant) and node.value is None:
        return None
    return sa.text(ast.unparse(node))


def alter_column(op: Op, first: int) -> ops.AlterColumnOp:
    """``op.alter_column(table, name, ...)``: what it changes, and what it says the
    column was (``existing_type``, ``existing_nullable``)."""
    call = op.call
    name = literal(argument(call, first, "column_name"))
    nullable = literal(keyword(call, "nullable"))
    existing_nullable = literal(keyword(call, "existing_nullable"))
    return ops.AlterColumnOp(
        op.table,
        name or "?",
        modify_nullable=nullable if isinstance(nullable, bool) else None,
        existing_nullable=(
            existing_nullable if isinstance(existing_nullable, bool) else None
        ),
        modify_type=type_of(keyword(call, "type_")),
        existing_type=type_of(keyword(call, "existing_type")),
        modify_name=literal(keyword(call, "new_column_name")),
        modify_server_default=server_default(keyword(call, "server_default")),
        existing_server_default=server_default(
            keyword(call, "existing_server_default")
        ),
    )


def alter_enum_values(op: Op, first: int) -> AlterEnumValuesOp:
    """``op.alter_enum_values(table, column, values, existing=..., renamed=...)``."""
    call = op.call
    return AlterEnumValuesOp(
        op.table,
        literal(argument(call, first, "column_name")) or "?",
        literal(argument(call, first + 1, "values")),
        existing=literal(keyword(call, "existing")),
        name=literal(keyword(call, "name")),
        renamed=literal(keyword(call, "renamed")),
    )


BUILDERS = {
    "create_table": create_table,
    "drop_table": drop_table,
    "rename_table": rename_table,
    "add_column": add_column,
    "drop_column": drop_column,
    "alter_column": alter_column,
    "alter_enum_values": alter_enum_values,
}


def type_of(node: ast.AST | None) -> sa.types.TypeEngine | None:
    """A type expression (``sa.String(length=80)``, ``sa.Text``) as a type object,
    built when its arguments are literals; an unknown type named as written."""
    if node is None:
        return None
    call = node if isinstance(node, ast.Call) else None
    name_node = call.func if call is not None else node
    name = name_node.attr if isinstance(name_node, ast.Attribute) else None
    if isinstance(name_node, ast.Name):
        name = name_node.id
    if name is None:
        return None
    kind = type_class(name)
    try:
        if kind is None:
            raise TypeError(name)
        if call is None:
            return kind()
        positional = [literal(value) for value in call.args]
        named = {item.arg: literal(item.value) for item in call.keywords if item.arg}
        return kind(*positional, **named)
    except (TypeError, ValueError, sa.exc.ArgumentError):
        # The change is still a change: name it as the file does.
        return type(name, (sa.types.NullType,), {"cache_ok": True})()


def type_class(name: str) -> type | None:
    """The SQLAlchemy type class of that name, if there is one."""
    for module in TYPE_MODULES:
        kind = getattr(module, name, None)
        if isinstance(kind, type) and issubclass(kind, sa.types.TypeEngine):
            return kind
    return None

"""The pieces of a revision file's syntax tree that the review reads: module-level
literals (``revision = "ab12"``), functions, calls and their arguments, and the
calls that reach the database outside Alembic's ``op``."""

import ast


def module_assignments(tree: ast.Module) -> dict:
    """Literal values assigned at module level (``revision = "abc"``, annotated too)."""
    values = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                values[target.id] = literal(value)
    return values


def as_revision_ids(value) -> str | tuple[str, ...] | None:
    """``down_revision`` as Alembic reads it: None, one id, or a tuple of ids."""
    if isinstance(value, list | tuple):
        return tuple(value) if len(value) != 1 else value[0]
    return value


def first_docstring_line(tree: ast.Module) -> str:
    """The revision's message: the first line of the module docstring."""
    docstring = ast.get_docstring(tree) or ""
    return docstring.strip().splitlines()[0] if docstring.strip() else ""


def function_named(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    """A module-level function by name."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def literal(node: ast.AST | None):
    """The Python value of a literal node (``op.f("x")`` counts as ``"x"``), or None."""
    if node is None:
        return None
    if isinstance(node, ast.Call) and call_name(node) == "f" and node.args:
        return literal(node.args[0])
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def call_name(call: ast.Call) -> str | None:
    """The called name: ``add_column`` for ``op.add_column(...)``, ``Column`` too."""
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def keyword(call: ast.Call, name: str) -> ast.AST | None:
    """The value node of a keyword argument, or None."""
    for item in call.keywords:
        if item.arg == name:
            return item.value
    return None


def argument(call: ast.Call, position: int, name: str) -> ast.AST | None:
    """An argument given by position or by keyword."""
    if len(call.args) > position:
        return call.args[position]
    return keyword(call, name)


def op_receiver(call: ast.Call) -> str | None:
    """The name an op is called on (``op``, or a batch alias), for ``x.y(...)``."""
    if isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name):
        return call.func.value.id
    return None


def is_autocommit_block(node: ast.AST) -> bool:
    """``op.get_context().autocommit_block()``."""
    return isinstance(node, ast.Call) and call_name(node) == "autocommit_block"


def is_migration_connection(node: ast.AST | None, connections: frozenset[str]) -> bool:
    """``op.get_bind()``, or a name it was assigned to (``bind = op.get_bind()``)."""
    if isinstance(node, ast.Name):
        return node.id in connections
    return isinstance(node, ast.Call) and call_name(node) == "get_bind"


def connection_names(function: ast.FunctionDef) -> frozenset[str]:
    """The names ``op.get_bind()`` is assigned to in a function."""
    return frozenset(
        target.id
        for node in ast.walk(function)
        if isinstance(node, ast.Assign) and is_migration_connection(node.value, set())
        for target in node.targets
        if isinstance(target, ast.Name)
    )


def is_connection_execute(node: ast.AST, connections: frozenset[str]) -> bool:
    """``op.get_bind().execute(...)`` (or on a name holding it): SQL run on the
    migration's connection."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"execute", "exec_driver_sql"}
        and is_migration_connection(node.func.value, connections)
    )


def is_schema_object_call(node: ast.AST, connections: frozenset[str]) -> bool:
    """``sa.Enum(...).create(op.get_bind())`` and the like: a type, table or
    sequence created or dropped on the migration's connection."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"create", "drop"}
        and is_migration_connection(argument(node, 0, "bind"), connections)
    )

"""Column types as a revision file writes them (``sa.String(length=80)``), read from
its syntax tree: compared by meaning, and whether a change widens them."""

import ast

from tools.revision_ast import call_name, keyword, literal

TYPE_SYNONYMS = {
    "VARCHAR": "String",
    "TEXT": "Text",
    "INTEGER": "Integer",
    "BIGINT": "BigInteger",
    "SMALLINT": "SmallInteger",
    "BOOLEAN": "Boolean",
    "NUMERIC": "Numeric",
    "FLOAT": "Float",
    "DATE": "Date",
    "TIME": "Time",
    "DATETIME": "DateTime",
    "BLOB": "LargeBinary",
}


def type_signature(node: ast.AST | None) -> tuple[str, tuple] | None:
    """A type expression as (name, literal arguments): ``sa.String(80)``,
    ``sa.String(length=80)`` and ``sa.VARCHAR(length=80)`` all give
    ``("String", (80,))``."""
    if node is None:
        return None
    if isinstance(node, ast.Call):
        name = TYPE_SYNONYMS.get(call_name(node), call_name(node))
        values = [literal(value) for value in node.args]
        values += [literal(item.value) for item in node.keywords]
        return name, tuple(values)
    if isinstance(node, ast.Attribute):
        return node.attr, ()
    if isinstance(node, ast.Name):
        return node.id, ()
    return None


# Types that only ever widen into each other without losing data.
UNBOUNDED_TEXT = {"Text", "TEXT", "UnicodeText"}
BOUNDED_TEXT = {"String", "VARCHAR", "Unicode", "NVARCHAR"}


def is_widening(existing_type: ast.AST | None, new_type: ast.AST) -> bool:
    """Whether a type change only widens: same type with larger sizes, or text."""
    old, new = type_signature(existing_type), type_signature(new_type)
    if old is None or new is None:
        return False
    if old[0] in BOUNDED_TEXT and new[0] in UNBOUNDED_TEXT:
        return True
    if old[0] != new[0] or len(old[1]) != len(new[1]):
        return False
    return all(
        isinstance(before, int) and isinstance(after, int) and after >= before
        for before, after in zip(old[1], new[1], strict=True)
    )


def column_call(call: ast.Call) -> ast.Call | None:
    """The ``sa.Column(...)`` argument of an ``add_column`` call."""
    for node in call.args:
        if isinstance(node, ast.Call) and call_name(node) == "Column":
            return node
    return None


def column_type(column: ast.Call) -> ast.AST | None:
    """The type argument of ``sa.Column(name, type, ...)``."""
    return column.args[1] if len(column.args) > 1 else keyword(column, "type_")

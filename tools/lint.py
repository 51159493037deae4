"""The safety linter: rules on the Alembic ops of a revision file's ``upgrade()``.

Each rule names an op that can lose data or lock a busy table, says why, and says the
safe alternative. A finding is acknowledged by a comment on or above the op naming the
rule and a reason: ``# review: allow drop-column - column unused since 2026-10``.
Downgrades are not linted (they undo what the upgrade did), except for being empty.
"""

import ast
from dataclasses import dataclass, field

from tools.column_types import column_call, column_type, is_widening, type_signature
from tools.lint_rules import RULES
from tools.revision_ast import argument, call_name, keyword, literal
from tools.revision_source import Acknowledgement, Op, RevisionSource


@dataclass
class Finding:
    """One risky thing found in a revision, and whether it is acknowledged."""

    rule: str
    revision: str
    why: str
    instead: str
    line: int | None = None
    op: str = ""
    source: str = "review"
    also: list[str] = field(default_factory=list)
    acknowledged: Acknowledgement | None = None

    def as_dict(self) -> dict:
        """The finding as plain data for the JSON report."""
        return {
            "rule": self.rule,
            "source": self.source,
            "also": self.also,
            "revision": self.revision,
            "line": self.line,
            "op": self.op,
            "why": self.why,
            "instead": self.instead,
            "acknowledged": (
                None
                if self.acknowledged is None
                else {
                    "reason": self.acknowledged.reason,
                    "line": self.acknowledged.line,
                }
            ),
        }


def finding(
    rule_name: str,
    source: RevisionSource,
    op: Op | None,
    why: str | None = None,
    line: int | None = None,
    op_text: str = "",
) -> Finding:
    """A finding of one of this linter's rules, at an op (or a line)."""
    rule = RULES[rule_name]
    return Finding(
        rule=rule.name,
        revision=source.revision or source.path.name,
        why=why or rule.why,
        instead=rule.instead,
        line=op.line if op else line,
        op=op.text if op else op_text,
    )


def lint(
    source: RevisionSource, new_tables: frozenset[str] = frozenset()
) -> list[tuple[Finding, Op | None]]:
    """Every rule's findings for one revision, each with the op it is about.
    ``new_tables``: tables an earlier revision of the same branch created, new and
    empty like the ones this revision creates."""
    findings = []
    created = set(new_tables)
    for op in source.upgrade_ops():
        existing_table = op.table not in created
        if op.name == "create_table" and op.table:
            created.add(op.table)
        for rule_name, why in op_findings(op, existing_table):
            findings.append((finding(rule_name, source, op, why=why), op))
    findings += drop_and_add_findings(source)
    empty = empty_downgrade_finding(source)
    if empty is not None:
        findings.append((empty, None))
    return findings


def op_findings(op: Op, existing_table: bool):
    """The rules one op breaks, with the reason (None for the rule's own text)."""
    call = op.call
    if op.name == "drop_table":
        yield "drop-table", None
    elif op.name == "drop_column":
        yield "drop-column", None
    elif op.name == "alter_enum_values":
        values = literal(argument(call, 2, "values")) or []
        renamed = literal(keyword(call, "renamed")) or {}
        dropped = [
            v
            for v in literal(keyword(call, "existing")) or []
            if v not in values and v not in renamed
        ]
        if renamed:
            pairs = ", ".join(f"{old!r} to {new!r}" for old, new in renamed.items())
            why = (
                f"{pairs} renamed: code still writing the former value fails once "
                "the revision ran, and MariaDB and SQLite update every row holding it."
            )
            yield "enum-value-renamed", why
        if dropped:
            why = (
                f"{', '.join(map(repr, dropped))} dropped from the Enum: rows that "
                "hold it make the revision fail, and PostgreSQL rewrites the table."
            )
            yield "enum-value-dropped", why
    elif op.name == "alter_column":
        yield from alter_column_findings(call, existing_table)
    elif op.name == "add_column" and existing_table:
        yield from add_column_findings(call)
    elif op.name == "create_index" and existing_table:
        concurrently = literal(keyword(call, "postgresql_concurrently")) is True
        if not concurrently:
            yield "create-index-concurrently", None
        elif not op.in_autocommit_block:
            yield (
                "create-index-concurrently",
                "postgresql_concurrently=True outside an autocommit_block fails: "
                "CREATE INDEX CONCURRENTLY cannot run inside a transaction.",
            )
    elif op.name == "create_unique_constraint" and existing_table:
        yield "unique-constraint", None
    elif op.name == "create_foreign_key" and existing_table:
        if literal(keyword(call, "postgresql_not_valid")) is not True:
            yield "foreign-key-not-valid", None
    elif op.name == "execute" and (
        call_name(call) == "exec_driver_sql" or is_raw_sql(argument(call, 0, "sqltext"))
    ):
        yield "raw-sql", None


def alter_column_findings(call: ast.Call, existing_table: bool):
    """Type changes that are not plain widenings, and SET NOT NULL."""
    new_type = keyword(call, "type_")
    if new_type is not None and not is_widening(
        keyword(call, "existing_type"), new_type
    ):
        yield "alter-column-type", None
    if existing_table and literal(keyword(call, "nullable")) is False:
        yield "set-not-null", None


def add_column_findings(call: ast.Call):
    """A NOT NULL column without default, a UNIQUE or a foreign key on it."""
    column = next(
        (
            node
            for node in call.args
            if isinstance(node, ast.Call) and call_name(node) == "Column"
        ),
        None,
    )
    if column is None:
        return
    primary_key = literal(keyword(column, "primary_key")) is True
    nullable = literal(keyword(column, "nullable"))
    not_null = nullable is False or (nullable is None and primary_key)
    has_default = keyword(column, "server_default") is not None
    if not_null and not has_default:
        yield "add-not-null-column", None
    if literal(keyword(column, "unique")) is True:
        yield "unique-constraint", None
    if any(
        isinstance(node, ast.Call) and call_name(node) == "ForeignKey"
        for node in column.args
    ):
        yield (
            "foreign-key-not-valid",
            "A column added with a ForeignKey is validated against the referred table "
            "under a SHARE ROW EXCLUSIVE lock on both tables, which blocks writes.",
        )


# The SQL spellings reflection writes (in a downgrade), and the generic types a
# model writes (in an upgrade): the same type for the drop-and-add rule.
def is_raw_sql(node: ast.AST | None) -> bool:
    """Whether ``op.execute``'s argument is SQL text rather than a Core expression."""
    if node is None:
        return False
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.JoinedStr | ast.BinOp):
        return True
    if isinstance(node, ast.Call):
        name = call_name(node)
        if name in {"text", "format"}:
            return True
    return False


def drop_and_add_findings(source: RevisionSource) -> list[tuple[Finding, Op]]:
    """A drop_column and an add_column of the same type on one table."""
    dropped_types = column_types_added_in(source, "downgrade")
    added = [
        (op, column)
        for op in source.upgrade_ops()
        if op.name == "add_column"
        for column in [column_call(op.call)]
        if column is not None
    ]
    findings = []
    for op in source.upgrade_ops():
        if op.name != "drop_column":
            continue
        column_name = literal(
            argument(op.call, 0 if op.batch_line else 1, "column_name")
        )
        dropped_type = dropped_types.get((op.table, column_name))
        for add_op, column in added:
            same_table = add_op.table == op.table
            if same_table and type_signature(column_type(column)) == dropped_type:
                new_name = literal(argument(column, 0, "name"))
                why = (
                    f"{column_name!r} is dropped and {new_name!r} of the same type "
                    f"added to {op.table!r}: probably a rename written as drop + "
                    "add, which loses the column's data."
                )
                findings.append((finding("drop-and-add", source, op, why=why), op))
                break
    return findings


def column_types_added_in(source: RevisionSource, function: str) -> dict:
    """(table, column) -> type signature for every add_column in a function.

    A dropped column's type is known from the downgrade that adds it back.
    """
    types = {}
    for op in source.ops:
        if op.function == function and op.name == "add_column":
            column = column_call(op.call)
            if column is not None:
                name = literal(argument(column, 0, "name"))
                types[(op.table, name)] = type_signature(column_type(column))
    return types


def does_nothing(function: ast.FunctionDef | None) -> bool:
    """Whether a function body is only a docstring, ``pass`` or ``...``."""
    if function is None:
        return True
    for statement in function.body:
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Expr) and isinstance(
            statement.value, ast.Constant
        ):
            continue
        return False
    return True


def empty_downgrade_finding(source: RevisionSource) -> Finding | None:
    """An empty downgrade, when the upgrade does something (an empty baseline is
    fine: there is nothing to undo)."""
    upgrade, downgrade = source.function("upgrade"), source.function("downgrade")
    if does_nothing(upgrade) or not does_nothing(downgrade):
        return None
    line = downgrade.lineno if downgrade is not None else None
    return finding(
        "empty-downgrade", source, None, line=line, op_text="def downgrade()"
    )

"""The safety linter: rules on the Alembic ops of a revision file's ``upgrade()``.

Each rule names an op that can lose data or lock a busy table, says why, and says the
safe alternative. A finding is acknowledged by a comment on or above the op naming the
rule and a reason: ``# review: allow drop-column - column unused since 2026-10``.
Downgrades are not linted (they undo what the upgrade did), except for being empty.
"""

import ast
from dataclasses import dataclass, field

from tools.revision_ast import argument, call_name, keyword, literal
from tools.revision_source import Acknowledgement, Op, RevisionSource


@dataclass(frozen=True)
class Rule:
    """A rule's name, why the op is risky, and what to do instead."""

    name: str
    why: str
    instead: str


RULES = {
    rule.name: rule
    for rule in [
        Rule(
            "drop-table",
            "Deletes the table and every row in it; the release still running reads "
            "it until it is replaced, and a downgrade cannot bring the rows back.",
            "Stop using the table in one release, back it up, and drop it in a later "
            "revision; acknowledge with the reason once that is done.",
        ),
        Rule(
            "drop-column",
            "Deletes the column's data for good; code of the release still running "
            "that selects or inserts it fails.",
            "Stop reading and writing the column in one release, then drop it in a "
            "later revision; acknowledge with the reason once that is done.",
        ),
        Rule(
            "drop-and-add",
            "A column is dropped and another of the same type added to the same table: "
            "probably a rename written as drop + add, which loses the column's data.",
            "Rename it with alter_column(..., new_column_name=...), or add the new "
            "column, copy the data with set-based SQL, and drop the old one later.",
        ),
        Rule(
            "alter-column-type",
            "Changing or narrowing a column's type rewrites the table under an ACCESS "
            "EXCLUSIVE lock on PostgreSQL (a table copy on MySQL), and values that do "
            "not fit the new type fail or are truncated.",
            "Add a column of the new type, backfill it, switch the code, drop the old "
            "column later. Widening (String(80) to String(120)) is safe: pass "
            "existing_type so the review can tell.",
        ),
        Rule(
            "add-not-null-column",
            "A NOT NULL column without a server default cannot be added to a table "
            "that has rows (PostgreSQL and SQLite refuse; MySQL fills in '' or 0).",
            "Add it nullable, backfill it with set-based SQL, then set NOT NULL (as "
            "the display_name revision does), or give it a server_default.",
        ),
        Rule(
            "set-not-null",
            "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock on "
            "PostgreSQL (reads and writes wait), and fails if any row is still NULL.",
            "Backfill first; on a large PostgreSQL table add CHECK (col IS NOT NULL) "
            "NOT VALID, VALIDATE it in a later step, then SET NOT NULL (PostgreSQL 12+ "
            "then skips the scan).",
        ),
        Rule(
            "create-index-concurrently",
            "CREATE INDEX on an existing table blocks every write to it on PostgreSQL "
            "until the index is built (CONCURRENTLY cannot run in a transaction).",
            "In a revision of its own: with op.get_context().autocommit_block(): "
            "op.create_index(..., postgresql_concurrently=True, if_not_exists=True) "
            "(outside a transaction, a rerun after a failure must not trip on what "
            "already exists).",
        ),
        Rule(
            "unique-constraint",
            "Adding a UNIQUE constraint to an existing table builds its index under an "
            "ACCESS EXCLUSIVE lock on PostgreSQL, and fails if duplicates exist.",
            "Remove duplicates, create a unique index CONCURRENTLY in an "
            "autocommit_block, then ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING "
            "INDEX.",
        ),
        Rule(
            "foreign-key-not-valid",
            "A foreign key added to an existing table is validated by scanning it, "
            "holding a SHARE ROW EXCLUSIVE lock on both tables that blocks writes.",
            "create_foreign_key(..., postgresql_not_valid=True), then VALIDATE "
            "CONSTRAINT in a later step (it takes a lock that lets writes through).",
        ),
        Rule(
            "enum-value-dropped",
            "A value is dropped from an Enum: rows that hold it make the revision "
            "fail (MariaDB in strict mode, PostgreSQL), and PostgreSQL, which cannot "
            "drop an enum value, swaps the type: every row of the table is rewritten "
            "under an ACCESS EXCLUSIVE lock.",
            "First update the rows that hold it (a data step, in a revision of its "
            "own), then drop the value; on a big PostgreSQL table, at a quiet time.",
        ),
        Rule(
            "enum-value-renamed",
            "An Enum value is renamed: the running app still writes the former value, "
            "which fails as soon as the revision has run; MariaDB and SQLite update "
            "every row that holds it (PostgreSQL renames the label and touches no "
            "row).",
            "Deploy code that reads both values first, then the rename; on a big "
            "MariaDB table, at a quiet time.",
        ),
        Rule(
            "raw-sql",
            "SQL written as text is not rendered per dialect, so it may not run on "
            "every database this project supports, and this review cannot see what it "
            "locks or changes.",
            "Write it as a SQLAlchemy Core expression (sa.update(table)...) or an op; "
            "if it must stay text, acknowledge it and test it on every database.",
        ),
        Rule(
            "empty-downgrade",
            "upgrade() changes the schema but downgrade() does nothing: a downgrade "
            "moves the version table back while the schema stays changed.",
            "Write the reverse ops; if the change cannot be undone (data is lost), "
            "raise with a message saying so and acknowledge it.",
        ),
    ]
}


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


def column_call(call: ast.Call) -> ast.Call | None:
    """The ``sa.Column(...)`` argument of an ``add_column`` call."""
    for node in call.args:
        if isinstance(node, ast.Call) and call_name(node) == "Column":
            return node
    return None


def column_type(column: ast.Call) -> ast.AST | None:
    """The type argument of ``sa.Column(name, type, ...)``."""
    return column.args[1] if len(column.args) > 1 else keyword(column, "type_")


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

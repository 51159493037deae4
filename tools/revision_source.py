"""A revision file read as source: its identifiers, its Alembic ops and its comments.

The file is parsed with ``ast`` and ``tokenize``, never imported, so a revision that
would fail (or do harm) when run can still be reviewed.
"""

import ast
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from tools.revision_ast import (
    argument,
    as_revision_ids,
    call_name,
    connection_names,
    first_docstring_line,
    function_named,
    is_autocommit_block,
    is_connection_execute,
    is_schema_object_call,
    literal,
    module_assignments,
    op_receiver,
)

# ``op`` helpers that build names or contexts rather than changing the schema.
NOT_SCHEMA_OPS = {
    "f",
    "get_bind",
    "get_context",
    "batch_alter_table",
    "inline_literal",
    "invoke",
    "implementation_for",
    "register_operation",
}

# Ops whose table name is not their first argument (the constraint or index name is).
TABLE_ARGUMENT_POSITION = {
    "create_index": 1,
    "drop_index": 1,
    "create_unique_constraint": 1,
    "create_foreign_key": 1,
    "create_check_constraint": 1,
    "create_primary_key": 1,
    "drop_constraint": 1,
}

# ``# review: allow drop-column, drop-table - the reason``; the reason is required.
ACKNOWLEDGEMENT = re.compile(
    r"#\s*review:\s*allow\s+(?P<rules>[\w-]+(?:\s*,\s*[\w-]+)*)"
    r"(?:\s+(?:-|--|—|:)\s*(?P<reason>\S.*?))?\s*$"
)

LONGEST_OP_TEXT = 160


@dataclass
class Acknowledgement:
    """A ``# review: allow <rule> - <reason>`` comment."""

    rules: tuple[str, ...]
    reason: str
    line: int
    used: bool = False


@dataclass
class Op:
    """One call of an Alembic op (``op.x`` or ``batch_op.x``) in up- or downgrade."""

    name: str
    function: str
    line: int
    end_line: int
    call: ast.Call
    table: str | None
    batch_line: int | None = None
    in_autocommit_block: bool = False

    @property
    def text(self) -> str:
        """The call as one line of source, shortened when long."""
        text = ast.unparse(self.call)
        if self.batch_line is not None:
            text = f"batch_alter_table({self.table!r}): {text.split('.', 1)[1]}"
        if len(text) > LONGEST_OP_TEXT:
            text = text[: LONGEST_OP_TEXT - 1] + "…"
        return text


@dataclass
class RevisionSource:
    """What the review needs from one revision file, read without running it."""

    path: Path
    text: str
    tree: ast.Module
    revision: str | None
    down_revision: str | tuple[str, ...] | None
    message: str
    ops: list[Op] = field(default_factory=list)
    acknowledgements: list[Acknowledgement] = field(default_factory=list)
    unreadable_acknowledgements: list[int] = field(default_factory=list)

    @classmethod
    def parse(cls, path: Path, text: str | None = None) -> "RevisionSource":
        """Parse a revision file (``text`` overrides reading ``path``)."""
        text = path.read_text(encoding="utf-8") if text is None else text
        tree = ast.parse(text, filename=str(path))
        identifiers = module_assignments(tree)
        source = cls(
            path=path,
            text=text,
            tree=tree,
            revision=identifiers.get("revision"),
            down_revision=as_revision_ids(identifiers.get("down_revision")),
            message=first_docstring_line(tree),
        )
        for function in ("upgrade", "downgrade"):
            node = function_named(tree, function)
            if node is not None:
                connections = connection_names(node)
                source.ops.extend(ops_in(node.body, function, {}, False, connections))
        source.ops.sort(key=lambda op: op.line)
        source.read_acknowledgements()
        return source

    @property
    def lines(self) -> list[str]:
        """The file's lines, line 1 at index 0."""
        return self.text.splitlines()

    def function(self, name: str) -> ast.FunctionDef | None:
        """The module-level function ``upgrade`` or ``downgrade``."""
        return function_named(self.tree, name)

    def upgrade_ops(self) -> list[Op]:
        """The ops ``upgrade()`` runs, in file order."""
        return [op for op in self.ops if op.function == "upgrade"]

    def read_acknowledgements(self) -> None:
        """Collect every ``# review: allow`` comment; a reason-less one is noted."""
        tokens = tokenize.generate_tokens(io.StringIO(self.text).readline)
        for token in tokens:
            if token.type != tokenize.COMMENT or "review:" not in token.string:
                continue
            match = ACKNOWLEDGEMENT.search(token.string)
            if match is None or not match["reason"]:
                self.unreadable_acknowledgements.append(token.start[0])
                continue
            rules = tuple(rule.strip() for rule in match["rules"].split(","))
            self.acknowledgements.append(
                Acknowledgement(rules, match["reason"].strip(), token.start[0])
            )

    def comment_block_above(self, line: int) -> range:
        """The lines of the comment-only block right above ``line`` (may be empty)."""
        first = line
        while first > 1 and self.lines[first - 2].strip().startswith("#"):
            first -= 1
        return range(first, line)

    def acknowledgement_lines(
        self, op: Op | None, line: int | None, end_line: int | None = None
    ) -> set[int]:
        """Where a comment acknowledges a finding: on or above its op (or line).

        An op inside ``batch_alter_table`` may also be acknowledged on or above the
        ``with`` line. A finding with neither op nor line (the revision as a whole)
        is acknowledged anywhere in the file.
        """
        if op is None and line is None:
            return set(range(1, len(self.lines) + 1))
        if op is None:
            lines = range(line, (end_line or line) + 1)
            return {*lines, *self.comment_block_above(line)}
        lines = {*range(op.line, op.end_line + 1), *self.comment_block_above(op.line)}
        if op.batch_line is not None:
            lines |= {op.batch_line, *self.comment_block_above(op.batch_line)}
        return lines

    def acknowledgement_for(
        self,
        rules: set[str],
        op: Op | None,
        line: int | None,
        end_line: int | None = None,
    ) -> Acknowledgement | None:
        """The comment acknowledging one of ``rules`` for this op, if there is one."""
        where = self.acknowledgement_lines(op, line, end_line)
        for acknowledgement in self.acknowledgements:
            if acknowledgement.line in where and rules & set(acknowledgement.rules):
                acknowledgement.used = True
                return acknowledgement
        return None


def ops_in(
    statements: list[ast.stmt],
    function: str,
    batches: dict[str, tuple[str | None, int]],
    autocommit: bool,
    connections: frozenset[str] = frozenset(),
) -> list[Op]:
    """The op calls in a block of statements, following ``with`` blocks;
    ``connections``: the names holding ``op.get_bind()``."""
    found = []
    for statement in statements:
        if isinstance(statement, ast.With):
            inner_batches, inner_autocommit = dict(batches), autocommit
            for item in statement.items:
                expression = item.context_expr
                if (
                    isinstance(expression, ast.Call)
                    and call_name(expression) == "batch_alter_table"
                    and isinstance(item.optional_vars, ast.Name)
                ):
                    table = literal(argument(expression, 0, "table_name"))
                    inner_batches[item.optional_vars.id] = (table, statement.lineno)
                inner_autocommit = inner_autocommit or is_autocommit_block(expression)
            found += ops_in(
                statement.body, function, inner_batches, inner_autocommit, connections
            )
            continue
        nested = [
            getattr(statement, name, None) or []
            for name in ("body", "orelse", "finalbody")
        ]
        nested += [handler.body for handler in getattr(statement, "handlers", [])]
        if any(nested):
            for block in nested:
                found += ops_in(block, function, batches, autocommit, connections)
            continue
        found += ops_in_statement(statement, function, batches, autocommit, connections)
    return found


def ops_in_statement(
    statement: ast.stmt,
    function: str,
    batches: dict[str, tuple[str | None, int]],
    autocommit: bool,
    connections: frozenset[str] = frozenset(),
) -> list[Op]:
    """The outermost op calls in one simple statement."""
    found = []
    pending = [statement]
    while pending:
        node = pending.pop()
        receiver = op_receiver(node) if isinstance(node, ast.Call) else None
        name = call_name(node) if isinstance(node, ast.Call) else None
        if is_connection_execute(node, connections):
            receiver, name = "op", "execute"
        elif is_schema_object_call(node, connections):
            receiver = "op"  # e.g. "create": sa.Enum(...).create(op.get_bind())
        if (receiver == "op" or receiver in batches) and name not in NOT_SCHEMA_OPS:
            table, batch_line = batches.get(receiver, (None, None))
            if receiver == "op":
                position = TABLE_ARGUMENT_POSITION.get(name, 0)
                table = literal(argument(node, position, "table_name"))
            found.append(
                Op(
                    name=name,
                    function=function,
                    line=node.lineno,
                    end_line=node.end_lineno or node.lineno,
                    call=node,
                    table=table if isinstance(table, str) else None,
                    batch_line=batch_line,
                    in_autocommit_block=autocommit,
                )
            )
            continue
        pending.extend(ast.iter_child_nodes(node))
    return found

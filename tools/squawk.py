"""squawk, the PostgreSQL migration linter, run on a revision's rendered SQL.

Its findings are traced back to the op that wrote the statement, and merged with the
review's own finding on that op when both say the same thing (squawk's
``ban-drop-column`` and the review's ``drop-column``), so one acknowledgement covers
both.
"""

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.lint import Finding, is_widening
from tools.render import Statement
from tools.revision_ast import keyword
from tools.revision_source import Op, RevisionSource

CONFIG = Path(__file__).with_name("squawk.toml")

# squawk rules that say what one of the review's rules says.
SAME_AS_REVIEW_RULES = {
    "ban-drop-table": {"drop-table"},
    "ban-drop-column": {"drop-column", "drop-and-add"},
    "changing-column-type": {"alter-column-type"},
    "adding-required-field": {"add-not-null-column"},
    "adding-not-nullable-field": {"set-not-null", "add-not-null-column"},
    "require-concurrent-index-creation": {"create-index-concurrently"},
    "ban-concurrent-index-creation-in-transaction": {"create-index-concurrently"},
    "disallowed-unique-constraint": {"unique-constraint"},
    "adding-foreign-key-constraint": {"foreign-key-not-valid"},
    "constraint-missing-not-valid": {"foreign-key-not-valid", "unique-constraint"},
}

# Which op writes SQL containing these words, to place batch statements.
OP_FOR_SQL = [
    (re.compile(r"\bADD COLUMN\b"), "add_column"),
    (re.compile(r"\bDROP COLUMN\b"), "drop_column"),
    (re.compile(r"\bALTER COLUMN\b"), "alter_column"),
    (re.compile(r"\bCREATE (UNIQUE )?INDEX\b"), "create_index"),
    (re.compile(r"\bDROP INDEX\b"), "drop_index"),
    (re.compile(r"\bFOREIGN KEY\b"), "create_foreign_key"),
    (re.compile(r"\bUNIQUE\b"), "create_unique_constraint"),
    (re.compile(r"\bCHECK\b"), "create_check_constraint"),
    (re.compile(r"\bDROP CONSTRAINT\b"), "drop_constraint"),
]


class SquawkError(Exception):
    """squawk is missing or failed to run."""


@dataclass
class SquawkViolation:
    """One squawk finding, with the statement it is about."""

    rule: str
    message: str
    help: str
    statement: Statement | None


def squawk_executable() -> str:
    """The squawk installed next to this Python (the project's environment)."""
    beside = Path(sys.executable).with_name("squawk")
    found = str(beside) if beside.exists() else shutil.which("squawk")
    if found is None:
        raise SquawkError(
            "squawk is not installed; install the dev extra: pip install -e '.[dev]'"
        )
    return found


def run_squawk(sql: str, name: str) -> list[dict]:
    """squawk's JSON findings for one SQL script."""
    result = subprocess.run(
        [
            squawk_executable(),
            "--config",
            str(CONFIG),
            "--reporter",
            "json",
            "--stdin-filepath",
            name,
        ],
        input=sql,
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        output = (result.stderr or result.stdout).strip().splitlines()
        raise SquawkError(
            f"squawk failed: {output[0] if output else result.returncode}"
        ) from None


def violations(statements: list[Statement], name: str) -> list[SquawkViolation]:
    """squawk's findings on the rendered statements, each with its statement."""
    starts, line = [], 0
    for statement in statements:
        starts.append(line)
        line += statement.text.count("\n")
    sql = "".join(statement.text for statement in statements)
    found = []
    for item in run_squawk(sql, name):
        index = max(
            (i for i, start in enumerate(starts) if start <= item["line"]), default=None
        )
        found.append(
            SquawkViolation(
                rule=item["rule_name"],
                message=item["message"],
                help=item.get("help") or "",
                statement=statements[index] if index is not None else None,
            )
        )
    return found


def op_for(
    statement: Statement | None, statements: list[Statement], source: RevisionSource
) -> Op | None:
    """The op whose call wrote a statement."""
    if statement is None or statement.source_line is None:
        return None
    line = statement.source_line
    ops = [op for op in source.upgrade_ops() if op.line <= line <= op.end_line]
    if ops:
        return ops[0]
    # Batch ops run when their ``with`` block ends: place by order, then by SQL.
    batch = [op for op in source.upgrade_ops() if op.batch_line == line]
    if not batch:
        return None
    written = [s for s in statements if s.source_line == line]
    if len(written) == len(batch):
        return batch[written.index(statement)]
    for pattern, op_name in OP_FOR_SQL:
        if pattern.search(statement.text):
            for op in batch:
                if op.name == op_name:
                    return op
    return batch[0]


# What to do instead, for squawk's rules whose own help is empty.
SQUAWK_INSTEAD = {
    "renaming-column": (
        "Add the new column, write both from the code, backfill, switch reads, "
        "then drop the old one; or rename in one revision deployed together with "
        "the code that uses the new name, and acknowledge it."
    ),
    "renaming-table": (
        "Create the new table (or a view under the new name), move the code, then "
        "drop the old one; or rename together with the code, and acknowledge it."
    ),
    "ban-drop-constraint": (
        "Drop it only once no code relies on it, in a revision of its own; to "
        "replace it, add the new constraint first (NOT VALID, validated later)."
    ),
    "ban-drop-column": (
        "Stop reading and writing the column in a release first, then drop it."
    ),
    "ban-drop-table": (
        "Stop using the table in a release first, then drop it; keep a backup."
    ),
}


def instead_of(rule: str, help_text: str | None) -> str:
    """squawk's help for a rule, or ours where it has none, or its documentation."""
    return (
        help_text
        or SQUAWK_INSTEAD.get(rule)
        or f"See squawk's documentation: https://squawkhq.com/docs/{rule}"
    )


# squawk's rules about locking or rewriting a table with rows: moot on a table that
# the branch itself created (new and empty when the revision runs).
ABOUT_TABLES_WITH_ROWS = set(SAME_AS_REVIEW_RULES) - {
    "ban-drop-table",
    "ban-drop-column",
}


def is_widening_op(op: Op | None) -> bool:
    """An ``alter_column`` that only widens its column's type, as the linter's
    ``alter-column-type`` rule sees it."""
    if op is None or op.name != "alter_column":
        return False
    new_type = keyword(op.call, "type_")
    return new_type is not None and is_widening(
        keyword(op.call, "existing_type"), new_type
    )


def merge(
    found: list[SquawkViolation],
    statements: list[Statement],
    source: RevisionSource,
    findings: list[tuple[Finding, Op | None]],
    new_tables: frozenset[str] = frozenset(),
) -> list[tuple[Finding, Op | None]]:
    """squawk's findings merged into the review's: an equivalent finding on the same
    op gains squawk's rule name; any other becomes a finding of its own. Findings
    about rows in ``new_tables`` (created earlier on the branch) are left out."""
    merged = list(findings)
    for violation in found:
        op = op_for(violation.statement, statements, source)
        if (
            violation.rule in ABOUT_TABLES_WITH_ROWS
            and op is not None
            and op.table in new_tables
        ):
            continue
        if violation.rule == "changing-column-type" and is_widening_op(op):
            continue  # VARCHAR(200) to (300): no rewrite (the trace shows it)
        same = SAME_AS_REVIEW_RULES.get(violation.rule, set())
        twin = next(
            (
                item
                for item, item_op in merged
                if item_op is op
                and op is not None
                and (item.rule in same or item.rule == violation.rule)
            ),
            None,
        )
        if twin is not None:
            if violation.rule != twin.rule and violation.rule not in twin.also:
                twin.also.append(violation.rule)
            continue
        statement_text = (
            violation.statement.text.strip().splitlines()[0]
            if violation.statement
            else ""
        )
        merged.append(
            (
                Finding(
                    rule=violation.rule,
                    revision=source.revision or source.path.name,
                    why=violation.message,
                    instead=instead_of(violation.rule, violation.help),
                    line=op.line if op else None,
                    op=op.text if op else statement_text,
                    source="squawk",
                ),
                op,
            )
        )
    return merged

"""What the trace found, as findings the review reports and acknowledges like the
linter's: the rules, and each traced statement placed on the op that wrote it.
"""

from tools import lint
from tools.probes import POSTGRESQL_BLOCKS
from tools.recorder import StatementTrace, blocks_writes
from tools.render import Statement
from tools.revision_source import Op, RevisionSource
from tools.squawk import op_for

DATABASE_NAMES = {
    "postgresql": "PostgreSQL",
    "mysql": "MariaDB/MySQL",
    "sqlite": "SQLite",
}

TRACE_RULES = {
    "blocking-lock": (
        "A statement took a lock that blocks writes on a table that existed before "
        "the revision, and held it long at the traced row count, or while the "
        "revision ran further statements in the same transaction: writers queue "
        "behind it, and every query queues behind them.",
        "Take the lock last and briefly: a separate revision for the slow step; "
        "CREATE INDEX CONCURRENTLY (in an autocommit_block); a NOT VALID constraint "
        "validated in a later revision; on MariaDB an ALTER that runs INPLACE with "
        "LOCK=NONE.",
    ),
    "table-rewrite": (
        "The statement rewrote a table or index that existed before the revision "
        "(PostgreSQL) or copied the table (MariaDB/MySQL ALGORITHM=COPY): it takes "
        "time proportional to the table, under a lock.",
        "Avoid the rewrite: a new column and a backfill instead of a type change; an "
        "ALTER the server runs INSTANT or INPLACE; or run it at a quiet time and "
        "acknowledge it.",
    ),
    "dialect-failed": (
        "The revision fails on one of the databases this project supports.",
        "Make the op portable (the way autogenerate renders it here), or guard the "
        "dialect-specific part with op.get_context().dialect.name.",
    ),
    "round-trip-failed": (
        "The revision does not go down and up again: downgrade() leaves something "
        "behind (a PostgreSQL enum type, an index) or fails.",
        "Make downgrade() undo exactly what upgrade() does, then run "
        "`alembic downgrade -1 && alembic upgrade head` on each database.",
    ),
    "breaks-running-release": (
        "The release that is running (the base branch's models) fails on the "
        "database the expand phase leaves: its instances serve during the deploy, "
        "and these requests fail there.",
        "Keep the expand phase to what the running release survives (a table, a "
        "nullable column or one with a server default); move a drop, a rename or a "
        'NOT NULL to a contract revision (phase = "contract"), which runs once '
        "every instance runs the new release.",
    ),
    "models-differ": (
        "At the history's head, the database and the models differ: the next "
        "autogenerate writes these changes, and `alembic check` fails.",
        'Write them in a revision (`alembic revision --autogenerate -m "..."`), or '
        "change the models back.",
    ),
}


def op_of(
    statement: StatementTrace, statements: list[StatementTrace], source: RevisionSource
) -> Op | None:
    """The op of the revision file that wrote a traced statement (batch ops run
    at the end of their ``with`` block: placed as the review places their SQL)."""
    written = [Statement(each.sql, each.line) for each in statements]
    return op_for(written[statements.index(statement)], written, source)


def with_op_lines(
    statements: list[StatementTrace], source: RevisionSource
) -> list[StatementTrace]:
    """The statements, each with the line of the op that wrote it (a batch op's
    statements run at the end of its ``with`` block, whose line the stack shows)."""
    ops = [op_of(statement, statements, source) for statement in statements]
    for statement, op in zip(statements, ops, strict=True):
        if op is not None:
            statement.line = op.line
    for statement in statements:
        for lock in statement.locks:
            if lock.since_statement is not None:
                lock.since_line = statements[lock.since_statement].line
    return statements


def finding(
    rule: str,
    detail: str,
    source: RevisionSource,
    op: Op | None = None,
    line: int | None = None,
) -> tuple[lint.Finding, Op | None]:
    """One finding of ``rule``, with what the trace saw, on the op (or the line)
    that wrote the statement."""
    why, instead = TRACE_RULES[rule]
    item = lint.Finding(
        rule=rule,
        revision=source.revision,
        why=f"{why} {detail}",
        instead=instead,
        line=op.line if op else line,
        op=op.text if op else None,
        source="trace",
    )
    return item, op


def findings(
    traces: dict,
    source: RevisionSource,
    max_lock_ms: float,
    new_tables: frozenset[str] = frozenset(),
) -> list[tuple[lint.Finding, Op | None]]:
    """The trace's findings for one revision, on every database (``traces``: name
    -> its ``DatabaseTrace``); ``new_tables``: tables earlier revisions of the
    branch create, whose locks block no one (the linter's view too)."""
    found = []
    for database, database_trace in traces.items():
        trace = database_trace.revisions.get(source.revision)
        if trace is None:
            continue
        label = DATABASE_NAMES[database]
        found += outcome_findings(trace, label, source)
        found += release_findings(database_trace, source, label)
        found += statement_findings(
            trace.statements,
            label,
            database_trace.rows,
            source,
            max_lock_ms,
            new_tables,
        )
    return merged(found)


def merged(found: list) -> list:
    """One finding per rule and op: what each database saw, in one text."""
    result, seen = [], {}
    for item, op in found:
        key = (item.rule, item.line, item.op)
        if key in seen:
            first = seen[key]
            first.why += " " + item.why.removeprefix(TRACE_RULES[item.rule][0]).strip()
            continue
        seen[key] = item
        result.append((item, op))
    return result


def outcome_findings(trace, label: str, source: RevisionSource) -> list:
    """The revision failing, not going down and up, or differing from the models."""
    found = []
    if trace.error is not None:
        failed = [s for s in trace.statements if not s.ok]
        op = op_of(failed[-1], trace.statements, source) if failed else None
        line = failed[-1].line if failed else None
        detail = f"On {label}: {trace.error}"
        found.append(finding("dialect-failed", detail, source, op, line))
    if trace.round_trip not in (None, "ok"):
        detail = f"On {label}, {trace.round_trip}"
        found.append(finding("round-trip-failed", detail, source))
    if trace.models_differ:
        lines = trace.models_differ.splitlines()[1:-1]
        differences = "; ".join(line.strip() for line in lines)
        detail = f"On {label}, a revision would contain: {differences}"
        found.append(finding("models-differ", detail, source))
    return found


def release_findings(database_trace, source: RevisionSource, label: str) -> list:
    """What the running release failed to do after this revision of the expand
    phase and did not fail to do before it: each class, ORM op and error."""
    check = database_trace.revisions[source.revision].running_release
    if check is None or not check.failures:
        return []
    before = set()
    for revision, trace in database_trace.revisions.items():
        if revision == source.revision:
            break
        if trace.running_release is not None:
            before |= {(f["class"], f["op"]) for f in trace.running_release.failures}
    new = [f for f in check.failures if (f["class"], f["op"]) not in before]
    if not new:
        return []
    failed = "; ".join(f"{f['class']} {f['op']}: {f['error']}" for f in new)
    detail = f"On {label}, once the expand phase ran this revision: {failed}."
    return [finding("breaks-running-release", detail, source)]


# Lock modes, weakest first: PostgreSQL's, then MariaDB's ALTER locks.
STRENGTH = [*POSTGRESQL_BLOCKS, "LOCK=NONE", "LOCK=SHARED", "LOCK=EXCLUSIVE"]


def strength(lock) -> int:
    """How strong a lock is, to report a stronger one taken later on a table."""
    return STRENGTH.index(lock.mode) if lock.mode in STRENGTH else len(STRENGTH)


def holding(statements: list[StatementTrace], index: int) -> tuple[float, int]:
    """How long a lock the statement took is held (ms), and over how many later
    statements: to the end of its transaction on PostgreSQL; MariaDB/MySQL commit
    each DDL statement, and a statement outside a transaction ends with itself."""
    statement = statements[index]
    if not statement.in_transaction:
        return statement.ms, 0
    same = [
        later
        for later in statements[index:]
        if later.transaction == statement.transaction and later.in_transaction
    ]
    return sum(later.ms for later in same), len(same) - 1


def statement_findings(
    statements: list[StatementTrace],
    label: str,
    rows: int,
    source: RevisionSource,
    max_lock_ms: float,
    new_tables: frozenset[str] = frozenset(),
) -> list:
    """Rewrites, and locks that block writes held long or over other statements
    (each table reported once, at the statement that took the lock), but on the
    ``new_tables`` the branch creates."""
    found = []
    reported: dict[str, int] = {}  # table -> the strength of the lock reported
    for index, statement in enumerate(statements):
        short = statement.short()
        op = op_of(statement, statements, source)
        if statement.rewrites:
            detail = f"On {label}, `{short}` rewrote {', '.join(statement.rewrites)}."
            found.append(finding("table-rewrite", detail, source, op, statement.line))
        held_ms, later = holding(statements, index)
        blocking = [
            lock
            for lock in statement.locks
            if blocks_writes(lock)
            and not lock.index
            and lock.relation not in new_tables
            and lock.since_statement is None
            and strength(lock) > reported.get(lock.relation, -1)
        ]
        if not blocking or (held_ms <= max_lock_ms and not later):
            continue
        reported |= {lock.relation: strength(lock) for lock in blocking}
        locks = ", ".join(
            f"{lock.mode} on {lock.relation} (blocks {lock.blocks})"
            for lock in blocking
        )
        more = f" and over {later} more statement(s)" if later else ""
        detail = (
            f"On {label}, `{short}` took {locks}, held {held_ms:.0f} ms{more} at "
            f"{rows:,} rows per table."
        )
        found.append(finding("blocking-lock", detail, source, op, statement.line))
    return found

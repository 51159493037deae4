"""What ``migration-review --trace`` measured, in the Markdown report
(``report.py``): where the revisions ran, and each revision's statements per
database with what they did."""


def each_trace(review) -> list[tuple[str, object]]:
    """Every trace made, as (the database, its ``DatabaseTrace`` on one backend)."""
    return [
        (history.name, database_trace)
        for history in review.histories
        for database_trace in history.traces.values()
    ]


def traced_on(review, labelled: bool) -> list[str]:
    """With ``--trace``: where the revisions ran, and with how many rows; what could
    not be traced or filled, on which backend and (``labelled``: with other
    databases shown) in which database."""
    if not review.traced():
        return []
    traces = each_trace(review)
    servers = dict.fromkeys(
        trace.server_version or trace.database for _, trace in traces
    )
    rows = traces[0][1].rows
    lines = [f"Traced on {', '.join(servers)}, at {rows:,} generated rows per table."]
    backends = {backend for history in review.histories for backend in history.traces}
    if backends == {"sqlite"}:
        lines.append(
            "Traced on SQLite only: set TEST_POSTGRESQL_URL / TEST_MYSQL_URL or pass "
            "--postgresql / --mysql to measure locks and rewrites on the servers."
        )
    for name, trace in traces:
        where = f"{trace.database}, database `{name}`" if labelled else trace.database
        if trace.error:
            lines.append(f"{where}: not traced: {trace.error}")
        refused = {t: why for t, why in trace.filled.items() if "left empty" in why}
        for table, why in refused.items():
            lines.append(f"{where}: table `{table}` {why}.")
    return [f"> {line}  " for line in lines] + [""]


def measured_section(item, traces: dict) -> list[str]:
    """With ``--trace``: each statement per database, with what it did."""
    if not item.measured:
        return []
    lines = ["**Measured**", ""]
    for database, trace in item.measured.items():
        database_trace = traces[database]
        lines.append(f"{database_trace.server_version}:")
        lines.append("")
        if trace.statements:
            lines += [
                "| line | statement | ms | locks (blocks) | rewrite / algorithm |",
                "|---|---|---|---|---|",
            ]
            lines += [statement_row(statement) for statement in trace.statements]
            lines.append("")
        if trace.not_traced is not None:
            lines.append(f"- ⚠️ {trace.not_traced}")
        if trace.error is not None:
            lines.append(f"- ❌ upgrade failed: {trace.error}")
        elif trace.round_trip is not None:
            mark = "✅" if trace.round_trip == "ok" else "❌"
            lines.append(f"- {mark} downgrade and upgrade again: {trace.round_trip}")
        if trace.models_differ:
            lines.append("- ❌ models and database differ at the head")
        lines += release_lines(trace.running_release)
        lines.append("")
    return lines


def release_lines(check) -> list[str]:
    """In the expand phase: what the running release's models did after it."""
    if check is None:
        return []
    if check.error is not None:
        return [f"- ⚠️ not checked against the running release: {check.error}"]
    if check.failures:
        failed = "; ".join(
            f"{each['class']} {each['op']}: {each['error']}" for each in check.failures
        )
        return [f"- ❌ the running release (the base's models): {failed}"]
    classes = ", ".join(check.checked) or "no class of this database"
    return [
        "- ✅ the running release (the base's models) inserts, selects, updates "
        f"and deletes a row of {classes}"
    ]


def statement_row(statement) -> str:
    """One traced statement as a table row."""
    locks = "; ".join(
        f"{lock.mode} on {lock.relation} ({lock.blocks}"
        + (f", since line {lock.since_line})" if lock.since_line else ")")
        for lock in statement.locks
        if not lock.index
    )
    done = ", ".join(
        part
        for part in (
            "rewrote " + ", ".join(statement.rewrites) if statement.rewrites else "",
            statement.algorithm or "",
        )
        if part
    )
    sql = statement.short().replace("|", "\\|")
    if not statement.ok:
        sql += f" — failed: {statement.error}"
    sql = f"`` {sql} ``" if "`" in sql else f"`{sql}`"
    line = statement.line if statement.line is not None else ""
    return f"| {line} | {sql} | {statement.ms:.1f} | {locks or '—'} | {done or '—'} |"

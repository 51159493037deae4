"""The review as Markdown, for a pull-request comment (``report_json.py``: as JSON;
``report_trace.py``: what ``--trace`` measured)."""

from flask_alembic_kit.offline import OFFLINE_BATCH_REFUSED
from tools.lint import Finding
from tools.report_trace import each_trace, measured_section, traced_on

DIALECT_NAMES = {"postgresql": "PostgreSQL", "mysql": "MySQL", "sqlite": "SQLite"}


def as_markdown(review) -> str:
    """The review as Markdown, to paste into or post as a pull-request comment."""
    labelled = is_labelled(review)
    lines = [headline(review), "", summary(review), ""]
    lines += traced_on(review, labelled)
    lines += batch_note(review)
    lines += graph_section(review)
    lines += squash_section(review)
    for history in review.histories:
        for item in history.revisions:
            lines += revision_section(item, labelled)
            lines += measured_section(item, history.traces)
    if review.traced():
        seconds = sum(trace.seconds for _, trace in each_trace(review))
        lines.append(f"Traced in {seconds:.1f} s.")
    return "\n".join(lines).rstrip() + "\n"


def is_labelled(review) -> bool:
    """Whether the report names the database of each part: when it shows more than
    the default database's history."""
    return sum(history.shown() for history in review.histories) > 1


def needs_a_live_database(rendered) -> bool:
    """Whether SQL did not render because batch mode copies a table (SQLite)."""
    return (
        rendered is not None
        and rendered.error is not None
        and OFFLINE_BATCH_REFUSED in rendered.error
    )


def batch_note(review) -> list[str]:
    """Once per report: SQLite's table copies render only on a live database."""
    if not any(
        needs_a_live_database(sql.get("sqlite"))
        for item in review.revisions
        for sql in (item.upgrade_sql, item.downgrade_sql)
    ):
        return []
    where = (
        "the Measured sections show the statements they ran"
        if review.traced()
        else "`--trace` runs them and shows each statement"
    )
    return [
        "> SQLite: batch operations (a table copy) render only on a live database, "
        f"so their SQL is not shown below; {where}.",
        "",
    ]


def headline(review) -> str:
    """What was reviewed, against what."""
    count = len(review.revisions)
    revisions = f"{count} revision{'s' if count != 1 else ''}"
    if review.squash is not None:
        revisions += " and a squash"
    if review.base is None:
        return f"## Migration review: all {revisions}"
    return f"## Migration review: {revisions} changed since `{review.base}`"


def summary(review) -> str:
    """One line: clean, or how many findings need a fix or an acknowledgement."""
    open_count = len(review.unacknowledged())
    acknowledged = len(review.findings()) - open_count
    tail = f" · {acknowledged} acknowledged" if acknowledged else ""
    if open_count:
        plural = "s" if open_count != 1 else ""
        return f"❌ **{open_count} finding{plural} to fix or acknowledge**{tail}"
    return f"✅ **Clean**{tail}"


def graph_section(review) -> list[str]:
    """The graph checks of each history shown (each database has its own): heads,
    and any graph finding."""
    lines = ["### Revision graph", ""]
    labelled = is_labelled(review)
    for history in review.histories:
        if not history.shown():
            continue
        if labelled:
            lines += [f"Database `{history.name}`:", ""]
        lines += history_graph_lines(history, review.base)
        lines.append("")
    return lines


def history_graph_lines(history, base: str | None) -> list[str]:
    """One history's graph checks: its heads, its base's, and its graph findings."""
    heads = ", ".join(f"`{head}`" for head in history.heads) or "none"
    mark = "✅" if len(history.heads) == 1 else "❌"
    lines = [f"- {mark} head{'s' if len(history.heads) != 1 else ''}: {heads}"]
    if base is not None:
        base_heads = ", ".join(f"`{head}`" for head in history.base_heads) or "none"
        lines.append(f"- base `{base}` head: {base_heads}")
    lines += [finding_line(item) for item in history.graph_findings]
    if not history.graph_findings:
        lines.append("- ✅ new revisions build on the base's head; no id is reused")
    return lines


def squash_section(review) -> list[str]:
    """A squash on the branch: the baseline, what it replaces, the schema check."""
    squash = review.squash
    if squash is None:
        return []
    count = len(squash.replaced)
    lines = [
        f"### Squash: `{squash.baseline.revision}` is the first revision now",
        "",
        f"`{squash.path}` replaces {count} revision{'s' if count != 1 else ''}, "
        "whose files the branch deletes:",
        "",
        *(f"- `{rev}` {message}" for rev, message in squash.replaced),
        "",
    ]
    if squash.schemas:
        lines.append(
            f"- ✅ the schema at `{squash.baseline.revision}` is identical on "
            f"{', '.join(squash.schemas)}: the old revisions and the baseline, each "
            "run on an empty database"
        )
    lines += [
        f"- ❌ not identical on {database} (see squash-changed-schema above)"
        for database in squash.differences
    ]
    lines += [
        f"- Databases at `{squash.baseline.revision}` or later need nothing; one at "
        "a replaced revision must first be upgraded with a release from before "
        "the squash (`alembic upgrade` says so).",
        "",
    ]
    return lines


def finding_line(item: Finding) -> str:
    """A finding as a list item: rule, where, why, what instead, acknowledgement."""
    also = f" (squawk: {', '.join(item.also)})" if item.also else ""
    source = f" ({item.source})" if item.source in ("squawk", "trace") else ""
    where = f" · line {item.line}" if item.line else ""
    if item.source == "graph":
        where = f" · `{item.revision}`"
    op = f" `{item.op}`" if item.op else ""
    if item.acknowledged is not None:
        return (
            f"- ✅ **{item.rule}**{source}{also}{where}{op} — acknowledged "
            f"(line {item.acknowledged.line}): {item.acknowledged.reason}"
        )
    return (
        f"- ❌ **{item.rule}**{source}{also}{where}{op}  \n"
        f"  Why: {item.why}  \n  Instead: {item.instead}"
    )


def revision_section(item, labelled: bool = False) -> list[str]:
    """One revision: identity (and, ``labelled``, its database), ops, findings,
    notes, then the SQL folded away."""
    source = item.source
    parent = source.down_revision or "none (first revision)"
    database = f" · database `{item.database}`" if labelled else ""
    lines = [
        f"### `{source.revision}` {source.message}{database}",
        "",
        f"`{item.path}` ({item.status}) · revises `{parent}`",
        "",
    ]
    if item.phase is not None:
        lines += [item.phase.text(), ""]
    for function in ("upgrade", "downgrade"):
        ops = [op for op in source.ops if op.function == function]
        lines.append(f"**{function}()**" + ("" if ops else ": no ops"))
        lines += [f"- line {op.line}: `{op.text}`" for op in ops]
        lines.append("")
    lines.append("**Findings**" + ("" if item.findings else ": none"))
    lines += [finding_line(finding) for finding in item.findings]
    lines.append("")
    if item.notes:
        lines += [f"> {note}  " for note in item.notes] + [""]
    lines += sql_block("Upgrade SQL", item.upgrade_sql)
    lines += sql_block("Downgrade SQL", item.downgrade_sql)
    return lines


def sql_block(title: str, rendered: dict) -> list[str]:
    """The SQL per database in a folded block; SQLite only where it differs."""
    lines = ["<details>", f"<summary>{title}</summary>", ""]
    for dialect, result in rendered.items():
        others = [r.sql for d, r in rendered.items() if d != "sqlite"]
        if dialect == "sqlite" and result.error is None and result.sql in others:
            continue
        if dialect == "sqlite" and needs_a_live_database(result):
            continue  # said once at the top of the report
        lines.append(f"{DIALECT_NAMES[dialect]}:")
        lines.append("")
        if result.error is not None:
            lines += [f"> not rendered: {result.error}", ""]
            continue
        lines += ["```sql", result.sql.strip(), "```", ""]
    return lines + ["</details>", ""]

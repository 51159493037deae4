"""The review as Markdown (for a pull-request comment) or as JSON."""

import json

from tools.lint import Finding

DIALECT_NAMES = {"postgresql": "PostgreSQL", "mysql": "MySQL", "sqlite": "SQLite"}


def as_json(review) -> str:
    """The review as JSON: base, heads, each revision with SQL and findings."""
    data = {
        "base": review.base,
        "merge_base": review.merge_base,
        "heads": review.heads,
        "base_heads": review.base_heads,
        "clean": not review.unacknowledged(),
        "unacknowledged": len(review.unacknowledged()),
        "acknowledged": len(review.findings()) - len(review.unacknowledged()),
        "graph_findings": [item.as_dict() for item in review.graph_findings],
        "revisions": [revision_data(item) for item in review.revisions],
    }
    return json.dumps(data, indent=2) + "\n"


def revision_data(item) -> dict:
    """One revision's part of the JSON report."""
    source = item.source
    return {
        "revision": source.revision,
        "message": source.message,
        "down_revision": source.down_revision,
        "path": item.path,
        "status": item.status,
        "ops": [
            {"function": op.function, "line": op.line, "op": op.text}
            for op in source.ops
        ],
        "sql": {
            direction: {
                dialect: {"sql": rendered.sql, "error": rendered.error}
                for dialect, rendered in sql.items()
            }
            for direction, sql in (
                ("upgrade", item.upgrade_sql),
                ("downgrade", item.downgrade_sql),
            )
        },
        "findings": [finding.as_dict() for finding in item.findings],
        "notes": item.notes,
    }


def as_markdown(review) -> str:
    """The review as Markdown, to paste into or post as a pull-request comment."""
    lines = [headline(review), "", summary(review), ""]
    lines += graph_section(review)
    for item in review.revisions:
        lines += revision_section(item)
    return "\n".join(lines).rstrip() + "\n"


def headline(review) -> str:
    """What was reviewed, against what."""
    count = len(review.revisions)
    revisions = f"{count} revision{'s' if count != 1 else ''}"
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
    """The graph checks: heads, and any graph finding."""
    heads = ", ".join(f"`{head}`" for head in review.heads) or "none"
    lines = ["### Revision graph", ""]
    mark = "✅" if len(review.heads) == 1 else "❌"
    lines.append(f"- {mark} head{'s' if len(review.heads) != 1 else ''}: {heads}")
    if review.base is not None:
        base_heads = ", ".join(f"`{head}`" for head in review.base_heads) or "none"
        lines.append(f"- base `{review.base}` head: {base_heads}")
    lines += [finding_line(item) for item in review.graph_findings]
    if not review.graph_findings:
        lines.append("- ✅ new revisions build on the base's head; no id is reused")
    return lines + [""]


def finding_line(item: Finding) -> str:
    """A finding as a list item: rule, where, why, what instead, acknowledgement."""
    also = f" (squawk: {', '.join(item.also)})" if item.also else ""
    source = " (squawk)" if item.source == "squawk" else ""
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


def revision_section(item) -> list[str]:
    """One revision: identity, ops, findings, notes, then the SQL folded away."""
    source = item.source
    parent = source.down_revision or "none (first revision)"
    lines = [
        f"### `{source.revision}` {source.message}",
        "",
        f"`{item.path}` ({item.status}) · revises `{parent}`",
        "",
    ]
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
        lines.append(f"{DIALECT_NAMES[dialect]}:")
        lines.append("")
        if result.error is not None:
            lines += [f"> not rendered: {result.error}", ""]
            continue
        lines += ["```sql", result.sql.strip(), "```", ""]
    return lines + ["</details>", ""]

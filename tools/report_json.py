"""The review as JSON: every revision, finding, rendered statement and trace, for
tools that read the review (``migration-review --format json``)."""

import json

from tools.lint import Finding


def as_json(review) -> str:
    """The review as JSON: base, heads, each revision with SQL and findings, each
    finding and revision with the database whose history it is about. ``heads``,
    ``base_heads`` and ``traced`` are the default database's; ``databases`` has
    every database's."""
    data = {
        "base": review.base,
        "merge_base": review.merge_base,
        "heads": review.heads,
        "base_heads": review.base_heads,
        "clean": not review.unacknowledged(),
        "unacknowledged": len(review.unacknowledged()),
        "acknowledged": len(review.findings()) - len(review.unacknowledged()),
        "graph_findings": [
            finding_data(item, history.name)
            for history in review.histories
            for item in history.graph_findings
        ],
        "revisions": [
            revision_data(item, history.traces)
            for history in review.histories
            for item in history.revisions
        ],
        "databases": {
            history.name: history_data(history) for history in review.histories
        },
    }
    if review.squash is not None:
        squash = review.squash
        data["squash"] = {
            "baseline": squash.baseline.revision,
            "path": squash.path,
            "replaced": [rev for rev, _ in squash.replaced],
            "schema": {
                **squash.schemas,
                **dict.fromkeys(squash.differences, "differs"),
            },
        }
    if review.default.traces:
        data["traced"] = traced_data(review.default.traces)
    return json.dumps(data, indent=2) + "\n"


def finding_data(finding: Finding, database: str) -> dict:
    """A finding's part of the JSON report, with the database it is about."""
    return {**finding.as_dict(), "database": database}


def history_data(history) -> dict:
    """One database's history in the JSON report: where it is, its heads, and
    where its revisions were traced."""
    database = history.database
    data = {
        "section": database.section,
        "version_table": database.version_table,
        "heads": history.heads,
        "base_heads": history.base_heads,
        "revisions": [item.source.revision for item in history.revisions],
    }
    if history.traces:
        data["traced"] = traced_data(history.traces)
    return data


def traced_data(traces: dict) -> dict:
    """Where one history's revisions were traced: per backend, the server, the
    rows generated and what each table got, an error, the time taken."""
    return {
        backend: {
            "server_version": database_trace.server_version,
            "rows": database_trace.rows,
            "filled": database_trace.filled,
            "error": database_trace.error,
            "seconds": database_trace.seconds,
        }
        for backend, database_trace in traces.items()
    }


def revision_data(item, traces: dict) -> dict:
    """One revision's part of the JSON report."""
    source = item.source
    data = {
        "revision": source.revision,
        "database": item.database,
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
        "phase": item.phase.as_dict() if item.phase is not None else None,
        "findings": [finding_data(finding, item.database) for finding in item.findings],
        "notes": item.notes,
    }
    if traces:
        data["trace"] = {
            database: {
                "server_version": traces[database].server_version,
                "rows": traces[database].rows,
                **revision_trace.as_dict(),
            }
            for database, revision_trace in item.measured.items()
        }
    return data

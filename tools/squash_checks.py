"""What ``migration-squash`` refuses, or says it leaves out, before it writes
anything: revisions not committed, types and comments only PostgreSQL keeps when
no PostgreSQL is at hand, and the data steps a baseline does not carry over."""

import ast
import re
from pathlib import Path

import sqlalchemy as sa
from alembic.script import Script

from tools import gitrepo
from tools.revision_ast import call_name
from tools.revision_source import RevisionSource

# Revision code that asks for more than SQLite keeps: without PostgreSQL, the
# baseline would lose an enum type, a time zone, a UUID type or a comment.
NEEDS_POSTGRESQL = re.compile(
    r"\b(Enum|ENUM|Uuid|UUID|Interval|INTERVAL|ARRAY|JSONB)\s*\("
    r"|\bcomment\s*=|_comment\(|\btimezone\s*=\s*True|DateTime\(True"
    r"|\bpostgresql[._]|create_enum_type"
)

# Calls in an ``upgrade()`` that do more than change the schema: the baseline does
# not carry them over.
DATA_STEPS = {"execute", "bulk_insert", "fill_column", "exec_driver_sql"}


class SquashError(Exception):
    """A squash that cannot be made: one line, exit status 2, nothing written."""


def refuse_uncommitted(versions: Path) -> None:
    """The squash deletes files under ``versions``: they must be committed, so that
    the change can be reviewed and undone."""
    try:
        root = gitrepo.checkout_root(versions)
    except gitrepo.ReviewInputError:
        raise SquashError(
            f"{versions} is not in a git checkout: commit the revisions first, so "
            "that the squash can be reviewed and undone"
        ) from None
    # git leaves out what .gitignore names; Python's bytecode is left out always: a
    # checkout without that .gitignore line still has it after any alembic command.
    status = gitrepo.git(
        root, "status", "--porcelain", "--untracked-files=all", "--", str(versions)
    )
    changes = [
        line[3:]  # after "XY ", the status letters
        for line in status.splitlines()
        if not is_bytecode(line[3:])
    ]
    if changes:
        first = changes[0]
        folder = versions.resolve().relative_to(root.resolve()).as_posix()
        raise SquashError(
            f"uncommitted changes under {folder}/ ({first}): commit or stash them first"
        )


def is_bytecode(path: str) -> bool:
    """Whether a path git reports is Python's bytecode cache, never a change."""
    return "__pycache__/" in f"/{path}" or path.endswith((".pyc", ".pyo"))


def data_steps(replaced: list[Script]) -> list[str]:
    """The replaced revisions whose ``upgrade()`` does more than schema operations
    (SQL of its own, rows written), one line each: what the baseline does not carry
    over."""
    found = []
    for script in replaced:
        tree = RevisionSource.parse(Path(script.path)).tree
        # upgrade() and the helpers it may call: everything but downgrade().
        parts = [node for node in tree.body if getattr(node, "name", "") != "downgrade"]
        calls = sorted(
            {
                (node.lineno, call_name(node))
                for part in parts
                for node in ast.walk(part)
                if isinstance(node, ast.Call) and call_name(node) in DATA_STEPS
            }
        )
        if calls:
            where = ", ".join(f"{name} (line {line})" for line, name in calls)
            found.append(f"{script.revision} {script.doc}: {where}")
    return found


def refuse_lost_types(replaced: list[Script], postgresql: sa.URL | None) -> None:
    """Without PostgreSQL, refuse a history whose types or comments SQLite loses."""
    if postgresql is not None:
        return
    uses = {}
    for script in replaced:
        text = Path(script.path).read_text(encoding="utf-8")
        for match in NEEDS_POSTGRESQL.finditer(text):
            uses.setdefault(match[0].strip("(=._ "), script.revision)
    if uses:
        what = ", ".join(f"{name} ({revision})" for name, revision in uses.items())
        raise SquashError(
            f"the revisions use what SQLite does not keep: {what}; give --postgresql "
            "SERVER_URL (or set TEST_POSTGRESQL_URL) so that the baseline keeps it"
        )

"""Offline mode (``alembic upgrade A:B --sql``): the script's first lines, a range
with no revision in it refused rather than rendered as an empty script, and a
script printed only once it is whole: a revision that cannot be rendered (batch
mode on SQLite, which must read the table) prints its one line, not half a
script."""

import io
import re
import sys

from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError

from flask_alembic_kit.settings import Settings
from flask_alembic_kit.timeouts import script_header


def write_timeouts(migration_context: MigrationContext, settings: Settings) -> None:
    """Start the script with the timeouts the online run sets on its connection, and a
    comment saying where their values come from."""
    header = script_header(migration_context.dialect, settings)
    if not header:  # SQLite: no timeouts
        return
    comment, *statements = header
    migration_context.impl.static_output(comment)
    for statement in statements:
        migration_context.execute(statement)


class RenderedRevisions:
    """The revisions a script rendered, through an ``on_version_apply`` hook."""

    def __init__(self, config) -> None:
        """None yet. Printed on the terminal, the script is kept until it is
        whole; a caller's own buffer (``config.output_buffer``: the review, which
        notes which op wrote each statement) gets each statement as it comes."""
        self.steps: list = []
        self.kept = config.output_buffer is None
        self.script = io.StringIO() if self.kept else config.output_buffer

    def write_out(self, config, migration_context: MigrationContext) -> None:
        """Print the whole script, when it was kept; fail instead when the range
        held no revision (``upgrade head:base``)."""
        self.refuse_empty(config, migration_context)
        if self.kept:
            sys.stdout.write(self.script.getvalue())

    def note(self, step, **kwargs) -> None:
        """The hook: one more revision rendered."""
        self.steps.append(step)

    def refuse_empty(self, config, migration_context: MigrationContext) -> None:
        """Fail when the range held no revision, naming its ends as the user typed
        them (``upgrade head:base``)."""
        if self.steps or held_back(migration_context):
            return
        typed = getattr(config.cmd_opts, "revision", None) or ""
        if typed.count(":") == 1:
            start, end = typed.split(":")
        else:
            start = (
                migration_context.environment_context.get_starting_revision_argument()
            )
            end = migration_context.environment_context.get_revision_argument()
        raise CommandError(
            f"no revisions lead from {start or 'base'} to {end or 'base'} this way: "
            "check the order of the range (upgrade goes old:new, downgrade new:old)"
        )


def held_back(migration_context: MigrationContext) -> bool:
    """Whether ``-x phase=expand`` held every revision of the range back: the
    script is empty, as asked (``expand_phase.py`` said what waits)."""
    steps_of = migration_context.opts.get("fn")
    return bool(getattr(steps_of, "waiting", None))


# Alembic's words for a batch operation that --sql cannot render: SQLite's table
# copy must read the table first (operations/batch.py).
OFFLINE_BATCH = "This operation cannot proceed in --sql mode; batch mode"
# Ours instead (migration-review's report recognises it).
OFFLINE_BATCH_REFUSED = "--sql cannot render a revision's batch operation"


def offline_batch_refused(error: CommandError) -> CommandError:
    """The error for a revision whose batch operation ``--sql`` cannot render on
    SQLite: what works instead."""
    table = re.search(r'reflect the table "([^"]+)"', str(error))
    where = f" on {table[1]}" if table else ""
    return CommandError(
        f"{OFFLINE_BATCH_REFUSED}{where} for SQLite: its "
        "table copy reads the table from the database. Run alembic upgrade on the "
        "database itself, or render the script for a server's URL (DATABASE_URL="
        "postgresql://... or mysql://...); nothing was printed"
    )

"""``alembic -x phase=expand upgrade head``: the revisions the running release
survives, applied before the new release starts (docs/deploys.md).

Each history stops before its first revision that is not ``expand``
(``phases.py``); every revision after that one waits with it. One line names
the revisions that wait and the command that applies them: plain
``alembic upgrade head``, once every instance runs the new release. ``--sql``
renders the same revisions; each bind's history stops at its own, and its line
names it.
"""

import logging

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from flask_alembic_kit.internals import (
    migration_steps_function,
    outer_context,
    step_revision,
)
from flask_alembic_kit.phases import EXPAND, MERGE, declared_phase
from flask_alembic_kit.run_lock import command_of
from flask_alembic_kit.serving import parent_ids

log = logging.getLogger("alembic.env")

# What ``-x phase=`` accepts: the expand phase alone, or every revision (the
# default, as without ``-x``).
PHASE_CHOICES = ("expand", "all")


def requested_phase(config) -> str:
    """The ``-x phase=...`` of the command line, checked; ``all`` when absent."""
    values = [
        argument.partition("=")[2].strip()
        for argument in getattr(config.cmd_opts, "x", None) or []
        if argument.partition("=")[0].strip() == "phase"
    ]
    phase = values[-1] if values else "all"
    if phase not in PHASE_CHOICES:
        raise CommandError(
            f"-x phase={phase}: use -x phase=expand (the revisions the running "
            "release survives) or leave it out (every revision)"
        )
    command = command_of(config)
    if phase == "expand" and command not in (None, "upgrade"):
        raise CommandError(
            f"-x phase=expand goes with upgrade, not {command}: it holds back the "
            "revisions the running release would not survive"
        )
    return phase


def phase_options(config, database: str | None = None) -> dict:
    """The ``context.configure`` option that limits an upgrade to the expand phase
    (``fn``, the command's own list of steps, filtered), when it is asked for;
    ``database``: a bind's name, which its line starts with."""
    if requested_phase(config) != "expand":
        return {}
    environment = outer_context()
    prefix = f"database {database}: " if database else ""
    steps_of = migration_steps_function(environment)
    return {"fn": ExpandPhase(steps_of, environment.script, prefix)}


class ExpandPhase:
    """The command's list of revision steps, cut before each history's first
    revision that is not expand; says once what waits."""

    def __init__(self, steps_of, script: ScriptDirectory, prefix: str = "") -> None:
        """``steps_of``: the upgrade's own function; ``script``: the history;
        ``prefix`` starts its line."""
        self.steps_of = steps_of
        self.script = script
        self.prefix = prefix
        self.waiting: list = []
        self.said = False

    def __call__(self, heads, migration_context) -> list:
        """The steps to run: those before the first revision held back."""
        held: set[str] = set()
        steps, self.waiting = [], []
        for step in self.steps_of(heads, migration_context):
            revision = step_revision(step)
            parents = set(parent_ids(self.script, revision))
            phase = declared_phase(revision.module)
            if phase not in (EXPAND, MERGE) or parents & held:
                held.add(revision.revision)
                self.waiting.append(revision)
            else:
                steps.append(step)
        self.say(self.waiting)
        return steps

    def say(self, waiting: list) -> None:
        """One line: what waits for the contract phase, or that nothing does; and
        a warning for an expand revision held behind another: the release that
        has it answers 503 until the contract step, which waits for it."""
        if self.said:
            return
        self.said = True
        stuck = [
            each.revision for each in waiting if declared_phase(each.module) == EXPAND
        ]
        if stuck:
            log.warning(
                "%s%s: expand, held back behind a revision that is not: this release "
                "needs it and cannot serve until `alembic upgrade head`; ship the "
                "contract revision in one release and what follows it in the next",
                self.prefix,
                ", ".join(stuck),
            )
        if not waiting:
            log.info(
                "%sExpand phase: nothing waits for the contract phase.", self.prefix
            )
            return
        names = ", ".join(
            f"{each.revision} ({declared_phase(each.module)})" for each in waiting
        )
        log.info(
            "%sExpand phase: waiting for the contract phase: %s. Apply them "
            "with `alembic upgrade head` once every instance runs this release.",
            self.prefix,
            names,
        )

"""What ``alembic/env.py`` adds for deploys without downtime (README), in one
object: with ``-x phase=expand``, the command's revisions cut before the first the
running release would not survive (``expand_phase.py``); and after each revision,
the record of which releases may serve the database (``serving.py``)."""

from dataclasses import dataclass

from flask_alembic_kit.expand_phase import phase_options
from flask_alembic_kit.serving import ServingRecord


@dataclass(frozen=True)
class DeployPhases:
    """``options`` for ``context.configure``; ``record``, an ``on_version_apply``
    hook."""

    options: dict
    record: ServingRecord


def deploy_phases(context, bind: str | None, version_table: str) -> DeployPhases:
    """The run's deploy phases, from Alembic's ``context`` (its ``-x`` arguments and
    its script directory), for the database ``bind`` and its version table."""
    return DeployPhases(
        options=phase_options(context.config, bind),
        record=ServingRecord(context.script, version_table),
    )

"""What an ``alembic`` command's arguments say about which databases it acts on:
the revision ids it names (``upgrade ab12``, ``downgrade ab12:cd34``), and whether
it takes a step relative to where each database is (``downgrade -1``), and the
options ``alembic revision`` can give one history only."""

import re

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from flask_alembic_kit.run_lock import command_of

# A revision argument that names revisions (``ab12``, ``ab12:cd34``, ``ab12@head``)
# rather than a place every history has (``head``, ``base``, ``-1``).
NAMED_REVISION = re.compile(r"[0-9a-f]{4,}", re.IGNORECASE)

# A step relative to where each database is: ``-1``, ``+2``, ``head-1``, ``base+1``.
RELATIVE_STEP = re.compile(r"(heads?|base)?[+-]\d+")


def names_revisions(argument: str | None) -> list[str]:
    """The revision ids a command's argument names: ``ab12:cd34`` names two,
    ``ab12@head`` and ``ab12-1`` one; ``head``, ``base`` and ``-1`` none."""
    if not argument:
        return []
    parts = [re.sub(r"@.*|[-+]\d+$", "", part) for part in str(argument).split(":")]
    return [part for part in parts if NAMED_REVISION.fullmatch(part)]


def has_revisions(script: ScriptDirectory, revisions: list[str]) -> bool:
    """Whether a history has every one of these revision ids."""
    try:
        return all(script.get_revision(each) is not None for each in revisions)
    except CommandError:
        return False


def named_by(options) -> list[str]:
    """The revision ids a command names: ``upgrade ab12``, ``stamp ab12 cd34``."""
    arguments = getattr(options, "revisions", None) or [
        getattr(options, "revision", None)
    ]
    return [name for argument in arguments for name in names_revisions(argument)]


def relative_step(options) -> str | None:
    """The relative step a command takes (``downgrade -1``, ``upgrade +2``)."""
    argument = getattr(options, "revision", None)
    return argument if argument and RELATIVE_STEP.fullmatch(argument) else None


# ``alembic revision`` options that are about one history: given to every
# database, they would write one revision id twice, or fail in the other history.
ONE_HISTORY_OPTIONS = {
    "rev_id": "--rev-id",
    "head": "--head",
    "splice": "--splice",
    "branch_label": "--branch-label",
    "version_path": "--version-path",
    "depends_on": "--depends-on",
}


def refuse_one_history_options(config: Config, configs: list[Config]) -> None:
    """Refuse an option that is about one history when the command would run on
    more than one database."""
    if not configs or command_of(config) != "revision":
        return
    options = config.cmd_opts
    for option, flag in ONE_HISTORY_OPTIONS.items():
        value = getattr(options, option, None)
        if value and not (option == "head" and value in ("head", "base")):
            raise CommandError(
                f"{flag} is about one history, and this command would run on every "
                "database: choose one with -x bind=default or -n NAME"
            )

"""What to do when Alembic refuses a command because of the history: a database
behind head (autogenerate), a history with several heads, a revision the code does
not know (newer code's, or one a squash removed). Alembic's own messages say what
is wrong, not what to do."""

import re
from contextlib import contextmanager

from alembic import context
from alembic.util import CommandError

from flask_alembic_kit.code_revisions import squashed_into
from flask_alembic_kit.internals import command_function

# Alembic's wording for a revision id the history does not have (script/base.py).
UNKNOWN_REVISION = re.compile(r"Can't locate revision identified by '([^']+)'")


@contextmanager
def behind_head_explained(revision_now):
    """Say what to do when autogenerate refuses a database that is not at head,
    rather than Alembic's bare "Target database is not up to date."."""
    try:
        yield
    except CommandError as error:
        # Alembic's own wording (autogenerate/api.py), pinned by
        # test_autogenerate_on_a_database_behind_says_what_to_do.
        if str(error) != "Target database is not up to date.":
            said = explained(error, revision_now)
            if said is None:
                raise
            raise said from error
        heads = sorted(context.get_context().script.get_heads())
        if len(heads) > 1:
            raise CommandError(
                f"the history has {len(heads)} heads ({', '.join(heads)}) and the "
                f"database is at {revision_now()}: merge them first ({MERGE}), then "
                "alembic upgrade head"
            ) from error
        # Mid-deploy, contract revisions wait: check compares at head, after them.
        deploy = is_check(context.config.cmd_opts)
        when = " (in a rolling deploy: after the contract step)" if deploy else ""
        raise CommandError(
            f"the database is at {revision_now()}, behind head {heads[0]}: "
            f"run alembic upgrade head first{when}"
        ) from error


def is_check(options) -> bool:
    """Whether the command line runs ``alembic check``."""
    if getattr(options, "cmd", None) is None:
        return False
    return command_function(options)[0].__name__ == "check"


# Alembic's words for a command that names "head" in a history with several.
SEVERAL_HEADS = "Multiple head revisions are present for given argument 'head'"
MERGE = 'alembic merge heads -m "Merge"'


def explained(error: CommandError, revision_now) -> CommandError | None:
    """Alembic's error said as what to do: a revision the code does not have
    (``squash_explained``), or a history with several heads. ``None`` for any
    other error."""
    if str(error).startswith(SEVERAL_HEADS):
        return CommandError(
            "the history has several heads, so 'head' names none of them: merge "
            f"them ({MERGE}), or name one (<revision> or <branch>@head), or all of "
            "them (heads)"
        )
    return squash_explained(error, revision_now)


def squash_explained(error: CommandError, revision_now) -> CommandError | None:
    """Say what to do about a revision the code does not have, rather than Alembic's
    "Can't locate revision": the database is at one that newer code wrote, or at
    one a squash removed, or a command named one a squash removed. ``None`` for any
    other error."""
    match = UNKNOWN_REVISION.fullmatch(str(error))
    script = getattr(context, "script", None)
    if match is None or script is None:
        return None
    baseline = squashed_into(script).get(match[1])
    at_it = match[1] in (revision_now() or "").split(", ")
    if baseline is None and at_it:  # what the guard says of it too (state.py)
        heads = ", ".join(sorted(script.get_heads()))
        return CommandError(
            f"the database is at {match[1]}, a revision this code does not know "
            f"(head {heads}): it was migrated by newer code. Deploy that code, or "
            "check that DATABASE_URL names this project's database"
        )
    if baseline is None:
        return None
    if at_it:
        return CommandError(
            f"the database is at {match[1]}, which was squashed into the baseline "
            f"{baseline}; upgrade it to {baseline} with a release that still has the "
            "old revisions first"
        )
    return CommandError(
        f"{match[1]} was squashed into the baseline {baseline}: the history starts "
        f"at {baseline} now"
    )

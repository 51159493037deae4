"""The code's revisions, as the guard and the errors compare a database with them:
the head(s), every revision id the code knows, what migration-squash replaced, and
each revision's declared deploy phase (``phases.py``). Read once per process."""

import functools
from dataclasses import dataclass, field

from alembic.script import ScriptDirectory

from flask_alembic_kit.phases import declared_phase
from flask_alembic_kit.sections import history_config
from flask_alembic_kit.serving import parent_ids


@dataclass(frozen=True)
class CodeRevisions:
    """The revisions of the code: its head(s) and every revision id it knows."""

    heads: tuple[str, ...]
    known: frozenset[str]
    squashed: dict[str, str]  # a revision migration-squash replaced: its baseline
    version_table: str = "alembic_version"
    phases: dict[str, str] = field(default_factory=dict)  # declared (phases.py)
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def with_ancestors(self, revisions) -> set[str]:
        """The revisions and every revision below them."""
        found, todo = set(), list(revisions)
        while todo:
            revision = todo.pop()
            if revision not in found:
                found.add(revision)
                todo += self.parents.get(revision, ())
        return found

    def pending(self, database: tuple[str, ...]) -> set[str]:
        """The revisions between a database the code knows and the code's head."""
        return self.with_ancestors(self.heads) - self.with_ancestors(database)


@functools.cache
def code_revisions(alembic_config: str, section: str = "alembic") -> CodeRevisions:
    """Read the revision scripts named by an ``alembic.ini`` (the default database's
    section, or a bind's), once per process.

    They cannot change while the process runs, so the files are parsed only once.
    """
    config = history_config(alembic_config, section)
    script = ScriptDirectory.from_config(config)
    revisions = list(script.walk_revisions())
    return CodeRevisions(
        heads=tuple(sorted(script.get_heads())),
        known=frozenset(each.revision for each in revisions),
        squashed=squashed_into(script),
        version_table=config.get_main_option("version_table", "alembic_version"),
        phases={each.revision: declared_phase(each.module) for each in revisions},
        parents={each.revision: parent_ids(script, each) for each in revisions},
    )


def squashed_into(script: ScriptDirectory) -> dict[str, str]:
    """Each revision id squashed away by ``migration-squash``, and the baseline that
    replaced it (the ``squashed`` tuple of a first revision)."""
    found = {}
    for base in script.get_bases():
        module = script.get_revision(base).module
        found |= dict.fromkeys(getattr(module, "squashed", ()), base)
    return found

"""``migration-squash REV``: REV and every revision before it become one baseline
revision file, with REV's own id, that creates the schema as it is at REV.

Databases at REV or past it keep working with no stamp: their ``alembic_version``
names a revision that still exists. The revisions after REV are not touched.

The schema comes from the old history, never from today's models: throw-away
databases are migrated to REV and reflected (``baseline.py`` makes the ops). Before
anything is written, the baseline must build the schema the old revisions build, on
SQLite and every server at hand (docs/squash.md).
"""

import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError

from flask_alembic_kit.errors import first_line
from tools import baseline, gitrepo
from tools.squash_arguments import parse_arguments
from tools.squash_baseline import baseline_file, reflected_at
from tools.squash_checks import (
    SquashError,
    data_steps,
    refuse_lost_types,
    refuse_uncommitted,
)
from tools.squash_review import (
    first_differences,
    quiet_migrations,
    schema_at,
)
from tools.trace_findings import DATABASE_NAMES
from tools.trace_servers import TraceError, server_urls


@dataclass
class Squash:
    """What a squash replaces, and the baseline that replaces it."""

    target: Script
    replaced: list[Script]  # the first revision first
    script_folder: str  # where script.py.mako is
    earlier_squashed: tuple[str, ...] = ()
    data_steps: list[str] = field(default_factory=list)
    verified_on: list[str] = field(default_factory=list)
    baseline_name: str = ""
    baseline_text: str = ""

    @property
    def squashed(self) -> tuple[str, ...]:
        """Every id the baseline stands for, but its own: earlier squashes too."""
        ids = [script.revision for script in self.replaced[:-1]]
        return (*self.earlier_squashed, *ids)

    @property
    def message(self) -> str:
        """The baseline's message: the first line ``alembic history`` shows, and
        the end of its file name."""
        return f"Squashed baseline of {len(self.replaced)} revisions"


def replaced_revisions(script: ScriptDirectory, target_text: str) -> list[Script]:
    """The revisions a squash at ``target_text`` replaces, the first one first; a
    ``SquashError`` when the history does not allow the squash."""
    try:
        target = script.get_revision(target_text)
    except CommandError:
        target = None
    if target_text == "base":
        raise SquashError(
            "base is the empty database, not a revision: nothing to squash"
        )
    if target is None or not target_text:
        raise SquashError(f"unknown revision: {target_text!r} is not in the history")
    if target.down_revision is None:
        raise SquashError(
            f"{target.revision} is the first revision already: nothing to squash"
        )
    replaced = list(script.iterate_revisions(target.revision, "base"))[::-1]
    for head in script.get_heads():
        ancestors = {each.revision for each in script.iterate_revisions(head, "base")}
        if target.revision not in ancestors:
            raise SquashError(
                f"{target.revision} is not an ancestor of the head {head}: "
                "squash at a revision every head builds on"
            )
    for each in replaced[::-1]:
        if each.is_merge_point:
            raise SquashError(
                f"{each.revision} merges branches: squash at a revision after the "
                "merge, or with no merge before it"
            )
    for each in replaced:
        if each is not target and len(each.nextrev) > 1:
            raise SquashError(
                f"the history branches at {each.revision}, before {target.revision}: "
                "squash at a revision after the branches are merged"
            )
    replaced_ids = {each.revision for each in replaced} - {target.revision}
    for each in script.walk_revisions():
        depends_on = script.revision_map.get_revisions(each.dependencies)
        needed = {needed.revision for needed in depends_on} & replaced_ids
        if needed and each.revision not in replaced_ids:
            raise SquashError(
                f"{each.revision} depends on {', '.join(sorted(needed))}, which the "
                "squash would remove"
            )
    return replaced


def plan(
    config_path: Path,
    target_text: str,
    postgresql_option: str | None = None,
    mysql_option: str | None = None,
) -> Squash:
    """Everything a squash at ``target_text`` writes and deletes; nothing written."""
    try:
        script = ScriptDirectory.from_config(Config(str(config_path)))
        for folder in script.version_locations or [script.versions]:
            refuse_uncommitted(Path(folder))
        replaced = replaced_revisions(script, target_text)
    except CommandError as error:
        raise SquashError(first_line(error)) from None
    target = replaced[-1]
    servers = server_urls(postgresql_option, mysql_option)
    refuse_lost_types(replaced, servers.get("postgresql"))
    squash = Squash(
        target,
        replaced,
        script.dir,
        earlier_squashed=tuple(getattr(replaced[0].module, "squashed", ())),
        data_steps=data_steps(replaced),
    )
    with quiet_migrations():
        schema = reflected_at(config_path, target.revision, "sqlite", None)
        details = None
        if servers.get("postgresql") is not None:
            server = servers["postgresql"]
            details = reflected_at(config_path, target.revision, "postgresql", server)
    bodies = baseline.baseline_ops(baseline.portable_schema(schema, details))
    squash.baseline_name, squash.baseline_text = baseline_file(
        squash, config_path, *bodies
    )
    with quiet_migrations():
        verify(squash, config_path, servers)
    return squash


def verify(squash: Squash, config_path: Path, servers: dict) -> None:
    """Refuse a baseline that does not build, on every database at hand, the schema
    the old revisions build at its revision (``schema-snapshot``'s text)."""
    versions = Path(squash.target.path).parent
    replaced = {Path(each.path).name for each in squash.replaced}
    revision = squash.target.revision
    with tempfile.TemporaryDirectory(prefix="migration-squash-") as directory:
        squashed = Path(directory)
        for path in versions.glob("*.py"):
            if path.name not in replaced:
                shutil.copy(path, squashed / path.name)
        (squashed / squash.baseline_name).write_text(
            squash.baseline_text, encoding="utf-8"
        )
        for name, server in servers.items():
            shown = DATABASE_NAMES[name]
            before = schema_at(config_path, versions, revision, name, server)
            try:
                after = schema_at(config_path, squashed, revision, name, server)
            except (CommandError, sa.exc.SQLAlchemyError) as error:
                raise SquashError(
                    f"the baseline fails on {shown}: {first_line(error)}; nothing "
                    "written"
                ) from None
            if after != before:
                raise SquashError(
                    f"the baseline would not build the schema the old revisions "
                    f"build on {shown} ({first_differences(before, after)}); nothing "
                    "written: squash at another revision, or write the baseline by hand"
                )
        squash.verified_on = [DATABASE_NAMES[name] for name in servers]


def report(squash: Squash, versions: Path, root: Path, dry_run: bool) -> str:
    """What the squash wrote and deleted (or would), and what it did not carry; paths
    from the folder of alembic.ini (``root``)."""
    would = "Would " if dry_run else ""
    shown = Path(os.path.relpath(versions, root))
    lines = [
        f"{would}{'w' if dry_run else 'W'}rite {shown / squash.baseline_name}: "
        f"{squash.message}.",
        f"{would}{'d' if dry_run else 'D'}elete:",
        *(f"  {shown / Path(each.path).name}" for each in squash.replaced),
    ]
    if squash.data_steps:
        lines += [
            "Not carried over (they ran on every database that reached "
            f"{squash.target.revision}; a view, trigger or function they made is not "
            "in the baseline: check each):",
            *(f"  {line}" for line in squash.data_steps),
        ]
    if dry_run:
        lines += ["", squash.baseline_text.rstrip()]
    else:
        lines += [
            "Next: review the baseline, check it with `alembic upgrade head` on an "
            "empty database and `schema-snapshot --check`, and commit the change.",
        ]
    return "\n".join(lines) + "\n"


def write(squash: Squash, versions: Path) -> None:
    """Write the baseline, then delete the files it replaces (Ctrl-C waits)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        (versions / squash.baseline_name).write_text(
            squash.baseline_text, encoding="utf-8"
        )
        for each in squash.replaced:
            if Path(each.path).name != squash.baseline_name:
                Path(each.path).unlink()
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: list[str] | None = None) -> int:
    """Squash (or show what a squash would do); one line and exit 2 on a refusal."""
    arguments = parse_arguments(argv)
    config_path = Path(arguments.config).resolve()
    if not config_path.is_file():
        print(
            f"migration-squash: error: no Alembic config at {config_path}",
            file=sys.stderr,
        )
        return 2
    try:
        squash = plan(
            config_path, arguments.revision, arguments.postgresql, arguments.mysql
        )
    except (SquashError, TraceError, gitrepo.ReviewInputError, ValueError) as error:
        # ValueError: an index SQLite's text does not let us read.
        print(f"migration-squash: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("migration-squash: interrupted; nothing was written", file=sys.stderr)
        return 130
    versions = Path(squash.target.path).parent
    if not arguments.dry_run:
        try:
            write(squash, versions)
        except OSError as error:
            print(
                f"migration-squash: error: cannot write {versions}: {error.strerror}; "
                "`git checkout -- .` there puts the revisions back",
                file=sys.stderr,
            )
            return 2
    sys.stdout.write(report(squash, versions, config_path.parent, arguments.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())

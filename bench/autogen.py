"""Autogenerate on a big schema: ``alembic check`` and ``alembic revision
--autogenerate`` on 200 generated tables, with this project's hooks
(``flask_alembic_kit/autogenerate.py``)
against the same commands with Alembic's defaults.
"""

import re
import shutil
from pathlib import Path

from bench.databases import fresh_database
from bench.latency import alembic
from bench.projects import copy_project
from bench.report import Row, checked
from bench.timing import Command, rounds, run

TABLES = 200

# One generated table: 10 columns, 2 indexes, 1 foreign key, string and number
# server defaults (forms Alembic's default comparison reads the same on every
# database, so that its `alembic check` is clean too).
TABLE = '''

class BenchTable{n}(db.Model):
    """Generated for the autogenerate benchmark."""

    __tablename__ = "bench_t{n}"
    __table_args__ = (sa.Index("ix_bench_t{n}_code_amount", "code", "amount"),)
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(40), index=True)
    code: orm.Mapped[str] = orm.mapped_column(sa.String(20))
    amount: orm.Mapped[int] = orm.mapped_column(server_default="0")
    status: orm.Mapped[str] = orm.mapped_column(sa.String(20), server_default="new")
    notes: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    created: orm.Mapped[datetime | None] = orm.mapped_column(sa.DateTime)
    flag: orm.Mapped[bool | None]
    price: orm.Mapped[float | None] = orm.mapped_column(sa.Numeric(10, 2))
    parent_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("{parent}.id")
    )
'''

# Alembic's defaults in place of the project's autogenerate options.
DEFAULT_OPTIONS = '"compare_type": True,\n    "compare_server_default": True,'


def models(count: int) -> str:
    """The generated tables, each pointing at the one before (the first at users)."""
    return "".join(
        TABLE.format(n=n, parent=f"bench_t{n - 1}" if n else "users")
        for n in range(count)
    )


def projects(workdir: Path) -> tuple[Path, Path]:
    """Ours, with the generated models, and a copy whose env.py uses Alembic's
    defaults instead of ``autogenerate_options()``; neither runs ruff on the files."""
    ours = copy_project(workdir / "ours")
    with (ours / "app" / "models.py").open("a") as file:
        file.write(models(TABLES))
    # No ruff post-write hooks: they would time ruff, the same for both.
    ini = ours / "alembic.ini"
    hooks = "hooks = ruff_format, ruff_check"
    ini.write_text(ini.read_text().replace(hooks, "hooks ="))
    defaults = workdir / "defaults"
    shutil.copytree(ours, defaults)
    env = defaults / "alembic" / "env.py"
    text = env.read_text()
    assert "**autogenerate_options(VERSION_TABLE)," in text
    env.write_text(
        text.replace("**autogenerate_options(VERSION_TABLE),", DEFAULT_OPTIONS)
    )
    return ours, defaults


def cleaner(versions: Path, keep: set[Path]):
    """A ``before`` hook: remove the revision files a timed run wrote."""

    def clean() -> None:
        """Delete every revision file not in ``keep``."""
        for path in set(versions.glob("*.py")) - keep:
            path.unlink()

    return clean


def big_schema(backend: str, workdir: Path, repeats: int) -> list[Row]:
    """``alembic check`` (models and database agree) and ``alembic revision
    --autogenerate`` (one column added) on 200 tables, ours against the defaults."""
    ours, defaults = projects(workdir)
    versions = {
        project: project / "alembic" / "versions" for project in (ours, defaults)
    }
    with fresh_database(backend, workdir) as url:
        run(alembic(ours, url, "upgrade", "head"))
        before = set(versions[ours].glob("*.py"))
        run(
            alembic(
                ours,
                url,
                "revision",
                "--autogenerate",
                "-m",
                "bench tables",
                timeout=600,
            )
        )
        [created] = set(versions[ours].glob("*.py")) - before
        shutil.copy(created, versions[defaults])
        run(alembic(ours, url, "upgrade", "head", timeout=600))
        commands = {
            "ours": alembic(ours, url, "check", timeout=600),
            "defaults": alembic(defaults, url, "check", timeout=600),
        }
        check = rounds(commands, repeats)
        for project in (ours, defaults):
            path = project / "app" / "models.py"
            path.write_text(
                re.sub(
                    r"(class BenchTable0\(db.Model\):\n)",
                    r"\1    extra: orm.Mapped[int | None]\n",
                    path.read_text(),
                    count=1,
                )
            )
        revision = {}
        for name, project in (("ours", ours), ("defaults", defaults)):
            command = alembic(
                project, url, "revision", "--autogenerate", "-m", "x", timeout=600
            )
            keep = set(versions[project].glob("*.py"))
            revision[name] = Command(
                command.argv,
                command.cwd,
                command.env,
                command.timeout,
                before=cleaner(versions[project], keep),
            )
        generate = rounds(revision, repeats)
    rows = []
    for section, measure, result in (
        ("autogenerate, 200 tables", "`alembic check`, no difference", check),
        (
            "autogenerate, 200 tables",
            "`alembic revision --autogenerate`, one column",
            generate,
        ),
    ):
        ratio = result.ratio("ours", "defaults")
        rows.append(
            Row(
                section,
                backend,
                measure,
                result.median("ours"),
                "the same with Alembic's defaults (no hooks)",
                result.median("defaults"),
                ratio,
                *checked(ratio, 1.05),
            )
        )
    return rows

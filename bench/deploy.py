"""A rolling deploy under load, counted in failed requests: the issue's seven steps
(docs/deploys.md), with real HTTP server processes of three
releases of the project, by ours and by two anchors.

- A: the project (app/, alembic/ as they are in the working tree).
- B: adds a nullable column and a table (written by ``alembic revision
  --autogenerate``: an expand revision).
- C: drops B's column (written the same way: a contract revision).

Ours runs each release's expand phase (``alembic -x phase=expand upgrade head``)
while the one before serves, and C's contract step once C alone serves, under the
default guard. The anchors are a team without the expand/contract split: a plain
``alembic upgrade head`` of each new release before it starts, then the old
instances replaced, under today's guard (``MIGRATION_GUARD=strict``) and under no
guard (``off``, what a Flask-Migrate user gets). A load thread creates, reads,
updates and deletes users through whichever release serves, as a load balancer
sends it; every answer is counted by the step it came in.
"""

import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bench.databases import fresh_database
from bench.latency import alembic, database_environment
from bench.projects import copy_project
from bench.report import Row
from bench.timing import BenchError, Command, environment, run
from tools.rolling_deploy import (
    Load,
    Release,
    ReleaseNotStarted,
    make_release_b,
    make_release_c,
)

SECTION = "rolling deploy"

# Each step holds the load this long after its action: longer than the guard's
# default interval (5 s), so every serving release has read its database's revision
# again within the step. ``--quick`` shortens both.
HOLD_SECONDS = 6.0
QUICK_HOLD_SECONDS = 2.0
QUICK_GUARD_INTERVAL = "1"

STEPS = (
    "1: A serves",
    "2: migrate for B while A serves",
    "3: B starts, A stops",
    "4: migrate for C while B serves",
    "5: C starts, B stops",
    "6: contract step while C serves (ours; the anchors: nothing)",
    "7: B restarted on the final database",
)
TOTAL = "total failed requests (steps 1-6, and step 7's answers other than 503)"
REFUSED_AT_7 = f"step {STEPS[6]}: 503 answers (the right answer)"
WRONG_AT_7 = f"step {STEPS[6]}: 5xx other than 503, or no answer (wrong)"

# A revision file's phase declaration, as script.py.mako writes it.
PHASE_LINE = re.compile(r"""^phase: str = ["'](?P<phase>\w+)["']""", re.MULTILINE)


@dataclass(frozen=True)
class Contender:
    """How a team deploys: its guard mode and whether it splits expand/contract."""

    name: str
    guard: str  # MIGRATION_GUARD
    expand_contract: bool


OURS = Contender("ours", "on", True)
ANCHORS = (
    Contender("today's guard (MIGRATION_GUARD=strict)", "strict", False),
    Contender("no guard (MIGRATION_GUARD=off, as Flask-Migrate)", "off", False),
)


@dataclass(frozen=True)
class Releases:
    """The folders of releases A, B and C, their revision files written."""

    a: Path
    b: Path
    c: Path


class RollingDeploy:
    """The seven steps, one contender, on one database at A's head."""

    def __init__(
        self,
        contender: Contender,
        releases: Releases,
        databases: tuple[sa.URL, sa.URL],
        logs: Path,
    ) -> None:
        """``databases``: the default database and the audit one (an SQLite file)."""
        self.contender = contender
        self.releases = releases
        self.url, self.audit = databases
        self.logs = logs
        self.servers: dict[str, Release] = {}
        self.load: Load | None = None

    def alembic(self, release: Path, *args: str) -> None:
        """Run ``alembic <args>`` in a release's folder on the databases."""
        run(alembic(release, self.url, *args, audit=self.audit))

    def start(self, name: str, settings: dict[str, str]) -> Release:
        """Start release ``name`` (A, B or C)."""
        folder = getattr(self.releases, name.lower())
        run_environment = environment(Command([], folder, settings))
        try:
            release = Release(folder, run_environment, self.logs / f"{name}.log")
        except ReleaseNotStarted as error:
            raise BenchError(str(error)) from None
        self.servers[name] = release
        return release

    def replace(self, old: str, new: str, settings: dict[str, str]) -> None:
        """Start ``new``, send the load to it, stop ``old``."""
        self.load.serve_from(self.start(new, settings).url)
        self.servers.pop(old).stop()

    def migrate(self, release: Path) -> None:
        """Migrate for a new release: its expand phase (ours), or everything."""
        if self.contender.expand_contract:
            self.alembic(release, "-x", "phase=expand", "upgrade", "head")
        else:
            self.alembic(release, "upgrade", "head")

    def contract(self) -> None:
        """C's contract step (ours); the anchors applied it at step 4."""
        if self.contender.expand_contract:
            self.alembic(self.releases.c, "upgrade", "head")

    def run(self, hold: float, guard_interval: str | None) -> dict[str, Counter]:
        """Each step's action under load, then ``hold`` seconds; the answers."""
        settings = database_environment(self.url, self.audit)
        settings["MIGRATION_GUARD"] = self.contender.guard
        if guard_interval:
            settings["MIGRATION_GUARD_INTERVAL"] = guard_interval
        actions = (
            lambda: None,
            lambda: self.migrate(self.releases.b),
            lambda: self.replace("A", "B", settings),
            lambda: self.migrate(self.releases.c),
            lambda: self.replace("B", "C", settings),
            self.contract,
            lambda: self.replace("C", "B", settings),
        )
        self.alembic(self.releases.a, "upgrade", "head")
        self.load = Load(self.start("A", settings).url, STEPS[0])
        self.load.start()
        try:
            for step, action in zip(STEPS, actions, strict=True):
                self.load.during(step)
                action()
                time.sleep(hold)
        finally:
            self.load.stop()
            for server in self.servers.values():
                server.stop()
        return self.load.answers


def release_b(release_a: Path, destination: Path) -> Path:
    """A copy of release A whose models add ``users.nickname`` and ``tags``."""
    shutil.copytree(release_a, destination)
    try:
        make_release_b(destination / "app" / "models.py")
    except ValueError as error:
        raise BenchError(f"no release B: {error}") from None
    return destination


def release_c(release_b: Path, destination: Path) -> Path:
    """A copy of release B whose models no longer have ``users.nickname``."""
    shutil.copytree(release_b, destination)
    make_release_c(destination / "app" / "models.py")
    return destination


def without_hooks(project: Path) -> Path:
    """Drop the ruff post-write hooks from a copy's alembic.ini: the revisions the
    bench writes need no formatting."""
    ini = project / "alembic.ini"
    hooks = "hooks = ruff_format, ruff_check"
    ini.write_text(ini.read_text().replace(hooks, "hooks ="))
    return project


def autogenerated(release: Path, url: sa.URL, audit: sa.URL, message: str) -> str:
    """Write a release's revision with ``alembic revision --autogenerate``; its
    declared phase (``expand``, ``contract`` or ``mixed``)."""
    versions = release / "alembic" / "versions"
    before = set(versions.glob("*.py"))
    run(alembic(release, url, "revision", "--autogenerate", "-m", message, audit=audit))
    [written] = set(versions.glob("*.py")) - before
    declared = PHASE_LINE.search(written.read_text())
    if declared:
        return declared["phase"]
    raise BenchError(f"{written.name} declares no phase")


def write_releases(backend: str, workdir: Path) -> Releases:
    """Releases A, B and C, their revisions written by autogenerate on a scratch
    database of the backend (B's expand, C's contract)."""
    a = without_hooks(copy_project(workdir / "a"))
    audit = audit_database(workdir)
    with fresh_database(backend, workdir) as url:
        run(alembic(a, url, "upgrade", "head", audit=audit))
        b = release_b(a, workdir / "b")
        expand = autogenerated(b, url, audit, "nicknames and tags")
        run(alembic(b, url, "upgrade", "head", audit=audit))
        c = release_c(b, workdir / "c")
        contract = autogenerated(c, url, audit, "no nicknames")
    if (expand, contract) != ("expand", "contract"):
        raise BenchError(f"B's revision is {expand}, C's {contract}: not a deploy")
    return Releases(a, b, c)


def audit_database(directory: Path) -> sa.URL:
    """An audit database of its own (an SQLite file; A's upgrade creates it)."""
    return sa.URL.create("sqlite", database=str(directory / "audit.sqlite"))


def deployed(
    contender: Contender,
    releases: Releases,
    backend: str,
    directory: Path,
    timing: tuple[float, str | None],
) -> dict[str, Counter]:
    """One contender's rolling deploy on a fresh database: each step's answers."""
    directory.mkdir()
    with fresh_database(backend, directory) as url:
        databases = (url, audit_database(directory))
        return RollingDeploy(contender, releases, databases, directory).run(*timing)


def failed(answers: Counter) -> int:
    """Requests that failed: a 5xx (503 included), or no answer (0)."""
    return sum(
        count for status, count in answers.items() if status == 0 or status >= 500
    )


def figures(answers: dict[str, Counter]) -> dict[str, tuple[int, int]]:
    """Each measure's count and the requests it is out of."""
    step_answers = [answers.get(step, Counter()) for step in STEPS]
    counts = {
        f"step {step}: failed requests": (failed(got), got.total())
        for step, got in zip(STEPS[:6], step_answers[:6], strict=True)
    }
    last = step_answers[6]
    counts[REFUSED_AT_7] = (last[503], last.total())
    counts[WRONG_AT_7] = (failed(last) - last[503], last.total())
    everything = sum((got.total() for got in step_answers), 0)
    total = sum(failed(got) for got in step_answers[:6]) + counts[WRONG_AT_7][0]
    counts[TOTAL] = (total, everything)
    return counts


def comparison(backend: str, ours: dict, anchor: Contender, theirs: dict) -> list[Row]:
    """Ours against one anchor, measure by measure; 0 failed is the target."""
    rows = []
    for measure, (count, requests) in ours.items():
        their_count, their_requests = theirs[measure]
        is_failure = measure != REFUSED_AT_7
        rows.append(
            Row(
                SECTION,
                backend,
                measure,
                float(count),
                anchor.name,
                float(their_count),
                target="0" if is_failure else "",
                met=count == 0 if is_failure else None,
                unit="requests",
                note=f"of {requests} / {their_requests} requests",
            )
        )
    return rows


def rolling_deploys(backend: str, workdir: Path, quick: bool) -> list[Row]:
    """The seven steps by ours and by each anchor, on fresh databases of the
    backend; rows of failed requests, ours against each anchor."""
    timing = (
        (QUICK_HOLD_SECONDS, QUICK_GUARD_INTERVAL) if quick else (HOLD_SECONDS, None)
    )
    releases = write_releases(backend, workdir)
    counts = {
        contender: figures(
            deployed(contender, releases, backend, workdir / contender.guard, timing)
        )
        for contender in (OURS, *ANCHORS)
    }
    return [
        row
        for anchor in ANCHORS
        for row in comparison(backend, counts[OURS], anchor, counts[anchor])
    ]


# Short column headings of the summary table, by measure.
HEADINGS = {
    **{f"step {step}: failed requests": step.split(":")[0] for step in STEPS[:6]},
    REFUSED_AT_7: "7: 503 (right)",
    WRONG_AT_7: "7: 500 or none",
    TOTAL: "total",
}


def summary(rows: list[Row]) -> str:
    """The section's figures as one table per database: ours and the anchors as
    rows, the steps as columns (failed requests)."""
    tables = []
    for database in dict.fromkeys(r.database for r in rows if r.section == SECTION):
        mine = [r for r in rows if r.section == SECTION and r.database == database]
        lines = [
            f"| {database} | " + " | ".join(HEADINGS.values()) + " |",
            "|---|" + "---:|" * len(HEADINGS),
        ]
        first = mine[0].versus
        contenders = [("ours", "ours", first)] + [
            (anchor.name, "theirs", anchor.name) for anchor in ANCHORS
        ]
        for name, side, versus in contenders:
            by_measure = {
                r.measure: getattr(r, side) for r in mine if r.versus == versus
            }
            cells = [f"{by_measure[m]:.0f}" for m in HEADINGS]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)

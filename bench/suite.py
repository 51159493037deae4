"""The migration test-suite on a generated history: our checks against
pytest-alembic's four built-in tests, each run as a pytest process.

Three contenders, same history, same database server:
- ours, lean: bench/suites/lean_checks.py (one process, one script directory, one
  connection);
- ours, as the project's tests are written today: the single-head, up/down/up and
  model-match tests of tests/test_revisions.py;
- pytest-alembic: single head, upgrade, model match, up/down consistency.
"""

import shutil
import sys
from functools import partial
from pathlib import Path

from bench.databases import (
    SERVER_URL_VARIABLES,
    as_environment,
    fresh_database,
    recreate,
    server_url,
)
from bench.projects import ROOT, project_with_history
from bench.report import Row, checked
from bench.timing import Command, rounds, run

SUITES = Path(__file__).resolve().parent / "suites"
# One process each (-n 0: the project's settings would start a worker per core), as
# pytest-alembic runs.
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0"]

# The project's tests that make the same checks, by name.
PROJECT_TESTS = "one_head or stairway"


def set_up_suites(project: Path) -> None:
    """Put the lean checks, pytest-alembic's set-up and the project's tests in the
    copy, each with its own pytest configuration."""
    lean = project / "lean"
    lean.mkdir()
    shutil.copy(SUITES / "lean_checks.py", lean / "test_lean_checks.py")
    (lean / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    peer = project / "pytest_alembic_suite"
    peer.mkdir()
    shutil.copy(SUITES / "pytest_alembic_conftest.py", peer / "conftest.py")
    (peer / "pytest.ini").write_text(
        "[pytest]\npytest_alembic_tests_path = conftest.py\n"
    )
    shutil.copytree(
        ROOT / "tests", project / "tests", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")


def project_tests_environment(backend: str) -> dict[str, str]:
    """The test suite's variables, naming only the backend benchmarked."""
    environment = dict.fromkeys(SERVER_URL_VARIABLES.values(), "")
    if backend != "sqlite":
        environment[SERVER_URL_VARIABLES[backend]] = as_environment(server_url(backend))
    return environment


def migration_suites(
    backend: str, workdir: Path, length: int, repeats: int
) -> list[Row]:
    """Time the three suites on a ``length``-revision history.

    No warm-up round (a round takes minutes on MariaDB): ``alembic heads`` compiles
    the revision files first, so no contender pays for that in the first round.
    """
    project = project_with_history(workdir / f"suite_{length}", length)
    set_up_suites(project)
    server = "" if backend == "sqlite" else as_environment(server_url(backend))
    selected = PROJECT_TESTS if backend == "sqlite" else f"one_head or {backend}"
    run(Command([sys.executable, "-m", "alembic", "heads"], project))
    with fresh_database(backend, workdir) as url:
        times = rounds(
            {
                "lean": Command(
                    [
                        *PYTEST,
                        "-p",
                        "no:pytest_alembic",
                        "-c",
                        "lean/pytest.ini",
                        "lean",
                    ],
                    project,
                    {"BENCH_DATABASE_URL": as_environment(url)},
                    timeout=600,
                    before=partial(recreate, backend, url),
                ),
                "pytest_alembic": Command(
                    [
                        *PYTEST,
                        "-c",
                        "pytest_alembic_suite/pytest.ini",
                        "--test-alembic",
                        "pytest_alembic_suite",
                    ],
                    project,
                    {"BENCH_SERVER_URL": server},
                    timeout=600,
                ),
                # The floor of any pytest suite of these checks: pytest's start-up
                # and the imports of the app, Alembic and SQLAlchemy; no test runs.
                "startup": Command(
                    [
                        *PYTEST,
                        "-p",
                        "no:pytest_alembic",
                        "-c",
                        "lean/pytest.ini",
                        "--collect-only",
                        "lean",
                    ],
                    project,
                    {"BENCH_DATABASE_URL": as_environment(url)},
                ),
                "project": Command(
                    [
                        *PYTEST,
                        "-p",
                        "no:pytest_alembic",
                        "tests/test_revisions.py",
                        "-k",
                        f"({PROJECT_TESTS}) and ({selected})",
                    ],
                    project,
                    project_tests_environment(backend),
                    timeout=600,
                ),
            },
            repeats,
            warmup=0,
        )
    section = f"test-suite, {length} revisions"
    peer = "pytest-alembic, 4 built-in tests"
    lean_ratio = times.ratio("lean", "pytest_alembic")
    project_ratio = times.ratio("project", "pytest_alembic")
    return [
        Row(
            section,
            backend,
            "ours, lean: one head, up/down/up, models match",
            times.median("lean"),
            peer,
            times.median("pytest_alembic"),
            lean_ratio,
            *checked(lean_ratio, 0.5),
        ),
        Row(
            section,
            backend,
            "pytest start-up and imports, collecting the lean checks (floor)",
            times.median("startup"),
            peer,
            times.median("pytest_alembic"),
            times.ratio("startup", "pytest_alembic"),
        ),
        Row(
            section,
            backend,
            "ours, tests/test_revisions.py (same checks)",
            times.median("project"),
            peer,
            times.median("pytest_alembic"),
            project_ratio,
            *checked(project_ratio, 0.5),
        ),
    ]

"""The GitHub Actions workflow for pull requests cannot run here: check that it is
valid YAML, runs what the issue asks for, and calls only commands that exist."""

import re
import shlex
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from tools import review_arguments, snapshot

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    """The workflow, parsed."""
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def run_scripts(workflow: dict) -> list[str]:
    """Every ``run:`` script of every job."""
    return [
        step["run"]
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "run" in step
    ]


def test_runs_on_pull_requests_with_both_servers(workflow):
    # YAML 1.1 reads the key ``on`` as True.
    triggers = workflow.get("on", workflow.get(True))
    assert "pull_request" in triggers
    services = workflow["jobs"]["test"]["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["mariadb"]["image"].startswith("mariadb:")
    assert workflow["env"]["TEST_POSTGRESQL_URL"].startswith("postgresql://")
    assert workflow["env"]["TEST_MYSQL_URL"].startswith("mysql://")


def test_runs_setup_tests_check_and_review(workflow):
    scripts = "\n".join(run_scripts(workflow))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = next(line for line in readme.splitlines() if "pip install" in line)
    assert setup in scripts
    assert ".venv/bin/pytest" in scripts
    assert ".venv/bin/alembic check" in scripts
    assert '.venv/bin/migration-review --base "origin/$BASE_REF"' in scripts
    review_job = workflow["jobs"]["review"]
    assert review_job["steps"][0]["with"]["fetch-depth"] == 0
    uploads = [s for s in review_job["steps"] if "upload-artifact" in s.get("uses", "")]
    assert uploads[0]["with"]["path"] == "migration-review.md"


def test_every_command_it_calls_exists(workflow):
    scripts = "\n".join(run_scripts(workflow))
    called = set(re.findall(r"\.venv/bin/([\w-]+)", scripts))
    assert {"pip", "alembic", "pytest", "ruff", "migration-review"} <= called
    for name in called:
        assert Path(sys.executable).with_name(name).exists(), name
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["scripts"] == {
        "migration-review": "tools.review:main",
        "migration-squash": "tools.squash:main",
        "schema-snapshot": "tools.snapshot:main",
    }
    for script in run_scripts(workflow):
        for line in script.splitlines():
            if line.startswith(".venv/bin/migration-review"):
                words = shlex.split(line)
                arguments = review_arguments.parse_arguments(words[1:])
                assert arguments.base == "origin/$BASE_REF"
                assert arguments.output == "migration-review.md"
    assert snapshot.parse_arguments(["--postgresql", "x"]).postgresql == "x"


def test_postgres_image_matches_squawk_pg_version(workflow):
    image = workflow["jobs"]["test"]["services"]["postgres"]["image"]
    config = tomllib.loads((ROOT / "tools" / "squawk.toml").read_text())
    assert config["pg_version"].split(".")[0] == image.split(":")[1]

"""The deploy tests' own helpers around ``tools/rolling_deploy.py`` (releases
served over HTTP, the load): each release's folder and log, the commands' output,
``/healthz``, the schema."""

import subprocess
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from tools.rolling_deploy import Load, Release


def copy_release(source: Path, destination: Path) -> Path:
    """Copy a release's folder, revision files included."""
    subprocess.run(["cp", "-r", str(source), str(destination)], check=True)
    return destination


def serve(folder: Path, environment: dict[str, str]) -> Release:
    """Start serving a release; its log (each request, and a failed one's
    traceback) stays beside it, ``server.log``."""
    return Release(folder, environment, folder / "server.log")


def settle(seconds: float = 0.5) -> None:
    """Let the load run for a while: longer than the interval at which the tests'
    guards read the revision again (0.2 s), and tens of requests."""
    time.sleep(seconds)


def sent(load: Load, step: str) -> int:
    """The requests the load sent during ``step``."""
    return load.answers.get(step, Counter()).total()


def succeeded(result) -> str:
    """Assert an ``alembic`` command exited 0; its stderr, where it reports."""
    assert result.returncode == 0, result.stderr
    return result.stderr


def health(release: Release) -> tuple[int, str]:
    """A release's ``/healthz`` status code and the case it says holds."""
    status, body = release.get("/healthz")
    return status, body.get("status")


def revision_file(project: Path, slug: str) -> Path:
    """The revision file of a project's default history named ``slug`` (its
    message, as Alembic writes it into the file name)."""
    [path] = (project / "alembic" / "versions").glob(f"*_{slug}.py")
    return path


def revision_id(path: Path) -> str:
    """A revision file's id, from its name (``<date>-<id>_<slug>.py``)."""
    return path.name.split("-", 1)[1].split("_", 1)[0]


def column_names(url: sa.URL, table: str) -> set[str]:
    """The columns a table has now."""
    engine = sa.create_engine(url)
    try:
        return {column["name"] for column in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()

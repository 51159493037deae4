"""The tests run ``alembic`` inside their own process (``in_process.py``): here the
same commands run both ways, and what the user would see is the same, byte for byte:
exit code, stdout, stderr (the log lines env.py configures, the one-line errors,
tracebacks and warnings included)."""

import os
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import alembic_runner, configured_backends, copy_project, fresh_url

# Each step: the command, and the settings it runs with beyond DATABASE_URL.
STEPS = [
    (("upgrade", "head"), {}),
    (("current",), {}),
    (("check",), {}),
    (("downgrade", "-1"), {}),
    (("current", "--verbose"), {}),
    (("upgrade", "nosuchrev"), {}),  # FAILED: ..., exit 255
    (("downgrade", "base", "--sql"), {}),  # offline needs a range: a one-line error
    (("upgrade", "head", "--sql"), {}),
    (("--raiseerr", "upgrade", "nosuchrev"), {}),  # a traceback, exit 1
    (("upgrade", "head"), {"MIGRATION_LOCK_TIMEOUT": "soon"}),  # a bad setting
    (("history",), {}),
    (("heads",), {}),
    (("no-such-command",), {}),  # argparse's usage, exit 2
]


def normalized(text: str, project: Path, url: sa.URL) -> str:
    """Output with the project's folder and a server's database name, which differ
    between the two runs, written alike; a traceback's frames left out (the first
    ones are the test's, in process), its exception kept."""
    text = text.replace(str(project), "<project>").replace(url.database, "<database>")
    lines, in_traceback = [], False
    for line in text.splitlines():
        if line.startswith("Traceback (most recent call last):"):
            in_traceback = True
        elif in_traceback and line.startswith("  "):
            continue
        else:
            in_traceback = False
        lines.append(line)
    return "\n".join(lines)


@pytest.mark.parametrize("backend", configured_backends())
def test_in_process_output_is_the_commands_own(backend, tmp_path):
    seen = {}
    for mode in ("in process", "process"):
        project = copy_project(tmp_path / mode.replace(" ", "_"))
        with fresh_url(backend, project / "test.sqlite") as url:
            # A relative SQLite path: the same URL in both copies.
            url = url.set(database="test.sqlite") if backend == "sqlite" else url
            outputs = []
            for args, settings in STEPS:
                alembic = alembic_runner(
                    project,
                    url,
                    process=mode == "process",
                    DATABASE_URL_AUDIT="sqlite:///audit.sqlite",
                    **settings,
                )
                result = alembic(*args)
                outputs.append(
                    (
                        args,
                        result.returncode,
                        normalized(result.stdout, project, url),
                        normalized(result.stderr, project, url),
                    )
                )
            seen[mode] = outputs
    in_process, process = seen["in process"], seen["process"]
    for ours, theirs in zip(in_process, process, strict=True):
        assert ours == theirs
    # The steps are the cases they are meant to be.
    codes = [returncode for _, returncode, _, _ in process]
    assert codes == [0, 0, 0, 0, 0, 255, 255, 0, 1, 255, 0, 0, 2]


def test_the_test_process_is_as_before(tmp_path):
    """What a command changes in its process is put back: the environment, the
    working directory, ``sys.path``, ``sys.modules``' app, the logging."""
    import logging

    import app

    def state() -> tuple:
        """What a command could leave changed, connect listeners (app/db.py's)
        included: a new engine's pool runs each of them on every connection."""
        connect_listeners = sa.create_engine("sqlite://").pool.dispatch.connect
        return (
            dict(os.environ),
            os.getcwd(),
            list(sys.path),
            logging.getLogger().handlers[:],
            logging.getLogger("alembic").level,
            len(list(connect_listeners)),
        )

    before = state()
    project = copy_project(tmp_path / "project")
    url = sa.URL.create("sqlite", database=str(tmp_path / "test.sqlite"))
    alembic = alembic_runner(project, url, MIGRATION_LOCK_TIMEOUT="5")
    for command in (("upgrade", "head"), ("downgrade", "-1"), ("upgrade", "head")):
        result = alembic(*command)
        assert result.returncode == 0, result.stderr
        assert "Running " in result.stderr
    assert state() == before
    assert sys.modules["app"] is app


def test_pytests_own_stops_go_through(tmp_path, monkeypatch):
    """A test stopped by pytest (its timeout, Ctrl-C) stops, rather than reading as
    the command's failure."""
    from alembic.script import ScriptDirectory

    def stopped(*args, **kwargs):
        pytest.fail("stopped by pytest")

    monkeypatch.setattr(ScriptDirectory, "run_env", stopped)
    url = sa.URL.create("sqlite", database=str(tmp_path / "test.sqlite"))
    with pytest.raises(pytest.fail.Exception, match="stopped by pytest"):
        alembic_runner(copy_project(tmp_path / "project"), url)("current")


def test_what_only_a_new_interpreter_reads_needs_a_process(tmp_path):
    """``PYTHONHASHSEED`` and its kind are read as Python starts: in process they
    would be silently ignored, so the runner refuses them."""
    alembic = alembic_runner(tmp_path, "sqlite://", PYTHONHASHSEED="1")
    with pytest.raises(ValueError, match="PYTHONHASHSEED.*process=True"):
        alembic("current")

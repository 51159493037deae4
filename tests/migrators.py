"""Migrators at once: ``alembic`` processes started ahead of time, each with Flask,
SQLAlchemy, the drivers and the kit imported, that run a command when told to, all
together. Told at the same moment, they reach the database within milliseconds of
each other, which processes started one after the other (a second or more of
imports each, unevenly) would not."""

import json
import select
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# The migrator: imports, says it is ready, then runs each command it reads (a JSON
# list of arguments) as ``alembic`` would, and writes its exit code and output back.
MIGRATOR = f"""
import json, os, sys
from pathlib import Path

sys.path.insert(0, {str(TESTS)!r})
from in_process import run_alembic

import flask_sqlalchemy, psycopg, pymysql  # noqa: what env.py's run imports
from flask_alembic_kit import autogenerate, binds, connection, errors, run_lock

print("ready", flush=True)
for line in sys.stdin:
    result = run_alembic(json.loads(line), Path.cwd(), dict(os.environ))
    print(json.dumps([result.returncode, result.stdout, result.stderr]), flush=True)
"""

Run = Callable[..., list[subprocess.CompletedProcess]]


# A migrator that has not answered within this is stuck (a run takes seconds).
ANSWER_WITHIN = 300


@contextmanager
def migrators(
    cwd: Path, environment: Mapping[str, str], count: int = 4
) -> Iterator[Run]:
    """``count`` migrator processes in ``cwd`` with ``environment``; inside, a
    function that has each of them run ``alembic <args>`` at once, and returns
    their results. Each migrator's stderr (empty, but for a crash) goes to a file:
    a pipe nobody reads could fill and stall it."""
    with ExitStack() as stack:
        processes = []
        for _ in range(count):
            stderr = stack.enter_context(tempfile.TemporaryFile("w+"))
            process = subprocess.Popen(
                [sys.executable, "-c", MIGRATOR],
                cwd=cwd,
                env=dict(environment),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
            stack.callback(ended, process)
            processes.append((process, stderr))
        for process, stderr in processes:
            answer(process, stderr, "ready")

        def run(*args: str) -> list[subprocess.CompletedProcess]:
            """Every migrator runs ``alembic <args>`` now; their results."""
            for process, _ in processes:
                process.stdin.write(json.dumps(args) + "\n")
                process.stdin.flush()
            results = []
            for process, stderr in processes:
                returncode, out, err = json.loads(answer(process, stderr))
                results.append(subprocess.CompletedProcess(args, returncode, out, err))
            return results

        yield run


def ended(process: subprocess.Popen) -> None:
    """End a migrator: its input closed, it ends by itself; killed if it does not."""
    try:
        process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def answer(process: subprocess.Popen, stderr, expected: str | None = None) -> str:
    """The migrator's next line (which must be ``expected``, if given); a migrator
    that ended, or is stuck, fails the test with what it printed."""
    ready, _, _ = select.select([process.stdout], [], [], ANSWER_WITHIN)
    line = process.stdout.readline().strip() if ready else "(no answer)"
    if not line or (expected is not None and line != expected):
        process.kill()
        process.wait()
        stderr.seek(0)
        raise AssertionError(f"the migrator stopped: {line}\n{stderr.read()}")
    return line

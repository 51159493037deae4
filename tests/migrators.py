"""Migrators at once: ``alembic`` processes started ahead of time, each with Flask,
SQLAlchemy, the drivers and the kit imported, that run a command when told to, all
together. Told at the same moment, they reach the database within milliseconds of
each other, which processes started one after the other (a second or more of
imports each, unevenly) would not."""

import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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


@contextmanager
def migrators(
    cwd: Path, environment: Mapping[str, str], count: int = 4
) -> Iterator[Run]:
    """``count`` migrator processes in ``cwd`` with ``environment``; inside, a
    function that has each of them run ``alembic <args>`` at once, and returns
    their results."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATOR],
            cwd=cwd,
            env=dict(environment),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for process in processes:
            answer(process, "ready")

        def run(*args: str) -> list[subprocess.CompletedProcess]:
            """Every migrator runs ``alembic <args>`` now; their results."""
            for process in processes:
                process.stdin.write(json.dumps(args) + "\n")
                process.stdin.flush()
            results = []
            for process in processes:
                returncode, stdout, stderr = json.loads(answer(process))
                results.append(
                    subprocess.CompletedProcess(args, returncode, stdout, stderr)
                )
            return results

        yield run
    finally:
        for process in processes:  # end of input: the migrator ends
            process.communicate(timeout=60)


def answer(process: subprocess.Popen, expected: str | None = None) -> str:
    """The migrator's next line (which must be ``expected``, if given); a migrator
    that ended instead fails the test with what it printed."""
    line = process.stdout.readline().strip()
    if not line or (expected is not None and line != expected):
        process.kill()
        _, stderr = process.communicate(timeout=60)
        raise AssertionError(f"the migrator stopped: {line}\n{stderr}")
    return line

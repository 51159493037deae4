"""Timing helpers: wall-clock runs of commands, rounds, medians and pairwise ratios.

Every figure is a median over rounds taken after a warm-up, and each ratio is the
median of the per-round ratios: within a round the contenders run back to back
(A B A B ...), so drift of the machine between rounds cancels out of the ratio.
"""

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class BenchError(Exception):
    """A benchmark step failed; the message says which and why, in one line."""


@dataclass
class Command:
    """A command line to time, with its working directory and extra environment."""

    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 120.0
    # Untimed set-up before each run, e.g. a fresh database.
    before: Callable[[], None] | None = None


def environment(command: Command) -> dict[str, str]:
    """The benchmark's environment plus the command's own variables.

    Python's default bytecode cache is on, as on a developer's machine or a server:
    a ``PYTHONDONTWRITEBYTECODE`` inherited from the shell would make every process
    compile env.py, the app and every revision file from source again, which is a
    different comparison. Commands that measure that case set it themselves.
    """
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name != "PYTHONDONTWRITEBYTECODE"
    }
    return {**inherited, **command.env}


def run(command: Command) -> subprocess.CompletedProcess:
    """Run a command to completion, failing with its stderr when it fails."""
    try:
        result = subprocess.run(
            command.argv,
            cwd=command.cwd,
            env=environment(command),
            capture_output=True,
            text=True,
            timeout=command.timeout,
        )
    except subprocess.TimeoutExpired:
        limit = f"{command.timeout:.0f} s"
        raise BenchError(f"{shown(command)} timed out after {limit}") from None
    if result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip()).splitlines()
        last_line = output[-1] if output else "(no output)"
        raise BenchError(f"{shown(command)} failed: {last_line}") from None
    return result


def shown(command: Command) -> str:
    """The command line as a user would type it (interpreter shortened)."""
    argv = [
        "python" if arg.endswith(("python", "python3")) else arg for arg in command.argv
    ]
    return " ".join(argv)


def timed(command: Command) -> float:
    """Seconds of wall-clock time one run of the command takes."""
    if command.before is not None:
        command.before()
    start = time.perf_counter()
    run(command)
    return time.perf_counter() - start


@dataclass
class Rounds:
    """Wall-clock times of several contenders, one list entry per round."""

    times: dict[str, list[float]]

    def median(self, name: str) -> float:
        """The median time of one contender, in seconds."""
        return statistics.median(self.times[name])

    def ratio(self, name: str, other: str) -> float:
        """The median of the per-round ratios ``name / other``."""
        pairs = zip(self.times[name], self.times[other], strict=True)
        return statistics.median(a / b for a, b in pairs)


def rounds(commands: dict[str, Command], repeats: int, warmup: int = 1) -> Rounds:
    """Time each command once per round, in a fixed order, after warm-up rounds."""
    for _ in range(warmup):
        for command in commands.values():
            timed(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            times[name].append(timed(command))
    return Rounds(times)

"""The ``MIGRATION_*`` settings: how long a migration may wait, and for what.

Read from the environment once per ``alembic`` command, before anything connects,
so that a bad value fails first, in one line (README, "Running migrations in
production", has the table).
"""

import math
import os
from typing import NamedTuple

from alembic.util import CommandError


def setting(name: str, default: float, kind: type = float) -> float:
    """A number of seconds (or a count) from the environment variable ``name``."""
    value = os.environ.get(name, "").strip()
    try:
        number = kind(value) if value else default
    except ValueError:
        number = -1
    if not 0 <= number < math.inf:
        what = "a whole number" if kind is int else "a number"
        raise CommandError(f"{name} must be {what}, 0 or more, not {value!r}")
    return number


class Settings(NamedTuple):
    """The settings, in seconds; 0 means no limit (no wait at all, for the run lock).
    Immutable: read once, then handed to every piece that needs one."""

    run_lock_wait: float = 300
    lock_timeout: float = 5
    statement_timeout: float = 600
    lock_retries: int = 0
    connect_timeout: float = 10

    @classmethod
    def from_environment(cls) -> "Settings":
        """Read and check every setting, so a bad value fails before anything starts."""
        defaults = cls()
        return cls(
            run_lock_wait=setting("MIGRATION_RUN_LOCK_WAIT", defaults.run_lock_wait),
            lock_timeout=setting("MIGRATION_LOCK_TIMEOUT", defaults.lock_timeout),
            statement_timeout=setting(
                "MIGRATION_STATEMENT_TIMEOUT", defaults.statement_timeout
            ),
            lock_retries=setting(
                "MIGRATION_LOCK_RETRIES", defaults.lock_retries, kind=int
            ),
            connect_timeout=setting(
                "MIGRATION_CONNECT_TIMEOUT", defaults.connect_timeout
            ),
        )


def milliseconds(seconds: float) -> int:
    """Seconds as whole milliseconds, rounded up so a small limit never becomes 0."""
    return math.ceil(seconds * 1000)


def seconds_text(seconds: float) -> str:
    """Seconds as a person writes them: ``10 s``, ``2.5 s``."""
    return f"{seconds:g} s"

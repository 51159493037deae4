"""The ``MIGRATION_*`` settings: how long a migration may wait, and for what.

Read from the environment once per ``alembic`` command, before anything connects,
so that a bad value fails first, in one line (docs/production.md has the table).
"""

import math
import os
from typing import NamedTuple

from flask_alembic_kit.urls import SettingError

# The largest value each setting takes: a day for the waits and a statement, an
# hour for reaching the server and for a network that went quiet (a kernel's
# keepalive idle time stops at 32767 s), a hundred retries. A bigger value is a
# typo, and a driver would refuse it with a traceback (PyMySQL's connect_timeout
# stops at a year; MariaDB's GET_LOCK takes 1e300 for "do not wait").
DAY = 86400
HOUR = 3600
LARGEST = {
    "MIGRATION_RUN_LOCK_WAIT": DAY,
    "MIGRATION_LOCK_TIMEOUT": DAY,
    "MIGRATION_STATEMENT_TIMEOUT": DAY,
    "MIGRATION_LOCK_RETRIES": 100,
    "MIGRATION_CONNECT_TIMEOUT": HOUR,
    "MIGRATION_NETWORK_TIMEOUT": HOUR,
}


def setting(name: str, default: float, kind: type = float) -> float:
    """A number of seconds (or a count) from the environment variable ``name``,
    from 0 to the setting's largest value."""
    value = os.environ.get(name, "").strip()
    try:
        number = kind(value) if value else default
    except ValueError:
        number = -1
    largest = LARGEST[name]
    if not 0 <= number <= largest:
        what = "a whole number" if kind is int else "a number of seconds"
        raise SettingError(f"{name} must be {what} from 0 to {largest}, not {value!r}")
    return number


class Settings(NamedTuple):
    """The settings, in seconds; 0 means no limit (no wait at all, for the run lock).
    Immutable: read once, then handed to every piece that needs one."""

    run_lock_wait: float = 300
    lock_timeout: float = 5
    statement_timeout: float = 600
    lock_retries: int = 0
    connect_timeout: float = 10
    network_timeout: float = 30

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
            network_timeout=setting(
                "MIGRATION_NETWORK_TIMEOUT", defaults.network_timeout
            ),
        )


def milliseconds(seconds: float) -> int:
    """Seconds as whole milliseconds, rounded up so a small limit never becomes 0."""
    return math.ceil(seconds * 1000)


def seconds_text(seconds: float) -> str:
    """Seconds as a person writes them: ``10 s``, ``2.5 s``."""
    return f"{seconds:g} s"

"""The guard's two settings, read from the app's config or the environment:
``MIGRATION_GUARD`` (on, strict, warn, off) and ``MIGRATION_GUARD_INTERVAL``
(seconds). A bad value keeps the safe default with a warning: building the app
(which ``alembic`` does) never fails on them."""

import logging
import math

# What the guard does when the database is not at the code's head.
GUARD_MODES = ("on", "strict", "warn", "off")
REFUSING_MODES = ("on", "strict")  # answer 503 where the code cannot serve

# How long a state the code serves in is kept before a request reads it again.
DEFAULT_INTERVAL = 5.0
LONGEST_INTERVAL = 3600.0


def guard_mode(value: str | None, log: logging.Logger) -> str:
    """``MIGRATION_GUARD`` normalised to ``on``, ``strict``, ``warn`` or ``off``
    (unset: ``on``).

    An unknown value keeps the guard on, with a warning: a typo must not switch it
    off, and must not stop ``alembic`` (which builds the app) with a traceback.
    """
    mode = (value or "on").strip().lower()
    if mode not in GUARD_MODES:
        log.warning(
            "MIGRATION_GUARD=%r is not one of %s; the guard stays on.",
            value,
            ", ".join(GUARD_MODES),
        )
        return "on"
    return mode


def guard_interval(value, log: logging.Logger) -> float:
    """``MIGRATION_GUARD_INTERVAL`` in seconds (unset: 5); 0 reads the revision on
    every request. A value that is not a number from 0 to 3600 keeps the default,
    with a warning, as an unknown mode does."""
    if value is None or str(value).strip() == "":
        return DEFAULT_INTERVAL
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= LONGEST_INTERVAL:
        log.warning(
            "MIGRATION_GUARD_INTERVAL=%r is not a number of seconds from 0 to %d; "
            "it stays %g.",
            value,
            LONGEST_INTERVAL,
            DEFAULT_INTERVAL,
        )
        return DEFAULT_INTERVAL
    return seconds

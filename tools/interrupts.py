"""Ctrl-C during ``migration-review --trace``: noted, so that the trace stops at
its next step and drops the databases it created, even when Python swallowed the
KeyboardInterrupt in a finalizer."""

import logging
import signal
import sys
import threading
from contextlib import contextmanager

INTERRUPTED = threading.Event()


@contextmanager
def ctrl_c_noted():
    """Ctrl-C raises KeyboardInterrupt, and is noted: one that arrives while Python
    runs a finalizer is swallowed there ("Exception ignored"), and the trace stops
    at its next step instead (``stop_if_interrupted``); an error that follows a
    swallowed one is the interrupt too."""
    INTERRUPTED.clear()

    def interrupt(signum, frame) -> None:
        """Note it, then stop where Python is. A connection cut off mid-statement
        fails to reset as it goes back to its pool, and psycopg fails to end the
        pipeline it was in: SQLAlchemy's pool and psycopg would log that, which
        says nothing the user does not know."""
        INTERRUPTED.set()
        for log in quieted:
            log.setLevel(logging.CRITICAL)
        raise KeyboardInterrupt

    def unraisable(error) -> None:
        """Python's report of an error a finalizer swallowed, but for Ctrl-C."""
        if not isinstance(error.exc_value, KeyboardInterrupt):
            previous_hook(error)

    quieted = [logging.getLogger(name) for name in ("sqlalchemy.pool", "psycopg")]
    levels = [log.level for log in quieted]
    previous = signal.signal(signal.SIGINT, interrupt)
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        yield
    except Exception:
        # A driver that swallowed the interrupt can fail on it next (psycopg, in
        # the middle of a pipeline: "cannot exit pipeline mode while busy"): the
        # user pressed Ctrl-C, and that is what the trace stops on.
        if INTERRUPTED.is_set():
            raise KeyboardInterrupt from None
        raise
    finally:
        # Noted for this run only: a later one in the same process starts afresh.
        interrupted = INTERRUPTED.is_set()
        INTERRUPTED.clear()
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook
        for log, level in zip(quieted, levels, strict=True):
            log.setLevel(level)
    if interrupted:
        raise KeyboardInterrupt


def stop_if_interrupted() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed and swallowed."""
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt

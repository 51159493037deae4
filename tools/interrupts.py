"""Ctrl-C during ``migration-review --trace``: noted, so that the trace stops at
its next step and drops the databases it created, even when Python swallowed the
KeyboardInterrupt in a finalizer."""

import signal
import sys
import threading
from contextlib import contextmanager

INTERRUPTED = threading.Event()


@contextmanager
def ctrl_c_noted():
    """Ctrl-C raises KeyboardInterrupt, and is noted: one that arrives while Python
    runs a finalizer is swallowed there ("Exception ignored"), and the trace stops
    at its next step instead (``stop_if_interrupted``)."""
    INTERRUPTED.clear()

    def interrupt(signum, frame) -> None:
        """Note it, then stop where Python is."""
        INTERRUPTED.set()
        raise KeyboardInterrupt

    def unraisable(error) -> None:
        """Python's report of an error a finalizer swallowed, but for Ctrl-C."""
        if not isinstance(error.exc_value, KeyboardInterrupt):
            previous_hook(error)

    previous = signal.signal(signal.SIGINT, interrupt)
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook
    stop_if_interrupted()


def stop_if_interrupted() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed and swallowed."""
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt

"""Ctrl-C in ``migration-review --trace``: what the drivers log about the work it
cut off is not shown, and nothing else is hidden."""

import logging
import os
import signal
from contextlib import suppress

import pytest

from tools.interrupts import ctrl_c_noted, stop_if_interrupted


@pytest.mark.parametrize("logger", ["sqlalchemy.pool", "psycopg"])
def test_after_ctrl_c_the_drivers_logs_are_quiet(logger, caplog):
    log = logging.getLogger(logger)
    with pytest.raises(KeyboardInterrupt), ctrl_c_noted():
        log.warning("before Ctrl-C")
        with suppress(KeyboardInterrupt):  # swallowed, as a driver's finalizer would
            os.kill(os.getpid(), signal.SIGINT)
        log.warning("error ignored terminating a pipeline")
    assert [r.getMessage() for r in caplog.records] == ["before Ctrl-C"]
    log.warning("after the trace")  # the level is given back
    assert caplog.records[-1].getMessage() == "after the trace"


def test_a_run_after_an_interrupted_one_is_not_interrupted():
    """The interrupt is the interrupted run's: once it has stopped, nothing in the
    process (a later run, a step outside any run) reads as interrupted."""
    with pytest.raises(KeyboardInterrupt), ctrl_c_noted(), suppress(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    stop_if_interrupted()
    with ctrl_c_noted():
        stop_if_interrupted()

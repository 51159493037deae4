"""The ``alembic`` command line run inside the test process, as a user's shell runs
it: same arguments, environment, working directory, output and exit code, but none
of the second it takes a new process to import Flask, SQLAlchemy and the drivers
again (issue 23). ``test_in_process.py`` holds it to the real command's output.

What a new process would start afresh is made afresh here, and put back after: the
environment, working directory and ``sys.path``; the project's own ``app`` package
(``importing_from``); the logging that env.py configures from alembic.ini; Python's
default warning filters (pytest's turn warnings into errors); the kit's
once-per-process caches; stdin, stdout and stderr. Every connection the command
opened is closed, as its exit would close it, so that the test can drop the
database.
"""

import io
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import (
    ExitStack,
    contextmanager,
    redirect_stderr,
    redirect_stdout,
    suppress,
)
from pathlib import Path

import alembic.config
import sqlalchemy as sa
from alembic.util import messaging


def run_alembic(
    args: Sequence[str], cwd: Path, environment: Mapping[str, str]
) -> subprocess.CompletedProcess:
    """``alembic <args>`` in ``cwd`` with exactly ``environment``, stdin empty (no
    terminal: nothing asks), as ``subprocess.run(..., capture_output=True,
    text=True)`` would return it."""
    started_with = [
        name
        for name in environment
        if name.startswith("PYTHON") and environment[name] != os.environ.get(name)
    ]
    if started_with:
        raise ValueError(
            f"{', '.join(started_with)} is read as Python starts: run the command "
            "as a process of its own (alembic_runner(..., process=True))"
        )
    stdout, stderr = io.StringIO(), io.StringIO()
    with ExitStack() as stack:
        stack.enter_context(a_process_of_its_own(cwd, environment))
        stack.enter_context(redirect_stdout(stdout))
        stack.enter_context(redirect_stderr(stderr))
        stack.enter_context(replaced(sys, "stdin", io.StringIO("")))
        stack.enter_context(replaced(alembic.config, "Config", PrintingHere))
        command = alembic.config.CommandLine(prog="alembic")
        returncode = exit_code(lambda: command.main(argv=list(args)))
    return subprocess.CompletedProcess(
        ["alembic", *args], returncode, stdout.getvalue(), stderr.getvalue()
    )


class PrintingHere(alembic.config.Config):
    """Alembic's ``Config``, printing to the ``sys.stdout`` of the moment: the
    default of its ``stdout`` argument is the one Alembic was imported with."""

    def __init__(self, *args, stdout=None, **kwargs) -> None:
        super().__init__(*args, stdout=stdout or sys.stdout, **kwargs)


def exit_code(command) -> int:
    """Run ``command`` and return the exit code Python would exit with: 0, the code
    of a ``SystemExit`` (a message printed, as the interpreter prints it), or 1
    after ``sys.excepthook`` reported an uncaught exception. Ctrl-C and pytest's
    own stops (its timeout) are the test's: they go through."""
    try:
        command()
    except SystemExit as exit:
        if exit.code is None:
            return 0
        if isinstance(exit.code, int):
            return exit.code & 0xFF
        print(exit.code, file=sys.stderr)
        return 1
    except Exception:
        sys.excepthook(*sys.exc_info())
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


@contextmanager
def a_process_of_its_own(cwd: Path, environment: Mapping[str, str]) -> Iterator[None]:
    """Inside, the process looks to a command as a new one started in ``cwd`` with
    ``environment`` would; outside, as before."""
    with ExitStack() as stack:
        stack.enter_context(importing_from(cwd))
        stack.enter_context(environment_of(environment))
        stack.enter_context(saved_list(sys.path))
        stack.enter_context(logging_put_back())
        stack.enter_context(default_warnings())
        stack.enter_context(connections_closed())
        stack.enter_context(class_listeners_once())
        stack.enter_context(replaced(messaging, "TERMWIDTH", None))  # no terminal
        stack.enter_context(replaced(sys, "excepthook", sys.__excepthook__))
        clear_once_per_process_caches()
        yield


@contextmanager
def environment_of(environment: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` is ``environment``, and nothing else, inside."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environment)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def saved_list(items: list) -> Iterator[None]:
    """``items`` is put back as it was (Alembic prepends to ``sys.path``)."""
    saved = list(items)
    try:
        yield
    finally:
        items[:] = saved


@contextmanager
def replaced(owner, name: str, value) -> Iterator[None]:
    """``owner.name`` is ``value`` inside."""
    saved = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)


@contextmanager
def logging_put_back() -> Iterator[None]:
    """Logging starts as a new process's (no handler, level WARNING) and is put back
    afterwards: env.py's ``fileConfig`` replaces the root logger's handlers (pytest's
    among them) and sets the levels alembic.ini names."""
    root = logging.getLogger()
    loggers = [root] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = [
        (logger, logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for logger in loggers
    ]
    root.handlers.clear()
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level, handlers, propagate, disabled in saved:
            if logger.level != level:  # each setLevel empties every logger's cache
                logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate = propagate
            logger.disabled = disabled


@contextmanager
def default_warnings() -> Iterator[None]:
    """Python's own warning filters and printing, as a process started without
    ``-W`` has them."""
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for category in (
            DeprecationWarning,
            PendingDeprecationWarning,
            ImportWarning,
            ResourceWarning,
        ):
            warnings.simplefilter("ignore", category)
        warnings.filterwarnings(
            "default", category=DeprecationWarning, module="__main__"
        )
        warnings.showwarning = printed
        yield


def printed(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning printed to stderr, as Python prints one (pytest records them)."""
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


@contextmanager
def connections_closed() -> Iterator[None]:
    """Every database connection opened inside is closed on the way out, as the end
    of a process closes it."""
    opened = []

    def note(dbapi_connection, record) -> None:
        opened.append(dbapi_connection)

    sa.event.listen(sa.pool.Pool, "connect", note)
    try:
        yield
    finally:
        sa.event.remove(sa.pool.Pool, "connect", note)
        for connection in opened:
            with suppress(Exception):  # already closed, or its server gone
                connection.close()


@contextmanager
def importing_from(project: Path) -> Iterator[None]:
    """Inside, ``import app`` imports ``project``'s own package, as a command run
    in that checkout does: for the kit's commands run in-process on a copied
    project, whose env.py imports its app. The working directory is the project
    too: Alembic puts ``.`` first on ``sys.path`` (alembic.ini's
    ``prepend_sys_path``), and the finder Python keeps for ``.`` is bound to the
    directory it was first used in, so it is dropped on the way in and out. The
    test process's own ``app`` (the reference app) and working directory are put
    back afterwards."""

    def is_app(name: str) -> bool:
        """Whether a module is ``app`` or one of its submodules."""
        return name == "app" or name.startswith("app.")

    saved = {name: module for name, module in sys.modules.items() if is_app(name)}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(project))
    working_directory = os.getcwd()
    os.chdir(project)
    for relative in (".", ""):
        sys.path_importer_cache.pop(relative, None)
    try:
        yield
    finally:
        os.chdir(working_directory)
        sys.path.remove(str(project))
        for relative in (".", ""):
            sys.path_importer_cache.pop(relative, None)
        for name in [name for name in sys.modules if is_app(name)]:
            del sys.modules[name]
        sys.modules.update(saved)


@contextmanager
def class_listeners_once() -> Iterator[None]:
    """A listener the command's imports register on a class (``app/db.py``:
    ``sa.Engine``'s ``connect``) is registered once in a new process; here the test
    process has it already, and registering it again would run it twice on every
    connection from then on. Inside, registering a class listener that is there
    already does nothing; one that is new is removed on the way out."""
    added = []

    def listen(target, identifier, fn, *args, **kwargs) -> None:
        if isinstance(target, type):
            if sa.event.contains(target, identifier, fn):
                return
            added.append((target, identifier, fn))
        listen_once_more(target, identifier, fn, *args, **kwargs)

    listen_once_more = sa.event.listen
    try:
        with replaced(sa.event, "listen", listen):
            yield
    finally:
        for target, identifier, fn in added:
            sa.event.remove(target, identifier, fn)


def clear_once_per_process_caches() -> None:
    """The kit's ``functools.cache`` functions forget what an earlier command in
    this process remembered (a warning given once, the revisions read once)."""
    for name, module in list(sys.modules.items()):
        if name == "flask_alembic_kit" or name.startswith("flask_alembic_kit."):
            for value in vars(module).values():
                if callable(getattr(type(value), "cache_clear", None)):
                    value.cache_clear()

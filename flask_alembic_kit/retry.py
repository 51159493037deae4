"""Running a revision again when it gave up on a busy table
(``MIGRATION_LOCK_RETRIES``).

A revision that waited too long for a table lock was rolled back, so it can be run
again, a second apart; not on MariaDB/MySQL once it committed DDL there, which a
rerun would repeat. Written here rather than taken from a retry library: it is one
loop, and a library's import would cost every ``alembic`` command its start-up time.
"""

import logging
import time
from collections.abc import Iterator

import sqlalchemy as sa

from flask_alembic_kit.errors import is_lock_timeout
from flask_alembic_kit.kept_ddl import KeptDdl

log = logging.getLogger("alembic.env")


class Attempt:
    """One run of the revisions; a ``with`` block that swallows a lock timeout when
    another attempt is allowed."""

    def __init__(self, retry_allowed: bool, kept_ddl: KeptDdl) -> None:
        """An attempt, after which another one may follow (``retry_allowed``)."""
        self.retry_allowed = retry_allowed
        self.kept_ddl = kept_ddl
        self.succeeded = False

    def __enter__(self) -> "Attempt":
        """Start the attempt."""
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        """Note success; swallow a lock timeout that may be retried."""
        if error is None:
            self.succeeded = True
            return False
        return (
            self.retry_allowed
            and isinstance(error, sa.exc.OperationalError)
            and is_lock_timeout(error)
            and not self.kept_ddl
        )


def lock_retries(retries: int, kept_ddl: KeptDdl) -> Iterator[Attempt]:
    """Attempts until one succeeds: the first, then up to ``retries`` more, each
    after a lock timeout that nothing committed yet."""
    for number in range(1, retries + 2):
        attempt = Attempt(number <= retries, kept_ddl)
        yield attempt
        if attempt.succeeded:
            return
        log.warning("A table lock is busy; trying again (%s of %s)", number, retries)
        time.sleep(1)

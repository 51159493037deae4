"""``--trace``'s check ``breaks-running-release``: the release that is running is the
base branch's code; during a deploy it serves on the database the expand phase
migrated (``alembic -x phase=expand upgrade head``). After each revision of that
phase, the base's models insert, select, update and delete one row of every mapped
class through the ORM (``running_release_worker.py``, in a process of its own run
in a checkout of the base, so that its ``app`` is the base's, not the branch's).
"""

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from tools import gitrepo
from tools.review_phase import PhaseReview

WORKER = Path(__file__).with_name("running_release_worker.py")


@dataclass
class ReleaseCheck:
    """What the running release did on one database after one revision: the
    classes it exercised, each failure (class, ORM op, error), or why it could
    not run."""

    checked: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict:
        """The JSON form."""
        return {
            "checked": self.checked,
            "failures": self.failures,
            "error": self.error,
        }


def expand_phase(revisions: list, phases: list[PhaseReview]) -> tuple[str, ...]:
    """The reviewed revisions the expand phase applies: each one, in order, up to
    (not including) the first whose declared phase is not expand."""
    applied = []
    for source, phase in zip(revisions, phases, strict=True):
        if phase.effective != "expand":
            break
        applied.append(source.revision)
    return tuple(applied)


class BaseRelease:
    """The base branch's code, exported from git once, and a worker process per
    database (bind) whose models it exercises; everything removed by ``close``."""

    def __init__(self, root: Path, base: str) -> None:
        """The checkout ``root`` and the base ref, exported when first needed."""
        self.root, self.base = root, base
        self.directory: tempfile.TemporaryDirectory | None = None
        self.workers: dict[str | None, RunningRelease] = {}

    @property
    def checkout(self) -> Path:
        """The base's files (``git archive``), in a temporary folder."""
        if self.directory is None:
            self.directory = tempfile.TemporaryDirectory(prefix="migration-release-")
            gitrepo.export_tree(self.root, self.base, Path(self.directory.name))
        return Path(self.directory.name)

    def for_bind(self, bind: str | None) -> "RunningRelease":
        """The running release's models of one database (``None``: the default),
        started now: the worker imports them while the trace migrates."""
        if bind not in self.workers:
            self.workers[bind] = RunningRelease(self, bind)
            self.workers[bind].start()
        return self.workers[bind]

    def close(self) -> None:
        """Stop every worker and remove the checkout."""
        for worker in self.workers.values():
            worker.close()
        if self.directory is not None:
            self.directory.cleanup()

    def __enter__(self) -> "BaseRelease":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class RunningRelease:
    """The base's models of one bind, in a worker process started when first
    asked, that answers one check at a time."""

    def __init__(self, release: BaseRelease, bind: str | None) -> None:
        """The base's code and the bind (``None``: the default database)."""
        self.release, self.bind = release, bind
        self.process: subprocess.Popen | None = None
        # The worker's stderr, for the line that says why it ended; kept open for
        # the worker's life, closed by ``close``.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115

    def start(self) -> subprocess.Popen:
        """The worker, started in the base's checkout."""
        if self.process is None:
            checkout = self.release.checkout
            self.process = subprocess.Popen(
                [sys.executable, str(WORKER), str(checkout), self.bind or ""],
                cwd=checkout,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.stderr,
                text=True,
            )
        return self.process

    def check(self, url: sa.URL, rows: int) -> ReleaseCheck:
        """Each mapped class's row through the ORM on the database at ``url``."""
        process = self.start()
        request = {"url": url.render_as_string(hide_password=False), "rows": rows}
        try:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            answer = process.stdout.readline()
        except OSError:
            answer = ""
        if not answer:
            return ReleaseCheck(error=f"the base's models did not run: {self.why()}")
        return ReleaseCheck(**json.loads(answer))

    def why(self) -> str:
        """The worker's last line on stderr."""
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "the process ended"

    def close(self) -> None:
        """Stop the worker."""
        if self.process is not None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process.stdout.close()
        self.stderr.close()

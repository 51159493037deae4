"""A rolling deploy driven for real, shared by the tests (``test_rolling_deploy.py``,
``test_rename_recipe.py``) and the bench (``bench/deploy.py``): releases of a
project served over HTTP in processes of their own (``release_server.py``), the
load a load balancer sends them, and the releases B and C of the issue's sequence
as changes to a project's models."""

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

SERVER = Path(__file__).resolve().parent / "release_server.py"

# What each request of the load answers when it succeeds.
EXPECTED = {"POST": 201, "GET": 200, "PATCH": 200, "DELETE": 204}


def request(url: str, method: str, path: str, body: dict | None = None):
    """One HTTP request: the status and the JSON body (``{}`` when there is none,
    ``{"text": ...}`` when it is not JSON, as Flask's own error pages); status 0
    when the server could not be reached."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    call = urllib.request.Request(url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(call, timeout=30) as answer:
            status, text = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    except OSError:
        return 0, {}
    try:
        return status, json.loads(text) if text else {}
    except ValueError:
        return status, {"text": text[:200].decode(errors="replace")}


class ReleaseNotStarted(Exception):
    """A release's server printed no port: the last line of its log says why."""


class Release:
    """One release serving in a process of its own, its log in ``log``."""

    def __init__(self, folder: Path, environment: dict[str, str], log: Path) -> None:
        """Start serving ``folder``'s app; wait for its port."""
        self.log = log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER)],
            cwd=folder,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            self.stop()
            lines = log.read_text().strip().splitlines() or ["(no output)"]
            raise ReleaseNotStarted(f"release {folder.name} did not start: {lines[-1]}")
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        """Stop serving."""
        self.process.terminate()
        self.process.wait(timeout=30)
        self.process.stdout.close()
        self.log.close()

    def get(self, path: str) -> tuple[int, dict]:
        """``GET path``: the status and the JSON body."""
        return request(self.url, "GET", path)

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        """``POST path`` with a JSON body: the status and the JSON body."""
        return request(self.url, "POST", path, body)


class Load(threading.Thread):
    """Creates, reads, updates and deletes users through the releases a load
    balancer sends to (in turn, when two serve), counting each step's answers by
    status (0: none), and keeping each answer other than the request's success."""

    def __init__(self, url: str, first_step: str, keep_every: int = 0) -> None:
        """Send to ``url`` first, counting under ``first_step``; with
        ``keep_every``, every so many users are kept, not deleted."""
        super().__init__(daemon=True)
        self.urls = [url]
        self.sent = 0
        self.keep_every = keep_every
        self.step = first_step
        self.answers: dict[str, Counter[int]] = {}
        self.failures: list[tuple[str, str, int, dict]] = []
        self.sending = threading.Lock()  # held while a request is on its way
        self.stopping = threading.Event()

    def serve_from(self, *urls: str) -> None:
        """Send every later request to ``urls``, in turn; returns once no request
        is on its way to another, which can then stop."""
        with self.sending:
            self.urls = list(urls)

    def during(self, step: str) -> None:
        """Count the answers from now on under ``step``."""
        with self.sending:
            self.step = step

    def send(self, method: str, path: str, body: dict | None = None):
        """One request to the next release, counted."""
        with self.sending:
            self.sent += 1
            url = self.urls[self.sent % len(self.urls)]
            status, answer = request(url, method, path, body)
            self.answers.setdefault(self.step, Counter())[status] += 1
            if status != EXPECTED[method]:
                self.failures.append((self.step, f"{method} {path}", status, answer))
        return status, answer

    def run(self) -> None:
        """Until stopped: create a user, read it, rename it, list, delete it (or
        keep it)."""
        number = 0
        while not self.stopping.is_set():
            number += 1
            name = f"user{number}"
            user = {"username": name, "email": f"{name}@x.org", "display_name": name}
            status, created = self.send("POST", "/api/users", user)
            if status != 201 or "id" not in created:
                continue
            path = f"/api/users/{created['id']}"
            self.send("GET", path)
            self.send("PATCH", path, {"display_name": f"{name} renamed"})
            self.send("GET", "/api/users")
            if not self.keep_every or number % self.keep_every:
                self.send("DELETE", path)

    def stop(self) -> None:
        """Stop sending; wait for the thread."""
        self.stopping.set()
        self.join(timeout=60)


# The releases, as changes to a project's ``User`` model: B adds a
# nullable ``users.nickname`` and a ``tags`` table (an expand revision), C drops
# ``nickname`` again (a contract one).
DISPLAY_NAME = "    display_name: orm.Mapped[str] = orm.mapped_column(sa.String(80))\n"
NICKNAME = "    nickname: orm.Mapped[str | None] = orm.mapped_column(sa.String(40))\n"
TAG_MODEL = '''

class Tag(db.Model):
    """A label, the table release B adds."""

    __tablename__ = "tags"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(40))
'''


def make_release_b(models: Path) -> None:
    """Release A's models (with a ``User.display_name`` line) become B's."""
    text = models.read_text()
    if DISPLAY_NAME not in text:
        raise ValueError(f"{models} has no User.display_name line to add after")
    models.write_text(text.replace(DISPLAY_NAME, DISPLAY_NAME + NICKNAME) + TAG_MODEL)


def make_release_c(models: Path) -> None:
    """Release B's models become C's: no ``users.nickname``."""
    models.write_text(models.read_text().replace(NICKNAME, ""))

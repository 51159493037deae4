"""Releases of a project served over HTTP in processes of their own, and the load
a load balancer sends them, for the deploy tests (``test_rolling_deploy.py``,
``test_rename_recipe.py``): each request counted by the deploy step it was sent in,
and every 5xx or unanswered one kept as a failure."""

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from conftest import ROOT

SERVER = ROOT / "tests" / "release_server.py"


def copy_release(source: Path, destination: Path) -> Path:
    """Copy a release's folder, revision files included."""
    subprocess.run(["cp", "-r", str(source), str(destination)], check=True)
    return destination


class Release:
    """One release serving in a process of its own."""

    def __init__(self, folder: Path, environment: dict[str, str]) -> None:
        """Start serving ``folder``'s app; wait for its port."""
        # Its log (each request, and a failed one's traceback) stays beside it.
        self.log = (folder / "server.log").open("a")
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
        assert port.isdigit(), f"release in {folder} did not start"
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


# What each request of the load answers when it succeeds.
EXPECTED = {"POST": 201, "GET": 200, "PATCH": 200, "DELETE": 204}


class Load(threading.Thread):
    """Creates, reads, updates and deletes users through the releases a load
    balancer sends to (in turn, when two serve), counting each step's answers:
    any other answer than the request's success is a failure."""

    def __init__(self, url: str, first_step: str, keep_every: int = 0) -> None:
        """Send to ``url`` first, counting under ``first_step``; with
        ``keep_every``, every so many users are kept, not deleted."""
        super().__init__(daemon=True)
        self.urls = [url]
        self.sent = 0
        self.keep_every = keep_every
        self.step = first_step
        self.answers: dict[str, Counter] = {}
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
            counts = self.answers.setdefault(self.step, Counter())
            counts["requests"] += 1
            if status != EXPECTED[method]:
                counts["failed"] += 1
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
            if status != 201:
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

    def settle(self, seconds: float = 0.5) -> None:
        """Let the load run for a while: longer than the interval at which the
        tests' guards read the revision again (0.2 s), and tens of requests."""
        time.sleep(seconds)


def succeeded(result) -> str:
    """Assert an ``alembic`` command exited 0; its stderr, where it reports."""
    assert result.returncode == 0, result.stderr
    return result.stderr


def health(release: Release) -> tuple[int, str]:
    """A release's ``/healthz`` status code and the case it says holds."""
    status, body = release.get("/healthz")
    return status, body.get("status")


def revision_file(project: Path, slug: str) -> Path:
    """The revision file of a project's default history named ``slug`` (its
    message, as Alembic writes it into the file name)."""
    [path] = (project / "alembic" / "versions").glob(f"*_{slug}.py")
    return path


def revision_id(path: Path) -> str:
    """A revision file's id, from its name (``<date>-<id>_<slug>.py``)."""
    return path.name.split("-", 1)[1].split("_", 1)[0]


def column_names(url: sa.URL, table: str) -> set[str]:
    """The columns a table has now."""
    engine = sa.create_engine(url)
    try:
        return {column["name"] for column in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()

"""Releases of a project copy served over HTTP in processes of their own, and the
load a load balancer sends them, for the rolling-deploy section (``deploy.py``):
each answer counted by status under the deploy step it came in."""

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from bench.timing import BenchError, Command, environment

SERVER = Path(__file__).resolve().parent / "release_server.py"


def request(url: str, method: str, path: str, body: dict | None = None):
    """One HTTP request: the status and the JSON body (``{}`` when there is none or
    it is not JSON); status 0 when no answer came."""
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
        return status, {}


class Release:
    """One release serving in a process of its own, its log in a file."""

    def __init__(self, folder: Path, settings: dict[str, str], log: Path) -> None:
        """Start serving ``folder``'s app; wait for its port."""
        self.log = log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER)],
            cwd=folder,
            env=environment(Command([], folder, settings)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            self.stop()
            lines = log.read_text().strip().splitlines() or ["(no output)"]
            raise BenchError(f"release {folder.name} did not start: {lines[-1]}")
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        """Stop serving."""
        self.process.terminate()
        self.process.wait(timeout=30)
        self.process.stdout.close()
        self.log.close()


class Load(threading.Thread):
    """Creates, reads, updates and deletes users through whichever release the
    load balancer sends to, counting each step's answers by status (0: none)."""

    def __init__(self, url: str, first_step: str) -> None:
        """Send to ``url`` first, counting under ``first_step``."""
        super().__init__(daemon=True)
        self.url = url
        self.step = first_step
        self.answers: dict[str, Counter[int]] = {}
        self.sending = threading.Lock()  # held while a request is on its way
        self.stopping = threading.Event()

    def switch_to(self, url: str) -> None:
        """Send every later request to ``url``; returns once no request is on its
        way to the old one, which can then stop."""
        with self.sending:
            self.url = url

    def during(self, step: str) -> None:
        """Count the answers from now on under ``step``."""
        with self.sending:
            self.step = step

    def send(self, method: str, path: str, body: dict | None = None):
        """One request to the current release, counted."""
        with self.sending:
            status, answer = request(self.url, method, path, body)
            self.answers.setdefault(self.step, Counter())[status] += 1
        return status, answer

    def run(self) -> None:
        """Until stopped: create a user, read it, rename it, list, delete it."""
        number = 0
        while not self.stopping.is_set():
            number += 1
            name = f"user{number}"
            user = {"username": name, "email": f"{name}@example.org"}
            status, created = self.send("POST", "/api/users", user)
            if status != 201 or "id" not in created:
                continue
            path = f"/api/users/{created['id']}"
            self.send("GET", path)
            self.send("PATCH", path, {"display_name": f"{name} renamed"})
            self.send("GET", "/api/users")
            self.send("DELETE", path)

    def stop(self) -> None:
        """Stop sending; wait for the thread."""
        self.stopping.set()
        self.join(timeout=60)

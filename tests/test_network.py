"""A network that goes quiet (docs/production.md): the
connection stops carrying packets, with no reset, as when a NAT or a firewall
forgets a flow. ``alembic upgrade head`` and the app's ``/healthz`` give up within
``MIGRATION_NETWORK_TIMEOUT`` in one line; a long statement on a server that still
answers is never cut.

The client runs in a network namespace of the test's own, linked to this machine by
a veth pair; a relay on the machine's end forwards to the database server. The cut
takes the machine's end of the link down: from then on the client's packets, its
kernel's keepalive probes included, vanish without an answer, as on a real network.
The relay keeps its connection to the server open, so the server hears nothing
either and has to end the session by its own timeouts (``timeouts.py``), as it
would when the network between it and the client is gone. Needs root (``ip netns``).
"""

import os
import random
import select
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_production import EXTRA_REVISION, make_project

from conftest import (
    SERVER_URL_VARIABLES,
    audit_url_at_head,
    configured_backends,
    database_url_from,
)
from server_databases import fresh_server_database

SERVERS = [name for name in configured_backends() if name != "sqlite"]

# The setting under test, short so that the tests are; the statement the cut comes
# in sleeps several times longer.
NETWORK_TIMEOUT = 2
SLEEP_SECONDS = 7

# A data step, then a long statement: the cut comes while the server runs it.
LONG_STATEMENT = """
op.execute("UPDATE users SET display_name = 'changed'")
seconds = float(os.environ.get("SLOW_STEP_SECONDS", "0"))
if op.get_bind().dialect.name == "postgresql":
    op.execute(f"SELECT pg_sleep({seconds})")
else:
    op.execute(f"DO SLEEP({seconds})")
"""


def ip(*args: str) -> None:
    """Run ``ip``; a failure is the test's."""
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Relay:
    """Forwards each connection made to its address to the database server, both
    ways, until the test ends: a cut client leaves its server connection open."""

    def __init__(self, host: str, server: tuple[str, int]) -> None:
        """Listen on ``host`` (the machine's end of the link)."""
        self.server = server
        self.listener = socket.create_server((host, 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        """Accept clients until the listener closes."""
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.server)
            self.sockets += [client, upstream]
            threading.Thread(
                target=self.pump, args=(client, upstream), daemon=True
            ).start()

    @staticmethod
    def pump(one: socket.socket, other: socket.socket) -> None:
        """Copy bytes both ways until either side closes."""
        peers = {one: other, other: one}
        while True:
            try:
                readable, _, _ = select.select(list(peers), [], [])
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    peers[source].sendall(data)
            except (OSError, ValueError):
                return

    def close(self) -> None:
        """Close every socket: the server sees its sessions end."""
        for each in self.sockets:
            each.close()


@dataclass
class QuietLink:
    """A network namespace whose link to this machine can be cut silently."""

    namespace: str
    machine_end: str
    relay: Relay

    def url(self, server_url: sa.URL) -> sa.URL:
        """``server_url`` reached through the link and the relay."""
        host = self.relay.listener.getsockname()[0]
        return server_url.set(host=host, port=self.relay.port)

    def start(self, command: list[str], cwd: Path, **variables: str):
        """Start ``command`` inside the namespace, its output captured."""
        return subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, *command],
            cwd=cwd,
            env={**os.environ, **variables},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def cut(self) -> None:
        """From now on, every packet on the link is lost: no reset, no answer."""
        ip("link", "set", self.machine_end, "down")


@contextmanager
def quiet_link(server: tuple[str, int]):
    """A namespace linked to this machine by a veth pair on a /30 of its own, and a
    relay to ``server``; all of it removed afterwards."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("a network namespace needs root and ip (iproute2)")
    tag = f"{os.getpid() % 10000}{random.randrange(100)}"
    namespace, machine_end, its_end = f"quiet{tag}", f"qm{tag}", f"qn{tag}"
    subnet = f"10.231.{random.randrange(256)}.{4 * random.randrange(64)}"
    base = subnet.rsplit(".", 1)
    machine_ip, its_ip = (f"{base[0]}.{int(base[1]) + n}" for n in (1, 2))
    ip("netns", "add", namespace)
    relay = None
    try:
        ip("link", "add", machine_end, "type", "veth", "peer", "name", its_end)
        ip("link", "set", its_end, "netns", namespace)
        ip("addr", "add", f"{machine_ip}/30", "dev", machine_end)
        ip("link", "set", machine_end, "up")
        inside = ["netns", "exec", namespace, "ip"]
        ip(*inside, "addr", "add", f"{its_ip}/30", "dev", its_end)
        ip(*inside, "link", "set", its_end, "up")
        relay = Relay(machine_ip, server)
        yield QuietLink(namespace, machine_end, relay)
    finally:
        if relay is not None:
            relay.close()
        subprocess.run(["ip", "link", "del", machine_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


@pytest.fixture(params=SERVERS)
def server_project(request, tmp_path, history):
    """A copy of the project on a fresh database of each configured server, and a
    quiet link to that server."""
    server_url = database_url_from(SERVER_URL_VARIABLES[request.param])
    with (
        fresh_server_database(server_url) as url,
        quiet_link((url.host, url.port)) as link,
    ):
        project = make_project(tmp_path, url, history)
        project.migrate("upgrade", project.head)
        yield project, link
        project.engine.dispose()


def start_upgrade(project, link: QuietLink, **variables: str) -> subprocess.Popen:
    """``alembic upgrade head`` inside the namespace, as a deploy runs it."""
    url = link.url(project.url).render_as_string(hide_password=False)
    return link.start(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        project.path,
        DATABASE_URL=url,
        DATABASE_URL_AUDIT=audit_url_at_head(),
        MIGRATION_NETWORK_TIMEOUT=str(NETWORK_TIMEOUT),
        **variables,
    )


def wait_for_the_extra_revision(migrator: subprocess.Popen) -> None:
    """Read the migrator's log until the extra revision starts."""
    for line in migrator.stderr:
        if f"-> {EXTRA_REVISION}" in line:
            return
    _, stderr = migrator.communicate(timeout=30)
    pytest.fail(f"the extra revision never started:\n{stderr}")


def test_a_server_gone_quiet_ends_the_migration_in_one_line(server_project):
    """The cut comes in a statement that runs 7 s: the migrator exits, in one line
    naming the setting and the revision the database is at, long before that
    statement would have answered. The server ends the session by itself (the run
    lock is free), the revision under way is rolled back, and a rerun reaches head."""
    project, link = server_project
    project.query_in_transaction(
        "INSERT INTO users (username, email, display_name) VALUES ('ada', 'a@x', 'Ada')"
    )
    project.write_revision(LONG_STATEMENT)
    migrator = start_upgrade(project, link, SLOW_STEP_SECONDS=str(SLEEP_SECONDS))
    wait_for_the_extra_revision(migrator)
    time.sleep(1)  # the long statement is under way

    link.cut()
    cut_at = time.monotonic()
    stdout, stderr = migrator.communicate(timeout=60)
    waited = time.monotonic() - cut_at

    assert migrator.returncode != 0, stdout + stderr
    assert waited < SLEEP_SECONDS - 1, "it waited for the statement to answer"
    [failed] = [line for line in stdout.splitlines() if line.startswith("FAILED")]
    assert failed.startswith(
        "FAILED: the database server stopped answering: no reply within "
        f"MIGRATION_NETWORK_TIMEOUT ({NETWORK_TIMEOUT} s), so the connection was "
        "given up ("
    )
    assert "timed out" in failed
    assert (
        f"The database is at {project.head}, the last revision that completed"
    ) in failed
    assert "Traceback" not in stderr
    assert "root@" not in stdout + stderr

    project.wait_until_run_lock_free()
    assert project.current() == project.head
    assert project.query("SELECT display_name FROM users") == [("Ada",)]
    rerun = project.alembic("upgrade", "head")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert project.current() == EXTRA_REVISION
    assert project.query("SELECT display_name FROM users") == [("changed",)]


def test_a_long_statement_on_a_server_that_answers_is_not_cut(server_project):
    """A statement four times longer than ``MIGRATION_NETWORK_TIMEOUT``, on the same
    link, uncut: the server's kernel answers the keepalives, and it runs to the end."""
    project, link = server_project
    project.write_revision(LONG_STATEMENT)
    migrator = start_upgrade(project, link, SLOW_STEP_SECONDS=str(4 * NETWORK_TIMEOUT))

    stdout, stderr = migrator.communicate(timeout=120)

    assert migrator.returncode == 0, stdout + stderr
    assert project.current() == EXTRA_REVISION


HEALTH_PROBE = textwrap.dedent(
    """
    import sys, time
    from app import create_app

    client = create_app().test_client()
    print(client.get("/healthz").status_code, flush=True)
    sys.stdin.readline()  # the test cuts the link, then says go on
    started = time.monotonic()
    answer = client.get("/healthz")
    print(answer.status_code, answer.get_json()["status"], flush=True)
    print(round(time.monotonic() - started, 1), flush=True)
    """
)


def test_healthz_answers_503_when_the_server_goes_quiet(server_project):
    """The app, inside the namespace: ``/healthz`` answers 200, then, once the link
    is cut, 503 within the bound, instead of hanging."""
    project, link = server_project
    url = link.url(project.url).render_as_string(hide_password=False)
    probe = subprocess.Popen(
        ["ip", "netns", "exec", link.namespace, sys.executable, "-c", HEALTH_PROBE],
        cwd=project.path,
        env={
            **os.environ,
            "DATABASE_URL": url,
            "DATABASE_URL_AUDIT": audit_url_at_head(),
            "MIGRATION_NETWORK_TIMEOUT": str(NETWORK_TIMEOUT),
        },
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert probe.stdout.readline().strip() == "200"

    link.cut()
    stdout, stderr = probe.communicate("go on\n", timeout=60)

    answer, seconds = stdout.splitlines()
    assert answer == "503 unavailable", stderr
    # Within the setting (and a connect timeout for the pool's fresh connection),
    # not the kernel's two hours.
    assert float(seconds) < 30, stderr

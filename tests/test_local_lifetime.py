"""An embedded server or local cluster ends with the process that started it, however that process ends.

Each test starts a real owner (a child Python process), reads the servers it started, ends it by a
signal and then watches ``/proc``: no ``redis-server`` of that owner may survive it, nor its data folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from fslib.local import EmbeddedRedis

from polling import wait_until

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="watches processes through /proc")

OWNER = """
import json, signal, sys, threading, time
from fslib.local import EmbeddedRedis, LocalCluster

kind, where, on_interrupt = sys.argv[1:]
started = []

def start():
    started.append(EmbeddedRedis().start() if kind == "server" else LocalCluster(primaries=3).start())

if where == "thread":
    starter = threading.Thread(target=start)
    starter.start()
    starter.join()
    time.sleep(1.0)  # time for a death signal wrongly tied to the starting thread to land
else:
    start()
servers = started[0].servers if kind == "cluster" else started
if on_interrupt == "continue":
    # As a Jupyter kernel does: its own SIGINT handler stops the cell and the kernel lives on. Set
    # before the servers are announced, so no interrupt can land outside it.
    signal.signal(signal.SIGINT, lambda *_: print("interrupted", flush=True))
print(json.dumps([[s.url, s.log_path] for s in servers]), flush=True)
while True:
    time.sleep(60)
"""


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    folder: Path


def is_redis_server(pid: int) -> bool:
    """True while ``pid`` is a live (not zombie) redis-server; a reused pid is some other program."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X") and b"redis-server" in command


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def describe(url: str, log_path: str) -> Server:
    with redis.Redis.from_url(url, socket_timeout=10) as client:
        assert client.ping() is True  # alive and answering while its owner lives
        pid = int(client.info("server")["process_id"])
    return Server(url, pid, Path(log_path).parent)


@contextmanager
def owner_process(
    kind: str, where: str, log: Path, *, on_interrupt: str = "end"
) -> Iterator[tuple[subprocess.Popen[str], list[Server]]]:
    """A child Python process that started ``kind`` (server or cluster) from ``where`` (main or thread).

    It ends on a ``KeyboardInterrupt`` (``on_interrupt="end"``) or lives on (``"continue"``). It leads
    its own process group, as a Jupyter kernel does.
    """
    with log.open("w") as stderr:
        owner = subprocess.Popen(
            [sys.executable, "-c", OWNER, kind, where, on_interrupt],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
    servers: list[Server] = []
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        assert line, f"the owner printed nothing:\n{log.read_text()}"
        servers = [describe(url, log_path) for url, log_path in json.loads(line)]
        yield owner, servers
    finally:
        if owner.poll() is None:
            owner.kill()
        owner.wait()
        owner.stdout.close()  # type: ignore[union-attr]
        for server in servers:  # what a failing test leaves behind is not left to the next ones
            if is_redis_server(server.pid):
                os.kill(server.pid, signal.SIGKILL)


CASES = [
    *[("server", where, how) for where in ("main", "thread") for how in ("SIGTERM", "SIGKILL", "SIGINT")],
    *[("cluster", "main", how) for how in ("SIGTERM", "SIGKILL", "SIGINT")],
    ("cluster", "thread", "SIGKILL"),
]


@pytest.mark.parametrize(("kind", "where", "how"), CASES)
def test_the_servers_end_with_their_owner(kind: str, where: str, how: str, tmp_path: Path) -> None:
    with owner_process(kind, where, tmp_path / "owner.log") as (owner, servers):
        assert len(servers) == (1 if kind == "server" else 3)
        assert all(is_redis_server(s.pid) for s in servers)
        owner.send_signal(getattr(signal, how))
        owner.wait(timeout=30)
        assert wait_until(lambda: not any(is_redis_server(s.pid) for s in servers), timeout=30.0), (
            f"redis-server still running after the owner's {how}: {[s.pid for s in servers]}"
        )
        assert wait_until(lambda: not any(s.folder.exists() for s in servers), timeout=10.0)


def test_an_interrupt_to_the_owners_process_group_leaves_its_servers_running(tmp_path: Path) -> None:
    # Jupyter's "interrupt kernel" and Ctrl-C in a terminal signal the whole process group.
    with owner_process("server", "main", tmp_path / "owner.log", on_interrupt="continue") as (owner, [server]):
        assert owner.stdout is not None
        for _ in range(3):
            os.killpg(owner.pid, signal.SIGINT)
            assert owner.stdout.readline() == "interrupted\n"
            assert describe(server.url, str(server.folder / "redis.log")).pid == server.pid  # still answering
        owner.terminate()
        owner.wait(timeout=30)
        assert wait_until(lambda: not is_redis_server(server.pid), timeout=30.0)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_server_ends_with_its_supervisor(how: str, tmp_path: Path) -> None:
    if how == "SIGKILL" and not sys.platform.startswith("linux"):
        pytest.skip("without a chance to stop the server, only Linux's parent-death signal ends it")
    with owner_process("server", "main", tmp_path / "owner.log") as (owner, [server]):
        supervisor = parent_pid(server.pid)
        assert supervisor not in (os.getpid(), owner.pid)
        os.kill(supervisor, getattr(signal, how))  # SIGKILL: what the OOM killer does, no chance to clean up
        assert wait_until(lambda: not is_redis_server(server.pid), timeout=30.0)
        assert owner.poll() is None  # the owner lives on, with a stopped server


def test_a_stopped_server_leaves_no_process() -> None:
    server = EmbeddedRedis().start()
    try:
        pid = describe(server.url, str(server.log_path)).pid
    finally:
        server.stop()
    assert not is_redis_server(pid)  # stop() waited for it

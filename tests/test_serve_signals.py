"""``kill <pid>`` of ``python -m fslib.serve`` or ``python -m fslib.build_features`` stops the Redis it started.

Without ``REDIS_URL`` each starts an embedded ``redis-server`` as its child.
Python's default ``SIGTERM`` ends a process without running its exit
handlers (and uvicorn raises ``SIGTERM`` again after its own shutdown), which
left that ``redis-server`` running, orphaned, forever.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from fslib.cli import SIGTERM_EXIT_CODE
from fslib.local import free_port
from fslib.serve.security import TOKEN_VARIABLE

from polling import wait_until

BOUND = 60.0
"""Seconds any wait here may take at most."""


def redis_children(pid: int) -> list[int]:
    """The ``redis-server`` processes descended from ``pid`` (the embedded server runs under a small supervisor)."""
    listed = subprocess.run(
        ["ps", "-e", "-o", "pid=,ppid=,comm="], capture_output=True, text=True, timeout=10, check=False
    ).stdout.split("\n")
    processes = [(int(p), int(pp), comm) for p, pp, comm in (line.split(None, 2) for line in listed if line.strip())]
    family = {pid}
    for _ in range(3):  # children, grandchildren, great-grandchildren
        family |= {child for child, parent, _ in processes if parent in family}
    found = [child for child, _, comm in processes if child in family and comm.strip() == "redis-server"]
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, is not alive)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@contextmanager
def started(command: list[str], log: Path) -> Iterator[tuple[subprocess.Popen[bytes], Callable[[], int]]]:
    """``command`` as a child without ``REDIS_URL`` (so it starts its embedded Redis), and a way to find that Redis.

    Whatever is still running at the end is killed by its pid: the child, and the Redis the test found.
    """
    env = {name: value for name, value in os.environ.items() if name not in ("REDIS_URL", TOKEN_VARIABLE)}
    found: list[int] = []

    def embedded_redis() -> int:
        assert wait_until(lambda: bool(redis_children(child.pid)), timeout=BOUND), log.read_text()
        found.extend(redis_children(child.pid))
        return found[0]

    with log.open("wb") as out:
        child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield child, embedded_redis
    finally:
        for pid in [child.pid, *found]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        child.wait(BOUND)


@pytest.mark.parametrize(
    ("workers", "signum", "exit_code"),
    [
        ("1", signal.SIGTERM, SIGTERM_EXIT_CODE),
        ("1", signal.SIGINT, 0),
        # uvicorn's parent of several processes takes both signals over, stops them and returns: exit code 0
        ("2", signal.SIGTERM, 0),
        ("2", signal.SIGINT, 0),
    ],
)
def test_python_m_fslib_serve_stops_its_embedded_redis_when_told_to_stop(
    tmp_path: Path, workers: str, signum: signal.Signals, exit_code: int
) -> None:
    port = free_port()
    command = [sys.executable, "-m", "fslib.serve", "--port", str(port), "--key-prefix", "sig:", "--workers", workers]
    with started(command, tmp_path / "serve.log") as (server, embedded_redis):
        redis_pid = embedded_redis()

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_until(healthy, timeout=BOUND), (tmp_path / "serve.log").read_text()
        server.send_signal(signum)
        server.wait(BOUND)
        assert wait_until(lambda: not alive(redis_pid), timeout=BOUND), "the embedded redis-server outlived the server"
        assert server.returncode == exit_code, (tmp_path / "serve.log").read_text()
    assert "Application shutdown complete" in (tmp_path / "serve.log").read_text()  # uvicorn's shutdown ran first


def test_python_m_fslib_build_features_stops_its_embedded_redis_on_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    command = [sys.executable, "-m", "fslib.build_features", "--count", "2000000"]  # far more than a test waits for
    with started(command, log) as (build, embedded_redis):
        redis_pid = embedded_redis()
        # Once its progress bar shows, the load is writing (its imports done): the signal lands mid-load.
        assert wait_until(lambda: "batch write:" in log.read_text(), timeout=BOUND), log.read_text()
        build.send_signal(signal.SIGTERM)
        build.wait(BOUND)
        assert wait_until(lambda: not alive(redis_pid), timeout=BOUND), "the embedded redis-server outlived the load"
        assert build.returncode == SIGTERM_EXIT_CODE, log.read_text()  # stopped mid-load, not done
    assert "Materialized" not in log.read_text()

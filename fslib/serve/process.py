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
from types import TracebackType

import httpx

from fslib.connection import resolve_url
from fslib.local import free_port
from fslib.serve.security import TOKEN_VARIABLE

__all__ = ["ServerProcess"]


class ServerProcess:
    """The feature server in a child process on a free loopback port.

    It serves the same Redis as this process (``redis_url``, else
    ``REDIS_URL``, else this process's embedded server), handed over in the
    child's environment so a password never shows on a command line; so is
    the ``token`` (``FSLIB_SERVE_TOKEN``; the child gets none when it is None).
    A child still running when this interpreter exits (a notebook's kernel
    shut down) is stopped then.

    Args:
        *options: More ``python -m fslib.serve`` options, e.g. ``"--key-prefix", "nb09:user:"``.
        redis_url: The Redis to serve.
        port: The port; a free one when None.
        token: The bearer token the server requires (``Authorization: Bearer ...``), or None.

    Example:
        >>> with ServerProcess("--no-worker") as server:
        ...     httpx.get(f"{server.url}/state").json()["entity_count"]
    """

    def __init__(
        self, *options: str, redis_url: str | None = None, port: int | None = None, token: str | None = None
    ) -> None:
        self.options = list(options)
        self.redis_url = redis_url
        self.port = port or free_port()
        self.token = token
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None
        self._output = ""

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"ServerProcess({self.url}, {state})"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_running(self) -> bool:
        """True while the child process lives."""
        return self._process is not None and self._process.poll() is None

    @property
    def command(self) -> list[str]:
        """The child's command line."""
        return [sys.executable, "-m", "fslib.serve", "--port", str(self.port), *self.options]

    def output(self) -> str:
        """What the child printed (stdout and stderr), so far or up to its stop."""
        return self._log.read_text(errors="replace") if self._log is not None else self._output

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Start the child and wait until ``GET /health`` answers 200 (a no-op if it runs).

        Raises:
            RuntimeError: The child exited, or did not answer within ``timeout`` (it is stopped then).
        """
        if self.is_running:
            return self
        env = {name: value for name, value in os.environ.items() if name != TOKEN_VARIABLE}
        env["REDIS_URL"] = resolve_url(self.redis_url)
        if self.token is not None:
            env[TOKEN_VARIABLE] = self.token
        self._log = Path(tempfile.mkstemp(prefix="fslib-serve-", suffix=".log")[1])
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(self.command, env=env, stdout=log, stderr=subprocess.STDOUT)
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running:
                raise RuntimeError(f"the feature server exited at start-up:\n{self.output()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the feature server did not answer within {timeout} s:\n{self.output()[-2000:]}")

    def stop(self, timeout: float = 15.0) -> int | None:
        """Ask the child to shut down (``SIGINT``: the app's shutdown runs), kill it after ``timeout``.

        Returns:
            The child's exit code (0 after a clean shutdown), or None if it never started.
        """
        process, self._process = self._process, None
        if process is None:
            return None
        atexit.unregister(self.stop)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:  # keep what it printed, drop the file
            self._output, self._log = self.output(), None
        return process.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

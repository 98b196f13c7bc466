"""The parent of every embedded ``redis-server``: it stops the server when the owning process ends.

:class:`fslib.local.EmbeddedRedis` runs it as ``python -I -S _supervisor.py FOLDER COMMAND...``
with a pipe from the owner on its standard input. The owner writes the server's secret options
(its password) and a blank line, then keeps the pipe open for as long as it wants the server.

- ``stop()`` writes ``stop`` and closes the pipe: the supervisor stops the server (``SIGTERM``,
  ``SIGKILL`` after a grace period) and exits; the owner removes the data folder.
- The pipe reads end-of-file without that line when the owner ends, however it ends: the kernel
  closes a dead process's files, after ``SIGKILL`` too, whichever thread opened them. The
  supervisor stops the server the same way and removes the folder, which no one else would.
- The server exits by itself: the supervisor exits with its code, so the owner sees it stopped.
- ``SIGTERM``, ``SIGINT`` or ``SIGHUP`` to the supervisor: it stops the server the same way.
- On Linux the server is sent ``SIGKILL`` if the supervisor itself dies without that chance (the
  OOM killer): ``PR_SET_PDEATHSIG``, set in the server before it execs. That signal fires when the
  *thread* that forked the server ends, which is why the owner, whose threads come and go, does
  not set it itself; here the forking thread is this process's only one. ``SIGKILL``, because
  nothing is left to escalate if the server lingered on a ``SIGTERM``, and it keeps no data.

Standard library only and no ``site`` (``-S``): it starts in milliseconds and imports no fslib.
"""

from __future__ import annotations

import os
import select
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable

_GRACE_SECONDS = 5.0
"""How long the server may take to shut down on ``SIGTERM`` before it gets ``SIGKILL``."""

_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_this_process() -> Callable[[], None] | None:
    """What the server runs between fork and exec: ``SIGKILL`` when this process dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not in the forked child
    supervisor = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != supervisor:  # this process died before the signal was armed
            os._exit(1)

    return arm


def _stop(server: subprocess.Popen[bytes], wakeup: int) -> None:
    """``SIGTERM``, and ``SIGKILL`` if the server still runs after the grace period; returns once it exited."""
    server.terminate()
    deadline = time.monotonic() + _GRACE_SECONDS
    while server.poll() is None:
        left = deadline - time.monotonic()
        if left <= 0:
            server.kill()
            server.wait()
        elif select.select([wakeup], [], [], left)[0]:
            os.read(wakeup, 64)  # its SIGCHLD, most likely: look again


def _hand_over_options(server: subprocess.Popen[bytes]) -> None:
    """Copy the owner's lines up to the blank one to the server, which reads its stdin to the end first."""
    assert server.stdin is not None
    try:
        with server.stdin:
            for line in iter(sys.stdin.buffer.readline, b""):  # b"": the owner ended meanwhile
                if line == b"\n":
                    break
                server.stdin.write(line)
    except BrokenPipeError:
        pass  # the server exited already; the loop in main() sees it


def _wait_for_an_end(server: subprocess.Popen[bytes], wakeup: int) -> bool:
    """Block until the server exits, stopping it first when asked to.

    Returns:
        True when the owner vanished: its pipe reached end-of-file without the ``stop`` line of ``stop()``.
    """
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ)
    selector.register(wakeup, selectors.EVENT_READ)
    while server.poll() is None:  # a SIGCHLD wakes the select up to check
        for key, _ in selector.select():
            data = os.read(key.fd, 4096)
            if key.fd != wakeup or not _STOP_SIGNALS.isdisjoint(data):
                _stop(server, wakeup)
                return key.fd != wakeup and not data
    return False


def main(argv: list[str]) -> int:
    """Run ``argv[1:]`` (the server) with its data folder ``argv[0]``, until one of the ends above.

    Returns:
        The server's exit code (128 + the signal's number when a signal ended it).
    """
    folder, command = argv[0], argv[1:]
    # Signals only write their number to a pipe, read below beside the owner's: no race, no polling.
    wakeup, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    for signum in (*_STOP_SIGNALS, signal.SIGCHLD):
        signal.signal(signum, lambda *_: None)
    arm = _die_with_this_process()
    try:  # preexec_fn is unsafe beside other threads; this process has none
        server = subprocess.Popen(command, stdin=subprocess.PIPE, preexec_fn=arm)  # noqa: PLW1509
    except OSError as exc:
        print(f"fslib supervisor: cannot run {command[0]}: {exc}", flush=True)
        return 127
    _hand_over_options(server)
    if _wait_for_an_end(server, wakeup):
        shutil.rmtree(folder, ignore_errors=True)
    code = server.returncode
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

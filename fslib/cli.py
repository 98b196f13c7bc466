"""What fslib's command lines (``python -m fslib.build_features``, ``python -m fslib.serve``) share.

Two rules of running on a shared machine: a secret never goes on a command
line (``/proc/<pid>/cmdline`` is readable by every local user), and a process
told to stop (``kill <pid>``) runs its exit handlers, which stop the embedded
Redis it started.
"""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from fslib.urls import mask_url, url_secrets

__all__ = ["SIGTERM_EXIT_CODE", "exit_on_sigterm", "option_type", "secret_in_url_option"]

Number = TypeVar("Number", int, float)

SIGTERM_EXIT_CODE = 128 + signal.SIGTERM
"""143: how a shell reports a process ended by ``SIGTERM``; the exit code after one."""


def secret_in_url_option(url: str | None, option: str = "--redis-url") -> str | None:
    """Why ``url``, given as a command-line ``option``, must not be used; None when it holds no secret.

    Any part :func:`fslib.urls.mask_url` hides counts (:func:`fslib.urls.url_secrets`) as a secret: the password of
    ``user:password@``, ``?password=`` and every other query key but a few plain options.

    Returns:
        One line naming the option, the URL masked and the fix (``REDIS_URL``), or None.
    """
    if url is None or not url_secrets(url):
        return None
    return (
        f"{option} {mask_url(url)} holds a password or another secret, which every local user can read "
        f"on a command line (ps, /proc): put the URL in the REDIS_URL environment variable instead"
    )


def option_type(
    kind: type[Number], check: Callable[[Number, str], Number] | None = None, what: str = ""
) -> Callable[[str], Number]:
    """An argparse type: the text as ``kind`` (int or float), then one of :mod:`fslib.checks`' checks, if given.

    A command line refuses what the library refuses, in the library's words, before anything connects.

    Args:
        kind: ``int`` or ``float``.
        check: E.g. :func:`fslib.checks.check_count`, called as ``check(value, what)``.
        what: The name the check's message gives the value (``"the TTL"``).
    """

    def convert(text: str) -> Number:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {'whole ' if kind is int else ''}number: {text!r}") from None
        if check is None:
            return value
        try:
            return check(value, what)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = kind.__name__  # argparse names the type in its messages
    return convert


def exit_on_sigterm() -> None:
    """From now on ``SIGTERM`` raises ``SystemExit(143)``, so ``atexit`` handlers and ``finally`` blocks run.

    Python's default ``SIGTERM`` ends the process on the spot, leaving behind
    the embedded ``redis-server`` an exit handler would have stopped. uvicorn
    takes ``SIGTERM`` over while it serves and, after its graceful shutdown,
    raises it again with the handler it found: this one.
    """
    signal.signal(signal.SIGTERM, _raise_system_exit)


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)

"""What one client may hold of the server: a connection's idle time, its time to send headers, a share of a cap.

uvicorn closes a keep-alive connection that stays idle after a response
(``timeout_keep_alive``) and answers 503 once ``limit_concurrency``
connections or requests are open, but it has no deadline for a request's
headers: a client that opens a connection and sends nothing, or sends the
headers a byte at a time, holds it forever. :func:`uvicorn_options` adds one
(:class:`HeaderDeadline`), on uvicorn's h11 and httptools HTTP parsers alike.
"""

from __future__ import annotations

import asyncio
import copyreg
from typing import Any, Literal, Protocol, cast

from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import import_from_string

__all__ = [
    "DEFAULT_LIMIT_CONCURRENCY",
    "DEFAULT_TIMEOUT_HEADERS",
    "DEFAULT_TIMEOUT_KEEP_ALIVE",
    "HTTP_PARSERS",
    "HeaderDeadline",
    "HttpParser",
    "header_deadline_protocol",
    "uvicorn_options",
]

DEFAULT_TIMEOUT_KEEP_ALIVE = 5
"""Seconds an idle keep-alive connection stays open after a response (uvicorn's default)."""
DEFAULT_TIMEOUT_HEADERS = 10.0
"""Seconds a client has to send a request's headers, from its connection or its request's first byte."""
DEFAULT_LIMIT_CONCURRENCY = 100
"""Open connections or requests in flight beyond which uvicorn answers 503 (twice the 50 clients of ``make bench``)."""

HttpParser = Literal["auto", "h11", "httptools"]
HTTP_PARSERS: tuple[HttpParser, ...] = ("auto", "h11", "httptools")
"""uvicorn's HTTP/1.1 implementations; ``auto`` is httptools when installed, else h11."""


class _Cycle(Protocol):
    """What this module reads of uvicorn's per-request state (each parser has its own class)."""

    response_complete: bool


class HeaderDeadline(asyncio.Protocol):
    """Mixed in before a uvicorn HTTP protocol: closes a connection whose request headers are late.

    The clock starts when the connection opens, and on a keep-alive connection
    when the next request's first byte arrives (while it idles, uvicorn's
    keep-alive timeout runs). Both parsers set ``cycle`` as soon as a
    request's headers are complete, which stops the clock: a slow endpoint or
    a long body is not cut off.
    """

    header_timeout: float = DEFAULT_TIMEOUT_HEADERS
    _cycle: _Cycle | None = None
    _deadline: asyncio.TimerHandle | None = None
    _transport: asyncio.BaseTransport | None = None

    @property
    def cycle(self) -> _Cycle | None:
        """The request being served, or the last one (uvicorn's attribute)."""
        return self._cycle

    @cycle.setter
    def cycle(self, cycle: _Cycle | None) -> None:
        self._cycle = cycle
        if cycle is not None:  # a request's headers are in
            self._stop_clock()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._transport = transport
        self._start_clock()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and (self._cycle is None or self._cycle.response_complete):
            self._start_clock()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        super().connection_lost(exc)

    def _start_clock(self) -> None:
        self._stop_clock()
        self._deadline = asyncio.get_running_loop().call_later(self.header_timeout, self._headers_late)

    def _stop_clock(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


class _DeadlineProtocolType(type):
    """The type of :func:`header_deadline_protocol`'s classes, which exist only once it ran.

    ``--workers N`` hands uvicorn's processes their settings pickled, a
    class by its module and name, which a new process would not find: so
    such a class is pickled as the call that makes it (see ``copyreg`` below).
    """

    parser: HttpParser
    header_timeout: float


def _remake(cls: _DeadlineProtocolType) -> tuple[Any, tuple[HttpParser, float]]:
    return header_deadline_protocol, (cls.parser, cls.header_timeout)


copyreg.pickle(_DeadlineProtocolType, _remake)


def header_deadline_protocol(parser: HttpParser, header_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's protocol class for ``parser`` with :class:`HeaderDeadline` mixed in.

    Raises:
        ValueError: ``header_timeout`` is not above zero.
        ImportError: ``parser`` is ``httptools``, which is not installed.
    """
    if not header_timeout > 0:
        raise ValueError(f"header_timeout must be > 0 seconds, got {header_timeout!r}")
    base: type[asyncio.Protocol] = import_from_string(HTTP_PROTOCOLS[parser])
    settings = {"parser": parser, "header_timeout": header_timeout}
    protocol = _DeadlineProtocolType(f"{base.__name__}WithHeaderDeadline", (HeaderDeadline, base), settings)
    return cast("type[asyncio.Protocol]", protocol)  # a subclass of base: its metaclass is not what mypy sees


def uvicorn_options(
    *,
    http: HttpParser = "auto",
    timeout_keep_alive: int = DEFAULT_TIMEOUT_KEEP_ALIVE,
    timeout_headers: float = DEFAULT_TIMEOUT_HEADERS,
    limit_concurrency: int = DEFAULT_LIMIT_CONCURRENCY,
) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` / ``uvicorn.Config`` that bound what clients may hold.

    Args:
        http: The HTTP parser.
        timeout_keep_alive: Seconds an idle keep-alive connection stays open.
        timeout_headers: Seconds a client has to send a request's headers.
        limit_concurrency: Open connections or requests beyond which uvicorn answers 503.

    Raises:
        ValueError: A number is not above zero.
    """
    if timeout_keep_alive < 1 or limit_concurrency < 1:
        raise ValueError(
            f"timeout_keep_alive and limit_concurrency must be >= 1, got {timeout_keep_alive}, {limit_concurrency}"
        )
    return {
        "http": header_deadline_protocol(http, timeout_headers),
        "ws": "none",  # no WebSocket endpoints: an upgrade is never handed to another protocol
        "timeout_keep_alive": timeout_keep_alive,
        "limit_concurrency": limit_concurrency,
    }

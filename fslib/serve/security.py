"""RequestGuard: the checks every request to the feature server passes before any endpoint runs.

A web page the user has open can make the browser send requests to a server
on loopback: a ``<form method=post>`` to ``/reset`` (no preflight for a form),
or ``fetch`` after its own name was re-pointed at 127.0.0.1 (DNS rebinding).
So, in this order, each answered with a JSON error:

1. ``Host`` must be one of the server's names (400): loopback ones, the bind
   address, and ``--allowed-host`` names, with no port or the server's own.
2. A request whose ``Origin`` is not the server's own (``scheme://Host``), or
   whose ``Sec-Fetch-Site`` is ``cross-site``, is refused (403). A request
   without them (curl, another server) passes; there is no CORS allowance.
3. With a token, every path but ``/health`` needs ``Authorization: Bearer
   <token>`` (401, compared in constant time).
4. A request that may change state (any method but GET, HEAD, OPTIONS) must
   be ``application/json`` (415): a browser sends that cross-site only after a
   preflight, which this server never allows.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any

from starlette.responses import JSONResponse

__all__ = [
    "LOOPBACK_NAMES",
    "MIN_TOKEN_LENGTH",
    "TOKEN_VARIABLE",
    "ASGIApp",
    "Message",
    "Receive",
    "RequestGuard",
    "Scope",
    "Send",
    "check_token",
    "host_names",
    "is_loopback",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
"""The names a server always answers to, as they appear in a ``Host`` header."""
TOKEN_VARIABLE = "FSLIB_SERVE_TOKEN"
"""Where ``python -m fslib.serve`` reads the bearer token (a command line would show it to every local user)."""
MIN_TOKEN_LENGTH = 16
"""Shorter bearer tokens are refused: they could be guessed."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing: they may come without a JSON body."""
_CHECKED_HEADERS = ("authorization", "content-type", "host", "origin", "sec-fetch-site")
"""Headers the guard judges; each may come once (with two, which one would a proxy or the app read?)."""

PUBLIC_PATHS = frozenset({"/health", "/", "/page/page.js", "/page/page.css"})
"""Paths served without the token: a load balancer's liveness probe, and the demo's web page and its files,
which hold no data (:data:`fslib.serve.page.PAGE_FILES`; each call the page makes needs the token)."""

_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750's b64token: what fits in a header unquoted
_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and every loopback address (127.0.0.0/8, ``::1``), bracketed or not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _normalized_host(entry: str) -> str:
    """``entry`` as a ``Host`` header spells it: lowercase, an IPv6 address in brackets.

    Raises:
        ValueError: Not a host name or address, with an optional ``:port``.
    """
    host = entry.strip().lower()
    with contextlib.suppress(ValueError):  # else a name, an IPv4 address, or either with a port
        host = f"[{ipaddress.IPv6Address(host.strip('[]')).compressed}]"
    if not _HOST.fullmatch(host):
        raise ValueError(f"allowed host {entry!r} is not a host name or address (with an optional :port)")
    return host


def host_names(bind_host: str, allowed_hosts: Iterable[str] = ()) -> list[str]:
    """The names a server bound to ``bind_host`` answers: loopback ones, the bind address, ``allowed_hosts``.

    A wildcard bind address (``0.0.0.0``, ``::``) names no host: add the names
    clients use with ``allowed_hosts``.

    Raises:
        ValueError: An allowed host is not a host name or address.
    """
    names = list(LOOPBACK_NAMES)
    if bind_host not in ("", "0.0.0.0", "::"):
        names.append(_normalized_host(bind_host))
    names += [_normalized_host(entry) for entry in allowed_hosts]
    return list(dict.fromkeys(names))  # each once, in order


def check_token(token: str | None, bind_host: str) -> str | None:
    """Return ``token`` if it may protect a server bound to ``bind_host``.

    Raises:
        ValueError: No token but ``bind_host`` is beyond loopback, or a token
            that is short or has characters a header cannot carry.
    """
    if token is None:
        if not is_loopback(bind_host):
            raise ValueError(
                f"a server bound to {bind_host} (beyond loopback) needs a token: "
                "set FSLIB_SERVE_TOKEN or give --token-file (create_app(token=...))"
            )
        return None
    if len(token) < MIN_TOKEN_LENGTH or not _TOKEN.fullmatch(token):
        raise ValueError(
            f"the token must be at least {MIN_TOKEN_LENGTH} characters of A-Z a-z 0-9 - . _ ~ + / "
            "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token


def _split_host(host: str) -> tuple[str, str | None]:
    """``name[:port]`` (``[v6][:port]``) as the name and the port, or None without one."""
    end = host.rfind("]") + 1  # 0 when there are no brackets
    name, colon, port = host[end:].rpartition(":")
    if not colon:
        return host, None
    return host[:end] + name, port


class RequestGuard:
    """ASGI middleware: the module's four checks on every HTTP request, each refused with a JSON error.

    Args:
        app: The application behind it.
        host_names: Names the server answers to (:func:`host_names`).
        token: The bearer token every path but ``/health`` needs; None for none.
    """

    def __init__(self, app: ASGIApp, host_names: Sequence[str], token: str | None) -> None:
        self.app = app
        self.host_names = frozenset(host_names)
        self.token = token.encode() if token is not None else None
        self._names_text = ", ".join(host_names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await refusal(scope, receive, send)

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        """The error answer for this request, or None when it passes every check."""
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        if len(headers) < len(scope["headers"]):  # a header came twice: the checks below would see one copy only
            names = [name.decode("latin-1") for name, _ in scope["headers"]]
            repeated = sorted({name for name in _CHECKED_HEADERS if names.count(name) > 1})
            if repeated:
                return _error(400, f"repeated header {', '.join(repeated)}: send each once")
        host = headers.get("host", "").lower()
        if not self._host_allowed(host, scope.get("server")):
            shown = repr(host[:100]) if host else "missing"
            return _error(400, f"Host {shown} is not one of this server's names: {self._names_text}")
        own_origin = f"{scope['scheme']}://{host}"
        origin = headers.get("origin")
        if origin is not None and origin.lower() != own_origin:
            return _error(403, f"cross-origin request refused: Origin {origin[:100]!r} is not {own_origin!r}")
        if headers.get("sec-fetch-site", "").lower() == "cross-site":
            return _error(403, "cross-site request refused (Sec-Fetch-Site: cross-site)")
        if self.token is not None and scope["path"] not in PUBLIC_PATHS:
            refusal = self._token_refusal(headers.get("authorization"))
            if refusal is not None:
                return refusal
        content_type = headers.get("content-type", "").partition(";")[0].strip().lower()
        if scope["method"] not in SAFE_METHODS and content_type != "application/json":
            got = repr(content_type[:100]) if content_type else "no content type"
            return _error(415, f"{scope['method']} {scope['path']} takes application/json only, got {got}")
        return None

    def _host_allowed(self, host: str, server: tuple[str, int | None] | None) -> bool:
        name, port = _split_host(host)
        if port is None:
            return name in self.host_names
        # With a port: the server's own after an allowed name, or an allowed name:port as given.
        own_port = server is not None and port == str(server[1])
        return host in self.host_names or (own_port and name in self.host_names)

    def _token_refusal(self, authorization: str | None) -> JSONResponse | None:
        assert self.token is not None
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return _error(401, "this server needs a token: send Authorization: Bearer <token>", "Bearer")
        if not hmac.compare_digest(given.strip().encode("latin-1"), self.token):
            return _error(401, "wrong token", 'Bearer error="invalid_token"')
        return None


def _error(status: int, detail: str, challenge: str | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)

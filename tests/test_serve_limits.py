"""What one client may hold of the server: late headers, idle connections, a share of the concurrency cap.

Raw sockets on loopback against a real uvicorn, on both of its HTTP parsers
(h11, and httptools when installed). Every wait is bounded by ``BOUND``,
far beyond the timeouts under test; none asserts how long anything took.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from fslib.local import EmbeddedRedis
from fslib.serve import ServerProcess, create_app
from fslib.serve.limits import uvicorn_options

from polling import wait_until
from test_serve import serving

BOUND = 30.0
"""Seconds a socket waits for the server at most; a test that gets there fails."""
SHORT = 0.5
"""The header timeout under test."""

needs_httptools = pytest.mark.skipif(
    importlib.util.find_spec("httptools") is None,
    reason="needs httptools, uvicorn's faster HTTP parser: pip install httptools (or uvicorn[standard])",
)
PARSERS = [pytest.param("h11"), pytest.param("httptools", marks=needs_httptools)]
REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

Serve = Callable[..., int]


@pytest.fixture(params=PARSERS)
def serve(request: pytest.FixtureRequest, redis_server: EmbeddedRedis, prefix: str) -> Iterator[Serve]:
    """Serve the app with ``uvicorn_options(http=<the parser>, **limits)``; returns its port."""
    with ExitStack() as stack:

        def start(**limits: Any) -> int:
            app = create_app(redis_server.url, key_prefix=prefix, start_worker=False)
            client = stack.enter_context(serving(app, **uvicorn_options(http=request.param, **limits)))
            port = client.base_url.port
            assert port is not None
            return port

        yield start


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=BOUND)


def assert_closed_by_server(sock: socket.socket) -> None:
    """Read until the server closes the connection; fail if it is still open after ``BOUND`` seconds."""
    try:
        while sock.recv(65536):
            pass  # an answer before the close is fine
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {BOUND:g} s")


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response (it has a Content-Length): the status line, headers and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))[15:])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection mid-body: {data!r}"
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_connection_that_never_sends_is_closed(serve: Serve) -> None:
    with connect(serve(timeout_headers=SHORT)) as sock:
        assert_closed_by_server(sock)


def test_headers_that_never_finish_are_closed(serve: Serve) -> None:
    with connect(serve(timeout_headers=SHORT)) as sock:
        sock.sendall(REQUEST[:-2])  # all but the blank line that ends the headers
        assert_closed_by_server(sock)


def test_headers_sent_a_byte_at_a_time_are_closed(serve: Serve) -> None:
    """Each byte would restart an idle timer; the deadline counts from the connection."""
    with connect(serve(timeout_headers=SHORT)) as sock:
        endless = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 600
        try:
            for byte in endless:  # about 60 x the header timeout
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            return  # closed while sending
        assert_closed_by_server(sock)


def test_the_next_requests_headers_on_a_kept_alive_connection_are_timed_too(serve: Serve) -> None:
    # A keep-alive timeout beyond BOUND: only the header deadline can close this connection.
    with connect(serve(timeout_headers=SHORT, timeout_keep_alive=int(BOUND) * 2)) as sock:
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(REQUEST[:-2])
        assert_closed_by_server(sock)


def test_a_request_whose_headers_are_in_is_not_cut_off(serve: Serve) -> None:
    """The deadline covers the headers only: a body that takes longer still gets its answer."""
    with connect(serve(timeout_headers=SHORT)) as sock:
        body = b'{"count": 2}'
        sock.sendall(
            b"POST /batch-read HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        time.sleep(4 * SHORT)
        sock.sendall(body)
        assert read_response(sock).startswith(b"HTTP/1.1 200")


def test_an_idle_kept_alive_connection_is_closed(serve: Serve) -> None:
    with connect(serve(timeout_keep_alive=1, timeout_headers=BOUND * 2)) as sock:
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        assert_closed_by_server(sock)


def test_concurrency_is_capped(serve: Serve) -> None:
    port = serve(limit_concurrency=2, timeout_headers=BOUND * 2)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        with connect(port):  # a connection that holds a place, as a slow client would
            assert wait_until(lambda: http.get("/health").status_code == 503)  # it and this client: 2 of 2
        assert wait_until(lambda: http.get("/health").status_code == 200)  # the place is free again


@pytest.mark.parametrize("parser", PARSERS)
def test_python_m_fslib_serve_sets_the_limits(redis_server: EmbeddedRedis, prefix: str, parser: str) -> None:
    options = ("--key-prefix", prefix, "--no-worker", "--http", parser, "--timeout-headers", str(SHORT))
    with ServerProcess(*options, redis_url=redis_server.url) as server, connect(server.port) as sock:
        sock.sendall(REQUEST[:-2])
        assert_closed_by_server(sock)


def test_the_limits_are_options_with_their_defaults_in_the_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fslib.serve", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    text = " ".join(done.stdout.split())  # argparse wraps lines
    for says in [
        "--timeout-keep-alive SECONDS close a kept-alive connection idle this long (default: 5)",
        "--timeout-headers SECONDS close a connection whose request headers take longer",
        "request's first byte (default: 10)",
        "--limit-concurrency N answer 503 while N connections or requests are open (default: 100)",
        "uvicorn's HTTP parser (default: auto, which is httptools if installed, else h11)",
    ]:
        assert says in text, (says, text)
    for bad in [["--timeout-headers", "0"], ["--limit-concurrency", "-1"], ["--timeout-keep-alive", "0.5"]]:
        refused = subprocess.run(
            [sys.executable, "-m", "fslib.serve", *bad], capture_output=True, text=True, timeout=60, check=False
        )
        assert refused.returncode == 2 and f"argument {bad[0]}" in refused.stderr, (bad, refused.stderr)

"""``python -m benchmarks.http_load``: a lean HTTP/1.1 load generator, run in its own process by the ``http`` section.

It reads a JSON spec on stdin and writes its results as JSON on stdout::

    {"targets": {"fslib.serve": "http://127.0.0.1:8090", "bare": "http://127.0.0.1:8091"},
     "path": "/get-online-features", "bodies": ["{...}", ...], "present": 6,
     "connections": 8, "seconds": 3.0, "warmup_seconds": 0.5, "rounds": 3}

Each round runs every target in turn (the order reversed every other round,
so neither is always the one after the other): ``connections`` keep-alive
connections, each sending ``POST path`` with the next of ``bodies`` as soon
as its previous answer is in (a closed loop), for ``warmup_seconds`` and then
``seconds`` timed. A request is an error unless it answers 200 with exactly
``present`` statuses ``"present"`` in its body (a count of bytes, not a JSON
parse, so checking costs the client next to nothing).

Why not httpx: this process shares the machine's CPUs with the server and
Redis, and a client that spends more per request than the server would
measure itself. Here a connection is an :class:`asyncio.Protocol` on uvloop:
requests are pre-encoded bytes, a response is found by its ``content-length``
and nothing else is parsed. The output gives the client's own CPU time per
run, so a reader can check it stayed small beside the server's.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

import numpy as np

__all__ = ["Connection", "load_run", "main", "requests_for"]

_LENGTH = b"\r\ncontent-length:"  # a header line of a lowercased head (the status line comes first)


def requests_for(url: str, path: str, bodies: Sequence[str]) -> list[bytes]:
    """Each body as a complete ``POST`` request to ``url`` + ``path``: the bytes a connection writes as they are."""
    host = urlsplit(url).netloc
    out = []
    for body in bodies:
        data = body.encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        out.append(head.encode() + data)
    return out


class Connection(asyncio.Protocol):
    """One keep-alive connection in a closed loop: it writes the next request when an answer is complete.

    Args:
        requests: Pre-encoded requests, sent in turn from ``offset``.
        offset: Where this connection starts in ``requests`` (connections spread over the entities).
        present: How many ``"present"`` a good answer holds.
        done: Called once the connection stops (its deadline passed, or it was lost).
    """

    def __init__(self, requests: list[bytes], offset: int, present: int, done: Callable[[], None]) -> None:
        self.requests, self.next, self.present, self.done = requests, offset, present, done
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.length = -1  # the body's length once the head is in, else -1
        self.status_ok = False
        self.deadline = 0
        self.sent = 0
        self.latencies: list[int] = []
        self.errors = 0
        self.timed = False
        self.active = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is one, without subclassing it

    def start(self, deadline: int, timed: bool) -> None:
        """Send requests back to back until ``deadline`` (``perf_counter_ns``); count them only if ``timed``."""
        self.deadline, self.timed, self.active = deadline, timed, True
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        request = self.requests[self.next % len(self.requests)]
        self.next += 1
        self.sent = time.perf_counter_ns()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.length < 0:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end].lower()
                at = head.find(_LENGTH)
                if at < 0:  # every answer of both servers has one: anything else is a broken exchange
                    self._lost()
                    return
                stop = head.find(b"\r\n", at + len(_LENGTH))
                self.length = int(head[at + len(_LENGTH) : stop if stop >= 0 else None])
                self.status_ok = head.startswith(b"http/1.1 200 ")
                self.buffer = self.buffer[end + 4 :]
            if len(self.buffer) < self.length:
                return
            body, self.buffer = self.buffer[: self.length], self.buffer[self.length :]
            self.length = -1
            self._answered(body)

    def _answered(self, body: bytes) -> None:
        now = time.perf_counter_ns()
        if self.timed:
            if self.status_ok and body.count(b'"present"') == self.present:
                self.latencies.append(now - self.sent)
            else:
                self.errors += 1
        if now < self.deadline:
            self._send()
        else:
            self._stop()

    def _stop(self) -> None:
        if self.active:
            self.active = False
            self.done()

    def _lost(self) -> None:
        self.errors += 1
        if self.transport is not None:
            self.transport.close()
        self._stop()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.active:  # closed while a request was in flight
            self.errors += 1
            self._stop()


async def load_run(
    url: str, requests: list[bytes], *, connections: int, present: int, seconds: float, warmup_seconds: float
) -> dict[str, Any]:
    """``connections`` connections in a closed loop against ``url``: warm-up, then ``seconds`` timed.

    Returns:
        ``requests`` (good answers), ``errors``, ``seconds`` (first request to
        last answer), ``p50_us``/``p90_us``/``p99_us`` and ``client_cpu_s`` (this
        process's CPU time during the timed part).
    """
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    conns: list[Connection] = []
    stopped = 0
    finished: asyncio.Future[None] = loop.create_future()

    def done() -> None:
        nonlocal stopped
        stopped += 1
        if stopped == len(conns) and not finished.done():
            finished.set_result(None)

    async def phase(length: float, timed: bool) -> None:
        nonlocal stopped, finished
        stopped, finished = 0, loop.create_future()
        deadline = time.perf_counter_ns() + int(length * 1e9)
        for conn in conns:
            conn.start(deadline, timed)
        await finished

    for c in range(connections):  # spread the connections over the bodies, so they read different entities
        offset = c * len(requests) // connections
        _, conn = await loop.create_connection(
            functools.partial(Connection, requests, offset, present, done),
            parts.hostname or "127.0.0.1",
            parts.port or 80,
        )
        conns.append(conn)
    try:
        await phase(warmup_seconds, timed=False)
        cpu, started = time.process_time(), time.perf_counter()
        await phase(seconds, timed=True)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        for conn in conns:
            if conn.transport is not None:
                conn.transport.close()
    latencies = np.asarray([ns for conn in conns for ns in conn.latencies], dtype=np.float64) / 1e3
    pcts = dict(zip(("p50_us", "p90_us", "p99_us"), np.percentile(latencies, [50, 90, 99]))) if latencies.size else {}
    return {
        "requests": int(latencies.size),
        "errors": sum(conn.errors for conn in conns),
        "seconds": elapsed,
        "client_cpu_s": cpu,
        **{name: float(value) for name, value in pcts.items()},
    }


async def _rounds(spec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every target once per round, the order reversed every other round."""
    targets: dict[str, str] = spec["targets"]
    requests = {name: requests_for(url, spec["path"], spec["bodies"]) for name, url in targets.items()}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for round_ in range(spec["rounds"]):
        order = list(targets) if round_ % 2 == 0 else list(reversed(targets))
        for name in order:
            run = await load_run(
                targets[name],
                requests[name],
                connections=spec["connections"],
                present=spec["present"],
                seconds=spec["seconds"],
                warmup_seconds=spec["warmup_seconds"],
            )
            results[name].append(run)
    return results


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """uvloop's ``run`` (installed with uvicorn[standard], as the servers run), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # no uvloop for this platform (Windows)
        return asyncio.run
    return uvloop.run


def main() -> None:
    """Read the spec from stdin, run it, print the results as JSON."""
    spec = json.load(sys.stdin)
    results = _event_loop_runner()(_rounds(spec))
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()

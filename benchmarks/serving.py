"""Serving under load (issue #14): concurrent clients reading for a fixed time, through the store and over HTTP.

A closed loop: ``CLIENTS`` coroutines each send a request, wait for its
answer and send the next, for a fixed time; every request's latency counts,
queueing on the client's event loop included, as a caller would see it.
The direct runs read through :class:`fslib.fast.AsyncFeatureStore`; the HTTP
run makes the freshness-aware read (``get_feature_vector``) as ``POST
/get-online-features`` to ``python -m fslib.serve`` in a child process, over
loopback, in the same table.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import redis

from benchmarks.common import Config, Report
from benchmarks.reads import FIVE, bench_stores
from fslib import synthesize_users
from fslib.connection import connect_async
from fslib.fast import AsyncFeatureStore
from fslib.lab.bench import gc_paused, percentiles
from fslib.serve import ServerProcess

__all__ = ["CLIENTS", "LoadRun", "closed_loop", "http_load"]

SECTION = "serving under load"
CLIENTS = 50
"""Concurrent clients (connect_async's default pool has 50 connections)."""
ENDPOINT = "/get-online-features"


@dataclass(frozen=True)
class LoadRun:
    """What a closed-loop load run measured."""

    requests: int
    """Requests answered without an error."""
    errors: int
    """Requests that raised."""
    seconds: float
    latencies: np.ndarray
    """Seconds per answered request."""

    def row(self, variant: str, case: str) -> dict[str, Any]:
        """A report row: requests/s, errors and latency percentiles in microseconds."""
        pcts = percentiles(self.latencies) if self.latencies.size else {}
        return {
            "section": SECTION,
            "case": case,
            "variant": variant,
            "requests": self.requests,
            "errors": self.errors,
            "requests_per_s": self.requests / self.seconds,
            **{f"{q}_us": v * 1e6 for q, v in pcts.items()},
        }


async def closed_loop(request: Callable[[int], Awaitable[object]], clients: int, seconds: float) -> LoadRun:
    """Run ``clients`` coroutines that each call ``request(i)`` back to back until ``seconds`` have passed.

    Args:
        request: One request; ``i`` counts each client's requests, so callers can vary the entity.
        clients: Concurrent coroutines.
        seconds: How long every client keeps sending.

    Returns:
        The answered requests' latencies, and how many raised instead (an
        error is counted, not raised: a load run reports its errors).
    """
    clock = time.perf_counter_ns
    latencies: list[int] = []
    errors = 0

    async def client(offset: int, deadline: int) -> None:
        nonlocal errors
        i = offset
        while clock() < deadline:
            start = clock()
            try:
                await request(i)
            except Exception:  # counted: a load run reports errors rather than stopping at the first
                errors += 1
            else:
                latencies.append(clock() - start)
            i += clients

    with gc_paused():
        started = clock()
        deadline = started + int(seconds * 1e9)
        await asyncio.gather(*(client(c, deadline) for c in range(clients)))
        elapsed = (clock() - started) / 1e9
    return LoadRun(len(latencies), errors, elapsed, np.asarray(latencies, dtype=np.float64) / 1e9)


def http_load(cfg: Config, client: redis.Redis, report: Report) -> None:
    """``CLIENTS`` concurrent readers for a fixed time: through AsyncFeatureStore, and over HTTP (``fslib.serve``)."""
    users = cfg.pick(100, 20)
    seconds = cfg.pick(10.0, 0.5)
    case = f"{CLIENTS} clients x {seconds:g} s, 5 fields"
    with bench_stores(client, users) as stores:
        prefix, ids = stores["pipeline"].key_prefix, synthesize_users(users).ids
        runs = {
            "direct AsyncFeatureStore.get_features": asyncio.run(_direct_run(cfg.url, prefix, ids, seconds, False)),
            "direct AsyncFeatureStore.get_feature_vector": asyncio.run(
                _direct_run(cfg.url, prefix, ids, seconds, True)
            ),
            f"HTTP POST {ENDPOINT}": _http_run(cfg, prefix, ids, seconds),
        }
    for variant, run in runs.items():
        report.rows.append(run.row(variant, case))
        print(f"  {variant}: {run.requests / run.seconds:.0f} requests/s, {run.errors} errors", flush=True)
    _compare(report, runs[f"HTTP POST {ENDPOINT}"], runs["direct AsyncFeatureStore.get_feature_vector"])


async def _direct_run(url: str, prefix: str, ids: list[str], seconds: float, with_status: bool) -> LoadRun:
    aclient = await connect_async(url)
    try:
        store = AsyncFeatureStore(aclient, key_prefix=prefix)
        read = store.get_feature_vector if with_status else store.get_features
        return await closed_loop(lambda i: read(ids[i % len(ids)], FIVE), CLIENTS, seconds)
    finally:
        await aclient.aclose()


def _http_run(cfg: Config, prefix: str, ids: list[str], seconds: float) -> LoadRun:
    """The same reads as ``get_feature_vector``, each one ``POST /get-online-features`` to a server in a child process.

    A child, so the server's Python does not share this process's GIL with the
    clients (both still share the machine's CPUs). A request counts as an error
    unless it answers 200 with every value ``present``.
    """
    with ServerProcess("--key-prefix", prefix, "--no-worker", "--log-level", "warning", redis_url=cfg.url) as server:
        return asyncio.run(_http_clients(server.url, ids, seconds))


async def _http_clients(url: str, ids: list[str], seconds: float) -> LoadRun:
    """``CLIENTS`` callers, each with its own ``httpx.AsyncClient`` and keep-alive connection.

    One client each, as separate callers would be: coroutines sharing one
    ``AsyncClient`` queue on its connection pool, which made the client, not
    the server, the bottleneck of this run when it was written.
    """
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=10.0)) for _ in range(CLIENTS)
        ]

        async def request(i: int) -> None:  # closed_loop gives coroutine c the requests i = c (mod CLIENTS)
            body = {"entities": {"user_id": [ids[i % len(ids)]]}, "features": FIVE}
            response = await clients[i % CLIENTS].post(ENDPOINT, json=body)
            response.raise_for_status()
            if any(column["statuses"] != ["present"] for column in response.json()["results"]):
                raise ValueError(f"not every value present: {response.text}")

        await asyncio.gather(*(request(c) for c in range(CLIENTS)))  # connect first: set-up is no request's latency
        return await closed_loop(request, CLIENTS, seconds)


def _compare(report: Report, over_http: LoadRun, direct: LoadRun) -> None:
    """The zero-error target, and what HTTP costs next to the same read made directly (facts of this run)."""
    total = over_http.requests + over_http.errors
    report.target("HTTP: failed requests under load", over_http.errors, 0, detail=f"of {total}")
    pairs = {"p50": percentiles(over_http.latencies)["p50"] / percentiles(direct.latencies)["p50"]}
    pairs["requests/s"] = (over_http.requests / over_http.seconds) / (direct.requests / direct.seconds)
    for what, value in pairs.items():
        report.facts[f"HTTP / direct get_feature_vector, {what} under load"] = round(value, 3)
    report.note(
        f"Over HTTP, {CLIENTS} clients got {pairs['requests/s']:.2f}x the requests/s of the same reads made "
        f"directly, at {pairs['p50']:.1f}x the p50 latency. The HTTP clients (httpx), the server (FastAPI on "
        "uvicorn) and Redis share this machine's CPUs: on separate machines the ratio will differ."
    )

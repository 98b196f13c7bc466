"""Serving under load (issue #14): concurrent clients reading for a fixed time, through the store and over HTTP.

A closed loop: ``CLIENTS`` coroutines each send a request, wait for its
answer and send the next, for a fixed time; every request's latency counts,
queueing on the client's event loop included, as a caller would see it.
The direct run reads through :class:`fslib.fast.AsyncFeatureStore`; the HTTP
run (``fslib.serve``, not built yet) makes the same reads over loopback and
belongs next to it in the same table.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any

import numpy as np
import redis

from benchmarks.common import Config, Report
from benchmarks.reads import FIVE, bench_stores
from fslib import synthesize_users
from fslib.fast import AsyncFeatureStore, connect_async
from fslib.lab.bench import gc_paused, percentiles

__all__ = ["CLIENTS", "LoadRun", "closed_loop", "http_load"]

SECTION = "serving under load"
CLIENTS = 50
"""Concurrent clients (connect_async's default pool has 50 connections)."""


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
    """``CLIENTS`` concurrent readers for a fixed time: through AsyncFeatureStore, and (when it exists) over HTTP."""
    users = cfg.pick(100, 20)
    seconds = cfg.pick(10.0, 0.5)
    case = f"{CLIENTS} clients x {seconds:g} s, get_features of 5 fields"
    with bench_stores(client, users) as stores:
        ids = synthesize_users(users).ids
        direct = asyncio.run(_direct_run(cfg.url, stores["pipeline"].key_prefix, ids, seconds))
        report.rows.append(direct.row("direct AsyncFeatureStore.get_features", case))
        print(f"  direct: {direct.requests / direct.seconds:.0f} requests/s, {direct.errors} errors", flush=True)
        if find_spec("fslib.serve") is None:
            report.skip("http", "fslib.serve is not in this fslib yet (issue #14); only the direct run was measured")
            return
        over_http = _http_run(cfg, stores["pipeline"].key_prefix, ids, seconds)
        if over_http is None:
            report.skip("http", "fslib.serve exists, but benchmarks/serving.py has no HTTP run yet (_http_run)")
            return
        report.rows.append(over_http.row("HTTP", case))


async def _direct_run(url: str, prefix: str, ids: list[str], seconds: float) -> LoadRun:
    aclient = await connect_async(url)
    try:
        store = AsyncFeatureStore(aclient, key_prefix=prefix)
        return await closed_loop(lambda i: store.get_features(ids[i % len(ids)], FIVE), CLIENTS, seconds)
    finally:
        await aclient.aclose()


def _http_run(cfg: Config, prefix: str, ids: list[str], seconds: float) -> LoadRun | None:
    """The same reads over HTTP: the hook the ``fslib.serve`` work fills in; None until then.

    To fill in: start ``fslib.serve`` on a free loopback port over ``cfg.url``
    and ``prefix`` (in a subprocess, so the server's CPU is not the client's),
    wait until it answers, then ``closed_loop`` with an ``httpx.AsyncClient``
    (a connection limit of ``CLIENTS``) calling the model-server endpoint for
    ``ids[i % len(ids)]`` and ``FIVE``; stop the server; add a target of zero
    errors. The direct run above is the figure to set it against.
    """
    return None

"""Serving under load (issues #14, #22): the store alone under concurrent coroutines, and the server over HTTP.

The direct runs are a closed loop in this process: ``CLIENTS`` coroutines
each send a read through :class:`fslib.fast.AsyncFeatureStore`, wait for its
answer and send the next, for a fixed time; every read's latency counts,
queueing on the event loop included, as a caller would see it.

Over HTTP, ``POST /get-online-features`` to ``python -m fslib.serve`` is set
against the same read behind a bare ASGI route (:mod:`benchmarks.bare_route`),
both servers child processes started in the same run, at 1, 8 and 32
connections and 1 and 100 entities a request. The load comes from another
process (:mod:`benchmarks.http_load`, raw keep-alive HTTP/1.1 on uvloop), so
the client's Python neither shares the servers' GIL nor costs more than they
do; the two servers are driven in alternating rounds.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import redis

from benchmarks.common import Config, Report
from benchmarks.reads import FIVE, bench_stores
from fslib import synthesize_users
from fslib.connection import connect_async
from fslib.fast import AsyncFeatureStore
from fslib.lab.bench import Spread, gc_paused, percentiles
from fslib.serve import ServerProcess

__all__ = [
    "BARE",
    "CLIENTS",
    "CONNECTIONS",
    "ENTITIES",
    "FSLIB",
    "FSLIB_2",
    "BareRouteProcess",
    "LoadRun",
    "closed_loop",
    "http_load",
]

SECTION = "serving under load"
CLIENTS = 50
"""Concurrent coroutines of the direct runs (connect_async's default pool has 50 connections)."""
ENDPOINT = "/get-online-features"
CONNECTIONS = (1, 8, 32)
"""Keep-alive connections of the HTTP load generator, one case each."""
ENTITIES = (1, 100)
"""Entities per ``POST /get-online-features``, one case each."""
FSLIB = "fslib.serve"
FSLIB_2 = "fslib.serve --workers 2"
BARE = "bare ASGI route"
ROOT = Path(__file__).resolve().parents[1]
"""Where ``python -m benchmarks...`` children start, so the package imports."""


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
    """The store alone under ``CLIENTS`` coroutines, then ``fslib.serve`` against the bare route over HTTP."""
    users = 100
    seconds = cfg.pick(10.0, 0.5)
    case = f"{CLIENTS} clients x {seconds:g} s, 5 fields"
    with bench_stores(client, users) as stores:
        prefix, ids = stores["pipeline"].key_prefix, synthesize_users(users).ids
        runs = {
            "direct AsyncFeatureStore.get_features": asyncio.run(_direct_run(cfg.url, prefix, ids, seconds, False)),
            "direct AsyncFeatureStore.get_feature_vector": asyncio.run(
                _direct_run(cfg.url, prefix, ids, seconds, True)
            ),
        }
        for variant, run in runs.items():
            report.rows.append(run.row(variant, case))
            print(f"  {variant}: {run.requests / run.seconds:.0f} requests/s, {run.errors} errors", flush=True)
        _http_matrix(cfg, report, prefix, ids)


async def _direct_run(url: str, prefix: str, ids: list[str], seconds: float, with_status: bool) -> LoadRun:
    aclient = await connect_async(url)
    try:
        store = AsyncFeatureStore(aclient, key_prefix=prefix)
        read = store.get_feature_vector if with_status else store.get_features
        return await closed_loop(lambda i: read(ids[i % len(ids)], FIVE), CLIENTS, seconds)
    finally:
        await aclient.aclose()


class BareRouteProcess(ServerProcess):
    """:mod:`benchmarks.bare_route` in a child process, started and stopped as ``fslib.serve`` is."""

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", "benchmarks.bare_route", "--port", str(self.port), *self.options]


def _http_matrix(cfg: Config, report: Report, prefix: str, ids: list[str]) -> None:
    """``fslib.serve`` and the bare route side by side, driven by :mod:`benchmarks.http_load` in its own process.

    Both servers run at once, each a child process over the same Redis and
    prefix; per case one load-generator process runs them in alternating
    rounds (A, B, B, A, ...). The ratio pairs the two runs of a round and takes
    the median across rounds. The streaming fields read here expire 5 min
    after ``bench_stores`` wrote them, which bounds the section's length: an
    expired value counts as an error.
    """
    seconds, rounds = cfg.pick(3.0, 0.2), cfg.pick(3, 2)
    bare_args = ("--key-prefix", prefix)
    fslib_args = ("--key-prefix", prefix, "--no-worker", "--log-level", "warning")
    total = errors = 0
    scaling: list[str] = []
    with (
        ServerProcess(*fslib_args, redis_url=cfg.url) as served,
        ServerProcess(*fslib_args, "--workers", "2", redis_url=cfg.url) as served_2,
        BareRouteProcess(*bare_args, redis_url=cfg.url) as bare,
    ):
        targets = {FSLIB: served.url, BARE: bare.url, FSLIB_2: served_2.url}
        for entities in ENTITIES:
            bodies = [
                json.dumps(
                    {"entities": {"user_id": [ids[(i + k) % len(ids)] for k in range(entities)]}, "features": FIVE}
                )
                for i in range(len(ids))
            ]
            for connections in CONNECTIONS:
                spec = {
                    "targets": targets,
                    "path": ENDPOINT,
                    "bodies": bodies,
                    "present": entities * (len(FIVE) + 1),  # the id column's statuses too
                    "connections": connections,
                    "seconds": seconds,
                    "warmup_seconds": cfg.pick(0.5, 0.05),
                    "rounds": rounds,
                }
                results = _generate(spec)
                case = f"{connections} connections, {entities} entities"
                for name, runs in results.items():
                    report.rows.append(_http_row(name, case, runs))
                    total += sum(run["requests"] + run["errors"] for run in runs)
                    errors += sum(run["errors"] for run in runs)
                _http_compare(report, case, results)
                gain = _ratios(results[FSLIB_2], results[FSLIB])
                scaling.append(f"{case}: {gain.median:.2f}x (rounds {gain.low:.2f}-{gain.high:.2f})")
    report.target("HTTP: failed requests under load", errors, 0, detail=f"of {total}, every server, every case")
    report.note(
        f"HTTP: {FSLIB_2} / {FSLIB} requests/s, round by round (the streaming worker off in both; one CPU "
        f"per process at most, and this machine has {os.cpu_count()} for the generator, the servers and Redis): "
        + "; ".join(scaling)
    )
    report.note(
        f"HTTP: {FSLIB} against a {BARE} (the same AsyncFeatureStore read and Feast layout, json.dumps of "
        "plain dicts, no framework), both on uvicorn with the same options, driven from a separate process "
        "(benchmarks/http_load.py: raw keep-alive HTTP/1.1 on uvloop). The load generator, both servers and "
        "Redis share this machine's CPUs; the rows' client_cpu_share says how much of one CPU the generator used."
    )


def _generate(spec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Run ``python -m benchmarks.http_load`` on ``spec``; its per-round results by target.

    Raises:
        RuntimeError: The load generator failed (its stderr says why).
    """
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.http_load"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{done.stderr[-2000:]}")
    results: dict[str, list[dict[str, Any]]] = json.loads(done.stdout)
    return results


def _http_row(name: str, case: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A report row: medians across rounds of requests/s, p50/p99 and the generator's CPU share; errors summed."""

    def median(key: str) -> float:
        return float(np.median([run[key] for run in runs if key in run])) if any(key in run for run in runs) else np.nan

    return {
        "section": SECTION,
        "case": case,
        "variant": f"{name} POST {ENDPOINT}",
        "rounds": len(runs),
        "requests": sum(run["requests"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
        "requests_per_s": float(np.median([run["requests"] / run["seconds"] for run in runs])),
        "p50_us": median("p50_us"),
        "p99_us": median("p99_us"),
        "client_cpu_share": float(np.median([run["client_cpu_s"] / run["seconds"] for run in runs])),
    }


def _ratios(runs: list[dict[str, Any]], floors: list[dict[str, Any]]) -> Spread:
    """Requests/s of ``runs`` over ``floors``, paired round by round."""
    rate = [run["requests"] / run["seconds"] for run in runs]
    floor = [run["requests"] / run["seconds"] for run in floors]
    return Spread.of([ours / theirs if theirs else 0.0 for ours, theirs in zip(rate, floor, strict=True)])


def _http_compare(report: Report, case: str, results: dict[str, list[dict[str, Any]]]) -> None:
    """The >= 0.8x target of one case: fslib.serve's requests/s over the bare route's, round by round."""
    report.target_spread(
        f"HTTP: {FSLIB} requests/s / {BARE} requests/s ({case})",
        _ratios(results[FSLIB], results[BARE]),
        0.8,
        higher_is_better=True,
        across="rounds",
    )

"""Sync vs asyncio: the same single and batch reads through FeatureStore and AsyncFeatureStore, both transports."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial

import numpy as np
import redis

from benchmarks.common import Config, Report, latency_rows
from benchmarks.reads import ALL, FIVE, TRANSPORTS, bench_stores
from fslib import FeatureStore, synthesize_users
from fslib.connection import connect_async
from fslib.core import Transport
from fslib.fast import AsyncFeatureStore
from fslib.lab.bench import Spread, compare_latencies_async, gc_paused

__all__ = ["sync_vs_asyncio"]

SECTION = "sync vs asyncio"
COROUTINES = 50
"""Concurrent readers in the throughput figure (connect_async's default pool has 50 connections)."""


def sync_vs_asyncio(cfg: Config, client: redis.Redis, report: Report) -> None:
    """Single read p50/p99 and batch read (N=100) p50, sync vs asyncio, per transport; reads/s of many coroutines."""
    users = cfg.pick(100, 20)
    with bench_stores(client, users) as stores:
        asyncio.run(_measure(cfg, client, stores, report))


async def _measure(cfg: Config, client: redis.Redis, stores: dict[Transport, FeatureStore], report: Report) -> None:
    aclient = await connect_async(cfg.url)
    try:
        prefix = stores["pipeline"].key_prefix
        astores = {t: AsyncFeatureStore(aclient, key_prefix=prefix, transport=t) for t in TRANSPORTS}
        entity = "u0007"
        key = stores["pipeline"].key_for(entity)
        fns: dict[str, Callable[[], object]] = {
            "sync raw hmget": lambda: client.hmget(key, FIVE),
            "async raw hmget": lambda: aclient.hmget(key, FIVE),
        }
        for t in TRANSPORTS:
            fns[f"sync get_features ({t})"] = partial(stores[t].get_features, entity, FIVE)
            fns[f"async get_features ({t})"] = partial(astores[t].get_features, entity, FIVE)
        single = await compare_latencies_async(fns, n=cfg.iterations, warmup=cfg.warmup, repeats=cfg.repeats)
        report.rows += latency_rows(SECTION, "single read, 5 fields", single)
        ratios = {
            f"get_features p{q} ({t})": single.ratio(f"async get_features ({t})", f"sync get_features ({t})", q)
            for t in TRANSPORTS
            for q in (50, 99)
        }
        fslib_cost = {t: single.ratio(f"async get_features ({t})", "async raw hmget") for t in TRANSPORTS}

        ids = synthesize_users(cfg.pick(100, 10)).ids
        fns = {}
        for t in TRANSPORTS:
            fns[f"sync batch_get_features ({t})"] = partial(stores[t].batch_get_features, ids, ALL)
            fns[f"async batch_get_features ({t})"] = partial(astores[t].batch_get_features, ids, ALL)
        batch = await compare_latencies_async(fns, n=cfg.iterations, warmup=cfg.warmup, repeats=cfg.repeats)
        report.rows += latency_rows(SECTION, f"batch read, N={len(ids)}, 11 fields", batch, per=len(ids))
        for t in TRANSPORTS:
            ratios[f"batch_get_features p50 (N={len(ids)}, {t})"] = batch.ratio(
                f"async batch_get_features ({t})", f"sync batch_get_features ({t})"
            )
        gain = await _throughput(cfg, stores["pipeline"], astores["pipeline"], report)
    finally:
        await aclient.aclose()
    for name, measured in ratios.items():
        report.facts[f"asyncio/sync {name}"] = round(measured.median, 3)
    report.facts[f"asyncio {COROUTINES} coroutines / sync thread, reads per s"] = round(gain.median, 3)
    report.note(
        "Sync vs asyncio, asyncio/sync ratios (repeat spread): "
        + ", ".join(f"{name} {_spread(r)}" for name, r in ratios.items())
        + "; asyncio get_features p50 / asyncio raw hmget p50 "
        + ", ".join(f"{_spread(r)} ({t})" for t, r in fslib_cost.items())
        + f"; reads/s of {COROUTINES} concurrent coroutines / one sync thread (pipeline transport) {_spread(gain)}."
    )


async def _throughput(cfg: Config, store: FeatureStore, astore: AsyncFeatureStore, report: Report) -> Spread:
    """Reads/s of COROUTINES concurrent async readers, one async reader, and one sync thread (same reads).

    Returns:
        The concurrent readers' rate over the sync thread's: median, min and max across repeats.
    """
    ids = synthesize_users(cfg.pick(100, 20)).ids
    per_reader = cfg.pick(40, 2)
    total = COROUTINES * per_reader

    def sync_reads() -> None:
        for i in range(total):
            store.get_features(ids[i % len(ids)], FIVE)

    async def reader(start: int, count: int) -> None:
        for i in range(start, start + count):
            await astore.get_features(ids[i % len(ids)], FIVE)

    async def concurrent() -> None:
        await asyncio.gather(*(reader(r * per_reader, per_reader) for r in range(COROUTINES)))

    variants: dict[str, Callable[[], Awaitable[None] | None]] = {
        "sync, one thread": sync_reads,
        "async, 1 coroutine": lambda: reader(0, total),
        f"async, {COROUTINES} coroutines": concurrent,
    }
    await concurrent()  # opens the pool's connections before anything is timed
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(cfg.repeats):
        for name, fn in variants.items():
            with gc_paused():
                started = time.perf_counter()
                if (pending := fn()) is not None:
                    await pending
                rates[name].append(total / (time.perf_counter() - started))
    for name, values in rates.items():
        report.rows.append(
            {"section": SECTION, "case": f"throughput, {total} get_features", "variant": name, "repeats": len(values),
             "reads_per_s": float(np.median(values))}
        )  # fmt: skip
    return Spread.of([c / s for c, s in zip(rates[f"async, {COROUTINES} coroutines"], rates["sync, one thread"])])


def _spread(measured: Spread) -> str:
    return f"{measured.median:.2f} ({measured.low:.2f}-{measured.high:.2f})"

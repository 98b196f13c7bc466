"""Read paths: the PING floor, single and batch reads against raw redis-py, HMGET vs HGETALL."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np
import redis

import fslib
from benchmarks.common import Config, Report, latency_rows, ratio
from fslib import DEFAULT_SCHEMA, FeatureStore, synthesize_users
from fslib.lab.bench import percentiles

__all__ = ["batch_read", "bench_store", "ping_floor", "single_read", "wide_hash"]

LUA_MULTI_HMGET = """#!lua flags=no-writes
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('HMGET', KEYS[i], unpack(ARGV))
end
return out
"""
"""The server-side alternative fslib measured and dropped: the N HMGETs inside one read-only script."""

FIVE = ["country_iso", "risk_segment", "tx_count_7d", "tx_count_5m", "failed_logins_15m"]
ALL = DEFAULT_SCHEMA.names


@contextmanager
def bench_store(client: redis.Redis, users: int, **options: Any) -> Iterator[FeatureStore]:
    """A store under its own prefix with ``users`` users, batch and streaming fields; deleted after."""
    store = FeatureStore(client, key_prefix=f"bench:{uuid.uuid4().hex[:8]}:", **options)
    rows = synthesize_users(users)
    store.bulk_load(rows)
    rng = random.Random(7)
    for entity_id in rows.ids:
        store.update_streaming(entity_id, fslib.streaming_features(rng))
    try:
        yield store
    finally:
        store.reset()


def ping_floor(cfg: Config, client: redis.Redis, report: Report) -> None:
    """PING p50/p90/p99 through redis-py: the round-trip floor of everything else."""
    runs = cfg.compare({"PING": client.ping})
    report.rows += latency_rows("round-trip floor", "PING", runs)


def single_read(cfg: Config, client: redis.Redis, report: Report) -> None:
    """get_features (5 and 11 fields, raw and decoded) against client.hmget on the same key."""
    with bench_store(client, 100) as store:
        key = store.key_for("u0042")
        for label, names in (("5 fields", FIVE), ("11 fields", ALL)):
            runs = cfg.compare(
                {
                    "raw hmget": partial(client.hmget, key, names),
                    "fslib get_features": partial(store.get_features, "u0042", names),
                    "fslib get_features decode": partial(store.get_features, "u0042", names, decode=True),
                }
            )
            report.rows += latency_rows("single read", label, runs)
            med, lo, hi = ratio(runs, "fslib get_features", "raw hmget")
            report.target(f"get_features p50 / raw hmget p50 ({label})", med, 1.1, detail=f"repeats {lo:.2f}-{hi:.2f}")
            med, lo, hi = ratio(runs, "fslib get_features decode", "raw hmget")
            report.facts[f"single read decode ratio ({label})"] = round(med, 3)


def batch_read(cfg: Config, client: redis.Redis, report: Report) -> None:
    """batch_get_features for N entities vs a raw pipeline, N sequential HMGETs, a bare Lua script; DataFrame."""
    sizes = cfg.pick([1, 10, 30, 100, 1000], [1, 10])
    lua = client.register_script(LUA_MULTI_HMGET)
    with bench_store(client, max(sizes)) as store:
        curve: dict[str, list[float]] = {}
        for n in sizes:
            ids = synthesize_users(n).ids
            keys = [store.key_for(e) for e in ids]

            def raw_pipeline(keys: list[str] = keys) -> list[Any]:
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    pipe.hmget(key, ALL)
                return pipe.execute()

            fns = {
                "raw pipeline": raw_pipeline,
                "fslib": lambda ids=ids: store.batch_get_features(ids, ALL),
                "fslib DataFrame": lambda ids=ids: store.batch_get_frame(ids, ALL),
                "bare Lua script (EVALSHA)": lambda keys=keys: lua(keys=keys, args=ALL),
                "sequential hmget": lambda keys=keys: [client.hmget(k, ALL) for k in keys],
            }
            # >= 2000 iterations up to N=100; N=1000 takes ~10x longer per call.
            runs = cfg.compare(fns, iterations=2000 if n <= 100 else 300)
            report.rows += latency_rows("batch read (11 fields)", f"N={n}", runs, per=n)
            for variant, repeats in runs.items():
                curve.setdefault(variant, []).append(float(np.median([percentiles(r)["p50"] for r in repeats])) * 1e6)
            if n == 100 or (cfg.quick and n == sizes[-1]):
                med, lo, hi = ratio(runs, "fslib", "raw pipeline")
                report.target(
                    f"batch_get_features p50 / raw pipeline p50 (N={n})", med, 0.6, detail=f"repeats {lo:.2f}-{hi:.2f}"
                )
                med, lo, hi = ratio(runs, "sequential hmget", "fslib")
                report.target(
                    f"{n} sequential hmget p50 / batch_get_features p50",
                    med,
                    4.0,
                    higher_is_better=True,
                    detail=f"repeats {lo:.1f}-{hi:.1f}; loopback only",
                )

    def draw(ax: Any) -> None:
        for variant, values in curve.items():
            ax.plot(sizes, values, marker="o", label=variant)
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="entities per call (N)",
            ylabel="p50 latency (µs)",
            title="Batch read, 11 fields",
        )
        ax.legend()

    report.plot("batch_read", draw)


def wide_hash(cfg: Config, client: redis.Redis, report: Report) -> None:
    """HMGET of k fields vs HGETALL (then picking k) on hashes 11, 50 and 120 fields wide."""
    prefix = f"bench:{uuid.uuid4().hex[:8]}:wide:"
    widths = cfg.pick([11, 50, 120], [11])
    crossover: dict[int, int | None] = {}
    curves: dict[int, tuple[list[int], list[float]]] = {}
    try:
        for width in widths:
            key = f"{prefix}{width}"
            names = [f"feature_{i:03d}" for i in range(width)]
            client.hset(key, mapping={n: f"value-{i:06d}" for i, n in enumerate(names)})
            ks = sorted({k for k in (1, 5, 11, 25, 50, 80, 100, 120) if k <= width} | {width})
            ratios = []
            for k in ks:
                wanted = names[:k]

                def hmget(key: str = key, wanted: list[str] = wanted) -> object:
                    return client.hmget(key, wanted)

                def hgetall_pick(key: str = key, wanted: list[str] = wanted) -> dict[str, Any]:
                    values = client.hgetall(key)
                    return {n: values[n] for n in wanted if n in values}

                runs = cfg.compare({"HMGET k": hmget, "HGETALL + pick k": hgetall_pick})
                report.rows += latency_rows("HMGET vs HGETALL", f"width={width} k={k}", runs)
                ratios.append(ratio(runs, "HGETALL + pick k", "HMGET k")[0])
            curves[width] = (ks, ratios)
            crossover[width] = next((k for k, r in zip(ks, ratios) if r < 1.0), None)
    finally:
        client.unlink(*[f"{prefix}{w}" for w in widths])
    report.facts["HGETALL/HMGET crossover k by width"] = crossover
    best = {w: min(r) for w, (_, r) in curves.items()}
    report.note(
        "HMGET vs HGETALL: HGETALL+pick first beats HMGET at k = "
        + ", ".join(f"{c} of {w}" for w, c in crossover.items())
        + " requested fields (None = never); its best p50 ratio is "
        + ", ".join(f"{r:.2f} at width {w}" for w, r in best.items())
        + ". fslib stays on HMGET, no automatic switch: a model asks for a fixed, usually small subset;"
        " a switch needs the hash width (one more round trip, or a schema guess that extra fields break);"
        " HGETALL ships and allocates every field; and any gain exists only when nearly all fields are asked for."
    )

    def draw(ax: Any) -> None:
        for width, (ks, ratios) in curves.items():
            ax.plot(ks, ratios, marker="o", label=f"{width} fields")
        ax.axhline(1.0, color="grey", lw=1)
        ax.set(
            xlabel="fields requested (k)",
            ylabel="HGETALL+pick p50 / HMGET p50",
            title="HMGET vs HGETALL on wide hashes",
        )
        ax.legend()

    report.plot("hmget_vs_hgetall", draw)

"""Read paths: the PING floor, single and batch reads of both transports against raw redis-py, HMGET vs HGETALL."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pandas as pd
import redis

import fslib
from benchmarks.common import Config, Report, latency_rows
from fslib import DEFAULT_SCHEMA, FeatureStore, synthesize_users
from fslib.core import Transport
from fslib.lab import plots
from fslib.lab.bench import LatencyComparison

__all__ = [
    "ALL",
    "FIVE",
    "TRANSPORTS",
    "batch_read",
    "bench_stores",
    "freshness_read",
    "ping_floor",
    "single_read",
    "wide_hash",
]

TRANSPORTS: tuple[Transport, ...] = ("pipeline", "packed")
"""Both of FeatureStore's transports, measured side by side in every read section."""

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
def bench_stores(client: redis.Redis, users: int) -> Iterator[dict[Transport, FeatureStore]]:
    """One store per transport over one fresh prefix holding ``users`` users' batch and streaming fields.

    The data is written once (default transport) and deleted after.
    """
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    stores = {t: FeatureStore(client, key_prefix=prefix, transport=t) for t in TRANSPORTS}
    rows = synthesize_users(users)
    stores["pipeline"].bulk_load(rows)
    rng = random.Random(7)
    for entity_id in rows.ids:
        stores["pipeline"].update_streaming(entity_id, fslib.streaming_features(rng))
    try:
        yield stores
    finally:
        stores["pipeline"].reset()


def ping_floor(cfg: Config, client: redis.Redis, report: Report) -> None:
    """PING p50/p90/p99 through redis-py: the round-trip floor of everything else."""
    runs = cfg.compare({"PING": client.ping})
    report.rows += latency_rows("round-trip floor", "PING", runs)


def single_read(cfg: Config, client: redis.Redis, report: Report) -> None:
    """get_features of both transports (5 and 11 fields, raw and decoded) against client.hmget on the same key."""
    with bench_stores(client, 100) as stores:
        key = stores["pipeline"].key_for("u0042")
        for label, names in (("5 fields", FIVE), ("11 fields", ALL)):
            fns: dict[str, Callable[[], object]] = {"raw hmget": partial(client.hmget, key, names)}
            for transport, store in stores.items():
                fns[f"get_features ({transport})"] = partial(store.get_features, "u0042", names)
                fns[f"get_features decode ({transport})"] = partial(store.get_features, "u0042", names, decode=True)
            runs = cfg.compare(fns)
            report.rows += latency_rows("single read", label, runs)
            report.target_spread(
                f"pipeline: get_features p50 / raw hmget p50 ({label})",
                runs.ratio("get_features (pipeline)", "raw hmget"),
                1.1,
            )
            for variant in list(fns)[2:]:
                report.facts[f"single read {variant} / raw hmget, p50 ({label})"] = round(
                    runs.ratio(variant, "raw hmget").median, 3
                )


def batch_read(cfg: Config, client: redis.Redis, report: Report) -> None:
    """batch_get_features of both transports for N entities vs a raw pipeline, sequential HMGETs, a bare Lua script.

    Sequential HMGETs stop at N=100: at N=1000 they cost ~0.1 s a call and
    only repeat the line the smaller N already draw.
    """
    sizes = cfg.pick([1, 10, 30, 100, 1000], [1, 10])
    lua = client.register_script(LUA_MULTI_HMGET)
    target_n = 100 if not cfg.quick else sizes[-1]
    with bench_stores(client, max(sizes)) as stores:
        curve: list[pd.DataFrame] = []
        for n in sizes:
            ids = synthesize_users(n).ids
            keys = [stores["pipeline"].key_for(e) for e in ids]

            def raw_pipeline(keys: list[str] = keys) -> list[Any]:
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    pipe.hmget(key, ALL)
                return pipe.execute()

            fns: dict[str, Callable[[], object]] = {"raw pipeline": raw_pipeline}
            for transport, store in stores.items():
                fns[f"batch_get_features ({transport})"] = partial(store.batch_get_features, ids, ALL)
            fns["batch_get_frame (pipeline)"] = partial(stores["pipeline"].batch_get_frame, ids, ALL)
            fns["bare Lua script (EVALSHA)"] = partial(lua, keys=keys, args=ALL)
            if n <= 100:
                fns["sequential hmget"] = partial(_sequential_hmget, client, keys)
            # >= 2000 iterations up to N=100; N=1000 takes ~10x longer per call.
            runs = cfg.compare(fns, iterations=2000 if n <= 100 else 300)
            report.rows += latency_rows("batch read (11 fields)", f"N={n}", runs, per=n)
            curve.append(runs.table("ms").reset_index().assign(batch_size=n))
            for transport in TRANSPORTS:
                report.facts[f"batch read ({transport}) / raw pipeline, p50 (N={n})"] = round(
                    runs.ratio(f"batch_get_features ({transport})", "raw pipeline").median, 3
                )
            if n == target_n:
                _batch_targets(runs, n, report)
                # What keeping pipe.hmget (the call a reader writes) costs the store: the raw pipeline without it.
                bare = partial(_execute_command_pipeline, client, keys)
                helper_runs = cfg.compare({"pipe.hmget": raw_pipeline, "execute_command": bare}, iterations=2000)
                report.facts[f"raw pipeline of execute_command('HMGET') / of pipe.hmget, p50 (N={n})"] = round(
                    helper_runs.ratio("execute_command", "pipe.hmget").median, 3
                )
    title = "Batch read, 11 fields: p50, bars from the lowest to the highest repeat"
    report.figure("batch_read", plots.batch_read_latency(pd.concat(curve), title, per_entity=True))


def _sequential_hmget(client: redis.Redis, keys: list[str]) -> list[Any]:
    """One ``HMGET`` round trip after another: what a batch read saves."""
    return [client.hmget(key, ALL) for key in keys]


def _execute_command_pipeline(client: redis.Redis, keys: list[str]) -> list[Any]:
    """The raw pipeline staged with ``execute_command``: no ``hmget`` helper, none of its argument handling."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("HMGET", key, *ALL)
    return pipe.execute()


def _batch_targets(runs: LatencyComparison, n: int, report: Report) -> None:
    """The batch-read targets of both transports, and sequential reads against one batch."""
    for transport, limit in (("pipeline", 1.15), ("packed", 0.6)):
        report.target_spread(
            f"{transport}: batch_get_features p50 / raw pipeline p50 (N={n})",
            runs.ratio(f"batch_get_features ({transport})", "raw pipeline"),
            limit,
        )
    report.target_spread(
        f"pipeline: {n} sequential hmget p50 / batch_get_features p50",
        runs.ratio("sequential hmget", "batch_get_features (pipeline)"),
        4.0,
        higher_is_better=True,
        detail="loopback only",
    )


def freshness_read(cfg: Config, client: redis.Redis, report: Report) -> None:
    r"""batch_get_feature_vectors (atomic per entity, typed, with statuses and event times) vs the plain batch read.

    Both transports against the plain batch read of the default transport, N=100 users, 11 features,
    the streaming ones written with event times; and Redis's own time per entity (``INFO commandstats``),
    which the atomic read script spends where a plain read sends bare ``HMGET``\ s.
    """
    n = 100 if not cfg.quick else 10
    with bench_stores(client, n) as stores:
        ids = synthesize_users(n).ids
        stores["pipeline"].update_streaming_many({e: {"tx_count_5m": 1} for e in ids}, event_time=1_750_000_000_000)
        plain = partial(stores["pipeline"].batch_get_features, ids, ALL)
        fns: dict[str, Callable[[], object]] = {"batch_get_features (pipeline)": plain}
        for transport, store in stores.items():
            fns[f"batch_get_feature_vectors ({transport})"] = partial(store.batch_get_feature_vectors, ids, ALL)
        runs = cfg.compare(fns, iterations=1000)
        report.rows += latency_rows("freshness read (11 fields)", f"N={n}", runs, per=n)
        for transport, limit in (("pipeline", 1.5), ("packed", 0.8)):
            report.target_spread(
                f"{transport}: batch_get_feature_vectors p50 / batch_get_features (pipeline) p50 (N={n})",
                runs.ratio(f"batch_get_feature_vectors ({transport})", "batch_get_features (pipeline)"),
                limit,
            )
        for name, read in (
            ("plain batch read", plain),
            ("freshness read", fns["batch_get_feature_vectors (pipeline)"]),
        ):
            report.facts[f"Redis time per entity, {name} (us)"] = _redis_us_per_entity(client, read, n)


def _redis_us_per_entity(client: redis.Redis, read: Callable[[], object], entities: int, calls: int = 200) -> float:
    """Microseconds Redis spends per entity on ``read``, from ``INFO commandstats`` (the server's own clock)."""
    client.config_resetstat()
    for _ in range(calls):
        read()
    spent = sum(s["usec"] for name, s in client.info("commandstats").items() if not name.startswith("cmdstat_config"))
    return round(spent / calls / entities, 2)


def wide_hash(cfg: Config, client: redis.Redis, report: Report) -> None:
    """HMGET of k fields vs HGETALL (then picking k) on hashes 11, 50 and 120 fields wide."""
    prefix = f"bench:{uuid.uuid4().hex[:8]}:wide:"
    widths = cfg.pick([11, 50, 120], [11])
    crossover: dict[int, int | None] = {}
    curves: dict[int, tuple[list[int], list[float]]] = {}
    points: list[dict[str, Any]] = []
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
                measured = runs.ratio("HGETALL + pick k", "HMGET k")
                ratios.append(measured.median)
                points.append({"variant": f"{width} fields", "k": k, **measured.as_dict("ratio")})
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
    figure = plots.sweep(
        pd.DataFrame(points),
        "k",
        "ratio",
        title="HMGET vs HGETALL on wide hashes (bars: lowest to highest repeat)",
        xlabel="fields requested (k)",
        ylabel="HGETALL+pick p50 / HMGET p50",
        references={"as fast as HMGET": 1.0},
    )
    report.figure("hmget_vs_hgetall", figure)

"""Write paths: bulk load of both transports by size and chunk, a reader's p99 during a load, streaming, memory."""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import redis

import fslib
from benchmarks.common import Config, Report, latency_rows
from fslib import DEFAULT_CHUNK_SIZE, DEFAULT_SCHEMA, FeatureKind, FeatureStore, StreamingWorker, synthesize_users
from fslib.checks import EVENT_TIME_SUFFIX
from fslib.lab import plots
from fslib.lab.bench import LatencyComparison, Spread, gc_paused, percentiles
from fslib.scripts import GUARDED_WRITE

__all__ = ["bulk_load", "memory", "reader_during_load", "streaming_many", "streaming_writes"]

_GUARDED = "guarded: event_time"
"""Variant names of the guarded writes (``fslib/lua/guarded_write.lua``) carry this."""


def _event_clock() -> itertools.count[int]:
    """Epoch milliseconds from now, one later per call: every guarded write is newer, so it applies.

    A fixed event time would make every write after the first a replay, which
    reads the stored times and writes nothing: not the cost of a write.
    """
    return itertools.count(time.time_ns() // 1_000_000)


def _guarded_argv(store: FeatureStore, ttl: int, event_ms: int, encoded: Mapping[str, Any]) -> list[Any]:
    """``ARGV`` of ``fslib/lua/guarded_write.lua`` as the store sends it, for the raw script variants."""
    mode = 1 if store.uses_hsetex else 0
    return [ttl, event_ms, mode, EVENT_TIME_SUFFIX, *itertools.chain.from_iterable(encoded.items())]


def _load_in_child(
    cfg: Config, users: int, chunk: int, variant: str, nice: int = 0
) -> tuple[dict[str, Any], subprocess.Popen[str]]:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:bulk:"
    command = [
        sys.executable,
        "-m",
        "benchmarks.bulk_child",
        "--prefix",
        prefix,
        "--users",
        str(users),
        "--chunk",
        str(chunk),
        "--variant",
        variant,
        "--nice",
        str(nice),
    ]
    # The URL carries the password: in the environment, not in argv, which ps shows to every local user.
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={**os.environ, "REDIS_URL": cfg.url})
    return {"prefix": prefix}, proc


def _finish(client: redis.Redis, info: dict[str, Any], proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=900)
    FeatureStore(client, key_prefix=info["prefix"]).reset()
    if proc.returncode != 0:
        raise RuntimeError(f"bulk load child failed ({proc.returncode}): {out}")
    return json.loads(out.strip().splitlines()[-1])


def _run_child(cfg: Config, client: redis.Redis, users: int, chunk: int, variant: str) -> dict[str, Any]:
    info, proc = _load_in_child(cfg, users, chunk, variant)
    result = _finish(client, info, proc)
    print(
        f"  bulk {variant:9s} users={users:>8} chunk={chunk:>5}: {result['users_per_s']:>8.0f} users/s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    return result


def bulk_load(cfg: Config, client: redis.Redis, report: Report) -> None:
    """users/s by size and chunk: both transports vs raw pipelined HSET + EXPIRE (and a bare Lua script).

    Each load runs in a fresh process. Every configuration runs once per round,
    rounds in a shuffled order; ratios pair the two loads of the same round
    (a neighbour's burst that hits a round hits both sides less unevenly) and
    the median across rounds counts.
    """
    sizes = cfg.pick([10_000, 100_000], [2_000])
    chunks = sorted({*cfg.pick([100, 200, 500, 1000, 2000], []), DEFAULT_CHUNK_SIZE})
    configs = [(variant, c) for variant in ("raw", "pipeline") for c in chunks]
    configs += [("packed", c) for c in chunks if c <= 1000]
    configs += [("lua", DEFAULT_CHUNK_SIZE)]
    results: list[dict[str, Any]] = []
    for users in sizes:
        # A 10k load lasts ~0.2 s, so one neighbour's burst weighs more: six more rounds (~15 s each).
        for round_ in range(cfg.repeats + (6 if users <= 10_000 and not cfg.quick else 0)):
            for variant, chunk in random.Random(round_).sample(configs, len(configs)):
                results.append({**_run_child(cfg, client, users, chunk, variant), "round": round_})
    medians = _bulk_medians(results)
    largest = sizes[-1]
    best_raw_chunk = _best_raw(medians, largest)["chunk"]
    if not cfg.quick:  # the 1M run, once per load: fslib at its default chunk, raw at that chunk and at its best
        for variant, chunk in sorted(
            {("raw", best_raw_chunk), ("raw", DEFAULT_CHUNK_SIZE), ("pipeline", DEFAULT_CHUNK_SIZE),
             ("packed", DEFAULT_CHUNK_SIZE)}
        ):  # fmt: skip
            results.append({**_run_child(cfg, client, 1_000_000, chunk, variant), "round": 0})
        medians = _bulk_medians(results)
    for m in medians:
        report.rows.append(
            {
                "section": "bulk load",
                "case": f"{m['users']} users",
                "variant": f"{m['variant']} chunk={m['chunk']}",
                "runs": m["runs"],
                "users_per_s": m["users_per_s"],
                "users_per_s_min": m["users_per_s_min"],
                "users_per_s_max": m["users_per_s_max"],
                "peak_rss_mb": m["peak_rss_mb"],
            }
        )
    for users in sorted({m["users"] for m in medians}):
        _bulk_targets(results, medians, users, report)
    _memory_targets(medians, report)
    sweep = pd.DataFrame(
        {
            "variant": m["variant"],
            "chunk_size": m["chunk"],
            "users_per_s": m["users_per_s"],
            "users_per_s_low": m["users_per_s_min"],
            "users_per_s_high": m["users_per_s_max"],
        }
        for m in medians
        if m["users"] == largest
    )
    title = f"Bulk load of {largest} users: median of the rounds, bars from the slowest to the fastest"
    report.figure("bulk_load", plots.bulk_load_throughput(sweep, default_chunk_size=DEFAULT_CHUNK_SIZE, title=title))


def _best_raw(medians: list[dict[str, Any]], users: int) -> dict[str, Any]:
    """The raw pipeline's fastest chunk size at ``users`` (by median users/s)."""
    return max((m for m in medians if m["variant"] == "raw" and m["users"] == users), key=lambda m: m["users_per_s"])


def _paired(results: list[dict[str, Any]], users: int, num: tuple[str, int], den: tuple[str, int]) -> list[float]:
    """users/s of load ``num`` over load ``den`` (variant, chunk), one ratio per round that ran both."""
    rates = {(r["variant"], r["chunk"], r["round"]): r["users_per_s"] for r in results if r["users"] == users}
    rounds = sorted({r["round"] for r in results if r["users"] == users})
    return [rates[(*num, k)] / rates[(*den, k)] for k in rounds if (*num, k) in rates and (*den, k) in rates]


def _bulk_targets(results: list[dict[str, Any]], medians: list[dict[str, Any]], users: int, report: Report) -> None:
    """Issue #11's bulk-load targets at one size: pipeline vs raw at the same chunk, packed vs the best raw."""
    best = _best_raw(medians, users)["chunk"]
    for transport, raw_chunk, against, limit in (
        ("pipeline", DEFAULT_CHUNK_SIZE, "raw pipeline users/s, same chunk", 0.95),
        ("packed", best, "best raw pipeline users/s", 1.4),
    ):
        pairs = _paired(results, users, (transport, DEFAULT_CHUNK_SIZE), ("raw", raw_chunk))
        report.target_spread(
            f"{transport}: bulk load users/s / {against} ({users} users)",
            Spread.of(pairs),
            limit,
            higher_is_better=True,
            detail=f"{transport} chunk={DEFAULT_CHUNK_SIZE} vs raw chunk={raw_chunk}",
            across=f"median of {len(pairs)} paired runs",
        )
    for chunk in sorted({m["chunk"] for m in medians if m["variant"] == "pipeline" and m["users"] == users}):
        if ratios := _paired(results, users, ("pipeline", chunk), ("raw", chunk)):
            report.facts[f"bulk load pipeline / raw, same chunk {chunk} ({users} users)"] = round(
                Spread.of(ratios).median, 3
            )


def _memory_targets(medians: list[dict[str, Any]], report: Report) -> None:
    """Peak RSS of the loading process at 1M users over 100k, per transport (full runs only)."""
    for transport in ("pipeline", "packed"):
        rss = {
            m["users"]: (m["peak_rss_mb"], m["peak_rss_mb_before"])
            for m in medians
            if m["variant"] == transport and m["chunk"] == DEFAULT_CHUNK_SIZE
        }
        if 1_000_000 not in rss or 100_000 not in rss:
            continue
        (small, base), (large, _) = rss[100_000], rss[1_000_000]
        report.target(
            f"{transport}: bulk load peak RSS 1M / 100k users",
            large / small,
            2.0,
            detail=f"{small:.0f} MB -> {large:.0f} MB ({base:.0f} MB before loading); input synthesize_users(n), "
            "a lazy re-iterable that bulk_load reads once, chunk by chunk",
        )


def _bulk_medians(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (users, variant, chunk): median users/s with min and max, peak RSS at its highest."""
    groups: dict[tuple[int, str, int], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["users"], r["variant"], r["chunk"]), []).append(r)
    rows = []
    for (users, variant, chunk), runs in groups.items():
        rates = [r["users_per_s"] for r in runs]
        rows.append(
            {
                "users": users,
                "variant": variant,
                "chunk": chunk,
                "runs": len(runs),
                "users_per_s": float(np.median(rates)),
                "users_per_s_min": min(rates),
                "users_per_s_max": max(rates),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
                "peak_rss_mb_before": max(r["peak_rss_mb_before"] for r in runs),
            }
        )
    return sorted(rows, key=lambda m: (m["users"], m["variant"], m["chunk"]))


def reader_during_load(cfg: Config, client: redis.Redis, report: Report) -> None:
    """A reader's get_features p99 while another process bulk-loads, by transport and chunk size.

    The reader reads an entity of the prefix being loaded: samples count from
    the moment the first chunk landed until the loader exits, so the loader's
    start-up does not dilute the figure.
    """
    users = cfg.pick(100_000, 2_000)
    chunks = sorted({*cfg.pick([50, 200, 1000], []), DEFAULT_CHUNK_SIZE})
    configs: list[tuple[str, int]] = [
        ("none", 0),
        *((transport, c) for transport in ("pipeline", "packed") for c in chunks),
        ("raw", DEFAULT_CHUNK_SIZE),
        ("lua", DEFAULT_CHUNK_SIZE),
    ]
    rounds: dict[tuple[str, int], list[np.ndarray]] = {c: [] for c in configs}
    for round_ in range(cfg.repeats):  # shuffled rounds: a neighbour's burst hits one run, not one config
        for config in random.Random(round_).sample(configs, len(configs)):
            rounds[config].append(_sample_reader(cfg, client, users, config[1], config[0]))
    summary: dict[tuple[str, int], dict[str, float]] = {}
    p99_ms: dict[tuple[str, int], Spread] = {}
    for (variant, chunk), measured in rounds.items():
        per_round = [percentiles(samples) for samples in measured]
        pcts = summary[(variant, chunk)] = {q: float(np.median([p[q] for p in per_round])) for q in per_round[0]}
        p99_ms[(variant, chunk)] = Spread.of([p["p99"] * 1e3 for p in per_round])
        label = "no load" if variant == "none" else f"{variant} chunk={chunk}"
        report.rows.append(
            {
                "section": "reader during bulk load",
                "case": f"{users} users loading",
                "variant": label,
                "iterations": sum(int(samples.size) for samples in measured),
                "repeats": len(measured),
                **{f"{q}_us": v * 1e6 for q, v in pcts.items()},
                "p99_min_us": min(p["p99"] for p in per_round) * 1e6,
                "p99_max_us": max(p["p99"] for p in per_round) * 1e6,
            }
        )
        p50_us, p99_us = pcts["p50"] * 1e6, pcts["p99"] * 1e6
        print(
            f"  reader during {label:20s}: p50 {p50_us:7.0f} us, p99 {p99_us:7.0f} us (median of {len(measured)})",
            flush=True,
        )
    packed = summary[("packed", DEFAULT_CHUNK_SIZE)]["p99"] * 1e3
    report.target(f"packed: reader p99 during bulk load, chunk {DEFAULT_CHUNK_SIZE} (ms)", packed, 2.0)
    fits = {}
    for transport in ("pipeline", "packed"):
        fine = [c for (v, c), s in summary.items() if v == transport and s["p99"] < 2e-3]
        fits[transport] = max(fine) if fine else None
        report.facts[f"reader p99 during bulk load, chunk {DEFAULT_CHUNK_SIZE} ({transport}, ms)"] = round(
            summary[(transport, DEFAULT_CHUNK_SIZE)]["p99"] * 1e3, 3
        )
        report.facts[f"largest chunk with reader p99 < 2 ms ({transport})"] = fits[transport]
    report.note(
        "Largest chunk keeping a concurrent reader's p99 under 2 ms in this run: "
        + ", ".join(f"{chunk} ({t})" for t, chunk in fits.items())
        + f" (reader p99 with no load: {summary[('none', 0)]['p99'] * 1e3:.2f} ms); "
        f"DEFAULT_CHUNK_SIZE is {DEFAULT_CHUNK_SIZE}."
    )
    loads = pd.DataFrame(
        {"variant": f"during a {variant} bulk load", "chunk_size": chunk, **spread.as_dict("p99_ms")}
        for (variant, chunk), spread in p99_ms.items()
        if variant != "none"
    )
    figure = plots.sweep(
        loads,
        "chunk_size",
        "p99_ms",
        title="A reader's p99 while a bulk load runs (median of the rounds, bars: lowest to highest)",
        xlabel="bulk-load chunk size",
        ylabel="p99 (ms)",
        references={"reader p99, no load": p99_ms[("none", 0)], "2 ms budget": 2.0},
        logx=True,
        from_zero=True,
    )
    report.figure("reader_p99_during_load", figure)


_READER_FIELDS = ["country_iso", "risk_segment", "tx_count_7d"]
_READER_PAUSE = 0.0005
"""Seconds the reader waits between reads: a model server's request stream, not a CPU-bound loop
(three busy processes on two vCPUs would measure the scheduler, not Redis)."""


def _paced_read(store: FeatureStore) -> dict[str, Any]:
    time.sleep(_READER_PAUSE)
    start = time.perf_counter_ns()
    found = store.get_features("u0001", _READER_FIELDS)
    return {"elapsed": time.perf_counter_ns() - start, "found": found}


def _sample_reader(cfg: Config, client: redis.Redis, users: int, chunk: int, variant: str) -> np.ndarray:
    """Paced reads of an entity of the prefix being loaded, counted once it exists, until the loader exits."""
    if variant == "none":
        store = FeatureStore(client, key_prefix=f"bench:{uuid.uuid4().hex[:8]}:reader:")
        store.bulk_load(synthesize_users(1))
        try:
            with gc_paused():
                samples = [_paced_read(store)["elapsed"] for _ in range(cfg.pick(3000, 100))]
        finally:
            store.reset()
        return np.asarray(samples, dtype=np.float64) / 1e9
    # The loader runs at nice 10, as a batch job beside a serving path should: on two
    # shared vCPUs a loader at equal priority delays the reader's process, not just Redis.
    info, proc = _load_in_child(cfg, users, chunk, variant, nice=10)
    reader = FeatureStore(client, key_prefix=info["prefix"])
    loaded: list[int] = []
    with gc_paused():
        while proc.poll() is None:
            read = _paced_read(reader)
            if read["found"]:
                loaded.append(read["elapsed"])
    _finish(client, info, proc)
    if not loaded:
        raise RuntimeError("the reader saw no sample during the load")
    return np.asarray(loaded, dtype=np.float64) / 1e9


def streaming_writes(cfg: Config, client: redis.Redis, report: Report) -> None:
    """update_streaming via HSETEX vs HSET + HEXPIRE (MULTI, plain pipeline); batched; the worker's rate."""
    prefix = f"bench:{uuid.uuid4().hex[:8]}:stream:"
    hsetex = FeatureStore(client, key_prefix=prefix, streaming_write="hsetex")
    multi = FeatureStore(client, key_prefix=prefix, streaming_write="multi")
    hsetex.bulk_load(synthesize_users(200))
    event = fslib.streaming_features(random.Random(3))
    encoded = DEFAULT_SCHEMA.encode(event, FeatureKind.STREAMING)
    key, ttl = hsetex.key_for("u0007"), hsetex.streaming_ttl_seconds
    # The guarded writes get an entity of their own: its hash holds the event-time fields too.
    guarded_key, clock = hsetex.key_for("u0008"), _event_clock()
    guarded_sha = client.script_load(GUARDED_WRITE)

    def raw_pair(transaction: bool, keys: list[str]) -> Any:
        pipe = client.pipeline(transaction=transaction)
        for k in keys:
            pipe.hset(k, mapping=encoded)
            pipe.hexpire(k, ttl, *encoded)
        return pipe.execute()

    def raw_hsetex_batch(keys: list[str]) -> Any:
        pipe = client.pipeline(transaction=False)
        for k in keys:
            pipe.hsetex(k, mapping=encoded, ex=ttl)
        return pipe.execute()

    try:
        single = cfg.compare(
            {
                "fslib update_streaming (HSETEX)": lambda: hsetex.update_streaming("u0007", event),
                "fslib update_streaming (MULTI HSET+HEXPIRE)": lambda: multi.update_streaming("u0007", event),
                f"fslib update_streaming ({_GUARDED})": lambda: hsetex.update_streaming(
                    "u0008", event, event_time=next(clock)
                ),
                "raw HSETEX": lambda: client.hsetex(key, mapping=encoded, ex=ttl),
                "raw EVALSHA guarded_write.lua": lambda: client.evalsha(
                    guarded_sha, 1, guarded_key, *_guarded_argv(hsetex, ttl, next(clock), encoded)
                ),
                "raw MULTI HSET+HEXPIRE": lambda: raw_pair(True, [key]),
                "raw pipeline HSET+HEXPIRE": lambda: raw_pair(False, [key]),
            }
        )
        report.rows += latency_rows("streaming writes", "single write", single)
        hsetex_cost = single.ratio("fslib update_streaming (HSETEX)", "raw HSETEX")
        report.facts["update_streaming (HSETEX) p50 / raw HSETEX p50"] = round(hsetex_cost.median, 3)
        multi_cost = single.ratio("fslib update_streaming (MULTI HSET+HEXPIRE)", "fslib update_streaming (HSETEX)")
        report.facts["update_streaming MULTI p50 / HSETEX p50"] = round(multi_cost.median, 3)
        report.target_spread(
            "update_streaming p50 guarded (event_time) / unguarded (HSETEX)",
            single.ratio(f"fslib update_streaming ({_GUARDED})", "fslib update_streaming (HSETEX)"),
            1.3,
        )
        report.facts["guarded update_streaming p50 / raw EVALSHA guarded_write.lua p50"] = round(
            single.ratio(f"fslib update_streaming ({_GUARDED})", "raw EVALSHA guarded_write.lua").median, 3
        )
        report.facts["raw EVALSHA guarded_write.lua p50 / raw HSETEX p50"] = round(
            single.ratio("raw EVALSHA guarded_write.lua", "raw HSETEX").median, 3
        )
        keys = [hsetex.key_for(e) for e in synthesize_users(100).ids]
        batched = cfg.compare(
            {
                "pipeline of 100 HSETEX": lambda: raw_hsetex_batch(keys),
                "pipeline of 100 HSET+HEXPIRE": lambda: raw_pair(False, keys),
                "MULTI of 100 HSET+HEXPIRE": lambda: raw_pair(True, keys),
            },
            iterations=1000,
        )
        for row in latency_rows("streaming writes", "batch of 100 entities", batched, per=100):
            row["writes_per_s"] = 100 / (row["p50_us"] / 1e6)
            report.rows.append(row)
        _worker_rate(cfg, hsetex, single, report)
    finally:
        hsetex.reset()


def _worker_rate(cfg: Config, store: FeatureStore, single: LatencyComparison, report: Report) -> None:
    seconds = cfg.pick(3.0, 0.3)
    worker = StreamingWorker(store, tick_seconds=0.01, users_per_tick=200, seed=1)
    with worker:
        time.sleep(seconds)
        worker.reset_stats()  # drop the start-up tick that listed the entities
        start = time.perf_counter()
        time.sleep(seconds)
        stats = worker.stats()
        elapsed = time.perf_counter() - start
    rate = stats.writes / elapsed
    p50 = single.ms("fslib update_streaming (HSETEX)").median / 1e3
    report.rows.append(
        {
            "section": "streaming writes",
            "case": "StreamingWorker sustained",
            "variant": "tick 10 ms x 200 users",
            "writes_per_s": rate,
            "errors": stats.errors,
        }
    )
    report.facts["worker writes/s / (1 / update_streaming p50)"] = round(rate * p50, 3)


def streaming_many(cfg: Config, client: redis.Redis, report: Report) -> None:
    """Issues #14 and #21: ``update_streaming_many`` vs a loop of ``update_streaming``, and guarded vs unguarded.

    Every variant writes the same events for the same N entities, alternating
    call by call. The guarded write (``event_time``, one ``EVAL`` of
    ``fslib/lua/guarded_write.lua`` per entity) has a prefix of its own, and
    each call carries a later event time, so every field applies. The floors
    are one redis-py pipeline of N ``HSETEX``, and the same script per entity
    sent raw: as ``EVAL`` (the store's way, with its text) and as ``EVALSHA``.
    """
    n = cfg.pick(1000, 20)
    store = FeatureStore(client, key_prefix=f"bench:{uuid.uuid4().hex[:8]}:many:")
    guarded = FeatureStore(client, key_prefix=f"bench:{uuid.uuid4().hex[:8]}:many-guarded:")
    rng = random.Random(11)
    events = {entity_id: fslib.streaming_features(rng) for entity_id in synthesize_users(n).ids}
    encoded = {store.key_for(e): DEFAULT_SCHEMA.encode(f, FeatureKind.STREAMING) for e, f in events.items()}
    guarded_encoded = {guarded.key_for(e): encoded[store.key_for(e)] for e in events}
    ttl, clock = store.streaming_ttl_seconds, _event_clock()
    sha = client.script_load(GUARDED_WRITE)

    def loop() -> None:
        for entity_id, fields in events.items():
            store.update_streaming(entity_id, fields)

    def raw_hsetex() -> Any:
        pipe = client.pipeline(transaction=False)
        for key, fields in encoded.items():
            pipe.hsetex(key, mapping=fields, ex=ttl)
        return pipe.execute()

    def raw_script(*script: Any) -> Any:
        event_ms = next(clock)
        pipe = client.pipeline(transaction=False)
        for key, fields in guarded_encoded.items():
            pipe.execute_command(*script, 1, key, *_guarded_argv(guarded, ttl, event_ms, fields))
        return pipe.execute()

    unguarded, guarded_many = "update_streaming_many", f"update_streaming_many ({_GUARDED})"
    raw, raw_eval, raw_evalsha = (
        f"raw pipeline of {n} HSETEX",
        f"raw pipeline of {n} EVAL guarded_write.lua",
        f"raw pipeline of {n} EVALSHA guarded_write.lua",
    )
    try:
        store.bulk_load(synthesize_users(n))
        guarded.bulk_load(synthesize_users(n))
        fns = {
            "loop of update_streaming": loop,
            unguarded: lambda: store.update_streaming_many(events),
            guarded_many: lambda: guarded.update_streaming_many(events, event_time=next(clock)),
            raw: raw_hsetex,
            raw_eval: lambda: raw_script("EVAL", GUARDED_WRITE),
            raw_evalsha: lambda: raw_script("EVALSHA", sha),
        }
        # A loop of 1000 writes takes ~0.1 s: fewer iterations, still alternated and repeated.
        runs = cfg.compare(fns, iterations=20, warmup=2)
        redis_us = {name: _server_us(client, fns[name], n) for name in (raw, raw_eval, raw_evalsha)}
        # What Redis spends on any script call with these arguments before the script does anything.
        empty = client.script_load("return 1")
        redis_us["raw pipeline of EVALSHA 'return 1', same ARGV"] = _server_us(
            client, lambda: raw_script("EVALSHA", empty), n
        )
    finally:
        store.reset()
        guarded.reset()
    for row in latency_rows("streaming writes, many entities", f"{n} entities per call", runs, per=n):
        row["writes_per_s"] = n / (row["p50_us"] / 1e6)
        report.rows.append(row)
    report.target_spread(
        f"update_streaming_many writes/s / loop of update_streaming writes/s ({n} entities)",
        runs.ratio("loop of update_streaming", unguarded),
        5.0,
        higher_is_better=True,
        detail="p50 of a loop over p50 of one call",
    )
    report.target_spread(
        f"update_streaming_many writes/s guarded (event_time) / unguarded ({n} entities)",
        runs.ratio(unguarded, guarded_many),
        0.7,
        higher_is_better=True,
        detail="p50 unguarded over p50 guarded",
    )
    report.facts["update_streaming_many p50 / raw pipelined HSETEX p50"] = round(runs.ratio(unguarded, raw).median, 3)
    # The ceiling of the target: what the raw pipeline itself gains over the loop.
    report.facts["loop of update_streaming p50 / raw pipelined HSETEX p50"] = round(
        runs.ratio("loop of update_streaming", raw).median, 3
    )
    # Where the guarded write's time goes: the store's own work, the script's text, the script itself.
    for name, to in ((guarded_many, raw_eval), (raw_eval, raw_evalsha), (raw_evalsha, raw)):
        report.facts[f"{name} p50 / {to} p50"] = round(runs.ratio(name, to).median, 3)
    for name, spent in redis_us.items():
        report.facts[f"Redis time per entity, {name} (us)"] = {cmd: round(us, 2) for cmd, us in spent.items()}


def _server_us(client: redis.Redis, write: Callable[[], object], entities: int, calls: int = 50) -> dict[str, float]:
    """Microseconds Redis spends per entity on ``write``, per command, from ``INFO commandstats``.

    A command a script runs is counted under its own name and again inside the
    script's (``evalsha``), so the script's own work is its figure minus theirs.
    """
    client.config_resetstat()
    for _ in range(calls):
        write()
    stats = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): s["usec"] / calls / entities
        for name, s in stats.items()
        if not name.startswith("cmdstat_config")
    }


def memory(cfg: Config, client: redis.Redis, report: Report) -> None:
    """Redis memory per entity at 100k users, and the hash encoding before and after field TTLs."""
    users = cfg.pick(100_000, 2_000)
    streamed = cfg.pick(10_000, 200)
    store = FeatureStore(client, key_prefix=f"bench:{uuid.uuid4().hex[:8]}:mem:")
    try:
        before = int(client.info("memory")["used_memory"])
        store.bulk_load(synthesize_users(users))
        after_batch = int(client.info("memory")["used_memory"])
        key = store.key_for("u0001")
        encoding_before = client.object("encoding", key)
        usage_before = client.memory_usage(key)
        rng = random.Random(5)
        for entity_id in synthesize_users(streamed).ids:
            store.update_streaming(entity_id, fslib.streaming_features(rng))
        after_stream = int(client.info("memory")["used_memory"])
        encoding_after = client.object("encoding", key)
        usage_after = client.memory_usage(key)
    finally:
        store.reset()
    per_entity = (after_batch - before) / users
    per_streamed = (after_stream - after_batch) / streamed
    report.rows.append(
        {
            "section": "memory",
            "case": f"{users} users, 6 batch fields",
            "variant": "INFO used_memory delta / N",
            "bytes_per_entity": per_entity,
            "encoding": encoding_before,
            "memory_usage_one_key": usage_before,
        }
    )
    report.rows.append(
        {
            "section": "memory",
            "case": f"+5 streaming fields with TTL on {streamed} users",
            "variant": "delta / N",
            "bytes_per_entity": per_streamed,
            "encoding": encoding_after,
            "memory_usage_one_key": usage_after,
        }
    )
    report.facts["bytes per entity (6 batch fields)"] = round(per_entity)
    report.facts["OBJECT ENCODING before/after field TTLs"] = f"{encoding_before} -> {encoding_after}"
    for event_times in (False, True):  # issue #21: what the event-time fields beside the values cost
        _entity_memory(cfg, client, report, event_times)


def _entity_memory(cfg: Config, client: redis.Redis, report: Report, event_times: bool) -> None:
    """Bytes per entity of all 11 features (streaming ones with field TTLs), with or without their event times.

    Two measures: the ``INFO used_memory`` delta over N entities (keys, key TTLs and
    Redis's index of hashes with field TTLs included), and the mean ``MEMORY USAGE``
    (``SAMPLES 0``: every field counted) of up to 1000 of the hashes.
    """
    users = cfg.pick(20_000, 200)
    store = FeatureStore(client, key_prefix=f"bench:{uuid.uuid4().hex[:8]}:mem-events:")
    rng = random.Random(7)
    events = {entity_id: fslib.streaming_features(rng) for entity_id in synthesize_users(users).ids}
    try:
        before = int(client.info("memory")["used_memory"])
        store.bulk_load(synthesize_users(users))
        store.update_streaming_many(events, event_time=1_750_000_000_000 if event_times else None)
        after = int(client.info("memory")["used_memory"])
        pipe = client.pipeline(transaction=False)
        for entity_id in list(events)[:1000]:
            pipe.memory_usage(store.key_for(entity_id), samples=0)
        usage = [int(u) for u in pipe.execute()]
        key = store.key_for(next(iter(events)))
        fields, encoding = client.hlen(key), client.object("encoding", key)
    finally:
        store.reset()
    case = "11 features, " + ("with event times" if event_times else "without event times")
    per_entity, mean_usage = (after - before) / users, float(np.mean(usage))
    for variant, measured in (("INFO used_memory delta / N", per_entity), ("mean MEMORY USAGE", mean_usage)):
        report.rows.append(
            {
                "section": "memory",
                "case": f"{users} users, {case}",
                "variant": variant,
                "bytes_per_entity": measured,
                "fields": fields,
                "encoding": encoding,
            }
        )
    report.facts[f"bytes per entity, {case} (used_memory delta; mean MEMORY USAGE)"] = (
        f"{per_entity:.0f}; {mean_usage:.0f}"
    )

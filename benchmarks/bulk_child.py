"""One bulk load in a fresh process, so its peak RSS is its own: ``python -m benchmarks.bulk_child``.

Prints one JSON line: users/s, seconds, peak RSS before and after, and the
server time per script call. Keys stay behind; the parent deletes the prefix.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from itertools import islice

import pandas  # noqa: F401  (imported before the clock starts, as a long-lived loader would have it)
import redis

import fslib
from fslib.scripts import BULK_LOAD

__all__ = ["main", "raw_load"]


def raw_load(client: redis.Redis, prefix: str, users: fslib.SyntheticUsers, ttl: int, chunk: int) -> None:
    """The raw redis-py floor: one non-transactional pipeline of HSET + EXPIRE per chunk."""
    rows = iter(users)
    while part := list(islice(rows, chunk)):
        pipe = client.pipeline(transaction=False)
        for entity_id, features in part:
            pipe.hset(prefix + entity_id, mapping=features)
            pipe.expire(prefix + entity_id, ttl)
        pipe.execute()


def _script_time(client: redis.Redis) -> tuple[int, float]:
    """Calls and total microseconds of EVAL + EVALSHA so far (deltas give this run's share)."""
    stats = client.info("commandstats")
    parts = [stats.get(f"cmdstat_{c}", {}) for c in ("eval", "evalsha")]
    return sum(int(p.get("calls", 0)) for p in parts), sum(float(p.get("usec", 0)) for p in parts)


def _peak_rss_mb() -> float:
    # VmHWM, not getrusage's ru_maxrss: that one starts from the parent's size at fork.
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--chunk", type=int, required=True)
    parser.add_argument("--variant", choices=["fslib", "fslib-pipeline", "raw"], required=True)
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority, as a batch job should")
    args = parser.parse_args(argv)
    os.nice(args.nice)
    client = fslib.connect(args.url)
    users = fslib.synthesize_users(args.users)
    store = fslib.FeatureStore(client, key_prefix=args.prefix, use_scripts=args.variant == "fslib")
    client.script_load(BULK_LOAD.source)
    calls_before, usec_before = _script_time(client)
    rss_before = _peak_rss_mb()
    start = time.perf_counter()
    if args.variant == "raw":
        raw_load(client, args.prefix, users, store.batch_ttl_seconds, args.chunk)
    else:
        store.bulk_load(users, chunk_size=args.chunk)
    seconds = time.perf_counter() - start
    calls, usec = _script_time(client)
    script_usec = (usec - usec_before) / (calls - calls_before) if calls > calls_before else None
    print(json.dumps({
        "users": args.users, "chunk": args.chunk, "variant": args.variant, "seconds": seconds,
        "users_per_s": args.users / seconds, "peak_rss_mb_before": rss_before, "peak_rss_mb": _peak_rss_mb(),
        "server_usec_per_script_call": script_usec,
    }), flush=True)


if __name__ == "__main__":
    main()

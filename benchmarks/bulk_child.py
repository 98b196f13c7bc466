"""One bulk load in a fresh process, so its peak RSS is its own: ``python -m benchmarks.bulk_child``.

Variants: ``pipeline`` and ``packed`` (``FeatureStore.bulk_load`` on that
transport), ``raw`` (redis-py pipelines, the floor) and ``lua`` (the dropped
script). Every variant iterates the same ``synthesize_users(n)``: a lazy
re-iterable, which ``bulk_load`` reads once, chunk by chunk.

Writes to ``REDIS_URL``. Prints one JSON line: users/s, seconds, peak RSS
before and after. Keys stay behind; the parent deletes the prefix.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from itertools import islice
from pathlib import Path
from typing import Any, cast

import pandas  # noqa: F401  (imported before the clock starts, as a long-lived loader would have it)
import redis

import fslib
from fslib.core import Transport

__all__ = ["LUA_BULK_LOAD", "VARIANTS", "lua_load", "main", "raw_load"]

VARIANTS = ("pipeline", "packed", "raw", "lua")
"""The loaders: fslib's two transports, the raw redis-py floor, the bare Lua script."""

LUA_BULK_LOAD = """
local pos = 2
for i = 1, #KEYS do
  local n = tonumber(ARGV[pos])
  redis.call('HSET', KEYS[i], unpack(ARGV, pos + 1, pos + 2 * n))
  redis.call('EXPIRE', KEYS[i], ARGV[1])
  pos = pos + 2 * n + 1
end
return #KEYS
"""
"""The server-side alternative fslib measured and dropped: a chunk's HSET + EXPIRE inside one script call.

ARGV: the TTL, then per key its field count and field/value pairs."""


def raw_load(client: redis.Redis, prefix: str, users: fslib.synth.SyntheticUsers, ttl: int, chunk: int) -> None:
    """The raw redis-py floor: one non-transactional pipeline of HSET + EXPIRE per chunk."""
    rows = iter(users)
    while part := list(islice(rows, chunk)):
        pipe = client.pipeline(transaction=False)
        for entity_id, features in part:
            pipe.hset(prefix + entity_id, mapping=cast("dict[Any, Any]", features))
            pipe.expire(prefix + entity_id, ttl)
        pipe.execute()


def lua_load(client: redis.Redis, prefix: str, users: fslib.synth.SyntheticUsers, ttl: int, chunk: int) -> None:
    """The bare Lua script: one ``EVALSHA`` of :data:`LUA_BULK_LOAD` per chunk, one after another."""
    script = client.register_script(LUA_BULK_LOAD)
    rows = iter(users)
    while part := list(islice(rows, chunk)):
        args: list[Any] = [ttl]
        for _, features in part:
            args.append(len(features))
            for name, value in features.items():
                args += [name, fslib.schema.to_storable(value)]  # redis-py writes numbers as text
        script(keys=[prefix + entity_id for entity_id, _ in part], args=args)


def _peak_rss_mb() -> float:
    # VmHWM, not getrusage's ru_maxrss: that one starts from the parent's size at fork.
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--chunk", type=int, required=True)
    parser.add_argument("--variant", choices=VARIANTS, required=True)
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority, as a batch job should")
    args = parser.parse_args(argv)
    os.nice(args.nice)
    client = fslib.connect(os.environ["REDIS_URL"], cluster=False)  # not an argument: it holds the password
    assert isinstance(client, redis.Redis)
    users = fslib.synthesize_users(args.users)
    transport: Transport = "packed" if args.variant == "packed" else "pipeline"
    store = fslib.FeatureStore(client, key_prefix=args.prefix, transport=transport)
    client.script_load(LUA_BULK_LOAD)
    rss_before = _peak_rss_mb()
    start = time.perf_counter()
    if args.variant in ("pipeline", "packed"):
        store.bulk_load(users, chunk_size=args.chunk)
    else:
        load = raw_load if args.variant == "raw" else lua_load
        load(client, args.prefix, users, store.batch_ttl_seconds, args.chunk)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "users": args.users,
                "chunk": args.chunk,
                "variant": args.variant,
                "seconds": seconds,
                "users_per_s": args.users / seconds,
                "peak_rss_mb_before": rss_before,
                "peak_rss_mb": _peak_rss_mb(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()

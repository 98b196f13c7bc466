"""The batch materializer: ``python -m fslib.build_features --count 500``.

The seed's ``build_features`` binary: synthesize users and bulk-load them
with a key-level TTL, as a nightly Spark/Feast job would from the warehouse.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

import redis

from fslib.connection import connect, mask_url
from fslib.errors import RedisVersionError
from fslib.local import embedded_server
from fslib.store import DEFAULT_CHUNK_SIZE, FeatureStore
from fslib.synth import synthesize_users

__all__ = ["main"]

_PROGRESS_FROM = 10_000


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fslib.build_features",
        description="Bulk-load synthetic users' batch features into Redis with a key-level TTL.",
    )
    parser.add_argument("--count", type=_positive_int, default=500, help="users to write (default 500)")
    parser.add_argument("--ttl-seconds", type=_positive_int, default=24 * 60 * 60, help="key-level TTL (default 86400)")
    parser.add_argument("--redis-url", default=None, help="default: $REDIS_URL, else a temporary embedded Redis")
    parser.add_argument("--prefix", default="fs:user:", help="key prefix (default fs:user:)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--chunk-size", type=_positive_int, default=DEFAULT_CHUNK_SIZE, help="entities per round trip")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the materializer; returns the process exit code."""
    args = _parser().parse_args(argv)
    url = args.redis_url or os.environ.get("REDIS_URL")
    if url is None:
        url = embedded_server().url
        print(
            f"No --redis-url or REDIS_URL: writing to a temporary embedded Redis at {url}, "
            "which stops when this command exits.",
            file=sys.stderr,
        )
    try:
        client = connect(url, retry_attempts=2)
        store = FeatureStore(client, key_prefix=args.prefix)
        started = time.perf_counter()
        written = store.bulk_load(
            synthesize_users(args.count, seed=args.seed),
            ttl_seconds=args.ttl_seconds,
            chunk_size=args.chunk_size,
            progress=args.count >= _PROGRESS_FROM,
        )
        elapsed = time.perf_counter() - started
    except RedisVersionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except redis.ConnectionError as exc:
        print(f"error: cannot reach Redis at {mask_url(url)}: {exc}", file=sys.stderr)
        return 2
    print(
        f"Materialized {written} user(s) under '{args.prefix}*' at {mask_url(url)} "
        f"with key-level TTL {args.ttl_seconds}s in {elapsed:.2f}s "
        f"({written / elapsed:,.0f} users/s)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

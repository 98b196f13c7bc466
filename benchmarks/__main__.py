"""``python -m benchmarks``: run every section, write results/, print PASS/MISS per target."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import redis

import fslib
from benchmarks import aio, reads, serving, writes
from benchmarks.common import Config, Report
from fslib.local import embedded_server

__all__ = ["SECTIONS", "main"]

SECTIONS: dict[str, Callable[[Config, redis.Redis, Report], None]] = {
    "ping": reads.ping_floor,
    "single": reads.single_read,
    "batch": reads.batch_read,
    "freshness": reads.freshness_read,
    "wide": reads.wide_hash,
    "asyncio": aio.sync_vs_asyncio,
    "http": serving.http_load,
    "bulk": writes.bulk_load,
    "reader": writes.reader_during_load,
    "streaming": writes.streaming_writes,
    "streaming-many": writes.streaming_many,
    "memory": writes.memory,
}
"""Section name (for ``BENCH_ONLY``) -> the function that runs it."""


def main() -> int:
    """Run the sections chosen by ``BENCH_ONLY`` (all by default); 0 unless one crashed."""
    only = [s for s in os.environ.get("BENCH_ONLY", "").split(",") if s]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        print(f"unknown BENCH_ONLY sections {sorted(unknown)}; choose from {list(SECTIONS)}", file=sys.stderr)
        return 2
    url = os.environ.get("REDIS_URL") or embedded_server().url
    client = fslib.connect(url, cluster=False)
    assert isinstance(client, redis.Redis)
    cfg = Config.from_env(url)
    report = Report(cfg)
    report.facts.update(
        {"redis": fslib.server_version(client), "redis-py": redis.__version__, "client-server": "loopback"}
    )
    for name, section in SECTIONS.items():
        if only and name not in only:
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        section(cfg, client, report)
        print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
    out = report.write()
    print(f"\nresults in {out}/ (results.md, results.csv, results.json, *.png)")
    for target in report.targets:
        print(target.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())

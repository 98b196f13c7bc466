"""The benchmark's smallest piece runs end to end, so benchmarks/ cannot rot (no timing asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fslib.local import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_writes_results_and_verdicts(redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "BENCH_QUICK": "1",
        "BENCH_ONLY": "ping,single",
        "BENCH_OUT": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["quick"] is True
    assert {(r["section"], r["variant"]) for r in results["rows"]} >= {
        ("round-trip floor", "PING"),
        ("single read", "raw hmget"),
        ("single read", "get_features (pipeline)"),
        ("single read", "get_features (packed)"),
    }
    assert all(r["p50_us"] > 0 and r["p99_us"] >= r["p50_us"] for r in results["rows"])
    assert [t["name"] for t in results["targets"]] == [
        f"pipeline: get_features p50 / raw hmget p50 ({n} fields)" for n in (5, 11)
    ]
    for t in results["targets"]:  # the verdict follows from this run's measurement
        assert t["passed"] == (t["measured"] <= t["limit"])
        assert f"{t['verdict']}  {t['name']}: " in done.stdout
    assert "## single read" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "results.csv").read_text().startswith("section,case,variant")


def test_quick_sync_vs_asyncio_section_runs(redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "BENCH_QUICK": "1",
        "BENCH_ONLY": "asyncio",
        "BENCH_OUT": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    variants = {r["variant"] for r in results["rows"] if r["section"] == "sync vs asyncio"}
    assert variants >= {
        f"{mode} {call} ({t})"
        for mode in ("sync", "async")
        for call in ("get_features", "batch_get_features")
        for t in ("pipeline", "packed")
    } | {"async, 50 coroutines"}
    assert all(r["reads_per_s"] > 0 for r in results["rows"] if "reads_per_s" in r)
    assert results["machine"]["asyncio/sync get_features p50 (packed)"] > 0
    assert any(n.startswith("Sync vs asyncio") for n in results["notes"])


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "BENCH_ONLY": "nope", "BENCH_OUT": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "unknown BENCH_ONLY sections ['nope']" in done.stderr

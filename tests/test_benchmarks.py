"""Every benchmark section runs end to end in quick mode, so benchmarks/ cannot rot (no timing asserted).

Quick mode's numbers mean nothing; what is checked is that each section
writes its rows, that each verdict follows from the measured value, and that a
section whose API is missing says so instead of failing.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.serving import BARE, CONNECTIONS, ENTITIES, FSLIB, FSLIB_2, closed_loop
from fslib.local import EmbeddedRedis
from fslib.serve import ServerProcess

ROOT = Path(__file__).resolve().parents[1]


def run_bench(sections: str, out: Path, url: str | None = None, timeout: float = 240) -> tuple[dict[str, Any], str]:
    """``python -m benchmarks`` in quick mode on ``sections``; the results.json and the printed output."""
    env = {**os.environ, "BENCH_QUICK": "1", "BENCH_ONLY": sections, "BENCH_OUT": str(out)}
    if url is not None:
        env["REDIS_URL"] = url
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads((out / "results.json").read_text()), done.stdout


def check_verdicts(results: dict[str, Any], stdout: str) -> None:
    """Each target's verdict is the comparison of its measured value with its limit, printed as such."""
    for t in results["targets"]:
        met = t["measured"] >= t["limit"] if t["higher_is_better"] else t["measured"] <= t["limit"]
        assert t["passed"] == met
        assert t["verdict"] == ("PASS" if met else "MISS")
        assert f"{t['verdict']}  {t['name']}: " in stdout


def variants(results: dict[str, Any], section: str) -> set[str]:
    return {r["variant"] for r in results["rows"] if r["section"] == section}


@pytest.mark.timeout(300)
def test_quick_read_sections_compare_both_transports(redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    results, stdout = run_bench("ping,single,batch,freshness,wide", tmp_path, redis_server.url)
    assert results["quick"] is True
    assert variants(results, "round-trip floor") == {"PING"}
    assert variants(results, "single read") >= {"raw hmget", "get_features (pipeline)", "get_features (packed)"}
    assert variants(results, "batch read (11 fields)") >= {
        "raw pipeline",
        "batch_get_features (pipeline)",
        "batch_get_features (packed)",
        "bare Lua script (EVALSHA)",
    }
    latency = [r for r in results["rows"] if "p50_us" in r]
    assert latency and all(r["p50_us"] > 0 and r["p99_us"] >= r["p50_us"] for r in latency)
    assert [t["name"] for t in results["targets"]] == [
        "pipeline: get_features p50 / raw hmget p50 (5 fields)",
        "pipeline: get_features p50 / raw hmget p50 (11 fields)",
        "pipeline: batch_get_features p50 / raw pipeline p50 (N=10)",
        "packed: batch_get_features p50 / raw pipeline p50 (N=10)",
        "pipeline: 10 sequential hmget p50 / batch_get_features p50",
        "pipeline: batch_get_feature_vectors p50 / batch_get_features (pipeline) p50 (N=10)",
        "packed: batch_get_feature_vectors p50 / batch_get_features (pipeline) p50 (N=10)",
    ]
    assert results["machine"]["raw pipeline of execute_command('HMGET') / of pipe.hmget, p50 (N=10)"] > 0
    assert results["machine"]["Redis time per entity, freshness read (us)"] > 0
    check_verdicts(results, stdout)
    markdown = (tmp_path / "results.md").read_text()
    assert "## single read" in markdown and "## Targets" in markdown
    assert (tmp_path / "results.csv").read_text().startswith("section,case,variant")
    assert {"batch_read.png", "hmget_vs_hgetall.png"} <= {p.name for p in tmp_path.glob("*.png")}


@pytest.mark.timeout(300)
def test_quick_write_sections_load_with_every_variant(redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    results, stdout = run_bench("bulk,reader,streaming,streaming-many,memory", tmp_path, redis_server.url)
    assert {v.split()[0] for v in variants(results, "bulk load")} == {"raw", "pipeline", "packed", "lua"}
    assert all(r["users_per_s"] > 0 and r["peak_rss_mb"] > 0 for r in results["rows"] if r["section"] == "bulk load")
    assert variants(results, "reader during bulk load") == {
        "no load",
        "pipeline chunk=200",
        "packed chunk=200",
        "raw chunk=200",
        "lua chunk=200",
    }
    names = [t["name"] for t in results["targets"]]
    assert names[:3] == [
        "pipeline: bulk load users/s / raw pipeline users/s, same chunk (2000 users)",
        "packed: bulk load users/s / best raw pipeline users/s (2000 users)",
        "packed: reader p99 during bulk load, chunk 200 (ms)",
    ]
    assert names[3:] == [
        "update_streaming p50 guarded (event_time) / unguarded (HSETEX)",
        "update_streaming_many writes/s / loop of update_streaming writes/s (20 entities)",
        "update_streaming_many writes/s guarded (event_time) / unguarded (20 entities)",
    ]
    check_verdicts(results, stdout)
    assert variants(results, "streaming writes") >= {
        "fslib update_streaming (HSETEX)",
        "fslib update_streaming (guarded: event_time)",
        "raw EVALSHA guarded_write.lua",
    }
    assert variants(results, "streaming writes, many entities") == {
        "loop of update_streaming",
        "update_streaming_many",
        "update_streaming_many (guarded: event_time)",
        "raw pipeline of 20 HSETEX",
        "raw pipeline of 20 EVAL guarded_write.lua",
        "raw pipeline of 20 EVALSHA guarded_write.lua",
    }
    # Redis's own time: the guarded script's commands are counted inside it and on their own.
    guarded_us = results["machine"]["Redis time per entity, raw pipeline of 20 EVALSHA guarded_write.lua (us)"]
    assert set(guarded_us) == {"evalsha", "hmget", "hsetex"}
    assert guarded_us["evalsha"] > guarded_us["hmget"] + guarded_us["hsetex"]
    assert variants(results, "memory") == {"INFO used_memory delta / N", "delta / N", "mean MEMORY USAGE"}
    memory = {r["case"]: r for r in results["rows"] if r["variant"] == "mean MEMORY USAGE"}
    plain, timed = (
        memory["200 users, 11 features, without event times"],
        memory["200 users, 11 features, with event times"],
    )
    # The guarded writes stored an event time beside each of the 5 streaming values, and that takes room.
    assert (plain["fields"], timed["fields"]) == (11, 16)
    assert timed["bytes_per_entity"] > plain["bytes_per_entity"] > 0
    assert "StreamingWorker sustained" in {r["case"] for r in results["rows"] if r["section"] == "streaming writes"}


@pytest.mark.timeout(300)
def test_quick_asyncio_and_serving_sections_run(redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    results, stdout = run_bench("asyncio,http", tmp_path, redis_server.url)
    assert variants(results, "sync vs asyncio") >= {
        f"{mode} {call} ({t})"
        for mode in ("sync", "async")
        for call in ("get_features", "batch_get_features")
        for t in ("pipeline", "packed")
    } | {"async, 50 coroutines"}
    assert all(r["reads_per_s"] > 0 for r in results["rows"] if "reads_per_s" in r)
    assert results["machine"]["asyncio/sync get_features p50 (packed)"] > 0
    assert any(n.startswith("Sync vs asyncio") for n in results["notes"])
    rows = [r for r in results["rows"] if r["section"] == "serving under load"]
    direct = {r["variant"] for r in rows if r["variant"].startswith("direct")}
    assert direct == {"direct AsyncFeatureStore.get_features", "direct AsyncFeatureStore.get_feature_vector"}
    http = {(r["case"], r["variant"]): r for r in rows if not r["variant"].startswith("direct")}
    cases = [f"{c} connections, {e} entities" for e in ENTITIES for c in CONNECTIONS]
    servers = [f"{name} POST /get-online-features" for name in (FSLIB, BARE, FSLIB_2)]
    assert set(http) == {(case, server) for case in cases for server in servers}
    for row in rows:  # an HTTP error is a non-200 or a value not present: a bug, not a slow run
        assert row["requests"] > 0 and row["errors"] == 0 and row["p99_us"] >= row["p50_us"]
    assert all(r["rounds"] == 2 and r["client_cpu_share"] > 0 for r in http.values())
    names = [t["name"] for t in results["targets"] if t["name"].startswith("HTTP")]
    assert names == [f"HTTP: {FSLIB} requests/s / {BARE} requests/s ({case})" for case in cases] + [
        "HTTP: failed requests under load"
    ]
    [failed] = [t for t in results["targets"] if t["name"] == "HTTP: failed requests under load"]
    assert (failed["measured"], failed["limit"], failed["verdict"]) == (0, 0, "PASS")
    assert any(n.startswith(f"HTTP: {FSLIB} against a {BARE}") for n in results["notes"])
    [scaling] = [n for n in results["notes"] if n.startswith(f"HTTP: {FSLIB_2} / {FSLIB} requests/s")]
    assert all(f"{case}: " in scaling for case in cases) and "x (rounds " in scaling
    check_verdicts(results, stdout)


def test_closed_loop_counts_errors_and_keeps_going() -> None:
    async def request(i: int) -> None:
        await asyncio.sleep(0)
        if i % 2:
            raise RuntimeError("odd request")

    run = asyncio.run(closed_loop(request, clients=2, seconds=0.05))
    # Client 0 sends the even requests, client 1 the odd ones: every odd one failed, none stopped its client.
    assert run.requests > 0 and run.errors > 0
    assert run.latencies.size == run.requests
    row = run.row("fake", "case")
    assert row["errors"] == run.errors and row["requests_per_s"] > 0


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "BENCH_ONLY": "nope", "BENCH_OUT": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "unknown BENCH_ONLY sections ['nope']" in done.stderr


def test_load_generator_counts_a_wrong_answer_as_an_error(redis_server: EmbeddedRedis) -> None:
    """An answer that is not a 200 with the expected count of ``present`` statuses is an error; the rest are not."""
    with ServerProcess("--no-worker", "--log-level", "warning", redis_url=redis_server.url) as server:
        good = {"entities": {"user_id": ["nobody"]}, "features": ["risk_segment"]}
        bad = {"entities": {"user_id": ["nobody"]}, "features": ["no_such_feature"]}
        spec = {
            "targets": {"served": server.url},
            "path": "/get-online-features",
            "bodies": [json.dumps(good), json.dumps(bad)],
            "present": 0,  # an unknown entity: every status entity_missing, so a good answer has no "present"
            "connections": 2,
            "seconds": 0.2,
            "warmup_seconds": 0.05,
            "rounds": 1,
        }
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.http_load"],
            cwd=ROOT,
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    [run] = json.loads(done.stdout)["served"]
    # Each connection alternates the good body and the one answered 422: about half of them failed.
    assert run["requests"] > 0 and run["errors"] > 0
    assert abs(run["requests"] - run["errors"]) <= 2
    assert run["p99_us"] >= run["p50_us"] > 0

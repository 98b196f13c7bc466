"""fslib.lab.bench: shapes and semantics of the sampling helpers (never timings)."""

from __future__ import annotations

import asyncio
import gc

import numpy as np
import pytest
import redis

from fslib.checks import check_entity_ids
from fslib.lab.bench import (
    LatencyComparison,
    Spread,
    compare_latencies,
    compare_latencies_async,
    gc_paused,
    percentiles,
    profile_calls,
)


def test_one_variant_calls_warmup_plus_n_and_returns_seconds() -> None:
    calls: list[int] = []
    [samples] = compare_latencies({"one": lambda: calls.append(1)}, n=50, warmup=7, repeats=1)["one"]
    assert len(calls) == 57
    assert samples.shape == (50,)
    assert samples.dtype == np.float64
    assert (samples >= 0).all()


def test_sampling_runs_with_gc_disabled_and_restores_it() -> None:
    seen: list[bool] = []
    assert gc.isenabled()
    compare_latencies({"one": lambda: seen.append(gc.isenabled())}, n=5, warmup=0, repeats=1)
    assert seen == [False] * 5
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_gc_paused_restores_a_disabled_collector_as_disabled() -> None:
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("n, warmup", [(0, 0), (-1, 0), (1.5, 0), (5, -1)])
def test_compare_latencies_refuses_bad_counts(n: object, warmup: object) -> None:
    with pytest.raises((TypeError, ValueError), match=r"^(n|warmup) must"):
        compare_latencies({"one": lambda: None}, n=n, warmup=warmup)  # type: ignore[arg-type]


def test_percentiles_of_known_samples() -> None:
    samples = np.arange(1, 101, dtype=float)  # 1..100
    pcts = percentiles(samples)
    assert list(pcts) == ["p50", "p90", "p99"]
    assert pcts["p50"] == pytest.approx(50.5)
    assert pcts["p90"] == pytest.approx(90.1)
    assert pcts["p99"] == pytest.approx(99.01)
    with pytest.raises(ValueError, match="no samples"):
        percentiles([])


def test_compare_latencies_alternates_variants_call_by_call() -> None:
    order: list[str] = []
    runs = compare_latencies({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, n=3, warmup=1, repeats=2)
    assert isinstance(runs, LatencyComparison) and list(runs) == ["a", "b"] and runs.rounds == 2
    assert [len(r) for r in runs.values()] == [2, 2]
    assert all(r.shape == (3,) for rs in runs.values() for r in rs)
    # warm-up only before the first repeat, then every round calls each variant once, in some order
    assert "".join(order[:2]) == "ab"
    rounds = ["".join(sorted(order[i : i + 2])) for i in range(2, len(order), 2)]
    assert rounds == ["ab"] * 6
    with pytest.raises(ValueError, match="no operations"):
        compare_latencies({})
    with pytest.raises(ValueError, match="repeats"):
        compare_latencies({"a": lambda: None}, repeats=0)
    with pytest.raises(ValueError, match=r"baseline 'c' is not a variant"):
        compare_latencies({"a": lambda: None}, n=1, warmup=0, baseline="c")


def test_one_call_per_round_still_shuffles_the_order_from_round_to_round() -> None:
    order: list[str] = []
    fns = {name: (lambda name=name: order.append(name)) for name in "abcd"}
    compare_latencies(fns, n=1, warmup=0, repeats=8)
    per_round = ["".join(order[i : i + 4]) for i in range(0, 32, 4)]
    assert all(sorted(r) == list("abcd") for r in per_round)
    assert len(set(per_round)) > 1, f"every round ran in the same order: {per_round}"


def _comparison() -> LatencyComparison:
    """Known rounds: b takes twice a's time in round 1, three times in round 2, four times in round 3."""
    a = [np.full(5, 1e-3), np.full(5, 2e-3), np.full(5, 1e-3)]
    return LatencyComparison({"a": a, "b": [r * k for r, k in zip(a, (2, 3, 4))]}, baseline="a")


def test_comparison_gives_each_percentile_per_round_and_ratios_within_rounds() -> None:
    runs = _comparison()
    assert runs.per_round("a").tolist() == pytest.approx([1e-3, 2e-3, 1e-3])
    assert runs.ms("b") == Spread(pytest.approx(4.0), pytest.approx(2.0), pytest.approx(6.0), 3)
    assert runs.ratio("b") == Spread(pytest.approx(3.0), pytest.approx(2.0), pytest.approx(4.0), 3)
    assert runs.ratio("a", to="b").high == pytest.approx(0.5)
    assert runs.rate("a", per_call=100).median == pytest.approx(100 / 1e-3)
    assert runs.samples("b").size == 15
    with pytest.raises(KeyError):
        runs.ratio("nope")


def test_comparison_table_holds_the_spread_and_the_ratio_to_the_baseline() -> None:
    table = _comparison().table(unit="us")
    assert table.attrs["baseline"] == "a" and list(table.index) == ["a", "b"]
    assert table.loc["b", ["p50_us", "p50_us_low", "p50_us_high"]].tolist() == pytest.approx([4000.0, 2000.0, 6000.0])
    assert table.loc["b", ["p50_ratio", "p50_ratio_low", "p50_ratio_high"]].tolist() == pytest.approx([3.0, 2.0, 4.0])
    assert table.loc["a", "p50_ratio"] == 1.0
    assert {"p99_us", "p99_us_low", "p99_us_high"} <= set(table.columns)
    with pytest.raises(ValueError, match="unit must be"):
        _comparison().table(unit="minutes")


def test_a_spread_formats_its_range_and_names_its_rounds() -> None:
    spread = Spread.of([1.2, 1.1, 1.5])
    assert f"{spread:.2f}" == "1.20 (1.10 to 1.50 across 3 rounds)"
    assert spread.as_dict("x") == {"x": 1.2, "x_low": 1.1, "x_high": 1.5}
    with pytest.raises(ValueError, match="no rounds"):
        Spread.of([])


def test_compare_latencies_async_awaits_coroutine_variants_and_alternates() -> None:
    order: list[str] = []

    async def later() -> None:
        await asyncio.sleep(0)  # gives the loop a turn: only recorded once awaited to the end
        order.append("a")

    runs = asyncio.run(
        compare_latencies_async({"a": later, "s": lambda: order.append("s")}, n=4, warmup=1, repeats=2, baseline="s")
    )
    assert list(runs) == ["a", "s"] and [len(r) for r in runs.values()] == [2, 2] and runs.baseline == "s"
    assert all(r.shape == (4,) and (r > 0).all() for rs in runs.values() for r in rs)
    assert "".join(order[:2]) == "as"
    assert ["".join(sorted(order[i : i + 2])) for i in range(2, len(order), 2)] == ["as"] * 8
    with pytest.raises(ValueError, match="no operations"):
        asyncio.run(compare_latencies_async({}))


def test_profile_calls_counts_per_call_and_names_the_area_of_each_function(single_client: redis.Redis) -> None:
    frame = profile_calls(lambda: (single_client.ping(), check_entity_ids(["u1", "u2", "u3"])), calls=4)
    assert list(frame.columns) == ["function", "area", "calls", "own_ms", "share"]
    assert frame["own_ms"].is_monotonic_decreasing and frame["share"].sum() == pytest.approx(1.0)
    rows = frame.set_index("function")
    ours = rows.loc[rows.index.str.startswith("fslib/checks.py:") & rows.index.str.endswith(" check_entity_ids")]
    assert ours["area"].tolist() == ["fslib"] and ours["calls"].tolist() == [1.0]  # once per profiled call
    ping = rows.loc[rows.index.str.endswith(" ping")]
    assert ping["area"].tolist() == ["redis-py"] and ping["calls"].tolist() == [1.0]
    assert "socket I/O (waiting on Redis)" in set(frame["area"])  # the reply was read from the socket
    with pytest.raises(ValueError, match="calls must"):
        profile_calls(lambda: None, calls=0)

"""Latency sampling and percentiles, shared by the notebooks and ``benchmarks/``.

On a shared, noisy machine one absolute number means little: compare
variants in the same run (:func:`compare_latencies` alternates them call by
call, so a noisy second hits each alike, in several rounds) and quote ratios
and percentiles with their spread across rounds (:class:`LatencyComparison`,
:class:`Spread`). Sampling runs with the garbage collector frozen and disabled,
since a collection in the middle of a pipeline shows up as a ~20 ms spike that
belongs to Python, not Redis.
:func:`profile_calls` says where the time of a call goes (cProfile, by area of code).
"""

from __future__ import annotations

import cProfile
import gc
import inspect
import pstats
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import redis

import fslib
from fslib.checks import check_count

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LatencyComparison",
    "Spread",
    "compare_latencies",
    "compare_latencies_async",
    "gc_paused",
    "percentiles",
    "profile_calls",
]

PERCENTILES: tuple[int, ...] = (50, 90, 99)
"""The percentiles :func:`percentiles` reports by default."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect once, then freeze and disable the garbage collector for the block.

    Objects alive at entry move to the permanent generation, so a collection
    forced later does not walk them; the previous state is restored on exit.
    """
    was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def _sample_alternating(fns: Sequence[Callable[[], object]], orders: list[list[int]]) -> np.ndarray:
    """One pass per order, calling each of ``fns`` once in that order; seconds, one row per function.

    The orders come from :func:`_round_orders`: a call right after a big one
    finds colder caches, and no variant should always be that one.
    """
    samples = np.empty((len(fns), len(orders)), dtype=np.int64)
    clock = time.perf_counter_ns
    with gc_paused():
        for i, order in enumerate(orders):
            for row in order:
                fn = fns[row]
                start = clock()
                fn()
                samples[row, i] = clock() - start
    return samples / 1e9


def _round_orders(n: int, variants: int) -> list[list[int]]:
    """``n`` shuffled orders of ``range(variants)``, the same in every run (fixed seed).

    Drawn once for all the rounds of a comparison, so with one call per round
    the rounds still differ in order.
    """
    return np.argsort(np.random.default_rng(0).random((n, variants)), axis=1).tolist()


def percentiles(samples: Sequence[float] | np.ndarray, qs: Sequence[int] = PERCENTILES) -> dict[str, float]:
    """``{"p50": ..., "p90": ..., "p99": ...}`` of ``samples`` (same unit as the samples).

    Raises:
        ValueError: ``samples`` is empty.
    """
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no samples")
    return {f"p{q}": float(v) for q, v in zip(qs, np.percentile(values, qs))}


@dataclass(frozen=True)
class Spread:
    """One figure measured once per round: the median across the rounds, and the lowest and highest round.

    Formatting applies the spec to all three: ``f"{spread:.2f}"`` reads
    ``1.12 (1.08 to 1.15 across 3 rounds)``, the uncertainty a verdict states.
    """

    median: float
    low: float
    high: float
    rounds: int

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray) -> Spread:
        """The median, min and max of one value per round.

        Raises:
            ValueError: ``values`` is empty.
        """
        array = np.asarray(values, dtype=np.float64)
        if array.size == 0:
            raise ValueError("no rounds")
        return cls(float(np.median(array)), float(array.min()), float(array.max()), int(array.size))

    def __format__(self, spec: str) -> str:
        return f"{self.median:{spec}} ({self.low:{spec}} to {self.high:{spec}} across {self.rounds} rounds)"

    def as_dict(self, name: str) -> dict[str, float]:
        """``{name: median, name_low: low, name_high: high}``, columns of a table or a plot's frame."""
        return {name: self.median, f"{name}_low": self.low, f"{name}_high": self.high}


class LatencyComparison(Mapping[str, list[np.ndarray]]):
    """What :func:`compare_latencies` measured: per variant, one latency array (seconds) per round.

    As a mapping it gives those raw rounds (variant -> list of arrays). Its
    methods give what a verdict needs: a percentile per round (so its spread
    says how far noise moved it), and ratios of two variants taken within
    each round (noise that slows a round slows both sides of its ratio).

    Args:
        rounds: Variant name -> latencies in seconds, one array per round.
        baseline: The variant the ratios of :meth:`table` are taken against.

    Raises:
        ValueError: No variants, a variant without rounds, or an unknown baseline.
    """

    def __init__(self, rounds: Mapping[str, Sequence[np.ndarray]], baseline: str) -> None:
        if not rounds or not all(rounds.values()):
            raise ValueError("a comparison needs at least one variant with at least one round")
        self._rounds = {name: list(arrays) for name, arrays in rounds.items()}
        if baseline not in self._rounds:
            raise ValueError(f"baseline {baseline!r} is not a variant; the variants are {list(self._rounds)}")
        self.baseline = baseline

    def __getitem__(self, name: str) -> list[np.ndarray]:
        return self._rounds[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rounds)

    def __len__(self) -> int:
        return len(self._rounds)

    def __repr__(self) -> str:
        return f"LatencyComparison({list(self._rounds)}, baseline={self.baseline!r}, rounds={self.rounds})"

    @property
    def rounds(self) -> int:
        """How many rounds every variant ran."""
        return len(next(iter(self._rounds.values())))

    def samples(self, name: str) -> np.ndarray:
        """Every latency of ``name`` (seconds), all rounds in order."""
        return np.concatenate(self._rounds[name])

    def per_round(self, name: str, q: float = 50) -> np.ndarray:
        """The ``q``-th percentile of each round of ``name``, in seconds."""
        return np.array([np.percentile(samples, q) for samples in self._rounds[name]])

    def ms(self, name: str, q: float = 50) -> Spread:
        """The ``q``-th percentile of ``name`` in milliseconds: median, min and max across rounds."""
        return Spread.of(self.per_round(name, q) * 1e3)

    def ratio(self, name: str, to: str | None = None, q: float = 50) -> Spread:
        """``name``'s percentile over ``to``'s (the baseline by default), taken within each round.

        Raises:
            KeyError: An unknown variant.
        """
        return Spread.of(self.per_round(name, q) / self.per_round(to or self.baseline, q))

    def rate(self, name: str, per_call: float) -> Spread:
        """Items per second when one call of ``name`` handles ``per_call`` of them (from each round's p50)."""
        return Spread.of(per_call / self.per_round(name))

    def table(self, unit: str = "ms") -> pd.DataFrame:
        """One row per variant: p50 and p99 in ``unit`` with their spread, and the p50 ratio to the baseline.

        Columns ``p50_<unit>``, ``p50_<unit>_low``, ``p50_<unit>_high``, the same
        for p99, then ``p50_ratio``, ``p50_ratio_low``, ``p50_ratio_high``;
        ``frame.attrs["baseline"]`` names the baseline.

        Raises:
            ValueError: Unknown ``unit`` (``"s"``, ``"ms"`` or ``"us"``).
        """
        import pandas as pd

        scale = _unit_scale(unit) / 1e3
        rows = {}
        for name in self._rounds:
            p50, p99, ratio = self.ms(name, 50), self.ms(name, 99), self.ratio(name)
            rows[name] = {
                **_scaled(p50, scale).as_dict(f"p50_{unit}"),
                **_scaled(p99, scale).as_dict(f"p99_{unit}"),
                **ratio.as_dict("p50_ratio"),
            }
        frame = pd.DataFrame.from_dict(rows, orient="index").rename_axis("variant")
        frame.attrs["baseline"] = self.baseline
        return frame


def _scaled(spread: Spread, factor: float) -> Spread:
    return Spread(spread.median * factor, spread.low * factor, spread.high * factor, spread.rounds)


def _unit_scale(unit: str) -> float:
    scales = {"s": 1.0, "ms": 1e3, "us": 1e6}
    if unit not in scales:
        raise ValueError(f"unit must be one of {sorted(scales)}, got {unit!r}")
    return scales[unit]


def compare_latencies(
    fns: Mapping[str, Callable[[], object]],
    n: int = 2000,
    warmup: int = 200,
    repeats: int = 3,
    baseline: str | None = None,
) -> LatencyComparison:
    """Sample several variants of one operation, alternating call by call, in ``repeats`` rounds.

    Each round calls every variant ``n`` times, one call of each in turn (in
    a shuffled order), so a noisy neighbour slows them alike and ratios between
    them stay meaningful; the spread across rounds shows how far to trust them.
    With ``n=1`` each round times every variant once (a bulk load, say).

    Args:
        fns: Variant name -> operation with no arguments.
        n: Timed calls per variant and round.
        warmup: Untimed calls per variant, before the first round only.
        repeats: Rounds over all variants.
        baseline: The variant ratios are taken against; the first one by default.

    Returns:
        The rounds and their summaries (:class:`LatencyComparison`).

    Raises:
        ValueError: No variants, ``repeats`` or ``n`` < 1, ``warmup`` < 0, or an unknown baseline.
    """
    _check_compare(fns, n, warmup, repeats)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    calls = list(fns.values())
    rounds = [_sample_alternating(calls, orders) for orders in _orders_by_round(n, repeats, len(fns))]
    return _comparison(fns, rounds, baseline)


async def compare_latencies_async(
    fns: Mapping[str, Callable[[], object]],
    n: int = 2000,
    warmup: int = 200,
    repeats: int = 3,
    baseline: str | None = None,
) -> LatencyComparison:
    """:func:`compare_latencies` inside a running event loop, for sync vs asyncio comparisons.

    A variant whose call returns an awaitable is awaited, and timed until it
    is done; a plain variant is called as in :func:`compare_latencies`. Run
    nothing else on the loop meanwhile: it would be timed too.

    Args, Returns and Raises: as for :func:`compare_latencies`.
    """
    _check_compare(fns, n, warmup, repeats)
    for fn in fns.values():
        for _ in range(warmup):
            if inspect.isawaitable(reply := fn()):
                await reply
    calls = list(fns.values())
    clock = time.perf_counter_ns
    rounds = []
    for orders in _orders_by_round(n, repeats, len(fns)):
        samples = np.empty((len(calls), n), dtype=np.int64)
        with gc_paused():
            for i, order in enumerate(orders):
                for row in order:
                    start = clock()
                    if inspect.isawaitable(reply := calls[row]()):
                        await reply
                    samples[row, i] = clock() - start
        rounds.append(samples / 1e9)
    return _comparison(fns, rounds, baseline)


def _orders_by_round(n: int, repeats: int, variants: int) -> list[list[list[int]]]:
    """Each round's ``n`` call orders, all drawn at once (:func:`_round_orders`) so rounds differ."""
    orders = _round_orders(n * repeats, variants)
    return [orders[round_ * n : (round_ + 1) * n] for round_ in range(repeats)]


def _comparison(fns: Mapping[str, object], rounds: Sequence[np.ndarray], baseline: str | None) -> LatencyComparison:
    """Rounds of samples (one row per variant, seconds) as a comparison; the first variant is the default baseline."""
    return LatencyComparison(
        {name: [samples[row] for samples in rounds] for row, name in enumerate(fns)}, baseline or next(iter(fns))
    )


def _check_compare(fns: Mapping[str, Callable[[], object]], n: object, warmup: object, repeats: object) -> None:
    if not fns:
        raise ValueError("no operations to compare")
    check_count(repeats, "repeats")
    check_count(n, "n")
    check_count(warmup, "warmup", minimum=0)


_PACKAGES = {"fslib": Path(fslib.__file__).parent, "redis-py": Path(redis.__file__).parent}
"""Where the Python code of each area lives; its files' profile rows are that area's."""


def _area(filename: str, function: str) -> str:
    """The area of code one cProfile row belongs to: a package, socket I/O, hiredis or other builtins."""
    if filename == "~":  # C code called from Python: cProfile names it by its function alone
        if "socket" in function or "select" in function or "poll" in function:
            return "socket I/O (waiting on Redis)"
        return "hiredis (C)" if "hiredis" in function else "Python builtins"
    path = Path(filename)
    for area, package in _PACKAGES.items():
        if path.is_relative_to(package):
            return area
    return "other Python"


def _label(filename: str, line: int, function: str) -> str:
    """``redis/connection.py:126 pack`` for Python code, the function's own name for builtins."""
    if filename == "~":
        return function
    path = Path(filename)
    for package in _PACKAGES.values():
        if path.is_relative_to(package):
            return f"{path.relative_to(package.parent).as_posix()}:{line} {function}"
    return f"{path.name}:{line} {function}"


def profile_calls(fn: Callable[[], object], calls: int = 20) -> pd.DataFrame:
    """Call ``fn`` ``calls`` times under cProfile (after one untimed call) and say where the time went.

    cProfile adds a cost to every Python function call, so it exaggerates the
    share of code that makes many small calls: read it for *where* time goes,
    and time the variants without it for *how much*.

    Args:
        fn: The operation, with no arguments.
        calls: Profiled calls.

    Returns:
        One row per function, largest own time first: ``function``, ``area``
        (``fslib``, ``redis-py``, ``hiredis (C)``, ``socket I/O (waiting on Redis)``,
        ``Python builtins``, ``other Python``), ``calls`` (per call of ``fn``),
        ``own_ms`` (time in the function's own code per call of ``fn``) and
        ``share`` (of all profiled own time).

    Raises:
        ValueError: ``calls`` < 1.
    """
    import pandas as pd

    check_count(calls, "calls")
    fn()  # connection set-up and first-use caches stay out of the profile
    profiler = cProfile.Profile()
    with gc_paused():
        profiler.enable()
        for _ in range(calls):
            fn()
        profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]  # (file, line, name) -> (cc, nc, tt, ct, callers)
    rows = [
        (_label(filename, line, name), _area(filename, name), counts / calls, own_s * 1e3 / calls)
        for (filename, line, name), (_, counts, own_s, _, _) in stats.items()
        if name != "<method 'disable' of '_lsprof.Profiler' objects>"
    ]
    frame = pd.DataFrame(rows, columns=["function", "area", "calls", "own_ms"])
    frame["share"] = frame["own_ms"] / frame["own_ms"].sum()
    return frame.sort_values("own_ms", ascending=False, ignore_index=True)

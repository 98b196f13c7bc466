"""Latency sampling and percentiles, shared by the notebooks and ``benchmarks/``.

On a shared, noisy machine one absolute number means little: compare
variants in the same run (:func:`compare_latencies` alternates them call by
call, so a noisy second hits each alike) and quote ratios and percentiles. Sampling runs with the
garbage collector frozen and disabled, since a collection in the middle of a
pipeline shows up as a ~20 ms spike that belongs to Python, not Redis.
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import redis

import fslib

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LatencySummary",
    "compare_latencies",
    "compare_latencies_async",
    "gc_paused",
    "percentiles",
    "profile_calls",
    "sample_latencies",
    "summaries_frame",
    "summarize",
]

PERCENTILES: tuple[int, ...] = (50, 90, 99)
"""The percentiles every summary reports."""


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


def sample_latencies(fn: Callable[[], object], n: int = 2000, warmup: int = 200) -> np.ndarray:
    """Call ``fn`` ``warmup`` times untimed, then ``n`` times timed.

    Args:
        fn: The operation, with no arguments (bind them with a lambda or partial).
        n: Timed calls.
        warmup: Untimed calls first (connection set-up, caches, script loading).

    Returns:
        ``n`` latencies in seconds (float64), in call order.

    Raises:
        ValueError: ``n`` < 1 or ``warmup`` < 0.
    """
    _check_counts(n, warmup)
    for _ in range(warmup):
        fn()
    return _sample_alternating([fn], n)[0]


def _check_counts(n: object, warmup: object) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")


def _sample_alternating(fns: Sequence[Callable[[], object]], n: int) -> np.ndarray:
    """``n`` rounds calling each of ``fns`` once; latencies in seconds, one row per function.

    Each round goes in a fresh random order (fixed seed): a call right after
    a big one finds colder caches, and no variant should always be that one.
    """
    samples = np.empty((len(fns), n), dtype=np.int64)
    clock = time.perf_counter_ns
    with gc_paused():
        for i, order in enumerate(_round_orders(n, len(fns))):
            for row in order:
                fn = fns[row]
                start = clock()
                fn()
                samples[row, i] = clock() - start
    return samples / 1e9


def _round_orders(n: int, variants: int) -> list[list[int]]:
    """``n`` shuffled orders of ``range(variants)``, the same in every run (fixed seed)."""
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
class LatencySummary:
    """Percentiles of one sampled operation, in seconds."""

    name: str
    n: int
    p50: float
    p90: float
    p99: float
    mean: float
    max: float

    def as_dict(self, scale: float = 1.0) -> dict[str, object]:
        """The fields as a dict; times multiplied by ``scale`` (1e6 for microseconds)."""
        return {k: (v * scale if isinstance(v, float) else v) for k, v in asdict(self).items()}


def summarize(name: str, samples: Sequence[float] | np.ndarray) -> LatencySummary:
    """Reduce latency samples (seconds) to a :class:`LatencySummary`.

    Raises:
        ValueError: ``samples`` is empty.
    """
    values = np.asarray(samples, dtype=np.float64)
    pcts = percentiles(values)
    return LatencySummary(
        name, int(values.size), pcts["p50"], pcts["p90"], pcts["p99"], float(values.mean()), float(values.max())
    )


def compare_latencies(
    fns: Mapping[str, Callable[[], object]], n: int = 2000, warmup: int = 200, repeats: int = 3
) -> dict[str, list[np.ndarray]]:
    """Sample several variants of one operation, alternating call by call, ``repeats`` times.

    Each round calls every variant once, so a noisy neighbour slows them
    alike and ratios between them stay meaningful; the spread across
    repeats shows how far to trust them.

    Args:
        fns: Variant name -> operation with no arguments.
        n: Timed calls per variant and repeat.
        warmup: Untimed calls per variant, before the first repeat only.
        repeats: Rounds over all variants.

    Returns:
        Variant name -> one latency array (seconds) per repeat.

    Raises:
        ValueError: No variants, ``repeats`` or ``n`` < 1, or ``warmup`` < 0.
    """
    _check_compare(fns, n, warmup, repeats)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    runs: dict[str, list[np.ndarray]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, samples in zip(fns, _sample_alternating(list(fns.values()), n)):
            runs[name].append(samples)
    return runs


async def compare_latencies_async(
    fns: Mapping[str, Callable[[], object]], n: int = 2000, warmup: int = 200, repeats: int = 3
) -> dict[str, list[np.ndarray]]:
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
    runs: dict[str, list[np.ndarray]] = {name: [] for name in fns}
    calls = list(fns.values())
    clock = time.perf_counter_ns
    for _ in range(repeats):
        samples = np.empty((len(calls), n), dtype=np.int64)
        with gc_paused():
            for i, order in enumerate(_round_orders(n, len(calls))):
                for row in order:
                    start = clock()
                    if inspect.isawaitable(reply := calls[row]()):
                        await reply
                    samples[row, i] = clock() - start
        for name, row_samples in zip(fns, samples / 1e9):
            runs[name].append(row_samples)
    return runs


def _check_compare(fns: Mapping[str, Callable[[], object]], n: object, warmup: object, repeats: object) -> None:
    if not fns:
        raise ValueError("no operations to compare")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    _check_counts(n, warmup)


def summaries_frame(summaries: Sequence[LatencySummary], unit: str = "us") -> pd.DataFrame:
    """Summaries as a DataFrame indexed by name, times in ``unit`` (``"s"``, ``"ms"`` or ``"us"``).

    Raises:
        ValueError: Unknown ``unit``.
    """
    import pandas as pd

    scales = {"s": 1.0, "ms": 1e3, "us": 1e6}
    if unit not in scales:
        raise ValueError(f"unit must be one of {sorted(scales)}, got {unit!r}")
    rows = [s.as_dict(scales[unit]) for s in summaries]
    frame = pd.DataFrame(rows, columns=["name", "n", "p50", "p90", "p99", "mean", "max"])
    return frame.set_index("name").rename(columns=lambda c: c if c == "n" else f"{c}_{unit}")


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

    _check_counts(calls, 0)
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

"""Latency figures: single-request ECDFs, batch-read sweeps, HGETALL against HMGET, profiled time by area."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import cycle
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from fslib.lab.bench import Spread
from fslib.lab.plots._style import (
    COLORS,
    Reference,
    axes_style,
    draw_references,
    draw_sweep,
    legend_below,
    require_columns,
)
from fslib.lab.plots.throughput import sweep

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["batch_read_latency", "hgetall_vs_hmget", "latency_ecdf", "profile_breakdown"]


def latency_ecdf(
    samples: Mapping[str, np.ndarray | Sequence[np.ndarray]], title: str = "Single-request latency"
) -> Figure:
    """Each variant's latencies as a cumulative curve (ECDF), with its p50 and p99 marked.

    A curve shows, for every latency on the x axis, the share of requests that
    were at least that fast: further left is faster, a long flat top is the tail.
    Given rounds (a :class:`fslib.lab.bench.LatencyComparison`), the curve pools
    them and the legend gives each percentile as the median of the rounds' with their range.

    Args:
        samples: Variant name -> latencies in seconds, one array or one array per round.
        title: The figure title.

    Returns:
        The figure, latencies in microseconds on a log axis, the legend under it.

    Raises:
        ValueError: No variants, or a variant without samples.
    """
    if not samples:
        raise ValueError("latency_ecdf: no samples to plot")
    rounds = {name: _as_rounds(values) for name, values in samples.items()}
    empty = [name for name, arrays in rounds.items() if sum(a.size for a in arrays) == 0]
    if empty:
        raise ValueError(f"latency_ecdf: no samples for {empty}")

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for share in (0.5, 0.99):
        ax.axhline(share, color="grey", linewidth=0.8, linestyle=":")
    for (name, arrays), color in zip(rounds.items(), cycle(COLORS)):
        micros = np.sort(np.concatenate(arrays)) * 1e6
        p50, p99 = np.percentile(micros, [50, 99])
        shares = np.arange(1, micros.size + 1) / micros.size
        ax.step(micros, shares, where="post", color=color, label=f"{name}: {_percentile_label(arrays)}")
        ax.plot([p50, p99], [0.5, 0.99], linestyle="none", marker="o", color=color)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set(title=title, xlabel="latency (µs, log scale)", ylabel="share of requests at or below")
    ax.grid(True, which="both", alpha=0.3)
    legend_below(fig, ax, columns=1)
    return fig


def _as_rounds(values: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """One array of latencies as one round; a sequence of arrays as its rounds."""
    if isinstance(values, np.ndarray) and values.ndim == 1:
        return [values.astype(float)]
    return [np.asarray(round_, dtype=float) for round_ in values]


def _percentile_label(rounds: list[np.ndarray]) -> str:
    """``p50 100 µs, p99 300 µs``; with several rounds, the median of theirs and their range."""
    parts = []
    for q in (50, 99):
        if len(rounds) == 1:
            parts.append(f"p{q} {np.percentile(rounds[0], q) * 1e6:.0f} µs")
        else:
            spread = Spread.of([np.percentile(r, q) * 1e6 for r in rounds])
            parts.append(f"p{q} {spread.median:.0f} µs ({spread.low:.0f}-{spread.high:.0f})")
    return ", ".join(parts) + (f" over {len(rounds)} rounds" if len(rounds) > 1 else "")


def batch_read_latency(
    frame: pd.DataFrame,
    title: str = "Batch-read latency",
    *,
    references: Mapping[str, Reference] | None = None,
    per_entity: bool = False,
) -> Figure:
    """Median batch-read latency against batch size, one line per variant.

    Args:
        frame: One row per (variant, batch size), columns ``variant``, ``batch_size``
            and ``p50_ms``; ``p50_ms_low`` and ``p50_ms_high`` (the rounds' spread),
            when present, are drawn as error bars.
        title: The axes title.
        references: Label -> latency in ms (or a Spread of it), each drawn as a
            horizontal line over the data, e.g. ``{"PING": 0.1, "one HMGET": 0.12}``.
        per_entity: Add a second panel: cost per entity (p50 / batch size, in µs).

    Returns:
        The figure (log-log), one legend under the panels.

    Raises:
        ValueError: A column is missing or the frame is empty.
    """
    require_columns(frame, ["variant", "batch_size", "p50_ms"], "batch_read_latency")
    fig = Figure(figsize=(11, 4.8) if per_entity else (7, 4.8), layout="constrained")
    axes = fig.subplots(1, 2) if per_entity else [fig.subplots()]
    # (axis, scale from ms, y label, title, divide by batch size) per panel.
    panels = [(axes[0], 1.0, "latency (ms)", title, False)]
    if per_entity:
        panels.append((axes[1], 1e3, "cost per entity (µs)", "Cost per entity", True))
    for ax, scale, ylabel, panel_title, per_x in panels:
        draw_sweep(ax, frame, "batch_size", "p50_ms", scale=scale, per_x=per_x, suffix=" (p50)")
        draw_references(ax, references, scale)
        axes_style(ax, panel_title, "entities per batch read", ylabel, logx=True, logy=True)
    legend_below(fig, axes[0], columns=3)
    return fig


def hgetall_vs_hmget(frame: pd.DataFrame) -> Figure:
    """``HGETALL`` against a fixed ``HMGET`` as the hash grows.

    Args:
        frame: One row per (variant, hash width): ``variant`` (e.g. ``"HGETALL"``,
            ``"HMGET 5 fields"``), ``fields`` and ``p50_us``, optionally
            ``p50_us_low``/``p50_us_high`` (as :meth:`fslib.lab.bench.LatencyComparison.table` gives).

    Returns:
        The figure, latencies in microseconds, the legend under it.

    Raises:
        ValueError: A column is missing or the frame is empty.
    """
    require_columns(frame, ["variant", "fields", "p50_us"], "hgetall_vs_hmget")
    return sweep(
        frame,
        "fields",
        "p50_us",
        title="Read only what the model needs",
        xlabel="fields in the hash",
        ylabel="latency (µs, p50)",
        logx=True,
        from_zero=True,
    )


_SMALLEST_SHARE = 0.01
"""Areas whose largest bar is under this share of the figure's largest are left out of :func:`profile_breakdown`."""


def profile_breakdown(frame: pd.DataFrame, title: str = "Where a batch read's time goes") -> Figure:
    """Profiled time per call, by area of code, one bar per variant (from :func:`fslib.lab.bench.profile_calls`).

    Args:
        frame: One row per (variant, area), columns ``variant``, ``area`` and ``own_ms``
            (time spent in that area's own code per profiled call).
        title: The axes title.

    Returns:
        The figure: horizontal bars, areas top to bottom by their largest time; an
        area whose bars would not show (under 1% of the largest) is named under the axis instead.

    Raises:
        ValueError: A column is missing or the frame is empty.
    """
    require_columns(frame, ["variant", "area", "own_ms"], "profile_breakdown")
    grid = frame.pivot_table(index="area", columns="variant", values="own_ms", aggfunc="sum", sort=False).fillna(0.0)
    largest = grid.max(axis=1)
    # A row whose bars would be too thin to see is left out, and named under the axis instead.
    too_small = largest < _SMALLEST_SHARE * largest.max()
    grid = grid.loc[largest[~too_small].sort_values().index]  # the largest area on top
    fig = Figure(figsize=(8, 0.3 * len(grid.index) * len(grid.columns) + 1.8), layout="constrained")
    ax = fig.subplots()
    height = 0.8 / len(grid.columns)
    for offset, (variant, color) in enumerate(zip(grid.columns, cycle(COLORS))):
        # Within an area's group, the first variant on top, as in the legend.
        positions = np.arange(len(grid.index)) + ((len(grid.columns) - 1) / 2 - offset) * height
        ax.barh(positions, grid[variant], height=height, color=color, label=str(variant))
    ax.set_yticks(range(len(grid.index)), grid.index)
    xlabel = "ms per call, own time (cProfile)"
    if too_small.any():
        xlabel += f"\nleft out, under {_SMALLEST_SHARE:.0%} of the largest bar: {', '.join(largest.index[too_small])}"
    ax.set(title=title, xlabel=xlabel)
    ax.grid(True, axis="x", alpha=0.3)
    legend_below(fig, ax)
    return fig

"""The matplotlib figures the notebooks show.

Every function takes a pandas DataFrame (as produced by the notebooks' fslib
calls) and returns a new :class:`matplotlib.figure.Figure` without touching
pyplot's global state, so tests and scripts can render them headless and
Jupyter shows them as the cell's result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import cycle
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "batch_read_latency",
    "bulk_load_throughput",
    "feature_statuses_over_time",
    "field_ttl_heatmap",
    "field_ttl_over_time",
    "hgetall_vs_hmget",
    "latency_ecdf",
    "live_fields_over_time",
    "profile_breakdown",
]


def _require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: the frame lacks column(s) {missing}; it has {list(frame.columns)}")
    if frame.empty:
        raise ValueError(f"{what}: the frame is empty, nothing to plot")


def _axes_style(
    ax: Axes, title: str, xlabel: str, ylabel: str, *, logx: bool = False, logy: bool = False, from_zero: bool = False
) -> None:
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if from_zero:
        ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)


def _legend_below(fig: Figure, ax: Axes, columns: int = 2) -> None:
    """One legend for ``ax``'s lines, under the axes of ``fig``: outside every plot, so it never covers data."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(columns, len(labels)), frameon=False, fontsize=8)


def bulk_load_throughput(
    frame: pd.DataFrame, naive_users_per_s: float, default_chunk_size: int | None = None
) -> Figure:
    """Users per second against pipeline chunk size, with the naive loop as a line.

    Args:
        frame: One row per chunk size, columns ``chunk_size`` and ``users_per_s``.
        naive_users_per_s: Rate of the one-round-trip-per-user loop.
        default_chunk_size: Marked with a vertical line when given (``fslib.DEFAULT_CHUNK_SIZE``).

    Returns:
        The figure (log-scaled chunk size), its legend under the axes.

    Raises:
        ValueError: A column is missing or the frame is empty.
    """
    _require_columns(frame, ["chunk_size", "users_per_s"], "bulk_load_throughput")
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    rows = frame.sort_values("chunk_size")
    ax.plot(rows["chunk_size"], rows["users_per_s"], marker="o", label="bulk_load (one round trip per chunk)")
    ax.axhline(naive_users_per_s, color="tab:red", linestyle="--", label="naive loop (one round trip per user)")
    if default_chunk_size is not None:
        ax.axvline(default_chunk_size, color="grey", linestyle=":", label=f"default chunk size ({default_chunk_size})")
    _axes_style(ax, "Bulk-load throughput", "chunk size (users per round trip)", "users / s", logx=True, from_zero=True)
    _legend_below(fig, ax, columns=3)
    return fig


_COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
_STATE_COLORS = ["#d9d9d9", "tab:blue", "tab:green"]
_STATE_LABELS = ["entity gone", "batch fields only", "batch + streaming"]


def live_fields_over_time(counts: pd.DataFrame, events: Mapping[str, float] | None = None) -> Figure:
    """The mixed-staleness timeline: per-entity state on top, live field totals below.

    Args:
        counts: :func:`fslib.expiry.live_field_counts` output (``t_s``, ``entity_id``,
            ``batch``, ``streaming``).
        events: Label -> time (same clock as ``t_s``) drawn as vertical lines,
            e.g. ``{"worker paused": 0.0}``.

    Returns:
        A two-panel figure sharing the time axis.

    Raises:
        ValueError: A column is missing or the frame is empty.
    """
    _require_columns(counts, ["t_s", "entity_id", "batch", "streaming"], "live_fields_over_time")
    state = (counts["batch"] > 0).astype(int) + ((counts["batch"] > 0) & (counts["streaming"] > 0)).astype(int)
    grid = counts.assign(state=state).pivot(index="entity_id", columns="t_s", values="state")
    times = grid.columns.to_numpy(dtype=float)
    totals = counts.groupby("t_s")[["batch", "streaming"]].sum()

    fig = Figure(figsize=(9, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    # Each sample holds until the next one (as the steps below), the last for one more interval.
    last_interval = float(np.median(np.diff(times))) if len(times) > 1 else 0.5
    edges = [*times, times[-1] + last_interval]
    top.pcolormesh(
        edges, range(len(grid.index) + 1), grid.to_numpy(), cmap=ListedColormap(_STATE_COLORS), vmin=-0.5, vmax=2.5
    )
    top.set_yticks([i + 0.5 for i in range(len(grid.index))], grid.index)
    top.invert_yaxis()
    top.set_ylabel("entity")
    top.set_title("What each entity still holds")
    top.legend(
        handles=[Patch(color=c, label=label) for c, label in zip(_STATE_COLORS, _STATE_LABELS)],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        frameon=False,
    )

    bottom.step(totals.index, totals["batch"], where="post", label="batch fields", color="tab:blue")
    bottom.step(totals.index, totals["streaming"], where="post", label="streaming fields", color="tab:orange")
    bottom.set_xlabel("seconds")
    bottom.set_ylabel("live fields (all entities)")
    bottom.set_ylim(0, max(1, int(totals.to_numpy().max())) * 1.15)
    bottom.grid(True, alpha=0.3)
    bottom.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    _mark_events([top, bottom], events)
    return fig


def field_ttl_heatmap(snapshot: pd.DataFrame) -> Figure:
    """Seconds each field has left, entities by features (one :func:`fslib.lab.expiry.snapshot_ttls`).

    A field without its own TTL lives as long as its key, so it shows the key
    TTL; an absent field is blank. With a ``kind`` column, batch features come
    first, a line divides them from the streaming ones, and the top axis names the two groups.

    Args:
        snapshot: Rows of one sample: ``entity_id``, ``feature``, ``field_ttl_ms``,
            ``key_ttl_ms`` and optionally ``kind``.

    Returns:
        The heatmap, each cell labelled in seconds.

    Raises:
        ValueError: A column is missing or the frame is empty.
    """
    _require_columns(snapshot, ["entity_id", "feature", "field_ttl_ms", "key_ttl_ms"], "field_ttl_heatmap")
    field_ms = snapshot["field_ttl_ms"].where(snapshot["field_ttl_ms"] != -1, snapshot["key_ttl_ms"])
    seconds = (field_ms.where(field_ms >= 0) / 1000).rename("seconds")
    kinds = dict(zip(snapshot["feature"], snapshot["kind"])) if "kind" in snapshot.columns else {}
    features = sorted(dict.fromkeys(snapshot["feature"]), key=lambda name: kinds.get(name) != "batch")
    grid = snapshot.assign(seconds=seconds).pivot(index="entity_id", columns="feature", values="seconds")[features]

    fig = Figure(figsize=(10, 0.35 * len(grid.index) + 2.6), layout="constrained")
    ax = fig.subplots()
    values = grid.to_numpy(dtype=float)
    top = float(np.nanmax(values)) if not np.isnan(values).all() else 1.0
    image = ax.imshow(values, aspect="auto", cmap="viridis", vmin=0, vmax=top)
    ax.set_xticks(range(len(features)), features, rotation=35, ha="right")
    ax.set_yticks(range(len(grid.index)), grid.index)
    ax.set(xlabel="feature", ylabel="entity", title="Seconds left per field")
    for (row, col), value in np.ndenumerate(values):
        if not np.isnan(value):
            # Dark text on the bright end of viridis, light text on the dark end.
            color = "black" if value > 0.6 * top else "white"
            ax.text(col, row, f"{value:.1f}", ha="center", va="center", fontsize=7, color=color)
    n_batch = sum(kinds.get(name) == "batch" for name in features)
    if 0 < n_batch < len(features):
        ax.axvline(n_batch - 0.5, color="white", linewidth=3)
        groups = ax.secondary_xaxis("top")
        groups.set_xticks(
            [(n_batch - 1) / 2, (n_batch + len(features) - 1) / 2],
            ["batch features: the key TTL", "streaming features: their own field TTL"],
        )
        groups.tick_params(length=0)
    fig.colorbar(image, ax=ax, label="seconds left")
    return fig


def _mark_events(axes: Sequence[Axes], events: Mapping[str, float] | None) -> None:
    """Dotted lines at the events' times; their labels on a top axis, outside the data."""
    if not events:
        return
    for ax in axes:
        for at in events.values():
            ax.axvline(at, color="black", linestyle=":", linewidth=1)
    labels = axes[0].secondary_xaxis("top")
    labels.set_xticks(list(events.values()), list(events), rotation=30, ha="left", fontsize=8)
    labels.tick_params(length=0)


def field_ttl_over_time(samples: pd.DataFrame, feature: str, events: Mapping[str, float] | None = None) -> Figure:
    """One feature's field TTL per entity over time: a sawtooth while renewed, a slope when not.

    Args:
        samples: :func:`fslib.expiry.sample_ttls` output.
        feature: The feature to follow (a streaming one).
        events: Label -> time drawn as vertical lines, e.g. ``{"paused": 1.5}``.

    Returns:
        The figure; absent fields (-2) and fields without a TTL (-1) leave gaps.

    Raises:
        ValueError: A column is missing, or no sample has ``feature``.
    """
    _require_columns(samples, ["t_s", "entity_id", "feature", "field_ttl_ms"], "field_ttl_over_time")
    rows = samples[samples["feature"] == feature]
    if rows.empty:
        raise ValueError(f"field_ttl_over_time: no samples of feature {feature!r}")
    seconds = rows["field_ttl_ms"].where(rows["field_ttl_ms"] >= 0) / 1000
    lines = rows.assign(seconds=seconds).pivot(index="t_s", columns="entity_id", values="seconds")

    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    for entity_id in lines.columns:
        ax.plot(lines.index, lines[entity_id], linewidth=1.2, label=entity_id)
    _axes_style(ax, f"Field TTL of {feature!r} per entity", "seconds", f"{feature}: field TTL left (s)", from_zero=True)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    _mark_events([ax], events)
    return fig


_STATUS_COLORS = {
    "present": "tab:green",
    "expired": "tab:orange",
    "missing": "tab:purple",
    "entity_missing": "#bdbdbd",
    "unknown_feature": "black",
}


def feature_statuses_over_time(statuses: pd.DataFrame, events: Mapping[str, float] | None = None) -> Figure:
    """What a model server's reads said over time: one stacked panel per feature kind.

    Args:
        statuses: :meth:`fslib.lab.expiry.ExpiryRecorder.statuses` output (``t_s``,
            ``kind``, ``status``; one row per sample, entity and feature).
        events: Label -> time drawn as vertical lines, e.g. ``{"worker paused": 1.0}``.

    Returns:
        The figure: per kind (batch, then streaming), how many of the features read had
        each status (present, expired, missing, entity missing) at each sample.

    Raises:
        ValueError: A column is missing, the frame is empty, or a status is unknown.
    """
    _require_columns(statuses, ["t_s", "kind", "status"], "feature_statuses_over_time")
    unknown = sorted(set(statuses["status"]) - set(_STATUS_COLORS))
    if unknown:
        raise ValueError(f"feature_statuses_over_time: unknown status(es) {unknown}")
    kinds = sorted(set(statuses["kind"]), key=lambda kind: kind != "batch")
    fig = Figure(figsize=(9, 1.8 + 2.2 * len(kinds)), layout="constrained")
    axes = fig.subplots(len(kinds), 1, sharex=True, squeeze=False)[:, 0]
    for ax, kind in zip(axes, kinds):
        counts = statuses[statuses["kind"] == kind].groupby(["t_s", "status"]).size().unstack(fill_value=0)
        shown = [status for status in _STATUS_COLORS if status in counts.columns]
        ax.stackplot(
            counts.index,
            *(counts[status] for status in shown),
            labels=[status.replace("_", " ") for status in shown],
            colors=[_STATUS_COLORS[status] for status in shown],
            step="post",
        )
        ax.set(ylabel="features read (all entities)", title=f"{kind} features", ylim=(0, counts.sum(axis=1).max()))
        ax.margins(x=0)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, title="status")
    axes[-1].set_xlabel("seconds")
    _mark_events(list(axes), events)
    return fig


def latency_ecdf(samples: Mapping[str, np.ndarray], title: str = "Single-request latency") -> Figure:
    """Each variant's latencies as a cumulative curve (ECDF), with its p50 and p99 marked.

    A curve shows, for every latency on the x axis, the share of requests that
    were at least that fast: further left is faster, a long flat top is the tail.

    Args:
        samples: Variant name -> latencies in seconds (e.g. from :func:`fslib.lab.bench.compare_latencies`).
        title: The figure title.

    Returns:
        The figure, latencies in microseconds on a log axis, the legend under it.

    Raises:
        ValueError: No variants, or a variant without samples.
    """
    if not samples:
        raise ValueError("latency_ecdf: no samples to plot")
    micros = {name: np.sort(np.asarray(values, dtype=float)) * 1e6 for name, values in samples.items()}
    empty = [name for name, values in micros.items() if values.size == 0]
    if empty:
        raise ValueError(f"latency_ecdf: no samples for {empty}")

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for share in (0.5, 0.99):
        ax.axhline(share, color="grey", linewidth=0.8, linestyle=":")
    for (name, values), color in zip(micros.items(), cycle(_COLORS)):
        p50, p99 = np.percentile(values, [50, 99])
        shares = np.arange(1, values.size + 1) / values.size
        ax.step(values, shares, where="post", color=color, label=f"{name}: p50 {p50:.0f} µs, p99 {p99:.0f} µs")
        ax.plot([p50, p99], [0.5, 0.99], linestyle="none", marker="o", color=color)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set(title=title, xlabel="latency (µs, log scale)", ylabel="share of requests at or below")
    ax.grid(True, which="both", alpha=0.3)
    _legend_below(fig, ax)
    return fig


def batch_read_latency(
    frame: pd.DataFrame,
    title: str = "Batch-read latency",
    *,
    references: Mapping[str, float] | None = None,
    per_entity: bool = False,
) -> Figure:
    """Median batch-read latency against batch size, one line per variant.

    Args:
        frame: One row per (variant, batch size), columns ``variant``, ``batch_size``
            and ``p50_ms``; a ``p90_ms`` column, when present, is drawn as a band.
        title: The axes title.
        references: Label -> latency in ms, each drawn as a horizontal line, e.g.
            ``{"PING": 0.1, "one HMGET": 0.12}``.
        per_entity: Add a second panel: cost per entity (p50 / batch size, in µs).

    Returns:
        The figure (log-log), one legend under the panels.

    Raises:
        ValueError: A column is missing or the frame is empty.
    """
    _require_columns(frame, ["variant", "batch_size", "p50_ms"], "batch_read_latency")
    fig = Figure(figsize=(11, 4.8) if per_entity else (7, 4.8), layout="constrained")
    axes = fig.subplots(1, 2) if per_entity else [fig.subplots()]
    # (axis, scale from ms, y label, title, divide by batch size) per panel.
    panels = [(axes[0], 1.0, "latency (ms)", title, False)]
    if per_entity:
        panels.append((axes[1], 1e3, "cost per entity (µs)", "Cost per entity", True))
    for ax, scale, ylabel, panel_title, divide in panels:
        for (variant, unsorted), color in zip(frame.groupby("variant", sort=False), cycle(_COLORS)):
            rows = unsorted.sort_values("batch_size")
            divisor = rows["batch_size"] if divide else 1
            p50 = rows["p50_ms"] * scale / divisor
            ax.plot(rows["batch_size"], p50, marker="o", color=color, label=f"{variant} (p50)")
            if "p90_ms" in rows:
                p90 = rows["p90_ms"] * scale / divisor
                ax.fill_between(rows["batch_size"], p50, p90, color=color, alpha=0.15)
        for (label, ms), style in zip((references or {}).items(), cycle(["--", ":", "-."])):
            ax.axhline(ms * scale, color="grey", linestyle=style, label=label)
        _axes_style(ax, panel_title, "entities per batch read", ylabel, logx=True, logy=True)
    _legend_below(fig, axes[0], columns=3)
    return fig


def hgetall_vs_hmget(frame: pd.DataFrame) -> Figure:
    """``HGETALL`` against a fixed ``HMGET`` as the hash grows.

    Args:
        frame: One row per hash width: ``fields``, ``hgetall_s``, ``hmget_s`` (p50 latencies),
            and optionally ``hmget_fields`` (how many fields the HMGET asks for).

    Returns:
        The figure, latencies in microseconds, the legend under it.

    Raises:
        ValueError: A column is missing or the frame is empty.
    """
    _require_columns(frame, ["fields", "hgetall_s", "hmget_s"], "hgetall_vs_hmget")
    asked = f" {int(frame['hmget_fields'].iloc[0])} fields" if "hmget_fields" in frame.columns else ""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(frame["fields"], frame["hgetall_s"] * 1e6, marker="o", color=_COLORS[1], label="HGETALL (every field)")
    ax.plot(frame["fields"], frame["hmget_s"] * 1e6, marker="o", color=_COLORS[0], label=f"HMGET{asked}")
    _axes_style(
        ax, "Read only what the model needs", "fields in the hash", "latency (µs, p50)", logx=True, from_zero=True
    )
    _legend_below(fig, ax)
    return fig


def profile_breakdown(frame: pd.DataFrame, title: str = "Where a batch read's time goes") -> Figure:
    """Profiled time per call, by area of code, one bar per variant (from :func:`fslib.lab.bench.profile_calls`).

    Args:
        frame: One row per (variant, area), columns ``variant``, ``area`` and ``own_ms``
            (time spent in that area's own code per profiled call).
        title: The axes title.

    Returns:
        The figure: horizontal bars, areas top to bottom by their largest time.

    Raises:
        ValueError: A column is missing or the frame is empty.
    """
    _require_columns(frame, ["variant", "area", "own_ms"], "profile_breakdown")
    grid = frame.pivot_table(index="area", columns="variant", values="own_ms", aggfunc="sum", sort=False).fillna(0.0)
    grid = grid.loc[grid.max(axis=1).sort_values().index]  # the largest area on top
    fig = Figure(figsize=(8, 0.3 * len(grid.index) * len(grid.columns) + 1.8), layout="constrained")
    ax = fig.subplots()
    height = 0.8 / len(grid.columns)
    for offset, (variant, color) in enumerate(zip(grid.columns, cycle(_COLORS))):
        # Within an area's group, the first variant on top, as in the legend.
        positions = np.arange(len(grid.index)) + ((len(grid.columns) - 1) / 2 - offset) * height
        ax.barh(positions, grid[variant], height=height, color=color, label=str(variant))
    ax.set_yticks(range(len(grid.index)), grid.index)
    ax.set(title=title, xlabel="ms per call, own time (cProfile)")
    ax.grid(True, axis="x", alpha=0.3)
    _legend_below(fig, ax)
    return fig

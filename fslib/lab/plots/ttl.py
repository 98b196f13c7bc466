"""The matplotlib figures the notebooks show.

Every function takes a pandas DataFrame (as produced by the notebooks' fslib
calls) and returns a new :class:`matplotlib.figure.Figure` without touching
pyplot's global state, so tests and scripts can render them headless and
Jupyter shows them as the cell's result.

Timing figures show the median across rounds with the rounds' spread (error
bars from ``<column>_low`` and ``<column>_high``, as
:meth:`fslib.lab.bench.LatencyComparison.table` and
:meth:`fslib.lab.bench.Spread.as_dict` name them), so a reader sees how far a
noisy machine moved each point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import cycle
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from fslib.lab.bench import Spread

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.image import AxesImage

__all__ = [
    "batch_read_latency",
    "bulk_load_throughput",
    "feature_statuses_over_time",
    "field_ttl_heatmap",
    "field_ttl_over_time",
    "held_after_each_event",
    "hgetall_vs_hmget",
    "latency_ecdf",
    "live_fields_over_time",
    "profile_breakdown",
    "sweep",
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


Reference = float | Spread
"""A horizontal reference line: a value, or a :class:`~fslib.lab.bench.Spread` drawn as a line in a band."""


def _draw_sweep(
    ax: Axes, frame: pd.DataFrame, x: str, y: str, *, scale: float = 1.0, per_x: bool = False, suffix: str = ""
) -> None:
    """One line per ``variant`` (one line named ``y`` without that column), error bars from ``<y>_low``/``<y>_high``.

    ``per_x`` divides every value by its x (a cost per entity); ``scale`` converts the unit.
    """
    if "variant" not in frame.columns:
        frame = frame.assign(variant=y)
    spread = f"{y}_low" in frame.columns and f"{y}_high" in frame.columns
    for (variant, unsorted), color in zip(frame.groupby("variant", sort=False), cycle(_COLORS)):
        rows = unsorted.sort_values(x)
        divisor = rows[x].to_numpy(dtype=float) if per_x else 1.0
        values = rows[y].to_numpy(dtype=float) * scale / divisor
        label = f"{variant!s}{suffix}"
        if spread:
            low = rows[f"{y}_low"].to_numpy(dtype=float) * scale / divisor
            high = rows[f"{y}_high"].to_numpy(dtype=float) * scale / divisor
            ax.errorbar(rows[x], values, yerr=[values - low, high - values], marker="o", color=color, label=label)
        else:
            ax.plot(rows[x], values, marker="o", color=color, label=label)


_REFERENCE_STYLES = [("black", "--"), ("tab:red", ":"), ("tab:purple", "-.")]
_SAME_LINE = 0.1
"""References closer than this (relative) would draw one line over the other: they share one line and one label."""


def _draw_references(ax: Axes, references: Mapping[str, Reference] | None, scale: float = 1.0) -> None:
    """Each reference as a horizontal line over the data, a Spread with a light band over its range.

    References within :data:`_SAME_LINE` of each other would hide one another, so they are drawn as
    one line whose label names them all: no legend entry without a line to see.
    """
    lines: list[tuple[list[str], Spread]] = []
    for label, value in (references or {}).items():
        spread = value if isinstance(value, Spread) else Spread(value, value, value, 1)
        near = next((i for i, (_, s) in enumerate(lines) if np.isclose(spread.median, s.median, rtol=_SAME_LINE)), None)
        if near is None:
            lines.append(([label], spread))
        else:
            labels, kept = lines[near]
            band = Spread(kept.median, min(kept.low, spread.low), max(kept.high, spread.high), kept.rounds)
            lines[near] = ([*labels, label], band)
    for (labels, spread), (color, style) in zip(lines, cycle(_REFERENCE_STYLES)):
        if spread.high > spread.low:
            ax.axhspan(spread.low * scale, spread.high * scale, color=color, alpha=0.07, linewidth=0)
        label = labels[0] if len(labels) == 1 else f"{' and '.join(labels)} (within {_SAME_LINE:.0%}: one line)"
        ax.axhline(spread.median * scale, color=color, linestyle=style, linewidth=1.6, zorder=3, label=label)


def sweep(
    frame: pd.DataFrame,
    x: str,
    y: str,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    references: Mapping[str, Reference] | None = None,
    logx: bool = False,
    logy: bool = False,
    from_zero: bool = False,
) -> Figure:
    """A measured value against a swept parameter, one line per ``variant``, each point the median of its rounds.

    Args:
        frame: Columns ``x``, ``y`` and optionally ``variant`` (one line each) and
            ``<y>_low``/``<y>_high`` (the rounds' spread, drawn as error bars).
        x: The swept parameter's column.
        y: The measured value's column.
        title: The axes title.
        xlabel: The x axis label.
        ylabel: The y axis label.
        references: Label -> value drawn as a horizontal line (a Spread with its band).
        logx: Log-scaled x axis.
        logy: Log-scaled y axis.
        from_zero: Start the y axis at zero.

    Returns:
        The figure, its legend under the axes.

    Raises:
        ValueError: A column is missing or the frame is empty.
    """
    _require_columns(frame, [x, y], "sweep")
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    _draw_sweep(ax, frame, x, y)
    _draw_references(ax, references)
    _axes_style(ax, title, xlabel, ylabel, logx=logx, logy=logy, from_zero=from_zero)
    _legend_below(fig, ax)
    return fig


def bulk_load_throughput(
    frame: pd.DataFrame,
    naive_users_per_s: Reference | None = None,
    default_chunk_size: int | None = None,
    title: str = "Bulk-load throughput",
) -> Figure:
    """Users per second against pipeline chunk size, with the naive loop as a line.

    Args:
        frame: One row per chunk size (and ``variant``, if several loaders), columns
            ``chunk_size`` and ``users_per_s``, optionally ``users_per_s_low`` and
            ``users_per_s_high`` (the rounds' spread, drawn as error bars).
        naive_users_per_s: Rate of the one-round-trip-per-user loop (a Spread draws its band too).
        default_chunk_size: Marked with a vertical line when given (``fslib.DEFAULT_CHUNK_SIZE``).
        title: The axes title.

    Returns:
        The figure (log-scaled chunk size), its legend under the axes.

    Raises:
        ValueError: A column is missing or the frame is empty.
    """
    _require_columns(frame, ["chunk_size", "users_per_s"], "bulk_load_throughput")
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    if "variant" not in frame.columns:
        frame = frame.assign(variant="bulk_load (one round trip per chunk)")
    _draw_sweep(ax, frame, "chunk_size", "users_per_s")
    if naive_users_per_s is not None:
        _draw_references(ax, {"naive loop (one round trip per user)": naive_users_per_s})
    if default_chunk_size is not None:
        ax.axvline(default_chunk_size, color="grey", linestyle=":", label=f"default chunk size ({default_chunk_size})")
    _axes_style(ax, title, "chunk size (users per round trip)", "users / s", logx=True, from_zero=True)
    _legend_below(fig, ax, columns=3)
    return fig


_COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
_STATE_COLORS = ["#d9d9d9", "tab:blue", "tab:green"]
_STATE_LABELS = ["entity gone", "batch fields only", "batch + streaming"]


def live_fields_over_time(counts: pd.DataFrame, events: Mapping[str, float] | None = None) -> Figure:
    """The mixed-staleness timeline: per-entity state on top, live field totals below.

    Args:
        counts: :func:`fslib.lab.expiry.live_field_counts` output (``t_s``, ``entity_id``,
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


_KIND_SCALES = {"batch": ("Blues", "batch fields (the key TTL)"), "streaming": ("viridis", "streaming fields")}
"""The colour map and colour-bar label of each kind of feature in :func:`field_ttl_heatmap`."""


def field_ttl_heatmap(snapshot: pd.DataFrame, full_ttl_seconds: Mapping[str, float] | None = None) -> Figure:
    """Seconds each field has left, entities by features (one :func:`fslib.lab.expiry.snapshot_ttls`).

    A field without its own TTL lives as long as its key, so it shows the key
    TTL; an absent field is blank. With a ``kind`` column, batch features come
    first, a line divides them from the streaming ones, the top axis names the
    two groups, and each kind gets a colour scale of its own: streaming TTLs of
    seconds next to batch TTLs of hours would otherwise all show the same colour.

    Args:
        snapshot: Rows of one sample: ``entity_id``, ``feature``, ``field_ttl_ms``,
            ``key_ttl_ms`` and optionally ``kind``.
        full_ttl_seconds: Kind -> the TTL a fresh write gives (e.g.
            ``{"batch": store.batch_ttl_seconds, "streaming": store.streaming_ttl_seconds}``):
            the top of that kind's scale, so fields that ran down show dark. By
            default each scale ends at the largest value of its kind.

    Returns:
        The heatmap, each cell labelled in seconds, one colour bar per scale.

    Raises:
        ValueError: A column is missing or the frame is empty.
    """
    _require_columns(snapshot, ["entity_id", "feature", "field_ttl_ms", "key_ttl_ms"], "field_ttl_heatmap")
    field_ms = snapshot["field_ttl_ms"].where(snapshot["field_ttl_ms"] != -1, snapshot["key_ttl_ms"])
    seconds = (field_ms.where(field_ms >= 0) / 1000).rename("seconds")
    kinds = dict(zip(snapshot["feature"], snapshot["kind"])) if "kind" in snapshot.columns else {}
    features = sorted(dict.fromkeys(snapshot["feature"]), key=lambda name: kinds.get(name) != "batch")
    grid = snapshot.assign(seconds=seconds).pivot(index="entity_id", columns="feature", values="seconds")[features]
    values = grid.to_numpy(dtype=float)
    n_batch = sum(kinds.get(name) == "batch" for name in features)
    two_kinds = 0 < n_batch < len(features)
    # (kind, columns) of each colour scale: one per kind when both are there, else one for all.
    scales = [("batch", slice(0, n_batch)), ("streaming", slice(n_batch, None))] if two_kinds else [(None, slice(None))]

    fig = Figure(figsize=(10 + 1.2 * (len(scales) - 1), 0.35 * len(grid.index) + 2.6), layout="constrained")
    ax = fig.subplots()
    for kind, columns in scales:
        part = np.full_like(values, np.nan)
        part[:, columns] = values[:, columns]
        top = (full_ttl_seconds or {}).get(kind or "", np.nan)
        if np.isnan(top):
            top = float(np.nanmax(part)) if not np.isnan(part).all() else 1.0
        cmap, label = _KIND_SCALES.get(kind or "", ("viridis", "seconds left"))
        image = ax.imshow(part, aspect="auto", cmap=cmap, norm=Normalize(0, max(top, 1e-9)))
        fig.colorbar(image, ax=ax, label=f"{label}: seconds left" if kind else label, pad=0.01)
        _label_cells(ax, image, part)
    ax.set_xticks(range(len(features)), features, rotation=35, ha="right")
    ax.set_yticks(range(len(grid.index)), grid.index)
    ax.set(xlabel="feature", ylabel="entity", title="Seconds left per field")
    if two_kinds:
        ax.axvline(n_batch - 0.5, color="white", linewidth=3)
        groups = ax.secondary_xaxis("top")
        groups.set_xticks(
            [(n_batch - 1) / 2, (n_batch + len(features) - 1) / 2],
            ["batch features: the key TTL", "streaming features: their own field TTL"],
        )
        groups.tick_params(length=0)
    return fig


def _label_cells(ax: Axes, image: AxesImage, values: np.ndarray) -> None:
    """Each non-blank cell's seconds, dark on light colours and light on dark ones."""
    for (row, col), value in np.ndenumerate(values):
        if not np.isnan(value):
            red, green, blue, _ = image.to_rgba(value)
            color = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
            ax.text(col, row, f"{value:.1f}", ha="center", va="center", fontsize=7, color=color)


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
        samples: :meth:`fslib.lab.expiry.ExpiryRecorder.ttls` output.
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


_HISTORY_COLUMNS = ["variant", "arrival", "entity_id", "event_ms", "value", "held_ms", "held_value"]


def held_after_each_event(history: pd.DataFrame, feature: str) -> Figure:
    """What one streaming feature holds after each event of a stream arrives, per write path.

    One column of panels per entity. The top panel gives event times, the bottom one
    values: the arriving events as circles, and per write path (``variant``) a step
    line of what Redis holds after each arrival. A line that steps down went back in
    time: a late event overwrote a newer one. With a ``renewed`` column, a triangle on
    the line marks each arrival that renewed the field's TTL. The first variant is drawn
    widest, the others thinner over it, so where two paths hold the same both lines show.

    Args:
        history: One row per (variant, arrival): ``variant``, ``arrival`` (the position in
            the stream), ``entity_id``, ``event_ms`` and ``value`` (the arriving event),
            ``held_ms`` and ``held_value`` (the event time and value Redis holds after it),
            optionally ``renewed`` (bool). Event times are epoch ms.
        feature: The feature's name, for the labels.

    Returns:
        The figure, event times in seconds after each entity's first event, one legend under it.

    Raises:
        ValueError: A column is missing or the frame is empty.
    """
    _require_columns(history, _HISTORY_COLUMNS, "held_after_each_event")
    first_ms = history.groupby("entity_id")["event_ms"].transform("min").astype(float)
    frame = history.assign(
        event_s=(history["event_ms"].astype(float) - first_ms) / 1000,
        held_s=(history["held_ms"].astype(float) - first_ms) / 1000,
    ).sort_values("arrival", kind="stable")
    entities = list(dict.fromkeys(history["entity_id"]))
    variants = list(dict.fromkeys(history["variant"]))
    # One colour per variant in every panel; each drawn thinner over the one before, so where two agree both show.
    styles = {
        variant: (color, 3.2 if i == 0 else 1.6) for i, (variant, color) in enumerate(zip(variants, cycle(_COLORS)))
    }
    fig = Figure(figsize=(3.6 * len(entities) + 1.5, 6.2), layout="constrained")
    axes = fig.subplots(2, len(entities), sharex=True, sharey="row", squeeze=False)
    # (row, the arriving event's column, the held column) of each panel row: event times, then values.
    rows = [(0, "event_s", "held_s"), (1, "value", "held_value")]
    for column, entity_id in enumerate(entities):
        mine = frame[frame["entity_id"] == entity_id]
        arrived = mine.drop_duplicates("arrival")  # the same stream under every variant
        for row, arriving, _ in rows:
            axes[row, column].plot(
                arrived["arrival"],
                arrived[arriving].astype(float),
                linestyle="none",
                marker="o",
                markersize=8,
                mfc="none",
                color="dimgrey",
                zorder=5,
                label="arriving event",
            )  # fmt: skip: hollow and on top, so the lines and triangles show through
        for variant, (color, width) in styles.items():
            lines = mine[mine["variant"] == variant]
            for row, _, held in rows:
                ys = lines[held].astype(float)
                axes[row, column].step(
                    lines["arrival"], ys, where="post", color=color, linewidth=width, label=f"{variant}: held"
                )
                if row == 0 and "renewed" in lines.columns:
                    renewed = lines["renewed"].astype(bool)
                    axes[row, column].plot(
                        lines["arrival"][renewed], ys[renewed], linestyle="none", marker="^", markersize=6,
                        color=color, markeredgecolor="white", zorder=4, label=f"{variant}: TTL renewed",
                    )  # fmt: skip
        axes[0, column].set_title(str(entity_id))
        axes[1, column].set_xlabel("arrival (position in the stream)")
        for ax in axes[:, column]:
            ax.grid(True, alpha=0.3)
    axes[0, 0].set_ylabel("event time held\n(s after its first event)")
    axes[1, 0].set_ylabel(f"{feature} held")
    fig.suptitle(f"What {feature} holds after each event arrives")
    _legend_below(fig, axes[0, 0], columns=3)
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
    for (name, arrays), color in zip(rounds.items(), cycle(_COLORS)):
        micros = np.sort(np.concatenate(arrays)) * 1e6
        p50, p99 = np.percentile(micros, [50, 99])
        shares = np.arange(1, micros.size + 1) / micros.size
        ax.step(micros, shares, where="post", color=color, label=f"{name}: {_percentile_label(arrays)}")
        ax.plot([p50, p99], [0.5, 0.99], linestyle="none", marker="o", color=color)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set(title=title, xlabel="latency (µs, log scale)", ylabel="share of requests at or below")
    ax.grid(True, which="both", alpha=0.3)
    _legend_below(fig, ax, columns=1)
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
    _require_columns(frame, ["variant", "batch_size", "p50_ms"], "batch_read_latency")
    fig = Figure(figsize=(11, 4.8) if per_entity else (7, 4.8), layout="constrained")
    axes = fig.subplots(1, 2) if per_entity else [fig.subplots()]
    # (axis, scale from ms, y label, title, divide by batch size) per panel.
    panels = [(axes[0], 1.0, "latency (ms)", title, False)]
    if per_entity:
        panels.append((axes[1], 1e3, "cost per entity (µs)", "Cost per entity", True))
    for ax, scale, ylabel, panel_title, per_x in panels:
        _draw_sweep(ax, frame, "batch_size", "p50_ms", scale=scale, per_x=per_x, suffix=" (p50)")
        _draw_references(ax, references, scale)
        _axes_style(ax, panel_title, "entities per batch read", ylabel, logx=True, logy=True)
    _legend_below(fig, axes[0], columns=3)
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
    _require_columns(frame, ["variant", "fields", "p50_us"], "hgetall_vs_hmget")
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
    _require_columns(frame, ["variant", "area", "own_ms"], "profile_breakdown")
    grid = frame.pivot_table(index="area", columns="variant", values="own_ms", aggfunc="sum", sort=False).fillna(0.0)
    largest = grid.max(axis=1)
    # A row whose bars would be too thin to see is left out, and named under the axis instead.
    too_small = largest < _SMALLEST_SHARE * largest.max()
    grid = grid.loc[largest[~too_small].sort_values().index]  # the largest area on top
    fig = Figure(figsize=(8, 0.3 * len(grid.index) * len(grid.columns) + 1.8), layout="constrained")
    ax = fig.subplots()
    height = 0.8 / len(grid.columns)
    for offset, (variant, color) in enumerate(zip(grid.columns, cycle(_COLORS))):
        # Within an area's group, the first variant on top, as in the legend.
        positions = np.arange(len(grid.index)) + ((len(grid.columns) - 1) / 2 - offset) * height
        ax.barh(positions, grid[variant], height=height, color=color, label=str(variant))
    ax.set_yticks(range(len(grid.index)), grid.index)
    xlabel = "ms per call, own time (cProfile)"
    if too_small.any():
        xlabel += f"\nleft out, under {_SMALLEST_SHARE:.0%} of the largest bar: {', '.join(largest.index[too_small])}"
    ax.set(title=title, xlabel=xlabel)
    ax.grid(True, axis="x", alpha=0.3)
    _legend_below(fig, ax)
    return fig

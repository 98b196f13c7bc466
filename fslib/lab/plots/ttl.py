"""TTL figures: what each entity still holds, seconds left per field, one field's TTL and read statuses over time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from fslib.lab.plots._style import axes_style, require_columns

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.image import AxesImage

__all__ = ["feature_statuses_over_time", "field_ttl_heatmap", "field_ttl_over_time", "live_fields_over_time"]


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
    require_columns(counts, ["t_s", "entity_id", "batch", "streaming"], "live_fields_over_time")
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
    require_columns(snapshot, ["entity_id", "feature", "field_ttl_ms", "key_ttl_ms"], "field_ttl_heatmap")
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
    require_columns(samples, ["t_s", "entity_id", "feature", "field_ttl_ms"], "field_ttl_over_time")
    rows = samples[samples["feature"] == feature]
    if rows.empty:
        raise ValueError(f"field_ttl_over_time: no samples of feature {feature!r}")
    seconds = rows["field_ttl_ms"].where(rows["field_ttl_ms"] >= 0) / 1000
    lines = rows.assign(seconds=seconds).pivot(index="t_s", columns="entity_id", values="seconds")

    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    for entity_id in lines.columns:
        ax.plot(lines.index, lines[entity_id], linewidth=1.2, label=entity_id)
    axes_style(ax, f"Field TTL of {feature!r} per entity", "seconds", f"{feature}: field TTL left (s)", from_zero=True)
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
    require_columns(statuses, ["t_s", "kind", "status"], "feature_statuses_over_time")
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

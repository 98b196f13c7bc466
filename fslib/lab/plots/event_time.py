"""Event-time figures: what a streaming feature holds after each event of an out-of-order stream arrives."""

from __future__ import annotations

from itertools import cycle
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from fslib.lab.plots._style import COLORS, legend_below, require_columns

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["held_after_each_event"]


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
    require_columns(history, _HISTORY_COLUMNS, "held_after_each_event")
    first_ms = history.groupby("entity_id")["event_ms"].transform("min").astype(float)
    frame = history.assign(
        event_s=(history["event_ms"].astype(float) - first_ms) / 1000,
        held_s=(history["held_ms"].astype(float) - first_ms) / 1000,
    ).sort_values("arrival", kind="stable")
    entities = list(dict.fromkeys(history["entity_id"]))
    variants = list(dict.fromkeys(history["variant"]))
    # One colour per variant in every panel; each drawn thinner over the one before, so where two agree both show.
    styles = {
        variant: (color, 3.2 if i == 0 else 1.6) for i, (variant, color) in enumerate(zip(variants, cycle(COLORS)))
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
    legend_below(fig, axes[0, 0], columns=3)
    return fig

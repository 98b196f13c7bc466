"""Throughput figures: a measured value against a swept parameter, and bulk-load users per second."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from fslib.lab.plots._style import Reference, axes_style, draw_references, draw_sweep, legend_below, require_columns

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["bulk_load_throughput", "sweep"]


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
    require_columns(frame, [x, y], "sweep")
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    draw_sweep(ax, frame, x, y)
    draw_references(ax, references)
    axes_style(ax, title, xlabel, ylabel, logx=logx, logy=logy, from_zero=from_zero)
    legend_below(fig, ax)
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
    require_columns(frame, ["chunk_size", "users_per_s"], "bulk_load_throughput")
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    if "variant" not in frame.columns:
        frame = frame.assign(variant="bulk_load (one round trip per chunk)")
    draw_sweep(ax, frame, "chunk_size", "users_per_s")
    if naive_users_per_s is not None:
        draw_references(ax, {"naive loop (one round trip per user)": naive_users_per_s})
    if default_chunk_size is not None:
        ax.axvline(default_chunk_size, color="grey", linestyle=":", label=f"default chunk size ({default_chunk_size})")
    axes_style(ax, title, "chunk size (users per round trip)", "users / s", logx=True, from_zero=True)
    legend_below(fig, ax, columns=3)
    return fig

"""What every figure family shares: the column check, axes and legend style, colours, sweep and reference lines."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import cycle
from typing import TYPE_CHECKING

import numpy as np

from fslib.lab.bench import Spread

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["COLORS", "Reference", "axes_style", "draw_references", "draw_sweep", "legend_below", "require_columns"]


def require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    """Raise a ValueError naming ``what`` when ``frame`` lacks one of ``columns`` or is empty."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: the frame lacks column(s) {missing}; it has {list(frame.columns)}")
    if frame.empty:
        raise ValueError(f"{what}: the frame is empty, nothing to plot")


def axes_style(
    ax: Axes, title: str, xlabel: str, ylabel: str, *, logx: bool = False, logy: bool = False, from_zero: bool = False
) -> None:
    """Title, axis labels, optional log scales or a y axis from zero, and a light grid."""
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if from_zero:
        ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)


def legend_below(fig: Figure, ax: Axes, columns: int = 2) -> None:
    """One legend for ``ax``'s lines, under the axes of ``fig``: outside every plot, so it never covers data."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(columns, len(labels)), frameon=False, fontsize=8)


COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
"""One colour per variant, in order, in every figure that draws several."""


Reference = float | Spread
"""A horizontal reference line: a value, or a :class:`~fslib.lab.bench.Spread` drawn as a line in a band."""


def draw_sweep(
    ax: Axes, frame: pd.DataFrame, x: str, y: str, *, scale: float = 1.0, per_x: bool = False, suffix: str = ""
) -> None:
    """One line per ``variant`` (one line named ``y`` without that column), error bars from ``<y>_low``/``<y>_high``.

    ``per_x`` divides every value by its x (a cost per entity); ``scale`` converts the unit.
    """
    if "variant" not in frame.columns:
        frame = frame.assign(variant=y)
    spread = f"{y}_low" in frame.columns and f"{y}_high" in frame.columns
    for (variant, unsorted), color in zip(frame.groupby("variant", sort=False), cycle(COLORS)):
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


def draw_references(ax: Axes, references: Mapping[str, Reference] | None, scale: float = 1.0) -> None:
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

"""The matplotlib figures the notebooks show.

Every function takes a pandas DataFrame (as produced by the notebooks' fslib
calls) and returns a new :class:`matplotlib.figure.Figure` without touching
pyplot's global state, so tests and scripts can render them headless and
Jupyter shows them as the cell's result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from matplotlib.figure import Figure

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "bulk_load_throughput",
]


def _require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: the frame lacks column(s) {missing}; it has {list(frame.columns)}")
    if frame.empty:
        raise ValueError(f"{what}: the frame is empty, nothing to plot")


def bulk_load_throughput(frame: pd.DataFrame, naive_users_per_s: float) -> Figure:
    """Users per second against pipeline chunk size, with the naive loop as a line.

    Args:
        frame: One row per chunk size, columns ``chunk_size`` and ``users_per_s``.
        naive_users_per_s: Rate of the one-round-trip-per-user loop.

    Returns:
        The figure (log-scaled chunk size).

    Raises:
        ValueError: A column is missing or the frame is empty.
    """
    _require_columns(frame, ["chunk_size", "users_per_s"], "bulk_load_throughput")
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    ax.plot(frame["chunk_size"], frame["users_per_s"], marker="o", label="bulk_load (pipelined per chunk)")
    ax.axhline(naive_users_per_s, color="tab:red", linestyle="--", label="naive loop (one round trip per user)")
    ax.set_xscale("log")
    ax.set_xlabel("chunk size (users per pipeline round trip)")
    ax.set_ylabel("users / s")
    ax.set_ylim(bottom=0)
    ax.set_title("Bulk-load throughput")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    return fig

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
    "batch_read_latency",
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


def batch_read_latency(frame: pd.DataFrame, title: str = "Batch-read latency") -> Figure:
    """Median batch-read latency against batch size, one line per variant.

    Args:
        frame: One row per (variant, batch size), columns ``variant``, ``batch_size``
            and ``p50_ms``; a ``p90_ms`` column, when present, is drawn as a band.
        title: The axes title.

    Returns:
        The figure (log-log).

    Raises:
        ValueError: A column is missing or the frame is empty.
    """
    _require_columns(frame, ["variant", "batch_size", "p50_ms"], "batch_read_latency")
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    for variant, rows in frame.groupby("variant", sort=False):
        rows = rows.sort_values("batch_size")
        (line,) = ax.plot(rows["batch_size"], rows["p50_ms"], marker="o", label=f"{variant} (p50)")
        if "p90_ms" in rows:
            ax.fill_between(rows["batch_size"], rows["p50_ms"], rows["p90_ms"], color=line.get_color(), alpha=0.15)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("entities per batch read")
    ax.set_ylabel("latency (ms)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left")
    return fig

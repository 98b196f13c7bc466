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

from fslib.lab.plots.event_time import held_after_each_event
from fslib.lab.plots.latency import batch_read_latency, hgetall_vs_hmget, latency_ecdf, profile_breakdown
from fslib.lab.plots.throughput import bulk_load_throughput, sweep
from fslib.lab.plots.ttl import (
    feature_statuses_over_time,
    field_ttl_heatmap,
    field_ttl_over_time,
    live_fields_over_time,
)

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

"""Notebook helpers: figures, TTL sampling, worker controls, the dashboard, latency sampling.

Needs the ``notebooks`` extra (matplotlib, ipywidgets). Everything here drives
the core through its public API; the core never imports this package.

    >>> from fslib import lab
    >>> lab.worker_controls(worker)              # Pause/Resume for a StreamingWorker
    >>> lab.plots.field_ttl_heatmap(lab.expiry.snapshot_ttls(store, ids))
    >>> runs = lab.bench.compare_latencies({"PING": client.ping, "HMGET": read}, baseline="PING")
    >>> runs.table(), runs.ratio("HMGET")          # medians with their range across rounds
    >>> lab.show_source(fslib.FeatureStore.update_streaming)   # the Redis commands, on screen
"""

from __future__ import annotations

from fslib.lab import bench, expiry, plots, widgets
from fslib.lab.dashboard import Dashboard
from fslib.lab.source import show_source
from fslib.lab.widgets import worker_controls

__all__ = ["Dashboard", "bench", "expiry", "plots", "show_source", "widgets", "worker_controls"]

from __future__ import annotations

import io

import pandas as pd
import pytest
from matplotlib.figure import Figure

from fslib import plots


def test_bulk_load_throughput_draws_the_sweep_and_the_naive_line() -> None:
    frame = pd.DataFrame({"chunk_size": [1, 10, 100], "users_per_s": [900.0, 5000.0, 20000.0]})
    fig = plots.bulk_load_throughput(frame, naive_users_per_s=1000.0)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    sweep, naive = ax.get_lines()
    assert list(sweep.get_xdata()) == [1, 10, 100]
    assert list(sweep.get_ydata()) == [900.0, 5000.0, 20000.0]
    assert list(naive.get_ydata()) == [1000.0, 1000.0]
    assert ax.get_xscale() == "log"
    fig.savefig(io.BytesIO(), format="png")  # renders headless


def test_plots_name_a_missing_column() -> None:
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['users_per_s'\]"):
        plots.bulk_load_throughput(pd.DataFrame({"chunk_size": [1]}), 1.0)
    with pytest.raises(ValueError, match="empty"):
        plots.bulk_load_throughput(pd.DataFrame({"chunk_size": [], "users_per_s": []}), 1.0)


def test_batch_read_latency_draws_one_line_per_variant_with_a_p90_band() -> None:
    frame = pd.DataFrame({
        "variant": ["single", "single", "cluster", "cluster"],
        "batch_size": [100, 10, 10, 100],
        "p50_ms": [0.9, 0.2, 0.4, 1.2],
        "p90_ms": [1.1, 0.3, 0.5, 1.5],
    })
    fig = plots.batch_read_latency(frame, title="t")
    (ax,) = fig.axes
    single, cluster = ax.get_lines()
    assert list(single.get_xdata()) == [10, 100] and list(single.get_ydata()) == [0.2, 0.9]
    assert list(cluster.get_ydata()) == [0.4, 1.2]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["single (p50)", "cluster (p50)"]
    assert len(ax.collections) == 2 and ax.get_title() == "t"
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    fig.savefig(io.BytesIO(), format="png")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['p50_ms'\]"):
        plots.batch_read_latency(frame.drop(columns="p50_ms"))

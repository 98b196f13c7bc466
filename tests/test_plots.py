from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fslib.lab import plots
from fslib.lab.expiry import SAMPLE_COLUMNS, STATUS_COLUMNS, live_field_counts


def legend_clear_of_the_axes(fig: Figure) -> bool:
    """True when the figure has one legend, and it covers no axes (so no data)."""
    fig.savefig(io.BytesIO(), format="png")  # lays the figure out, headless
    (legend,) = fig.legends
    box = legend.get_window_extent()
    return all(ax.get_legend() is None and not box.overlaps(ax.get_window_extent()) for ax in fig.axes)


def test_bulk_load_throughput_draws_the_sweep_the_naive_line_and_the_default() -> None:
    frame = pd.DataFrame({"chunk_size": [100, 1, 10], "users_per_s": [20000.0, 900.0, 5000.0]})
    fig = plots.bulk_load_throughput(frame, naive_users_per_s=1000.0, default_chunk_size=10)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    sweep, naive, default = ax.get_lines()
    assert list(sweep.get_xdata()) == [1, 10, 100]  # sorted by chunk size
    assert list(sweep.get_ydata()) == [900.0, 5000.0, 20000.0]
    assert list(naive.get_ydata()) == [1000.0, 1000.0]
    assert list(default.get_xdata()) == [10, 10] and default.get_label() == "default chunk size (10)"
    assert ax.get_xscale() == "log"
    assert legend_clear_of_the_axes(fig)
    assert len(plots.bulk_load_throughput(frame, 1000.0).axes[0].get_lines()) == 2  # no default, no line


def test_plots_name_a_missing_column() -> None:
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['users_per_s'\]"):
        plots.bulk_load_throughput(pd.DataFrame({"chunk_size": [1]}), 1.0)
    with pytest.raises(ValueError, match="empty"):
        plots.bulk_load_throughput(pd.DataFrame({"chunk_size": [], "users_per_s": []}), 1.0)


def _samples() -> pd.DataFrame:
    rows = []
    for t_s, key_ttl, stream_ttl in [(0.0, 5000, 2000), (1.0, 4000, 1000), (2.0, 3000, -2), (3.0, -2, -2)]:
        for entity in ("u1", "u2"):
            batch_ttl = -2 if key_ttl == -2 else -1
            rows.append((t_s, entity, "risk_segment", "batch", batch_ttl, key_ttl))
            rows.append((t_s, entity, "tx_count_5m", "streaming", stream_ttl, key_ttl))
    return pd.DataFrame(rows, columns=SAMPLE_COLUMNS)


def _event_labels(ax: Axes) -> dict[str, float]:
    """The event labels drawn on the top axis of ``ax``: label -> time."""
    (labels,) = ax.child_axes
    return {tick.get_text(): tick.get_position()[0] for tick in labels.get_xticklabels()}


def _legend_beside(ax: Axes) -> bool:
    """Whether the legend of ``ax`` is drawn right of the axes, where it cannot cover data."""
    ax.figure.draw_without_rendering()
    return bool(ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1)


def test_live_fields_over_time_shows_states_and_totals() -> None:
    counts = live_field_counts(_samples())
    fig = plots.live_fields_over_time(counts, events={"paused": 0.5})
    top, bottom = fig.axes
    mesh = top.collections[0]
    # Rows are entities, columns samples: both layers, both, batch only, gone.
    assert mesh.get_array().reshape(2, 4).tolist() == [[2, 2, 1, 0], [2, 2, 1, 0]]
    batch_line, streaming_line = bottom.get_lines()[:2]
    assert list(batch_line.get_ydata()) == [2, 2, 2, 0]
    assert list(streaming_line.get_ydata()) == [2, 2, 0, 0]
    assert _event_labels(top) == {"paused": 0.5}  # above the data, not over it
    assert [line.get_xdata()[0] for line in bottom.get_lines()[2:]] == [0.5]
    assert _legend_beside(top) and _legend_beside(bottom)
    fig.savefig(io.BytesIO(), format="png")


def test_field_ttl_heatmap_uses_the_key_ttl_for_batch_fields() -> None:
    snapshot = _samples().query("t_s == 1.0")
    fig = plots.field_ttl_heatmap(snapshot)
    ax = fig.axes[0]
    assert ax.images[0].get_array().tolist() == [[4.0, 1.0], [4.0, 1.0]]  # risk_segment: key TTL; tx_count_5m: own
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("feature", "entity")
    gone = plots.field_ttl_heatmap(_samples().query("t_s == 3.0")).axes[0].images[0].get_array()
    assert gone.mask.all()  # absent fields are blank, not zero


def test_field_ttl_heatmap_puts_batch_first_and_divides_the_kinds() -> None:
    snapshot = _samples().query("t_s == 1.0")
    streaming_first = pd.concat([snapshot[snapshot["kind"] == "streaming"], snapshot[snapshot["kind"] == "batch"]])
    ax = plots.field_ttl_heatmap(streaming_first).axes[0]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["risk_segment", "tx_count_5m"]
    (divider,) = ax.get_lines()
    assert list(divider.get_xdata()) == [0.5, 0.5]  # between the last batch and the first streaming column
    (groups,) = ax.child_axes
    assert [tick.get_text() for tick in groups.get_xticklabels()] == [
        "batch features: the key TTL",
        "streaming features: their own field TTL",
    ]
    no_kind = plots.field_ttl_heatmap(snapshot.drop(columns="kind")).axes[0]
    assert not no_kind.get_lines() and not no_kind.child_axes  # nothing to divide without kinds


def test_feature_statuses_over_time_stacks_what_a_model_server_read() -> None:
    statuses = pd.DataFrame(
        [
            (t_s, entity, feature, kind, status)
            for t_s, streaming, batch in [
                (0.0, "present", "present"),
                (1.0, "expired", "present"),
                (2.0, "entity_missing", "entity_missing"),
            ]
            for entity in ("u1", "u2")
            for feature, kind, status in [("tx_count_5m", "streaming", streaming), ("risk_segment", "batch", batch)]
        ],
        columns=STATUS_COLUMNS,
    )
    fig = plots.feature_statuses_over_time(statuses.sample(frac=1.0, random_state=1), events={"paused": 0.5})
    batch, streaming = fig.axes[:2]
    assert (batch.get_title(), streaming.get_title()) == ("batch features", "streaming features")
    # One stacked band per status seen, in the order present, expired, entity missing.
    assert [t.get_text() for t in streaming.get_legend().get_texts()] == ["present", "expired", "entity missing"]
    assert [t.get_text() for t in batch.get_legend().get_texts()] == ["present", "entity missing"]
    present_band = streaming.collections[0].get_paths()[0].vertices
    assert present_band[:, 1].max() == 2  # both entities' tx_count_5m read as present at first
    assert _event_labels(batch) == {"paused": 0.5}
    assert _legend_beside(batch) and _legend_beside(streaming)
    fig.savefig(io.BytesIO(), format="png")
    with pytest.raises(ValueError, match=r"unknown status\(es\) \['stale'\]"):
        plots.feature_statuses_over_time(statuses.assign(status="stale"))
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['kind'\]"):
        plots.feature_statuses_over_time(statuses.drop(columns="kind"))


def test_field_ttl_over_time_follows_one_feature() -> None:
    fig = plots.field_ttl_over_time(_samples(), "tx_count_5m", events={"paused": 0.5})
    lines = [line for line in fig.axes[0].get_lines() if line.get_label() in ("u1", "u2")]
    assert len(lines) == 2
    assert _event_labels(fig.axes[0]) == {"paused": 0.5} and _legend_beside(fig.axes[0])
    assert lines[0].get_ydata()[:2].tolist() == [2.0, 1.0] and np.isnan(lines[0].get_ydata()[2])
    with pytest.raises(ValueError, match="no samples of feature 'nope'"):
        plots.field_ttl_over_time(_samples(), "nope")


def test_latency_ecdf_draws_one_cumulative_curve_per_variant_with_its_percentiles() -> None:
    samples = {"PING": np.full(100, 100e-6), "HMGET": np.linspace(300e-6, 100e-6, 101)}
    fig = plots.latency_ecdf(samples)
    (ax,) = fig.axes
    curves = [line for line in ax.get_lines() if line.get_linestyle() != "None" and line.get_label()[0] != "_"]
    assert [line.get_label().split(":")[0] for line in curves] == ["PING", "HMGET"]
    hmget = curves[1]
    assert hmget.get_xdata()[0] == pytest.approx(100.0) and hmget.get_xdata()[-1] == pytest.approx(300.0)  # sorted, µs
    assert hmget.get_ydata()[-1] == 1.0 and hmget.get_ydata()[0] == pytest.approx(1 / 101)
    markers = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert markers[1].get_xdata().tolist() == pytest.approx([200.0, 298.0])
    assert list(markers[1].get_ydata()) == [0.5, 0.99]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["PING: p50 100 µs, p99 100 µs", "HMGET: p50 200 µs, p99 298 µs"]
    assert ax.get_xscale() == "log" and legend_clear_of_the_axes(fig)
    with pytest.raises(ValueError, match=r"no samples for \['HMGET'\]"):
        plots.latency_ecdf({"PING": np.ones(3), "HMGET": np.array([])})
    with pytest.raises(ValueError, match="no samples to plot"):
        plots.latency_ecdf({})


def test_batch_read_latency_draws_one_line_per_variant_with_a_p90_band() -> None:
    frame = pd.DataFrame(
        {
            "variant": ["single", "single", "cluster", "cluster"],
            "batch_size": [100, 10, 10, 100],
            "p50_ms": [0.9, 0.2, 0.4, 1.2],
            "p90_ms": [1.1, 0.3, 0.5, 1.5],
        }
    )
    fig = plots.batch_read_latency(frame, title="t")
    (ax,) = fig.axes
    single, cluster = ax.get_lines()
    assert list(single.get_xdata()) == [10, 100] and list(single.get_ydata()) == [0.2, 0.9]
    assert list(cluster.get_ydata()) == [0.4, 1.2]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["single (p50)", "cluster (p50)"]
    assert len(ax.collections) == 2 and ax.get_title() == "t"
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert legend_clear_of_the_axes(fig)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['p50_ms'\]"):
        plots.batch_read_latency(frame.drop(columns="p50_ms"))


def test_batch_read_latency_adds_references_and_the_per_entity_panel() -> None:
    frame = pd.DataFrame(
        {
            "variant": ["one round trip"] * 3 + ["N round trips"] * 3,
            "batch_size": [1, 10, 100] * 2,
            "p50_ms": [0.1, 0.2, 1.0, 0.1, 1.0, 10.0],
        }
    )
    fig = plots.batch_read_latency(frame, references={"PING": 0.1, "one HMGET": 0.12}, per_entity=True)
    total, per_entity = fig.axes
    assert list(total.get_lines()[1].get_ydata()) == pytest.approx([0.1, 1.0, 10.0])  # ms
    assert list(per_entity.get_lines()[0].get_ydata()) == pytest.approx([100.0, 20.0, 10.0])  # µs per entity
    assert list(per_entity.get_lines()[2].get_ydata()) == pytest.approx([100.0, 100.0])  # PING, in µs
    assert list(per_entity.get_lines()[3].get_ydata()) == pytest.approx([120.0, 120.0])
    assert [t.get_text() for t in fig.legends[0].get_texts()][-2:] == ["PING", "one HMGET"]
    assert not total.collections  # no p90 column, no band
    assert legend_clear_of_the_axes(fig)


def test_hgetall_vs_hmget_labels_the_asked_fields() -> None:
    frame = pd.DataFrame(
        {"fields": [5, 50], "hgetall_s": [4e-5, 8e-5], "hmget_s": [4e-5, 4e-5], "hmget_fields": [5, 5]}
    )
    fig = plots.hgetall_vs_hmget(frame)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["HGETALL (every field)", "HMGET 5 fields"]
    assert ax.get_lines()[0].get_ydata().tolist() == pytest.approx([40.0, 80.0])
    assert legend_clear_of_the_axes(fig)


def test_profile_breakdown_draws_one_bar_per_variant_and_area_largest_on_top() -> None:
    frame = pd.DataFrame(
        {
            "variant": ["pipeline", "pipeline", "pipeline", "packed", "packed"],
            "area": ["redis-py", "fslib", "redis-py", "redis-py", "fslib"],
            "own_ms": [2.0, 0.5, 1.0, 0.25, 0.75],
        }
    )
    fig = plots.profile_breakdown(frame)
    (ax,) = fig.axes
    assert [label.get_text() for label in ax.get_yticklabels()] == ["fslib", "redis-py"]  # barh: bottom first
    pipeline, packed = ax.containers
    assert [bar.get_width() for bar in pipeline] == [0.5, 3.0]  # the two redis-py rows summed
    assert [bar.get_width() for bar in packed] == [0.75, 0.25]
    assert pipeline[0].get_y() > packed[0].get_y()  # the first variant on top of its group, as in the legend
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["pipeline", "packed"]
    assert legend_clear_of_the_axes(fig)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['own_ms'\]"):
        plots.profile_breakdown(frame.drop(columns="own_ms"))


def test_show_source_returns_the_methods_code_with_its_redis_calls() -> None:
    from fslib import FeatureStore
    from fslib.lab import show_source

    code = show_source(FeatureStore.update_streaming)
    assert code.data.startswith("def update_streaming(")  # dedented: it reads as a function
    assert "self.client.hsetex(" in code.data and "pipe.hexpire(" in code.data
    with pytest.raises(TypeError):
        show_source(len)

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from fslib.lab import plots
from fslib.lab.bench import LatencyComparison, Spread
from fslib.lab.expiry import SAMPLE_COLUMNS, STATUS_COLUMNS, live_field_counts


def legend_clear_of_the_axes(fig: Figure) -> bool:
    """True when the figure has one legend, and it covers no axes (so no data)."""
    fig.savefig(io.BytesIO(), format="png")  # lays the figure out, headless
    (legend,) = fig.legends
    box = legend.get_window_extent()
    return all(ax.get_legend() is None and not box.overlaps(ax.get_window_extent()) for ax in fig.axes)


def every_legend_entry_is_drawn(fig: Figure) -> bool:
    """True when each entry of the figure's legend names an artist with data inside the axes' view."""
    fig.savefig(io.BytesIO(), format="png")
    (legend,) = fig.legends
    labels = {text.get_text() for text in legend.get_texts()}
    drawn = set()
    for ax in fig.axes:
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        # An error-bar line carries no label of its own: its container does.
        lines = [(line, line.get_label()) for line in ax.get_lines()]
        lines += [(c.lines[0], c.get_label()) for c in ax.containers if isinstance(c, ErrorbarContainer)]
        for line, label in lines:
            xs, ys = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
            # axhline/axvline hold axes coordinates (0 to 1) on their spanning side: test the other one.
            inside_x = ((xs >= x0) & (xs <= x1)) | (line.get_transform() != ax.transData)
            inside_y = (ys >= y0) & (ys <= y1)
            if line.get_visible() and np.any(inside_x & inside_y):
                drawn.add(label)
    return labels <= drawn


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
    assert legend_clear_of_the_axes(fig) and every_legend_entry_is_drawn(fig)
    assert len(plots.bulk_load_throughput(frame, 1000.0).axes[0].get_lines()) == 2  # no default, no line


def test_bulk_load_throughput_shows_the_spread_of_the_rounds() -> None:
    frame = pd.DataFrame(
        {
            "chunk_size": [1, 10],
            "users_per_s": [900.0, 5000.0],
            "users_per_s_low": [800.0, 3000.0],
            "users_per_s_high": [950.0, 5500.0],
        }
    )
    fig = plots.bulk_load_throughput(frame, naive_users_per_s=Spread(1000.0, 700.0, 1100.0, 3))
    ax = fig.axes[0]
    (bars,) = ax.containers
    (segments,) = bars.lines[2]
    assert [seg[:, 1].tolist() for seg in segments.get_segments()] == [[800.0, 950.0], [3000.0, 5500.0]]
    (band,) = ax.patches  # the naive loop's range across rounds
    assert band.get_extents().height > 0
    assert every_legend_entry_is_drawn(fig)


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
    batch, streaming = ax.images  # one colour scale per kind
    assert batch.get_array().filled(np.nan)[:, 0].tolist() == [4.0, 4.0]  # risk_segment: the key TTL
    assert streaming.get_array().filled(np.nan)[:, 1].tolist() == [1.0, 1.0]  # tx_count_5m: its own
    assert batch.get_array().mask[:, 1].all() and streaming.get_array().mask[:, 0].all()
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("feature", "entity")
    gone = plots.field_ttl_heatmap(_samples().query("t_s == 3.0")).axes[0].images
    assert all(image.get_array().mask.all() for image in gone)  # absent fields are blank, not zero


def _snapshot(streaming_s: list[float], key_s: float) -> pd.DataFrame:
    """One batch and one streaming feature per entity; entity i's streaming field has ``streaming_s[i]`` left."""
    rows = []
    for i, left in enumerate(streaming_s):
        rows.append((0.0, f"u{i}", "risk_segment", "batch", -1, int(key_s * 1000)))
        rows.append((0.0, f"u{i}", "tx_count_5m", "streaming", int(left * 1000), int(key_s * 1000)))
    return pd.DataFrame(rows, columns=SAMPLE_COLUMNS)


def _cell_colours(image: AxesImage, column: int) -> np.ndarray:
    """The RGBA colour each row of ``column`` is drawn in."""
    return np.asarray(image.to_rgba(image.get_array().filled(np.nan)[:, column]))


def test_field_ttl_heatmap_gives_seconds_of_streaming_ttl_colours_of_their_own_beside_hours_of_batch() -> None:
    snapshot = _snapshot([8.0, 9.0, 10.0], key_s=3500.0)
    batch, streaming = plots.field_ttl_heatmap(snapshot).axes[0].images
    colours = _cell_colours(streaming, 1)
    steps = np.linalg.norm(np.diff(colours[:, :3], axis=0), axis=1)
    assert (steps > 0.1).all(), f"8, 9 and 10 s streaming TTLs look alike: {colours.round(2).tolist()}"
    # On one linear scale from 0 to 3500 s they would differ by under 0.3% of it: the same colour.
    assert streaming.norm.vmax == 10.0 and batch.norm.vmax == 3500.0

    # Scaled to the full TTLs, a paused worker's run-down fields show darker than fresh ones.
    full = {"batch": 3600.0, "streaming": 10.0}
    paused = plots.field_ttl_heatmap(_snapshot([1.0, 2.0], key_s=3500.0), full_ttl_seconds=full).axes[0].images[1]
    fresh = plots.field_ttl_heatmap(_snapshot([9.0, 10.0], key_s=3500.0), full_ttl_seconds=full).axes[0].images[1]
    brightness = [_cell_colours(image, 1)[:, :3].mean() for image in (paused, fresh)]
    assert brightness[0] < brightness[1] and paused.norm.vmax == 10.0


def test_field_ttl_heatmap_labels_each_colour_scale() -> None:
    fig = plots.field_ttl_heatmap(_snapshot([8.0, 9.0], key_s=3500.0))
    labels = [ax.get_ylabel() for ax in fig.axes[1:]]
    assert labels == ["batch fields (the key TTL): seconds left", "streaming fields: seconds left"]
    one_scale = plots.field_ttl_heatmap(_snapshot([8.0], key_s=3500.0).drop(columns="kind"))
    assert len(one_scale.axes[0].images) == 1 and [ax.get_ylabel() for ax in one_scale.axes[1:]] == ["seconds left"]


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


def _history() -> pd.DataFrame:
    """Two entities' streams under two write paths: u1's event 2 arrives late, after event 3."""
    t0 = 1_800_000_000_000
    stream = [("u1", 1, 5), ("u2", 1, 7), ("u1", 3, 9), ("u1", 2, 6)]  # (entity, event second, value)
    rows = []
    for variant in ("last write wins", "guarded"):
        held: dict[str, tuple[int, int]] = {}
        for arrival, (entity, second, value) in enumerate(stream):
            event_ms = t0 + second * 1000
            newer = entity not in held or event_ms > held[entity][0]
            if variant == "last write wins" or newer:
                held[entity] = (event_ms, value)
            renewed = variant == "last write wins" or newer
            rows.append((variant, arrival, entity, event_ms, value, *held[entity], renewed))
    return pd.DataFrame(
        rows, columns=["variant", "arrival", "entity_id", "event_ms", "value", "held_ms", "held_value", "renewed"]
    )


def test_held_after_each_event_steps_back_in_time_only_on_the_path_that_lets_a_late_event_win() -> None:
    shuffled = _history().groupby("variant", sort=False).sample(frac=1.0, random_state=2)  # rows out of order
    fig = plots.held_after_each_event(shuffled, "tx_count_5m")
    times, _, values, _ = fig.axes[:4]  # row-major: u1's and u2's event times, then their values
    assert [ax.get_title() for ax in fig.axes[:2]] == ["u1", "u2"]
    lines = {line.get_label(): line for line in times.get_lines()}
    arriving = lines["arriving event"]
    assert arriving.get_xdata().tolist() == [0, 2, 3] and arriving.get_ydata().tolist() == [0.0, 2.0, 1.0]
    assert lines["last write wins: held"].get_ydata().tolist() == [0.0, 2.0, 1.0]  # back in time
    assert lines["guarded: held"].get_ydata().tolist() == [0.0, 2.0, 2.0]  # the late event changed nothing
    assert lines["guarded: TTL renewed"].get_xdata().tolist() == [0, 2]  # not by the late event
    assert lines["last write wins: TTL renewed"].get_xdata().tolist() == [0, 2, 3]
    held_values = {line.get_label(): line.get_ydata().tolist() for line in values.get_lines()}
    assert held_values["last write wins: held"] == [5.0, 9.0, 6.0] and held_values["guarded: held"] == [5.0, 9.0, 9.0]
    for ax in fig.axes[:2]:  # in every panel, whatever the rows' order: each variant in its colour, the first widest
        held = [line for line in ax.get_lines() if line.get_label().endswith(": held")]
        assert [line.get_label() for line in held] == ["last write wins: held", "guarded: held"], ax.get_title()
        assert [line.get_color() for line in held] == ["tab:blue", "tab:orange"], ax.get_title()
        assert held[0].get_linewidth() > held[1].get_linewidth(), "where the paths agree, the first one is hidden"
    assert legend_clear_of_the_axes(fig) and every_legend_entry_is_drawn(fig)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['held_ms'\]"):
        plots.held_after_each_event(_history().drop(columns="held_ms"), "tx_count_5m")


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


def test_latency_ecdf_pools_rounds_and_gives_each_percentile_with_its_range() -> None:
    runs = LatencyComparison({"PING": [np.full(10, 100e-6), np.full(10, 120e-6), np.full(10, 110e-6)]}, "PING")
    fig = plots.latency_ecdf(runs)
    (curve,) = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("PING")]
    assert len(curve.get_xdata()) == 30  # the three rounds pooled
    (label,) = [t.get_text() for t in fig.legends[0].get_texts()]
    assert label == "PING: p50 110 µs (100-120), p99 110 µs (100-120) over 3 rounds"


def test_batch_read_latency_draws_one_line_per_variant_with_the_rounds_spread() -> None:
    frame = pd.DataFrame(
        {
            "variant": ["single", "single", "cluster", "cluster"],
            "batch_size": [100, 10, 10, 100],
            "p50_ms": [0.9, 0.2, 0.4, 1.2],
            "p50_ms_low": [0.8, 0.15, 0.35, 1.0],
            "p50_ms_high": [1.1, 0.3, 0.5, 1.5],
        }
    )
    fig = plots.batch_read_latency(frame, title="t")
    (ax,) = fig.axes
    single, cluster = ax.get_lines()
    assert list(single.get_xdata()) == [10, 100] and list(single.get_ydata()) == [0.2, 0.9]
    assert list(cluster.get_ydata()) == [0.4, 1.2]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["single (p50)", "cluster (p50)"]
    single_bars = ax.containers[0].lines[2][0]
    assert [seg[:, 1].round(3).tolist() for seg in single_bars.get_segments()] == [[0.15, 0.3], [0.8, 1.1]]
    assert ax.get_title() == "t" and (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert legend_clear_of_the_axes(fig) and every_legend_entry_is_drawn(fig)
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
    references = {"PING": 0.1, "one HMGET": Spread(0.12, 0.11, 0.13, 2)}
    fig = plots.batch_read_latency(frame, references=references, per_entity=True)
    total, per_entity = fig.axes
    assert list(total.get_lines()[1].get_ydata()) == pytest.approx([0.1, 1.0, 10.0])  # ms
    assert list(per_entity.get_lines()[0].get_ydata()) == pytest.approx([100.0, 20.0, 10.0])  # µs per entity
    assert list(per_entity.get_lines()[2].get_ydata()) == pytest.approx([100.0, 100.0])  # PING, in µs
    assert list(per_entity.get_lines()[3].get_ydata()) == pytest.approx([120.0, 120.0])
    ping, hmget = total.get_lines()[2:]
    assert ping.get_color() != hmget.get_color() and ping.get_zorder() > total.get_lines()[0].get_zorder()
    assert len(per_entity.patches) == 1  # the HMGET's range across rounds, as a band
    assert [t.get_text() for t in fig.legends[0].get_texts()][-2:] == ["PING", "one HMGET"]
    assert not total.containers  # no spread columns, no error bars
    assert legend_clear_of_the_axes(fig) and every_legend_entry_is_drawn(fig)


def test_references_too_close_to_tell_apart_share_one_line_and_one_label() -> None:
    frame = pd.DataFrame({"variant": ["a", "a"], "batch_size": [1, 10], "p50_ms": [0.1, 1.0]})
    fig = plots.batch_read_latency(frame, references={"PING": 0.140, "one HMGET": Spread(0.145, 0.1, 0.5, 3)})
    ax = fig.axes[0]
    (reference,) = [line for line in ax.get_lines() if line.get_linestyle() != "-"]
    assert list(reference.get_ydata()) == [0.14, 0.14]
    assert reference.get_label() == "PING and one HMGET (within 10%: one line)"
    (band,) = ax.patches
    assert band.get_extents().height > 0  # the HMGET's range still shows
    assert every_legend_entry_is_drawn(fig)
    apart = plots.batch_read_latency(frame, references={"PING": 0.1, "one HMGET": 0.2}).axes[0]
    assert len([line for line in apart.get_lines() if line.get_linestyle() != "-"]) == 2


def test_a_legend_entry_whose_line_is_out_of_view_is_caught() -> None:
    frame = pd.DataFrame({"variant": ["a", "a"], "batch_size": [1, 10], "p50_ms": [0.1, 0.2]})
    fig = plots.batch_read_latency(frame, references={"PING": 0.05})
    ax = fig.axes[0]
    ax.set_ylim(0.08, 1.0)  # the PING line now lies below the view
    assert not every_legend_entry_is_drawn(fig)


def test_sweep_and_hgetall_vs_hmget_draw_a_line_per_variant() -> None:
    frame = pd.DataFrame(
        {
            "variant": ["HGETALL (every field)", "HMGET 5 fields"] * 2,
            "fields": [5, 5, 50, 50],
            "p50_us": [40.0, 40.0, 80.0, 41.0],
            "p50_us_low": [38.0, 39.0, 70.0, 40.0],
            "p50_us_high": [45.0, 42.0, 90.0, 43.0],
        }
    )
    fig = plots.hgetall_vs_hmget(frame)
    ax = fig.axes[0]
    assert [bars.get_label() for bars in ax.containers] == ["HGETALL (every field)", "HMGET 5 fields"]
    assert ax.containers[0].lines[0].get_ydata().tolist() == pytest.approx([40.0, 80.0])
    assert ax.get_xscale() == "log"
    assert legend_clear_of_the_axes(fig) and every_legend_entry_is_drawn(fig)
    ratios = pd.DataFrame({"variant": ["11 fields"] * 2, "k": [1, 11], "ratio": [2.0, 0.9]})
    fig = plots.sweep(ratios, "k", "ratio", title="t", xlabel="k", ylabel="r", references={"equal": 1.0})
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["11 fields", "equal"]
    assert every_legend_entry_is_drawn(fig)


def test_profile_breakdown_draws_one_bar_per_variant_and_area_largest_on_top() -> None:
    frame = pd.DataFrame(
        {
            "variant": ["pipeline", "pipeline", "pipeline", "packed", "packed", "packed"],
            "area": ["redis-py", "fslib", "redis-py", "redis-py", "fslib", "other Python"],
            "own_ms": [2.0, 0.5, 1.0, 0.25, 0.75, 0.001],
        }
    )
    fig = plots.profile_breakdown(frame)
    (ax,) = fig.axes
    assert [label.get_text() for label in ax.get_yticklabels()] == ["fslib", "redis-py"]  # barh: bottom first
    pipeline, packed = ax.containers
    assert [bar.get_width() for bar in pipeline] == [0.5, 3.0]  # the two redis-py rows summed
    assert [bar.get_width() for bar in packed] == [0.75, 0.25]
    assert pipeline[0].get_y() > packed[0].get_y()  # the first variant on top of its group, as in the legend
    # "other Python" would be a row of bars too thin to see: left out, and named under the axis.
    assert ax.get_xlabel().endswith("left out, under 1% of the largest bar: other Python")
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

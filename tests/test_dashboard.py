"""The dashboard against the real server: every panel through its method and through its widgets."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
import redis

from fslib import DEFAULT_SCHEMA, FeatureStore, synthesize_users
from fslib.checks import MAX_TTL_SECONDS
from fslib.freshness import FeatureStatus
from fslib.lab.dashboard import Dashboard, clamp, describe_error
from fslib.lab.dashboard_view import to_html
from fslib.local import EmbeddedRedis, free_port
from fslib.worker import WorkerStatus

from polling import wait_until

USERS = 20


def make_dashboard(url: str, prefix: str, **options: object) -> Dashboard:
    settings: dict[str, object] = {
        "key_prefix": prefix,
        "initial_users": USERS,
        "batch_ttl_seconds": 3600,
        "streaming_ttl_seconds": 30,
        "tick_seconds": 0.02,
        "users_per_tick": 3,
        "start_worker": False,
        "refresh_seconds": 0.05,
    }
    settings.update(options)
    return Dashboard(url, **settings)  # type: ignore[arg-type]


@pytest.fixture
def dash(redis_server: EmbeddedRedis, client: redis.Redis, prefix: str) -> Iterator[Dashboard]:
    dashboard = make_dashboard(redis_server.url, prefix)
    yield dashboard
    assert dashboard.close() is True
    FeatureStore(client, key_prefix=prefix).reset()


def view_of(dash: Dashboard) -> Any:
    """The dashboard's widgets (built on first use), to set values and click."""
    dash.widget  # noqa: B018
    return dash._view


class _TableRows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append((dict(attrs).get("class") or "", []))
        elif tag == "td":
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1][1].append("".join(self._cell))
            self._cell = None


def table_rows(html: str) -> dict[str, tuple[str, list[str]]]:
    """A panel's table as first cell -> (row class, cells), header rows left out."""
    parser = _TableRows()
    parser.feed(html)
    return {cells[0]: (css, cells) for css, cells in parser.rows if cells}


def entities_shown(dash: Dashboard) -> str:
    """The entity count as the state panel shows it."""
    row = table_rows(view_of(dash).state_html.value).get("entities")
    return row[1][1] if row else ""


# -- start-up options ---------------------------------------------------------------------


def test_start_resets_the_prefix_and_loads_the_initial_users(
    redis_server: EmbeddedRedis, client: redis.Redis, prefix: str
) -> None:
    FeatureStore(client, key_prefix=prefix).bulk_load({"stray": {"country_iso": "US"}})
    other = FeatureStore(client, key_prefix=prefix.rstrip(":") + "-other:")
    other.bulk_load({"u0001": {"country_iso": "US"}})
    try:
        with make_dashboard(redis_server.url, prefix) as dash:
            assert dash.state().entity_count == USERS  # "stray" was dropped, 20 users loaded
            assert dash.inspect("stray").exists is False
            assert other.count_entities() == 1  # another prefix is never touched
            dash.reset()
    finally:
        other.reset()


def test_no_reset_keeps_existing_users(redis_server: EmbeddedRedis, client: redis.Redis, prefix: str) -> None:
    FeatureStore(client, key_prefix=prefix).bulk_load({"kept": {"country_iso": "US"}})
    with make_dashboard(redis_server.url, prefix, no_reset=True, initial_users=0) as dash:
        assert dash.state().entity_count == 1
        assert dash.inspect("kept").fields["country_iso"].value == "US"
        dash.reset()


def test_start_worker_runs_it_at_once(redis_server: EmbeddedRedis, prefix: str) -> None:
    with make_dashboard(redis_server.url, prefix, start_worker=True) as dash:
        assert dash.state().worker_status is WorkerStatus.RUNNING
        assert wait_until(lambda: dash.state().worker_stats.writes > 0)
        dash.reset()


def test_a_new_dashboard_on_the_same_prefix_closes_the_old_one(redis_server: EmbeddedRedis, prefix: str) -> None:
    # What re-running the notebook cell does: the old worker must not keep writing.
    async def scenario() -> None:
        old = make_dashboard(redis_server.url, prefix, start_worker=True)
        old._repr_mimebundle_()
        assert old.refresher.running
        elsewhere = make_dashboard(redis_server.url, prefix + "elsewhere:", initial_users=0)
        with make_dashboard(redis_server.url, prefix) as new:
            assert old.closed and not new.closed and not elsewhere.closed
            assert old.worker.status is WorkerStatus.STOPPED
            assert not old.refresher.running
            new.reset()
        elsewhere.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"refresh_seconds": 0}, ValueError),
        ({"initial_users": "200"}, TypeError),
        ({"initial_users": -1}, ValueError),
        ({"streaming_ttl_seconds": 0}, ValueError),
        ({"tick_seconds": -1.0}, ValueError),
        ({"key_prefix": ""}, ValueError),
    ],
)
def test_bad_settings_raise_and_leave_nothing_running(
    redis_server: EmbeddedRedis, client: redis.Redis, prefix: str, options: dict[str, object], error: type[Exception]
) -> None:
    connections = len(client.client_list())
    with pytest.raises(error):
        make_dashboard(redis_server.url, prefix, **options)
    assert len(client.client_list()) == connections  # its connection was closed (threads: see conftest)


def test_unreachable_redis_at_start_up_raises() -> None:
    with pytest.raises(redis.ConnectionError):
        Dashboard(f"redis://127.0.0.1:{free_port()}/0")


# -- panels through their methods -----------------------------------------------------------


def test_state_reports_count_prefix_ttls_counters_and_worker(dash: Dashboard) -> None:
    state = dash.state()
    assert state.entity_count == USERS
    assert (state.batch_ttl_seconds, state.streaming_ttl_seconds) == (3600, 30)
    assert (state.users_per_tick, state.tick_seconds) == (3, 0.02)
    assert state.store_stats.batch_writes == USERS
    assert state.worker_status is WorkerStatus.STOPPED
    dash.read_features("u0001", ["risk_segment"])
    assert dash.state().store_stats.reads == 1
    assert "redis://:***@127.0.0.1:" in state.redis_url


def test_materialize_writes_users_with_the_key_ttl(dash: Dashboard) -> None:
    result = dash.materialize(50, ttl_seconds=60)
    assert (result.written, result.ttl_seconds, result.notes) == (50, 60, ())
    assert result.elapsed_seconds > 0
    assert "Bulk-loaded 50 users with key TTL 60 s" in to_html(result)
    assert dash.state().entity_count == 50  # u0001..u0020 were overwritten, not duplicated
    assert 0 < dash.store.key_ttl_seconds("u0050") <= 60
    assert dash.inspect("u0050").fields["country_iso"].value == dict(synthesize_users(50))["u0050"]["country_iso"]


def test_materialize_defaults_to_the_batch_ttl(dash: Dashboard) -> None:
    assert dash.materialize(3).ttl_seconds == 3600


def test_materialize_clamps_out_of_range_input_with_a_note(dash: Dashboard) -> None:
    low = dash.materialize(1, ttl_seconds=0)
    assert (low.written, low.ttl_seconds) == (1, 1)
    assert low.notes == ("TTL 0 is below the minimum 1: used 1",)
    high = dash.materialize(2, ttl_seconds=10**9)
    assert high.ttl_seconds == Dashboard.TTL_RANGE[1] == MAX_TTL_SECONDS  # the limits of the HTTP API too
    assert high.notes == ("TTL 1,000,000,000 is above the maximum 31,536,000: used 31,536,000",)
    assert dash.state().last_load_ttl_seconds == Dashboard.TTL_RANGE[1]  # what the last load used
    assert dash.state().batch_ttl_seconds == 3600  # the default of the next load
    # A count above the maximum is clamped the same way (not loaded here: 100,000 users).
    assert clamp(10**6, Dashboard.COUNT_RANGE, "count") == (
        100_000,
        "count 1,000,000 is above the maximum 100,000: used 100,000",
    )


@pytest.mark.parametrize("count", [0, -5])
def test_materialize_refuses_a_count_below_one_and_writes_nothing(dash: Dashboard, count: int) -> None:
    # Clamping 0 up to 1 would overwrite u0001 with a TTL nobody asked for.
    before = dash.inspect("u0001")
    with pytest.raises(ValueError, match=f"count must be at least 1, got {count}: nothing was loaded"):
        dash.materialize(count, ttl_seconds=5)
    assert dash.inspect("u0001").key_ttl_seconds > 5
    assert dash.inspect("u0001").fields == before.fields
    assert dash.state().entity_count == USERS


@pytest.mark.parametrize(("count", "ttl"), [("10", None), (1.5, None), (True, None), (10, 60.0), (10, "60")])
def test_materialize_rejects_non_integers_and_writes_nothing(dash: Dashboard, count: object, ttl: object) -> None:
    dash.reset()
    with pytest.raises(TypeError, match="whole number"):
        dash.materialize(count, ttl)  # type: ignore[arg-type]
    assert dash.state().entity_count == 0


def test_toggle_starts_then_pauses_then_resumes_the_worker(dash: Dashboard) -> None:
    assert dash.worker.status is WorkerStatus.STOPPED
    assert dash.worker.toggle() is WorkerStatus.RUNNING  # the first press starts a stopped worker
    assert wait_until(lambda: dash.state().worker_stats.writes >= 3)
    assert dash.state().store_stats.streaming_writes >= 3
    assert dash.worker.toggle() is WorkerStatus.PAUSED
    assert dash.state().worker_status is WorkerStatus.PAUSED
    assert dash.worker.toggle() is WorkerStatus.RUNNING


def test_read_features_shows_values_kinds_and_ttls(dash: Dashboard) -> None:
    dash.store.update_streaming("u0001", {"tx_count_5m": 7})
    result = dash.read_features("u0001", ["risk_segment", "tx_count_5m", "failed_logins_15m"])
    expected = dict(synthesize_users(USERS))["u0001"]
    assert result.values == {"risk_segment": expected["risk_segment"], "tx_count_5m": 7}
    assert type(result.values["tx_count_5m"]) is int  # not 7.0 next to a missing value
    by_name = result.frame.set_index("feature")
    assert list(by_name.index) == ["risk_segment", "tx_count_5m", "failed_logins_15m"]
    assert list(by_name["kind"]) == ["batch", "streaming", "streaming"]
    assert by_name.loc["risk_segment", "field_ttl_seconds"] == -1
    assert 0 < by_name.loc["tx_count_5m", "field_ttl_seconds"] <= 30
    assert list(by_name["status"]) == ["present", "present", "expired"]  # never streamed: expired
    assert by_name.loc["failed_logins_15m", "value"] == 0  # the schema default, as the HTTP API serves it
    assert by_name.loc["failed_logins_15m", "field_ttl_seconds"] == -2
    assert 0 < result.key_ttl_seconds <= 3600
    assert result.latency_seconds > 0


def test_a_read_shows_each_event_age_and_a_max_age_calls_an_old_one_stale(dash: Dashboard) -> None:
    ten_minutes_ago = int(time.time() * 1000) - 600_000
    dash.store.update_streaming("u0001", {"tx_count_5m": 7}, event_time=ten_minutes_ago)
    result = dash.read_features("u0001", ["risk_segment", "tx_count_5m"])
    by_name = result.frame.set_index("feature")
    assert 600 <= by_name.loc["tx_count_5m", "event_age_seconds"] < 660 and result.values["tx_count_5m"] == 7
    assert by_name.loc["risk_segment", "event_age_seconds"] is None  # a batch value has no event time
    assert table_rows(to_html(result))["tx_count_5m"][1][-1] == "10 min ago"
    aged = dash.read_features("u0001", ["risk_segment", "tx_count_5m"], max_age_seconds=60)
    assert [f.status for f in aged.features] == [FeatureStatus.PRESENT, FeatureStatus.STALE]
    scored = dash.batch_score(2, ["tx_count_5m"], max_age_seconds=60)
    assert scored.vectors["u0001"].statuses["tx_count_5m"] is FeatureStatus.STALE


def test_an_expired_streaming_field_reads_as_expired_while_batch_fields_stay(dash: Dashboard) -> None:
    dash.store.update_streaming("u0002", {"tx_count_5m": 1}, ttl_seconds=1)
    assert wait_until(lambda: "tx_count_5m" not in dash.read_features("u0002", ["tx_count_5m"]).values, timeout=5)
    result = dash.read_features("u0002", ["risk_segment", "tx_count_5m"])
    assert list(result.frame["field_ttl_seconds"]) == [-1, -2]
    assert [f.status for f in result.features] == [FeatureStatus.PRESENT, FeatureStatus.EXPIRED]
    assert table_rows(to_html(result))["tx_count_5m"][1][3:] == ["expired", "- (no field)", ""]  # no event age


def test_a_key_that_holds_no_hash_reads_invalid_with_its_error(dash: Dashboard, client: redis.Redis) -> None:
    client.set(dash.store.key_for("stray"), "not a hash", ex=60)
    result = dash.read_features("stray", ["risk_segment"])
    [reading] = result.features
    assert (reading.status, reading.field_ttl_seconds) == (FeatureStatus.INVALID, -2)
    assert reading.error is not None and "holds no feature hash" in reading.error
    status = table_rows(to_html(result))["risk_segment"][1][3]
    assert status.startswith("invalid: ") and "holds no feature hash" in status


def test_read_of_an_unknown_user_is_empty_and_says_fall_back(dash: Dashboard) -> None:
    result = dash.read_features("nobody", ["risk_segment"])
    assert (result.values, result.key_ttl_seconds) == ({}, -2)
    assert "nobody: entity missing: fall back" in to_html(result)
    assert {f.status for f in result.features} == {FeatureStatus.ENTITY_MISSING}


@pytest.mark.parametrize(
    ("entity", "names", "error", "message"),
    [
        ("", ["risk_segment"], ValueError, "entity id must not be empty"),
        ("u0001", [], ValueError, "pick at least one feature"),
        ("u0001", "risk_segment", TypeError, "not one string"),
        ("u0001", [""], ValueError, "feature name must not be empty"),
        (None, ["risk_segment"], TypeError, "entity id must be a string"),
    ],
)
def test_read_features_rejects_bad_input(
    dash: Dashboard, entity: object, names: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        dash.read_features(entity, names)  # type: ignore[arg-type]


def test_batch_score_reads_many_users_in_one_pipeline(dash: Dashboard) -> None:
    dash.store.update_streaming("u0003", {"tx_count_5m": 2})
    result = dash.batch_score(30)
    assert (result.requested, result.found) == (30, USERS)  # u0021..u0030 do not exist
    assert result.fields_present == USERS * len(DEFAULT_SCHEMA.batch_names) + 1
    assert result.per_entity_seconds == pytest.approx(result.latency_seconds / 30)
    assert list(result.frame.index[:5]) == ["u0001", "u0002", "u0003", "u0004", "u0005"]
    assert list(result.frame.columns[::2]) == DEFAULT_SCHEMA.names  # each beside its status
    assert result.frame.loc["u0003", "tx_count_5m"] == 2
    assert result.frame.loc["u0004", "tx_count_5m__status"] == "expired"
    assert result.frame.loc["u0030", "risk_segment__status"] == "entity_missing"
    assert str(result.frame["tx_count_5m"].dtype) == "Int64"  # integers stay integers
    subset = dash.batch_score(2, ["risk_segment"])
    assert subset.fields_present == 2 and list(subset.frame.columns) == ["risk_segment", "risk_segment__status"]


def test_batch_score_clamps_and_rejects(dash: Dashboard) -> None:
    with pytest.raises(ValueError, match="count must be at least 1, got 0: nothing was read"):
        dash.batch_score(0)
    assert clamp(10**5, Dashboard.SCORE_RANGE, "count")[0] == 1_000  # above the maximum: clamped with a note
    with pytest.raises(TypeError, match="whole number"):
        dash.batch_score("100")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pick at least one feature"):
        dash.batch_score(5, [])


def test_inspect_shows_the_full_hash_with_field_and_key_ttls(dash: Dashboard) -> None:
    dash.store.update_streaming("u0004", {"session_country": "FR"})
    inspection = dash.inspect("u0004")
    assert set(inspection.fields) == {*DEFAULT_SCHEMA.batch_names, "session_country"}
    assert inspection.fields["country_iso"].ttl_seconds == -1
    assert 0 < inspection.fields["session_country"].ttl_seconds <= 30
    assert 0 < inspection.key_ttl_seconds <= 3600


def test_reset_drops_only_the_prefix(dash: Dashboard, client: redis.Redis, prefix: str) -> None:
    client.set(prefix.rstrip(":") + "-sibling", "kept")
    try:
        dash.worker.start()
        assert dash.reset() == USERS
        assert dash.state().entity_count == 0
        assert dash.worker.status is WorkerStatus.RUNNING  # resumed after the race-free reset
        assert client.get(prefix.rstrip(":") + "-sibling") == "kept"
    finally:
        client.delete(prefix.rstrip(":") + "-sibling")


def test_describe_error_is_readable_and_masks_the_password() -> None:
    url = "redis://app:secret@db:6379/0"
    down = describe_error(redis.ConnectionError("Connection refused"), url)
    assert down.startswith("Redis is unreachable at redis://app:***@db:6379/0") and "secret" not in down
    assert describe_error(ValueError("count must be > 0"), url) == "Bad input: count must be > 0"
    assert describe_error(KeyError("x"), url) == "Unexpected KeyError: 'x'"


def test_clamp_rejects_non_integers() -> None:
    assert clamp(7, (5, 10), "n") == (7, None)
    assert clamp(3, (5, 10), "n") == (5, "n 3 is below the minimum 5: used 5")
    with pytest.raises(ValueError, match="n must be at least 5, got 3: nothing done"):
        clamp(3, (5, 10), "n", refuse_below="nothing done")
    for bad in ("7", 7.0, None, False):
        with pytest.raises(TypeError, match="n must be a whole number"):
            clamp(bad, (5, 10), "n")


# -- panels through their widgets --------------------------------------------------------------


def test_bulk_load_button(dash: Dashboard) -> None:
    view = view_of(dash)
    assert view is not None
    view.count.value, view.ttl.value = 40, 120
    view.load_button.click()
    assert "Bulk-loaded 40 users with key TTL 120 s" in view.load_out.value
    assert entities_shown(dash) == "40"
    assert table_rows(view.state_html.value)["batch TTL (key, last load)"][1][1] == "120 s"
    assert "u0040" in view.read_user.options
    view.count.value = 1
    view.load_button.click()
    assert "Bulk-loaded 1 user with key TTL 120 s" in view.load_out.value


def test_bulk_load_button_refuses_zero_and_shows_clamping_notes(dash: Dashboard) -> None:
    view = view_of(dash)
    view.count.value, view.ttl.value = 0, 10**9
    view.load_button.click()
    assert "fslib-error" in view.load_out.value
    assert "Bad input: count must be at least 1, got 0: nothing was loaded" in view.load_out.value
    assert table_rows(view.state_html.value)["batch TTL (key, last load)"][1][1] == "3,600 s"  # nothing loaded
    view.count.value = 2
    view.load_button.click()
    assert "TTL 1,000,000,000 is above the maximum 31,536,000: used 31,536,000" in view.load_out.value
    assert "Bulk-loaded 2 users with key TTL 31,536,000 s" in view.load_out.value


def test_pause_resume_button_is_the_worker_controls(dash: Dashboard) -> None:
    view = view_of(dash)
    toggle, status = view.controls.toggle_button, view.controls.status_line
    assert (toggle.description, toggle.disabled) == ("Start", False)
    assert status.value.startswith("stopped · ")
    toggle.value = True  # a click on "Start"
    assert dash.worker.status is WorkerStatus.RUNNING
    assert (toggle.description, toggle.value) == ("Pause", False)
    assert status.value.startswith("running · ")
    toggle.value = True  # "Pause"
    assert dash.worker.status is WorkerStatus.PAUSED
    assert toggle.description == "Resume" and status.value.startswith("paused · ")
    toggle.value = False  # "Resume"
    assert dash.worker.status is WorkerStatus.RUNNING


def test_the_worker_status_is_shown_once(dash: Dashboard) -> None:
    view = view_of(dash)
    dash.worker.start()
    dash.refresh()
    shown = view.state_html.value + view.controls.status_line.value
    assert shown.count("running") == 1
    assert view.controls.status_line.value.startswith("running · ")
    assert table_rows(view.state_html.value)["worker refresh"][1][1] == (
        f"3 users per 0.02 s tick: each user every {0.02 * math.ceil(USERS / 3):.3g} s"
    )


def test_the_max_age_box_makes_the_read_and_batch_scoring_call_an_old_event_stale(dash: Dashboard) -> None:
    view = view_of(dash)
    dash.store.update_streaming("u0001", {"tx_count_5m": 7}, event_time=int(time.time() * 1000) - 600_000)
    view.read_user.value, view.read_names.value, view.score_count.value = "u0001", ("tx_count_5m",), 1
    view.read_button.click()
    cells = table_rows(view.read_out.value)["tx_count_5m"][1]
    assert (cells[2], cells[3], cells[-1]) == ("7", "present", "10 min ago")  # no max age: present, its age shown
    view.score_button.click()
    assert "stale" not in view.score_out.value

    view.max_age.value = 60
    view.read_button.click()
    assert table_rows(view.read_out.value)["tx_count_5m"][1][2:4] == ["0", "stale"]  # the default, told why
    view.score_button.click()
    assert "<td style='padding:2px 8px'>stale</td>" in view.score_out.value
    view.max_age.value = -1
    view.read_button.click()
    assert "max_age_seconds must be a finite number &gt; 0" in view.read_out.value


def test_read_features_button_marks_batch_and_streaming(dash: Dashboard) -> None:
    view = view_of(dash)
    dash.store.update_streaming("u0002", {"tx_count_5m": 9})
    view.read_user.value = " u0002 "
    view.read_names.value = ("risk_segment", "tx_count_5m", "session_country")
    view.read_button.click()
    out = view.read_out.value
    rows = table_rows(out)
    risk = dict(synthesize_users(USERS))["u0002"]["risk_segment"]
    assert rows["risk_segment"] == ("fslib-batch", ["risk_segment", "batch", risk, "present", "- (key TTL only)", ""])
    css, (_, kind, value, status, ttl, age) = rows["tx_count_5m"]
    assert age == ""  # written without an event time
    assert (css, kind, value, status) == ("fslib-streaming", "streaming", "9", "present")  # not "9.0"
    assert 0 < int(ttl.removesuffix(" s")) <= 30
    # The freshness statuses, as GET /read answers them: a streaming field the worker never wrote is expired.
    assert rows["session_country"] == (
        "fslib-streaming",
        ["session_country", "streaming", "-", "expired", "- (no field)", ""],
    )
    assert list(rows) == ["risk_segment", "tx_count_5m", "session_country"]
    assert "u0002: key TTL" in out and "EXISTS + HMGET latency" in out and "2/3 features present" in out
    view.read_user.value = "nobody"
    view.read_button.click()
    assert "nobody: entity missing: fall back" in view.read_out.value


@pytest.mark.parametrize(
    ("user", "names", "message"),
    [
        ("", ("risk_segment",), "Bad input: entity id must not be empty"),
        ("u0001", (), "Bad input: pick at least one feature to read"),
    ],
)
def test_read_features_button_shows_bad_input(dash: Dashboard, user: str, names: tuple[str, ...], message: str) -> None:
    view = view_of(dash)
    view.read_user.value = user
    view.read_names.value = names
    view.read_button.click()
    assert "fslib-error" in view.read_out.value and message in view.read_out.value
    view.read_user.value, view.read_names.value = "u0001", ("risk_segment",)
    view.read_button.click()  # the panel still works
    assert "fslib-read-table" in view.read_out.value


def test_batch_scoring_button(dash: Dashboard) -> None:
    view = view_of(dash)
    dash.store.update_streaming("u0001", {"tx_count_5m": 4})
    view.score_count.value = 25
    view.score_button.click()
    out = view.score_out.value
    assert "25 users in one pipeline" in out and f"{USERS} found" in out and "µs per user" in out
    rows = table_rows(out)
    assert list(rows) == ["u0001", "u0002", "u0003", "u0004", "u0005"]  # the sample
    tx_count_7d, tx_count_5m = (1 + DEFAULT_SCHEMA.names.index(name) for name in ("tx_count_7d", "tx_count_5m"))
    assert rows["u0001"][1][tx_count_5m] == "4" and rows["u0002"][1][tx_count_5m] == "expired"
    assert rows["u0002"][1][tx_count_7d].isdigit()  # an integer column with holes still shows integers
    view.score_count.value = 1
    view.score_button.click()
    assert "1 user in one pipeline" in view.score_out.value
    view.score_count.value = 0
    view.score_button.click()
    assert "Bad input: count must be at least 1, got 0: nothing was read" in view.score_out.value


def test_inspect_button(dash: Dashboard) -> None:
    view = view_of(dash)
    view.inspect_user.value = "u0005"
    view.inspect_button.click()
    assert f"{dash.store.key_prefix}u0005: key TTL" in view.inspect_out.value
    rows = table_rows(view.inspect_out.value)
    assert sorted(rows) == sorted(DEFAULT_SCHEMA.batch_names)
    assert {css for css, _ in rows.values()} == {"fslib-batch"}
    view.inspect_user.value = "nobody"
    view.inspect_button.click()
    assert "no such entity" in view.inspect_out.value


def test_reset_needs_a_confirmation(dash: Dashboard) -> None:
    view = view_of(dash)
    assert view.confirm_box.layout.display == "none"
    view.reset_button.click()
    assert view.confirm_box.layout.display == "flex"
    assert dash.state().entity_count == USERS  # nothing deleted before confirming
    view.cancel_button.click()
    assert view.confirm_box.layout.display == "none"
    assert "nothing was deleted" in view.reset_out.value
    assert dash.state().entity_count == USERS
    view.reset_button.click()
    view.confirm_button.click()
    assert f"Dropped {USERS} users under {dash.store.key_prefix}*" in view.reset_out.value
    assert view.confirm_box.layout.display == "none"
    assert entities_shown(dash) == "0"
    assert view.read_user.options == ()
    dash.materialize(1)
    view.reset_button.click()
    view.confirm_button.click()
    assert "Dropped 1 user under" in view.reset_out.value


# -- auto-refresh, display and close ---------------------------------------------------------------


def test_auto_refresh_redraws_the_panels_from_the_event_loop(dash: Dashboard, client: redis.Redis) -> None:
    view = view_of(dash)

    async def scenario() -> None:
        assert dash.refresher.start() and dash.refresher.start()  # idempotent: still one task
        task = dash.refresher.task
        # Another writer adds users; no dashboard action runs, yet the panel follows.
        FeatureStore(client, key_prefix=dash.store.key_prefix).bulk_load(synthesize_users(USERS + 7))
        dash.worker.start()
        for _ in range(400):
            if entities_shown(dash) == str(USERS + 7) and view.controls.status_line.value.startswith("running"):
                break
            await asyncio.sleep(0.025)
        dash.refresher.stop()
        assert task is not None and not dash.refresher.running
        await asyncio.sleep(0)  # let the cancellation land
        assert task.cancelled() or task.done()

    asyncio.run(scenario())
    assert entities_shown(dash) == str(USERS + 7)
    assert view.controls.status_line.value.startswith("running · ")


def test_without_an_event_loop_the_panels_refresh_on_demand(dash: Dashboard) -> None:
    bundle = dash._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == dash.widget.model_id
    assert "fslib-dashboard" in dash.widget._dom_classes
    assert not dash.refresher.running  # plain Python has no running loop
    assert entities_shown(dash) == str(USERS)
    dash.materialize(USERS + 1)
    dash.refresh()
    assert entities_shown(dash) == str(USERS + 1)


def test_displaying_on_the_event_loop_starts_the_auto_refresh(dash: Dashboard) -> None:
    async def scenario() -> bool:
        dash._repr_mimebundle_()
        running = dash.refresher.running
        dash.refresher.stop()
        return running

    assert asyncio.run(scenario())


def test_close_stops_the_worker_and_the_refresh_and_disables_the_panels(
    redis_server: EmbeddedRedis, prefix: str
) -> None:
    before = set(threading.enumerate())
    dash = make_dashboard(redis_server.url, prefix, start_worker=True)
    view = view_of(dash)
    assert wait_until(lambda: dash.worker.stats().ticks > 0)

    async def scenario() -> None:
        dash._repr_mimebundle_()
        assert dash.refresher.running
        assert len(set(threading.enumerate()) - before) == 1  # the worker; the refresh is a task, no thread
        dash.reset()  # also zeroes the worker's counters
        assert wait_until(lambda: dash.worker.stats().ticks > 0)
        assert dash.close() is True
        assert dash.close() is True  # idempotent
        assert not dash.refresher.running

    asyncio.run(scenario())
    assert set(threading.enumerate()) - before == set()
    assert dash.closed
    line = view.controls.status_line.value
    assert line.startswith("stopped · ") and " · last tick at " in line  # a clock time: never stale
    assert "Dashboard closed" in view.state_status.value
    assert view.load_button.disabled and view.reset_button.disabled
    assert view.controls.toggle_button.disabled and view.controls.toggle_button.description == "Stopped"
    with pytest.raises(RuntimeError, match="closed"):
        dash.materialize(1)
    view.read_button.click()  # even a stray click only explains
    assert "RuntimeError: this dashboard is closed" in view.read_out.value
    assert "closed" in repr(dash)


# -- Redis going away and coming back -----------------------------------------------------------------


def test_redis_down_shows_readable_errors_and_the_dashboard_recovers(prefix: str) -> None:
    with EmbeddedRedis() as server, make_dashboard(server.url, prefix, start_worker=True, initial_users=10) as dash:
        view = view_of(dash)
        assert wait_until(lambda: dash.worker.stats().writes > 0)
        server.stop()

        view.read_button.click()
        assert "Redis is unreachable at redis://:***@127.0.0.1:" in view.read_out.value
        assert "Traceback" not in view.read_out.value
        assert "Redis is unreachable" in view.state_status.value  # the refresh after the action
        view.count.value = 10
        view.load_button.click()
        assert "Redis is unreachable" in view.load_out.value
        view.controls.toggle_button.value = True  # "Pause": the worker panel needs no Redis
        assert dash.worker.status is WorkerStatus.PAUSED
        view.controls.toggle_button.value = False  # "Resume"
        assert wait_until(lambda: dash.worker.stats().errors > 0)

        server.start()  # same port, empty, as after a crash
        view.load_button.click()
        assert "Bulk-loaded 10 users" in view.load_out.value
        assert "updated" in view.state_status.value and entities_shown(dash) == "10"
        view.read_button.click()
        assert "fslib-read-table" in view.read_out.value
        writes = dash.worker.stats().writes
        assert wait_until(lambda: dash.worker.stats().writes > writes, timeout=20)
        dash.reset()

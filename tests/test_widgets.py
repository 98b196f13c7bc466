"""The worker's ipywidgets controls, driven as a user would (set the toggle, click), on the real server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

import fslib
from fslib import FeatureStore, synthesize_users
from fslib.lab.widgets import Refresher, describe_worker, plural, worker_controls
from fslib.local import free_port
from fslib.worker import StreamingWorker, WorkerStatus

from polling import wait_until


@pytest.fixture
def worker(store: FeatureStore) -> Iterator[StreamingWorker]:
    store.bulk_load(synthesize_users(5))
    worker = StreamingWorker(store, tick_seconds=0.02, users_per_tick=2, seed=3)
    yield worker
    assert worker.stop()


def test_toggle_pauses_and_resumes_the_worker(worker: StreamingWorker) -> None:
    worker.start()
    controls = worker_controls(worker, auto_refresh_seconds=None)
    assert controls.toggle_button.description == "Pause"
    assert wait_until(lambda: worker.stats().writes > 0)

    controls.toggle_button.value = True  # what a click on "Pause" does
    assert worker.status is WorkerStatus.PAUSED
    assert controls.toggle_button.description == "Resume"
    assert controls.status_line.value.startswith("paused · ")
    assert worker.wait_for_idle(5.0)
    writes = worker.stats().writes
    time.sleep(0.1)  # five ticks' worth: none of them may write
    assert worker.stats().writes == writes

    controls.toggle_button.value = False  # "Resume"
    assert worker.status is WorkerStatus.RUNNING
    assert controls.toggle_button.description == "Pause"
    assert wait_until(lambda: worker.stats().writes > writes)
    controls.close()


def test_refresh_click_shows_the_counters(worker: StreamingWorker) -> None:
    controls = worker_controls(worker, auto_refresh_seconds=None)
    assert controls.status_line.value == "stopped · 0 ticks · 0 writes · 0 errors"
    assert controls.toggle_button.disabled
    worker.start()
    assert wait_until(lambda: worker.stats().writes >= 4)
    controls.refresh_button.click()
    stats = worker.stats()
    line = controls.status_line.value
    assert line.startswith("running · ")
    ticks = int(line.split(" · ")[1].split()[0])
    writes = int(line.split(" · ")[2].split()[0])
    assert 1 <= ticks <= stats.ticks and 4 <= writes <= stats.writes
    assert not controls.toggle_button.disabled
    controls.close()


def test_a_stopped_worker_is_not_restarted_by_the_toggle(worker: StreamingWorker) -> None:
    controls = worker_controls(worker, auto_refresh_seconds=None)
    controls.toggle_button.value = True
    assert worker.status is WorkerStatus.STOPPED
    assert controls.toggle_button.value is False
    assert controls.toggle_button.description == "Stopped"
    controls.close()


def test_describe_worker_reports_tick_age_then_the_clock_time_once_stopped(worker: StreamingWorker) -> None:
    worker.start()
    assert wait_until(lambda: worker.stats().ticks > 0)
    worker.pause()
    assert worker.wait_for_idle(5.0)  # a paused worker records no more ticks
    last_tick_at = worker.stats().last_tick_at
    assert last_tick_at is not None
    assert describe_worker(worker, now=last_tick_at + 2.5).endswith("last tick 2.5 s ago")
    assert worker.stop()
    # Stopped, the age would freeze wherever the last refresh left it: the line names the clock time instead.
    clock = time.strftime("%H:%M:%S", time.localtime(worker.stats().last_tick_at))
    assert describe_worker(worker, now=last_tick_at + 99).endswith(f"last tick at {clock}")


def test_plural() -> None:
    assert [plural(n, "tick") for n in (0, 1, 2, 1500)] == ["0 ticks", "1 tick", "2 ticks", "1,500 ticks"]


def test_a_startable_toggle_starts_a_stopped_worker(worker: StreamingWorker) -> None:
    controls = worker_controls(worker, auto_refresh_seconds=None)
    controls.startable = True
    controls.refresh()
    assert (controls.toggle_button.description, controls.toggle_button.disabled) == ("Start", False)
    controls.toggle_button.value = True  # a click on "Start"
    assert worker.status is WorkerStatus.RUNNING
    assert (controls.toggle_button.description, controls.toggle_button.value) == ("Pause", False)
    controls.close()


@pytest.mark.parametrize(("interval", "error"), [(0, ValueError), (float("nan"), ValueError), ("1", TypeError)])
def test_refresher_refuses_a_bad_interval(interval: object, error: type[Exception]) -> None:
    async def step() -> bool:
        return False

    with pytest.raises(error, match="refresh interval"):
        Refresher(step, interval)  # type: ignore[arg-type]


def test_refresher_needs_a_running_loop_and_ends_when_its_step_says_so() -> None:
    calls: list[int] = []

    async def step() -> bool:
        calls.append(len(calls))
        return len(calls) < 3

    refresher = Refresher(step, 0.01)
    assert refresher.start() is False and not refresher.running  # plain Python: nothing runs

    async def scenario() -> None:
        assert refresher.start() and refresher.start()  # idempotent
        task = refresher.task
        assert task is not None
        await asyncio.wait_for(task, 5.0)
        assert not refresher.running

    asyncio.run(scenario())
    assert calls == [0, 1, 2]


def test_the_status_line_shows_the_last_error() -> None:
    # A real connection failure: nothing listens on this port.
    client = fslib.connect(
        f"redis://127.0.0.1:{free_port()}/0", check_version=False, retry_attempts=0, socket_timeout=0.2
    )
    worker = StreamingWorker(FeatureStore(client, key_prefix="nowhere:"), tick_seconds=0.02)
    controls = worker_controls(worker, auto_refresh_seconds=None)
    worker.start()
    try:
        assert wait_until(lambda: worker.stats().errors > 0)
        controls.refresh_button.click()
        assert " · 0 errors" not in controls.status_line.value
        assert "last error: ConnectionError" in controls.status_line.value
    finally:
        assert worker.stop()
        controls.close()
        client.close()


def test_auto_refresh_follows_the_worker_on_the_event_loop(worker: StreamingWorker) -> None:
    async def scenario() -> tuple[str, str, bool]:
        worker.start()
        controls = worker_controls(worker, auto_refresh_seconds=0.02)
        first = controls.status_line.value
        deadline = time.monotonic() + 10
        while worker.stats().writes < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # several refreshes, with no click
        live = controls.status_line.value
        worker.stop()
        assert controls.refresher is not None
        task = controls.refresher.task
        assert task is not None
        await asyncio.wait_for(task, 5.0)  # ends by itself once the worker stopped
        final = controls.status_line.value
        controls.close()
        return first, live, final.startswith("stopped · ")

    first, live, ended_stopped = asyncio.run(scenario())
    assert first != live and " 0 writes" not in live
    assert ended_stopped


def test_a_refresher_step_that_raises_is_logged_and_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def step() -> bool:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("one bad refresh")
        return False

    async def scenario() -> None:
        refresher = Refresher(step, 0.01)
        assert refresher.start() and refresher.task is not None
        await asyncio.wait_for(refresher.task, 5.0)

    asyncio.run(scenario())
    assert calls == [0, 1]
    assert "widget refresh failed" in caplog.text and "one bad refresh" in caplog.text

"""The base of the worker (and of other background work): fslib.background, with real threads and a real process."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading

import pytest

from fslib.background import Background, BackgroundState, BackgroundThread

from polling import wait_until


class Counter(BackgroundThread):
    """Counts its steps; fails the steps listed in ``failing``; ends after ``last`` steps, if given."""

    def __init__(self, *, delay: float = 0.001, failing: frozenset[int] = frozenset(), last: int | None = None):
        super().__init__()
        self.delay, self.failing, self.last = delay, failing, last
        self.steps = 0
        self.gate = threading.Event()  # a step blocks on it while ``blocking``
        self.blocking = False

    def step(self) -> float | None:
        self.steps += 1
        if self.blocking:
            self.gate.wait(30.0)
        if self.steps in self.failing:
            raise ValueError(f"step {self.steps} fails")
        return None if self.steps == self.last else self.delay


def test_the_life_cycle() -> None:
    counter = Counter()
    assert counter.state is BackgroundState.STOPPED and not counter.is_running
    assert counter.stop() is True  # never started
    assert counter.start() is counter and counter.start() is counter  # a no-op while it runs
    assert [t.name for t in threading.enumerate()].count("Counter") == 1  # one thread, named by name
    assert counter.state is BackgroundState.RUNNING and counter.state == "running" and counter.is_running
    assert wait_until(lambda: counter.steps >= 5)
    assert counter.stop(timeout=10.0) is True
    assert counter.state is BackgroundState.STOPPED and counter.wait(timeout=0) is True
    steps = counter.steps
    with counter:  # starts again; the context manager stops it
        assert wait_until(lambda: counter.steps > steps)
    assert counter.state is BackgroundState.STOPPED
    assert [s.value for s in BackgroundState] == ["stopped", "running", "stopping"]


def test_a_failing_step_is_logged_and_survived(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="fslib.background")
    with Counter(failing=frozenset({2, 3})) as counter:
        assert wait_until(lambda: counter.steps >= 5)
        assert counter.is_running  # the thread survived both failures
    assert isinstance(counter.last_error, ValueError) and str(counter.last_error) == "step 3 fails"
    failures = [r for r in caplog.records if r.name == "fslib.background"]
    assert [r.getMessage() for r in failures] == [
        "Counter: a step failed (1 in a row)",
        "Counter: a step failed (2 in a row)",
    ]
    assert all(r.exc_info is not None for r in failures)  # logger.exception: with the traceback
    counter.start()
    assert counter.last_error is None  # forgotten at a new start
    assert counter.stop()


class Quitter(Counter):
    def on_error(self, exc: Exception, failures: int) -> float | None:
        return None  # an error ends the thread


@pytest.mark.parametrize("ending", ["step returns None", "on_error returns None"])
def test_the_thread_can_end_by_itself(ending: str) -> None:
    counter = Counter(last=3) if ending == "step returns None" else Quitter(failing=frozenset({3}))
    counter.start()
    assert counter.wait(timeout=10.0) is True
    assert counter.steps == 3 and counter.state is BackgroundState.STOPPED
    assert (counter.last_error is None) == (ending == "step returns None")
    assert counter.stop() is True


def test_stop_cuts_the_wait_between_steps_short() -> None:
    counter = Counter(delay=3600.0).start()
    assert wait_until(lambda: counter.steps == 1)
    assert counter.stop(timeout=10.0) is True  # not an hour


def test_a_step_that_blocks_outlives_a_stop_that_times_out(caplog: pytest.LogCaptureFixture) -> None:
    counter = Counter()
    counter.blocking = True
    counter.start()
    try:
        assert wait_until(lambda: counter.steps == 1)
        assert counter.stop(timeout=0.01) is False
        assert "Counter did not stop within 0.0 s" in caplog.text
        assert counter.state is BackgroundState.STOPPING and not counter.is_running
        with pytest.raises(RuntimeError, match="Counter is still stopping; call stop"):
            counter.start()
    finally:
        counter.gate.set()
        assert counter.stop(timeout=10.0) is True
    assert counter.steps == 1  # the stop flag was seen before a second step


class Child(Background):
    """Background work that is a process: what fslib.serve's ServerProcess is."""

    def __init__(self) -> None:
        super().__init__()
        self.process: subprocess.Popen[bytes] | None = None

    def _launch(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    def _halt(self, timeout: float) -> bool:
        if self.process is None:
            return True
        self.process.terminate()  # a no-op once it ended
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def test_the_life_cycle_fits_a_process() -> None:
    assert Child().stop() is True  # never started
    with Child() as child:
        assert child.is_running and child.start() is child
        process = child.process
        assert process is not None and process.poll() is None
    assert child.state is BackgroundState.STOPPED and process.returncode is not None

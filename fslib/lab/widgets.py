"""ipywidgets controls for a :class:`~fslib.worker.StreamingWorker`, and the one way fslib's widgets refresh.

The callbacks only call the worker's own methods (``toggle``, ``stats``,
``status``), so a notebook, a test and a browser click all drive the same code.

    >>> controls = worker_controls(worker)
    >>> controls                          # in Jupyter: Pause/Resume, Refresh, a live status line
    >>> controls.toggle_button.value = True   # the same as clicking "Pause"

Widgets change only on the kernel's own thread: in a button callback, or in a
:class:`Refresher` task on the kernel's asyncio loop. ipywidgets' traits and
comm messages take no lock: widgets set from several threads broke
(ipython/ipython#7411, where the maintainers chose the kernel's event loop over
a mutex), and the docs' "update a widget from a thread" recipe failed with
ipykernel 7.0 (jupyter-widgets/ipywidgets#4001).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import ipywidgets as widgets

from fslib.checks import check_seconds
from fslib.worker import StreamingWorker, WorkerStatus

__all__ = [
    "Refresher",
    "WorkerControls",
    "describe_worker",
    "plural",
    "worker_controls",
]

logger = logging.getLogger(__name__)


def plural(count: int, noun: str) -> str:
    """``"1 user"``, ``"2 users"``, ``"1,000 users"``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def describe_worker(worker: StreamingWorker, now: float | None = None) -> str:
    """One status line: state, ticks, writes, errors, when the last tick ran, last error.

    While the worker lives the line gives the last tick's age; once it is
    stopped, the clock time of its last tick, which stays true however late
    the line is read.

    Args:
        worker: The worker to describe.
        now: Wall-clock time to measure the last tick's age against; ``time.time()`` by default.

    Returns:
        E.g. ``"running · 12 ticks · 60 writes · 0 errors · last tick 0.4 s ago"``.
    """
    stats, status = worker.stats(), worker.status
    parts = [status.value, plural(stats.ticks, "tick"), plural(stats.writes, "write"), plural(stats.errors, "error")]
    if stats.last_tick_at is not None:
        if status is WorkerStatus.STOPPED:
            parts.append(f"last tick at {time.strftime('%H:%M:%S', time.localtime(stats.last_tick_at))}")
        else:
            age = (time.time() if now is None else now) - stats.last_tick_at
            parts.append(f"last tick {max(age, 0.0):.1f} s ago")
    if stats.last_error is not None:
        parts.append(f"last error: {stats.last_error}")
    return " · ".join(parts)


class Refresher:
    """Awaits ``step()`` every ``interval`` seconds in a task on the running asyncio loop, until it returns False.

    A step that raises is logged and tried again at the next interval.

    Jupyter's kernel runs an asyncio loop on the thread that handles widget
    messages, so a step changes widgets where ipywidgets expects it, and the
    kernel stays free between steps. A step that must wait for I/O awaits it
    (e.g. ``asyncio.to_thread``) instead of blocking the kernel.

    Args:
        step: The refresh; returns False when there is nothing left to follow.
        interval: Seconds between the end of one step and the next.

    Raises:
        TypeError, ValueError: ``interval`` is not a finite number > 0.
    """

    def __init__(self, step: Callable[[], Awaitable[bool]], interval: float) -> None:
        self.step: Callable[[], Awaitable[bool]] = step
        self.interval: float = check_seconds(interval, "refresh interval")
        self.task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True while the task is scheduled."""
        return self.task is not None and not self.task.done()

    def start(self) -> bool:
        """Start the task on the running loop; a no-op if it runs already.

        Returns:
            True if it runs; False without a running loop (plain Python: refresh by hand).
        """
        if self.running:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self.task = loop.create_task(self._loop())
        return True

    def stop(self) -> None:
        """Cancel the task (it ends at its next ``await``)."""
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def _loop(self) -> None:
        while True:
            try:
                if not await self.step():
                    return
            except Exception:  # a live panel outlives one failed refresh; the log keeps the traceback
                logger.exception("widget refresh failed")
            await asyncio.sleep(self.interval)


class WorkerControls(widgets.VBox):
    """A Pause/Resume toggle, a Refresh button and a status line for one worker.

    ``toggle_button.value`` is True while the worker is paused; setting it
    (by a click or in code) calls :meth:`StreamingWorker.toggle` when the
    worker is not already in that state. A stopped worker disables the toggle,
    so a stopped thread is restarted on purpose, in code, not by a stale
    button; unless ``startable``, where the toggle reads "Start" and starts it.

    Args:
        worker: The worker to control.
        auto_refresh_seconds: Refresh the status line this often while the
            worker lives, with a :class:`Refresher`; None, or no running loop,
            refreshes only on clicks and :meth:`refresh`.
        startable: Let the toggle start a stopped worker (a dashboard whose
            worker waits for its first press).
    """

    def __init__(
        self, worker: StreamingWorker, auto_refresh_seconds: float | None = 1.0, *, startable: bool = False
    ) -> None:
        self.worker = worker
        self.startable = startable
        self.toggle_button = widgets.ToggleButton(
            value=False, description="Pause", icon="pause", tooltip="Pause or resume the streaming worker"
        )
        self.refresh_button = widgets.Button(
            description="Refresh", icon="refresh", tooltip="Read the worker's counters now"
        )
        self.status_line = widgets.Label()
        super().__init__([widgets.HBox([self.toggle_button, self.refresh_button]), self.status_line])
        self.toggle_button.observe(self._on_toggle, names="value")
        self.refresh_button.on_click(lambda _button: self.refresh())
        self.refresher: Refresher | None = None
        self.refresh()
        if auto_refresh_seconds is not None:
            self.refresher = Refresher(self._refresh_step, auto_refresh_seconds)
            self.refresher.start()

    def refresh(self) -> str:
        """Bring the toggle and the status line in line with the worker.

        Returns:
            The new status line.
        """
        status = self.worker.status
        stopped = status is WorkerStatus.STOPPED
        self.toggle_button.disabled = stopped and not self.startable
        # Setting the value re-enters _on_toggle, which sees nothing to do.
        self.toggle_button.value = status is WorkerStatus.PAUSED
        self.toggle_button.description = {
            WorkerStatus.RUNNING: "Pause",
            WorkerStatus.PAUSED: "Resume",
            WorkerStatus.STOPPED: "Start" if self.startable else "Stopped",
        }[status]
        self.toggle_button.icon = "pause" if status is WorkerStatus.RUNNING else "play"
        self.status_line.value = describe_worker(self.worker)
        return self.status_line.value

    def _on_toggle(self, change: dict[str, object]) -> None:
        # toggle() starts a stopped worker: only a startable control lets a press do that.
        startable = self.startable or self.worker.status is not WorkerStatus.STOPPED
        if startable and change["new"] != self.worker.is_paused:
            self.worker.toggle()
        self.refresh()

    async def _refresh_step(self) -> bool:
        # Ends once the worker is stopped, after showing it: its line then names a clock time.
        self.refresh()
        return self.worker.status is not WorkerStatus.STOPPED

    def close(self) -> None:
        """Stop the auto-refresh and close the widgets (the worker keeps running)."""
        if self.refresher is not None:
            self.refresher.stop()
        for child in (self.toggle_button, self.refresh_button, self.status_line, *self.children):
            child.close()
        super().close()


def worker_controls(worker: StreamingWorker, auto_refresh_seconds: float | None = 1.0) -> WorkerControls:
    """The Pause/Resume toggle, Refresh button and live status line of ``worker``.

    Args:
        worker: The worker to control.
        auto_refresh_seconds: See :class:`WorkerControls`.

    Returns:
        A widget box; display it as a cell's result.
    """
    return WorkerControls(worker, auto_refresh_seconds)

"""ipywidgets controls for a :class:`~fslib.worker.StreamingWorker`.

The callbacks only call the worker's own methods (``toggle``, ``stats``,
``status``), so a notebook, a test and a browser click all drive the same code.

    >>> controls = worker_controls(worker)
    >>> controls                          # in Jupyter: Pause/Resume, Refresh, a live status line
    >>> controls.toggle_button.value = True   # the same as clicking "Pause"
"""

from __future__ import annotations

import asyncio
import time

import ipywidgets as widgets

from fslib.worker import StreamingWorker, WorkerStatus

__all__ = [
    "WorkerControls",
    "describe_worker",
    "worker_controls",
]


def describe_worker(worker: StreamingWorker, now: float | None = None) -> str:
    """One status line: state, ticks, writes, errors, age of the last tick, last error.

    Args:
        worker: The worker to describe.
        now: Wall-clock time to measure the last tick's age against; ``time.time()`` by default.

    Returns:
        E.g. ``"running · 12 ticks · 60 writes · 0 errors · last tick 0.4 s ago"``.
    """
    stats = worker.stats()
    parts = [worker.status.value, f"{stats.ticks} ticks", f"{stats.writes} writes", f"{stats.errors} errors"]
    if stats.last_tick_at is not None:
        age = (time.time() if now is None else now) - stats.last_tick_at
        parts.append(f"last tick {max(age, 0.0):.1f} s ago")
    if stats.last_error is not None:
        parts.append(f"last error: {stats.last_error}")
    return " · ".join(parts)


class WorkerControls(widgets.VBox):
    """A Pause/Resume toggle, a Refresh button and a status line for one worker.

    ``toggle_button.value`` is True while the worker is paused; setting it
    (by a click or in code) calls :meth:`StreamingWorker.toggle` when the
    worker is not already in that state. A stopped worker disables the toggle:
    a stopped thread is restarted on purpose, in code, not by a stale button.

    Args:
        worker: The worker to control.
        auto_refresh_seconds: Refresh the status line this often while the
            worker runs, from a task on the running asyncio loop (Jupyter's
            kernel has one, so no extra thread); None, or no running loop,
            refreshes only on clicks and :meth:`refresh`.
    """

    def __init__(self, worker: StreamingWorker, auto_refresh_seconds: float | None = 1.0) -> None:
        self.worker = worker
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
        self._task: asyncio.Task[None] | None = None
        self.refresh()
        if auto_refresh_seconds is not None:
            self._start_auto_refresh(auto_refresh_seconds)

    def refresh(self) -> str:
        """Bring the toggle and the status line in line with the worker.

        Returns:
            The new status line.
        """
        status = self.worker.status
        self.toggle_button.disabled = status is WorkerStatus.STOPPED
        # Setting the value re-enters _on_toggle, which sees nothing to do.
        self.toggle_button.value = status is WorkerStatus.PAUSED
        self.toggle_button.description = {"running": "Pause", "paused": "Resume", "stopped": "Stopped"}[status.value]
        self.toggle_button.icon = "play" if status is WorkerStatus.PAUSED else "pause"
        self.status_line.value = describe_worker(self.worker)
        return self.status_line.value

    def _on_toggle(self, change: dict[str, object]) -> None:
        if self.worker.status is not WorkerStatus.STOPPED and change["new"] != self.worker.is_paused:
            self.worker.toggle()
        self.refresh()

    def _start_auto_refresh(self, interval: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # plain Python: refresh on demand only
        self._task = loop.create_task(self._auto_refresh(interval))

    async def _auto_refresh(self, interval: float) -> None:
        # Ends by itself once the worker is stopped, after showing it.
        while self.refresh() and self.worker.status is not WorkerStatus.STOPPED:
            await asyncio.sleep(interval)

    def close(self) -> None:
        """Stop the auto-refresh and close the widgets (the worker keeps running)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
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

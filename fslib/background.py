"""Work that runs in the background, with one life cycle: start, stop, state, last error, ``with``.

Two bases, for two kinds of work:

- :class:`Background`, the life cycle alone, for work of any kind (a child process, say).
  A subclass says how to launch its work, halt it and tell whether it still runs::

      class Child(Background):
          def _launch(self) -> None:               # under the life-cycle lock, stop flag clear
              self._process = subprocess.Popen(...)
          def _halt(self, timeout: float) -> bool:  # stop flag set; True once it ended
              if self._process is not None and self._process.poll() is None:
                  self._process.send_signal(signal.SIGINT)
              ...
          def _alive(self) -> bool:
              return self._process is not None and self._process.poll() is None

- :class:`BackgroundThread`, a daemon thread that calls :meth:`~BackgroundThread.step` until it
  is stopped (huey's worker loop). ``step`` does one unit of work and returns how many seconds
  to wait before the next, or None to end the thread. A step that raises does not kill the
  thread: :meth:`~BackgroundThread.on_error` gets it (by default: log the traceback, wait with
  a backoff, go on; return None there to end instead)::

      class Sampler(BackgroundThread):
          def step(self) -> float | None:
              take_a_sample()
              return None if enough() else 0.25

      with Sampler() as sampler:                   # start() ... stop()
          ...

What both give: :meth:`~Background.start` returns the object and is a no-op while it runs;
:meth:`~Background.stop` asks the work to end (the :attr:`~Background.stop_requested` event)
and says whether it did within ``timeout``, logging a warning if not; :attr:`~Background.state`
(stopped, running, stopping), :attr:`~Background.is_running`, :attr:`~Background.last_error`
and the context manager. :attr:`~Background.name` names the thread and the log lines.
"""

from __future__ import annotations

import abc
import enum
import logging
import threading
from types import TracebackType
from typing import Self

__all__ = ["Background", "BackgroundState", "BackgroundThread"]

logger = logging.getLogger(__name__)


class BackgroundState(enum.StrEnum):
    """Where background work is in its life cycle."""

    STOPPED = "stopped"
    """Never started, stopped, or ended by itself."""
    RUNNING = "running"
    STOPPING = "stopping"
    """Asked to stop, still finishing what it was doing (a :meth:`Background.stop` that timed out)."""


class Background(abc.ABC):
    """The life cycle of background work: subclasses implement ``_launch``, ``_halt`` and ``_alive``.

    Thread-safe: :meth:`start` and :meth:`stop` are serialized by one lock.
    """

    def __init__(self) -> None:
        self.stop_requested = threading.Event()
        """Set by :meth:`stop`, cleared by :meth:`start`: the work ends once it sees it (wait on it to sleep)."""
        self._life = threading.Lock()
        self._last_error: Exception | None = None

    @property
    def name(self) -> str:
        """What the thread and the log lines are called; the class name unless a subclass says better."""
        return type(self).__name__

    @abc.abstractmethod
    def _launch(self) -> None:
        """Begin the work; called by :meth:`start` under the life-cycle lock, with the stop flag clear."""

    @abc.abstractmethod
    def _halt(self, timeout: float) -> bool:
        """End the work and release what it holds; True once it ended, False if it still runs after ``timeout``.

        Called by :meth:`stop` with the stop flag set, also when the work ended by itself or never started.
        """

    @abc.abstractmethod
    def _alive(self) -> bool:
        """Whether the work still runs (its thread or process lives), stop requested or not."""

    def start(self) -> Self:
        """Start the work; a no-op while it runs.

        Raises:
            RuntimeError: A previous :meth:`stop` timed out and the work still runs.
        """
        with self._life:
            if self._alive():
                if self.stop_requested.is_set():
                    raise RuntimeError(f"{self.name} is still stopping; call stop() again first")
                return self
            self.stop_requested.clear()
            self._last_error = None
            self._launch()
            return self

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the work to end and wait up to ``timeout`` seconds for it.

        Returns:
            True if it ended (or never ran); False if it still runs after ``timeout``
            (a warning is logged; it ends once it sees the stop flag, and :meth:`stop` may be called again).
        """
        with self._life:
            self.stop_requested.set()
            if self._halt(timeout):
                return True
            logger.warning("%s did not stop within %.1f s; it ends after what it is doing", self.name, timeout)
            return False

    @property
    def state(self) -> BackgroundState:
        """Stopped, running, or stopping (asked to stop, not ended yet)."""
        if not self._alive():
            return BackgroundState.STOPPED
        return BackgroundState.STOPPING if self.stop_requested.is_set() else BackgroundState.RUNNING

    @property
    def is_running(self) -> bool:
        """True while the work runs and was not asked to stop."""
        return self.state is BackgroundState.RUNNING

    @property
    def last_error(self) -> Exception | None:
        """The last exception the work caught and survived (or ended on), since the last :meth:`start`."""
        return self._last_error

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class BackgroundThread(Background):
    """A daemon thread named :attr:`name` that calls :meth:`step` until stopped or told to end.

    :meth:`stop` interrupts the wait between steps at once, never a step: a step that blocks
    (on Redis, say) ends first, which is what ``stop(timeout)`` returning False reports.
    """

    def __init__(self) -> None:
        super().__init__()
        self._thread: threading.Thread | None = None

    @abc.abstractmethod
    def step(self) -> float | None:
        """Do one unit of work, in the thread.

        Returns:
            Seconds to wait before the next step (0 for at once), or None to end the thread.
        """

    def on_error(self, exc: Exception, failures: int) -> float | None:
        """Called in the thread when :meth:`step` raised; by default logs the traceback and backs off.

        Args:
            exc: What the step raised (also :attr:`last_error` now).
            failures: How many steps in a row have raised, this one included.

        Returns:
            Seconds to wait before the next step (here 0.1 s, doubling per failure up to 5 s), or None to end.
        """
        logger.exception("%s: a step failed (%d in a row)", self.name, failures)
        return min(0.1 * 2 ** (failures - 1), 5.0)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the thread ends (stopped, or ended by itself); True if it has ended."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self._alive()

    def _launch(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def _halt(self, timeout: float) -> bool:
        return self.wait(timeout)

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        failures = 0
        while not self.stop_requested.is_set():
            try:
                delay = self.step()
                failures = 0
            except Exception as exc:  # the thread survives it; on_error says what to do next
                failures += 1
                self._last_error = exc
                delay = self.on_error(exc, failures)
            if delay is None:
                return
            self.stop_requested.wait(delay)

"""StreamingWorker: a background thread that keeps streaming features fresh.

The stand-in for a Flink / Kafka Streams job (the Redis docs demo's ``streaming_worker.rs``).
Every tick it takes the next ``users_per_tick`` entities of a round (every entity under the
store's prefix once, in a shuffled order) and writes fresh streaming features through
:meth:`FeatureStore.update_streaming_many` with the tick's time as their event time, so
every write carries its field TTL and no older event can overwrite it. Pause it for longer
than the streaming TTL and the streaming fields drop out while the batch fields stay.

    >>> with StreamingWorker(store, tick_seconds=0.5) as worker:
    ...     ...                                  # the thread writes meanwhile
    >>> reset_store(store, worker)               # race-free: no in-flight write survives

A reset holds the worker still (:meth:`StreamingWorker.hold`): no tick writes until it
has finished, and a :meth:`~StreamingWorker.toggle`, :meth:`~StreamingWorker.resume` or
:meth:`~StreamingWorker.start` meanwhile waits for it (``TimeoutError`` after ``timeout``),
so a toggle during a reset acts on the state after it and zero entities remain.
"""

from __future__ import annotations

import enum
import logging
import math
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Self

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ClusterDownError

from fslib.background import BackgroundThread
from fslib.checks import check_count, check_seconds, check_ttl
from fslib.connection import client_address
from fslib.store import FeatureStore
from fslib.synth import streaming_features

__all__ = [
    "DEFAULT_TICK_SECONDS",
    "DEFAULT_USERS_PER_TICK",
    "StreamingWorker",
    "WorkerStats",
    "WorkerStatus",
    "next_slot",
    "reset_store",
]

logger = logging.getLogger(__name__)

DEFAULT_TICK_SECONDS = 1.0
"""A worker's period by default: the Redis docs demo's one tick a second."""

DEFAULT_USERS_PER_TICK = 50
"""Entities a worker writes per tick by default: at one tick a second, a load of 200 users is
covered within 4 ticks, and 15,000 well within the default 5 min streaming TTL."""

_ID_REFRESH_SECONDS = 5.0
"""How long the cached entity id list is trusted before a new ``SCAN`` (which adds new entities to the round)."""

_OUTAGE_ERRORS = (redis.ConnectionError, redis.TimeoutError, ClusterDownError)
"""What a tick raises while Redis cannot be reached: logged once per outage, without a traceback."""

_HOLD_WAIT_SECONDS = 30.0
"""How long start(), resume() and toggle() wait for a hold (a reset) to end, by default."""


class WorkerStatus(enum.StrEnum):
    """Where a :class:`StreamingWorker` is in its life cycle."""

    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"


@dataclass(frozen=True)
class WorkerStats:
    """Counters of one :class:`StreamingWorker` (a snapshot)."""

    ticks: int = 0
    """Ticks that ran while not paused, failed ones included."""
    writes: int = 0
    """Entities given fresh streaming features (one streaming write each, by ``update_streaming_many``)."""
    errors: int = 0
    """Ticks that raised."""
    last_tick_at: float | None = None
    """Wall-clock time (``time.time()``) the last tick ended, or None."""
    last_error: str | None = None
    """``"ExceptionType: message"`` of the last failed tick, or None."""


def next_slot(previous: float, now: float, period: float) -> float:
    """The first slot of the grid ``previous + k * period`` (k >= 1) after ``now``.

    Slots missed while a tick ran long or the worker backed off are skipped,
    not bunched up (tokio's ``MissedTickBehavior::Skip``).
    """
    missed = max(0, math.floor((now - previous) / period))
    return previous + (missed + 1) * period


class StreamingWorker(BackgroundThread):
    """A daemon thread writing streaming features on a fixed tick (a :class:`~fslib.background.BackgroundThread`).

    ``is_running`` is True while the thread lives and was not asked to stop,
    paused or not; ``status`` tells running from paused. After :meth:`pause`
    returns and :meth:`wait_for_idle` answered True, no write of this worker
    lands until :meth:`resume`.

    Each entity is written once per round: a round is every known entity in a
    shuffled order, so ``n`` entities are all written within ``ceil(n / users_per_tick)``
    ticks of the round's start, and the entities a ``SCAN`` finds mid-round join it.
    :meth:`forget_entities` (after a bulk load or a reset) starts a new round at the next tick.

    Only entities with a key TTL, i.e. of the batch cycle, are written (one
    pipelined ``TTL`` per tick). An entity that expires or is deleted in the
    instant between that check and the write comes back with streaming fields
    only and no key TTL; the worker never picks it again, so it vanishes when
    their field TTL runs out. :func:`reset_store` has no such window.

    Args:
        store: The store to write to (its prefix bounds which entities are touched).
        tick_seconds: Time between ticks.
        users_per_tick: Entities updated per tick (fewer if fewer are left in the round).
        seed: Seed of the random stream (which entities, which values).
        streaming_ttl_seconds: Field TTL of each write; the store's default when None.
        max_backoff_seconds: Upper bound of the wait after consecutive failed ticks.

    Raises:
        TypeError, ValueError: An argument is out of range (the message names it).
    """

    def __init__(
        self,
        store: FeatureStore,
        tick_seconds: float = DEFAULT_TICK_SECONDS,
        users_per_tick: int = DEFAULT_USERS_PER_TICK,
        seed: int | None = 1337,
        streaming_ttl_seconds: int | None = None,
        *,
        max_backoff_seconds: float = 2.0,
    ) -> None:
        if not isinstance(store, FeatureStore):
            raise TypeError(f"store must be a FeatureStore, got {type(store).__name__}")
        super().__init__()
        self.store = store
        self.tick_seconds = check_seconds(tick_seconds, "tick_seconds")
        self.users_per_tick = check_count(users_per_tick, "users_per_tick")
        self.streaming_ttl_seconds = (
            store.streaming_ttl_seconds
            if streaming_ttl_seconds is None
            else check_ttl(streaming_ttl_seconds, "streaming_ttl_seconds")
        )
        max_backoff = check_seconds(max_backoff_seconds, "max_backoff_seconds")
        self._backoff = ExponentialBackoff(cap=max_backoff, base=min(self.tick_seconds, max_backoff))
        self._rng = random.Random(seed)
        # One lock guards the pause and in-flight flags, the holds and the stats;
        # wait_for_idle() and the waits for a hold's end sleep on it instead of polling.
        self._state = threading.Condition()
        self._paused = False
        self._in_flight = False
        self._holds = 0  # hold() blocks open: ticks do not write, start/resume/toggle wait
        self._stats = WorkerStats()
        self._slot = time.monotonic()  # when the current tick was due; step() may run without the thread
        self._ids: list[str] = []
        self._ids_fetched_at = -math.inf
        self._round: list[str] = []  # the entities still to write this round, in order
        self._forgotten = 0  # bumped by forget_entities(): a tick's SCAN from before it is not kept
        self._outage: tuple[float, int] | None = None  # (started at, failed ticks) while Redis is unreachable

    def __repr__(self) -> str:
        return (
            f"StreamingWorker(prefix={self.store.key_prefix!r}, tick_seconds={self.tick_seconds}, "
            f"users_per_tick={self.users_per_tick}, {self.status.value})"
        )

    # -- life cycle ----------------------------------------------------------

    def start(self, *, timeout: float = _HOLD_WAIT_SECONDS) -> Self:
        """Start the thread, unpaused; a no-op if it already runs. Waits for a :meth:`hold` to end first.

        Raises:
            RuntimeError: A previous :meth:`stop` timed out and its thread still runs.
            TimeoutError: A hold (a reset) did not end within ``timeout`` seconds.
        """
        with self._state:
            self._wait_for_release(timeout)
        return super().start()

    def _launch(self) -> None:
        with self._state:
            self._paused = False
        self._slot = time.monotonic()  # the first tick at once
        super()._launch()

    def pause(self) -> None:
        """Stop future ticks from writing; a tick in flight may still finish (see :meth:`wait_for_idle`)."""
        with self._state:
            self._paused = True

    def resume(self, *, timeout: float = _HOLD_WAIT_SECONDS) -> None:
        """Let ticks write again, once a :meth:`hold` (a reset) has ended.

        Raises:
            TimeoutError: A hold did not end within ``timeout`` seconds; the worker stays paused.
        """
        with self._state:
            self._wait_for_release(timeout)
            self._paused = False

    def toggle(self, *, timeout: float = _HOLD_WAIT_SECONDS) -> WorkerStatus:
        """Start a stopped worker, pause a running one, resume a paused one.

        During a :meth:`hold` (a reset) it waits for the hold to end, then acts on the status after it.

        Returns:
            The new status.

        Raises:
            TimeoutError: A hold did not end within ``timeout`` seconds; nothing changed.
        """
        with self._state:
            self._wait_for_release(timeout)
        status = self.status
        if status is WorkerStatus.STOPPED:
            self.start(timeout=timeout)
        elif status is WorkerStatus.RUNNING:
            self.pause()
        else:
            self.resume(timeout=timeout)
        return self.status

    @contextmanager
    def hold(self, timeout: float = 5.0) -> Iterator[None]:
        """Hold the worker still for a block: no tick writes inside it, whatever else is called.

        Waits for a tick in flight first. Meanwhile :meth:`start`, :meth:`resume` and
        :meth:`toggle` wait until the block ends; :meth:`pause` and :meth:`stop` act at once.
        The status does not change: a running worker is running again after the block.

        Args:
            timeout: Seconds to wait for a tick in flight.

        Raises:
            TimeoutError: A tick was still in flight after ``timeout``; the block did not run.
        """
        with self._state:
            self._holds += 1
        try:
            if not self.wait_for_idle(timeout):
                raise TimeoutError(f"the streaming worker was still inside a tick after {timeout} s")
            yield
        finally:
            with self._state:
                self._holds -= 1
                self._state.notify_all()

    def _wait_for_release(self, timeout: float) -> None:
        """With ``self._state`` held: return once no :meth:`hold` is open."""
        if not self._state.wait_for(lambda: self._holds == 0, timeout):
            raise TimeoutError(f"a reset still held the streaming worker after {timeout} s; retry shortly")

    def wait_for_idle(self, timeout: float = 5.0) -> bool:
        """Block until no tick is in flight.

        Returns:
            True once idle, False if a tick was still running after ``timeout`` seconds.
        """
        with self._state:
            return self._state.wait_for(lambda: not self._in_flight, timeout)

    @property
    def name(self) -> str:
        """The name of the worker thread (one per store prefix, for logs and leak checks)."""
        return f"fslib-worker[{self.store.key_prefix}]"

    @property
    def is_paused(self) -> bool:
        """True while running but paused."""
        return self.is_running and self._paused

    @property
    def status(self) -> WorkerStatus:
        """Stopped, running or paused."""
        if not self.is_running:
            return WorkerStatus.STOPPED
        return WorkerStatus.PAUSED if self._paused else WorkerStatus.RUNNING

    # -- counters ------------------------------------------------------------

    def stats(self) -> WorkerStats:
        """A snapshot of the counters (thread-safe)."""
        with self._state:
            return self._stats

    def reset_stats(self) -> None:
        """Set every counter back to zero."""
        with self._state:
            self._stats = WorkerStats()

    def forget_entities(self) -> None:
        """Drop the cached entity ids and the round: the next tick looks them up and starts a new round.

        Call it after a bulk load (the new entities are written from the next tick on) or a reset.
        """
        with self._state:
            self._ids, self._round = [], []
            self._ids_fetched_at = -math.inf
            self._forgotten += 1

    # -- the thread ----------------------------------------------------------

    def step(self) -> float:
        """One tick, unless paused or held; returns the seconds until the next slot of the grid."""
        # The in-flight flag goes up before the pause check, under the same
        # lock pause() takes: a pause() + wait_for_idle() either sees this
        # tick in flight and waits for it, or this tick sees the pause.
        with self._state:
            self._in_flight = True
            paused = self._paused or self._holds > 0
        try:
            if not paused:
                self._tick()
                self._end_outage()
        finally:
            with self._state:
                self._in_flight = False
                self._state.notify_all()
        return self._until_next_slot(time.monotonic())

    def on_error(self, exc: Exception, failures: int) -> float:
        """A failed tick (counted by :meth:`_tick`): log it, and back off on top of the grid.

        A traceback for a failed tick, but one warning per outage: a dead server fails every tick alike.
        """
        if not isinstance(exc, _OUTAGE_ERRORS):
            self._end_outage()  # Redis answered, with an error
            logger.exception("streaming worker tick failed (%d in a row)", failures)
        elif self._outage is None:
            self._outage = (time.monotonic(), 1)
            logger.warning(
                "streaming worker [%s]: Redis at %s is unreachable (%s: %s); ticks fail until it is back",
                self.store.key_prefix, client_address(self.store.client), type(exc).__name__, exc,
            )  # fmt: skip
        else:
            self._outage = (self._outage[0], self._outage[1] + 1)
        # The backoff, so a dead server is not hammered; then the next slot, so ticks stay on the grid.
        return self._until_next_slot(time.monotonic() + self._backoff.compute(failures - 1))

    def _until_next_slot(self, after: float) -> float:
        self._slot = next_slot(self._slot, after, self.tick_seconds)
        return max(0.0, self._slot - time.monotonic())

    def _end_outage(self) -> None:
        if self._outage is not None:
            started, failed = self._outage
            self._outage = None
            # A warning like the start's, so a log that shows one shows the other.
            logger.warning(
                "streaming worker [%s]: Redis at %s is back after %.1f s (%d failed ticks)",
                self.store.key_prefix, client_address(self.store.client), time.monotonic() - started, failed,
            )  # fmt: skip

    def _tick(self) -> None:
        writes = 0
        try:
            now_ms = int(time.time() * 1000)
            events = {entity_id: streaming_features(self._rng, now_ms) for entity_id in self._pick_entities()}
            if events:  # a streaming write per entity with the tick's event time, one round trip per chunk
                result = self.store.update_streaming_many(events, self.streaming_ttl_seconds, event_time=now_ms)
                writes = result.entities
        except Exception as exc:  # counted while still in flight, so a reset after it zeroes the count
            self._record(errors=1, last_error=f"{type(exc).__name__}: {exc}")
            self.forget_entities()  # a restarted server may have lost them
            raise
        finally:
            self._record(ticks=1, writes=writes)

    def _pick_entities(self) -> list[str]:
        """The next ``users_per_tick`` entities of the round that are of the batch cycle (with a key TTL)."""
        now = time.monotonic()
        with self._state:
            ids, fetched_at, round_, forgotten = self._ids, self._ids_fetched_at, self._round, self._forgotten
        if not ids or now - fetched_at > _ID_REFRESH_SECONDS:
            known, fetched_at = set(ids), now
            ids = self.store.list_entity_ids()
            added = [entity_id for entity_id in ids if entity_id not in known]
            round_ = round_ + self._rng.sample(added, len(added))  # new entities join this round
        if not round_:  # a new round: every entity once
            round_ = self._rng.sample(ids, len(ids))
        picked, round_ = round_[: self.users_per_tick], round_[self.users_per_tick :]
        with self._state:
            if forgotten == self._forgotten:  # else a reset or a load came meanwhile: the next tick looks again
                self._ids, self._ids_fetched_at, self._round = ids, fetched_at, round_
        if not picked:
            return []
        # Writing to a deleted or expired entity creates a hash of streaming fields
        # only, without a key TTL; so write only entities with a key TTL (one round
        # trip). Such a hash, made when an entity expires between this check and the
        # write, is never picked again: its fields expire and it is gone.
        pipe = self.store.client.pipeline(transaction=False)
        for entity_id in picked:
            pipe.ttl(self.store.key_for(entity_id))
        key_ttls = pipe.execute()  # an entity deleted or expired since the SCAN drops out of the round
        return [entity_id for entity_id, ttl in zip(picked, key_ttls, strict=True) if ttl > 0]

    def _record(self, *, ticks: int = 0, writes: int = 0, errors: int = 0, last_error: str | None = None) -> None:
        with self._state:
            old = self._stats
            self._stats = replace(
                old,
                ticks=old.ticks + ticks,
                writes=old.writes + writes,
                errors=old.errors + errors,
                last_tick_at=time.time(),
                last_error=last_error if errors else old.last_error,
            )


def reset_store(store: FeatureStore, worker: StreamingWorker | None = None, *, timeout: float = 5.0) -> int:
    """Delete every entity under the store's prefix without racing the worker (the Redis docs demo's ``/reset``).

    Holds the worker still (:meth:`StreamingWorker.hold`: waits until no tick is in flight, and
    no tick writes until the end), deletes with ``SCAN`` + ``UNLINK`` and resets the worker's
    counters. A toggle, resume or start meanwhile waits for the reset to finish, so no write of
    the worker survives it; the worker's status is the same afterwards.

    Args:
        store: The store to empty (only its prefix is touched).
        worker: The worker writing to it, if any.
        timeout: Seconds to wait for an in-flight tick.

    Returns:
        How many keys were deleted.

    Raises:
        TimeoutError: A tick was still in flight after ``timeout``; nothing was deleted.
    """
    if worker is None:
        return store.reset()
    with worker.hold(timeout):
        deleted = store.reset()
        worker.forget_entities()
        worker.reset_stats()
    return deleted

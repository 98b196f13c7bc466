"""The Redis docs demo's page as an ipywidgets dashboard for JupyterLab: the actions and their results.

Every panel calls a plain method of :class:`Dashboard` that notebooks and tests call too;
the widgets only render the results (they live in :mod:`fslib.lab.dashboard_view`). The worker
panel is :class:`~fslib.lab.widgets.WorkerControls`, the periodic redraw a
:class:`~fslib.lab.widgets.Refresher` task on the kernel's event loop.

    >>> dash = Dashboard(key_prefix="nb06:user:")   # resets the prefix, loads 200 users
    >>> dash                                         # in a notebook: shows the panels
    >>> dash.read_features("u0001", ["risk_segment", "tx_count_5m"]).values
    >>> dash.close()
"""

from __future__ import annotations

import asyncio
import numbers
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as w
import pandas as pd

from fslib.checks import check_feature_names
from fslib.connection import connect, resolve_url
from fslib.inspection import EntityInspection
from fslib.lab.dashboard_view import (
    DashboardView,
    describe_error,
    features_html,
    format_duration,
    html_line,
    html_notes,
    html_table,
    ttl_text,
)
from fslib.lab.widgets import Refresher, plural
from fslib.schema import FeatureValue
from fslib.stats import StoreStats
from fslib.store import FeatureStore
from fslib.synth import entity_id, synthesize_users
from fslib.urls import mask_url
from fslib.worker import StreamingWorker, WorkerStats, WorkerStatus, reset_store

__all__ = [
    "BatchScoreResult",
    "Dashboard",
    "DashboardState",
    "MaterializeResult",
    "ReadResult",
    "clamp",
    "describe_error",
]

_OPEN: weakref.WeakSet[Dashboard] = weakref.WeakSet()  # so a new dashboard can close its predecessor


def clamp(value: object, bounds: tuple[int, int], what: str, *, refuse_below: str = "") -> tuple[int, str | None]:
    """Limit a whole number to the inclusive ``bounds``, with a note for the user when it had to change.

    Args:
        value: What the user typed.
        bounds: ``(low, high)``.
        what: The input's name, for the note.
        refuse_below: If given, a value below ``low`` raises instead, ending with these words.

    Raises:
        TypeError: ``value`` is not a whole number.
        ValueError: ``value`` is below ``low`` and ``refuse_below`` is given.
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{what} must be a whole number, got {value!r}")
    (low, high), number = bounds, int(value)
    if number < low and refuse_below:
        raise ValueError(f"{what} must be at least {low:,}, got {number:,}: {refuse_below}")
    if number < low:
        return low, f"{what} {number:,} is below the minimum {low:,}: used {low:,}"
    if number > high:
        return high, f"{what} {number:,} is above the maximum {high:,}: used {high:,}"
    return number, None


# -- results ------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardState:
    """What the store-state panel shows (a snapshot); ``batch_ttl_seconds`` is what the last bulk load used."""

    redis_url: str  # masked: safe to show
    key_prefix: str
    entity_count: int
    batch_ttl_seconds: int
    streaming_ttl_seconds: int
    users_per_tick: int
    tick_seconds: float
    store_stats: StoreStats
    worker_status: WorkerStatus
    worker_stats: WorkerStats

    def _repr_html_(self) -> str:
        stats, users = self.store_stats, self.entity_count
        refresh = f"{plural(self.users_per_tick, 'user')} per {self.tick_seconds:g} s tick"
        if users:  # the worker picks users at random: each comes up about every users/users_per_tick ticks
            refresh += f": each user about every {self.tick_seconds * max(1, users / self.users_per_tick):.3g} s"
        rows = {
            "Redis": self.redis_url,
            "key prefix": f"{self.key_prefix}*",
            "entities": f"{users:,}",
            "batch TTL (key, last load)": f"{self.batch_ttl_seconds:,} s",
            "streaming TTL (field)": f"{self.streaming_ttl_seconds:,} s",
            "worker refresh": refresh,
            "batch writes": f"{stats.batch_writes:,}",
            "streaming writes": f"{stats.streaming_writes:,}",
            "entities read": f"{stats.reads:,}",
            "fields read": f"{stats.fields_read:,}",
        }
        return html_table((), [([name, value], "") for name, value in rows.items()], "fslib-state-table")


@dataclass(frozen=True)
class MaterializeResult:
    """One bulk load of synthetic users, with a note for each input that was clamped."""

    written: int
    ttl_seconds: int
    elapsed_seconds: float
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """What was written and how fast."""
        rate = self.written / max(self.elapsed_seconds, 1e-9)
        return (
            f"Bulk-loaded {plural(self.written, 'user')} with key TTL {self.ttl_seconds:,} s "
            f"in {format_duration(self.elapsed_seconds)} ({rate:,.0f} users/s)."
        )

    def _repr_html_(self) -> str:
        return html_notes(self.notes) + html_line("ok", self.summary)


@dataclass(frozen=True)
class ReadResult:
    """An inference read: one ``HMGET`` (its latency), then ``TTL`` (-1 none, -2 no entity) and ``HTTL``.

    ``frame`` has one row per requested feature: ``feature``, ``kind`` (batch, streaming,
    unknown), ``value`` (None when missing), ``field_ttl_seconds`` (-1 key TTL only, -2 gone).
    """

    entity_id: str
    key_ttl_seconds: int
    latency_seconds: float
    frame: pd.DataFrame

    @property
    def values(self) -> dict[str, FeatureValue]:
        """Feature name -> typed value, for the features that were present."""
        return {name: value for name, value in zip(self.frame["feature"], self.frame["value"]) if value is not None}

    def _repr_html_(self) -> str:
        latency = f"HMGET latency {format_duration(self.latency_seconds)}"
        if self.key_ttl_seconds == -2:  # what the Redis docs demo's model handler detects
            summary = f"{self.entity_id}: entity missing: fall back to defaults ({latency})"
        else:
            present = f"{len(self.values)}/{len(self.frame)} features present"
            summary = f"{self.entity_id}: key TTL {ttl_text(self.key_ttl_seconds, 'none')}, {latency}, {present}"
        return features_html(summary, self.frame, "fslib-read-table")


@dataclass(frozen=True)
class BatchScoreResult:
    """A pipelined ``HMGET`` across many users, timed whole (one round trip, decoding included).

    ``frame`` has the users as rows, the features as columns, nullable dtypes, ``<NA>`` where missing;
    ``found`` counts the users with any of them.
    """

    requested: int
    found: int
    fields_returned: int
    latency_seconds: float
    frame: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def per_entity_seconds(self) -> float:
        """Latency divided by the users read."""
        return self.latency_seconds / self.requested

    def _repr_html_(self) -> str:
        summary = (
            f"{plural(self.requested, 'user')} in one pipeline: {format_duration(self.latency_seconds)} total, "
            f"{self.per_entity_seconds * 1e6:.1f} µs per user; {self.found:,} found, "
            f"{plural(self.fields_returned, 'field')} returned"
        )
        sample = self.frame.head(5).astype(object)  # a row mixes dtypes: each cell keeps its own (7, not 7.0)
        rows = [([index, *row], "") for index, row in sample.iterrows()]
        return (
            html_notes(self.notes)
            + html_line("summary", summary)
            + html_table(["entity", *sample], rows, "fslib-score-table")
        )


# -- the dashboard ------------------------------------------------------------


class Dashboard:
    """The Redis docs demo server as an object: a store, a streaming worker, and panels.

    Like the demo server's start-up, the constructor drops every entity under ``key_prefix`` (unless
    ``no_reset``), bulk-loads ``initial_users`` synthetic users and starts the worker. Display it in a
    notebook for the panels and their auto-refresh; :meth:`close` (or a ``with`` block) stops both.
    An open dashboard on the same Redis and prefix is closed first, so re-running a cell never leaves
    the old worker writing.

    Args:
        redis_url: ``redis://`` URL; default ``REDIS_URL``, else the embedded Redis 8.
        key_prefix: Where the dashboard's users live; reset only touches this prefix.
        no_reset: Keep the users already under the prefix.
        initial_users: Users to bulk-load at start-up (0 for none).
        batch_ttl_seconds: Default key-level TTL of a bulk load.
        streaming_ttl_seconds: Field TTL of every streaming write.
        tick_seconds: Seconds between the worker's ticks.
        users_per_tick: Users the worker rewrites per tick, picked at random: size it
            so every user is rewritten well within the streaming TTL.
        start_worker: Start the worker now (else the first press of Start does).
        refresh_seconds: Period of the panels' auto-refresh while shown.
        seed: Seed of the synthetic users.

    Raises:
        TypeError, ValueError: A setting is invalid.
        redis.ConnectionError: Redis cannot be reached at start-up.
        RedisVersionError: Redis is older than 7.4.
    """

    COUNT_RANGE = (1, 100_000)
    """Users one bulk load may write."""
    TTL_RANGE = (5, 172_800)
    """Key TTL of a bulk load, in seconds: 5 s up to two daily cycles."""
    SCORE_RANGE = (1, 10_000)
    """Users one batch-scoring read may cover."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        key_prefix: str = "dash:user:",
        no_reset: bool = False,
        initial_users: int = 200,
        batch_ttl_seconds: int = 24 * 60 * 60,
        streaming_ttl_seconds: int = 5 * 60,
        tick_seconds: float = 1.0,
        users_per_tick: int = 5,
        start_worker: bool = True,
        refresh_seconds: float = 1.5,
        seed: int = 42,
    ) -> None:
        self.refresher = Refresher(self._refresh_step, refresh_seconds)  # displaying the dashboard starts it
        if initial_users != 0:  # checked before anything runs
            clamp(initial_users, self.COUNT_RANGE, "initial_users", refuse_below="nothing was loaded")
        self.seed = seed
        url = resolve_url(redis_url)
        self.redis_url = mask_url(url)
        for other in list(_OPEN):
            if (other.redis_url, other.store.key_prefix) == (self.redis_url, key_prefix):
                other.close()
        self._client = connect(url, retry_attempts=3)  # few retries: a dead server shows within seconds
        self._closed = False
        self._view: DashboardView | None = None
        try:
            self.store: FeatureStore = FeatureStore(self._client, key_prefix, batch_ttl_seconds, streaming_ttl_seconds)
            self._last_load_ttl = self.store.batch_ttl_seconds
            self.worker = StreamingWorker(
                self.store, tick_seconds, users_per_tick, streaming_ttl_seconds=streaming_ttl_seconds
            )
            if not no_reset:
                reset_store(self.store, self.worker)
            if initial_users:
                self.materialize(initial_users)
            if start_worker:
                self.worker.start()
        except BaseException:  # a bad setting or a dead server: close the connection, stop the worker
            self.close()
            raise
        _OPEN.add(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else self.worker.status.value
        return f"Dashboard(redis_url={self.redis_url!r}, key_prefix={self.store.key_prefix!r}, worker={state})"

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this dashboard is closed; create a new Dashboard")

    # -- the actions every panel calls -----------------------------------------

    def state(self) -> DashboardState:
        """Entity count (``SCAN``), TTLs, read/write counters and worker status."""
        self._check_open()
        store, worker = self.store, self.worker
        return DashboardState(
            redis_url=self.redis_url,
            key_prefix=store.key_prefix,
            entity_count=store.count_entities(),
            batch_ttl_seconds=self._last_load_ttl,
            streaming_ttl_seconds=worker.streaming_ttl_seconds,
            users_per_tick=worker.users_per_tick,
            tick_seconds=worker.tick_seconds,
            store_stats=store.stats(),
            worker_status=worker.status,
            worker_stats=worker.stats(),
        )

    def materialize(self, count: int = 200, ttl_seconds: int | None = None) -> MaterializeResult:
        """Bulk-load synthetic users ``u0001``..``u{count}`` with a key-level TTL (``HSET`` + ``EXPIRE``).

        Args:
            count: Users to write, at least 1; above the maximum of :attr:`COUNT_RANGE` clamped with a note.
            ttl_seconds: Key TTL, clamped to :attr:`TTL_RANGE` with a note; default the store's batch TTL.

        Raises:
            TypeError: ``count`` or ``ttl_seconds`` is not a whole number.
            ValueError: ``count`` is below 1 (nothing is written).
        """
        self._check_open()
        count, count_note = clamp(count, self.COUNT_RANGE, "count", refuse_below="nothing was loaded")
        ttl = self.store.batch_ttl_seconds if ttl_seconds is None else ttl_seconds
        ttl, ttl_note = clamp(ttl, self.TTL_RANGE, "TTL")
        started = time.perf_counter()
        written = self.store.bulk_load(synthesize_users(count, seed=self.seed), ttl_seconds=ttl)
        elapsed = time.perf_counter() - started
        self._last_load_ttl = ttl
        return MaterializeResult(written, ttl, elapsed, tuple(note for note in (count_note, ttl_note) if note))

    def read_features(self, entity_id: str, names: Sequence[str]) -> ReadResult:
        """An inference read of any subset of features (one ``HMGET``), then their TTLs for display.

        Raises:
            TypeError, ValueError: Bad id or names, or no feature picked.
        """
        self._check_open()
        wanted = check_feature_names(names)
        if not wanted:
            raise ValueError("pick at least one feature to read")
        started = time.perf_counter()
        values = self.store.get_features(entity_id, wanted, decode=True)
        latency = time.perf_counter() - started
        ttls = self.store.field_ttls_seconds(entity_id, wanted)
        kinds = {spec.name: spec.kind.value for spec in self.store.schema}
        rows = [(name, kinds.get(name, "unknown"), values.get(name), ttls[name]) for name in wanted]
        frame = pd.DataFrame(rows, columns=["feature", "kind", "value", "field_ttl_seconds"], dtype=object)
        return ReadResult(str(entity_id), self.store.key_ttl_seconds(entity_id), latency, frame)

    def batch_score(self, count: int = 100, names: Sequence[str] | None = None) -> BatchScoreResult:
        """Read users ``u0001``..``u{count}``: one ``HMGET`` each, in one pipelined round trip.

        Args:
            count: Users to read, at least 1; above the maximum of :attr:`SCORE_RANGE` clamped with a note.
            names: Features to read; default every feature of the schema.

        Raises:
            TypeError, ValueError: ``count`` is not a whole number >= 1, or a name is bad.
        """
        self._check_open()
        count, note = clamp(count, self.SCORE_RANGE, "count", refuse_below="nothing was read")
        wanted = self.store.schema.names if names is None else check_feature_names(names)
        if not wanted:
            raise ValueError("pick at least one feature to read")
        ids = [entity_id(i) for i in range(1, count + 1)]
        started = time.perf_counter()
        frame = self.store.batch_get_frame(ids, wanted)
        latency, present = time.perf_counter() - started, frame.notna()
        found, fields = int(present.any(axis=1).sum()), int(present.to_numpy().sum())
        return BatchScoreResult(count, found, fields, latency, frame, (note,) if note else ())

    def inspect(self, entity_id: str) -> EntityInspection:
        """The whole hash of one user, field TTLs and key TTL (``HGETALL`` + ``TTL`` + ``HTTL``; debugging only)."""
        self._check_open()
        return self.store.inspect(entity_id)

    def reset(self) -> int:
        """Drop every user under the prefix, race-free with the worker (:func:`~fslib.reset_store`): how many."""
        self._check_open()
        return reset_store(self.store, self.worker)

    # -- display, refresh, close -----------------------------------------------

    @property
    def widget(self) -> w.Widget:
        """The panels (built on first use)."""
        if self._view is None:
            self._view = DashboardView(self)
            self.refresh()
        return self._view.root

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if not self._closed:
            self.refresher.start()  # shown in a notebook: keep the panels fresh
        return bundle

    def _read_state(self) -> DashboardState | Exception:
        try:
            return self.state()
        except Exception as exc:  # shown in the panel, which must survive any failure
            return exc

    def refresh(self) -> None:
        """Redraw the store-state and worker panels now (a failure shows in the panel)."""
        if self._view is not None and not self._closed:
            self._view.show_state(self._read_state())

    async def _refresh_step(self) -> bool:
        if self._view is not None and not self._closed:
            # Redis off the loop (a dead server must not freeze the kernel), the widgets on it.
            self._view.show_state(await asyncio.to_thread(self._read_state))
        return not self._closed

    def close(self, timeout: float = 10.0) -> bool:
        """Stop the auto-refresh and the worker, grey out the panels, close the connection; keeps the data.

        Returns:
            True if the worker thread has ended (idempotent).
        """
        if self._closed:
            return True
        _OPEN.discard(self)
        self.refresher.stop()
        worker = getattr(self, "worker", None)  # absent when the constructor failed early
        stopped = worker.stop(timeout) if worker is not None else True
        self._closed = True
        if self._view is not None:
            self._view.show_closed()
        self._client.close()
        return stopped

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The Redis docs demo's page as an ipywidgets dashboard for JupyterLab: a view of :class:`fslib.demo.Demo`.

Every panel calls a plain method of :class:`Dashboard` that notebooks and tests call too; each
runs one action of its :class:`~fslib.demo.Demo` (the model the HTTP demo API serves as well) and
returns the demo's result. The widgets only render them (:mod:`fslib.lab.dashboard_view`). The worker
panel is :class:`~fslib.lab.widgets.WorkerControls`, the periodic redraw a
:class:`~fslib.lab.widgets.Refresher` task on the kernel's event loop.

    >>> dash = Dashboard(key_prefix="nb06:user:")   # resets the prefix, loads 200 users
    >>> dash                                         # in a notebook: shows the panels
    >>> dash.read_features("u0001", ["risk_segment", "tx_count_5m"]).values
    >>> dash.close()
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from fslib.connection import connect, resolve_url
from fslib.core import DEFAULT_BATCH_TTL_SECONDS, DEFAULT_STREAMING_TTL_SECONDS
from fslib.demo import (
    BATCH_READ_RANGE,
    LOAD_RANGE,
    TTL_RANGE,
    BatchReadResult,
    Demo,
    DemoState,
    MaterializeResult,
    ReadResult,
    clamp,
)
from fslib.inspection import EntityInspection
from fslib.lab.dashboard_view import DashboardView, describe_error, register_html
from fslib.lab.widgets import Refresher
from fslib.store import FeatureStore
from fslib.urls import mask_url
from fslib.worker import DEFAULT_TICK_SECONDS, DEFAULT_USERS_PER_TICK, StreamingWorker

__all__ = ["Dashboard", "clamp", "describe_error"]

_OPEN: weakref.WeakSet[Dashboard] = weakref.WeakSet()  # so a new dashboard can close its predecessor


class Dashboard:
    """The Redis docs demo server as an object: a :class:`~fslib.demo.Demo` (store and streaming worker) and panels.

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
        users_per_tick: Users the worker rewrites per tick, each once a round: size it
            so every user is rewritten well within the streaming TTL.
        start_worker: Start the worker now (else the first press of Start does).
        refresh_seconds: Period of the panels' auto-refresh while shown.
        seed: Seed of the synthetic users.

    Raises:
        TypeError, ValueError: A setting is invalid.
        redis.ConnectionError: Redis cannot be reached at start-up.
        RedisVersionError: Redis is older than 7.4.
    """

    COUNT_RANGE = LOAD_RANGE
    """Users one bulk load may write (:data:`fslib.demo.LOAD_RANGE`)."""
    TTL_RANGE = TTL_RANGE
    """Key TTL of a bulk load, in seconds (:data:`fslib.demo.TTL_RANGE`)."""
    SCORE_RANGE = BATCH_READ_RANGE
    """Users one batch-scoring read may cover (:data:`fslib.demo.BATCH_READ_RANGE`)."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        key_prefix: str = "dash:user:",
        no_reset: bool = False,
        initial_users: int = 200,
        batch_ttl_seconds: int = DEFAULT_BATCH_TTL_SECONDS,
        streaming_ttl_seconds: int = DEFAULT_STREAMING_TTL_SECONDS,
        tick_seconds: float = DEFAULT_TICK_SECONDS,
        users_per_tick: int = DEFAULT_USERS_PER_TICK,
        start_worker: bool = True,
        refresh_seconds: float = 1.5,
        seed: int = 42,
    ) -> None:
        self.refresher = Refresher(self._refresh_step, refresh_seconds)  # displaying the dashboard starts it
        if initial_users != 0:  # checked before anything runs
            clamp(initial_users, LOAD_RANGE, "initial_users", refuse_below="nothing was loaded")
        url = resolve_url(redis_url)
        for other in list(_OPEN):
            if (other.redis_url, other.store.key_prefix) == (mask_url(url), key_prefix):
                other.close()
        self._client = connect(url, retry_attempts=3)  # few retries: a dead server shows within seconds
        self._closed = False
        self._view: DashboardView | None = None
        try:
            store = FeatureStore(self._client, key_prefix, batch_ttl_seconds, streaming_ttl_seconds)
            worker = StreamingWorker(store, tick_seconds, users_per_tick, streaming_ttl_seconds=streaming_ttl_seconds)
            self.demo = Demo(worker, redis_url=url, seed=seed)
            if not no_reset:
                self.demo.reset()
            if initial_users:
                self.demo.materialize(initial_users)
            if start_worker:
                worker.start()
        except BaseException:  # a bad setting or a dead server: close the connection, stop the worker
            self.close()
            raise
        register_html()  # in a notebook, a result ending a cell shows as in its panel
        _OPEN.add(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else self.worker.status.value
        return f"Dashboard(redis_url={self.redis_url!r}, key_prefix={self.store.key_prefix!r}, worker={state})"

    @property
    def redis_url(self) -> str:
        """Where the store is, password masked."""
        return self.demo.redis_url

    @property
    def store(self) -> FeatureStore:
        """The demo's store."""
        return self.demo.store

    @property
    def worker(self) -> StreamingWorker:
        """The demo's streaming worker."""
        return self.demo.worker

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def _live(self) -> Demo:
        if self._closed:
            raise RuntimeError("this dashboard is closed; create a new Dashboard")
        return self.demo

    # -- the actions every panel calls: the demo's ---------------------------------

    def state(self) -> DemoState:
        """Entity count (``SCAN``), TTLs, read/write counters and worker status."""
        return self._live.state()

    def materialize(self, count: int = 200, ttl_seconds: int | None = None) -> MaterializeResult:
        """Bulk-load synthetic users ``u0001``..``u{count}`` with a key TTL (:meth:`fslib.demo.Demo.materialize`).

        Raises:
            TypeError: ``count`` or ``ttl_seconds`` is not a whole number.
            ValueError: ``count`` is below 1 (nothing is written).
        """
        return self._live.materialize(count, ttl_seconds)

    def read_features(
        self, entity_id: str, names: Sequence[str], *, max_age_seconds: float | None = None
    ) -> ReadResult:
        """An inference read of any subset of features, statuses, TTLs and event ages (:meth:`fslib.demo.Demo.read`).

        Raises:
            TypeError, ValueError: Bad id, names or ``max_age_seconds``, or no feature picked.
        """
        return self._live.read(entity_id, names, max_age_seconds=max_age_seconds)

    def batch_score(
        self, count: int = 100, names: Sequence[str] | None = None, *, max_age_seconds: float | None = None
    ) -> BatchReadResult:
        """Read users ``u0001``..``u{count}`` in one pipelined round trip (:meth:`fslib.demo.Demo.batch_read`).

        Raises:
            TypeError, ValueError: ``count`` is not a whole number >= 1, or a bad name or ``max_age_seconds``.
        """
        return self._live.batch_read(count, names, max_age_seconds=max_age_seconds)

    def inspect(self, entity_id: str) -> EntityInspection:
        """The whole hash of one user, field TTLs and key TTL (``HGETALL`` + ``TTL`` + ``HTTL``; debugging only)."""
        return self._live.inspect(entity_id)

    def reset(self) -> int:
        """Drop every user under the prefix, race-free with the worker (:func:`~fslib.reset_store`): how many."""
        return self._live.reset()

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

    def _read_state(self) -> DemoState | Exception:
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
        demo = getattr(self, "demo", None)  # absent when the constructor failed early
        stopped = demo.worker.stop(timeout) if demo is not None else True
        self._closed = True
        if self._view is not None:
            self._view.show_closed()
        self._client.close()
        return stopped

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

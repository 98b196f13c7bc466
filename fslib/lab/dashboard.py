"""The seed's demo page as an ipywidgets dashboard for JupyterLab.

Every panel calls a plain method of :class:`Dashboard` (``materialize``,
``toggle_worker``, ``read_features``, ``batch_score``, ``inspect``, ``reset``,
``state``), which notebooks and tests call too; the widgets only render the
results. The dashboard owns a :class:`~fslib.FeatureStore`, a
:class:`~fslib.worker.StreamingWorker` and a daemon thread that refreshes the
store-state panel, and :meth:`Dashboard.close` stops both threads.

    >>> dash = Dashboard(key_prefix="nb06:user:")   # resets the prefix, loads 200 users
    >>> dash                                         # in a notebook: shows the panels
    >>> dash.read_features("u0001", ["risk_segment", "tx_count_5m"]).values
    >>> dash.close()
"""

from __future__ import annotations

import html
import logging
import numbers
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from redis.cluster import RedisCluster

from fslib.connection import connect, mask_url, resolve_url
from fslib.errors import FeatureStoreError
from fslib.schema import FeatureValue, Schema
from fslib.store import EntityInspection, FeatureStore, StoreStats
from fslib.synth import entity_id, synthesize_users
from fslib.worker import StreamingWorker, WorkerStats, WorkerStatus, reset_store

if TYPE_CHECKING:
    import ipywidgets
    import pandas as pd

__all__ = [
    "COUNT_RANGE",
    "SCORE_RANGE",
    "TTL_RANGE",
    "BatchScoreResult",
    "Dashboard",
    "DashboardState",
    "FieldReading",
    "MaterializeResult",
    "ReadResult",
    "clamp",
    "describe_error",
]

logger = logging.getLogger(__name__)

COUNT_RANGE: tuple[int, int] = (1, 100_000)
"""Users one bulk-load may write."""
TTL_RANGE: tuple[int, int] = (5, 172_800)
"""Key-level TTL of a bulk-load, in seconds (5 s up to two daily cycles)."""
SCORE_RANGE: tuple[int, int] = (1, 10_000)
"""Users one batch-scoring read may cover."""

_OPEN: weakref.WeakSet[Dashboard] = weakref.WeakSet()
"""Dashboards not closed yet; their threads keep them alive until :meth:`Dashboard.close`."""

_PICKER_LIMIT = 500  # user ids offered in the pickers; any id can still be typed
_SAMPLE_ROWS = 5
_DEFAULT_READ = ("risk_segment", "tx_count_7d", "avg_amount_30d", "tx_count_5m", "last_login_ts")


def clamp(value: object, bounds: tuple[int, int], what: str) -> tuple[int, str | None]:
    """Limit a whole number to ``bounds``, saying so when it had to change.

    Args:
        value: What the user typed.
        bounds: Inclusive ``(low, high)``.
        what: The input's name, for the note.

    Returns:
        The value within bounds, and a note for the user (None when unchanged).

    Raises:
        TypeError: ``value`` is not a whole number.
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{what} must be a whole number, got {value!r}")
    low, high = bounds
    number = int(value)
    if number < low:
        return low, f"{what} {number} is below the minimum {low:,}: used {low:,}"
    if number > high:
        return high, f"{what} {number:,} is above the maximum {high:,}: used {high:,}"
    return number, None


def describe_error(exc: BaseException, url: str) -> str:
    """A one-line, readable account of a failed action (no traceback).

    Args:
        exc: What the action raised.
        url: The Redis URL, shown with its password masked.
    """
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return (
            f"Redis is unreachable at {mask_url(url)} ({exc}). "
            "The dashboard keeps trying: repeat the action once Redis is back."
        )
    if isinstance(exc, (TypeError, ValueError)):
        return f"Bad input: {exc}"
    if isinstance(exc, (FeatureStoreError, redis.RedisError, RuntimeError)):
        return f"{type(exc).__name__}: {exc}"
    return f"Unexpected {type(exc).__name__}: {exc}"


def _as_list(names: Sequence[str]) -> Sequence[str]:
    # One string stays one string, for the store to refuse it by name.
    return names if isinstance(names, str) else list(names)


def _users(count: int) -> str:
    return f"{count:,} user" + ("" if count == 1 else "s")


def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _describe_ttl(seconds: int, none: str) -> str:
    if seconds == -2:
        return "gone"
    if seconds == -1:
        return none
    return f"{seconds} s"


def _kind_of(schema: Schema, name: str) -> str:
    spec = schema.get(name)
    return spec.kind.value if spec else "unknown"


# -- results ------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardState:
    """What the store-state and worker panels show (a snapshot)."""

    redis_url: str
    """Masked: safe to show."""
    key_prefix: str
    entity_count: int
    batch_ttl_seconds: int
    streaming_ttl_seconds: int
    store_stats: StoreStats
    worker_status: WorkerStatus
    worker_stats: WorkerStats

    def _repr_html_(self) -> str:
        stats = self.store_stats
        return _table(
            ["", ""],
            [
                (["Redis", self.redis_url], ""),
                (["key prefix", f"{self.key_prefix}*"], ""),
                (["entities", f"{self.entity_count:,}"], ""),
                (["batch TTL (key)", f"{self.batch_ttl_seconds:,} s"], ""),
                (["streaming TTL (field)", f"{self.streaming_ttl_seconds:,} s"], ""),
                (["batch writes", f"{stats.batch_writes:,}"], ""),
                (["streaming writes", f"{stats.streaming_writes:,}"], ""),
                (["entities read", f"{stats.reads:,}"], ""),
                (["fields read", f"{stats.fields_read:,}"], ""),
                (["worker", self.worker_status.value], ""),
            ],
            css_class="fslib-state-table",
        )


@dataclass(frozen=True)
class MaterializeResult:
    """One bulk-load of synthetic users."""

    written: int
    ttl_seconds: int
    elapsed_seconds: float
    notes: tuple[str, ...] = ()
    """Inputs that were out of range and clamped."""

    @property
    def summary(self) -> str:
        """What was written and how fast."""
        rate = f" ({self.written / self.elapsed_seconds:,.0f} users/s)" if self.elapsed_seconds > 0 else ""
        return (
            f"Bulk-loaded {_users(self.written)} with key TTL {self.ttl_seconds:,} s "
            f"in {_duration(self.elapsed_seconds)}{rate}."
        )

    @property
    def message(self) -> str:
        """The clamping notes, then the summary."""
        return " ".join([*self.notes, self.summary])

    def _repr_html_(self) -> str:
        return _notes_html(self.notes) + _ok_html(self.summary)


@dataclass(frozen=True)
class FieldReading:
    """One requested feature of an inference read."""

    name: str
    kind: str
    """``batch``, ``streaming`` or ``unknown`` (not in the schema)."""
    value: FeatureValue | None
    """None when the field is missing or expired."""
    field_ttl_seconds: int
    """``HTTL``: seconds left, -1 no field TTL (key TTL only), -2 gone."""


@dataclass(frozen=True)
class ReadResult:
    """An inference read: one ``HMGET``, then the TTLs for display."""

    entity_id: str
    key_ttl_seconds: int
    """-1 no expiry, -2 no such entity."""
    latency_seconds: float
    """Of the ``HMGET`` alone."""
    fields: tuple[FieldReading, ...]

    @property
    def values(self) -> dict[str, FeatureValue]:
        """Feature name -> typed value, for the features that were present."""
        return {f.name: f.value for f in self.fields if f.value is not None}

    def to_frame(self) -> pd.DataFrame:
        """One row per requested feature: value, kind and field TTL."""
        import pandas as pd

        return pd.DataFrame(
            [(f.name, f.kind, f.value, f.field_ttl_seconds) for f in self.fields],
            columns=["feature", "kind", "value", "field_ttl_seconds"],
        )

    def _repr_html_(self) -> str:
        rows = [
            _field_row(f.name, f.kind, "missing" if f.value is None else str(f.value), f.field_ttl_seconds)
            for f in self.fields
        ]
        summary = (
            f"{html.escape(self.entity_id)}: key TTL {_describe_ttl(self.key_ttl_seconds, 'none')}, "
            f"HMGET latency {_duration(self.latency_seconds)}, "
            f"{len(self.values)}/{len(self.fields)} features present"
        )
        return f"<div class='fslib-summary'>{summary}</div>" + _table(
            ["feature", "kind", "value", "field TTL"], rows, css_class="fslib-read-table"
        )


@dataclass(frozen=True)
class BatchScoreResult:
    """A pipelined ``HMGET`` across many users, as batch scoring does it."""

    requested: int
    found: int
    """Users that had at least one of the features."""
    fields_returned: int
    latency_seconds: float
    """Of the whole pipeline (one round trip) including decoding."""
    rows: dict[str, dict[str, Any]]
    names: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def per_entity_seconds(self) -> float:
        """Latency divided by the users read."""
        return self.latency_seconds / self.requested if self.requested else 0.0

    def sample_frame(self, n: int = _SAMPLE_ROWS) -> pd.DataFrame:
        """The first ``n`` users as a DataFrame (missing features are NaN)."""
        import pandas as pd

        sample = dict(list(self.rows.items())[:n])
        frame = pd.DataFrame.from_dict(sample, orient="index", columns=list(self.names))
        frame.index.name = "entity_id"
        return frame

    def _repr_html_(self) -> str:
        summary = (
            f"{_users(self.requested)} in one pipeline: {_duration(self.latency_seconds)} total, "
            f"{self.per_entity_seconds * 1e6:.1f} µs per user; {self.found:,} found, "
            f"{self.fields_returned:,} fields returned"
        )
        sample = self.sample_frame().astype(object).where(lambda frame: frame.notna(), "missing")
        rows = [([str(index), *map(str, values)], "") for index, values in zip(sample.index, sample.to_numpy())]
        return (
            _notes_html(self.notes)
            + f"<div class='fslib-summary'>{summary}</div>"
            + _table(["entity", *self.names], rows, css_class="fslib-score-table")
        )


# -- HTML helpers -------------------------------------------------------------

_KIND_STYLE = {
    "batch": "background:#e0ecff;color:#1d4ed8",
    "streaming": "background:#ffedd5;color:#c2410c",
}


def _table(headers: Sequence[str], rows: Sequence[tuple[Sequence[str], str]], css_class: str) -> str:
    """An HTML table; a row's second element is its kind, which colours it."""
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(h)}</th>" for h in headers)
    body = []
    for cells, kind in rows:
        style = _KIND_STYLE.get(kind, "")
        tds = "".join(f"<td style='padding:2px 8px'>{html.escape(c)}</td>" for c in cells)
        body.append(f"<tr class='fslib-{kind or 'row'}' style='{style}'>{tds}</tr>")
    header = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    return f"<table class='{css_class}' style='border-collapse:collapse'>{header}<tbody>{''.join(body)}</tbody></table>"


def _field_row(name: str, kind: str, value: str, ttl_seconds: int) -> tuple[list[str], str]:
    """One feature as a table row, coloured by its kind."""
    return [name, kind, value, _describe_ttl(ttl_seconds, "- (key TTL only)")], kind


def _ok_html(text: str) -> str:
    return f"<div class='fslib-ok' style='color:#166534'>{html.escape(text)}</div>"


def _notes_html(notes: Sequence[str]) -> str:
    return "".join(f"<div class='fslib-note' style='color:#a16207'>{html.escape(n)}</div>" for n in notes)


def _error_html(text: str) -> str:
    return f"<div class='fslib-error' style='color:#b91c1c'>{html.escape(text)}</div>"


def _inspection_html(inspection: EntityInspection, schema: Schema) -> str:
    if not inspection.exists:
        return _notes_html([str(inspection)])
    rows = [
        _field_row(name, _kind_of(schema, name), state.value, state.ttl_seconds)
        for name, state in inspection.fields.items()
    ]
    summary = f"{html.escape(inspection.key)}: key TTL {_describe_ttl(inspection.key_ttl_seconds, 'none')}"
    return f"<div class='fslib-summary'>{summary}</div>" + _table(
        ["field", "kind", "value", "field TTL"], rows, css_class="fslib-inspect-table"
    )


_BADGE_STYLE = {
    WorkerStatus.RUNNING: "background:#dcfce7;color:#166534",
    WorkerStatus.PAUSED: "background:#fef9c3;color:#854d0e",
    WorkerStatus.STOPPED: "background:#e5e7eb;color:#374151",
}


def _worker_html(worker: StreamingWorker, closed: bool = False) -> str:
    from fslib.lab.widgets import describe_worker  # needs ipywidgets, like every caller of this

    status = WorkerStatus.STOPPED if closed else worker.status
    label = "closed" if closed else status.value
    badge = (
        f"<span class='fslib-badge fslib-worker-{label}' "
        f"style='{_BADGE_STYLE[status]};padding:1px 10px;border-radius:10px'>{label}</span>"
    )
    return f"{badge} <span class='fslib-worker-counters'>{html.escape(describe_worker(worker))}</span>"


# -- the dashboard ------------------------------------------------------------


class Dashboard:
    """The seed's demo server as an object: a store, a streaming worker, and panels.

    Like the seed's start-up, the constructor drops every entity under
    ``key_prefix`` (unless ``no_reset``), bulk-loads ``initial_users``
    synthetic users and starts the worker. Display it in a notebook to get
    the panels and start the auto-refresh; call :meth:`close` (or use it as
    a context manager) to stop the worker and the refresher. An open
    dashboard on the same Redis and prefix is closed first, so re-running a
    notebook cell never leaves the old worker writing.

    Args:
        redis_url: ``redis://`` URL; default ``REDIS_URL``, else the embedded Redis 8.
        key_prefix: Where the dashboard's users live; reset only touches this prefix.
        no_reset: Keep the users already under the prefix.
        initial_users: Users to bulk-load at start-up (0 for none).
        batch_ttl_seconds: Default key-level TTL of a bulk-load.
        streaming_ttl_seconds: Field TTL of every streaming write.
        tick_seconds: Seconds between the worker's ticks.
        users_per_tick: Users the worker updates per tick.
        start_worker: Start the worker now (else the first Pause/Resume press starts it).
        refresh_seconds: Period of the store-state auto-refresh while shown.
        seed: Seed of the synthetic users.

    Raises:
        TypeError, ValueError: A setting is invalid.
        redis.ConnectionError: Redis cannot be reached at start-up.
        RedisVersionError: Redis is older than 7.4.
    """

    store: FeatureStore
    worker: StreamingWorker
    redis_url: str
    refresh_seconds: float
    seed: int
    _closed: bool
    _render_lock: threading.Lock
    _stop_refresh: threading.Event
    _client: redis.Redis | RedisCluster

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
        if not isinstance(refresh_seconds, numbers.Real) or not refresh_seconds > 0:
            raise ValueError(f"refresh_seconds must be > 0, got {refresh_seconds!r}")
        if initial_users != 0:
            clamp(initial_users, COUNT_RANGE, "initial_users")  # type check; clamped when loaded
        self.refresh_seconds = float(refresh_seconds)
        self.seed = seed
        url = resolve_url(redis_url)
        self.redis_url = mask_url(url)
        for other in list(_OPEN):
            if (other.redis_url, other.store.key_prefix) == (self.redis_url, key_prefix):
                logger.info("closing the previous dashboard on %s %s*", self.redis_url, key_prefix)
                other.close()
        # Few retries: a panel waiting on a dead server should say so within seconds.
        self._client = connect(url, retry_attempts=3)
        self._closed = False
        self._stop_refresh = threading.Event()
        self._refresher: threading.Thread | None = None
        self._render_lock = threading.Lock()
        self._view: _View | None = None
        try:
            self.store = FeatureStore(
                self._client,
                key_prefix=key_prefix,
                batch_ttl_seconds=batch_ttl_seconds,
                streaming_ttl_seconds=streaming_ttl_seconds,
            )
            self.worker = StreamingWorker(
                self.store,
                tick_seconds=tick_seconds,
                users_per_tick=users_per_tick,
                streaming_ttl_seconds=streaming_ttl_seconds,
            )
            if not no_reset:
                reset_store(self.store, self.worker)
            if initial_users:
                self.materialize(initial_users)
            if start_worker:
                self.worker.start()
        except BaseException:
            self.close()
            raise
        _OPEN.add(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else self.worker.status.value
        return f"Dashboard(redis_url={self.redis_url!r}, key_prefix={self.store.key_prefix!r}, worker={state})"

    # -- the actions every panel calls -----------------------------------------

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this dashboard is closed; create a new Dashboard")

    def state(self) -> DashboardState:
        """Entity count, TTLs, read/write counters and worker status."""
        self._check_open()
        return DashboardState(
            redis_url=self.redis_url,
            key_prefix=self.store.key_prefix,
            entity_count=self.store.count_entities(),
            batch_ttl_seconds=self.store.batch_ttl_seconds,
            streaming_ttl_seconds=self.store.streaming_ttl_seconds,
            store_stats=self.store.stats(),
            worker_status=self.worker.status,
            worker_stats=self.worker.stats(),
        )

    def materialize(self, count: int = 200, ttl_seconds: int | None = None) -> MaterializeResult:
        """Bulk-load ``count`` synthetic users (``u0001``..) with a key-level TTL.

        Args:
            count: Users to write, clamped to :data:`COUNT_RANGE`.
            ttl_seconds: Key TTL, clamped to :data:`TTL_RANGE`; default the store's batch TTL.

        Returns:
            What was written, how long it took, and any clamping notes.

        Raises:
            TypeError: ``count`` or ``ttl_seconds`` is not a whole number.
        """
        self._check_open()
        count, count_note = clamp(count, COUNT_RANGE, "count")
        ttl, ttl_note = clamp(self.store.batch_ttl_seconds if ttl_seconds is None else ttl_seconds, TTL_RANGE, "TTL")
        started = time.perf_counter()
        written = self.store.bulk_load(synthesize_users(count, seed=self.seed), ttl_seconds=ttl)
        elapsed = time.perf_counter() - started
        notes = tuple(note for note in (count_note, ttl_note) if note)
        return MaterializeResult(written, ttl, elapsed, notes)

    def toggle_worker(self) -> WorkerStatus:
        """Pause a running worker, resume a paused one, start a stopped one.

        Returns:
            The status after the press.
        """
        self._check_open()
        return self.worker.toggle()

    def read_features(self, entity_id: str, names: Sequence[str]) -> ReadResult:
        """An inference read (one ``HMGET``), with field and key TTLs for display.

        Args:
            entity_id: The user.
            names: Any subset of features, in the order to show them.

        Raises:
            TypeError, ValueError: Bad id or names, or no feature picked.
        """
        self._check_open()
        names = _as_list(names)
        if not names:
            raise ValueError("pick at least one feature to read")
        started = time.perf_counter()
        values = self.store.get_features(entity_id, names, decode=True)
        latency = time.perf_counter() - started
        ttls = self.store.field_ttls_seconds(entity_id, names)
        key_ttl = self.store.key_ttl_seconds(entity_id)
        fields = tuple(
            FieldReading(name, _kind_of(self.store.schema, name), values.get(name), int(ttls[name])) for name in names
        )
        return ReadResult(str(entity_id), key_ttl, latency, fields)

    def batch_score(self, count: int = 100, names: Sequence[str] | None = None) -> BatchScoreResult:
        """Read features of users ``u0001``..``u{count}`` in one pipelined round trip.

        Args:
            count: Users to read, clamped to :data:`SCORE_RANGE`.
            names: Features to read; default every feature of the schema.

        Raises:
            TypeError, ValueError: ``count`` is not a whole number or a name is bad.
        """
        self._check_open()
        count, note = clamp(count, SCORE_RANGE, "count")
        wanted = self.store.schema.names if names is None else _as_list(names)
        if not wanted:
            raise ValueError("pick at least one feature to read")
        ids = [entity_id(i) for i in range(1, count + 1)]
        started = time.perf_counter()
        rows = self.store.batch_get_features(ids, wanted, decode=True)
        latency = time.perf_counter() - started
        return BatchScoreResult(
            requested=count,
            found=sum(1 for row in rows.values() if row),
            fields_returned=sum(len(row) for row in rows.values()),
            latency_seconds=latency,
            rows=rows,
            names=tuple(wanted),
            notes=(note,) if note else (),
        )

    def inspect(self, entity_id: str) -> EntityInspection:
        """The full hash of one user with field TTLs and key TTL (debugging only)."""
        self._check_open()
        return self.store.inspect(entity_id)

    def reset(self) -> int:
        """Drop every user under the prefix, race-free with the worker.

        Returns:
            How many keys were deleted.
        """
        self._check_open()
        return reset_store(self.store, self.worker)

    # -- display and auto-refresh -----------------------------------------------

    @property
    def widget(self) -> ipywidgets.Widget:
        """The panels (built on first use)."""
        if self._view is None:
            self._view = _View(self)
            self.refresh()
        return self._view.root

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        # Shown in a notebook: render the panels and keep them fresh.
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if not self._closed:
            self.refresh()
            self.start_auto_refresh()
        return bundle

    def refresh(self) -> None:
        """Redraw the store-state and worker panels now (errors show in the panel)."""
        if self._view is None:
            return
        with self._render_lock:
            self._view.show_state()

    def start_auto_refresh(self) -> None:
        """Refresh the panels every ``refresh_seconds`` on a daemon thread (idempotent)."""
        self._check_open()
        if self._refresher is not None and self._refresher.is_alive():
            return
        self._stop_refresh.clear()
        self._refresher = threading.Thread(target=self._refresh_loop, name="fslib-dashboard-refresh", daemon=True)
        self._refresher.start()

    def stop_auto_refresh(self, timeout: float = 10.0) -> bool:
        """Stop the refresher thread.

        Returns:
            True if it has ended (or never ran).
        """
        self._stop_refresh.set()
        thread, self._refresher = self._refresher, None
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _refresh_loop(self) -> None:
        while not self._stop_refresh.wait(self.refresh_seconds):
            try:
                self.refresh()
            except Exception:  # the panel shows Redis errors itself; anything else must not end the loop
                logger.exception("dashboard auto-refresh failed")

    def close(self, timeout: float = 10.0) -> bool:
        """Stop the refresher and the worker, disable the panels and close the connection.

        Idempotent. Does not delete any data (call :meth:`reset` first for that).

        Returns:
            True if both threads have ended.
        """
        if self._closed:
            return True
        _OPEN.discard(self)
        refresher_done = self.stop_auto_refresh(timeout)
        worker = getattr(self, "worker", None)
        worker_done = worker.stop(timeout) if worker is not None else True
        self._closed = True
        if self._view is not None:
            with self._render_lock:
                self._view.show_closed()
        self._client.close()
        return refresher_done and worker_done

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_TOGGLE_LABEL = {WorkerStatus.RUNNING: "Pause", WorkerStatus.PAUSED: "Resume", WorkerStatus.STOPPED: "Start"}


class _View:
    """The widgets of one :class:`Dashboard`; every callback calls one of its methods."""

    def __init__(self, dash: Dashboard) -> None:
        import ipywidgets as w

        self.dash = dash
        schema = dash.store.schema
        wide = {"description_width": "initial"}
        prefix = html.escape(dash.store.key_prefix)

        self.state_html = w.HTML()
        self.state_status = w.HTML()

        self.count = w.IntText(value=200, description="users", style=wide, layout=w.Layout(width="170px"))
        self.ttl = w.IntText(
            value=dash.store.batch_ttl_seconds, description="key TTL (s)", style=wide, layout=w.Layout(width="200px")
        )
        self.count.add_class("fslib-count")
        self.ttl.add_class("fslib-ttl")
        self.load_button = self._button("Bulk-load", "fslib-materialize", "primary")
        self.load_out = w.HTML()

        self.worker_html = w.HTML()
        self.toggle_button = self._button("Pause / Resume", "fslib-toggle", "warning")
        self.toggle_out = w.HTML()

        self.read_user = self._user_picker("fslib-read-user")
        self.read_names = w.SelectMultiple(
            options=[(f"{spec.name}  ·  {spec.kind.value}", spec.name) for spec in schema],
            value=[name for name in _DEFAULT_READ if name in schema],
            rows=len(schema),
            description="features",
            style=wide,
            layout=w.Layout(width="340px"),
        )
        self.read_button = self._button("Read features", "fslib-read", "primary")
        self.read_out = w.HTML()

        self.score_count = w.IntText(value=100, description="users", style=wide, layout=w.Layout(width="170px"))
        self.score_button = self._button("Pipeline HMGET", "fslib-score", "primary")
        self.score_out = w.HTML(layout=w.Layout(max_width="100%", overflow="auto"))  # 11 columns may not fit

        self.inspect_user = self._user_picker("fslib-inspect-user")
        self.inspect_button = self._button("Inspect", "fslib-inspect", "info")
        self.inspect_out = w.HTML()

        self.reset_button = self._button("Reset…", "fslib-reset", "danger")
        self.confirm_button = self._button("Yes, drop them", "fslib-reset-confirm", "danger")
        self.cancel_button = self._button("Cancel", "fslib-reset-cancel", "")
        self.confirm_box = w.HBox(
            [w.HTML(f"Drop every user under <code>{prefix}*</code>?"), self.confirm_button, self.cancel_button],
            layout=w.Layout(display="none"),
        )
        self.reset_out = w.HTML()

        self.load_button.on_click(lambda _: self._run(self.load_out, self._materialize))
        self.toggle_button.on_click(lambda _: self._run(self.toggle_out, self._toggle))
        self.read_button.on_click(lambda _: self._run(self.read_out, self._read))
        self.score_button.on_click(lambda _: self._run(self.score_out, self._score))
        self.inspect_button.on_click(lambda _: self._run(self.inspect_out, self._inspect))
        self.reset_button.on_click(lambda _: self._ask_reset())
        self.confirm_button.on_click(lambda _: self._run(self.reset_out, self._confirm_reset))
        self.cancel_button.on_click(lambda _: self._cancel_reset())

        box = {"border": "1px solid #d1d5db", "padding": "4px 10px", "margin": "4px"}
        panels = {
            "state": self._panel("Store state", [self.state_html, self.state_status], box, "1 1 260px"),
            "worker": self._panel("Streaming worker", [self.worker_html, self.toggle_button, self.toggle_out], box),
            "load": self._panel(
                "Materialize (batch path)",
                [w.HBox([self.count, self.ttl]), self.load_button, self.load_out],
                box,
            ),
            "reset": self._panel("Reset", [self.reset_button, self.confirm_box, self.reset_out], box),
            "read": self._panel(
                "Inference read (one HMGET)",
                [w.HBox([w.VBox([self.read_user, self.read_names, self.read_button]), self.read_out])],
                box,
            ),
            "score": self._panel(
                "Batch scoring (pipelined HMGET, users u0001..)",
                [w.HBox([self.score_count, self.score_button]), self.score_out],
                box,
            ),
            "inspect": self._panel(
                "Inspect (HGETALL + HTTL, debugging only)",
                [w.HBox([self.inspect_user, self.inspect_button]), self.inspect_out],
                box,
            ),
        }
        title = w.HTML(
            f"<h3 style='margin:4px'>fslib feature-store dashboard</h3>"
            f"<div style='margin:0 4px'>Redis at <code>{html.escape(dash.redis_url)}</code>, "
            f"users under <code>{prefix}*</code>; "
            f"<span style='{_KIND_STYLE['batch']};padding:0 6px'>batch</span> features live as long as the key TTL, "
            f"<span style='{_KIND_STYLE['streaming']};padding:0 6px'>streaming</span> ones "
            "carry their own field TTL.</div>"
        )
        side = w.VBox([panels["worker"], panels["load"], panels["reset"]], layout=w.Layout(flex="1 1 360px"))
        self.root = w.VBox(
            [
                title,
                w.HBox([panels["state"], side], layout=w.Layout(flex_flow="row wrap")),
                panels["read"],
                panels["score"],
                panels["inspect"],
            ]
        )
        self.root.add_class("fslib-dashboard")
        self._run(self.state_status, self._fill_pickers)

    @staticmethod
    def _button(description: str, css_class: str, style: str) -> ipywidgets.Button:
        import ipywidgets as w

        button = w.Button(description=description, button_style=style, layout=w.Layout(width="max-content"))
        button.add_class(css_class)
        return button

    @staticmethod
    def _user_picker(css_class: str) -> ipywidgets.Combobox:
        import ipywidgets as w

        picker = w.Combobox(value="u0001", placeholder="user id, e.g. u0001", description="user", ensure_option=False)
        picker.layout.width = "220px"
        picker.add_class(css_class)
        return picker

    @staticmethod
    def _panel(title: str, children: list[Any], box: dict[str, str], flex: str = "0 0 auto") -> ipywidgets.VBox:
        import ipywidgets as w

        panel = w.VBox([w.HTML(f"<b>{html.escape(title)}</b>"), *children], layout=w.Layout(flex=flex, **box))
        panel.add_class("fslib-panel")
        return panel

    def _run(self, out: ipywidgets.HTML, action: Callable[[], str]) -> None:
        # A panel must survive any failure: show the message, never a traceback.
        try:
            out.value = action()
        except Exception as exc:
            logger.debug("dashboard action failed", exc_info=True)
            out.value = _error_html(describe_error(exc, self.dash.redis_url))
        self.dash.refresh()

    def _fill_pickers(self) -> str:
        ids = tuple(self.dash.store.list_entity_ids(limit=_PICKER_LIMIT))
        self.read_user.options = ids
        self.inspect_user.options = ids
        return ""

    def _materialize(self) -> str:
        result = self.dash.materialize(self.count.value, self.ttl.value)
        self._fill_pickers()
        return result._repr_html_()

    def _toggle(self) -> str:
        return _ok_html(f"worker {self.dash.toggle_worker().value}")

    def _read(self) -> str:
        return self.dash.read_features(self.read_user.value.strip(), self.read_names.value)._repr_html_()

    def _score(self) -> str:
        return self.dash.batch_score(self.score_count.value)._repr_html_()

    def _inspect(self) -> str:
        return _inspection_html(self.dash.inspect(self.inspect_user.value.strip()), self.dash.store.schema)

    def _ask_reset(self) -> None:
        self.confirm_box.layout.display = "flex"
        self.reset_out.value = _notes_html(["Confirm to drop every user, or cancel."])

    def _cancel_reset(self) -> None:
        self.confirm_box.layout.display = "none"
        self.reset_out.value = _ok_html("Reset cancelled: nothing was deleted.")

    def _confirm_reset(self) -> str:
        self.confirm_box.layout.display = "none"
        deleted = self.dash.reset()
        self._fill_pickers()
        return _ok_html(f"Dropped {deleted:,} users under {self.dash.store.key_prefix}*.")

    def show_state(self) -> None:
        """Redraw the store-state and worker panels (call with the render lock held)."""
        if self.dash.closed:
            return
        try:
            state = self.dash.state()
        except Exception as exc:
            logger.debug("dashboard refresh failed", exc_info=True)
            self.state_status.value = _error_html(describe_error(exc, self.dash.redis_url))
        else:
            self.state_html.value = state._repr_html_()
            self.state_status.value = (
                f"<span class='fslib-updated' style='color:#6b7280'>updated {time.strftime('%H:%M:%S')}</span>"
            )
        # The worker panel needs no Redis: it stays live while Redis is down.
        self.worker_html.value = _worker_html(self.dash.worker)
        self.toggle_button.description = _TOGGLE_LABEL[self.dash.worker.status]

    def show_closed(self) -> None:
        """Grey out the panels of a closed dashboard."""
        for button in (
            self.load_button,
            self.toggle_button,
            self.read_button,
            self.score_button,
            self.inspect_button,
            self.reset_button,
            self.confirm_button,
            self.cancel_button,
        ):
            button.disabled = True
        self.worker_html.value = _worker_html(self.dash.worker, closed=True)
        self.state_status.value = _notes_html(
            ["Dashboard closed: worker and auto-refresh stopped. Create a new Dashboard to start again."]
        )

"""Watching TTLs run out: every field's TTL and the key TTL, once or over time.

The mixed-staleness story as data: a snapshot (:func:`snapshot_ttls`) is one
pipelined round trip of ``HPTTL`` (every schema feature) and ``PTTL`` per
entity, so a notebook can plot streaming fields dropping out while batch
fields stay, and then the key-level TTL taking the whole entity.

TTLs run on the server's clock, not the reader's: the one sampler,
:class:`ExpiryRecorder`, takes snapshots in a background thread from the
moment it matters, so a story told cell by cell holds however long the reader
pauses between cells.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fslib.background import BackgroundThread
from fslib.checks import check_entity_ids, check_seconds
from fslib.freshness import FeatureVectors
from fslib.store import FeatureStore

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SAMPLE_COLUMNS",
    "STATUS_COLUMNS",
    "ExpiryRecorder",
    "expiry_times",
    "live_field_counts",
    "snapshot_ttls",
]

SAMPLE_COLUMNS = ["t_s", "entity_id", "feature", "kind", "field_ttl_ms", "key_ttl_ms"]
"""Columns of :func:`snapshot_ttls` and :meth:`ExpiryRecorder.ttls`.

``field_ttl_ms`` and ``key_ttl_ms`` use Redis's answers: milliseconds left,
-1 no TTL of its own, -2 absent (never written, expired, or the whole entity gone).
"""


STATUS_COLUMNS = ["t_s", "entity_id", "feature", "kind", "status"]
"""Columns of :meth:`ExpiryRecorder.statuses`: what a model server's read said about each feature.

``status`` is a :class:`fslib.FeatureStatus` value: present, expired, missing, entity_missing.
"""


def _check_ids(entity_ids: Sequence[str]) -> list[str]:
    ids = check_entity_ids(entity_ids)
    if not ids:
        raise ValueError("entity_ids must not be empty")
    return ids


def _snapshot_rows(store: FeatureStore, ids: list[str], t_s: float) -> list[tuple[float, str, str, str, int, int]]:
    names = store.schema.names
    kinds = [store.schema[name].kind.value for name in names]
    pipe = store.client.pipeline(transaction=False)
    for entity_id in ids:
        key = store.key_for(entity_id)
        pipe.hpttl(key, *names)
        pipe.pttl(key)
    replies = pipe.execute()
    rows: list[tuple[float, str, str, str, int, int]] = []
    for index, entity_id in enumerate(ids):
        field_ttls, key_ttl = replies[2 * index], int(replies[2 * index + 1])
        rows.extend(
            (t_s, entity_id, name, kind, int(ttl), key_ttl) for name, kind, ttl in zip(names, kinds, field_ttls)
        )
    return rows


def snapshot_ttls(store: FeatureStore, entity_ids: Sequence[str], t_s: float = 0.0) -> pd.DataFrame:
    """Every schema feature's TTL and the key TTL of some entities, in one round trip.

    Args:
        store: Whose prefix and schema to use.
        entity_ids: The entities to look at.
        t_s: Value of the ``t_s`` column (seconds on the caller's clock).

    Returns:
        One row per entity and feature, columns :data:`SAMPLE_COLUMNS`.

    Raises:
        TypeError, ValueError: ``entity_ids`` is empty, one string, or holds a bad id.
    """
    import pandas as pd

    ids = _check_ids(entity_ids)
    return pd.DataFrame(_snapshot_rows(store, ids, t_s), columns=SAMPLE_COLUMNS)


def live_field_counts(samples: pd.DataFrame) -> pd.DataFrame:
    """How many batch and streaming fields each entity still has, per sample.

    Args:
        samples: :meth:`ExpiryRecorder.ttls` or :func:`snapshot_ttls` output.

    Returns:
        Columns ``t_s``, ``entity_id``, ``batch``, ``streaming`` (live field counts)
        and ``key_ttl_ms``, one row per sample and entity.

    Raises:
        ValueError: A column of :data:`SAMPLE_COLUMNS` is missing.
    """
    missing = [c for c in SAMPLE_COLUMNS if c not in samples.columns]
    if missing:
        raise ValueError(f"live_field_counts: the samples lack column(s) {missing}")
    live = samples.assign(live=samples["field_ttl_ms"] != -2)
    counts = live.pivot_table(index=["t_s", "entity_id"], columns="kind", values="live", aggfunc="sum", fill_value=0)
    counts = counts.reindex(columns=["batch", "streaming"], fill_value=0).astype(int)
    key_ttl = live.groupby(["t_s", "entity_id"])["key_ttl_ms"].first()
    return counts.join(key_ttl).reset_index().rename_axis(columns=None)


def expiry_times(counts: pd.DataFrame, after: float = 0.0) -> pd.DataFrame:
    """When each entity lost its streaming fields and then its key, from samples taken after ``after``.

    Times are those of the first sample that saw the change: the change
    happened at most one sampling interval earlier.

    Args:
        counts: :func:`live_field_counts` output.
        after: Only samples at or after this ``t_s`` count (e.g. when the worker was paused).

    Returns:
        One row per entity (index ``entity_id``): ``streaming_gone_s`` (first sample
        without a streaming field, NaN if none), ``gone_s`` (first sample without the
        key, NaN if none), ``batch_only_samples`` (samples holding batch fields only)
        and ``came_back`` (a layer reappeared after a sample saw it gone: someone wrote).

    Raises:
        ValueError: A column of :func:`live_field_counts` output is missing.
    """
    missing = [c for c in ("t_s", "entity_id", "batch", "streaming", "key_ttl_ms") if c not in counts.columns]
    if missing:
        raise ValueError(f"expiry_times: the counts lack column(s) {missing}")
    later = counts[counts["t_s"] >= after].sort_values("t_s")
    streaming_gone = later["streaming"] == 0
    gone = later["key_ttl_ms"] == -2
    by = later.assign(
        streaming_gone_s=later["t_s"].where(streaming_gone),
        gone_s=later["t_s"].where(gone),
        batch_only=streaming_gone & (later["batch"] > 0),
        # Once gone, a layer stays gone unless written again: a gone layer followed by a live one.
        came_back=(streaming_gone.groupby(later["entity_id"]).cummax() & ~streaming_gone)
        | (gone.groupby(later["entity_id"]).cummax() & ~gone),
    ).groupby("entity_id")
    return by.agg(
        streaming_gone_s=("streaming_gone_s", "min"),
        gone_s=("gone_s", "min"),
        batch_only_samples=("batch_only", "sum"),
        came_back=("came_back", "any"),
    )


class ExpiryRecorder(BackgroundThread):
    """Sample TTLs and a model server's view of some entities in a background thread.

    Each sample is two round trips: :func:`snapshot_ttls` (``HPTTL`` + ``PTTL``
    per entity) and :meth:`FeatureStore.batch_get_feature_vectors` (the status
    of each feature, as a model server reads it). The thread ends on
    :meth:`stop`, by itself ``tail_seconds`` after it first saw every entity
    gone (nothing more can change), after ``max_seconds``, or on a failed sample.

        >>> recorder = ExpiryRecorder(store, ids).start()
        >>> worker.pause(); recorder.mark("worker paused")
        >>> recorder.wait_until_gone(timeout=60)     # returns at once if that happened already
        >>> recorder.stop(); recorder.ttls(), recorder.statuses()

    Args:
        store: Whose prefix and schema to use.
        entity_ids: The entities to watch.
        features: The features a model server reads; every schema feature by default.
        interval_seconds: Time between samples.
        max_seconds: The longest the thread samples, if neither stopped nor every entity gone.
        tail_seconds: How long to go on sampling once every entity is gone, so a plot shows the end.

    Raises:
        TypeError, ValueError: Bad ids, a feature the schema does not know, or an
            interval, bound or tail that is not positive.
    """

    def __init__(
        self,
        store: FeatureStore,
        entity_ids: Sequence[str],
        features: Sequence[str] | None = None,
        *,
        interval_seconds: float = 0.25,
        max_seconds: float = 120.0,
        tail_seconds: float = 0.5,
    ) -> None:
        super().__init__()
        self.store = store
        self.entity_ids = _check_ids(entity_ids)
        self.features = list(store.schema.names if features is None else features)
        unknown = [name for name in self.features if name not in store.schema]
        if unknown or not self.features:
            raise ValueError(f"features must be names the schema knows, got unknown {unknown or 'none at all'}")
        self.interval_seconds = check_seconds(interval_seconds, "interval_seconds")
        self.max_seconds = check_seconds(max_seconds, "max_seconds")
        self.tail_seconds = check_seconds(tail_seconds, "tail_seconds", allow_zero=True)
        self._kinds = {name: store.schema[name].kind.value for name in self.features}
        self._lock = threading.Lock()
        self._ttl_rows: list[tuple[float, str, str, str, int, int]] = []
        self._vectors: list[tuple[float, FeatureVectors]] = []
        self._events: dict[str, float] = {}
        self._t0: float | None = None
        self._next_at = 0.0
        self._gone_at: float | None = None
        self._ended_because: str | None = None

    def __repr__(self) -> str:
        state = "running" if self.is_running else (self._ended_because or "not started")
        return f"ExpiryRecorder({len(self.entity_ids)} entities, {len(self._vectors)} samples, {state})"

    @property
    def name(self) -> str:
        """The name of the sampling thread (one per store prefix)."""
        return f"fslib-expiry[{self.store.key_prefix}]"

    def _launch(self) -> None:
        """Start sampling; ``t_s`` counts from now. A recorder records one story: a second start raises."""
        if self._t0 is not None:
            raise RuntimeError(f"{self!r} was started already; make a new recorder for a new story")
        self._t0 = self._next_at = time.monotonic()
        super()._launch()

    def now(self) -> float:
        """Seconds since :meth:`start`, on the clock of the samples' ``t_s``."""
        return round(time.monotonic() - (self._t0 or 0.0), 3)

    def mark(self, label: str) -> float:
        """Note that something happened now (e.g. ``"worker paused"``); returns its ``t_s``."""
        at = self.now()
        with self._lock:
            self._events[label] = at
        return at

    @property
    def events(self) -> dict[str, float]:
        """Label -> ``t_s`` of every :meth:`mark`, in order."""
        with self._lock:
            return dict(self._events)

    def step(self) -> float | None:
        """One sample; None once every entity was gone for ``tail_seconds``, or after ``max_seconds``."""
        now = time.monotonic()
        t_s = self.now()
        rows = _snapshot_rows(self.store, self.entity_ids, t_s)
        vectors = self.store.batch_get_feature_vectors(self.entity_ids, self.features)
        with self._lock:
            self._ttl_rows.extend(rows)
            self._vectors.append((t_s, vectors))
        if self._gone_at is None and all(row[5] == -2 for row in rows):
            self._gone_at = now
        if self._gone_at is not None and now - self._gone_at >= self.tail_seconds:
            self._ended_because = "gone"
            return None
        if t_s >= self.max_seconds:
            self._ended_because = "max_seconds"
            return None
        # A fixed grid; slots missed on a busy machine are skipped, not bunched up.
        self._next_at = max(self._next_at + self.interval_seconds, time.monotonic())
        return self._next_at - time.monotonic()

    def on_error(self, exc: Exception, failures: int) -> float | None:
        """End on a failed sample (the connection closed under it, say): :meth:`wait_until_gone` raises it."""
        self._ended_because = "error"
        return None

    def wait_until_gone(self, timeout: float) -> bool:
        """Block until the thread ends; True if it ended because every entity was gone.

        Returns at once when that happened already, however long ago.

        Raises:
            RuntimeError: The recorder was never started, or sampling failed (the error is chained).
        """
        if self._t0 is None:
            raise RuntimeError("the recorder was never started: call start() first")
        self.wait(timeout)
        if self.last_error is not None:
            raise RuntimeError(f"sampling stopped on an error: {self.last_error!r}") from self.last_error
        return self._ended_because == "gone"

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop sampling and join the thread (a no-op once it ended); True when it is gone."""
        stopped = super().stop(timeout)
        self._ended_because = self._ended_because or "stopped"
        return stopped

    def ttls(self) -> pd.DataFrame:
        """Every TTL sample so far, columns :data:`SAMPLE_COLUMNS` (``t_s`` since :meth:`start`)."""
        import pandas as pd

        with self._lock:
            rows = list(self._ttl_rows)
        return pd.DataFrame(rows, columns=SAMPLE_COLUMNS)

    def statuses(self) -> pd.DataFrame:
        """Every feature status a model server would have read so far, columns :data:`STATUS_COLUMNS`."""
        import pandas as pd

        with self._lock:
            samples = list(self._vectors)
        rows = [
            (t_s, entity_id, name, self._kinds[name], status.value)
            for t_s, vectors in samples
            for entity_id, vector in vectors.items()
            for name, status in vector.statuses.items()
        ]
        return pd.DataFrame(rows, columns=STATUS_COLUMNS)

    def vectors_at(self, t_s: float) -> FeatureVectors:
        """The feature vectors of the first sample taken at or after ``t_s``.

        Raises:
            LookupError: No sample was taken at or after ``t_s``.
        """
        with self._lock:
            found = next((vectors for at, vectors in self._vectors if at >= t_s), None)
        if found is None:
            raise LookupError(f"no sample at or after t_s={t_s} (the last is at {self._last_t_s()})")
        return found

    def _last_t_s(self) -> float | None:
        with self._lock:
            return self._vectors[-1][0] if self._vectors else None

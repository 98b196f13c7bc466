"""Watching TTLs run out: sample every field's TTL and the key TTL over time.

The mixed-staleness story as data: each sample is one pipelined round trip of
``HPTTL`` (every schema feature) and ``PTTL`` per entity, so a notebook can
plot streaming fields dropping out while batch fields stay, and then the
key-level TTL taking the whole entity.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fslib.keys import check_entity_ids
from fslib.store import FeatureStore

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SAMPLE_COLUMNS",
    "live_field_counts",
    "sample_ttls",
    "snapshot_ttls",
]

SAMPLE_COLUMNS = ["t_s", "entity_id", "feature", "kind", "field_ttl_ms", "key_ttl_ms"]
"""Columns of :func:`snapshot_ttls` and :func:`sample_ttls`.

``field_ttl_ms`` and ``key_ttl_ms`` use Redis's answers: milliseconds left,
-1 no TTL of its own, -2 absent (never written, expired, or the whole entity gone).
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


def sample_ttls(
    store: FeatureStore,
    entity_ids: Sequence[str],
    duration_seconds: float,
    interval_seconds: float = 0.25,
    *,
    t0: float | None = None,
    stop_when_gone: bool = True,
) -> pd.DataFrame:
    """Take :func:`snapshot_ttls` every ``interval_seconds`` for ``duration_seconds``.

    Args:
        store: Whose prefix and schema to use.
        entity_ids: The entities to watch.
        duration_seconds: How long to sample (bounded; the last sample is at or after it).
        interval_seconds: Time between samples.
        t0: ``time.monotonic()`` reading that ``t_s`` counts from (e.g. when the
            worker was paused); the start of sampling by default.
        stop_when_gone: Stop early once every entity is gone (nothing more can change).

    Returns:
        All samples, columns :data:`SAMPLE_COLUMNS`, ``t_s`` in seconds since ``t0``.

    Raises:
        TypeError, ValueError: Bad ids, or a duration or interval that is not positive.
    """
    import pandas as pd

    ids = _check_ids(entity_ids)
    if not duration_seconds > 0 or not interval_seconds > 0:
        raise ValueError(
            f"duration_seconds and interval_seconds must be > 0, got {duration_seconds!r} and {interval_seconds!r}"
        )
    start = time.monotonic()
    origin = start if t0 is None else t0
    rows: list[tuple[float, str, str, str, int, int]] = []
    next_at = start
    while True:
        now = time.monotonic()
        sample = _snapshot_rows(store, ids, round(now - origin, 3))
        rows.extend(sample)
        if now - start >= duration_seconds or (stop_when_gone and all(row[5] == -2 for row in sample)):
            break
        next_at += interval_seconds
        time.sleep(max(0.0, next_at - time.monotonic()))
    return pd.DataFrame(rows, columns=SAMPLE_COLUMNS)


def live_field_counts(samples: pd.DataFrame) -> pd.DataFrame:
    """How many batch and streaming fields each entity still has, per sample.

    Args:
        samples: Output of :func:`sample_ttls` or :func:`snapshot_ttls`.

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

"""Rows on their way to Redis: what the write paths accept, checked and cut into chunks.

A load takes a mapping of id -> features, ``(id, features)`` pairs, or a
DataFrame indexed by id. A container (mapping, list, tuple, DataFrame) can be
read twice, so it is checked whole before the first write: one bad row writes
nothing. Any other iterable (a generator, a reader over a file) is read once,
chunk by chunk; if it fails midway, the error says how many entities Redis had
acknowledged by then (the writes are idempotent: fix the cause and run again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from types import TracebackType
from typing import TYPE_CHECKING, Any, Union, cast

from tqdm.auto import tqdm

from fslib.checks import check_chunk_size, check_entity_id, check_event_time
from fslib.schema import EncodedFields, FeatureKind, Schema

if TYPE_CHECKING:
    import datetime

    import pandas as pd

__all__ = ["EVENT_TIME_COLUMN", "CheckedChunks", "EncodedRow", "EventTime", "EventTimes", "Rows", "iter_rows"]

Rows = Union[
    Mapping[str, Mapping[str, object]],
    Iterable[tuple[str, Mapping[str, object]]],
    "pd.DataFrame",
]
"""What a write path takes: id -> features, ``(id, features)`` pairs, or a DataFrame indexed by id."""

EncodedRow = tuple[str, EncodedFields, int | None]
"""A checked row on its way to Redis: the entity's key, its fields, and its event time (epoch ms) or None."""

EventTime = Union[int, "datetime.datetime", None]
"""When an event happened: epoch milliseconds, or a timezone-aware datetime (None: not given)."""

EventTimes = EventTime | Mapping[Any, Union[int, "datetime.datetime"]]
"""The event time of streaming rows: one for all, or entity id -> event time (or None for none)."""

EVENT_TIME_COLUMN = "event_time"
"""The DataFrame column a streaming write takes its rows' event times from."""


def is_container(rows: object) -> bool:
    """Whether ``rows`` can be read again (a mapping, list, tuple or DataFrame), not a one-shot stream."""
    import pandas as pd

    return isinstance(rows, (Mapping, Sequence, pd.DataFrame)) and not isinstance(rows, (str, bytes))


def iter_rows(rows: Rows, schema: Schema, chunk_size: int = 1000) -> Iterator[tuple[object, Mapping[str, object]]]:
    """``(entity_id, features)`` pairs from any :data:`Rows`.

    A DataFrame is converted ``chunk_size`` rows at a time (far faster than
    ``iterrows``, in bounded memory). A float column of an int feature, which
    is how pandas stores integers next to a NaN, becomes nullable ``Int64``
    first, so the row with the hole is the one blamed.

    Raises:
        TypeError: ``rows`` is none of the accepted shapes (a bad pair raises when reached).
    """
    import pandas as pd

    if isinstance(rows, pd.DataFrame):
        return _frame_rows(rows, schema, chunk_size)
    if isinstance(rows, Mapping):
        return iter(rows.items())
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
        raise TypeError(
            f"rows must be a mapping, an iterable of (id, features) or a DataFrame, got {type(rows).__name__}"
        )
    return _checked_pairs(rows)


class CheckedChunks:
    """Rows checked for one write path, ``chunk_size`` at a time, counting what Redis acknowledged.

    Use it as a context manager around the loop that writes the chunks, and
    call :meth:`acknowledged` once Redis answered for a chunk. On entry a
    container is checked whole (a bad row raises before the first write); a
    stream is checked as it is read. An error that leaves the block, whatever
    raised it, keeps its type and traceback and gets a note saying how many
    entities were written before it. With ``progress``, a tqdm bar counts the
    acknowledged entities.

    Args:
        rows: As for :func:`iter_rows`.
        schema: Checks and encodes each row's features.
        kind: The write path: batch (key TTL) or streaming (field TTL).
        key_prefix: Each entity's key is ``key_prefix + id``.
        chunk_size: Entities per chunk.
        progress: Show a tqdm progress bar.
        on_acknowledged: Called with each acknowledged chunk's size (the store's counters).
        event_time: Streaming rows only: one event time for every row, or entity id -> event time
            (every row needs one). None: a DataFrame's ``event_time`` column if it has one, else no
            event times. Event times are epoch milliseconds or timezone-aware datetimes.

    Raises:
        TypeError, ValueError: A bad row (the message names the entity and feature), event time or chunk size.
    """

    def __init__(
        self,
        rows: Rows,
        schema: Schema,
        kind: FeatureKind,
        key_prefix: str,
        *,
        chunk_size: int,
        progress: bool = False,
        on_acknowledged: Callable[[int], None] | None = None,
        event_time: EventTimes = None,
    ) -> None:
        self.rows, self.schema, self.kind, self.key_prefix = rows, schema, kind, key_prefix
        self.chunk_size = check_chunk_size(chunk_size)
        self._event_times = _event_times(rows, event_time)
        self.progress = progress
        self.written = 0
        """Entities Redis acknowledged so far."""
        self._on_acknowledged = on_acknowledged
        self._bar: Any = None

    def __enter__(self) -> CheckedChunks:
        if is_container(self.rows):
            for _ in self:
                pass  # every row checked before the first write
        if self.progress:  # only when asked: even a disabled tqdm builds a multiprocessing lock (~3 ms)
            total = len(self.rows) if isinstance(self.rows, Sized) else None
            self._bar = tqdm(total=total, unit="entity", desc=f"{self.kind.value} write")
        return self

    def acknowledged(self, entities: int) -> None:
        """Count ``entities`` of a chunk as written (Redis answered for them)."""
        self.written += entities
        if self._bar is not None:
            self._bar.update(entities)
        if self._on_acknowledged is not None:
            self._on_acknowledged(entities)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.close()
        if exc is not None and self.written:
            exc.add_note(
                f"{self.written} entities were written before it; fix the cause and run the write again "
                "(it writes the same values)"
            )

    def __iter__(self) -> Iterator[list[EncodedRow]]:
        """The rows, checked and encoded, ``chunk_size`` at a time (a bad row raises when it is reached)."""
        chunk: list[EncodedRow] = []
        schema, kind, prefix, size = self.schema, self.kind, self.key_prefix, self.chunk_size
        times, event_ms = self._event_times, None
        for entity_id, row in iter_rows(self.rows, schema, size):
            features = row
            if times is not None:
                features, event_ms = _timed(entity_id, row, times)
            fields = schema.encode(features, kind, entity_id)
            if not fields:
                raise ValueError(f"entity {entity_id!r}: no features to write")
            chunk.append((prefix + check_entity_id(entity_id), fields, event_ms))
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def _event_times(rows: Rows, event_time: EventTimes) -> int | dict[str, int] | str | None:
    """The event times as one number, a checked id -> ms mapping, or :data:`EVENT_TIME_COLUMN`."""
    import pandas as pd

    if event_time is None:
        has_column = isinstance(rows, pd.DataFrame) and EVENT_TIME_COLUMN in rows.columns
        return EVENT_TIME_COLUMN if has_column else None
    if isinstance(event_time, Mapping):
        return {
            check_entity_id(key): check_event_time(value, f"event_time of {key!r}") for key, value in event_time.items()
        }
    return check_event_time(event_time)


def _timed(
    entity_id: object, features: Mapping[str, object], times: int | dict[str, int] | str
) -> tuple[Mapping[str, object], int]:
    """One row's features (without the event-time column) and its event time in epoch ms."""
    if isinstance(times, int):
        return features, times
    if isinstance(times, dict):
        event_ms = times.get(check_entity_id(entity_id))
        if event_ms is None:
            raise ValueError(f"entity {entity_id!r}: no event time in the event_time mapping")
        return features, event_ms
    import pandas as pd

    rest = dict(features)
    stamp = rest.pop(EVENT_TIME_COLUMN)
    if pd.isna(cast(Any, stamp)):  # None, NaN, NaT: a hole in the column
        raise ValueError(f"entity {entity_id!r}: no {EVENT_TIME_COLUMN} in its row")
    return rest, check_event_time(stamp, f"entity {entity_id!r}: {EVENT_TIME_COLUMN}")


def _frame_rows(frame: pd.DataFrame, schema: Schema, chunk_size: int) -> Iterator[tuple[object, Mapping[str, object]]]:
    import pandas as pd

    int_columns = {
        name: "Int64"
        for name in frame.columns
        if (spec := schema.get(name)) is not None
        and spec.dtype is int
        and pd.api.types.is_float_dtype(frame[name])
        and (frame[name].dropna() % 1 == 0).all()
    }
    if int_columns:
        frame = frame.astype(int_columns)
    for start in range(0, len(frame), chunk_size):
        part = frame.iloc[start : start + chunk_size]
        yield from zip(part.index, part.to_dict("records"))


def _checked_pairs(pairs: Iterable[Any]) -> Iterator[tuple[object, Mapping[str, object]]]:
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError(f"each row must be an (entity_id, features) pair, got {pair!r}")
        yield pair

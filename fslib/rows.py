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
from typing import TYPE_CHECKING, Any, Union

from tqdm.auto import tqdm

from fslib.checks import check_chunk_size, check_entity_id
from fslib.schema import EncodedFields, FeatureKind, Schema

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CheckedChunks", "EncodedRow", "Rows", "iter_rows"]

Rows = Union[
    Mapping[str, Mapping[str, object]],
    Iterable[tuple[str, Mapping[str, object]]],
    "pd.DataFrame",
]
"""What a write path takes: id -> features, ``(id, features)`` pairs, or a DataFrame indexed by id."""

EncodedRow = tuple[str, EncodedFields]
"""A checked row on its way to Redis: the entity's key and its fields."""


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

    Raises:
        TypeError, ValueError: A bad row (the message names the entity and feature) or chunk size.
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
    ) -> None:
        self.rows, self.schema, self.kind, self.key_prefix = rows, schema, kind, key_prefix
        self.chunk_size = check_chunk_size(chunk_size)
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
        for entity_id, features in iter_rows(self.rows, schema, size):
            fields = schema.encode(features, kind, entity_id)
            if not fields:
                raise ValueError(f"entity {entity_id!r}: no features to write")
            chunk.append((prefix + check_entity_id(entity_id), fields))
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


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

"""Batch rows in and out: what :meth:`~fslib.FeatureStore.bulk_load` accepts, and batch reads as dicts or a DataFrame.

In: a mapping of id -> features, ``(id, features)`` pairs, or a DataFrame
indexed by id. A container (mapping, list, tuple, DataFrame) can be read twice,
so a load checks all of it before its first write; any other iterable (a
generator, a reader over a file) is read once, chunk by chunk.

Out: ``HMGET`` answers one value or None per requested feature; a result
leaves out the None (missing or expired) and may decode values by the schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from typing import TYPE_CHECKING, Any, Union, cast

from tqdm.auto import tqdm

from fslib.checks import check_chunk_size
from fslib.keys import check_entity_id
from fslib.schema import EncodedFields, FeatureKind, Schema, decode_value

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Rows",
    "encoded_chunks",
    "found_features",
    "is_container",
    "iter_rows",
    "present",
    "rows_frame",
    "write_in_chunks",
]

Rows = Union[
    Mapping[str, Mapping[str, object]],
    Iterable[tuple[str, Mapping[str, object]]],
    "pd.DataFrame",
]
"""Input of :meth:`~fslib.FeatureStore.bulk_load`: id -> features, ``(id, features)`` pairs, or a DataFrame."""


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


def encoded_chunks(
    rows: Rows, schema: Schema, kind: FeatureKind, key_prefix: str, chunk_size: int
) -> Iterator[list[tuple[str, EncodedFields]]]:
    """``rows`` as checked ``(key, fields)`` pairs for a ``kind`` write, ``chunk_size`` at a time.

    Raises:
        TypeError, ValueError: A row is malformed, when it is reached (the message names the entity).
    """

    chunk: list[tuple[str, EncodedFields]] = []
    for entity_id, features in iter_rows(rows, schema, chunk_size):
        fields = schema.encode(features, kind, entity_id)
        if not fields:
            raise ValueError(f"entity {entity_id!r}: no features to write")
        chunk.append((key_prefix + check_entity_id(entity_id), fields))
        if len(chunk) == chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_in_chunks(
    rows: Rows,
    write: Callable[[Iterator[list[tuple[str, EncodedFields]]]], Iterator[int]],
    schema: Schema,
    kind: FeatureKind,
    key_prefix: str,
    *,
    chunk_size: int,
    progress: bool = False,
) -> Iterator[int]:
    """Check ``rows`` and have ``write`` send them chunk by chunk; yield each chunk's size once acknowledged.

    A container is checked whole before ``write`` sees a chunk; a stream is
    checked as it is read, and a bad row in it is raised with the number of
    entities already written (fix the row and run again: writes are idempotent).

    Args:
        rows: As for :func:`iter_rows`.
        write: Sends the chunks it is given and yields each one's size once Redis acknowledged it.
        schema, kind, key_prefix, chunk_size: As for :func:`encoded_chunks`.
        progress: Show a tqdm progress bar.

    Raises:
        TypeError, ValueError: A bad row (the message names the entity and feature) or chunk size.
    """
    check_chunk_size(chunk_size)
    if is_container(rows):
        for _ in encoded_chunks(rows, schema, kind, key_prefix, chunk_size):
            pass  # every row checked before the first write
    written = 0
    total = len(rows) if isinstance(rows, Sized) else None
    # A bar only when asked for: even a disabled tqdm builds a multiprocessing lock (~3 ms on a process's first load).
    bar = tqdm(total=total, unit="entity", desc=f"{kind.value} write") if progress else None
    try:
        for done in write(encoded_chunks(rows, schema, kind, key_prefix, chunk_size)):
            written += done
            if bar is not None:
                bar.update(done)
            yield done
    except (TypeError, ValueError) as exc:  # a bad row in a stream, after some chunks went out
        if not written:
            raise
        raise type(exc)(f"{exc} ({written} entities were written before it; fix it and run again)") from None
    finally:
        if bar is not None:
            bar.close()


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


def present(names: Sequence[str], values: Sequence[str | None]) -> dict[str, str]:
    """One ``HMGET`` reply as name -> value, without the missing (None) values, in request order."""
    return {name: value for name, value in zip(names, values) if value is not None}


def found_features(
    names: Sequence[str], rows: Sequence[Sequence[str | None]], schema: Schema, decode: bool
) -> list[dict[str, Any]]:
    """Each ``HMGET`` reply as :func:`present` gives it, typed by ``schema`` when ``decode``."""
    found = [present(names, row) for row in rows]
    return [schema.decode(features) for features in found] if decode else found


def rows_frame(
    ids: Sequence[str], names: Sequence[str], rows: Sequence[Sequence[str | None]], schema: Schema, decode: bool
) -> pd.DataFrame:
    """``HMGET`` answers as a DataFrame: entities as rows, features as columns, ``<NA>`` where missing.

    With ``decode`` the columns get nullable pandas dtypes from the schema
    (``Int64``, ``Float64``, ``boolean``, ``string``; unknown features stay text).
    """
    import pandas as pd

    index = pd.Index(list(ids), name="entity_id")
    if not decode:
        return pd.DataFrame(list(rows), index=index, columns=list(names), dtype=object)
    # Typed column arrays built once, then one DataFrame: a per-column astype costs ~0.2 ms each.
    columns = list(zip(*rows)) or [()] * len(names)
    data = {}
    for name, texts in zip(names, columns):
        spec = schema.get(name)
        if spec is None or spec.dtype is str:
            data[name] = pd.array(texts, dtype="string")
        else:
            values = [None if t is None else decode_value(t, spec.dtype) for t in texts]
            data[name] = pd.array(values, dtype=cast(Any, spec.pandas_dtype))  # a nullable dtype's name
    return pd.DataFrame(data, index=index, columns=list(names))

"""Opt-in speed: the packed transport and the asyncio store.

``FeatureStore(client, transport="packed")`` sends fslib's batches as
pre-encoded RESP buffers: :mod:`fslib.fast.resp` encodes them,
:mod:`fslib.fast.transport` sends them and reads the replies,
:mod:`fslib.fast.cluster` fans them out over a cluster's primaries.
:class:`AsyncFeatureStore` serves reads and streaming writes from an event loop
(:mod:`fslib.fast.aio`). Both give the same answers as the core store. The
core never imports this package: delete it and ``fslib`` still works with its
redis-py pipelines.
"""

from __future__ import annotations

from fslib.fast.aio import AsyncFeatureStore
from fslib.fast.resp import pack_bulk_load, pack_hmgets
from fslib.fast.transport import AsyncPackedTransport, PackedTransport

__all__ = ["AsyncFeatureStore", "AsyncPackedTransport", "PackedTransport", "pack_bulk_load", "pack_hmgets"]

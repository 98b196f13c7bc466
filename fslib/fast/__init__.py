"""Opt-in speed: the packed transport and the asyncio store.

``FeatureStore(client, transport="packed")`` sends fslib's batches as
pre-encoded RESP buffers (:mod:`fslib.fast.packed`); :class:`AsyncFeatureStore`
serves reads and streaming writes from an event loop (:mod:`fslib.fast.aio`).
Both give the same answers as the core store. The core never imports this
package: delete it and ``fslib`` still works with its redis-py pipelines.
"""

from __future__ import annotations

from fslib.fast.aio import AsyncFeatureStore, connect_async
from fslib.fast.packed import PackedTransport, pack_bulk_load, pack_hmgets

__all__ = ["AsyncFeatureStore", "PackedTransport", "connect_async", "pack_bulk_load", "pack_hmgets"]

"""The Lua scripts fslib runs inside Redis, read from the ``.lua`` files shipped in ``fslib/lua/``.

In a pipeline a script goes as ``EVAL`` with its text: Redis compiles it once
and keeps it by its SHA1, and no ``NOSCRIPT`` can fail a batch halfway after a
restart or a failover. A single call goes through redis-py's ``Script``
(``register_script``): ``EVALSHA``, which sends 40 bytes instead of the text and
loads the script again on ``NOSCRIPT``. The files are short and commented: open
them next to the store.
"""

from __future__ import annotations

from importlib.resources import files

__all__ = ["GUARDED_WRITE", "READ_VECTOR", "script_text"]


def script_text(name: str) -> str:
    """The text of ``fslib/lua/<name>.lua``."""
    return (files("fslib") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


READ_VECTOR = script_text("read_vector")
"""``EXISTS`` + ``HMGET`` of one entity, atomically (the freshness read on a cluster)."""

GUARDED_WRITE = script_text("guarded_write")
"""A streaming write of one event that applies each field only if it is newer than the stored one."""

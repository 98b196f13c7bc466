"""The Lua scripts fslib runs inside Redis, read from the ``.lua`` files shipped in ``fslib/lua/``.

Each is sent with ``EVAL`` (the text itself): Redis compiles a script once and
keeps it by its SHA1, and no ``NOSCRIPT`` fallback is needed after a restart or
a failover, which an ``EVALSHA`` would need. The files are short and commented:
open them next to the store.
"""

from __future__ import annotations

from importlib.resources import files

__all__ = ["READ_VECTOR", "script_text"]


def script_text(name: str) -> str:
    """The text of ``fslib/lua/<name>.lua``."""
    return (files("fslib") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


READ_VECTOR = script_text("read_vector")
"""``EXISTS`` + ``HMGET`` of one entity, atomically (the freshness read on a cluster)."""

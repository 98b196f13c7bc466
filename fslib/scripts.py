"""Server-side Lua fast paths: many ``HMGET`` s, or a chunk of ``HSET`` + ``EXPIRE``, in one call.

A redis-py pipeline of N commands spends most of its time packing and parsing
N separate commands in Python; one ``EVALSHA`` carrying all N keys moves that
loop into Redis. The cost: Redis runs nothing else while a script runs, so
callers keep each call small (see ``DEFAULT_CHUNK_SIZE`` in ``fslib.store``).

redis-py's own ``Script`` reloads on ``NOSCRIPT`` but only calls ``EVALSHA``;
:class:`ServerScript` does the same for ``EVALSHA_RO`` too, so read scripts
may run on read-only replicas.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from redis.exceptions import NoPermissionError, NoScriptError, ResponseError

__all__ = [
    "BULK_LOAD",
    "MULTI_HMGET",
    "ServerScript",
    "bulk_load_args",
    "is_scripting_refused",
]


class ServerScript:
    """A Lua script called by SHA1, loaded into the server on first ``NOSCRIPT``.

    Args:
        source: The Lua source.
        read_only: Call with ``EVALSHA_RO``; the source must declare
            ``#!lua flags=no-writes``.
    """

    def __init__(self, source: str, *, read_only: bool = False) -> None:
        self.source = source
        self.read_only = read_only
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, client: Any, keys: Sequence[str], args: Iterable[object] = ()) -> Any:
        """Run the script on ``client`` with ``keys`` and ``args``.

        After a restart, failover or ``SCRIPT FLUSH`` the server has forgotten
        the script: it is loaded again and the call repeated, once.

        Raises:
            redis.exceptions.NoPermissionError: The user may not run scripts.
            redis.exceptions.ResponseError: The script failed (e.g. ``WRONGTYPE``).
        """
        command = "EVALSHA_RO" if self.read_only else "EVALSHA"
        call_args = (command, self.sha, len(keys), *keys, *args)
        try:
            return client.execute_command(*call_args)
        except NoScriptError:
            client.script_load(self.source)
            return client.execute_command(*call_args)


def is_scripting_refused(exc: BaseException) -> bool:
    """Whether ``exc`` says this server or user may not run scripts at all.

    An ACL user without ``+@scripting`` gets ``NOPERM``; a managed service
    that renamed or disabled ``EVAL*`` answers ``unknown command``. Errors
    raised by a script that ran (``WRONGTYPE``, ...) are not refusals.
    """
    if isinstance(exc, NoPermissionError):
        return True
    return isinstance(exc, ResponseError) and str(exc).lower().startswith("unknown command")


MULTI_HMGET = ServerScript(
    """#!lua flags=no-writes
-- KEYS: entity keys; ARGV: field names. One HMGET per key; a missing field
-- comes back as false, which Redis turns back into a nil reply.
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('HMGET', KEYS[i], unpack(ARGV))
end
return out
""",
    read_only=True,
)
"""``HMGET`` of the same fields on every key; replies exactly as N ``HMGET`` s would."""

BULK_LOAD = ServerScript(
    """#!lua
-- KEYS: entity keys; ARGV: ttl, then per key: field count n, n field/value pairs.
local ttl = ARGV[1]
local pos = 2
for i = 1, #KEYS do
  local n = tonumber(ARGV[pos])
  redis.call('HSET', KEYS[i], unpack(ARGV, pos + 1, pos + 2 * n))
  redis.call('EXPIRE', KEYS[i], ttl)
  pos = pos + 2 * n + 1
end
return #KEYS
"""
)
"""``HSET`` of all fields + ``EXPIRE`` per key; returns the number of keys written."""


def bulk_load_args(ttl_seconds: int, mappings: Iterable[Mapping[str, str]]) -> list[object]:
    """The ARGV of :data:`BULK_LOAD`: the TTL, then each entity's field count and pairs."""
    args: list[object] = [ttl_seconds]
    for mapping in mappings:
        args.append(len(mapping))
        for pair in mapping.items():
            args.extend(pair)
    return args

"""Server-side Lua fast path of bulk loads: a chunk of ``HSET`` + ``EXPIRE`` in one call.

A redis-py pipeline of N commands spends most of its time packing and parsing
N separate commands in Python; one script call carrying a whole chunk moves
that loop into Redis. The cost: Redis runs nothing else while a script runs,
so callers keep each call small (see ``DEFAULT_CHUNK_SIZE`` in ``fslib.store``).

Reads need no script: ``fslib.packed`` takes the Python work out of a batch
of plain ``HMGET`` s instead, which also leaves Redis free between them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from redis.exceptions import NoPermissionError, NoScriptError, ResponseError

__all__ = [
    "BULK_LOAD",
    "ScriptStream",
    "ServerScript",
    "bulk_load_args",
    "is_scripting_refused",
]


class ServerScript:
    """A Lua script called by SHA1 (``EVALSHA``), loaded into the server on first ``NOSCRIPT``.

    redis-py's own ``Script`` does the same but registers itself on a client;
    this one is a plain value that any client (or :class:`ScriptStream`) can run.

    Args:
        source: The Lua source.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, client: Any, keys: Sequence[str], args: Iterable[object] = ()) -> Any:
        """Run the script on ``client`` with ``keys`` and ``args``.

        After a restart, failover or ``SCRIPT FLUSH`` the server has forgotten
        the script: it is loaded again and the call repeated, once.

        Raises:
            redis.exceptions.NoPermissionError: The user may not run scripts.
            redis.exceptions.ResponseError: The script failed (e.g. ``WRONGTYPE``).
        """
        call_args = ("EVALSHA", self.sha, len(keys), *keys, *args)
        try:
            return client.execute_command(*call_args)
        except NoScriptError:
            client.script_load(self.source)
            return client.execute_command(*call_args)


class ScriptStream:
    """Many calls of one script on one connection, with one reply kept in flight.

    The client packs call k+1 while Redis runs call k, instead of idling
    until each reply is back. Calls go as ``EVAL`` with the source (a few
    hundred bytes next to a chunk's payload), so a ``NOSCRIPT`` cannot arrive
    with calls already queued behind it. A connection error is raised, not
    retried: the caller's writes must be safe to repeat.

    Use as a context manager; leaving it early (an error) drops the connection
    rather than return it to the pool with replies unread.
    """

    def __init__(self, client: Any, script: ServerScript) -> None:
        self._client = client
        self._script = script
        self._conn: Any = None
        self._pending = 0

    def __enter__(self) -> ScriptStream:
        self._conn = self._client.connection_pool.get_connection()
        return self

    def submit(self, keys: Sequence[str], args: Sequence[object]) -> list[Any]:
        """Send one call; return the replies of earlier calls that are now complete.

        Raises:
            redis.exceptions.ResponseError: An earlier call failed.
        """
        self._conn.send_command("EVAL", self._script.source, len(keys), *keys, *args)
        self._pending += 1
        return self._collect(keep=1)

    def drain(self) -> list[Any]:
        """Wait for every outstanding reply and return them in call order."""
        return self._collect(keep=0)

    def _collect(self, keep: int) -> list[Any]:
        replies = []
        while self._pending > keep:
            self._pending -= 1  # first: a reply that raises has still been consumed
            replies.append(self._conn.read_response())
        return replies

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None or self._pending:
            self._conn.disconnect()
        self._client.connection_pool.release(self._conn)


def is_scripting_refused(exc: BaseException) -> bool:
    """Whether ``exc`` says this server or user may not run scripts at all.

    An ACL user without ``+@scripting`` gets ``NOPERM``; a managed service
    that renamed or disabled ``EVAL*`` answers ``unknown command``. Errors
    raised by a script that ran (``WRONGTYPE``, ...) are not refusals.
    """
    if isinstance(exc, NoPermissionError):
        return True
    return isinstance(exc, ResponseError) and str(exc).lower().startswith("unknown command")


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

"""The batch materializer: ``python -m fslib.build_features --count 500``.

The Redis docs demo's ``build_features`` binary: synthesize users and bulk-load them
with a key-level TTL, as a nightly Spark/Feast job would from the warehouse.

Exit codes: 0 when every user was written, 2 on any error (bad arguments, a
URL that is not one, a password in ``--redis-url``, a server that cannot be
reached, refuses the password, is not Redis or is too old, a load that Redis
lost part of), told in one line on stderr with the URL's secrets masked; 143
after ``SIGTERM`` (``kill``), which stops the embedded Redis like any exit.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

import redis
from redis.connection import parse_url

from fslib.checks import check_count, check_ttl
from fslib.cli import exit_on_sigterm, option_type, secret_in_url_option
from fslib.connection import connect, require_version, server_version
from fslib.core import DEFAULT_BATCH_TTL_SECONDS, DEFAULT_CHUNK_SIZE
from fslib.errors import FeatureStoreError
from fslib.local import embedded_server
from fslib.store import FeatureStore
from fslib.synth import synthesize_users
from fslib.urls import check_url, mask_url

__all__ = ["main"]

_PROGRESS_FROM = 10_000
_FAILED = 2
_SOCKET_TIMEOUT = 5.0


_COUNT = option_type(int, check_count, "the count")
_TTL = option_type(int, check_ttl, "the TTL")
_CHUNK_SIZE = option_type(int, check_count, "the chunk size")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fslib.build_features",
        description="Bulk-load synthetic users' batch features into Redis with a key-level TTL.",
    )
    parser.add_argument("--count", type=_COUNT, default=500, help="users to write (default 500)")
    parser.add_argument(
        "--ttl-seconds",
        type=_TTL,
        default=DEFAULT_BATCH_TTL_SECONDS,
        help=f"key-level TTL (default {DEFAULT_BATCH_TTL_SECONDS})",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="a Redis URL without a password (default: $REDIS_URL, where a URL with a password goes: "
        "ps shows arguments), else a temporary embedded Redis",
    )
    parser.add_argument("--prefix", default="fs:user:", help="key prefix (default fs:user:)")
    parser.add_argument("--seed", type=option_type(int), default=42, help="random seed (default 42)")
    parser.add_argument("--chunk-size", type=_CHUNK_SIZE, default=DEFAULT_CHUNK_SIZE, help="entities per round trip")
    return parser


def _target(redis_url: str | None) -> tuple[str, str]:
    """The URL to write to, and how it was given (named in errors): the option, REDIS_URL or neither."""
    if redis_url:
        return redis_url, "--redis-url"
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"], "REDIS_URL"
    url = embedded_server().url
    print(
        f"No --redis-url or REDIS_URL: writing to a temporary embedded Redis at {mask_url(url)}, "
        "which stops when this command exits.",
        file=sys.stderr,
    )
    return url, "--redis-url"


def _describe(exc: redis.RedisError, url: str) -> str:
    """What went wrong talking to the server, in words (redis-py's exception names mean little here)."""
    where = mask_url(url)
    if isinstance(exc, redis.AuthenticationError):  # before ConnectionError, its base class
        if "password" in parse_url(url):
            return f"Redis at {where} refused the password in the URL ({exc})"
        return (
            f"Redis at {where} requires a password: put it in the URL, in REDIS_URL "
            "(e.g. REDIS_URL=redis://:PASSWORD@host:port/0), never on the command line"
        )
    if isinstance(exc, redis.TimeoutError):
        return f"no answer from {where} within {_SOCKET_TIMEOUT:g}s: is it a Redis server, and not overloaded?"
    if isinstance(exc, redis.ConnectionError):
        return f"cannot reach Redis at {where}: {exc}"
    if isinstance(exc, redis.exceptions.InvalidResponse):
        return f"the server at {where} does not speak the Redis protocol ({exc}): is the port right?"
    return f"Redis at {where} answered with an error: {exc}"


def _fail(message: str) -> int:
    """Print ``message`` as one ``error:`` line on stderr; return the exit code for a failure."""
    print("error: " + " ".join(message.split()), file=sys.stderr)
    return _FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the materializer; returns the process exit code (0 done, 2 failed; see the module docstring)."""
    exit_on_sigterm()  # then exit handlers run: they stop the embedded Redis
    args = _parser().parse_args(argv)  # exits with 2 and a usage line on bad arguments
    try:
        url, setting = _target(args.redis_url)
    except (OSError, RuntimeError) as exc:  # the embedded redis-server did not start
        return _fail(f"the embedded Redis did not start: {exc}")
    try:
        check_url(url)
    except ValueError as exc:
        return _fail(f"{setting}: {exc}")
    secret = secret_in_url_option(args.redis_url)
    if secret is not None:
        return _fail(secret)
    try:
        with connect(url, retry_attempts=2, socket_timeout=_SOCKET_TIMEOUT, check_version=False) as client:
            require_version(server_version(client), url, setting=setting)
            store = FeatureStore(client, key_prefix=args.prefix)
            started = time.perf_counter()
            written = store.bulk_load(
                synthesize_users(args.count, seed=args.seed),
                ttl_seconds=args.ttl_seconds,
                chunk_size=args.chunk_size,
                progress=args.count >= _PROGRESS_FROM,
            )
            elapsed = time.perf_counter() - started
    except redis.RedisError as exc:
        return _fail(_describe(exc, url))
    except (FeatureStoreError, ValueError, TypeError) as exc:  # too old, a lost load, a bad prefix or TTL
        return _fail(str(exc))
    print(
        f"Materialized {written} user(s) under '{args.prefix}*' at {mask_url(url)} "
        f"with key-level TTL {args.ttl_seconds}s in {elapsed:.2f}s "
        f"({written / elapsed:,.0f} users/s)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m fslib.serve``: the feature server on loopback, over the embedded Redis 8 or ``REDIS_URL``.

$ python -m fslib.serve --port 8090 --streaming-ttl-seconds 30
fslib feature server on http://127.0.0.1:8090 (docs: /docs), Redis at redis://127.0.0.1:41234/0, ...
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import redis
import uvicorn

from fslib.connection import connect, resolve_url
from fslib.errors import RedisVersionError
from fslib.serve.app import create_app
from fslib.urls import mask_url

__all__ = ["main", "parser"]


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: a number of ``kind`` above zero."""

    def convert(text: str) -> float:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    convert.__name__ = kind.__name__  # argparse names the type in its messages
    return convert


def parser() -> argparse.ArgumentParser:
    """The command line's options (``--help`` lists them)."""
    cli = argparse.ArgumentParser(prog="python -m fslib.serve", description=__doc__.split("\n")[0])
    cli.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback; the API has no auth)")
    cli.add_argument(
        "--port", type=int, default=8090, help="port to listen on (default 8090, as in the Redis docs demo)"
    )
    cli.add_argument("--redis-url", help="one Redis >= 7.4 (default $REDIS_URL, else an embedded Redis 8)")
    cli.add_argument("--key-prefix", default="fs:user:", help="where the entities live; /reset deletes only here")
    cli.add_argument("--batch-ttl-seconds", type=int, default=24 * 60 * 60, help="default key TTL of /bulk-load")
    cli.add_argument("--streaming-ttl-seconds", type=int, default=5 * 60, help="field TTL of the worker's writes")
    cli.add_argument("--tick-seconds", type=_positive(float), default=1.0, help="the streaming worker's period")
    cli.add_argument("--users-per-tick", type=_positive(int), default=5, help="users the worker updates per tick")
    cli.add_argument("--no-worker", action="store_true", help="start with the worker stopped (/worker/toggle)")
    cli.add_argument("--transport", choices=["pipeline", "packed"], default="pipeline", help="read transport")
    cli.add_argument("--access-log", action="store_true", help="log every request (off: it costs at high rates)")
    cli.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return cli


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the options, say where the server listens and what it serves, and run it until Ctrl+C."""
    cli = parser()
    args = cli.parse_args(argv)
    url = resolve_url(args.redis_url)  # starts the embedded Redis in this process when no URL is given
    try:
        app = create_app(
            url,
            key_prefix=args.key_prefix,
            batch_ttl_seconds=args.batch_ttl_seconds,
            streaming_ttl_seconds=args.streaming_ttl_seconds,
            tick_seconds=args.tick_seconds,
            users_per_tick=args.users_per_tick,
            start_worker=not args.no_worker,
            transport=args.transport,
        )
    except (TypeError, ValueError) as exc:
        cli.error(str(exc))
    try:  # one line that names the Redis, rather than a traceback from the app's start-up
        connect(url, cluster=False, retry_attempts=1).close()
    except (redis.ConnectionError, redis.TimeoutError, RedisVersionError) as exc:
        cli.exit(1, f"error: cannot serve from Redis at {mask_url(url)}: {exc}\n")
    print(
        f"fslib feature server on http://{args.host}:{args.port} (docs: /docs), Redis at {mask_url(url)}, "
        f"entities under {args.key_prefix}*",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)


if __name__ == "__main__":
    main()

"""``python -m fslib.serve``: the feature server on loopback, over the embedded Redis 8 or ``REDIS_URL``.

$ python -m fslib.serve --port 8090 --streaming-ttl-seconds 30
fslib feature server on http://127.0.0.1:8090 (docs: /docs), no token (loopback only), answers Host ...
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
import uvicorn
from fastapi import FastAPI

from fslib.checks import check_count, check_seconds, check_ttl
from fslib.cli import exit_on_sigterm, option_type, secret_in_url_option
from fslib.connection import connect, resolve_url
from fslib.core import DEFAULT_BATCH_TTL_SECONDS, DEFAULT_KEY_PREFIX, DEFAULT_STREAMING_TTL_SECONDS
from fslib.errors import RedisVersionError
from fslib.serve.app import create_app
from fslib.serve.limits import (
    DEFAULT_LIMIT_CONCURRENCY,
    DEFAULT_TIMEOUT_HEADERS,
    DEFAULT_TIMEOUT_KEEP_ALIVE,
    HTTP_PARSERS,
    uvicorn_options,
)
from fslib.serve.security import TOKEN_VARIABLE, host_names
from fslib.store import FeatureStore
from fslib.urls import mask_url
from fslib.worker import DEFAULT_TICK_SECONDS, DEFAULT_USERS_PER_TICK, StreamingWorker

__all__ = ["SETTINGS_VARIABLE", "main", "parser", "worker_app"]


_COUNT = option_type(int, check_count, "the number")
_TTL = option_type(int, check_ttl, "the TTL")
_SECONDS = option_type(float, check_seconds, "the time")


def parser() -> argparse.ArgumentParser:
    """The command line's options (``--help`` lists them, each with its default in plain words)."""
    description = __doc__.split("\n")[0].replace("``", "")  # the help is plain text, not reStructuredText
    cli = argparse.ArgumentParser(prog="python -m fslib.serve", description=description)
    cli.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default: %(default)s, loopback only); any address beyond loopback needs a token",
    )
    cli.add_argument(
        "--port", type=int, default=8090, help="port to listen on (default: %(default)s, as in the Redis docs demo)"
    )
    cli.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="one more name (or name:port) clients may give in the Host header, beside 127.0.0.1, localhost, "
        "[::1] and --host; repeat for more (default: none)",
    )
    cli.add_argument(
        "--token-file",
        type=Path,
        metavar="PATH",
        help=f"file holding the bearer token clients must send (default: ${TOKEN_VARIABLE}, else no token); "
        "required beyond loopback",
    )
    cli.add_argument(
        "--redis-url",
        metavar="URL",
        help="one Redis >= 7.4 without a password (default: $REDIS_URL, else an embedded Redis 8); "
        "a URL with a password goes in $REDIS_URL",
    )
    cli.add_argument(
        "--key-prefix",
        default=DEFAULT_KEY_PREFIX,
        metavar="PREFIX",
        help="where the entities live; /reset deletes only here (default: %(default)s)",
    )
    cli.add_argument(
        "--batch-ttl-seconds",
        type=_TTL,
        default=DEFAULT_BATCH_TTL_SECONDS,
        metavar="SECONDS",
        help="key TTL of /bulk-load when the request gives none (default: %(default)s, one day)",
    )
    cli.add_argument(
        "--streaming-ttl-seconds",
        type=_TTL,
        default=DEFAULT_STREAMING_TTL_SECONDS,
        metavar="SECONDS",
        help="field TTL of the worker's writes (default: %(default)s)",
    )
    cli.add_argument(
        "--tick-seconds",
        type=_SECONDS,
        default=DEFAULT_TICK_SECONDS,
        metavar="SECONDS",
        help="the streaming worker's period (default: %(default)g)",
    )
    cli.add_argument(
        "--users-per-tick",
        type=_COUNT,
        default=DEFAULT_USERS_PER_TICK,
        metavar="N",
        help="users the worker updates per tick, each once a round (default: %(default)s, so a load of 200 "
        "users is covered in 4 ticks)",
    )
    cli.add_argument(
        "--no-worker",
        action="store_true",
        help="start with the streaming worker stopped; POST /worker/toggle starts it, with one process; with "
        "--workers N there is no worker (default: it runs)",
    )
    cli.add_argument(
        "--workers",
        type=_COUNT,
        default=1,
        metavar="N",
        help="processes serving the port, each with its own store and connection pool, for more cores; beyond "
        "1 each is the model server alone (/health, /get-online-features, /push, docs) and the streaming "
        "worker runs once, in the parent; the demo endpoints and page need 1 (default: %(default)s)",
    )
    cli.add_argument(
        "--transport",
        choices=["pipeline", "packed"],
        default="pipeline",
        help="how reads reach Redis: plain redis-py pipelines, or packed pre-encoded buffers (default: %(default)s)",
    )
    cli.add_argument(
        "--timeout-keep-alive",
        type=_COUNT,
        default=DEFAULT_TIMEOUT_KEEP_ALIVE,
        metavar="SECONDS",
        help="close a kept-alive connection idle this long (default: %(default)s)",
    )
    cli.add_argument(
        "--timeout-headers",
        type=_SECONDS,
        default=DEFAULT_TIMEOUT_HEADERS,
        metavar="SECONDS",
        help="close a connection whose request headers take longer, counted from the connection or the "
        "request's first byte (default: %(default)g)",
    )
    cli.add_argument(
        "--limit-concurrency",
        type=_COUNT,
        default=DEFAULT_LIMIT_CONCURRENCY,
        metavar="N",
        help="answer 503 while N connections or requests are open (default: %(default)s)",
    )
    cli.add_argument(
        "--http",
        choices=HTTP_PARSERS,
        default="auto",
        help="uvicorn's HTTP parser (default: %(default)s, which is httptools if installed, else h11)",
    )
    cli.add_argument(
        "--access-log", action="store_true", help="log every request (default: off, since it costs at high rates)"
    )
    cli.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (default: %(default)s)",
    )
    return cli


def _token(token_file: Path | None) -> str | None:
    """The bearer token: the file's text, else ``$FSLIB_SERVE_TOKEN``, else None (surrounding space dropped).

    Raises:
        OSError: The file cannot be read.
    """
    text = token_file.read_text() if token_file is not None else os.environ.get(TOKEN_VARIABLE)
    return text.strip() if text is not None else None


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The options :func:`create_app` takes, but the URL, the token and the worker's: what every process serves."""
    return {
        "key_prefix": args.key_prefix,
        "batch_ttl_seconds": args.batch_ttl_seconds,
        "streaming_ttl_seconds": args.streaming_ttl_seconds,
        "transport": args.transport,
        "host": args.host,
        "allowed_hosts": args.allowed_host,
    }


def _pace(args: argparse.Namespace) -> dict[str, Any]:
    """The streaming worker's options."""
    return {"tick_seconds": args.tick_seconds, "users_per_tick": args.users_per_tick}


def main(argv: Sequence[str] | None = None) -> None:
    """Check the options, say where the server listens and who may call it, and run it until Ctrl+C or SIGTERM."""
    exit_on_sigterm()  # then exit handlers run: they stop the embedded Redis
    cli = parser()
    args = cli.parse_args(argv)
    secret = secret_in_url_option(args.redis_url)
    if secret is not None:
        cli.exit(2, f"error: {secret}\n")
    try:
        token = _token(args.token_file)
        app = create_app(  # checks every setting before anything connects; the app served by one process
            args.redis_url,  # resolved at the app's start to the same URL as below (one embedded server a process)
            **_settings(args),
            **_pace(args),
            start_worker=not args.no_worker,
            token=token,
        )
        options = uvicorn_options(
            http=args.http,
            timeout_keep_alive=args.timeout_keep_alive,
            timeout_headers=args.timeout_headers,
            limit_concurrency=args.limit_concurrency,
        )
    except (ImportError, OSError, TypeError, ValueError) as exc:  # ImportError: --http httptools, not installed
        cli.error(str(exc))
    url = resolve_url(args.redis_url)  # starts the embedded Redis in this process when no URL is given
    try:  # one line that names the Redis, rather than a traceback from the app's start-up
        connect(url, cluster=False, retry_attempts=1).close()
    except (redis.ConnectionError, redis.TimeoutError, RedisVersionError) as exc:
        cli.exit(1, f"error: cannot serve from Redis at {mask_url(url)}: {exc}\n")
    _serve(args, app, url, token, options)


def _serve(args: argparse.Namespace, app: FastAPI, url: str, token: str | None, options: dict[str, Any]) -> None:
    """Say where the server listens and who may call it, then serve ``app`` (or, with ``--workers N``, the
    processes' apps) until Ctrl+C or SIGTERM."""
    who = "token required" if token is not None else "no token (loopback only)"
    processes = "" if args.workers == 1 else f"; {args.workers} processes, the model server alone (no demo or page)"
    print(
        f"fslib feature server on http://{args.host}:{args.port} (docs: /docs), {who}, "
        f"answers Host {', '.join(host_names(args.host, args.allowed_host))}; "
        f"Redis at {mask_url(url)}, entities under {args.key_prefix}*{processes}",
        flush=True,
    )
    run = {"host": args.host, "port": args.port, "log_level": args.log_level, "access_log": args.access_log}
    if args.workers == 1:
        uvicorn.run(app, **run, **options)
        return
    settings = _settings(args)
    with _streaming_worker(url, settings, **_pace(args), start=not args.no_worker):
        _hand_over(url, token, settings)
        uvicorn.run("fslib.serve.__main__:worker_app", factory=True, workers=args.workers, **run, **options)


SETTINGS_VARIABLE = "FSLIB_SERVE_SETTINGS"
"""How the parent of ``--workers N`` hands each process its settings (JSON); the URL and the token go in
``REDIS_URL`` and ``FSLIB_SERVE_TOKEN``: the environment, never a command line."""


def _hand_over(url: str, token: str | None, settings: dict[str, Any]) -> None:
    """Put what :func:`worker_app` needs in this process's environment, which uvicorn's processes inherit."""
    os.environ.update({"REDIS_URL": url, SETTINGS_VARIABLE: json.dumps(settings)})
    os.environ.pop(TOKEN_VARIABLE, None)
    if token is not None:
        os.environ[TOKEN_VARIABLE] = token


def worker_app() -> FastAPI:
    """The app of each of ``--workers N`` processes: the model server alone, with its own store and pool."""
    settings = json.loads(os.environ[SETTINGS_VARIABLE])
    return create_app(None, **settings, demo=False, start_worker=False, token=os.environ.get(TOKEN_VARIABLE))


@contextmanager
def _streaming_worker(
    url: str, settings: dict[str, Any], *, tick_seconds: float, users_per_tick: int, start: bool
) -> Iterator[StreamingWorker]:
    """The one streaming worker of ``--workers N``, in the parent, so each user is written once a round, not N
    times; stopped, and its client closed, when the server stops."""
    client = connect(url, cluster=False)
    store = FeatureStore(
        client, settings["key_prefix"], settings["batch_ttl_seconds"], settings["streaming_ttl_seconds"]
    )
    worker = StreamingWorker(store, tick_seconds, users_per_tick)
    try:
        if start:
            worker.start()
        yield worker
    finally:
        worker.stop()
        client.close()


if __name__ == "__main__":
    main()

"""The HTTP server against a hostile web page and hostile input: Host, Origin, content type, token, bad JSON.

Every request goes to a real uvicorn over loopback (the app in a thread, or
``python -m fslib.serve`` in a child), backed by the real embedded Redis; one
test drives a real browser through a cross-site form and fetch.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from fslib import FeatureStore, synthesize_users
from fslib.local import EmbeddedRedis, free_port
from fslib.serve import ServerProcess, create_app
from fslib.serve.app import MAX_ECHO_CHARS
from fslib.serve.model_server import PUSH_SOURCE
from fslib.serve.models import MAX_ENTITIES
from fslib.serve.security import TOKEN_VARIABLE

import test_serve
from system_deps import CHROMIUM, needs_chromium
from test_build_features import SECRET, SECRET_URLS
from test_serve import ONLINE, MakeClient, ask, raw, snapshot

direct = test_serve.direct  # the fixtures of test_serve.py: the test's own store, a server with options
make_client = test_serve.make_client

TOKEN = "t0ken-for-the-tests-only_0123456789"
USERS = 3


@pytest.fixture
def http(make_client: MakeClient, direct: FeatureStore) -> httpx.Client:
    """A server without a token (worker stopped) over a prefix holding USERS users."""
    direct.bulk_load(synthesize_users(USERS))
    return make_client()


def port_of(http: httpx.Client) -> int:
    port = http.base_url.port
    assert port is not None
    return port


def assert_refused(response: httpx.Response, status: int, says: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json", response.headers
    assert says in response.json()["detail"], response.json()


def assert_untouched(http: httpx.Client, direct: FeatureStore) -> None:
    """The users are still there, no push landed, the worker was not started (read past the guard, as the server)."""
    assert direct.count_entities() == USERS
    assert direct.field_ttls_seconds("u0001", ["tx_count_5m"]) == {"tx_count_5m": -2}
    assert http.get("/state").json()["worker"]["status"] == "stopped"


# -- 1. a web page can not change state: JSON only, and no cross-origin request ----------------

NOT_JSON: dict[str, dict[str, Any]] = {
    "text/plain": {"content": b'{"x": 1}', "headers": {"content-type": "text/plain"}},
    "form": {"data": {"x": "1"}},
    "multipart": {"files": {"x": ("x.txt", b"1")}},
    "no body": {},
    "json lookalike": {"content": b"{}", "headers": {"content-type": "application/jsonp"}},
}


@pytest.mark.parametrize("path", ["/reset", "/worker/toggle", "/push", ONLINE])  # ONLINE: its own route class
@pytest.mark.parametrize("body", list(NOT_JSON))
def test_a_state_change_that_is_not_json_gets_a_415(
    http: httpx.Client, direct: FeatureStore, path: str, body: str
) -> None:
    assert_refused(http.post(path, **NOT_JSON[body]), 415, "takes application/json only")
    assert_untouched(http, direct)


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "null"},  # a sandboxed frame, a file:// page
        {"origin": "http://localhost:{port}"},  # another name of this very server is another origin
        {"origin": "https://127.0.0.1:{port}"},
        {"sec-fetch-site": "cross-site"},
    ],
    ids=["other site", "null", "other name", "other scheme", "sec-fetch-site"],
)
def test_a_cross_origin_request_gets_a_403_and_changes_nothing(
    http: httpx.Client, direct: FeatureStore, headers: dict[str, str]
) -> None:
    headers = {name: value.format(port=port_of(http)) for name, value in headers.items()}
    for method, path in [
        ("POST", "/reset"),
        ("POST", "/worker/toggle"),
        ("POST", ONLINE),
        ("GET", "/state"),
        ("OPTIONS", "/reset"),
    ]:
        response = http.request(method, path, json={} if method == "POST" else None, headers=headers)
        assert_refused(response, 403, "refused")
        assert not [name for name in response.headers if name.startswith("access-control-")]
    assert_untouched(http, direct)


def test_a_same_origin_json_request_is_served(http: httpx.Client, direct: FeatureStore) -> None:
    own = {"origin": f"http://127.0.0.1:{port_of(http)}", "sec-fetch-site": "same-origin"}  # /docs in a browser
    assert http.post("/worker/toggle", json={}, headers=own).json() == {"status": "running"}
    assert http.post("/reset", json={}, headers={"content-type": "application/json; charset=utf-8"}).json() == {
        "deleted": USERS
    }
    preflight = http.options("/reset", headers=own | {"access-control-request-method": "POST"})
    assert preflight.status_code == 405 and "access-control-allow-origin" not in preflight.headers  # no CORS
    assert snapshot(direct) == {}


ATTACK_PAGE = """<!doctype html><title>cute cats</title>
<form method="post" action="{target}/{path}" enctype="{enctype}"><input name='{{"a": "' value='"}}'></form>
<script>
fetch("{target}/{path}", {{method: "POST", mode: "no-cors", headers: {{"content-type": "text/plain"}}, body: "{{}}"}})
  .finally(() => fetch("{target}/{path}", {{method: "POST", headers: {{"content-type": "application/json"}},
                                            body: "{{}}"}}).catch(() => null))
  .finally(() => document.forms[0].submit());
</script>"""


@pytest.fixture
def attacker_site() -> Iterator[Callable[[str], str]]:
    """A web server on ``localhost`` (another site than ``127.0.0.1``) serving the page it is given."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        timeout = 5  # a connection the browser opens and never uses ends, and so does its thread

        def do_GET(self) -> None:
            body = pages.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("content-type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = False  # so server_close() joins the threads of the requests
    thread = threading.Thread(target=server.serve_forever, name="attacker-site")
    thread.start()

    def publish(html: str) -> str:
        path = f"/{len(pages)}.html"
        pages[path] = html.encode()
        return f"http://localhost:{server.server_address[1]}{path}"

    try:
        yield publish
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@needs_chromium
def test_a_cross_site_page_in_a_real_browser_cannot_reset_or_toggle(
    http: httpx.Client, direct: FeatureStore, attacker_site: Callable[[str], str]
) -> None:
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM_ARGS

    target = str(http.base_url).rstrip("/")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            for path in ["reset", "worker/toggle"]:
                for enctype in ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]:
                    attack = attacker_site(ATTACK_PAGE.format(target=target, path=path, enctype=enctype))
                    with page.expect_navigation(url=f"{target}/{path}", timeout=60_000):
                        page.goto(attack)  # it fetches twice, then submits its form: the browser lands on the answer
                    answer = page.inner_text("body")
                    assert "cross-origin request refused" in answer, (path, enctype, answer)
                    assert_untouched(http, direct)
        finally:
            browser.close()


# -- 2. DNS rebinding: only the server's own names in Host --------------------------------------

PUSH = {
    "push_source_name": PUSH_SOURCE,
    "df": {"user_id": ["u0001"], "event_timestamp": ["2026-12-02T10:00:00Z"], "tx_count_5m": [1]},
}
HOSTILE_REQUESTS = [
    ("GET", "/state", {}),
    ("GET", "/inspect", {"params": {"id": "u0001"}}),
    ("GET", "/read", {"params": {"id": "u0001"}}),
    ("POST", ONLINE, ask(["u0001"])),
    ("POST", "/reset", {"json": {}}),
    ("POST", "/worker/toggle", {"json": {}}),
    ("POST", "/push", {"json": PUSH}),
    ("GET", "/openapi.json", {}),
]


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "localhost.evil.example", "127.0.0.1:1", "0.0.0.0:{port}"]
)
def test_a_foreign_host_header_gets_a_400_on_every_endpoint(
    http: httpx.Client, direct: FeatureStore, host: str
) -> None:
    host = host.format(port=port_of(http))
    for method, path, request in HOSTILE_REQUESTS:
        response = http.request(method, path, **request, headers={"host": host})
        assert_refused(response, 400, f"Host {host!r} is not one of this server's names")
    assert_untouched(http, direct)


@pytest.mark.parametrize(
    ("name", "hostile"),
    [
        ("host", "evil.example"),
        ("origin", "https://evil.example"),
        ("content-type", "text/plain"),
        ("sec-fetch-site", "cross-site"),
    ],
)
def test_a_checked_header_sent_twice_gets_a_400(
    http: httpx.Client, direct: FeatureStore, name: str, hostile: str
) -> None:
    # The guard must not judge one copy while a proxy or the app reads the other: the hostile one goes first.
    # Raw bytes: httpx will not send two Host headers.
    port = port_of(http)
    own = {
        "host": f"127.0.0.1:{port}",
        "origin": f"http://127.0.0.1:{port}",
        "content-type": "application/json",
        "sec-fetch-site": "same-origin",
    }
    for path in ("/reset", "/worker/toggle"):
        lines = [f"POST {path} HTTP/1.1", f"{name}: {hostile}", *(f"{h}: {v}" for h, v in own.items())]
        request = ("\r\n".join([*lines, "content-length: 2", "connection: close", "", ""]) + "{}").encode()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(request)
            answer = b"".join(iter(lambda: sock.recv(65536), b""))
        assert answer.startswith(b"HTTP/1.1 400 "), answer
        if name != "host":  # two Host headers may be refused by uvicorn's parser before the guard sees them
            assert f"repeated header {name}: send each once".encode() in answer, answer
    assert_untouched(http, direct)


def test_the_loopback_names_are_answered_with_or_without_the_port(http: httpx.Client) -> None:
    port = port_of(http)
    for host in ["127.0.0.1", "localhost", "[::1]", "LocalHost"]:
        for spelt in [host, f"{host}:{port}"]:
            response = http.get("/state", headers={"host": spelt})
            assert response.status_code == 200, (spelt, response.text)


def test_allowed_hosts_add_names(make_client: MakeClient, direct: FeatureStore) -> None:
    http = make_client(allowed_hosts=["features.internal", "Proxy.Example:8443"])
    port = port_of(http)
    for host in ["features.internal", f"features.internal:{port}", "proxy.example:8443"]:
        assert http.get("/state", headers={"host": host}).status_code == 200, host
    from_proxy = {"host": "features.internal", "origin": "http://features.internal"}
    assert http.post("/reset", json={}, headers=from_proxy).json() == {"deleted": 0}
    for host in ["proxy.example", f"proxy.example:{port}", "evil.example"]:
        assert http.get("/state", headers={"host": host}).status_code == 400, host
    with pytest.raises(ValueError, match="not a host name"):
        create_app(allowed_hosts=["http://features.internal/"])


# -- 3. a token: required beyond loopback, enforced wherever given --------------------------------


def test_a_token_is_required_on_every_endpoint_but_health(make_client: MakeClient, direct: FeatureStore) -> None:
    direct.bulk_load(synthesize_users(USERS))
    http = make_client(token=TOKEN)
    for method, path, request in [*HOSTILE_REQUESTS, ("GET", "/docs", {})]:
        for authorization in [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", TOKEN, "Bearer"]:
            headers = {"authorization": authorization} if authorization else {}
            response = http.request(method, path, **request, headers=headers)
            assert_refused(response, 401, "token")
            assert response.headers["www-authenticate"].startswith("Bearer"), response.headers
    assert direct.count_entities() == USERS
    assert http.get("/health").json() == {"status": "ok"}
    signed = {"authorization": f"Bearer {TOKEN}"}
    assert http.get("/state", headers=signed).json()["entity_count"] == USERS
    assert http.get("/docs", headers={"authorization": f"bearer {TOKEN}"}).status_code == 200
    assert http.post("/reset", json={}, headers=signed).json() == {"deleted": USERS}


def test_create_app_refuses_a_bind_beyond_loopback_without_a_token_and_weak_tokens() -> None:
    for host in ["0.0.0.0", "::", "192.0.2.10", "features.internal"]:
        with pytest.raises(ValueError, match="beyond loopback\\) needs a token"):
            create_app(host=host)
        create_app(host=host, token=TOKEN)  # nothing connects before the app starts
    for loopback in ["127.0.0.1", "127.0.0.2", "localhost", "::1"]:
        create_app(host=loopback)
    for weak in ["", "short", "has a space in it 0123456789", "ünïcode-0123456789abcdef"]:
        with pytest.raises(ValueError, match="at least 16 characters"):
            create_app(token=weak)


def run_serve(*options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fslib.serve", *options],
        env=env if env is not None else os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_python_m_fslib_serve_refuses_to_bind_beyond_loopback_without_a_token(redis_server: EmbeddedRedis) -> None:
    env = {name: value for name, value in os.environ.items() if name != TOKEN_VARIABLE}
    done = run_serve("--host", "0.0.0.0", "--port", str(free_port()), env={**env, "REDIS_URL": redis_server.url})
    assert done.returncode == 2, done
    assert "needs a token: set FSLIB_SERVE_TOKEN or give --token-file" in done.stderr
    assert "Uvicorn running" not in done.stdout + done.stderr


@pytest.mark.parametrize("url", SECRET_URLS)
def test_python_m_fslib_serve_refuses_a_password_in_redis_url_before_connecting(url: str) -> None:
    env = {name: value for name, value in os.environ.items() if name != "REDIS_URL"}
    done = run_serve("--redis-url", url.format(port=free_port()), "--port", str(free_port()), env=env)
    assert done.returncode == 2 and done.stdout == "", done
    [line] = done.stderr.splitlines()
    assert line.startswith("error: --redis-url ") and "holds a password" in line and "REDIS_URL" in line, line
    assert SECRET not in line


def start_line(server: ServerProcess) -> str:
    """The one line the server prints before uvicorn's own."""
    [line] = [line for line in server.output().splitlines() if line.startswith("fslib feature server on ")]
    return line


def test_the_start_line_says_who_may_call(redis_server: EmbeddedRedis, prefix: str) -> None:
    options = ("--key-prefix", prefix, "--no-worker")
    with ServerProcess(*options, "--allowed-host", "features.internal", redis_url=redis_server.url) as server:
        line = start_line(server)
    assert "no token (loopback only)" in line and "answers Host 127.0.0.1, localhost, [::1], features.internal" in line


@pytest.mark.parametrize("given_by", ["FSLIB_SERVE_TOKEN", "--token-file"])
def test_python_m_fslib_serve_enforces_a_token_on_loopback(
    redis_server: EmbeddedRedis, prefix: str, tmp_path: Path, given_by: str
) -> None:
    if given_by == "--token-file":
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN + "\n")
        server = ServerProcess("--key-prefix", prefix, "--token-file", str(token_file), redis_url=redis_server.url)
    else:
        server = ServerProcess("--key-prefix", prefix, redis_url=redis_server.url, token=TOKEN)
    with server, httpx.Client(base_url=server.url) as http:
        assert http.get("/state").status_code == 401
        assert http.get("/state", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
        line = start_line(server)
    assert "token required" in line and TOKEN not in server.output() and TOKEN not in " ".join(server.command)


def test_the_server_process_hands_over_no_token_of_its_parent(
    redis_server: EmbeddedRedis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)  # a notebook's kernel started with one set
    with ServerProcess("--key-prefix", prefix, redis_url=redis_server.url) as server:
        assert httpx.get(f"{server.url}/state").status_code == 200


# -- 7. input JSON can carry but an answer cannot: a JSON 422, never a 500 ------------------------

UNENCODABLE = {
    "lone surrogate id": (ONLINE, rb'{"entities": {"user_id": ["\ud800"]}, "features": ["risk_segment"]}'),
    "lone surrogate feature": (ONLINE, rb'{"entities": {"user_id": ["u0001"]}, "features": ["\udfff"]}'),
    "lone surrogate join key": (ONLINE, rb'{"entities": {"\ud800": ["u0001"]}, "features": ["risk_segment"]}'),
    "lone surrogate body key": ("/bulk-load", rb'{"\ud800": 1}'),
    "NaN count": ("/bulk-load", b'{"count": NaN}'),
    "Infinity TTL": ("/bulk-load", b'{"count": 1, "ttl_seconds": Infinity}'),
    "-Infinity id": (ONLINE, b'{"entities": {"user_id": [-Infinity]}, "features": ["risk_segment"]}'),
    "NaN feature": ("/batch-read", b'{"features": [NaN]}'),
    "huge number": ("/bulk-load", b'{"count": 1e999}'),
}


@pytest.mark.parametrize("case", list(UNENCODABLE))
def test_input_an_answer_cannot_echo_gets_a_json_422(http: httpx.Client, direct: FeatureStore, case: str) -> None:
    before = snapshot(direct)
    path, body = UNENCODABLE[case]
    response = http.post(path, **raw(body))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json" and response.json()["detail"]
    assert snapshot(direct) == before


def test_a_422_does_not_echo_oversized_input(http: httpx.Client) -> None:
    too_many = http.post(ONLINE, **ask([f"u{i:05d}" for i in range(MAX_ENTITIES + 1)]))
    [error] = too_many.json()["detail"]
    assert too_many.status_code == 422 and "at most 1000 items" in error["msg"]
    assert len(error["input"]) <= MAX_ECHO_CHARS and "characters cut" in error["input"]
    assert len(too_many.content) < 3 * MAX_ECHO_CHARS

    long_id = http.post(ONLINE, **ask(["x" * 100_000 + ":"]))  # its message quotes the id
    assert long_id.status_code == 422 and len(long_id.content) < 4 * MAX_ECHO_CHARS
    assert "must not contain ':'" in long_id.json()["detail"][0]["msg"]

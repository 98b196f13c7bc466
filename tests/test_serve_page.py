"""The demo page at ``GET /`` in a real browser: every action of the Redis docs demo, read back from the page.

The app runs under a real uvicorn over loopback on the real embedded Redis, and
headless Chromium (Playwright) clicks the page as a person would. A short
streaming TTL lets a paused worker's fields be seen going ``expired``: the test
reads again until the page shows it, within a bound, never after a fixed sleep.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from fslib import FeatureStore
from fslib.serve.page import ASSETS_PATH, PAGE_FILES, PAGE_POLICY
from fslib.serve.security import PUBLIC_PATHS

import test_serve
from polling import wait_until
from system_deps import CHROMIUM, needs_chromium
from test_serve import MakeClient

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

direct = test_serve.direct  # the fixtures of test_serve.py: the test's own store, a server with options
make_client = test_serve.make_client

TOKEN = "t0ken-for-the-page-tests_0123456789"
STREAMING_TTL_S = 2
EXPIRY_BOUND_S = 30  # a 2 s field TTL, on 2 noisy shared cores
UI_MS = 30_000
LATENCY = re.compile(r"\d+\.\d\d ms")
BATCH_NAMES = ["country_iso", "risk_segment", "account_age_days", "tx_count_7d", "avg_amount_30d"]


# -- served like every route: Host checked, strict CSP, not in the API schema ----------------------


def test_the_page_and_its_files_carry_a_strict_csp_and_stay_out_of_the_api_schema(make_client: MakeClient) -> None:
    http = make_client()
    page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for response in [page, http.get(f"{ASSETS_PATH}/page.js"), http.get(f"{ASSETS_PATH}/page.css")]:
        assert response.headers["content-security-policy"] == PAGE_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self';" in PAGE_POLICY and "unsafe-inline" not in PAGE_POLICY
    for absent in ["<script>", " style=", "http:", "https:"]:  # nothing inline, nothing from another site
        assert absent not in page.text, absent
    assert http.get(f"{ASSETS_PATH}/page.js").headers["content-type"].startswith("text/javascript")
    assert http.get(f"{ASSETS_PATH}/page.css").headers["content-type"].startswith("text/css")
    assert "no page asset 'index.html'" in http.get(f"{ASSETS_PATH}/index.html").json()["detail"]
    assert http.get(f"{ASSETS_PATH}/..%2Fpage.py").status_code == 404
    paths = http.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not [path for path in paths if path.startswith(ASSETS_PATH)]


def test_the_page_is_served_only_to_the_servers_own_names(make_client: MakeClient) -> None:
    http = make_client(allowed_hosts=["features.internal"])
    port = http.base_url.port
    for path in ["/", f"{ASSETS_PATH}/page.js", f"{ASSETS_PATH}/page.css"]:
        for host in ["127.0.0.1", f"localhost:{port}", "[::1]", "features.internal"]:
            assert http.get(path, headers={"host": host}).status_code == 200, (path, host)
        for host in ["evil.example", f"evil.example:{port}", "localhost.evil.example", "127.0.0.1:1"]:
            refused = http.get(path, headers={"host": host})
            assert refused.status_code == 400, (path, host, refused.text)
            assert "is not one of this server's names" in refused.json()["detail"]
        cross = http.get(path, headers={"sec-fetch-site": "cross-site"})
        assert cross.status_code == 403 and "cross-site" in cross.json()["detail"], path


def test_with_a_token_the_page_opens_without_it_and_holds_no_data(
    make_client: MakeClient, direct: FeatureStore
) -> None:
    http = make_client(token=TOKEN)
    assert PAGE_FILES <= PUBLIC_PATHS
    for path in PAGE_FILES:
        page = http.get(path)
        assert page.status_code == 200, path
        assert not any(name in page.text for name in direct.schema.names), path  # the schema comes from /state
    assert http.get("/state").status_code == 401  # every call the page makes needs the token
    assert http.get(f"{ASSETS_PATH}/other.js").status_code == 401  # only the page's own files are public


# -- in a browser ---------------------------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[Browser]:
    pytest.importorskip("playwright")
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM_ARGS

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page with what went wrong on it: script errors and CSP violations (console messages)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: self.problems.append(message.text) if "Content Security Policy" in message.text else None,
        )
        page.set_default_timeout(UI_MS)


def run_action(page: Page, result_id: str, click: Callable[[], None]) -> Locator:
    """Click, then wait until the action's result area is no longer busy; return it."""
    from playwright.sync_api import expect

    result = page.locator(f"#{result_id}")
    click()
    expect(result).to_have_attribute("aria-busy", "false")
    return result


def read(page: Page) -> Locator:
    return run_action(page, "read-result", lambda: page.click("#read-form button[type=submit]"))


def status_of(page: Page, feature: str) -> str:
    return page.locator(f"#read-result tr[data-feature='{feature}'] td.status").inner_text()


def read_until(page: Page, feature: str, status: str) -> bool:
    """Read again until the page shows ``feature`` with ``status`` (bounded)."""
    return wait_until(lambda: (read(page), status_of(page, feature))[1] == status, timeout=EXPIRY_BOUND_S)


def state_value(page: Page, key: str) -> Locator:
    return page.locator(f"#state-values dd[data-key='{key}']")


@needs_chromium
def test_every_demo_action_works_from_the_page(make_client: MakeClient, direct: FeatureStore, browser: Browser) -> None:
    from playwright.sync_api import expect

    http = make_client(streaming_ttl_seconds=STREAMING_TTL_S, tick_seconds=0.2, users_per_tick=3)
    watched = Watched(browser.new_page())
    page = watched.page
    page.goto(str(http.base_url))
    expect(state_value(page, "Key prefix")).to_have_text(direct.key_prefix)
    expect(state_value(page, "Entities")).to_have_text("0")
    expect(state_value(page, "Streaming TTL")).to_have_text(f"{STREAMING_TTL_S} s")
    expect(page.locator("#worker-status")).to_have_text("stopped")

    # The CSP holds: a script added inline is refused.
    assert page.evaluate(
        """() => new Promise((done) => {
             document.addEventListener("securitypolicyviolation", (e) => done(e.violatedDirective), {once: true});
             const s = document.createElement("script"); s.textContent = "window.ran = 1"; document.body.append(s);
           })"""
    ).startswith("script-src")
    assert page.evaluate("window.ran") is None
    watched.problems.clear()  # that violation was the point

    # Bulk load 3 users with a chosen key TTL.
    page.fill("#load-count", "3")
    page.fill("#load-ttl", "600")
    loaded = run_action(page, "load-result", lambda: page.click("#load-form button[type=submit]"))
    expect(loaded).to_contain_text("wrote 3 users with a key TTL of 600 s in")
    assert direct.count_entities() == 3 and 590 <= direct.client.ttl(direct.key_for("u0001")) <= 600
    expect(state_value(page, "Entities")).to_have_text("3")
    expect(state_value(page, "batch writes")).to_have_text("3")

    # Batch scoring over the picked features, before the worker wrote any streaming field.
    page.check("#features input[value='risk_segment']")
    page.check("#features input[value='tx_count_5m']")
    page.fill("#batch-count", "5")
    batch = run_action(page, "batch-result", lambda: page.click("#batch-form button[type=submit]"))
    expect(batch.locator("dd[data-key='requested']")).to_have_text("5")
    expect(batch.locator("dd[data-key='found']")).to_have_text("3")
    expect(batch.locator("dd[data-key='fields present']")).to_have_text("3")  # risk_segment only
    expect(batch.locator("dd[data-key='fields stale']")).to_have_text("0")
    assert LATENCY.fullmatch(batch.locator("dd[data-key='latency']").inner_text())

    # An inference read: each picked feature's value, status and field TTL, and the latency.
    page.fill("#read-id", "u0001")
    result = read(page)
    rows = result.locator("tbody tr")
    expect(rows).to_have_count(2)
    stored = direct.client.hgetall(direct.key_for("u0001"))
    segment = result.locator("tr[data-feature='risk_segment']")
    expect(segment.locator("td.value")).to_have_text(f'"{stored["risk_segment"]}"')
    expect(segment.locator("td.status")).to_have_text("present")
    expect(segment.locator("td.ttl")).to_have_text("-1 (no own TTL)")
    assert status_of(page, "tx_count_5m") == "expired"  # a streaming feature never streamed yet
    expect(result).to_contain_text("u0001: key TTL ")
    assert LATENCY.fullmatch(result.locator(".latency").inner_text())

    # Start the worker: streaming fields arrive with the short field TTL.
    toggled = run_action(page, "worker-result", lambda: page.click("#worker-toggle"))
    expect(toggled).to_have_text("worker running")
    expect(page.locator("#worker-status")).to_have_text("running")
    expect(page.locator("#worker-toggle")).to_have_text("Pause the worker")
    assert read_until(page, "tx_count_5m", "present"), status_of(page, "tx_count_5m")
    ttl_shown = page.locator("#read-result tr[data-feature='tx_count_5m'] td.ttl").inner_text()
    assert ttl_shown in {f"{seconds} s" for seconds in range(STREAMING_TTL_S + 1)}, ttl_shown
    age_shown = page.locator("#read-result tr[data-feature='tx_count_5m'] td.age").inner_text()
    assert re.fullmatch(r"-?\d+\.\d s ago", age_shown), age_shown  # the worker writes with event times
    expect(page.locator("#read-result tr[data-feature='risk_segment'] td.age")).to_have_text("")  # a batch value

    # A max age the worker's values cannot meet: the read and batch scoring call them stale, not present.
    page.fill("#max-age", "0.001")
    assert read_until(page, "tx_count_5m", "stale"), status_of(page, "tx_count_5m")
    batch = run_action(page, "batch-result", lambda: page.click("#batch-form button[type=submit]"))
    assert int(batch.locator("dd[data-key='fields stale']").inner_text()) >= 1
    page.fill("#max-age", "")

    # Pause it: its fields expire within the streaming TTL, and the page says so (present -> expired).
    toggled = run_action(page, "worker-result", lambda: page.click("#worker-toggle"))
    expect(toggled).to_have_text("worker paused")
    expect(page.locator("#worker-toggle")).to_have_text("Resume the worker")
    assert read_until(page, "tx_count_5m", "expired"), status_of(page, "tx_count_5m")
    expect(page.locator("#read-result tr[data-feature='tx_count_5m'] td.ttl")).to_have_text("-2 (none)")
    expect(state_value(page, "Worker")).to_have_text("paused")
    assert int(state_value(page, "Worker writes").inner_text()) > 0
    assert int(state_value(page, "reads").inner_text()) >= 5

    # Every feature when none is picked.
    page.click("#features-none")
    expect(read(page).locator("tbody tr")).to_have_count(len(direct.schema.names))

    # Inspect: the hash, its fields and their TTLs (the streaming ones gone).
    page.fill("#inspect-id", "u0002")
    inspected = run_action(page, "inspect-result", lambda: page.click("#inspect-form button[type=submit]"))
    expect(inspected.locator(".summary")).to_contain_text(f"{direct.key_for('u0002')} exists, key TTL ")
    stored = direct.client.hgetall(direct.key_for("u0002"))
    fields = inspected.locator("tbody tr")
    expect(fields).to_have_count(len(stored))
    assert sorted(stored) == sorted(fields.evaluate_all("rows => rows.map(r => r.dataset.field)"))
    for name in BATCH_NAMES:
        row = inspected.locator(f"tr[data-field='{name}']")
        expect(row.locator("td.value")).to_have_text(stored[name])
        expect(row.locator("td.ttl")).to_have_text("-1 (no own TTL)")
    page.fill("#inspect-id", "u9999")
    missing = run_action(page, "inspect-result", lambda: page.click("#inspect-form button[type=submit]"))
    expect(missing).to_have_text(f"{direct.key_for('u9999')} does not exist")

    # Errors are shown with the server's detail: a 422 for a bad id, a 409 for a key that holds no hash.
    page.fill("#read-id", "bad:id")
    refused = read(page)
    expect(refused).to_have_class(re.compile(r"\berror\b"))
    expect(refused).to_contain_text("422: query.id: ")
    direct.client.set(direct.key_for("u0009"), "not a hash")
    page.fill("#inspect-id", "u0009")
    conflict = run_action(page, "inspect-result", lambda: page.click("#inspect-form button[type=submit]"))
    expect(conflict).to_contain_text("409: ")
    expect(conflict).to_contain_text(direct.key_for("u0009"))
    page.fill("#inspect-id", "u0002")
    expect(
        run_action(page, "inspect-result", lambda: page.click("#inspect-form button[type=submit]"))
    ).not_to_have_class(re.compile(r"\berror\b"))

    # Reset asks first: cancelled, nothing goes; confirmed, everything under the prefix does.
    keys = direct.count_entities()
    page.once("dialog", lambda dialog: dialog.dismiss())
    cancelled = run_action(page, "reset-result", lambda: page.click("#reset-button"))
    expect(cancelled).to_have_text("reset cancelled: nothing deleted")
    assert direct.count_entities() == keys == 4
    page.once("dialog", lambda dialog: dialog.accept())
    done = run_action(page, "reset-result", lambda: page.click("#reset-button"))
    expect(done).to_have_text(f"deleted {keys} entities")
    assert direct.count_entities() == 0
    expect(state_value(page, "Entities")).to_have_text("0")
    assert watched.problems == []


@needs_chromium
def test_the_token_is_kept_in_session_storage_and_sent_as_a_bearer_header_only(
    make_client: MakeClient, direct: FeatureStore, browser: Browser
) -> None:
    """With a token, /state answers 401 until it is pasted, then every request carries it, never in a URL.

    The page and its files open without it (they hold no data); the feature picker fills once /state answers.
    """
    from playwright.sync_api import Request, expect

    http = make_client(token=TOKEN)
    base = str(http.base_url).rstrip("/")
    context = browser.new_context()
    api_requests: list[Request] = []

    context.on("request", lambda request: api_requests.append(request) if request.resource_type == "fetch" else None)
    page = Watched(context.new_page()).page
    page.goto(f"{base}/")
    expect(page.locator("#state-error")).to_contain_text("401: this server needs a token")
    expect(page.locator("#token-state")).to_have_text("no token")

    page.fill("#token", TOKEN)
    page.click("#token-form button[type=submit]")
    expect(page.locator("#token-state")).to_have_text("token set for this tab")
    expect(page.locator("#token")).to_have_value("")
    expect(page.locator("#state-error")).to_be_hidden()
    expect(state_value(page, "Entities")).to_have_text("0")
    expect(page.locator("#features input[name=feature]")).to_have_count(len(direct.schema.names))
    assert page.evaluate("sessionStorage.getItem('fslib-serve-token')") == TOKEN
    assert page.evaluate("localStorage.length") == 0
    page.fill("#load-count", "2")
    expect(run_action(page, "load-result", lambda: page.click("#load-form button[type=submit]"))).to_contain_text(
        "wrote 2 users"
    )
    assert direct.count_entities() == 2

    signed = [request for request in api_requests if request.headers.get("authorization") == f"Bearer {TOKEN}"]
    assert {request.url.split("?")[0].removeprefix(base) for request in signed} >= {"/state", "/bulk-load"}
    assert all(TOKEN not in request.url for request in api_requests)

    page.click("#token-forget")
    expect(page.locator("#token-state")).to_have_text("no token")
    expect(page.locator("#state-error")).to_contain_text("401: this server needs a token")
    assert page.evaluate("sessionStorage.getItem('fslib-serve-token')") is None
    context.close()

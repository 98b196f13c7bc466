"""``/docs`` and ``/redoc`` render in a real browser with no network beyond loopback: every file comes from the server.

The app runs under a real uvicorn over loopback on the real embedded Redis; Chromium
aborts every request to anywhere else and the test lists them: there must be none.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from fslib.serve.docs import ASSETS_PATH
from fslib.serve.security import is_loopback

import test_serve
from system_deps import CHROMIUM, needs_chromium

make_client = test_serve.make_client  # the fixture of test_serve.py: a server with options

RENDER_MS = 60_000
SHOWN = ["/get-online-features", "/push", "/state", "/bulk-load", "/read", "/reset"]
OPERATIONS = ["Get Online Features", "Push", "State", "Bulk Load", "Read", "Reset"]  # ReDoc names them so


@pytest.fixture
def http(make_client: test_serve.MakeClient) -> httpx.Client:
    return make_client()


def test_the_docs_pages_name_only_files_the_server_serves(http: httpx.Client) -> None:
    for path, files in [
        ("/docs", ["swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"]),
        ("/redoc", ["redoc.standalone.js", "favicon.png"]),
    ]:
        page = http.get(path)
        assert page.status_code == 200, page.text
        assert "http://" not in page.text and "https://" not in page.text, page.text  # no CDN, no Google Fonts
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]  # no clickjacking of "Execute"
        for name in files:
            assert f'"{ASSETS_PATH}/{name}"' in page.text, (path, name)
            served = http.get(f"{ASSETS_PATH}/{name}")
            assert served.status_code == 200 and len(served.content) > 1000, (name, served.status_code)
    assert http.get(f"{ASSETS_PATH}/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert http.get(f"{ASSETS_PATH}/redoc.standalone.js").headers["content-type"].startswith("text/javascript")
    assert "no docs asset 'index.html'" in http.get(f"{ASSETS_PATH}/index.html").json()["detail"]
    for name in ["..%2Fcore.py", "%2E%2E%2F__init__.py", "static/favicon.png"]:
        assert http.get(f"{ASSETS_PATH}/{name}").status_code == 404, name
    assert ASSETS_PATH not in str(http.get("/openapi.json").json()["paths"])


def test_the_docs_assets_get_the_host_check_of_every_route(http: httpx.Client) -> None:
    for path in ["/docs", "/redoc", f"{ASSETS_PATH}/swagger-ui-bundle.js"]:
        response = http.get(path, headers={"host": "evil.example"})
        assert response.status_code == 400 and "not one of this server's names" in response.json()["detail"], path


@needs_chromium
def test_docs_and_redoc_render_every_endpoint_with_the_network_blocked(http: httpx.Client) -> None:
    from playwright.sync_api import Route, sync_playwright
    from test_browser import CHROMIUM_ARGS

    base = str(http.base_url).rstrip("/")
    blocked: list[str] = []

    def only_loopback(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https") and is_loopback(urlsplit(url).hostname or ""):
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.route("**/*", only_loopback)
            page = context.new_page()
            page.goto(f"{base}/docs")
            paths = page.locator(".opblock-summary-path")
            paths.filter(has_text="/state").first.wait_for(timeout=RENDER_MS)
            assert set(SHOWN) <= set(paths.all_inner_texts()), paths.all_inner_texts()
            assert page.locator(".swagger-ui .info .title").inner_text().startswith("fslib feature server")

            page.goto(f"{base}/redoc")
            headings = page.locator("[data-section-id^='tag/'] h2")
            headings.filter(has_text="Get Online Features").first.wait_for(timeout=RENDER_MS)
            assert set(OPERATIONS) <= set(headings.all_inner_texts()), headings.all_inner_texts()
        finally:
            browser.close()
    assert blocked == [], f"the docs pages asked for files beyond loopback: {blocked}"

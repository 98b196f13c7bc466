"""``GET /``: the Redis docs demo's web page, served with its script and style from the package.

Plain HTML, one vanilla JavaScript file and one CSS file (``fslib/serve/page/``),
no CDN and no build step. Every action on the page is a same-origin ``fetch``
to the JSON endpoints of :mod:`fslib.serve.demo_api`, so the page passes the
checks of :mod:`fslib.serve.security` as any client does. The page and its
files hold no data (the feature picker is filled from ``GET /state``), so they
are served without the token (:data:`fslib.serve.security.PUBLIC_PATHS`); every
call the page makes needs it.

Its ``Content-Security-Policy`` allows scripts, styles, images and fetches
from this server only, no inline script, no form posts and no framing.
"""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

__all__ = ["ASSETS_PATH", "PAGE_FILES", "PAGE_POLICY", "router"]

ASSETS_PATH = "/page"
"""Where the page's script and style are served."""

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""The ``Content-Security-Policy`` of the page and its files."""

_HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # a new fslib's page replaces the old one at once
}
_MEDIA_TYPES = {"page.js": "text/javascript", "page.css": "text/css"}

PAGE_FILES = frozenset({"/", *(f"{ASSETS_PATH}/{name}" for name in _MEDIA_TYPES)})
"""The page's paths: data-free, so a browser opens them without the token."""

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> HTMLResponse:
    """The page (its feature picker is filled from ``GET /state``)."""
    return HTMLResponse(_read("index.html"), headers=_HEADERS)


@router.get(ASSETS_PATH + "/{name}")
def asset(name: str) -> Response:
    """``page.js`` or ``page.css`` (404 for any other name)."""
    media_type = _MEDIA_TYPES.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail=f"no page asset {name[:100]!r}")
    return Response(_read(name), media_type=media_type, headers=_HEADERS)


@functools.cache
def _read(name: str) -> str:
    """A file of ``fslib/serve/page/``, read once."""
    return (resources.files("fslib.serve") / "page" / name).read_text(encoding="utf-8")

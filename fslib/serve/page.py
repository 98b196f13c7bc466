"""``GET /``: the Redis docs demo's web page, served with its script and style from the package.

Plain HTML, one vanilla JavaScript file and one CSS file (``fslib/serve/page/``),
no CDN and no build step. Every action on the page is a same-origin ``fetch``
to the JSON endpoints of :mod:`fslib.serve.demo_api`, so the page passes the
checks of :mod:`fslib.serve.security` as any client does. The one thing filled
in on the server is the feature picker: the schema's names, as escaped HTML.

Its ``Content-Security-Policy`` allows scripts, styles, images and fetches
from this server only, no inline script, no form posts and no framing.
"""

from __future__ import annotations

import functools
import html
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

from fslib.schema import Schema
from fslib.serve.services import Svc

__all__ = ["ASSETS_PATH", "PAGE_POLICY", "router"]

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
_FEATURES_SLOT = "<!-- features -->"

router = APIRouter(include_in_schema=False)


@router.get("/")
def index(svc: Svc) -> HTMLResponse:
    """The page, its feature picker listing the server's schema."""
    return HTMLResponse(_read("index.html").replace(_FEATURES_SLOT, _picker(svc.schema)), headers=_HEADERS)


@router.get(ASSETS_PATH + "/{name}")
def asset(name: str) -> Response:
    """``page.js`` or ``page.css`` (404 for any other name)."""
    media_type = _MEDIA_TYPES.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail=f"no page asset {name[:100]!r}")
    return Response(_read(name), media_type=media_type, headers=_HEADERS)


def _picker(schema: Schema) -> str:
    """A checkbox per feature, each named with its kind; none picked means every feature."""
    boxes = [
        f'<label><input type="checkbox" name="feature" value="{html.escape(name)}"> '
        f"{html.escape(name)} <small>{html.escape(schema[name].kind.value)}</small></label>"
        for name in schema.names
    ]
    return "\n        ".join(boxes)


@functools.cache
def _read(name: str) -> str:
    """A file of ``fslib/serve/page/``, read once."""
    return (resources.files("fslib.serve") / "page" / name).read_text(encoding="utf-8")

"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) that work offline: their scripts come from this server.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so without the
internet ``/docs`` stayed blank. The ``fastapi-offline`` package ships those
files (Swagger UI 5, ReDoc 2, a favicon); this router serves them under
``/docs/assets/`` and builds both pages with FastAPI's own functions pointed
at them. ``create_app`` turns FastAPI's pages off (``docs_url=None``).

ReDoc's sidebar shows Redocly's logo from their CDN whatever its options: the
pages' ``Content-Security-Policy`` lets images and fetches come from this
server only, so the browser never asks (the logo is left out).
"""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

__all__ = ["ASSETS_PATH", "OFFLINE_POLICY", "router"]

ASSETS_PATH = "/docs/assets"
"""Where the Swagger UI and ReDoc files are served."""

OFFLINE_POLICY = "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
"""The pages' ``Content-Security-Policy``: no image or fetch beyond this server (scripts, styles: inline),
and no framing by another page (Swagger UI's "Execute" buttons under someone else's clicks)."""

_MEDIA_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}

router = APIRouter(include_in_schema=False)


def _urls(request: Request) -> tuple[str, str]:
    """The OpenAPI schema's URL and the assets' URL prefix, behind any proxy's ``root_path``."""
    root = request.scope.get("root_path", "")
    return f"{root}{request.app.openapi_url}", f"{root}{ASSETS_PATH}"


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over ``/openapi.json``, every file from this server."""
    openapi, assets = _urls(request)
    page = get_swagger_ui_html(
        openapi_url=openapi,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
        # Else Swagger UI sends the schema's URL to validator.swagger.io for its badge.
        swagger_ui_parameters={"validatorUrl": None},
    )
    page.headers["Content-Security-Policy"] = OFFLINE_POLICY
    return page


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc over ``/openapi.json``, without Google Fonts or Redocly's logo."""
    openapi, assets = _urls(request)
    page = get_redoc_html(
        openapi_url=openapi,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{assets}/redoc.standalone.js",
        redoc_favicon_url=f"{assets}/favicon.png",
        with_google_fonts=False,
    )
    page.headers["Content-Security-Policy"] = OFFLINE_POLICY
    return page


@router.get(ASSETS_PATH + "/{name}")
def asset(name: str) -> Response:
    """One of the shipped files (404 for any other name: no path reaches beyond them)."""
    media_type = _MEDIA_TYPES.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail=f"no docs asset {name[:100]!r}")
    return Response(_read(name), media_type=media_type, headers={"Cache-Control": "max-age=3600"})


@functools.cache
def _read(name: str) -> bytes:
    """The file's bytes, read once (2.8 MB for all four)."""
    return (resources.files("fastapi_offline") / "static" / name).read_bytes()

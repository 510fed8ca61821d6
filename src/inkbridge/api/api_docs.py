"""The rendered API description, ``GET /docs`` (Swagger UI) and ``GET /redoc`` (ReDoc), with
every asset served by inkbridge itself from the installed ``fastapi-offline`` package: the pages
work with no network, and nothing about who reads them reaches a CDN.

Swagger UI's online validator is switched off (it would send the document to a public service)
and ReDoc's Google Fonts are left out; both fall back to the browser's fonts.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from inkbridge.errors import NotFound

ASSET_PREFIX = "/docs/assets"
# The package's files, by the name they are served under, with their media types.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
# The assets change only with the package version: cached for a day.
CACHE_CONTROL = "public, max-age=86400"
# The pages may load nothing from elsewhere: ReDoc's sidebar links a logo on its vendor's CDN,
# which the browser now never asks for. The pages' own bootstrap script is inline; ReDoc's
# search runs in a blob: worker.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; frame-ancestors 'none'"
)


def _page(page: HTMLResponse) -> HTMLResponse:
    page.headers["content-security-policy"] = PAGE_POLICY
    return page


def _read_asset(name: str) -> bytes:
    return resources.files("fastapi_offline").joinpath("static", name).read_bytes()


def install(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Add ``/docs``, ``/redoc`` and their assets to ``app`` (built with docs_url=None and
    redoc_url=None, so FastAPI's CDN-backed pages are not there)."""
    title = f"{app.title} API"
    loaded: dict[str, bytes] = {}

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _page(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=title,
                swagger_js_url=f"{ASSET_PREFIX}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSET_PREFIX}/swagger-ui.css",
                swagger_favicon_url=f"{ASSET_PREFIX}/favicon.png",
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _page(
            get_redoc_html(
                openapi_url=openapi_url,
                title=title,
                redoc_js_url=f"{ASSET_PREFIX}/redoc.standalone.js",
                redoc_favicon_url=f"{ASSET_PREFIX}/favicon.png",
                with_google_fonts=False,
            )
        )

    @app.get(ASSET_PREFIX + "/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        media_type = ASSETS.get(name)
        if media_type is None:  # only the known files: the name never reaches the filesystem
            raise NotFound("asset", name)
        if name not in loaded:
            loaded[name] = _read_asset(name)
        return Response(
            loaded[name], media_type=media_type, headers={"cache-control": CACHE_CONTROL}
        )

"""The API's docs page, `/docs`: Swagger UI from files vendored in this package
(`static/swagger-ui/`, see its README), so that it works without internet; and `/`, which sends a
browser to the console, or here when the console is off."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from litestar import Router, get
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

DOCS_PATH: Final = "/docs"
SWAGGER_UI_DIR: Final = Path(__file__).parent / "static" / "swagger-ui"
SWAGGER_UI_PATH: Final = f"{DOCS_PATH}/static/swagger-ui"
SWAGGER_UI_VERSION: Final = (SWAGGER_UI_DIR / "VERSION").read_text().strip()
# The files change only with cdrstore's copy of them, whose version is in every URL (`?v=`): a
# browser may keep them a week without asking again.
STATIC_CACHE: Final = CacheControlHeader(public=True, max_age=7 * 24 * 3600)


def _asset(name: str) -> str:
    return f"{SWAGGER_UI_PATH}/{name}?v={SWAGGER_UI_VERSION}"


def swagger_page() -> SwaggerRenderPlugin:
    """The page at /docs, its scripts, style and icon all served by cdrstore itself."""
    return SwaggerRenderPlugin(
        path="/",
        js_url=_asset("swagger-ui-bundle.js"),
        css_url=_asset("swagger-ui.css"),
        standalone_preset_js_url=_asset("swagger-ui-standalone-preset.js"),
        favicon=f"<link rel='icon' type='image/png' href='{_asset('favicon-32x32.png')}'>",
    )


def swagger_assets() -> Router:
    return create_static_files_router(
        path=SWAGGER_UI_PATH,
        directories=[SWAGGER_UI_DIR],
        cache_control=STATIC_CACHE,
        include_in_schema=False,
        name="swagger-ui",
    )


def root(landing: str) -> Any:
    """`/`: a browser opening the server's address lands on a page rather than on a 404."""

    @get("/", include_in_schema=False)  # HEAD too: api/head.py answers every HEAD as its GET
    async def to_landing() -> Redirect:
        return Redirect(landing, status_code=302)

    return to_landing

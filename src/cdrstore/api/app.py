"""The application factory: one Litestar app over one store."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from .. import __version__, contract
from ..console.routes import CONSOLE_PATH, console_router
from ..ops.database import open_database
from ..settings import Settings
from ..store import Store
from .accesslog import AccessLog
from .calls import get_call_details, post_call_details
from .changes import get_changes
from .compression import AcceptEncoding, compression_config
from .cors import UnlistedOrigins, cors_config
from .docs import DOCS_PATH, root, swagger_assets, swagger_page
from .errors import EXCEPTION_HANDLERS
from .head import HeadAsGet
from .headers import add_headers
from .health import healthz, readyz
from .metrics import metrics
from .openapi import COMPONENTS, document, openapi_json
from .ratelimit import RateLimiter, shared_counter
from .sources import post_freeswitch_cdr
from .stats import get_call_stats
from .webhooks import webhook_handlers, webhook_options


def create_app(settings: Settings | None = None, store: Store | None = None) -> Litestar:
    """The app; with no arguments (as `cdrstore serve` workers call it) configured from the environment."""
    settings = settings or Settings.from_env()
    owned = store is None
    # Readiness, not start-up, reports a server database whose schema is behind.
    store = store or open_database(settings.database_url, require_current=False)

    def close_store() -> None:
        if owned:
            store.close()

    limiter = RateLimiter(settings.rate_limit_per_minute, shared_counter(store, settings.redis_url))
    openapi = OpenAPIConfig(
        title="cdrstore call-detail API",
        version=__version__,
        description=(
            "CINNOX-compatible call detail records. Errors: "
            f"400/410/413/415 {contract.CODE_BAD_REQUEST}, 401 {contract.CODE_UNAUTHENTICATED}, "
            f"403 {contract.CODE_FORBIDDEN}, 404/405 {contract.CODE_NOT_FOUND}, "
            f"429 {contract.CODE_RATE_LIMITED}, 500/503 {contract.CODE_INTERNAL}."
        ),
        path=DOCS_PATH,
        render_plugins=[swagger_page(), JsonRenderPlugin(path="/openapi.json")],
        components=COMPONENTS,
    )
    cors = cors_config(settings.cors_origins)
    app = Litestar(
        route_handlers=[
            get_call_details,
            post_call_details,
            get_changes,
            get_call_stats,
            post_freeswitch_cdr,
            healthz,
            readyz,
            openapi_json,
            root(f"{CONSOLE_PATH}/" if settings.console else DOCS_PATH),
            *([console_router()] if settings.console else []),
            swagger_assets(),
            *webhook_handlers(),
            *([metrics] if settings.metrics else []),
        ],
        state=State(
            {
                "store": store,
                "rate_limiter": limiter,
                "body_timeout": settings.body_timeout,
                "webhook_options": webhook_options(settings),
            }
        ),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=openapi,
        cors_config=cors,
        compression_config=compression_config(),
        on_shutdown=[close_store],
        before_send=[add_headers],
        request_max_body_size=contract.BATCH_MAX_BYTES,
        debug=False,
    )
    document(app)
    if cors is not None:
        app.asgi_handler = UnlistedOrigins(app.asgi_handler, cors)
    app.asgi_handler = AccessLog(
        HeadAsGet(AcceptEncoding(app.asgi_handler)), observe=settings.metrics
    )
    return app

"""The application factory: one Litestar app over one store."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Reference, RequestBody, Schema

from .. import __version__, contract
from ..settings import Settings
from ..store import Store, open_store
from .accesslog import AccessLog
from .calls import get_call_details, post_call_details
from .errors import EXCEPTION_HANDLERS
from .headers import add_headers
from .health import healthz, readyz
from .metrics import metrics
from .ratelimit import RateLimiter, shared_counter


@get("/openapi.json", include_in_schema=False, media_type="application/vnd.oai.openapi+json")
async def openapi_json(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The OpenAPI document at the root, where generic tools look first (also at /docs/openapi.json)."""
    return request.app.openapi_schema.to_schema()


def document_ingest_body(app: Litestar) -> None:
    """The POST body is read raw (to refuse it before buffering and to accept NDJSON), so Litestar
    cannot infer it: describe it in the OpenAPI document by hand, from the Record model."""
    records = Schema(type=OpenAPIType.ARRAY, items=Reference(ref="#/components/schemas/Record"))
    envelope = Schema(
        type=OpenAPIType.OBJECT,
        properties={"result": records, "code": Schema(type=OpenAPIType.INTEGER)},
        required=["result"],
    )
    path = contract.CALL_DETAIL_PATH.replace("{app_id:str}", "{app_id}")
    operation = app.openapi_schema.paths[path].post  # type: ignore[index]
    assert operation is not None
    operation.request_body = RequestBody(
        required=True,
        description="At most 10,000 records and 32 MiB; one invalid record rejects the whole request.",
        content={
            "application/json": OpenAPIMediaType(schema=Schema(one_of=[records, envelope])),
            "application/x-ndjson": OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, description="one JSON record a line")
            ),
        },
    )


def create_app(settings: Settings | None = None, store: Store | None = None) -> Litestar:
    """The app; with no arguments (as `cdrstore serve` workers call it) configured from the environment."""
    settings = settings or Settings.from_env()
    owned = store is None
    store = store or open_store(settings.database_url)
    if owned and store.engine.dialect.name == "sqlite":
        store.upgrade()  # zero set-up: the embedded database migrates itself on start

    def close_store() -> None:
        if owned:
            store.close()

    limiter = RateLimiter(settings.rate_limit_per_minute, shared_counter(store, settings.redis_url))
    openapi = OpenAPIConfig(
        title="cdrstore call-detail API",
        version=__version__,
        description=(
            "CINNOX-compatible call detail records. Errors: "
            f"400/413/415 {contract.CODE_BAD_REQUEST}, 401 {contract.CODE_UNAUTHENTICATED}, "
            f"403 {contract.CODE_FORBIDDEN}, 404/405 {contract.CODE_NOT_FOUND}, "
            f"429 {contract.CODE_RATE_LIMITED}, 500/503 {contract.CODE_INTERNAL}."
        ),
        path="/docs",
        render_plugins=[SwaggerRenderPlugin(path="/"), JsonRenderPlugin(path="/openapi.json")],
    )
    app = Litestar(
        route_handlers=[
            get_call_details,
            post_call_details,
            healthz,
            readyz,
            openapi_json,
            *([metrics] if settings.metrics else []),
        ],
        state=State(
            {"store": store, "rate_limiter": limiter, "body_timeout": settings.body_timeout}
        ),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=openapi,
        on_shutdown=[close_store],
        before_send=[add_headers],
        request_max_body_size=contract.BATCH_MAX_BYTES,
        debug=False,
    )
    document_ingest_body(app)
    app.asgi_handler = AccessLog(app.asgi_handler, observe=settings.metrics)
    return app

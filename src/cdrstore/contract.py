"""Numbers fixed by the wire contract (docs/api.md): defined here once, imported everywhere."""

from typing import Final

# docs/api.md#errors: error codes, and the code each HTTP status carries.
CODE_OK: Final = 0
CODE_BAD_REQUEST: Final = 6451000  # 400, 408, 410, 413, 415
CODE_UNAUTHENTICATED: Final = 6452000  # 401
CODE_FORBIDDEN: Final = 6452001  # 403
CODE_NOT_FOUND: Final = 6450001  # 404, 405
CODE_RATE_LIMITED: Final = 6451010  # 429
CODE_INTERNAL: Final = 6451001  # 500, 503
CODE_BY_STATUS: Final = {
    400: CODE_BAD_REQUEST,
    401: CODE_UNAUTHENTICATED,
    403: CODE_FORBIDDEN,
    404: CODE_NOT_FOUND,
    405: CODE_NOT_FOUND,
    408: CODE_BAD_REQUEST,
    410: CODE_BAD_REQUEST,  # a change feed cursor older than the retained log
    413: CODE_BAD_REQUEST,
    415: CODE_BAD_REQUEST,
    429: CODE_RATE_LIMITED,
    500: CODE_INTERNAL,
    503: CODE_INTERNAL,
}

# docs/api.md#reading-call-details: paging.
PAGE_LIMIT_DEFAULT: Final = 100
PAGE_LIMIT_MAX: Final = 500
PAGE_PREFIX: Final = b'{"code":0,"result":['
PAGE_SUFFIX: Final = b"]}"

# docs/api.md#writing-call-details: one ingest request.
BATCH_MAX_RECORDS: Final = 10_000
BATCH_MAX_BYTES: Final = 32 * 1024 * 1024
BATCH_MAX_REPORTED_ERRORS: Final = 100

# docs/api.md#rate-limit: requests a minute a token.
RATE_LIMIT_DEFAULT_PER_MINUTE: Final = 500

# docs/api.md#apps-and-tokens.
APP_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
TOKEN_PREFIX: Final = "cdr_"
SCOPES: Final = ("read", "ingest", "webhooks")

# The path parameter is named `appID`, as in the reference API (and so in the OpenAPI document).
CALL_DETAIL_PATH: Final = "/v1/api/apps/{appID:str}/data/call-detail"
CALL_DETAIL_ROUTE: Final = CALL_DETAIL_PATH.replace(":str}", "}")  # as documented and logged

# docs/api.md#following-changes: the change feed of an app's records (an extension).
CHANGES_PATH: Final = CALL_DETAIL_PATH + "/changes"
CHANGES_ROUTE: Final = CHANGES_PATH.replace(":str}", "}")
CHANGES_LIMIT_DEFAULT: Final = 100
CHANGES_LIMIT_MAX: Final = 1000
# docs/api.md#statistics: an app's call statistics (an extension).
CALL_STATS_PATH: Final = "/v1/api/apps/{appID:str}/data/call-stats"
CALL_STATS_ROUTE: Final = CALL_STATS_PATH.replace(":str}", "}")

# docs/sources/freeswitch.md: what FreeSWITCH's mod_json_cdr posts to (one leg a request).
FREESWITCH_INGEST_PATH: Final = "/v1/api/apps/{appID:str}/ingest/freeswitch"
FREESWITCH_INGEST_ROUTE: Final = FREESWITCH_INGEST_PATH.replace(":str}", "}")

# docs/webhooks.md: subscriptions, one path a kind of event, as CINNOX configures them.
CALL_EVENT_SUB_PATH: Final = "/v1/api/apps/{appID:str}/call-event-sub"
RECORDING_EVENT_SUB_PATH: Final = "/v1/api/apps/{appID:str}/recording-event-sub"
WEBHOOK_KINDS: Final = ("call", "recording")
WEBHOOK_SECRET_PREFIX: Final = "whsec_"


def call_detail_path(app_id: str) -> str:
    """The call-detail path of one app."""
    return CALL_DETAIL_PATH.replace("{appID:str}", app_id)


def changes_path(app_id: str) -> str:
    """The change feed path of one app."""
    return CHANGES_PATH.replace("{appID:str}", app_id)


def call_stats_path(app_id: str) -> str:
    """The call-stats path of one app."""
    return CALL_STATS_PATH.replace("{appID:str}", app_id)


def page_body(docs: list[bytes]) -> bytes:
    """A 200 page as served: the stored documents joined, never re-encoded, in one copy (adding
    the prefix and suffix to the joined page copied its half megabyte twice more)."""
    if len(docs) < 2:
        return PAGE_PREFIX + b",".join(docs) + PAGE_SUFFIX
    return b",".join([PAGE_PREFIX + docs[0], *docs[1:-1], docs[-1] + PAGE_SUFFIX])

"""Numbers fixed by the wire contract (spec sections 1, 4, 5 and 6): defined here once, imported everywhere."""

from typing import Final

# Section 5: error codes.
CODE_OK: Final = 0
CODE_BAD_REQUEST: Final = 6451000  # 400, 413, 415
CODE_UNAUTHENTICATED: Final = 6452000  # 401
CODE_FORBIDDEN: Final = 6452001  # 403
CODE_NOT_FOUND: Final = 6450001  # 404, 405
CODE_RATE_LIMITED: Final = 6451010  # 429
CODE_INTERNAL: Final = 6451001  # 500, 503

# Section 1: paging.
PAGE_LIMIT_DEFAULT: Final = 100
PAGE_LIMIT_MAX: Final = 500

# Section 4: one ingest request.
BATCH_MAX_RECORDS: Final = 10_000
BATCH_MAX_BYTES: Final = 32 * 1024 * 1024
BATCH_MAX_REPORTED_ERRORS: Final = 100

# Section 5: requests a minute a token.
RATE_LIMIT_DEFAULT_PER_MINUTE: Final = 500

# Section 6: apps and tokens.
APP_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
TOKEN_PREFIX: Final = "cdr_"
SCOPES: Final = ("read", "ingest")

CALL_DETAIL_PATH: Final = "/v1/api/apps/{app_id:str}/data/call-detail"

"""Schemathesis against the served OpenAPI document (bounded here; `make fuzz` runs more):
no 5xx, and every response, errors included, matches what the document says."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from cdrstore.api import create_app
from cdrstore.settings import Settings
from cdrstore.store import open_store
from cdrstore.testing import app_with_token

EXAMPLES = int(os.environ.get("CDRSTORE_FUZZ_EXAMPLES", "30"))

_work = Path(tempfile.mkdtemp(prefix="cdrstore-fuzz-"))
_url = f"sqlite:///{_work / 'fuzz.db'}"
TOKEN = app_with_token(_url, "fuzz")
_store = open_store(_url)
app = create_app(Settings(_url, rate_limit_per_minute=0), _store)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schemathesis.serializer("application/x-ndjson")
def ndjson(_ctx: object, value: object) -> bytes:
    """NDJSON bodies as the document describes them (text): arbitrary lines for the parser."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()


@schema.auth()
class BearerToken:
    """The document declares bearer auth: schemathesis sends this token, and checks too that a
    request without it, or with a made-up one, is refused."""

    def get(self, _case: object, _ctx: object) -> str:
        return TOKEN

    def set(self, case: schemathesis.Case, data: str, _ctx: object) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_matches_its_document(case):
    if "appID" in (case.path_parameters or {}):
        case.path_parameters["appID"] = "fuzz"  # the token's own app, so requests get past auth
    # Schema-valid is not always valid: the document cannot say "endAt not before startAt" or
    # "a record's callEndTime not before its callDate", so such requests rightly get a 400.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])

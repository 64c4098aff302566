"""/docs and the OpenAPI document (docs/api.md#docs-and-openapijson): the bearer scheme and each
operation's scope, the `appID` parameter, and a page whose every asset cdrstore serves itself.
That the page renders, and that "Try it out" works, is checked in Chromium: tests/browser/."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

from cdrstore import contract
from cdrstore.api.docs import SWAGGER_UI_DIR, SWAGGER_UI_VERSION

ROOT = Path(__file__).resolve().parents[2]
ROUTE = "/v1/api/apps/{appID}/data/call-detail"
ASSET = re.compile(r"""(?:src|href)\s*=\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize("url", ["/openapi.json", "/docs/openapi.json"])
def test_the_document_declares_bearer_auth_and_each_operations_scope(client, url):
    spec = client.get(url).json()
    assert spec["components"]["securitySchemes"]["bearerAuth"]["type"] == "http"
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert ROUTE == contract.CALL_DETAIL_ROUTE
    operations = spec["paths"][ROUTE]
    assert set(operations) == {"get", "post"}
    for method, scope in (("get", "read"), ("post", "ingest")):
        operation = operations[method]
        assert operation["security"] == [{"bearerAuth": []}], method
        assert f"Token scope: `{scope}`" in operation["description"], method
        path_parameters = [p for p in operation["parameters"] if p["in"] == "path"]
        assert [p["name"] for p in path_parameters] == ["appID"], method
        assert path_parameters[0]["required"] is True
    for path in spec["paths"]:
        assert "app_id" not in path


def test_the_docs_page_loads_nothing_from_elsewhere(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = ASSET.findall(page.text)
    assert len(assets) >= 4, assets  # icon, style, bundle, preset
    assert not [a for a in assets if "//" in a], assets  # no CDN, no other host
    for asset in assets:
        r = client.get(asset)
        assert r.status_code == 200, asset
        assert f"v={SWAGGER_UI_VERSION}" in asset
        assert r.headers["cache-control"] in (
            "public, max-age=604800",
            "max-age=604800, public",
        ), asset
    assert (
        client.get("/docs/static/swagger-ui/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )


def test_the_vendored_files_name_their_version_and_licence():
    assert re.fullmatch(r"5\.\d+\.\d+", SWAGGER_UI_VERSION)
    readme = (SWAGGER_UI_DIR / "README.md").read_text()
    assert f"swagger-ui-dist` {SWAGGER_UI_VERSION}" in readme
    assert "Apache License" in (SWAGGER_UI_DIR / "LICENSE").read_text()
    assert (SWAGGER_UI_DIR / "swagger-ui-bundle.js.LICENSE.txt").is_file()


def test_the_vendored_files_ship_in_the_wheel():
    """Every file of the vendored Swagger UI matches a package-data pattern of pyproject.toml."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["cdrstore"]
    package = ROOT / "src" / "cdrstore"
    files = [p.relative_to(package).as_posix() for p in SWAGGER_UI_DIR.iterdir()]
    assert len(files) >= 8
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert not missing, missing

"""`/docs` and `/redoc` work offline: every asset comes from the service itself."""

import re
from pathlib import Path

import pytest

from app.core.http import AsyncClient

STATIC = Path(__file__).resolve().parents[2] / "app" / "static"
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


def _references(html: str) -> list[str]:
    return re.findall(r'(?:src|href|spec-url)="([^"]+)"', html) + re.findall(
        r"url: '([^']+)'", html
    )


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon-32x32.png"}),
    ],
)
async def test_docs_pages_load_every_asset_from_the_service(
    api: AsyncClient, page: str, assets: set[str]
) -> None:
    resp = await api.get(page)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    html = resp.text
    assert "://" not in html, "a page that names another host is blank where it is unreachable"
    assert "//" not in "".join(_references(html)), "protocol-relative URLs name another host too"
    references = _references(html)
    assert {ref.rsplit("/", 1)[-1] for ref in references} >= assets
    assert "/openapi.json" in references
    # The page's images may come only from the service (ReDoc's footer would fetch a logo).
    assert resp.headers["content-security-policy"] == "img-src 'self' data:"
    for ref in references:
        if ref == "/openapi.json":
            continue
        asset = await api.get(ref)
        assert asset.status_code == 200, ref
        suffix = Path(ref).suffix
        assert asset.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], ref
        vendored = STATIC / ref.removeprefix("/docs/static/")
        assert asset.content == vendored.read_bytes(), ref


async def test_the_openapi_document_is_still_served(api: AsyncClient) -> None:
    resp = await api.get("/openapi.json")
    assert resp.status_code == 200
    assert resp.json()["info"]["title"] == "Backlog Bridge"


def test_each_vendored_package_keeps_its_licence_and_its_version_is_named() -> None:
    readme = (STATIC / "README.md").read_text()
    assert re.search(r"swagger-ui-dist@\d+\.\d+\.\d+", readme)
    assert re.search(r"redoc@\d+\.\d+\.\d+", readme)
    for package in ("swagger-ui", "redoc"):
        assert (STATIC / package / "LICENSE").stat().st_size > 0

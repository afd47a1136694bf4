"""``/docs`` (Swagger UI from this site's own files, pinned and integrity-checked, under a
CSP) and ``/embed`` (its snippet's address from ``JZMAP_PUBLIC_URL``, never ``Host``)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Route, sync_playwright

from api.app import create_app
from jzmap.settings import Settings
from maps.docs import (
    CONTENT_SECURITY_POLICY,
    REDOC_DIR,
    SWAGGER_UI_DIR,
    vendored_provenance,
)
from providers.stores import Backend
from tests.browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path, serve_app
from tests.helpers import CANTON_TOWER, company, embedded_backend_at
from tests.rawhttp import open_request, read_response

LON, LAT = CANTON_TOWER

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with embedded_backend_at(tmp_path_factory.mktemp("docs")) as backend:
        backend.store.upsert([company(1, LON, LAT)])
        yield backend


def _app(backend: Backend, **overrides: Any) -> Any:
    return create_app(Settings(**overrides), backend=backend)


def test_the_vendored_viewer_matches_its_provenance() -> None:
    info = vendored_provenance(SWAGGER_UI_DIR)
    assert info["package"] == "swagger-ui-dist"
    assert (SWAGGER_UI_DIR / "VERSION").read_text().strip() == info["version"]
    assert info["source"].endswith(f"swagger-ui-dist-{info['version']}.tgz")
    assert "Apache-2.0" in info["license"] and (SWAGGER_UI_DIR / "LICENSE").exists()
    # The upgrade script pins the same version and tarball integrity.
    script = (ROOT / "scripts" / "vendor-swagger-ui").read_text()
    assert f"version={info['version']}\n" in script
    assert f'integrity="{info["tarball_integrity"]}"' in script
    for name, want in info["files"].items():
        data = (SWAGGER_UI_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == want["sha256"], name
        sri = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
        assert sri == want["sri"], name
        assert b"sourceMappingURL" not in data, name


def test_docs_names_each_file_with_its_integrity_hash_under_a_csp(
    small: Backend,
) -> None:
    with serve_app(_app(small)) as base:
        response = read_response(open_request(base, "GET", "/docs", {}))
    assert response.status == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY + ";"
    page = response.body.decode()
    files = vendored_provenance(SWAGGER_UI_DIR)["files"]
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f'/static/vendor/swagger-ui/{name}" integrity="{files[name]["sri"]}"' in page
    # No script of another site, no inline script.
    assert "//" not in "".join(re.findall(r'src="([^"]*)"', page))
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) is None


def test_docs_shows_the_api_in_chromium_from_this_site_alone(small: Backend) -> None:
    with serve_app(_app(small)) as base, sync_playwright() as p:
        browser: Browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            elsewhere: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
            page.on(
                "request",
                lambda r: None if r.url.startswith((base, "data:")) else elsewhere.append(r.url),
            )
            # The network cut off: only this site answers, anything else fails.
            page.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if route.request.url.startswith(base)
                    else route.abort("internetdisconnected")
                ),
            )
            page.goto(f"{base}/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            operations = page.locator(".opblock").count()
            title = page.locator(".info .title").inner_text()
            # Opening an operation draws its parameters and schemas (more styles, no fetch).
            page.locator(".opblock-summary-path", has_text="/v1/providers/nearest").click()
            page.wait_for_selector(".parameters", timeout=30_000)
            parameters = page.locator(".parameters tr[data-param-name]").count()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "docs.png"))
        finally:
            browser.close()
    assert operations >= 10 and parameters >= 5
    assert "Jiazheng Map" in title
    assert errors == [], errors  # a CSP violation would be a console error
    assert elsewhere == [], elsewhere


def test_embed_uses_the_configured_public_url_whatever_the_host_header(
    small: Backend,
) -> None:
    public = "https://map.example.cn/jiazheng"
    with serve_app(_app(small, public_url=public + "/")) as base:
        response = read_response(open_request(base, "GET", "/embed", {"Host": "evil.example"}))
    page = response.body.decode()
    assert response.status == 200
    assert f'data-base="{public}"' in page and "evil.example" not in page


def test_embed_without_a_public_url_leaves_the_address_to_the_browser(
    small: Backend,
) -> None:
    with serve_app(_app(small)) as base:
        response = read_response(open_request(base, "GET", "/embed", {"Host": "evil.example"}))
    page = response.body.decode()
    # embed.js then uses the address the page was loaded from (tests/test_browser.py).
    assert 'data-base=""' in page and "evil.example" not in page


@pytest.mark.parametrize("url", ["map.example.cn", "ftp://map.example.cn", "https://a b.cn"])
def test_a_public_url_must_be_an_http_address(url: str) -> None:
    with pytest.raises(ValueError, match="public_url"):
        Settings(public_url=url)


def test_the_vendored_redoc_matches_its_provenance() -> None:
    info = vendored_provenance(REDOC_DIR)
    assert info["package"] == "redoc"
    assert (REDOC_DIR / "VERSION").read_text().strip() == info["version"]
    script = (ROOT / "scripts" / "vendor-redoc").read_text()
    assert f"version={info['version']}\n" in script
    assert f'integrity="{info["tarball_integrity"]}"' in script
    for name, want in info["files"].items():
        data = (REDOC_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == want["sha256"], name
        sri = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
        assert sri == want["sri"], name


def test_redoc_shows_the_api_in_chromium_with_the_network_cut_off(small: Backend) -> None:
    with serve_app(_app(small)) as base, sync_playwright() as p:
        browser: Browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            elsewhere: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))

            def only_this_site(route: Route) -> None:
                if route.request.url.startswith((base, "data:", "blob:")):
                    route.continue_()
                else:
                    elsewhere.append(route.request.url)
                    route.abort("internetdisconnected")

            page.route("**/*", only_this_site)
            page.goto(f"{base}/redoc")
            page.get_by_text("/v1/providers/nearest").first.wait_for(timeout=60_000)
            title = page.locator("h1").first.inner_text()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "redoc.png"))
        finally:
            browser.close()
    assert "Jiazheng Map" in title
    assert errors == [], errors
    assert elsewhere == [], elsewhere

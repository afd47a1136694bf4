"""Embedding, end to end in a real Chromium: a host page of another city app on another
origin, the SDK, the widget's two-way messages, origins added without a restart, and what
a site not yet allowed sees."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Frame, Page, Playwright, sync_playwright

from api.app import create_app
from geo.crs import from_wgs84, to_wgs84
from geo.geodesy import geodesic_distance_m
from jzmap.application.embedding import EmbedOrigins
from jzmap.settings import Settings
from maps.page import STATIC_DIR
from providers.stores import Backend
from tests.browser import ARTIFACTS, CHROMIUM_ARGS, HostSite, chromium_path, serve_app, serve_host
from tests.helpers import CANTON_TOWER, demo_city_backend_at, embedded_backend_at

TOKEN = "embed-test-token"
CONTACT = "地图运营组 map-ops@example.cn"
SCHEMAS = STATIC_DIR / "embed" / "v1"


@dataclass
class Site:
    base: str
    app_host: HostSite
    stranger: HostSite


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with demo_city_backend_at(tmp_path_factory.mktemp("embed-demo")) as backend:
        yield backend


@pytest.fixture(scope="module")
def site(demo: Backend) -> Iterator[Site]:
    settings = Settings(
        data_dir=Path("/nonexistent"),
        tiles_url="/static/blank-tile.png",
        admin_token=TOKEN,
        embed_contact=CONTACT,
    )
    with (
        serve_host() as app_host,
        serve_host() as stranger,
        serve_app(create_app(settings, backend=demo)) as base,
    ):
        yield Site(base, app_host, stranger)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 480, "height": 800}, locale="zh-CN")
    p = context.new_page()
    yield p
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()


def admin(base: str, method: str, body: dict[str, Any] | None = None, query: str = "") -> Any:
    request = urllib.request.Request(
        f"{base}/v1/admin/embed-origins{query}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.load(response)


def sdk_host_page(base: str, options: str) -> str:
    """A host page that mounts the widget with the SDK and records what it hears."""
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<link rel="icon" href="data:,"><title>host</title></head>
<body><div id="slot"></div>
<script src="{base}/static/jzmap-embed-v1.js"></script>
<script>
window.events = []; window.raw = [];
window.addEventListener("message", function (e) {{ window.raw.push(e.data); }});
var options = {options};
options.onReady = function (info) {{ window.events.push({{kind: "ready", info: info}}); }};
options.onSelect = function (p) {{ window.events.push({{kind: "select", provider: p}}); }};
options.onError = function (e) {{ window.events.push({{kind: "error", error: e}}); }};
window.widget = JZMap.mount(document.getElementById("slot"), options);
</script></body></html>"""


def widget_frame(page: Page, holder: str = "#slot") -> Frame:
    page.wait_for_selector(f"{holder} iframe")
    frame = page.frame_locator(f"{holder} iframe")
    frame.locator("body[data-layer-state]").wait_for(state="attached", timeout=15_000)
    return page.frames[1]


def result_ids(frame: Frame) -> list[str]:
    ids: list[str] = frame.eval_on_selector_all(
        "#jz-results .jz-result", "els => els.map(e => e.dataset.id)"
    )
    return ids


def nearest_ids(base: str, **params: Any) -> list[str]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    with urllib.request.urlopen(f"{base}/v1/providers/nearest?{query}", timeout=30) as r:
        return [x["id"] for x in json.load(r)["results"]]


def validate(message: dict[str, Any]) -> None:
    schema = json.loads((SCHEMAS / f"{message['type']}.schema.json").read_text("utf-8"))
    jsonschema.validate(message, schema)


def test_an_origin_added_through_the_admin_api_embeds_two_way_in_gcj02_without_a_restart(
    site: Site, page: Page, demo: Backend
) -> None:
    gcj_lon, gcj_lat = from_wgs84(*CANTON_TOWER, "gcj02")
    options = json.dumps(
        {
            "location": {"lng": gcj_lon, "lat": gcj_lat, "crs": "gcj02"},
            "category": "elderly_care",
            "height": 700,
        }
    )
    site.app_host.pages["/app"] = sdk_host_page(site.base, options)

    # Not allowed yet: the frame explains, the SDK reports it.
    page.goto(f"{site.app_host.origin}/app")
    page.wait_for_function("window.events.length > 0", timeout=15_000)
    assert page.evaluate("window.events")[0]["error"]["code"] == "origin_not_allowed"

    status, change = admin(site.base, "POST", {"origin": site.app_host.origin + "/"})
    assert (status, change["origin"], change["changed"]) == (201, site.app_host.origin, True)

    page.goto(f"{site.app_host.origin}/app")
    page.wait_for_function("window.events.some(e => e.kind === 'ready')", timeout=15_000)
    ready = page.evaluate("window.events.find(e => e.kind === 'ready').info")
    assert ready["crs"] == "gcj02" and ready["filters"]["category"] == "elderly_care"
    frame = widget_frame(page)
    frame.wait_for_selector("body[data-results='10']", state="attached", timeout=15_000)
    wgs_lon, wgs_lat = to_wgs84(gcj_lon, gcj_lat, "gcj02")
    first = result_ids(frame)
    assert first == nearest_ids(site.base, lat=wgs_lat, lon=wgs_lon, category="elderly_care")

    # set-filters changes the results to what the API answers for those filters.
    page.evaluate("window.widget.setFilters({category: 'nursing', minGrade: '5A'})")
    # A function, not a string: the widget's CSP allows no eval.
    frame.wait_for_function(
        "(before) => Array.from(document.querySelectorAll('#jz-results .jz-result'))"
        ".map(e => e.dataset.id).join() !== before",
        arg=",".join(first),
        timeout=15_000,
    )
    frame.wait_for_selector("body[data-results='10']", state="attached", timeout=15_000)
    filtered = result_ids(frame)
    assert filtered != first
    assert filtered == nearest_ids(
        site.base, lat=wgs_lat, lon=wgs_lon, category="nursing", min_grade="5A"
    )

    # Selecting posts GCJ-02 coordinates (7 decimals) that convert back to the stored point.
    frame.locator("#jz-results .jz-result").first.click()
    page.wait_for_function("window.events.some(e => e.kind === 'select')", timeout=15_000)
    provider = page.evaluate("window.events.find(e => e.kind === 'select').provider")
    assert provider["id"] == filtered[0] and provider["crs"] == "gcj02"
    assert (
        round(provider["lat"], 7) == provider["lat"]
        and round(provider["lon"], 7) == provider["lon"]
    )
    stored = demo.store.get(provider["id"])
    assert stored is not None
    back_lon, back_lat = to_wgs84(provider["lon"], provider["lat"], "gcj02")
    off_m = float(geodesic_distance_m(back_lon, back_lat, stored.lon, stored.lat))
    assert off_m < 0.5, off_m
    # In GCJ-02, not WGS-84: the shift in Guangzhou is hundreds of metres.
    assert (
        float(geodesic_distance_m(provider["lon"], provider["lat"], stored.lon, stored.lat)) > 100
    )

    # Every message either way matched its schema.
    raw = [m for m in page.evaluate("window.raw") if isinstance(m, dict)]
    assert {m["type"] for m in raw} >= {"ready", "provider-selected", "resize"}
    for message in raw:
        validate(message)
    admin(site.base, "DELETE", query=f"?origin={site.app_host.origin}")


def test_set_location_searches_from_the_hosts_point_and_bad_commands_are_errors(
    site: Site, page: Page
) -> None:
    admin(site.base, "POST", {"origin": site.app_host.origin})
    site.app_host.pages["/loc"] = sdk_host_page(site.base, json.dumps({"crs": "bd09"}))
    page.goto(f"{site.app_host.origin}/loc")
    page.wait_for_function("window.events.some(e => e.kind === 'ready')", timeout=15_000)
    frame = widget_frame(page)
    bd_lon, bd_lat = from_wgs84(*CANTON_TOWER, "bd09")
    page.evaluate(f"window.widget.setLocation({{lng: {bd_lon}, lat: {bd_lat}, crs: 'bd09'}})")
    frame.wait_for_selector("body[data-results='10']", state="attached", timeout=15_000)
    assert result_ids(frame) == nearest_ids(site.base, lat=CANTON_TOWER[1], lon=CANTON_TOWER[0])
    page.evaluate("window.widget.setFilters({category: 'gardening'})")
    page.wait_for_function("window.events.some(e => e.kind === 'error')", timeout=15_000)
    error = page.evaluate("window.events.find(e => e.kind === 'error').error")
    assert error["code"] == "invalid_command" and "category" in error["message"]
    admin(site.base, "DELETE", query=f"?origin={site.app_host.origin}")


def test_a_site_not_allowed_sees_whom_to_ask_and_gets_no_messages(site: Site, page: Page) -> None:
    site.stranger.pages["/app"] = sdk_host_page(site.base, json.dumps({"lang": "en"}))
    page.goto(f"{site.stranger.origin}/app")
    page.wait_for_function("window.events.length > 0", timeout=15_000)
    events = page.evaluate("window.events")
    assert [e["kind"] for e in events] == ["error"]
    assert events[0]["error"]["code"] == "origin_not_allowed"
    frame = page.frame_locator("#slot iframe")
    text = frame.locator("body").inner_text()
    assert site.stranger.origin in text and CONTACT in text and "not yet allowed" in text
    assert frame.locator("#jz-config").count() == 0
    # The widget's own page (no messages, no data) never reached the stranger.
    assert not any(m.get("type") == "ready" for m in page.evaluate("window.raw"))


def test_cors_follows_the_stored_origins(site: Site) -> None:
    def allow_origin(origin: str) -> str | None:
        request = urllib.request.Request(f"{site.base}/v1/categories", headers={"Origin": origin})
        with urllib.request.urlopen(request, timeout=30) as response:
            value: str | None = response.headers.get("access-control-allow-origin")
            return value

    origin = "https://bus.example.cn"
    assert allow_origin(origin) is None
    admin(site.base, "POST", {"origin": origin, "note": "公交"})
    assert allow_origin(origin) == origin
    _, listed = admin(site.base, "GET")
    assert origin in listed["effective"]
    assert [s["note"] for s in listed["stored"] if s["origin"] == origin] == ["公交"]
    _, change = admin(site.base, "DELETE", query=f"?origin={origin}")
    assert change["changed"] is True
    assert allow_origin(origin) is None


def test_a_wildcard_or_a_path_is_refused_with_what_an_origin_is(site: Site) -> None:
    for bad in ("https://*.example.cn", "https://a.example.cn/app"):
        with pytest.raises(urllib.error.HTTPError) as info:
            admin(site.base, "POST", {"origin": bad})
        assert info.value.code == 422
        body = json.load(info.value)
        assert "scheme://host[:port]" in body["message"] and body["request_id"]


def test_another_worker_sees_a_change_once_its_copy_is_older_than_the_refresh(
    tmp_path: Path,
) -> None:
    """Two workers are two processes, each with its own backend on the same files."""
    now = [0.0]
    with embedded_backend_at(tmp_path) as one, embedded_backend_at(tmp_path) as other:
        writer = EmbedOrigins(one.embed_origins, ["https://configured.cn"], 2.0)
        reader = EmbedOrigins(other.embed_origins, ["https://configured.cn"], 2.0, lambda: now[0])
        assert reader.origins() == ("https://configured.cn",)
        writer.add("https://bus.example.cn")
        assert writer.allows("https://bus.example.cn")  # the writing worker: at once
        now[0] = 1.9
        assert not reader.allows("https://bus.example.cn")  # its copy is still fresh
        now[0] = 2.0
        assert reader.allows("https://bus.example.cn")
        assert reader.origins() == ("https://configured.cn", "https://bus.example.cn")


def test_a_worker_reading_on_every_request_frames_for_an_origin_another_worker_added(
    tmp_path: Path,
) -> None:
    with embedded_backend_at(tmp_path) as one, embedded_backend_at(tmp_path) as other:
        settings = Settings(
            data_dir=tmp_path, admin_token=TOKEN, embed_origins_refresh_s=0, tiles_url="/x.png"
        )
        with (
            TestClient(create_app(settings, backend=one)) as first,
            TestClient(create_app(settings, backend=other)) as second,
        ):
            before = second.get("/widget/v1").headers["content-security-policy"]
            assert "https://bus.example.cn" not in before
            added = first.post(
                "/v1/admin/embed-origins",
                json={"origin": "https://bus.example.cn"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            assert added.status_code == 201
            csp = second.get("/widget/v1").headers["content-security-policy"]
            assert "frame-ancestors 'self' https://bus.example.cn" in csp
            cors = second.get("/v1/categories", headers={"Origin": "https://bus.example.cn"})
            assert cors.headers["access-control-allow-origin"] == "https://bus.example.cn"


def test_the_unlisted_page_is_chosen_by_the_frames_referer_and_never_cached(site: Site) -> None:
    request = urllib.request.Request(
        f"{site.base}/widget/v1?lang=en",
        headers={
            "Sec-Fetch-Dest": "iframe",
            "Sec-Fetch-Site": "cross-site",
            "Referer": "https://stranger.example.cn/page",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 403
    assert info.value.headers["cache-control"] == "no-store"
    assert "frame-ancestors *" in info.value.headers["content-security-policy"]
    page = info.value.read().decode()
    assert "https://stranger.example.cn" in page and CONTACT in page


def test_the_plain_html_example_of_the_docs_runs(site: Site, page: Page) -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "embedding.md").read_text("utf-8")
    marker = docs.index("<!-- tested: tests/test_embedding.py runs this page -->")
    start = docs.index("```html\n", marker) + len("```html\n")
    example = docs[start : docs.index("```", start)].replace("https://jzmap.example.cn", site.base)
    admin(site.base, "POST", {"origin": site.app_host.origin})
    site.app_host.pages["/example"] = example
    page.goto(f"{site.app_host.origin}/example")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=15_000)
    frame = widget_frame(page, "#providers")
    frame.wait_for_selector("body[data-results='10']", state="attached", timeout=15_000)
    before = result_ids(frame)
    page.select_option("#service", "nursing")
    frame.wait_for_function(
        "(before) => Array.from(document.querySelectorAll('#jz-results .jz-result'))"
        ".map(e => e.dataset.id).join() !== before",
        arg=",".join(before),
        timeout=15_000,
    )
    frame.locator("#jz-results .jz-result").first.click()
    page.wait_for_function(
        "document.getElementById('chosen').textContent.includes('gcj02')", timeout=15_000
    )
    admin(site.base, "DELETE", query=f"?origin={site.app_host.origin}")

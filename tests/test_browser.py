"""The map pages in a real headless Chromium (Debian's), against the served demo city.

Every test fails on any console error or uncaught page error it did not expect, and saves a
screenshot under test-artifacts/browser/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from urllib.request import urlopen

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from api.app import create_app
from geo.package_data import REFERENCE_DIR
from jzmap.application.demo import generate_demo
from jzmap.settings import Settings
from jzmap.wiring import district_points, districts_layer
from maps.export import export_static_map
from providers.store import ProviderStore
from providers.stores import Backend
from tests.browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    HostSite,
    chromium_path,
    host_page,
    serve_app,
    serve_host,
)
from tests.helpers import demo_city_backend_at, embedded_backend_at

BLANK_TILES = "/static/blank-tile.png"
READY = "body[data-layer-state=ready]"


@dataclass
class Site:
    base: str
    allowed: HostSite
    foreign: HostSite


@dataclass
class Console:
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with demo_city_backend_at(tmp_path_factory.mktemp("browser-demo")) as backend:
        yield backend


@pytest.fixture(scope="module")
def demo_store(demo: Backend) -> ProviderStore:
    return demo.store


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": Path("/nonexistent"), "tiles_url": BLANK_TILES}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="module")
def site(demo: Backend) -> Iterator[Site]:
    with serve_host() as allowed, serve_host() as foreign:
        app = create_app(_settings(embed_origins=allowed.origin), backend=demo)
        with serve_app(app) as base:
            yield Site(base, allowed, foreign)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    yield b
    b.close()


def _get_json(url: str, params: dict[str, Any]) -> Any:
    with urlopen(f"{url}?{urlencode(params)}", timeout=30) as response:
        return json.load(response)


def _watch(page: Page) -> Console:
    console = Console()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: console.errors.append(f"uncaught: {exc}"))
    return console


@pytest.fixture
def phone(browser: Browser, request: pytest.FixtureRequest) -> Iterator[tuple[Page, Console]]:
    """A 375 x 667 phone page; its screenshot is kept as a test artifact."""
    context = browser.new_context(viewport={"width": 375, "height": 667}, locale="zh-CN")
    page = context.new_page()
    console = _watch(page)
    yield page, console
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()


@pytest.fixture
def desktop(browser: Browser, request: pytest.FixtureRequest) -> Iterator[tuple[Page, Console]]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    console = _watch(page)
    yield page, console
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()


def _wait_ready(page: Page) -> None:
    page.wait_for_selector(READY, state="attached", timeout=15_000)


def _layer_ids(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        ".leaflet-marker-pane [data-id]", "els => els.map(e => e.dataset.id)"
    )
    return sorted(ids)


def _move(page: Page, lat: float, lon: float, zoom: int) -> dict[str, str]:
    """Move the map and wait for the layer it asks for; returns that request's query."""
    with page.expect_response(lambda r: "/v1/map/layer" in r.url) as info:
        page.evaluate(f"jzmap.map.setView([{lat}, {lon}], {zoom}, {{animate: false}})")
    _wait_ready(page)
    return dict(parse_qsl(urlsplit(info.value.url).query))


def test_map_loads_with_district_counts_and_no_console_errors(
    site: Site, desktop: tuple[Page, Console]
) -> None:
    page, console = desktop
    page.goto(f"{site.base}/map")
    _wait_ready(page)
    assert page.get_attribute("body", "data-layer-mode") == "districts"
    assert page.get_attribute("body", "data-layer-count") == "11"
    # The boundaries are drawn (folium's GeoJSON layer): one path per district at least.
    assert page.locator(".leaflet-overlay-pane path").count() >= 11
    assert "695" in (page.text_content("#jz-status") or "")
    assert console.errors == []


def test_filtering_by_category_changes_what_is_drawn(
    site: Site, desktop: tuple[Page, Console]
) -> None:
    page, console = desktop
    page.goto(f"{site.base}/map")
    _wait_ready(page)
    query = _move(page, 23.125, 113.33, 14)
    assert page.get_attribute("body", "data-layer-mode") == "points"
    everyone = _layer_ids(page)
    api = _get_json(f"{site.base}/v1/map/layer", params=query)
    assert everyone == sorted(f["id"] for f in api["features"]) and everyone

    with page.expect_response(lambda r: "category=maternal_infant" in r.url) as info:
        page.select_option("#jz-category", "maternal_infant")
    _wait_ready(page)
    infant = _layer_ids(page)
    query = dict(parse_qsl(urlsplit(info.value.url).query))
    api = _get_json(f"{site.base}/v1/map/layer", params=query)
    assert infant == sorted(f["id"] for f in api["features"])
    assert infant and set(infant) < set(everyone)
    assert console.errors == []


def test_a_tap_lists_the_same_providers_as_the_nearest_api(
    site: Site, desktop: tuple[Page, Console]
) -> None:
    page, console = desktop
    page.goto(f"{site.base}/map?category=elderly_care")
    _wait_ready(page)
    _move(page, 23.13, 113.32, 13)
    box = page.locator(".folium-map").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.6
    tapped = page.evaluate(
        f"(() => {{ const ll = jzmap.map.containerPointToLatLng([{box['width'] * 0.4}, "
        f"{box['height'] * 0.6}]); return [ll.lat, ll.lng]; }})()"
    )
    with page.expect_response(lambda r: "/v1/providers/nearest" in r.url) as info:
        page.mouse.click(x, y)
    page.wait_for_selector("body[data-results='10']", state="attached", timeout=15_000)
    sent = dict(parse_qsl(urlsplit(info.value.url).query))
    # Within a pixel of where the tap landed (~0.00017 degrees at zoom 13).
    assert float(sent["lat"]) == pytest.approx(tapped[0], abs=2e-4)
    assert float(sent["lon"]) == pytest.approx(tapped[1], abs=2e-4)
    assert sent["category"] == "elderly_care"

    # The same point, asked of the API directly.
    api = _get_json(
        f"{site.base}/v1/providers/nearest",
        params={"lat": sent["lat"], "lon": sent["lon"], "category": "elderly_care", "limit": 10},
    )
    listed = page.eval_on_selector_all(
        "#jz-results .jz-result", "els => els.map(e => e.dataset.id)"
    )
    assert listed == [r["id"] for r in api["results"]]
    first = page.text_content("#jz-results li:first-child") or ""
    assert api["results"][0]["name"] in first and api["results"][0]["phone"] in first
    # The results are on the map too, numbered.
    drawn = page.eval_on_selector_all("[data-result-id]", "els => els.map(e => e.dataset.resultId)")
    assert sorted(drawn) == sorted(listed)
    assert console.errors == []


def test_a_provider_popup_says_how_precise_its_location_is(
    site: Site, desktop: tuple[Page, Console]
) -> None:
    page, console = desktop
    page.goto(f"{site.base}/map?lang=en")
    _wait_ready(page)
    _move(page, 23.125, 113.33, 15)
    first = _layer_ids(page)[0]
    with page.expect_response(lambda r: f"/v1/providers/{first}" in r.url) as info:
        page.click(f".leaflet-marker-pane [data-id='{first}']")
    details = info.value.json()
    popup = page.wait_for_selector(".leaflet-popup-content .jz-popup")
    assert popup is not None
    text = popup.text_content() or ""
    assert details["name"] in text and details["phone"] in text
    expected = {
        "exact": "Location: street address",
        "street": "Approximate location (street centre)",
        "district": "Approximate location (district centre)",
    }[details["geocode_precision"]]
    assert expected in text
    assert console.errors == []


def test_a_company_popup_explains_its_grade_moves_in_plain_words(
    site: Site, demo: Backend, desktop: tuple[Page, Console]
) -> None:
    from datetime import datetime

    from jzmap.application.grades import apply_evaluations
    from providers.evaluations import CHINA_TZ, Complaint, ComplaintStatus, Severity, Subject

    page, console = desktop
    page.goto(f"{site.base}/map?lang=en")
    _wait_ready(page)
    _move(page, 23.125, 113.33, 15)
    first = next(i for i in _layer_ids(page) if i.startswith("co-"))
    at = datetime(2026, 3, 9, 10, tzinfo=CHINA_TZ)
    # 轻微: half a point from two dimensions, so the shared demo keeps its grades.
    case = Complaint(
        "cp-browser", Subject.company(first), Severity.SLIGHT, at, ComplaintStatus.VERIFIED, at,
        "投诉人李先生 13800001111",
    )  # fmt: skip
    report = apply_evaluations(demo.gradebook, demo.store, [case], baseline_since=at)
    assert [c.cause for c in report.changes] == [("cp-browser",)]
    page.click(f".leaflet-marker-pane [data-id='{first}']")
    item = page.wait_for_selector(".leaflet-popup-content .jz-grade-history li")
    assert item is not None
    text = item.text_content() or ""
    assert text.startswith("2026-03-09 verified complaint (slight): −0.5 points management")
    assert "李先生" not in text and "13800001111" not in text
    assert console.errors == []


def test_the_widget_works_on_a_phone_and_posts_the_selection(
    site: Site, phone: tuple[Page, Console]
) -> None:
    page, console = phone
    widget = f"{site.base}/widget?category=elderly_care&lat=23.1064&lon=113.3245"
    site.allowed.pages["/app"] = host_page(widget)
    page.goto(f"{site.allowed.origin}/app")
    frame = page.frame_locator("#jz")
    frame.locator(READY).wait_for(state="attached", timeout=15_000)
    frame.locator("body[data-results='10']").wait_for(state="attached", timeout=15_000)
    # Usable at 375 px: nothing wider than the frame, the controls and results on screen.
    inner = page.frames[1]
    assert inner.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert frame.locator("#jz-category").is_visible()
    first = frame.locator("#jz-results .jz-result").first
    first_id = first.get_attribute("data-id")
    first.click()
    selected = "window.received.filter(m => m.data.type === 'provider-selected')"
    page.wait_for_function(f"{selected}.length > 0", timeout=10_000)
    received = page.evaluate(selected)
    assert len(received) == 1
    message = received[0]
    assert message["origin"] == site.base
    assert message["data"]["source"] == "jzmap"
    assert message["data"]["type"] == "provider-selected"
    assert message["data"]["version"] == 1
    assert message["data"]["provider"]["id"] == first_id
    assert message["data"]["provider"]["rank"] == 1
    assert "****" not in message["data"]["provider"]["phone"]  # business lines are public
    assert console.errors == []


def test_the_widget_fits_320_px_and_keeps_the_hosts_filters(
    site: Site, phone: tuple[Page, Console]
) -> None:
    page, console = phone
    page.set_viewport_size({"width": 320, "height": 568})
    with page.expect_response(lambda r: "/v1/providers/nearest" in r.url) as info:
        page.goto(f"{site.base}/widget?lat=23.1064&lon=113.3245&min_grade=4A&kind=company")
    _wait_ready(page)
    sent = dict(parse_qsl(urlsplit(info.value.url).query))
    assert sent["min_grade"] == "4A" and sent["kind"] == "company"
    page.wait_for_selector("body[data-results='10']", state="attached", timeout=15_000)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    grades = page.eval_on_selector_all(
        "#jz-results .jz-result", "els => els.map(e => e.textContent)"
    )
    assert all(("5A" in g or "4A" in g) for g in grades), grades
    assert page.locator("#jz-locate").is_visible()
    assert console.errors == []


def test_an_origin_outside_the_embed_list_sees_why_not_the_widget(
    site: Site, phone: tuple[Page, Console]
) -> None:
    page, console = phone
    site.foreign.pages["/app"] = host_page(f"{site.base}/widget")
    page.goto(f"{site.foreign.origin}/app")
    frame = page.frame_locator("#jz")
    frame.locator("body[data-jzmap=origin-not-allowed]").wait_for(timeout=15_000)
    assert site.foreign.origin in frame.locator("body").inner_text()
    assert frame.locator("#jz-config").count() == 0
    # The page is a 403 (a developer's console says so), and nothing else fails.
    assert all("403" in error for error in console.errors), console.errors


def test_keyboard_alone_runs_a_search_and_large_text_scales_the_page(
    site: Site, desktop: tuple[Page, Console]
) -> None:
    page, console = desktop
    page.goto(f"{site.base}/map")
    _wait_ready(page)
    focused = []
    for _ in range(20):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id"))
        if focused[-1] == "jz-search-centre":
            break
    assert "jz-category" in focused and focused[-1] == "jz-search-centre", focused
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-results='10']", state="attached", timeout=15_000)

    size = "parseFloat(getComputedStyle(document.querySelector('.jz-result')).fontSize)"
    before = page.evaluate(size)
    page.focus("#jz-large-text")
    page.keyboard.press("Enter")
    assert page.get_attribute("#jz-large-text", "aria-pressed") == "true"
    assert page.evaluate(size) > before * 1.2
    assert console.errors == []


def test_grades_are_written_on_the_markers_not_only_coloured(
    site: Site, desktop: tuple[Page, Console]
) -> None:
    page, console = desktop
    page.goto(f"{site.base}/map")
    _wait_ready(page)
    _move(page, 23.125, 113.33, 14)
    labels = set(
        page.eval_on_selector_all(
            ".leaflet-marker-pane [data-id]", "els => els.map(e => e.textContent)"
        )
    )
    assert labels and labels <= {"5A", "4A", "3A", "2A", "A", "站"}
    assert len(labels) >= 3
    assert console.errors == []


# The coverage view is the planner's workbench: tests/test_coverage_workbench_browser.py.


def test_the_embed_page_builds_a_working_snippet(site: Site, desktop: tuple[Page, Console]) -> None:
    page, console = desktop
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{site.base}/embed?lang=en")
    page.select_option("select[name=category]", "nursing")
    page.check("input[name=certified_only]")
    page.fill("input[name=height]", "800")
    snippet = page.input_value("#jz-snippet")
    assert f'src="{site.base}/widget/v1?category=nursing&amp;lang=en&amp;certified_only=true"' in (
        snippet
    )
    assert 'height="800"' in snippet and 'title="Domestic services near you"' in snippet
    page.click("#jz-copy")
    page.wait_for_selector("#jz-copy-status:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == snippet
    # The preview navigates to the new snippet's address (same site: its document is ours
    # to read), draws its first layer there, filters as asked and says so in messages.
    page.wait_for_function(
        """() => {
            const doc = document.getElementById("jz-preview").contentDocument;
            return doc && doc.location.search === "?category=nursing&lang=en&certified_only=true"
                && doc.querySelector("body[data-layer-state=ready]") !== null
                && doc.getElementById("jz-category").value === "nursing"
                && doc.getElementById("jz-certified_only").checked;
        }""",
        timeout=15_000,
    )
    page.wait_for_selector("#jz-messages li", timeout=15_000)
    assert '"type": "ready"' in page.inner_text("#jz-messages")
    assert console.errors == []


def test_the_offline_copy_opens_from_a_file_with_no_server(
    demo_store: ProviderStore, tmp_path: Path, desktop: tuple[Page, Console]
) -> None:
    page, console = desktop
    settings = _settings()
    out = tmp_path / "city.html"
    out.write_text(
        export_static_map(
            demo_store,
            districts_layer(settings.city),
            district_points(settings.city),
            tiles_url=BLANK_TILES,
            tiles_attribution="test",
            tiles_crs=settings.map.tiles_crs,
        ),
        encoding="utf-8",
    )
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(out.as_uri())
    _wait_ready(page)
    assert page.get_attribute("body", "data-layer-count") == "11"
    all_status = page.text_content("#jz-status")
    page.select_option("#jz-category", "nursing")
    assert page.text_content("#jz-status") != all_status
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert console.errors == []


def test_page_weight_does_not_grow_with_the_number_of_providers(
    browser: Browser, tmp_path: Path
) -> None:
    """HTML + scripts + styles + the first data, at 1k and 30k providers: within 20%."""
    weights = {}
    for companies in (1_000, 30_000):
        with embedded_backend_at(tmp_path / f"city-{companies}") as backend:
            for chunk in generate_demo(REFERENCE_DIR, companies=companies):
                backend.store.upsert(chunk)
            with serve_app(create_app(_settings(), backend=backend)) as base:
                weights[companies] = _page_weight(browser, f"{base}/map")
    ratio = weights[30_000] / weights[1_000]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "page-weight.json").write_text(json.dumps({**weights, "ratio": ratio}))
    assert 0.8 < ratio < 1.2, weights


def _page_weight(browser: Browser, url: str) -> int:
    context = browser.new_context(viewport={"width": 375, "height": 667})
    page = context.new_page()
    sizes: list[int] = []
    page.on("requestfinished", lambda r: sizes.append(r.sizes()["responseBodySize"]))
    page.goto(url)
    _wait_ready(page)
    page.wait_for_load_state("networkidle")
    context.close()
    return sum(sizes)


# -- issue 16: call, navigate, open now (on a phone) ------------------------------------------


def test_results_offer_a_call_link_and_navigate_links_for_three_apps(
    site: Site, phone: tuple[Page, Console]
) -> None:
    page, console = phone
    page.goto(f"{site.base}/map?category=elderly_care&lat=23.1064&lon=113.3245")
    page.wait_for_selector("body[data-results='10']", state="attached", timeout=15_000)
    api = _get_json(
        f"{site.base}/v1/providers/nearest",
        params={
            "lat": 23.1064,
            "lon": 113.3245,
            "category": "elderly_care",
            "limit": 10,
            "navigate": "true",
        },
    )
    items = page.locator("#jz-results > li")
    assert items.count() == len(api["results"]) == 10
    for i, r in enumerate(api["results"]):
        item = items.nth(i)
        call = item.locator("a.jz-call")
        assert call.get_attribute("href") == r["tel"]
        assert r["tel"] == "tel:" + "".join(ch for ch in r["phone"] if ch.isdigit())
        assert r["phone"] in (call.text_content() or "")
        for app in ("amap", "baidu", "tencent"):
            link = item.locator(f"a.jz-nav-{app}")
            assert link.get_attribute("href") == r["navigate"][app]["web"]
            assert link.get_attribute("data-app-href") == r["navigate"][app]["app"]
    # A thumb can reach the call link: it is on the page and at least 44 px tall.
    first_call = items.nth(0).locator("a.jz-call")
    first_call.scroll_into_view_if_needed()
    box = first_call.bounding_box()
    assert box is not None and box["height"] >= 44 and box["x"] + box["width"] <= 375
    assert console.errors == []


def test_the_open_now_toggle_draws_exactly_the_api_s_open_providers(
    site: Site, phone: tuple[Page, Console]
) -> None:
    """At a fixed time (a Sunday, 08:30), the toggle leaves those open then: not the
    Monday-to-Saturday ones, not those opening at nine."""
    page, console = phone
    at = "2026-12-06T08:30:00"
    page.goto(f"{site.base}/map?open_at={at}")
    _wait_ready(page)
    query = _move(page, 23.15, 113.36, 13)
    assert page.get_attribute("body", "data-layer-mode") == "points"
    everyone = _layer_ids(page)
    assert "open_at" not in query
    with page.expect_response(lambda r: "/v1/map/layer" in r.url and "open_at" in r.url) as info:
        page.check("#jz-open_now")
    _wait_ready(page)
    open_ids = _layer_ids(page)
    sent = dict(parse_qsl(urlsplit(info.value.url).query))
    assert sent["open_at"] == at
    api = _get_json(f"{site.base}/v1/map/layer", params=sent)
    assert open_ids == sorted(f["id"] for f in api["features"])
    assert open_ids and set(open_ids) < set(everyone)
    for f in api["features"]:
        details = _get_json(f"{site.base}/v1/providers/{f['id']}", {"open_at": at})
        assert details["opening_hours"] in {"08:00-18:00", "07:30-20:00", "24小时"}
    for closed in set(everyone) - set(open_ids):
        details = _get_json(f"{site.base}/v1/providers/{closed}", {})
        assert details["opening_hours"].startswith("周一至周六")
    # And back: unchecking draws everyone again.
    with page.expect_response(lambda r: "/v1/map/layer" in r.url):
        page.uncheck("#jz-open_now")
    _wait_ready(page)
    assert _layer_ids(page) == everyone
    assert console.errors == []


def test_the_provider_page_is_readable_with_javascript_off(
    site: Site, browser: Browser, request: pytest.FixtureRequest
) -> None:
    api = _get_json(
        f"{site.base}/v1/providers/nearest",
        params={"lat": 23.1064, "lon": 113.3245, "kind": "company", "limit": 1, "navigate": "true"},
    )
    p = api["results"][0]
    context = browser.new_context(
        viewport={"width": 375, "height": 667}, locale="zh-CN", java_script_enabled=False
    )
    page = context.new_page()
    console = _watch(page)
    try:
        response = page.goto(f"{site.base}/p/{p['id']}")
        assert response is not None and response.status == 200
        assert page.text_content("h1") == p["name"]
        call = page.locator("a.jz-call")
        assert call.get_attribute("href") == p["tel"]
        box = call.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 667  # phone first: on screen
        hrefs = page.eval_on_selector_all("a.jz-nav-link", "els => els.map(e => e.href)")
        assert hrefs == [p["navigate"][app]["web"] for app in ("amap", "baidu", "tencent")]
        body = page.text_content("main") or ""
        assert p["credit_grade"] in body and "5A 最高" in body and p["address"] in body
        assert p["opening_hours"] in body
        og = page.get_attribute("meta[property='og:title']", "content")
        assert og == p["name"]
        page.goto(f"{site.base}/p/{p['id']}?lang=en")
        assert "Credit grade" in (page.text_content("main") or "")
        assert console.errors == []
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        context.close()


def test_list_entries_popups_and_the_widget_link_to_the_provider_page(
    site: Site, phone: tuple[Page, Console], desktop: tuple[Page, Console]
) -> None:
    page, console = phone
    page.goto(f"{site.base}/map?category=elderly_care&lat=23.1064&lon=113.3245")
    page.wait_for_selector("body[data-results='10']", state="attached", timeout=15_000)
    ids = page.eval_on_selector_all("#jz-results .jz-result", "els => els.map(e => e.dataset.id)")
    hrefs = page.eval_on_selector_all(
        "#jz-results > li a.jz-details", "els => els.map(e => e.href)"
    )
    assert hrefs == [f"{site.base}/p/{quote(i, safe='')}?lang=zh" for i in ids]
    # A marker's popup (the map layer's provider, fetched on a tap) links there too.
    wide, wide_console = desktop
    wide.goto(f"{site.base}/map?lang=en")
    _wait_ready(wide)
    _move(wide, 23.125, 113.33, 15)
    first = _layer_ids(wide)[0]
    wide.click(f".leaflet-marker-pane [data-id='{first}']")
    link = wide.wait_for_selector(".leaflet-popup-content a.jz-details")
    assert link is not None
    assert link.get_attribute("href") == f"/p/{quote(first, safe='')}?lang=en"
    link.click()
    wide.wait_for_url("**/p/*lang=en")
    assert wide.locator("main").get_attribute("data-provider-id") == first
    assert wide_console.errors == []
    # In the widget the page opens in a new tab: it refuses to be framed.
    widget = f"{site.base}/widget?category=elderly_care&lat=23.1064&lon=113.3245"
    site.allowed.pages["/app"] = host_page(widget)
    page.goto(f"{site.allowed.origin}/app")
    frame = page.frame_locator("#jz")
    frame.locator("body[data-results='10']").wait_for(state="attached", timeout=15_000)
    details = frame.locator("#jz-results > li a.jz-details").first
    assert details.get_attribute("target") == "_blank"
    assert (details.get_attribute("href") or "").startswith("/p/")
    assert console.errors == []


def test_reporting_a_problem_works_with_and_without_javascript(
    site: Site, demo: Backend, browser: Browser, request: pytest.FixtureRequest
) -> None:
    from providers.problem_reports import ReportKind, ReportQuery

    api = _get_json(
        f"{site.base}/v1/providers/nearest",
        params={"lat": 23.1064, "lon": 113.3245, "kind": "company", "limit": 1},
    )
    provider_id = api["results"][0]["id"]
    before = demo.reports.list(ReportQuery(provider_id=provider_id)).total
    for scripts in (True, False):
        context = browser.new_context(
            viewport={"width": 375, "height": 667}, locale="zh-CN", java_script_enabled=scripts
        )
        page = context.new_page()
        console = _watch(page)
        try:
            page.goto(f"{site.base}/p/{quote(provider_id, safe='')}")
            page.check("input[name=kind][value=wrong_phone]" if scripts else "input[value=moved]")
            page.fill("#jz-report-text", "电话打不通" if scripts else "搬到隔壁楼")
            if scripts:
                with page.expect_response(lambda r: r.url.endswith("/reports")) as sent:
                    page.click(".jz-report button[type=submit]")
                assert sent.value.status == 200
                page.wait_for_selector(".jz-report-status.jz-notice")
                assert page.text_content(".jz-report-status") == "谢谢！已收到，工作人员会核实。"
                assert page.url.endswith(quote(provider_id, safe=""))  # stayed on the page
            else:
                page.click(".jz-report button[type=submit]")
                page.wait_for_url("**reported=true")
                assert "谢谢！已收到" in (page.text_content("main") or "")
            assert console.errors == []
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = f"{request.node.name}-{'js' if scripts else 'nojs'}.png"
            page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
            context.close()
    got = demo.reports.list(ReportQuery(provider_id=provider_id))
    assert got.total == before + 2
    assert [(r.kind, r.text) for r in got.reports[:2]] == [
        (ReportKind.MOVED, "搬到隔壁楼"),
        (ReportKind.WRONG_PHONE, "电话打不通"),
    ]

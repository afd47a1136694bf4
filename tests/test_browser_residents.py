"""The resident's map on a phone (issue 16, parts 6 to 8), in a real headless Chromium:
finding a place by words, results a person understands, and a layout measured in the
browser at 375 and 320 px (nothing overlaps; large text is large everywhere).

Every test fails on a console error it did not expect and keeps a screenshot under
test-artifacts/browser/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from urllib.request import urlopen

import geopandas as gpd
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright
from shapely.geometry import box

from api.app import create_app
from geo.crs import wgs84_to_gcj02
from jzmap.settings import Settings
from tests.browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path, serve_app
from tests.fake_amap import FakeAmap, fake_amap
from tests.helpers import demo_city_backend_at

READY = "body[data-layer-state=ready]"
# 广州塔 (Canton Tower), WGS-84; AMap answers it in GCJ-02.
TOWER = (113.3245, 23.1064)
ADDRESS = "海珠区阅江西路222号"


@dataclass
class Console:
    errors: list[str] = field(default_factory=list)


@dataclass
class Site:
    base: str
    amap: FakeAmap


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("residents")
    streets = gpd.GeoDataFrame(
        {"name": ["赤岗街道"], "district": ["海珠区"]},
        geometry=[box(113.32, 23.09, 113.35, 23.11)],
        crs="EPSG:4326",
    )
    streets.to_file(tmp / "streets.geojson", driver="GeoJSON")
    with demo_city_backend_at(tmp / "demo") as backend, fake_amap() as amap:
        gcj = wgs84_to_gcj02(*TOWER)
        amap.script[ADDRESS] = [("ok", f"{gcj[0]:.6f},{gcj[1]:.6f}", "门牌号")]
        settings = Settings(
            data_dir=tmp,
            tiles_url="/static/blank-tile.png",
            streets_layer=tmp / "streets.geojson",
            amap_key="test-key",
            amap_url=amap.url,
        )
        with serve_app(create_app(settings, backend=backend)) as base:
            yield Site(base, amap)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = _launch(p)
        yield b
        b.close()


def _launch(p: Playwright) -> Browser:
    return p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


def _watch(page: Page) -> Console:
    console = Console()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: console.errors.append(f"uncaught: {exc}"))
    return console


@pytest.fixture(params=[375, 320], ids=["375px", "320px"])
def phone(browser: Browser, request: pytest.FixtureRequest) -> Iterator[tuple[Page, Console]]:
    """A touch phone, 375 x 667 or 320 x 568."""
    width = int(request.param)
    context = browser.new_context(
        viewport={"width": width, "height": 667 if width == 375 else 568},
        locale="zh-CN",
        has_touch=True,
        is_mobile=True,
    )
    page = context.new_page()
    console = _watch(page)
    yield page, console
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()


def _get_json(url: str, params: dict[str, Any]) -> Any:
    with urlopen(f"{url}?{urlencode(params)}", timeout=30) as response:
        return json.load(response)


def _wait_results(page: Page) -> None:
    page.wait_for_selector("body[data-results='10']", state="attached", timeout=15_000)


def _listed(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        "#jz-results .jz-result", "els => els.map(e => e.dataset.id)"
    )
    return ids


# Boxes of what is on screen, measured by the browser: the map's own controls, the sheet
# (the panel), popups, labels and markers.
_BOXES = """(selector) => Array.from(document.querySelectorAll(selector))
  .filter(e => { const s = getComputedStyle(e); const r = e.getBoundingClientRect();
                 return s.display !== 'none' && s.visibility !== 'hidden' && r.width > 0; })
  .map(e => { const r = e.getBoundingClientRect();
              return {left: r.left, top: r.top, right: r.right, bottom: r.bottom,
                      text: e.textContent.trim().slice(0, 30)}; })"""


def _boxes(page: Page, selector: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(_BOXES, selector)
    return found


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(
        a["left"] < b["right"] - 0.5
        and b["left"] < a["right"] - 0.5
        and a["top"] < b["bottom"] - 0.5
        and b["top"] < a["bottom"] - 0.5
    )


def _no_overlaps(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> None:
    clashes = [(a, b) for a in first for b in second if a is not b and _overlap(a, b)]
    assert clashes == [], clashes[:3]


def _pairwise_apart(boxes: list[dict[str, Any]]) -> None:
    clashes = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if _overlap(a, b)]
    assert clashes == [], clashes[:3]


def _inside(boxes: list[dict[str, Any]], frame: dict[str, Any]) -> None:
    out = [
        b
        for b in boxes
        if b["left"] < frame["left"] - 0.5
        or b["top"] < frame["top"] - 0.5
        or b["right"] > frame["right"] + 0.5
        or b["bottom"] > frame["bottom"] + 0.5
    ]
    assert out == [], (out[:3], frame)


CONTROLS = ".leaflet-control"


# -- 6. find by words ------------------------------------------------------------------


def test_an_address_typed_and_chosen_moves_the_search_there(
    site: Site, phone: tuple[Page, Console]
) -> None:
    page, console = phone
    page.goto(f"{site.base}/map?category=elderly_care")
    page.wait_for_selector(READY, state="attached", timeout=15_000)
    box_ = page.locator("#jz-place")
    assert box_.get_attribute("role") == "combobox"
    assert box_.get_attribute("aria-expanded") == "false"
    box_.click()
    # Typed as a person types: a key at a time; the box asks once she pauses.
    with page.expect_response(lambda r: "/v1/places/suggest" in r.url) as asked:
        page.keyboard.type(ADDRESS, delay=20)
    page.wait_for_selector("#jz-place-list [role=option]")
    sent = dict(parse_qsl(urlsplit(asked.value.url).query))
    suggested = asked.value.json()["places"]
    assert sent["q"] == ADDRESS and suggested[0]["source"] == "amap"
    assert box_.get_attribute("aria-expanded") == "true"
    options = page.locator("#jz-place-list [role=option]")
    assert (options.first.text_content() or "").startswith(ADDRESS)
    # Keyboard: down to the first, Enter chooses it.
    page.keyboard.press("ArrowDown")
    assert box_.get_attribute("aria-activedescendant") == "jz-place-0"
    assert options.first.get_attribute("aria-selected") == "true"
    with page.expect_response(lambda r: "/v1/providers/nearest" in r.url) as searched:
        page.keyboard.press("Enter")
    _wait_results(page)
    query = dict(parse_qsl(urlsplit(searched.value.url).query))
    assert float(query["lat"]) == pytest.approx(suggested[0]["lat"], abs=1e-6)
    assert float(query["lon"]) == pytest.approx(suggested[0]["lon"], abs=1e-6)
    assert box_.get_attribute("aria-expanded") == "false"
    # The same answer as the API's at that point, and the place named on the map.
    api = _get_json(
        f"{site.base}/v1/providers/nearest",
        {"lat": query["lat"], "lon": query["lon"], "category": "elderly_care", "limit": 10},
    )
    assert _listed(page) == [r["id"] for r in api["results"]]
    assert page.text_content(".jz-here-label") == ADDRESS
    here = page.evaluate(
        "(() => { let ll = null; jzmap.map.eachLayer(l => { if (l.getTooltip && l.getTooltip()"
        " && l.getTooltip().options.permanent) ll = l.getLatLng(); }); return [ll.lat, ll.lng]; })()"
    )
    assert here == pytest.approx([suggested[0]["lat"], suggested[0]["lon"]], abs=1e-6)

    # A street of the gazetteer, by a part of its name, chosen with a tap.
    box_.fill("")
    with page.expect_response(lambda r: "/v1/places/suggest" in r.url):
        box_.type("赤岗", delay=20)
    option = page.locator("#jz-place-list [role=option]").first
    assert (option.text_content() or "").startswith("赤岗街道")
    with page.expect_response(lambda r: "/v1/providers/nearest" in r.url) as searched:
        option.tap()
    query = dict(parse_qsl(urlsplit(searched.value.url).query))
    assert 113.32 <= float(query["lon"]) <= 113.35 and 23.09 <= float(query["lat"]) <= 23.11
    assert console.errors == []


# -- 7. results a person understands -----------------------------------------------------


def test_the_sort_switch_gives_the_api_s_order_and_the_count(
    site: Site, phone: tuple[Page, Console]
) -> None:
    page, console = phone
    point = {"lat": 23.1064, "lon": 113.3245}
    page.goto(f"{site.base}/map?lat={point['lat']}&lon={point['lon']}")
    _wait_results(page)
    assert page.text_content("#jz-count") == "找到 10 家"
    by_score = _get_json(f"{site.base}/v1/providers/nearest", {**point, "limit": 10})
    by_distance = _get_json(
        f"{site.base}/v1/providers/nearest", {**point, "limit": 10, "sort": "distance"}
    )
    assert _listed(page) == [r["id"] for r in by_score["results"]]
    assert _listed(page) != [r["id"] for r in by_distance["results"]]  # the switch matters
    with page.expect_response(lambda r: "sort=distance" in r.url):
        page.locator(".jz-sort-option", has_text="距离最近").tap()
    _wait_results(page)
    assert _listed(page) == [r["id"] for r in by_distance["results"]]
    with page.expect_response(lambda r: "sort=score" in r.url):
        page.locator(".jz-sort-option", has_text="综合推荐").tap()
    _wait_results(page)
    assert _listed(page) == [r["id"] for r in by_score["results"]]

    # One plain line per result; the breakdown one tap away; stations say how they rank.
    for item, r in zip(page.locator("#jz-results > li").all(), by_score["results"], strict=True):
        line = item.locator(".jz-plain").text_content() or ""
        grade = "服务站" if r["kind"] == "station" else r["credit_grade"]
        assert f" · {grade} · " in line, line
        if r["practitioners"]:
            share = round(100 * r["certified_practitioners"] / r["practitioners"])
            assert line.endswith(f"持证率 {share}%"), line
        why = item.locator("details.jz-why")
        assert not why.locator("ul").is_visible()
        why.locator("summary").tap()
        assert why.locator("ul").is_visible()
        text = why.text_content() or ""
        assert f"{r['score']:.2f}" in text
        if r["kind"] == "station":
            assert "服务站不评信用等级" in text and "等级 0." not in line
    assert console.errors == []


def test_a_legend_says_what_colours_and_grades_mean(
    site: Site, phone: tuple[Page, Console]
) -> None:
    page, console = phone
    page.goto(f"{site.base}/map")
    page.wait_for_selector(READY, state="attached", timeout=15_000)
    page.locator("#jz-marker-legend summary").tap()
    items = page.eval_on_selector_all("#jz-marker-legend li", "els => els.map(e => e.textContent)")
    assert items[0] == "5A5A：信用等级最高" and items[4] == "AA：信用等级最低"
    assert any("服务站" in i for i in items)
    # The legend's swatches are the markers' own colours.
    colours = page.eval_on_selector_all(
        "#jz-marker-legend .jz-key.jz-company",
        "els => els.map(e => getComputedStyle(e).backgroundColor)",
    )
    assert len(set(colours)) == 5
    assert console.errors == []


# -- 8. layout: nothing overlaps, nothing cut off, no stuck tooltip --------------------------


def test_district_labels_at_city_zoom_neither_overlap_nor_are_cut_off(
    site: Site, phone: tuple[Page, Console]
) -> None:
    page, console = phone
    page.goto(f"{site.base}/map")
    page.wait_for_selector(READY, state="attached", timeout=15_000)
    assert page.get_attribute("body", "data-layer-mode") == "districts"
    labels = _boxes(page, ".jz-bubble")
    assert len(labels) == 11
    _pairwise_apart(labels)
    frame = _boxes(page, ".folium-map")[0]
    _inside(labels, frame)
    _no_overlaps(labels, _boxes(page, CONTROLS))
    assert console.errors == []


def test_markers_are_spread_so_none_hides_another(site: Site, phone: tuple[Page, Console]) -> None:
    page, console = phone
    page.goto(f"{site.base}/map")
    page.wait_for_selector(READY, state="attached", timeout=15_000)
    with page.expect_response(lambda r: "/v1/map/layer" in r.url):
        page.evaluate("jzmap.map.setView([23.13, 113.30], 13, {animate: false})")
    page.wait_for_selector(READY, state="attached", timeout=15_000)
    assert page.get_attribute("body", "data-layer-mode") == "points"
    markers = _boxes(page, ".leaflet-marker-pane [data-id]")
    assert len(markers) >= 10
    # Some were close enough to cover one another: the rule had work to do.
    assert page.locator("[data-spread]").count() > 0
    _pairwise_apart(markers)
    assert console.errors == []


def test_results_and_details_open_as_a_sheet_clear_of_the_map_controls(
    site: Site, phone: tuple[Page, Console]
) -> None:
    page, console = phone
    height = page.viewport_size["height"] if page.viewport_size else 667
    page.goto(f"{site.base}/map?category=elderly_care&lat=23.1064&lon=113.3245")
    _wait_results(page)
    sheet = _boxes(page, "#jz-panel")[0]
    # By itself, the list is open and on screen: its first result and count in view.
    assert page.evaluate("document.body.classList.contains('jz-sheet-open')")
    first = _boxes(page, "#jz-results li:first-child .jz-result")[0]
    assert sheet["top"] <= first["top"] and first["bottom"] <= height
    assert sheet["top"] < height / 2  # a sheet over the map, not a window onto the panel
    _no_overlaps([sheet], _boxes(page, CONTROLS))
    _no_overlaps(_boxes(page, ".jz-here-label"), _boxes(page, CONTROLS))
    # A result's details replace the list in the sheet: no popup spilling past the map.
    page.locator("#jz-results .jz-result").first.tap()
    page.wait_for_selector("#jz-details:not([hidden]) .jz-popup")
    assert _boxes(page, ".leaflet-popup") == []
    details = _boxes(page, "#jz-details")[0]
    _no_overlaps([details], _boxes(page, CONTROLS))
    assert details["right"] <= page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # A marker tapped on the map opens the same sheet.
    page.locator("#jz-details-back").tap()
    page.locator("[data-result-id]").nth(1).tap()
    page.wait_for_selector("#jz-details:not([hidden]) .jz-popup")
    assert _boxes(page, ".leaflet-popup") == []
    # The map comes back with one tap, and its controls with it.
    page.locator("#jz-details-back").tap()
    page.locator("#jz-sheet-toggle").tap()
    assert not page.evaluate("document.body.classList.contains('jz-sheet-open')")
    _no_overlaps(_boxes(page, "#jz-panel"), _boxes(page, CONTROLS))
    assert console.errors == []


def test_a_tap_leaves_no_tooltip_and_no_focus_box(site: Site, phone: tuple[Page, Console]) -> None:
    page, console = phone
    page.goto(f"{site.base}/map")
    page.wait_for_selector(READY, state="attached", timeout=15_000)
    assert page.evaluate("matchMedia('(hover: hover)').matches") is False
    # A tap on a district's area (not on a label): where its polygon is under the finger.
    spot = page.evaluate(
        "(() => { const r = document.querySelector('.folium-map').getBoundingClientRect();"
        " for (let y = r.top + 60; y < r.bottom - 40; y += 15)"
        "  for (let x = r.left + 60; x < r.right - 20; x += 15) {"
        "   const e = document.elementFromPoint(x, y);"
        "   if (e && e.tagName === 'path') return [x, y]; } return null; })()"
    )
    assert spot is not None
    with page.expect_response(lambda r: "/v1/providers/nearest" in r.url):
        page.touchscreen.tap(spot[0], spot[1])
    assert _boxes(page, ".leaflet-tooltip:not(.jz-here-label)") == []
    focused = page.evaluate(
        "(() => { const e = document.activeElement; return [e.matches(':focus-visible'),"
        " getComputedStyle(e).outlineStyle]; })()"
    )
    assert focused[0] is False or focused[1] == "none", focused
    page.locator("#jz-large-text").tap()
    focused = page.evaluate(
        "(() => { const e = document.activeElement; return [e.id, getComputedStyle(e).outlineStyle]; })()"
    )
    assert focused == ["jz-large-text", "none"]
    assert console.errors == []


# -- 8. large text: every text and control measured -------------------------------------------

_TOO_SMALL = """() => {
  const visible = e => { const s = getComputedStyle(e); const r = e.getBoundingClientRect();
    return s.display !== 'none' && s.visibility !== 'hidden' && r.width > 0 && r.height > 0
      && !e.closest('[hidden]'); };
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const e = n.parentElement;
    if (!n.textContent.trim() || !e || ['SCRIPT', 'STYLE'].includes(e.tagName)) continue;
    if (!visible(e)) continue;
    const size = parseFloat(getComputedStyle(e).fontSize);
    if (size < 18) texts.push([e.tagName + '.' + e.className, n.textContent.trim().slice(0, 20), size]);
  }
  // A checkbox's or radio's target is its label; the rest are measured themselves.
  const controls = [];
  const selector = 'button, a[href], select, input, summary, [role=option], .leaflet-marker-icon.leaflet-interactive';
  for (const c of document.querySelectorAll(selector)) {
    const target = ['checkbox', 'radio'].includes(c.type) && c.closest('label') ? c.closest('label') : c;
    if (!visible(target) || (target.type === 'hidden')) continue;
    const r = target.getBoundingClientRect();
    if (r.width < 47.5 || r.height < 47.5)
      controls.push([target.tagName + '#' + target.id + '.' + target.className,
                     (target.textContent || '').trim().slice(0, 20), r.width, r.height]);
  }
  return {texts, controls};
}"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_large_text_makes_every_text_18px_and_every_control_48px(
    site: Site, phone: tuple[Page, Console], lang: str
) -> None:
    page, console = phone
    page.goto(f"{site.base}/map?lang={lang}&large_text=true&lat=23.1064&lon=113.3245")
    _wait_results(page)
    assert page.evaluate("document.documentElement.classList.contains('jz-large')")
    page.locator("#jz-results details.jz-why").first.locator("summary").tap()
    found = page.evaluate(_TOO_SMALL)
    assert found == {"texts": [], "controls": []}
    # The legend open, then a provider's details in the sheet.
    page.locator("#jz-marker-legend summary").tap()
    page.locator("#jz-results .jz-result").first.tap()
    page.wait_for_selector("#jz-details:not([hidden]) .jz-popup")
    assert page.evaluate(_TOO_SMALL) == {"texts": [], "controls": []}
    # And at street zoom, the markers.
    page.locator("#jz-details-back").tap()
    page.locator("#jz-sheet-toggle").tap()
    with page.expect_response(lambda r: "/v1/map/layer" in r.url):
        page.evaluate("jzmap.map.setView([23.125, 113.33], 15, {animate: false})")
    page.wait_for_selector(READY, state="attached", timeout=15_000)
    assert page.evaluate(_TOO_SMALL) == {"texts": [], "controls": []}
    assert console.errors == []


# -- 7. one language per page, errors included --------------------------------------------------

_OTHER_LANGUAGE = """(lang) => {
  const cjk = /[\\u3400-\\u9fff]/;
  const latin = /[A-Za-z]{3,}/;
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const e = n.parentElement;
    const text = n.textContent.trim();
    if (!text || !e || ['SCRIPT', 'STYLE'].includes(e.tagName)) continue;
    // Text marked as another language (a provider's name, the language switch) is data
    // or a door to the other page, said so for screen readers; the basemap's credit is
    // its owner's wording.
    const marked = e.closest('[lang]');
    if (marked && marked.getAttribute('lang') !== document.documentElement.lang) continue;
    if (e.closest('.leaflet-control-attribution')) continue;
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (lang === 'en' ? cjk.test(text) : latin.test(text)) found.push(text.slice(0, 40));
  }
  for (const a of document.querySelectorAll('[title], [aria-label], [placeholder], [alt]'))
    for (const name of ['title', 'aria-label', 'placeholder', 'alt']) {
      const v = a.getAttribute(name);
      if (!v || (a.closest('[lang]') && a.closest('[lang]').getAttribute('lang') !== document.documentElement.lang)) continue;
      if (lang === 'en' ? cjk.test(v) && !a.classList.contains('leaflet-marker-icon') : latin.test(v)) found.push(name + ': ' + v);
    }
  return found;
}"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_string_of_the_other_language_errors_included(
    site: Site, browser: Browser, lang: str, request: pytest.FixtureRequest
) -> None:
    # No permission to locate: the browser's own (English) refusal must not show.
    context = browser.new_context(viewport={"width": 375, "height": 667}, locale="en-US")
    page = context.new_page()
    console = _watch(page)
    try:
        page.goto(f"{site.base}/map?lang={lang}&lat=23.1064&lon=113.3245")
        _wait_results(page)
        page.locator("#jz-marker-legend summary").click()
        page.locator("#jz-results details.jz-why").first.locator("summary").click()
        assert page.evaluate(_OTHER_LANGUAGE, lang) == []
        page.locator("#jz-results .jz-result").first.click()
        page.wait_for_selector("#jz-details:not([hidden]) .jz-popup")
        assert page.evaluate(_OTHER_LANGUAGE, lang) == []
        page.locator("#jz-details-back").click()
        page.locator("#jz-locate").click()
        # A function, not a string: the page's CSP allows no eval, and a string expression
        # that is false at first is polled through eval.
        page.wait_for_function(
            "() => document.getElementById('jz-status').textContent.length > 8"
            " && !document.getElementById('jz-status').textContent.includes('…')"
        )
        refused = page.text_content("#jz-status") or ""
        assert "User denied" not in refused
        assert refused.startswith("无法获取您的位置" if lang == "zh" else "Could not get")
        assert page.evaluate(_OTHER_LANGUAGE, lang) == []
        # An API error (a point outside the area served), said in the page's language.
        with page.expect_response(lambda r: "/v1/providers/nearest" in r.url) as answer:
            page.evaluate("jzmap.nearest(39.9, 116.4, 'wgs84')")
        assert answer.value.status == 422
        page.wait_for_selector("body[data-results=error]", state="attached")
        said = page.text_content("#jz-status") or ""
        assert said == (
            "这个位置不在服务范围内，请在城市范围内选择。"
            if lang == "zh"
            else "This place is outside the area served; choose one in the city."
        )
        assert page.evaluate(_OTHER_LANGUAGE, lang) == []
        # Failed requests show in the console as such (the 422 above); nothing else.
        assert [e for e in console.errors if "422" not in e] == []
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        context.close()


def test_hours_in_english_are_rendered_not_quoted(site: Site, browser: Browser) -> None:
    """Parsed hours in English words; unparsed ones as registered, marked as such."""
    context = browser.new_context(viewport={"width": 375, "height": 667})
    page = context.new_page()
    try:
        page.goto(f"{site.base}/map?lang=en&lat=23.1064&lon=113.3245")
        _wait_results(page)
        hours = page.eval_on_selector_all(
            "#jz-results .jz-hours", "els => els.map(e => [e.textContent, e.innerHTML])"
        )
        assert hours
        for shown, inner in hours:
            assert shown.split(" · ")[0] in {"Open now", "Closed now", "Hours unknown"}, shown
            if "As registered: " in shown:
                assert 'lang="zh-CN"' in inner
            else:
                assert "周" not in shown and "次日" not in shown
    finally:
        context.close()


def test_on_a_wide_screen_popups_are_panned_clear_of_the_map_controls(
    site: Site, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 1024, "height": 640})
    page = context.new_page()
    console = _watch(page)
    try:
        page.goto(f"{site.base}/map")
        page.wait_for_selector(READY, state="attached", timeout=15_000)
        with page.expect_response(lambda r: "/v1/map/layer" in r.url):
            page.evaluate("jzmap.map.setView([23.13, 113.30], 14, {animate: false})")
        page.wait_for_selector(READY, state="attached", timeout=15_000)
        # The marker nearest the zoom buttons: its popup would open under them.
        first = page.evaluate(
            "(() => { const ms = Array.from(document.querySelectorAll("
            "'.leaflet-marker-pane [data-id]')); const z = document.querySelector("
            "'.leaflet-control-zoom').getBoundingClientRect(); ms.sort((a, b) => {"
            " const ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();"
            " return (ra.top - z.top) + (ra.left - z.left) - (rb.top - z.top) - (rb.left - z.left);"
            " }); return ms[0].dataset.id; })()"
        )
        page.click(f".leaflet-marker-pane [data-id='{first}']")
        page.wait_for_selector(".leaflet-popup-content .jz-popup")
        # Once the pan that brings it into view has ended (and the layer was drawn again).
        page.evaluate(
            "() => new Promise(done => { const m = jzmap.map;"
            " if (m._panAnim && m._panAnim._inProgress) m.once('moveend', () => done(true));"
            " else done(true); })"
        )
        page.wait_for_selector(READY, state="attached", timeout=15_000)
        popups = _boxes(page, ".leaflet-popup")
        assert len(popups) == 1 and first in (page.inner_html(".leaflet-popup") or "")
        _no_overlaps(popups, _boxes(page, CONTROLS))
        _inside(popups, _boxes(page, ".folium-map")[0])
        assert console.errors == []
    finally:
        context.close()

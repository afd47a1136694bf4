"""The planner's workbench (``/map?view=coverage``) in a real headless Chromium against the
served demo city (with the hand-made test streets layer): choose, sort, export, print;
crow-fly only and why without a street network; with a small hand-built network and the
office's rooms (tests.osm_fixtures' street grid in 天河区): walking, crow-fly on demand,
exclusions. Every test fails on any console error; screenshots go under
test-artifacts/browser/."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qsl, urlencode, urlsplit
from urllib.request import urlopen

import openpyxl
import pytest
from playwright.sync_api import Browser, Page, Playwright, Request, sync_playwright

from api.app import create_app
from jzmap.settings import Settings
from maps.coverage_exports import STREET_FIELDS, rounded
from maps.coverage_report import LEGEND
from maps.coverage_workbench import CELL_SITE_FIELDS, STREET_SCREEN_FIELDS
from maps.i18n import Lang
from providers.stores import Backend
from tests.browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path, serve_app
from tests.helpers import demo_city_backend_at
from tests.osm_fixtures import rooms_csv, street_grid

pytestmark = pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning")

TEST_STREETS = Path(__file__).parent / "data" / "streets-test.geojson"
READY = "body[data-workbench-state=ready]"
TIANHE = (113.36, 23.13)  # lon, lat (WGS-84): the test network's and rooms' centre
# On the test network the rooms bring gap residents within a 15-minute adult walk.
WALK_PAGE = "/map?view=coverage&district=天河区&category=elderly_care&minutes=15&speed=adult"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_city_backend_at(tmp_path_factory.mktemp("workbench-demo")) as backend:
        yield from _served(backend)


@pytest.fixture(scope="module")
def walking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo city with a street network (a 2 km grid of streets in 天河区) and the
    office's three candidate rooms on it."""
    places = tmp_path_factory.mktemp("workbench-walk")
    with demo_city_backend_at(places / "demo") as backend:
        yield from _served(
            backend,
            street_network=street_grid(TIANHE).write(places / "streets.osm"),
            candidate_sites=rooms_csv(places / "rooms.csv", TIANHE),
            network_cache_dir=places / "networks",
        )


def _served(backend: Backend, **more: Any) -> Iterator[str]:
    settings = Settings(
        data_dir=Path("/nonexistent"),
        tiles_url="/static/blank-tile.png",
        streets_layer=TEST_STREETS,
        request_timeout_s=300,
        **more,
    )
    with serve_app(create_app(settings, backend=backend)) as url:
        if "street_network" in more:
            _wait_for_the_network(url)
        yield url


def _wait_for_the_network(url: str) -> None:
    """Ask for a walk until the server has its network ready (a server may prepare it in
    the background and answer 503 with Retry-After meanwhile), so that the page's first
    requests are answered and the browser logs no failed load."""
    ask = {"category": "elderly_care", "district": "天河区", "mode": "walk"}
    for _ in range(600):
        try:
            _get_json(f"{url}/v1/coverage/streets", ask)
            return
        except HTTPError as error:
            if error.code != 503:
                raise
            time.sleep(float(error.headers.get("Retry-After") or 1))
    pytest.fail("the street network never became ready")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        yield _launch(p)


def _launch(p: Playwright) -> Browser:
    return p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[tuple[Page, list[str]]]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    yield page, errors
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()


def _get_json(url: str, params: dict[str, Any]) -> Any:
    with urlopen(f"{url}?{urlencode(params)}", timeout=300) as response:
        return json.load(response)


def _ready(page: Page) -> None:
    page.wait_for_selector(READY, state="attached", timeout=180_000)


def _table(page: Page, selector: str) -> list[list[str]]:
    rows: list[list[str]] = page.eval_on_selector_all(
        f"{selector} tbody tr",
        "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))",
    )
    return rows


def _shown(value: Any, how: str) -> str:
    """A figure as the page writes it (the Excel file's rounding, thousands separated)."""
    figure = rounded(value, how, Lang.ZH)
    if figure is None:
        return "—"
    if how == "share":
        return f"{figure * 100:.1f}%"
    if how in ("people", "int"):
        return f"{figure:,}"
    return str(figure)


def test_choosing_a_district_and_category_shows_the_api_s_streets_and_sites(
    base: str, page: tuple[Page, list[str]]
) -> None:
    p, errors = page
    p.goto(f"{base}/map?view=coverage")
    _ready(p)
    # Districts in official order (by code), the resident's search nowhere on the page.
    names = p.eval_on_selector_all("#jz-wb-district option", "os => os.map(o => o.value)")
    assert names[:4] == ["荔湾区", "越秀区", "海珠区", "天河区"] and names[-1] == "增城区"
    assert p.locator("#jz-search, #jz-locate, #jz-near").count() == 0
    # A change starts a new computation at once (the state turns "loading" synchronously).
    p.select_option("#jz-wb-district", "天河区")
    _ready(p)
    p.select_option("#jz-wb-category", "nursing")
    _ready(p)
    p.select_option("#jz-wb-minutes", "15")
    _ready(p)
    params = {"category": "nursing", "district": "天河区", "minutes": 15, "speed": "elderly",
              "res": 9}  # fmt: skip
    streets = _get_json(f"{base}/v1/coverage/streets", params)["streets"]
    plan = _get_json(f"{base}/v1/coverage/candidates", {**params, "k": 5})
    rows = _table(p, "#jz-wb-streets")
    assert len(rows) == len(streets)
    want = [[_shown(s.get(k), how) for k, _, _, how in STREET_SCREEN_FIELDS] for s in streets]
    # Streets come from the test layer's polygons (试验…) or by inference.
    for got, expected in zip(rows, want, strict=True):
        assert got[:2] == [e if e != "" else "—" for e in expected[:2]]
        assert got[4:] == expected[4:]
    assert {"试验一街道", "试验二街道", "试验三街道"} <= {r[0] for r in rows}
    sites = _table(p, "#jz-wb-sites")
    street = [k for k, _, _, _ in CELL_SITE_FIELDS].index("street")
    assert [r[0] for r in sites] == [str(s["rank"]) for s in plan["sites"]]
    assert [r[street] for r in sites] == [s["street"] or "—" for s in plan["sites"]]
    assert p.locator(".jz-wb-site").count() == len(plan["sites"])
    assert errors == []


def test_the_street_table_sorts_by_any_column(base: str, page: tuple[Page, list[str]]) -> None:
    p, errors = page
    p.goto(f"{base}/map?view=coverage&district=天河区&category=elderly_care")
    _ready(p)
    column = [k for k, _, _, _ in STREET_SCREEN_FIELDS].index("residents_in_gaps")
    header = p.locator("#jz-wb-streets th[data-key=residents_in_gaps] button")

    def gaps() -> list[int]:
        cells = [r[column] for r in _table(p, "#jz-wb-streets")]
        return [int(c.replace(",", "")) for c in cells if c != "—"]

    header.click()
    assert gaps() == sorted(gaps()) and len(set(gaps())) > 1
    assert p.get_attribute("#jz-wb-streets th[data-key=residents_in_gaps]", "aria-sort") == (
        "ascending"
    )
    header.click()
    assert gaps() == sorted(gaps(), reverse=True)
    name = [k for k, _, _, _ in STREET_SCREEN_FIELDS].index("street")
    p.locator("#jz-wb-streets th[data-key=street] button").click()
    streets = [r[name] for r in _table(p, "#jz-wb-streets")]
    known = [s for s in streets if s != "—"]
    in_order = p.evaluate("xs => xs.slice().sort((a, b) => a.localeCompare(b, 'zh-CN'))", known)
    assert known == in_order and len(set(known)) > 1
    assert errors == []


def test_the_exports_download_what_the_page_shows(
    base: str, page: tuple[Page, list[str]], tmp_path: Path
) -> None:
    p, errors = page
    p.goto(f"{base}/map?view=coverage&district=天河区&category=elderly_care")
    _ready(p)
    p.select_option("#jz-wb-speed", "adult")
    p.wait_for_function("() => document.querySelector('#jz-wb-xlsx').href.includes('speed=adult')")
    _ready(p)
    with p.expect_download() as info:
        p.click("#jz-wb-xlsx")
    path = tmp_path / "workbench.xlsx"
    info.value.save_as(path)
    book = openpyxl.load_workbook(io.BytesIO(path.read_bytes()))
    rows = list(book["街道"].iter_rows(values_only=True))
    shown = _table(p, "#jz-wb-streets")
    assert len(rows) - 1 == len(shown)
    people = [k for k, _, _, _ in STREET_FIELDS].index("residents")
    on_screen = [k for k, _, _, _ in STREET_SCREEN_FIELDS].index("residents")
    assert [f"{r[people]:,}" for r in rows[1:]] == [r[on_screen] for r in shown]
    notes = {str(k): v for k, v in book["说明"].iter_rows(values_only=True)}
    assert "adult" in str(notes["生活圈（直线等效）"])
    with p.expect_download() as gpkg:
        p.click("#jz-wb-gpkg")
    assert gpkg.value.suggested_filename.endswith(".gpkg")
    assert errors == []


def test_the_print_view_is_an_a4_report_without_controls(
    base: str, page: tuple[Page, list[str]]
) -> None:
    p, errors = page
    p.goto(f"{base}/map?view=coverage&district=天河区&category=elderly_care")
    _ready(p)
    p.emulate_media(media="print")
    assert p.locator("#jz-wb-form select").first.is_hidden()
    assert p.locator("#jz-wb-print").is_hidden()
    box = p.locator("#jz-wb-map").bounding_box()
    assert box is not None and box["width"] < 750  # 186 mm at 96 dpi ≈ 703 px: on the page
    assert p.locator("#jz-wb-streets tbody tr").first.is_visible()
    pdf = p.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type/Page") >= 1
    assert errors == []


def test_one_legend_and_labels_that_do_not_overlap(base: str, page: tuple[Page, list[str]]) -> None:
    p, errors = page
    p.goto(f"{base}/map?view=coverage&district=天河区&category=elderly_care")
    _ready(p)
    legend = p.text_content(".jz-wb-legend") or ""
    for band in LEGEND:
        assert band.zh in legend
    fills = set(
        p.eval_on_selector_all(
            ".leaflet-overlay-pane path", "els => els.map(e => e.getAttribute('fill'))"
        )
    )
    # Every cell is coloured by the shared legend (the sites' circles are blue).
    assert fills - {"none", None} <= {b.colour for b in LEGEND} | {"#2166ac"}
    assert len(fills & {b.colour for b in LEGEND}) >= 2
    boxes: list[dict[str, float]] = p.eval_on_selector_all(
        ".jz-wb-pct",
        "els => els.map(e => { const b = e.getBoundingClientRect(); "
        "return {l: b.left, r: b.right, t: b.top, b: b.bottom}; })",
    )
    assert boxes, "share labels are drawn"
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not (a["l"] < b["r"] and b["l"] < a["r"] and a["t"] < b["b"] and b["t"] < a["b"])
    assert errors == []


def test_the_residents_map_shows_streets_between_districts_and_cells(
    base: str, page: tuple[Page, list[str]]
) -> None:
    p, errors = page
    p.goto(f"{base}/map")
    p.wait_for_selector("body[data-layer-state=ready]", state="attached", timeout=60_000)
    assert p.get_attribute("body", "data-layer-mode") == "districts"
    with p.expect_response(lambda r: "/v1/map/layer" in r.url and "level=street" in r.url) as info:
        p.evaluate("jzmap.map.setView([23.12, 113.34], 12, {animate: false})")
    p.wait_for_selector(
        "body[data-layer-state=ready][data-layer-mode=streets]", state="attached", timeout=60_000
    )
    asked = dict(parse_qsl(urlsplit(info.value.url).query))
    api = _get_json(f"{base}/v1/map/layer", asked)
    assert api["mode"] == "streets"
    assert p.get_attribute("body", "data-layer-count") == str(len(api["features"]))
    # The test layer's streets are drawn on their polygons, labelled with their counts.
    polygons = [f for f in api["features"] if f["geometry"]["type"] == "Polygon"]
    assert {f["properties"]["name"] for f in polygons} >= {"试验一街道", "试验二街道"}
    tips = p.eval_on_selector_all(".leaflet-overlay-pane path", "els => els.length")
    assert tips >= len(polygons)
    p.evaluate("jzmap.map.setView([23.12, 113.34], 14, {animate: false})")
    p.wait_for_function("() => document.body.dataset.layerMode !== 'streets'")
    assert errors == []


# -- distance: walking or crow-fly, as the server can measure ------------------------------


def _coverage_requests(p: Page) -> list[dict[str, str]]:
    """Every /v1/coverage/* request the page makes from now on: path and query."""
    seen: list[dict[str, str]] = []

    def note(request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.path.startswith("/v1/coverage/"):
            seen.append({"path": parts.path, **dict(parse_qsl(parts.query))})

    p.on("request", note)
    return seen


def test_without_a_network_the_figures_are_crow_fly_and_the_page_says_why(
    base: str, page: tuple[Page, list[str]]
) -> None:
    p, errors = page
    asked = _coverage_requests(p)
    p.goto(f"{base}/map?view=coverage&district=天河区&category=elderly_care")
    _ready(p)
    assert p.eval_on_selector_all("#jz-wb-mode option", "os => os.map(o => o.value)") == ["crow"]
    why = p.locator("#jz-wb-mode-why")
    assert why.is_visible()
    assert "JZMAP_STREET_NETWORK" in why.inner_text() and "jzmap network build" in why.inner_text()
    assert p.get_attribute("#jz-wb-mode", "aria-describedby") == "jz-wb-mode-why"
    paths = {a["path"] for a in asked}
    assert paths == {"/v1/coverage/cells", "/v1/coverage/streets", "/v1/coverage/candidates"}
    assert all(a["mode"] == "crow" for a in asked)
    # The label is the API's, as it measured.
    label = _get_json(f"{base}/v1/coverage/streets", asked[0])["query"]["mode_label"]
    assert label == "直线距离 / crow-fly" and label in (p.text_content("#jz-wb-query") or "")
    assert "mode=crow" in (p.get_attribute("#jz-wb-xlsx", "href") or "")
    assert errors == []


def test_with_a_network_the_page_walks_and_switches_to_crow_fly(
    walking: str, page: tuple[Page, list[str]]
) -> None:
    p, errors = page
    asked = _coverage_requests(p)
    p.goto(walking + WALK_PAGE)
    _ready(p)
    assert p.get_attribute("#jz-wb-mode", "aria-describedby") is None
    assert p.locator("#jz-wb-mode-why").count() == 0
    assert p.input_value("#jz-wb-mode") == "walk"
    assert p.get_attribute("body", "data-workbench-mode") == "walk"
    # The office's rooms are the candidates: planned by /v1/coverage/sites, on foot.
    assert {a["path"] for a in asked} == {
        "/v1/coverage/cells", "/v1/coverage/streets", "/v1/coverage/sites",
    }  # fmt: skip
    assert [a["mode"] for a in asked] == ["walk"] * 3
    assert "步行距离 / walking" in (p.text_content("#jz-wb-query") or "")
    assert "mode=walk" in (p.get_attribute("#jz-wb-xlsx", "href") or "")
    asked.clear()
    p.select_option("#jz-wb-mode", "crow")
    _ready(p)
    assert [a["mode"] for a in asked] == ["crow"] * 3
    assert p.get_attribute("body", "data-workbench-mode") == "crow"
    note = p.text_content("#jz-wb-query") or ""
    assert "直线距离 / crow-fly" in note and "步行距离" not in note
    assert "mode=crow" in (p.get_attribute("#jz-wb-gpkg", "href") or "")
    assert errors == []


# -- exclusions ----------------------------------------------------------------------------


def _site_keys(p: Page) -> list[str]:
    keys: list[str] = p.eval_on_selector_all(
        "#jz-wb-sites tbody tr", "rows => rows.map(r => r.dataset.site)"
    )
    return keys


def test_an_excluded_room_leaves_the_next_plan_and_can_be_restored(
    walking: str, page: tuple[Page, list[str]]
) -> None:
    p, errors = page
    p.goto(walking + WALK_PAGE)
    _ready(p)
    ask = {"category": "elderly_care", "district": "天河区", "minutes": 15, "speed": "adult",
           "mode": "walk", "k": 5, "res": 9}  # fmt: skip
    planned = [s["id"] for s in _get_json(f"{walking}/v1/coverage/sites", ask)["sites"]]
    assert _site_keys(p) == planned and len(planned) >= 2
    first = planned[0]
    with p.expect_request(lambda r: "/v1/coverage/sites" in r.url) as sent:
        p.click(f"#jz-wb-sites tr[data-site='{first}'] button.jz-wb-exclude")
    assert dict(parse_qsl(urlsplit(sent.value.url).query))["exclude"] == first
    _ready(p)
    again = _get_json(f"{walking}/v1/coverage/sites", {**ask, "exclude": first})["sites"]
    assert first not in _site_keys(p) and _site_keys(p) == [s["id"] for s in again]
    # Listed as excluded, its restore button focused (the row it was in is gone).
    assert p.eval_on_selector_all("#jz-wb-excluded li", "ls => ls.map(l => l.dataset.key)") == [
        first
    ]
    assert p.locator("#jz-wb-excluded-none").is_hidden()
    assert p.evaluate("document.activeElement.closest('li').dataset.key") == first
    with p.expect_request(lambda r: "/v1/coverage/sites" in r.url) as sent:
        p.click("#jz-wb-excluded li button")
    assert "exclude" not in dict(parse_qsl(urlsplit(sent.value.url).query))
    _ready(p)
    assert _site_keys(p) == planned
    assert p.locator("#jz-wb-excluded-none").is_visible()
    assert errors == []


def test_an_excluded_cell_is_sent_to_the_planner(base: str, page: tuple[Page, list[str]]) -> None:
    p, errors = page
    p.goto(f"{base}/map?view=coverage&district=天河区&category=elderly_care")
    _ready(p)
    cell = _site_keys(p)[0]
    with p.expect_request(lambda r: "/v1/coverage/candidates" in r.url) as sent:
        p.click(f"#jz-wb-sites tr[data-site='{cell}'] button.jz-wb-exclude")
    asked = dict(parse_qsl(urlsplit(sent.value.url).query))
    assert asked["exclude"] == cell
    _ready(p)
    # The page shows what the planner answers to the request with the exclusion.
    plan = _get_json(f"{base}/v1/coverage/candidates", asked)
    assert _site_keys(p) == [s["cell"] for s in plan["sites"]]
    assert cell in (p.text_content("#jz-wb-excluded") or "")
    assert errors == []


def test_the_print_view_names_the_choices_the_distance_and_the_exclusions(
    walking: str, page: tuple[Page, list[str]]
) -> None:
    p, errors = page
    p.goto(walking + WALK_PAGE)
    _ready(p)
    room = _site_keys(p)[0]
    p.click(f"#jz-wb-sites tr[data-site='{room}'] button.jz-wb-exclude")
    p.wait_for_function(
        "() => document.querySelectorAll('#jz-wb-excluded li').length === 1 && "
        "document.body.dataset.workbenchState === 'ready'"
    )
    p.emulate_media(media="print")
    summary = p.locator("#jz-wb-summary")
    assert summary.is_visible()
    terms = summary.locator("dd")
    shown = {
        key: p.text_content(f"#jz-wb-sum-{key}") or ""
        for key in ("district", "category", "minutes", "speed", "mode", "excluded", "date")
    }
    assert terms.count() == 12
    assert shown["district"] == "天河区" and shown["category"] == "养老"
    assert shown["minutes"].startswith("15 分钟") and shown["speed"] == "成人 1.2 米/秒"
    assert shown["mode"].startswith("步行距离 / walking")
    assert p.text_content("#jz-wb-sum-res") == "网格 H3 r9"
    assert (p.text_content("#jz-wb-sum-source") or "").startswith("默认：2020 年人口普查")
    assert f"({room})" in shown["excluded"]
    assert re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", shown["date"])
    # The legend, the site list and the street table print; the controls do not.
    assert p.locator(".jz-wb-legend").is_visible()
    assert p.locator("#jz-wb-sites").is_visible() and p.locator("#jz-wb-streets").is_visible()
    assert p.locator("#jz-wb-mode").is_hidden() and p.locator("#jz-wb-excluded").is_hidden()
    assert p.locator("#jz-wb-sites .act").first.is_hidden()
    pdf = p.pdf(format="A4")
    assert pdf.startswith(b"%PDF")
    assert errors == []


# -- what a planner reads: the grid, the panel, the population, the addresses, the files ---

LIWAN_PAGE = "/map?view=coverage&district=荔湾区&category=elderly_care&minutes=10&speed=elderly"


def _lines(p: Page, selector: str) -> list[int]:
    """How many lines of text each cell matching ``selector`` takes on screen."""
    counts: list[int] = p.eval_on_selector_all(
        selector,
        """cells => cells.map(c => {
            const range = document.createRange();
            range.selectNodeContents(c);
            return new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top))).size;
        })""",
    )
    return counts


def test_the_grid_is_life_circle_sized_and_the_overview_a_choice(
    base: str, page: tuple[Page, list[str]]
) -> None:
    """At H3 r9 (~300 m) a 10-minute elderly circle (480 m) reaches several cells, so the
    sites differ by what they add; r8 (~800 m) is the district overview."""
    p, errors = page
    asked = _coverage_requests(p)
    p.goto(base + LIWAN_PAGE)
    _ready(p)
    assert {a["res"] for a in asked} == {"9"} and len(asked) == 3
    assert "网格 H3 r9" in (p.text_content("#jz-wb-query") or "")
    assert "res=9" in (p.get_attribute("#jz-wb-xlsx", "href") or "")
    plan = _get_json(f"{base}/v1/coverage/candidates", {**asked[-1], "k": 5})
    assert plan["query"]["resolution"] == 9
    assert max(s["cells_added"] for s in plan["sites"]) > 1
    # The plan's heading names the residents it counted: the shipped districts have 60+.
    heading = p.text_content("#jz-wb-sites-demand") or ""
    added = f"{round(plan['plan']['residents_newly_covered']):,}"
    assert heading.startswith(f"新增覆盖 60 岁及以上居民：{added} 人"), heading
    assert p.get_attribute("#jz-wb-sites-demand", "data-demand") == "aged_60_plus"
    asked.clear()
    p.select_option("#jz-wb-res", "8")
    _ready(p)
    assert {a["res"] for a in asked} == {"8"} and len(asked) == 3
    assert "网格 H3 r8" in (p.text_content("#jz-wb-query") or "")
    assert "res=8" in (p.get_attribute("#jz-wb-gpkg", "href") or "")
    assert errors == []


def test_the_panel_keeps_names_on_one_line(base: str, page: tuple[Page, list[str]]) -> None:
    """1400x900, 荔湾区: no 区 column (chosen above), no coordinates in the site list (the
    files keep them), each street on one line (沙面街道, not one character a line)."""
    p, errors = page
    p.set_viewport_size({"width": 1400, "height": 900})
    p.goto(base + LIWAN_PAGE)
    _ready(p)
    site_heads = p.eval_on_selector_all("#jz-wb-sites th", "hs => hs.map(h => h.textContent)")
    street_heads = p.eval_on_selector_all("#jz-wb-streets th", "hs => hs.map(h => h.textContent)")
    assert "区" not in site_heads + street_heads
    assert not [h for h in site_heads if "纬度" in h or "经度" in h]
    assert street_heads[0] == "街道" and "地址" in site_heads and "地址来源" in site_heads
    streets = _lines(p, "#jz-wb-streets td[data-key=street]")
    assert streets and set(streets) == {1}
    sites = _lines(p, "#jz-wb-sites td[data-key=street], #jz-wb-sites td[data-key=cell]")
    assert sites and set(sites) == {1}
    # A table wider than the panel scrolls inside it; the page itself does not.
    assert p.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert errors == []


def test_the_population_basis_is_said_in_the_page_s_language(
    base: str, page: tuple[Page, list[str]]
) -> None:
    p, errors = page
    asked = _coverage_requests(p)
    p.goto(base + LIWAN_PAGE)
    _ready(p)
    query = _get_json(f"{base}/v1/coverage/streets", asked[0])["query"]
    said = p.text_content("#jz-wb-source") or ""
    assert said == "居民分布：" + query["demand_source_zh"] and "census" not in said
    assert p.text_content("#jz-wb-sum-source") == query["demand_source_zh"]
    p.goto(base + LIWAN_PAGE + "&lang=en")
    _ready(p)
    english = p.text_content("#jz-wb-source") or ""
    assert english == "Residents: " + query["demand_source"] and "普查" not in english
    assert p.text_content("#jz-wb-sum-source") == query["demand_source"]
    assert (p.text_content("#jz-wb-sites-demand") or "").startswith(
        "Newly covered residents aged 60+: "
    )
    assert errors == []


def _column(p: Page, table: str, key: str) -> list[dict[str, str | None]]:
    cells: list[dict[str, str | None]] = p.eval_on_selector_all(
        f"{table} tbody td[data-key={key}]",
        "cs => cs.map(c => ({text: c.textContent, title: c.getAttribute('title')}))",
    )
    return cells


def test_sites_say_where_their_address_comes_from(
    base: str, walking: str, page: tuple[Page, list[str]]
) -> None:
    p, errors = page
    asked = _coverage_requests(p)
    p.goto(base + LIWAN_PAGE)
    _ready(p)
    plan = _get_json(f"{base}/v1/coverage/candidates", {**asked[-1]})
    # No geocoder, no walking network: no address, the source says so, the note says why.
    assert [c["text"] for c in _column(p, "#jz-wb-sites", "address_source")] == [
        {"none": "无", "nearest_way": "最近道路", "amap": "高德逆地理编码"}[s["address_source"]]
        for s in plan["sites"]
    ]
    addresses = _column(p, "#jz-wb-sites", "address")
    assert [c["title"] for c in addresses] == [s["address_note"] for s in plan["sites"]]
    assert all(c["text"] == "—" for c in addresses) and plan["sites"][0]["address_note"]
    # Her rooms carry the file's addresses.
    p.goto(walking + WALK_PAGE)
    _ready(p)
    rooms = _get_json(f"{walking}/v1/coverage/sites", {**_last(asked, "/v1/coverage/sites")})
    assert [c["text"] for c in _column(p, "#jz-wb-sites", "address")] == [
        s["address"] for s in rooms["sites"]
    ]
    assert {c["text"] for c in _column(p, "#jz-wb-sites", "address_source")} == {"文件"}
    assert errors == []


def _last(asked: list[dict[str, str]], path: str) -> dict[str, str]:
    return next(a for a in reversed(asked) if a["path"] == path)


def test_the_files_hold_what_the_page_shows(
    walking: str, page: tuple[Page, list[str]], tmp_path: Path
) -> None:
    """Her rooms on the page, her rooms in the file: every choice, the grid and the
    exclusions travel with the export link, and the workbook's sites are the page's."""
    p, errors = page
    asked = _coverage_requests(p)
    p.goto(walking + WALK_PAGE)
    _ready(p)
    p.select_option("#jz-wb-kind", "station")
    _ready(p)
    room = _site_keys(p)[0]
    p.click(f"#jz-wb-sites tr[data-site='{room}'] button.jz-wb-exclude")
    p.wait_for_function(
        "() => document.querySelectorAll('#jz-wb-excluded li').length === 1 && "
        "document.body.dataset.workbenchState === 'ready'"
    )
    shown = _last(asked, "/v1/coverage/sites")
    link = dict(parse_qsl(urlsplit(p.get_attribute("#jz-wb-xlsx", "href") or "").query))
    for key in ("district", "category", "minutes", "speed", "kind", "k", "mode", "res", "exclude"):
        assert link[key] == shown[key], key
    assert link["sites"] == "rooms" and link["exclude"] == room and link["res"] == "9"
    with p.expect_download() as info:
        p.click("#jz-wb-xlsx")
    path = tmp_path / "rooms.xlsx"
    info.value.save_as(path)
    rows = list(openpyxl.load_workbook(path)["建议站点"].iter_rows(values_only=True))
    ids = [r[[str(h) for h in rows[0]].index("编号")] for r in rows[1:]]
    assert ids == _site_keys(p) and room not in ids
    assert ids == [s["id"] for s in _get_json(f"{walking}/v1/coverage/sites", shown)["sites"]]
    gpkg = dict(parse_qsl(urlsplit(p.get_attribute("#jz-wb-gpkg", "href") or "").query))
    assert {k: v for k, v in gpkg.items() if k != "f"} == {
        k: v for k, v in link.items() if k != "f"
    }
    assert errors == []


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo city behind a small request budget: 25 tokens at once, one back a second.
    The page's first computation (cells 10, streets 10, sites 20) overspends it."""
    with demo_city_backend_at(tmp_path_factory.mktemp("workbench-busy")) as backend:
        yield from _served(backend, rate_limit_burst=25, rate_limit_per_minute=60)


def test_a_spent_request_budget_is_waited_out_not_shown_as_an_error(
    busy: str, page: tuple[Page, list[str]]
) -> None:
    p, errors = page
    refused: list[str] = []
    p.on("response", lambda r: refused.append(r.url) if r.status == 429 else None)
    p.goto(f"{busy}/map?view=coverage&district=越秀区")
    _ready(p)
    # The site plan was refused (429, Retry-After) and asked again after the wait: the page
    # ends with the plan, not with "too many requests".
    assert any("/v1/coverage/candidates" in url for url in refused), refused
    plan = p.locator("#jz-wb-sites tbody tr")
    assert plan.count() > 0
    assert "too many requests" not in p.locator("#jz-wb-query").inner_text()
    # The browser logs each refused load; nothing else went wrong.
    assert all("429" in e for e in errors), errors

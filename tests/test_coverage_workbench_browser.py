"""The planner's workbench (``/map?view=coverage``) in a real headless Chromium against the
served demo city (with the hand-made test streets layer): choose, sort, export, print.
Every test fails on any console error; screenshots go under test-artifacts/browser/."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from urllib.request import urlopen

import openpyxl
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from api.app import create_app
from jzmap.settings import Settings
from maps.coverage_exports import STREET_FIELDS, rounded
from maps.coverage_report import LEGEND
from maps.i18n import Lang
from providers.stores import Backend
from tests.browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path, serve_app
from tests.helpers import demo_city_backend_at

pytestmark = pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning")

TEST_STREETS = Path(__file__).parent / "data" / "streets-test.geojson"
READY = "body[data-workbench-state=ready]"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_city_backend_at(tmp_path_factory.mktemp("workbench-demo")) as backend:
        yield from _served(backend)


def _served(backend: Backend) -> Iterator[str]:
    settings = Settings(
        data_dir=Path("/nonexistent"),
        tiles_url="/static/blank-tile.png",
        streets_layer=TEST_STREETS,
        request_timeout_s=300,
    )
    with serve_app(create_app(settings, backend=backend)) as url:
        yield url


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
    params = {"category": "nursing", "district": "天河区", "minutes": 15, "speed": "elderly"}
    streets = _get_json(f"{base}/v1/coverage/streets", params)["streets"]
    plan = _get_json(f"{base}/v1/coverage/candidates", {**params, "k": 5})
    rows = _table(p, "#jz-wb-streets")
    assert len(rows) == len(streets)
    want = [[_shown(s.get(k), how) for k, _, _, how in STREET_FIELDS] for s in streets]
    # Streets come from the test layer's polygons (试验…) or by inference.
    for got, expected in zip(rows, want, strict=True):
        assert got[:3] == [e if e != "" else "—" for e in expected[:3]]
        assert got[5:] == expected[5:]
    assert {"试验一街道", "试验二街道", "试验三街道"} <= {r[1] for r in rows}
    sites = _table(p, "#jz-wb-sites")
    assert [r[0] for r in sites] == [str(s["rank"]) for s in plan["sites"]]
    assert [r[2] for r in sites] == [s["street"] or "—" for s in plan["sites"]]
    assert p.locator(".jz-wb-site").count() == len(plan["sites"])
    assert errors == []


def test_the_street_table_sorts_by_any_column(base: str, page: tuple[Page, list[str]]) -> None:
    p, errors = page
    p.goto(f"{base}/map?view=coverage&district=天河区&category=elderly_care")
    _ready(p)
    column = [k for k, _, _, _ in STREET_FIELDS].index("residents_in_gaps")
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
    name = [k for k, _, _, _ in STREET_FIELDS].index("street")
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
    assert [f"{r[people]:,}" for r in rows[1:]] == [r[people] for r in shown]
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

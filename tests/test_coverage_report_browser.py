"""The offline coverage report in a real headless Chromium (Debian's), with provider names an
attacker chose: template-literal holes, backticks, quotes, ``</script>``, comment openers,
line separators. Nothing runs (no dialog, no page error, no CSP violation), every name is
shown as written, and the report's Content-Security-Policy blocks script slipped into it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, sync_playwright

from jzmap.coverage import CoverageQuery, CoverageService
from jzmap.demo import generate_demo
from jzmap.settings import REFERENCE_DIR, Settings
from jzmap.wiring import districts_layer
from maps.coverage_report import render_coverage_report
from providers.model import Category
from providers.stores.embedded import EmbeddedStore
from tests.browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path
from tests.helpers import company

pytestmark = pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning")

HOSTILE_NAMES = [
    "甲${alert(document.URL)}公司",
    "乙`);alert(1);//公司",
    "丙\"公司'); alert(2); //",
    "丁</script><script>alert(3)</script>公司",
    "戊<img src=x onerror=alert(4)>公司",
    "己<!--<script>公司",
    "庚\u2028\u2029${`x`}公司",
    "辛&lt;b&gt;公司 \\u003c",
]
DISTRICT = "白云区"


@dataclass
class Watched:
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The report for 白云区, elderly care, on the demo city plus hostile-named providers."""
    folder = tmp_path_factory.mktemp("report-browser")
    settings = Settings(data_dir=folder, database_url=None, tiles_url="/static/blank-tile.png")
    store = EmbeddedStore(folder)
    try:
        for chunk in generate_demo(REFERENCE_DIR):
            store.upsert(chunk)
        districts = districts_layer(settings.city)
        inside = districts.loc[districts["name"] == DISTRICT].geometry.iloc[0]
        point = inside.representative_point()
        store.upsert(
            [
                company(
                    90_000 + n,
                    point.x + 0.002 * n,
                    point.y,
                    name=name,
                    district=DISTRICT,
                    categories=(Category.ELDERLY_CARE,),
                )
                for n, name in enumerate(HOSTILE_NAMES)
            ]
        )
        query = CoverageQuery(Category.ELDERLY_CARE, 8)
        service = CoverageService(store, settings.coverage, settings.city)
        analysis, plan = service.plan(query, 3, DISTRICT)
    finally:
        store.close()
    return render_coverage_report(
        analysis,
        plan,
        DISTRICT,
        districts,
        tiles_url=settings.map.tiles_url,
        tiles_attribution="test",
        tiles_crs=settings.map.tiles_crs,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser: Browser, path: Path, name: str) -> Iterator[tuple[Page, Watched]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watched = Watched()

    def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: watched.errors.append(f"uncaught: {exc}"))
    page.on(
        "console",
        lambda m: watched.errors.append(m.text) if m.type == "error" else None,
    )
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-report-state=ready]", state="attached", timeout=15_000)
    yield page, watched
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    context.close()


def test_hostile_provider_names_run_nothing_and_show_as_written(
    report_html: str, browser: Browser, tmp_path: Path
) -> None:
    path = tmp_path / "report.html"
    path.write_text(report_html, encoding="utf-8")
    data = json.loads(
        re.search(r'id="jz-report-data">(.*?)</script>', report_html, re.DOTALL).group(1)  # type: ignore[union-attr]
    )
    labels = [p["label"] for p in data["providers"]]
    for name in HOSTILE_NAMES:
        assert any(label.startswith(name) for label in labels), name
        assert name not in report_html or "<" not in name, "raw markup in the page"
    for page, watched in _open(browser, path, "coverage-report-hostile-names"):
        # Every provider marker drawn, every tooltip holding its label as text.
        shown: list[str] = page.evaluate(
            """() => jzReport.providers.getLayers().map(layer => {
                   layer.openTooltip();
                   const text = layer.getTooltip().getElement().textContent;
                   layer.closeTooltip();
                   return text;
               })"""
        )
        assert sorted(shown) == sorted(labels)
        assert page.evaluate("jzReport.sites.getLayers().length") == 2 * len(data["sites"])
        assert page.locator(".jz-site").count() == len(data["sites"])
        assert page.locator(".leaflet-overlay-pane path").count() > len(labels)
        # The tables show the names too (the worst cells' nearest provider): as text.
        assert page.evaluate("document.querySelectorAll('img, script[src]').length") == 0
        assert watched.dialogs == [] and watched.errors == []


def test_the_reports_csp_blocks_script_slipped_into_it(
    report_html: str, browser: Browser, tmp_path: Path
) -> None:
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', report_html)
    assert meta is not None and report_html.index(meta.group(0)) < report_html.index("<script")
    policy = meta.group(1).replace("&#x27;", "'")
    assert "default-src 'none'" in policy and "'unsafe-inline'" not in policy.split(";")[1]
    assert "script-src 'sha256-" in policy
    # Tampered after it was written: an inline script and an event handler, neither hashed.
    tampered = report_html.replace(
        '<section class="jz-after">',
        '<script>alert("inline")</script><img src="data:," onload="alert(\'handler\')">'
        '<section class="jz-after">',
        1,
    )
    path = tmp_path / "tampered.html"
    path.write_text(tampered, encoding="utf-8")
    for page, watched in _open(browser, path, "coverage-report-tampered"):
        assert watched.dialogs == []
        assert any("Content Security Policy" in e for e in watched.errors), watched.errors
        assert page.evaluate("jzReport.providers.getLayers().length") > 0, "the map still draws"

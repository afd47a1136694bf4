"""``jzmap coverage``, run as a district office runs it: a real process, real files."""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pyogrio
import pytest

from jzmap.application.coverage import CoverageQuery, CoverageService
from jzmap.settings import Settings
from maps.coverage_report import LEGEND
from maps.i18n import Lang
from providers.model import Category
from providers.stores.embedded import EmbeddedStore

pytestmark = pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning")

JZMAP = str(Path(sys.executable).with_name("jzmap"))


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([JZMAP, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The demo city in an embedded store of its own (built by `jzmap demo`)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JZMAP_DATABASE_URL")}
    env["JZMAP_DATA_DIR"] = str(tmp_path_factory.mktemp("coverage-cli") / "data")
    built = run(["demo"], env)
    assert built.returncode == 0, built.stderr
    yield env


def test_report_is_one_offline_file_with_the_map_and_the_tables(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "白云区养老.html"
    args = ["coverage", "report", "--district", "白云区", "--category", "elderly_care"]
    result = run([*args, "--out", str(out), "--k", "3"], demo_env)
    assert result.returncode == 0, result.stderr
    assert "白云区" in result.stdout and str(out) in result.stdout and "已写入" in result.stdout
    page = out.read_text(encoding="utf-8")

    # Self-contained: no script or stylesheet from anywhere, Leaflet itself inlined.
    tags = re.findall(r"<(?:script|link)\b[^>]*>", page)
    assert not [t for t in tags if re.search(r"""(?:src|href)=["']?(?:https?:)?//""", t)]
    assert not [t for t in tags if "src=" in t or 'rel="stylesheet"' in t]
    assert "L.map(" in page and "leaflet-container" in page, "Leaflet's code and styles"
    assert '<html lang="zh-CN">' in page and "白云区养老服务覆盖缺口报告" in page

    # The sites and figures are the service's answer for the same store.
    store = EmbeddedStore(Path(demo_env["JZMAP_DATA_DIR"]))
    try:
        settings = Settings(data_dir=Path(demo_env["JZMAP_DATA_DIR"]))
        query = CoverageQuery(Category.ELDERLY_CARE, 8)
        service = CoverageService(store, settings.coverage, settings.city)
        analysis, plan = service.plan(query, 3, "白云区")
    finally:
        store.close()
    assert len(plan.sites) == 3
    for site in plan.sites.itertuples(index=False):
        assert f"{site.lat:.6f}, {site.lon:.6f}" in page
    data = re.search(r'<script type="application/json" id="jz-report-data">(.*?)</script>', page)
    assert data is not None, "the map's data travels as JSON"
    assert [s["rank"] for s in json.loads(data.group(1))["sites"]] == [1, 2, 3]
    assert '<meta http-equiv="Content-Security-Policy"' in page
    row = analysis.districts.set_index("district").loc["白云区"]
    assert f"{row['residents']:,.0f}" in page
    assert f"{row['share_residents_covered']:.1%}" in page
    summary = plan.summary.iloc[0]
    assert f"{summary['share_covered_after']:.1%}" in page
    worst = re.search(r"服务最差的 10 个网格</h2><table>.*?<tbody>(.*?)</tbody>", page)
    assert worst and worst.group(1).count("<tr>") == 10
    assert "合成演示数据" in page, "the demo's providers are said to be synthetic"


def test_report_for_an_unknown_district_says_which_exist(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    args = ["coverage", "report", "--district", "朝阳区", "--category", "nursing"]
    result = run([*args, "--out", str(out)], demo_env)
    assert result.returncode == 1
    assert "unknown district '朝阳区'" in result.stderr and "白云区" in result.stderr
    assert not out.exists()

    bad = run(["coverage", "report", "--district", "白云区", "--category", "cooking",
               "--out", str(out)], demo_env)  # fmt: skip
    assert bad.returncode == 1 and "elderly_care" in bad.stderr


def test_districts_prints_the_table_and_writes_csv(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "districts.csv"
    result = run(["coverage", "districts", "--category", "nursing", "--csv", str(out)], demo_env)
    assert result.returncode == 0, result.stderr
    for name in ("白云区", "从化区", "越秀区"):
        assert name in result.stdout
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    # Chinese headings, whole persons and shares to 0.1 %, as a planner files them.
    assert rows[0][:4] == ["服务类别", "区", "常住人口（估算）", "覆盖率"] and len(rows) == 12
    assert {r[0] for r in rows[1:]} == {"nursing"}
    assert all(r[2].isdigit() for r in rows[1:])
    assert all(len(r[3].split(".")[-1]) <= 3 for r in rows[1:] if r[3])
    english = run(
        ["coverage", "districts", "--category", "nursing", "--csv", str(out), "--lang", "en"],
        demo_env,
    )
    assert english.returncode == 0, english.stderr
    assert out.read_text("utf-8-sig").splitlines()[0].startswith("category,district,residents")


def test_the_streets_command_speaks_chinese_and_writes_the_files(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    xlsx, gpkg = tmp_path / "t.xlsx", tmp_path / "t.gpkg"
    result = run(
        ["coverage", "streets", "--district", "440106", "--category", "elderly_care",
         "--k", "3", "--xlsx", str(xlsx), "--gpkg", str(gpkg)],
        demo_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "天河区 各街道养老服务覆盖" in result.stdout and "10分钟生活圈内" in result.stdout
    assert "建议新站点" in result.stdout
    assert openpyxl.load_workbook(xlsx).sheetnames == ["街道", "建议站点", "说明"]
    assert {n for n, _ in pyogrio.list_layers(gpkg)} == {"streets", "sites", "cells"}
    english = run(
        ["coverage", "streets", "--district", "天河区", "--lang", "en", "--xlsx", str(xlsx)],
        demo_env,
    )
    assert english.returncode == 0, english.stderr
    assert "Tianhe (天河区): elderly care by street" in english.stdout
    assert "within 10 min" in english.stdout and "Excel written" in english.stderr
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames == ["streets", "sites", "notes"]
    notes = {str(k): v for k, v in book["notes"].iter_rows(values_only=True)}
    assert notes["district"] == "Tianhe (天河区)" and notes["category"] == "Elderly care"
    assert "均匀" not in str(notes["residents"]) and "uniform" in str(notes["residents"])


def test_the_coverage_commands_say_chinese_first_in_their_help(demo_env: dict[str, str]) -> None:
    for command in (["coverage"], ["network"], ["coverage", "report"], ["coverage", "sites"]):
        helped = run([*command, "--help"], demo_env)
        assert helped.returncode == 0, helped.stderr
        lines = [line.strip() for line in helped.stdout.splitlines() if line.strip()]
        first = lines[1]  # after "Usage: …", the command's own words
        assert CJK.match(first), (command, first)


def test_the_districts_command_lists_districts_in_official_order(
    demo_env: dict[str, str],
) -> None:
    result = run(["coverage", "districts", "--category", "nursing"], demo_env)
    assert result.returncode == 0, result.stderr
    order = ["荔湾区", "越秀区", "海珠区", "天河区", "白云区", "黄埔区", "番禺区", "花都区",
             "南沙区", "从化区", "增城区"]  # fmt: skip
    at = [result.stdout.index(name) for name in order]
    assert at == sorted(at), "by administrative code, 440103 … 440118"
    assert "各区服务覆盖" in result.stdout and "覆盖率" in result.stdout


# -- the report in English (issue 18) -----------------------------------------------------------

# Hanzi and CJK punctuation (，。：（） …): none may be left in English text.
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
# Latin words a Chinese report may carry: acronyms, programs, datums and codes, never a
# heading or a phrase of the English report.
ZH_LATIN = {"H3", "WGS-84", "GCJ-02", "MCLP", "E2SFCA", "k", "PySAL", "access",
            "DataV.GeoAtlas", "geotool-cn", "HiGHS", "Optimal", "elderly_care"}  # fmt: skip
LATIN_WORD = re.compile(r"[A-Za-z][\w.-]*\w|[A-Za-z]")
H3_ID = re.compile(r"\b8[0-9a-f]{14}\b")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


class _Page(HTMLParser):
    """The page's visible text (no script or style), its ``<html lang>``, the text of its
    headings, table headers and legend, and every misnested or unclosed element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []
        self.headings: list[str] = []
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.lang = dict(attrs).get("lang")
        if tag not in VOID:
            self.open.append(tag + ("" if ("class", "legend") not in attrs else ".legend"))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.open or self.open[-1].split(".")[0] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        inside = {t.split(".")[0] for t in self.open}
        if data.strip() and not inside & {"script", "style"}:
            self.text.append(data.strip())
            if inside & {"h1", "h2", "th", "title"} or "p.legend" in self.open:
                self.headings.append(data.strip())


def _parsed(page: str) -> _Page:
    """The page read by html.parser, after html5lib (strict: a parse error raises) when it
    is installed."""
    try:
        html5lib = importlib.import_module("html5lib")
    except ImportError:
        pass
    else:
        html5lib.HTMLParser(strict=True).parse(page)
    parsed = _Page()
    parsed.feed(page)
    parsed.close()
    return parsed


@pytest.fixture(scope="module")
def reports(demo_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """白云区's report, elderly care, in both languages, written by the command."""
    folder = tmp_path_factory.mktemp("reports")
    pages = {}
    for lang in ("zh", "en"):
        out = folder / f"{lang}.html"
        args = ["coverage", "report", "--district", "白云区", "--category", "elderly_care",
                "--k", "3", "--out", str(out), "--lang", lang]  # fmt: skip
        result = run(args, demo_env)
        assert result.returncode == 0, result.stderr
        assert ("已写入" in result.stdout) is (lang == "zh")
        pages[lang] = out.read_text(encoding="utf-8")
    return pages


def _proper_names(env: dict[str, str]) -> list[str]:
    """Names with no translation, which the English report keeps as registered: the
    providers' and the streets'; longest first, so a name containing another goes whole."""
    store = EmbeddedStore(Path(env["JZMAP_DATA_DIR"]))
    try:
        settings = Settings(data_dir=Path(env["JZMAP_DATA_DIR"]))
        service = CoverageService(store, settings.coverage, settings.city)
        analysis = service.analysis(CoverageQuery(Category.ELDERLY_CARE, 8))
    finally:
        store.close()
    names = {p.name for p in analysis.providers.by_id.values()}
    names |= {str(s) for s in analysis.measures["street"].dropna().unique()}
    return sorted(names, key=len, reverse=True)


def test_the_english_report_has_no_chinese_but_names(
    reports: dict[str, str], demo_env: dict[str, str]
) -> None:
    page = _parsed(reports["en"])
    assert page.problems == [] and page.open == []
    assert page.lang == "en"
    text = "\n".join(page.text)
    # The district has an English name: it leads, the official name follows it.
    assert "Elderly care coverage gaps: Baiyun (白云区)" in page.headings
    assert "白云区" not in text.replace("Baiyun (白云区)", "")
    left = text.replace("Baiyun (白云区)", "Baiyun")
    data = re.search(r'<script type="application/json" id="jz-report-data">(.*?)</script>',
                     reports["en"])  # fmt: skip
    assert data is not None
    shown = json.loads(data.group(1))
    labels = [f["properties"]["label"] for f in shown["cells"]["features"]]
    labels += [p["label"] for p in shown["providers"]] + [s["label"] for s in shown["sites"]]
    left += "\n" + "\n".join(labels)
    for name in _proper_names(demo_env):
        left = left.replace(name, "NAME")
    assert CJK.findall(left) == [], [line for line in left.splitlines() if CJK.search(line)]
    for said in (
        "Summary",
        "Notes",
        "covered",
        "gap: nearest < 2 km",
        "no residents",
        "Proposed new sites (maximal covering location, MCLP, k = 3)",
        "The 10 worst-served cells",
        "Providers within 1,000 m",
        "Street from",
    ):
        assert said in page.headings, said  # fmt: skip
    assert "catchment 1,000 m (crow-fly)" in text and "km" in text
    assert "Residents: default: 2020 census" in text and "(uniform:" in text
    assert "The providers in this report are synthetic demo data." in text


def test_the_chinese_report_has_no_english_headings(reports: dict[str, str]) -> None:
    page = _parsed(reports["zh"])
    assert page.problems == [] and page.open == []
    assert page.lang == "zh-CN"
    latin = {w for h in page.headings for w in LATIN_WORD.findall(h)}
    assert latin <= ZH_LATIN, latin - ZH_LATIN
    text = "\n".join(page.text)
    # Not a heading but the same rule: the population basis and the reach say it in Chinese.
    latin = set(LATIN_WORD.findall(H3_ID.sub("", text)))
    assert latin <= ZH_LATIN | {"OpenStreetMap"}, latin - ZH_LATIN
    assert "居民分布：默认：2020 年" in text and "（直线距离）" in text
    assert "已覆盖" in page.headings and "缺口：最近机构 < 2 公里" in page.headings


def test_the_legend_is_the_shared_one_in_either_language(reports: dict[str, str]) -> None:
    for lang, page in reports.items():
        headings = _parsed(page).headings
        for band in LEGEND:
            assert band.label(Lang(lang)) in headings
            assert f'<span style="background:{band.colour}">' in page

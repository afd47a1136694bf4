"""``jzmap coverage``, run as a district office runs it: a real process, real files."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pyogrio
import pytest

from jzmap.application.coverage import CoverageQuery, CoverageService
from jzmap.settings import Settings
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
    english = run(["coverage", "streets", "--district", "天河区", "--lang", "en"], demo_env)
    assert english.returncode == 0, english.stderr
    assert "by street" in english.stdout and "within 10 min" in english.stdout


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

"""The planner's workbench as files: an Excel workbook and a GeoPackage, and the one set of
column headings and rounding rules the workbench page, the report and the CLI share.

Excel (openpyxl): three sheets — 街道 (the per-street table), 建议站点 (the site list) and
说明 (what was computed from what) — with Chinese headings and figures rounded as a planner
files them (people to whole persons, shares to 0.1 %, coordinates to 6 decimals, about
0.1 m). Text a spreadsheet would run as a formula is quoted, as in the CSV exports.

GeoPackage (GDAL through pyogrio): layers ``streets`` (the street polygons when the
operator loaded them, else one point per street), ``sites`` (points) and ``cells`` (the
district's hexagons), WGS-84, with the same figures unrounded and English column names
(GIS tools handle those best).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from gaps import SitePlan
from gaps.demand import demand_column
from gaps.network import MODE_LABELS
from gaps.network_sites import CandidatePlan
from ingest.readers import FORMULA_START
from jzmap.application.coverage import Analysis, life_circles_m
from jzmap.presentation.coverage import site_streets
from jzmap.presentation.sources import SourceLang, demand_source_text
from maps.i18n import Lang, category_label, district_label

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GPKG_MEDIA_TYPE = "application/geopackage+sqlite3"


class WorkbookFormat(StrEnum):
    XLSX = "xlsx"
    GPKG = "gpkg"


class SiteSource(StrEnum):
    """Where the workbook's site sheet plans: gap cells (``/v1/coverage/candidates``) or
    the office's own rooms (``/v1/coverage/sites``), as the page showing it did."""

    CELLS = "cells"
    ROOMS = "rooms"


# How each figure is shown: "people" (whole persons), "share" (0.1 %), "int", "text",
# "bool" (推断/面), "coord" (6 decimals). One table for the page, the files and the CLI.
STREET_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("district", "区", "district", "text"),
    ("street", "街道", "street", "text"),
    ("street_code", "街道代码", "street code", "text"),
    ("street_inferred", "街道来源", "street from", "bool"),
    ("cells", "网格数", "cells", "int"),
    ("residents", "常住人口（估算）", "residents (est.)", "people"),
    ("residents_60plus", "60岁及以上", "aged 60+", "people"),
    ("demand", "服务对象", "served group", "people"),
    ("within_5min", "5分钟生活圈内", "within 5 min", "people"),
    ("within_10min", "10分钟生活圈内", "within 10 min", "people"),
    ("within_15min", "15分钟生活圈内", "within 15 min", "people"),
    ("residents_covered", "服务半径内", "within catchment", "people"),
    ("share_covered", "覆盖率", "covered", "share"),
    ("residents_in_gaps", "缺口内", "in gaps", "people"),
    ("gap_cells", "缺口网格", "gap cells", "int"),
    ("providers", "合适机构", "providers", "int"),
    ("practitioners", "从业人员", "practitioners", "int"),
)
SITE_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("rank", "序号", "rank", "int"),
    ("district", "区", "district", "text"),
    ("street", "街道", "street", "text"),
    ("street_inferred", "街道来源", "street from", "bool"),
    ("lat", "纬度 WGS-84", "latitude WGS-84", "coord"),
    ("lon", "经度 WGS-84", "longitude WGS-84", "coord"),
    ("residents_in_reach", "单独可覆盖缺口居民", "gap residents in reach", "people"),
    ("residents_added", "依次新增覆盖居民", "newly covered (in order)", "people"),
    ("cells_added", "新增覆盖网格", "cells added", "int"),
    ("cell", "H3 网格", "H3 cell", "text"),
    ("address", "地址", "address", "text"),
    ("address_source", "地址来源", "address from", "address_source"),
    ("address_note", "地址说明", "address note", "text"),
)
# The office's own rooms as the workbench and its workbook list them (/v1/coverage/sites).
ROOM_SITE_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("rank", "序号", "rank", "int"),
    ("name", "名称", "name", "text"),
    ("id", "编号", "id", "text"),
    ("address", "地址", "address", "text"),
    ("address_source", "地址来源", "address from", "address_source"),
    ("street", "街道", "street", "text"),
    ("street_source", "街道来源", "street from", "source"),
    ("lat", "纬度 WGS-84", "latitude WGS-84", "coord"),
    ("lon", "经度 WGS-84", "longitude WGS-84", "coord"),
    ("capacity", "容量（人）", "capacity (persons)", "people"),
    ("demand_in_reach", "可达缺口需求", "gap demand in reach", "people"),
    ("demand_added", "依次新增可达", "newly in reach (in order)", "people"),
    ("demand_served", "按容量可服务", "served within capacity", "people"),
    ("cells_added", "新增覆盖网格", "cells added", "int"),
    ("address_note", "地址说明", "address note", "text"),
)
INFERRED_TEXT = {Lang.ZH: ("街道面", "推断"), Lang.EN: ("polygons", "inferred")}
# The sites `jzmap coverage sites` chooses among the office's own rooms (its --csv).
CANDIDATE_SITE_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("rank", "序号", "rank", "int"),
    ("id", "编号", "id", "text"),
    ("name", "名称", "name", "text"),
    ("lon", "经度 WGS-84", "longitude WGS-84", "coord"),
    ("lat", "纬度 WGS-84", "latitude WGS-84", "coord"),
    ("address", "地址", "address", "text"),
    ("street", "街道", "street", "text"),
    ("street_source", "街道来源", "street from", "source"),
    ("capacity", "容量", "capacity", "people"),
    ("demand_in_reach", "单独可及需求", "demand in reach", "people"),
    ("demand_added", "依次新增可及需求", "newly in reach (in order)", "people"),
    ("demand_served", "容量内服务", "served within capacity", "people"),
    ("cells_added", "新增覆盖网格", "cells added", "int"),
)
# Where a candidate's street came from (gaps.network_sites), as the tables say it.
STREET_SOURCE_TEXT = {
    "file": {Lang.ZH: "候选文件", Lang.EN: "candidates file"},
    "nearest way (OpenStreetMap)": {
        Lang.ZH: "最近道路（OpenStreetMap）",
        Lang.EN: "nearest way (OpenStreetMap)",
    },
}

# Where a site's address came from (jzmap.application.coverage.ADDRESS_SOURCES), in words:
# the page and the workbook say the same.
ADDRESS_SOURCE_TEXT: dict[str, dict[Lang, str]] = {
    "file": {Lang.ZH: "文件", Lang.EN: "candidates file"},
    "amap": {Lang.ZH: "高德逆地理编码", Lang.EN: "AMap reverse geocoding"},
    "nearest_way": {Lang.ZH: "最近道路", Lang.EN: "nearest way"},
    "none": {Lang.ZH: "无", Lang.EN: "none"},
}


def address_sources(lang: Lang) -> dict[str, str]:
    """Each address source code in ``lang`` (what the page's script is given).

    >>> address_sources(Lang.ZH)["nearest_way"], address_sources(Lang.EN)["amap"]
    ('最近道路', 'AMap reverse geocoding')
    """
    return {code: words[lang] for code, words in ADDRESS_SOURCE_TEXT.items()}


# The population a plan counts (gaps.demand.demand_column), as the headings say it.
DEMAND_TEXT: dict[str, dict[Lang, str]] = {
    "aged_60_plus": {Lang.ZH: "60 岁及以上居民", Lang.EN: "residents aged 60+"},
    "residents": {Lang.ZH: "居民", Lang.EN: "residents"},
    "women_15_49": {Lang.ZH: "15–49 岁女性", Lang.EN: "women aged 15–49"},
    "births": {Lang.ZH: "出生人口", Lang.EN: "births"},
}


def demand_label(column: str | None, lang: Lang) -> str:
    """The population counted, in words: a column it does not know is named as it is.

    >>> demand_label("aged_60_plus", Lang.ZH), demand_label("residents", Lang.EN)
    ('60 岁及以上居民', 'residents')
    >>> demand_label("pop_2024", Lang.ZH)
    '居民（pop_2024）'
    """
    if column is None:
        column = "residents"
    if column in DEMAND_TEXT:
        return DEMAND_TEXT[column][lang]
    return f"居民（{column}）" if lang is Lang.ZH else f"residents ({column})"


def headers(fields: Sequence[tuple[str, str, str, str]], lang: Lang) -> list[str]:
    """The headings of ``fields`` in ``lang``."""
    return [zh if lang is Lang.ZH else en for _, zh, en, _ in fields]


def rounded(value: Any, how: str, lang: Lang = Lang.ZH) -> Any:
    """A figure as the tables file it: whole persons, shares to 0.1 % (as a fraction with
    three decimals), coordinates to 6 decimals; missing as ``None``.

    Examples
    --------
    >>> rounded(1234.56, "people"), rounded(0.12345, "share"), rounded(float("nan"), "people")
    (1235, 0.123, None)
    """
    if value is None or (isinstance(value, float | np.floating) and not np.isfinite(value)):
        return None
    if how == "people":
        return round(float(value))
    if how == "share":
        return round(float(value), 3)
    if how == "coord":
        return round(float(value), 6)
    if how == "int":
        return int(value)
    if how == "bool":
        return INFERRED_TEXT[lang][1 if bool(value) else 0]
    if how == "source":
        return STREET_SOURCE_TEXT.get(str(value), {}).get(lang, str(value))
    if how == "address_source":
        return ADDRESS_SOURCE_TEXT.get(str(value), {}).get(lang, str(value))
    text = "" if pd.isna(value) else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def table_rows(
    table: pd.DataFrame, fields: Sequence[tuple[str, str, str, str]], lang: Lang
) -> list[list[Any]]:
    return [
        [rounded(record.get(key), how, lang) for key, _, _, how in fields]
        for record in table.to_dict("records")
    ]


def place_label(name: str, lang: Lang) -> str:
    """A district as the English outputs name it: the English name with the official
    Chinese one after it (what the office's own papers say), or the Chinese name alone
    when no translation is known; in Chinese the name as it is.

    Examples
    --------
    >>> place_label("白云区", Lang.EN), place_label("白云区", Lang.ZH), place_label("某区", Lang.EN)
    ('Baiyun (白云区)', '白云区', '某区')
    """
    english = district_label(name, lang)
    return name if english == name else f"{english} ({name})"


def mode_label(mode: str, lang: Lang) -> str:
    """How reach was measured, in ``lang``: 直线距离 or crow-fly, 步行距离 or walking.

    Examples
    --------
    >>> mode_label("walk", Lang.ZH), mode_label("crow", Lang.EN)
    ('步行距离', 'crow-fly')
    """
    zh, _, en = MODE_LABELS[mode].partition(" / ")
    return zh if lang is Lang.ZH else en


def demand_source_label(source: str, lang: Lang) -> str:
    """Where the residents per cell come from (``Grid.demand_source``, written in English
    by :mod:`gaps.demand`), said in ``lang`` with districts named as the page names them
    (:func:`jzmap.presentation.sources.demand_source_text`); a source it does not know is
    shown as written.

    Examples
    --------
    >>> demand_source_label("population layer 人口.gpkg", Lang.ZH)
    '人口图层 人口.gpkg'
    >>> demand_source_label(
    ...     "2020 census population of each district spread over its cells by weight layer "
    ...     "w.gpkg (均匀分配 / uniform in 从化区: no weight there)", Lang.EN).split("w.gpkg ")[1]
    '(uniform in Conghua (从化区): no weight there)'
    >>> from gaps.demand import CENSUS_EVEN_SOURCE
    >>> demand_source_label(CENSUS_EVEN_SOURCE, Lang.ZH).split("：")[0]
    '默认'
    """
    said: SourceLang = "zh" if lang is Lang.ZH else "en"
    return demand_source_text(source, said, place=lambda name: place_label(name, lang))


def site_table(analysis: Analysis, plan: SitePlan) -> pd.DataFrame:
    """The plan's sites with their street's source and H3 ids as text."""
    sites: pd.DataFrame = site_streets(plan, analysis)
    return sites.assign(cell=[h3.int_to_str(int(c)) for c in sites["cell"]])


def workbench_xlsx(
    analysis: Analysis,
    plan: SitePlan | CandidatePlan,
    streets: pd.DataFrame,
    district: str,
    lang: Lang = Lang.ZH,
) -> bytes:
    """The workbook: 街道, 建议站点, 说明 (see the module's docstring).

    ``plan`` is a plan among gap cells (:class:`gaps.SitePlan`) or among the office's own
    rooms (:class:`gaps.network_sites.CandidatePlan`): the site sheet lists whichever the
    page showed, with its own columns (:data:`SITE_FIELDS` or :data:`ROOM_SITE_FIELDS`).
    """
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    zh = lang is Lang.ZH
    sheet.title = "街道" if zh else "streets"
    _write(
        sheet, headers(STREET_FIELDS, lang), table_rows(streets, STREET_FIELDS, lang), STREET_FIELDS
    )
    sites = book.create_sheet("建议站点" if zh else "sites")
    fields, table = _site_sheet(analysis, plan)
    _write(sites, headers(fields, lang), table_rows(table, fields, lang), fields)
    notes = book.create_sheet("说明" if zh else "notes")
    for row in _notes(analysis, plan, district, lang):
        notes.append(row)
    notes.column_dimensions["A"].width = 18
    notes.column_dimensions["B"].width = 90
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _site_sheet(
    analysis: Analysis, plan: SitePlan | CandidatePlan
) -> tuple[tuple[tuple[str, str, str, str], ...], pd.DataFrame]:
    if isinstance(plan, CandidatePlan):
        return ROOM_SITE_FIELDS, plan.sites
    return SITE_FIELDS, site_table(analysis, plan)


def _write(
    sheet: Any,
    head: list[str],
    rows: list[list[Any]],
    fields: Sequence[tuple[str, str, str, str]],
) -> None:
    sheet.append(head)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="EEEEEE")
        cell.alignment = Alignment(horizontal="center", wrap_text=True)
    for row in rows:
        sheet.append(row)
    formats = {"people": "#,##0", "share": "0.0%", "coord": "0.000000", "int": "#,##0"}
    for j, (_, _, _, how) in enumerate(fields, start=1):
        letter = get_column_letter(j)
        sheet.column_dimensions[letter].width = 14 if how != "text" else 16
        if how in formats:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = formats[how]
    sheet.freeze_panes = "A2"


def _notes(
    analysis: Analysis, plan: SitePlan | CandidatePlan, district: str, lang: Lang
) -> list[list[str]]:
    q = analysis.query
    circles = life_circles_m(q.speed, analysis.catchment_m)
    summary = plan.summary.iloc[0]
    rooms = isinstance(plan, CandidatePlan)
    counted = demand_column(analysis.grid.demand, q.category)
    distance = mode_label(q.mode, lang)
    if lang is Lang.ZH:
        return [
            ["区", district],
            ["服务类别", f"{q.category.label_zh}（{q.category.value}）"],
            ["服务半径", f"{analysis.catchment_m:,.0f} 米（{distance}）"],
            [
                "生活圈（直线等效）",
                "；".join(f"{k} {v:,.0f} 米" for k, v in circles.items()) + f"（步速 {q.speed}）",
            ],
            ["距离", distance],
            ["网格", f"H3 r{q.resolution}"],
            ["服务对象", f"{demand_label(counted, lang)}（{counted}）"],
            ["居民分布", demand_source_label(analysis.grid.demand_source, lang)],
            ["数据版本", str(analysis.data_version)],
            [
                "候选站点",
                "本办公室的候选用房（JZMAP_CANDIDATE_SITES）" if rooms else "缺口网格中心",
            ],
            [
                "建议站点",
                f"k = {summary['k']}，求解器 {summary['solver']}，状态 {summary['status']}",
            ],
        ]
    return [
        ["district", place_label(district, lang)],
        ["category", category_label(q.category, lang)],
        ["catchment", f"{analysis.catchment_m:,.0f} m ({distance})"],
        [
            "life circles (crow-fly)",
            "; ".join(f"{k} {v:,.0f} m" for k, v in circles.items()) + f" (speed {q.speed})",
        ],
        ["distance", distance],
        ["grid", f"H3 r{q.resolution}"],
        ["counted", f"{demand_label(counted, lang)} ({counted})"],
        ["residents", demand_source_label(analysis.grid.demand_source, lang)],
        ["data version", str(analysis.data_version)],
        [
            "candidates",
            "the office's own rooms (JZMAP_CANDIDATE_SITES)" if rooms else "centres of gap cells",
        ],
        ["sites", f"k = {summary['k']}, solver {summary['solver']}, status {summary['status']}"],
    ]


def workbench_geopackage(
    analysis: Analysis,
    plan: SitePlan | CandidatePlan,
    streets: pd.DataFrame,
    district: str,
    street_polygons: gpd.GeoDataFrame | None,
) -> bytes:
    """The GeoPackage: ``streets``, ``sites``, ``cells`` (see the module's docstring)."""
    rows = analysis.cells_of(district)
    measures = analysis.measures.loc[rows]
    cells = gpd.GeoDataFrame(
        {
            "cell": [h3.int_to_str(int(c)) for c in measures["cell"]],
            "district": measures["district"].astype(str).to_numpy(),
            "street": measures["street"].astype(object).to_numpy(),
            "street_inferred": measures.get(
                "street_inferred", pd.Series(False, index=measures.index)
            ).to_numpy(bool),
            "residents": measures["residents"].to_numpy(np.float64),
            "nearest_m": measures["nearest_m"].replace(np.inf, np.nan).to_numpy(np.float64),
            "providers_within": measures["providers_within"].to_numpy(np.int64),
            "covered": measures["covered"].to_numpy(bool),
            "gap": measures["gap"].to_numpy(bool),
        },
        geometry=analysis.grid.cells.geometry.to_numpy()[rows],
        crs="EPSG:4326",
    )
    sites_frame = plan.sites if isinstance(plan, CandidatePlan) else site_table(analysis, plan)
    sites = gpd.GeoDataFrame(
        sites_frame.drop(columns=["lon", "lat"]),
        geometry=shapely.points(sites_frame["lon"], sites_frame["lat"]),
        crs="EPSG:4326",
    )
    street_layer = _street_geometries(streets, street_polygons)
    with tempfile.TemporaryDirectory(prefix="jzmap-gpkg-") as tmp:
        path = Path(tmp) / "coverage.gpkg"
        street_layer.to_file(path, layer="streets", driver="GPKG")
        sites.to_file(path, layer="sites", driver="GPKG")
        cells.to_file(path, layer="cells", driver="GPKG")
        return path.read_bytes()


def _street_geometries(
    streets: pd.DataFrame, polygons: gpd.GeoDataFrame | None
) -> gpd.GeoDataFrame:
    """The street rows drawn on their polygons when the layer has them, else at their
    label points."""
    table = streets.drop(columns=[c for c in ("category",) if c in streets.columns])
    points = shapely.points(table["lon"].to_numpy(np.float64), table["lat"].to_numpy(np.float64))
    geometry = np.asarray(points, dtype=object)
    if polygons is not None and len(polygons):
        by_name = dict(zip(polygons["name"].astype(str), polygons.geometry, strict=False))
        for i, name in enumerate(table["street"].tolist()):
            if name is not None and str(name) in by_name:
                geometry[i] = by_name[str(name)]
    return gpd.GeoDataFrame(table, geometry=list(geometry), crs="EPSG:4326")

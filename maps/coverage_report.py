"""The coverage report for a district office (``jzmap coverage report``): one self-contained
HTML file, readable offline, with a map of the district's coverage gaps, its providers and
the proposed station sites, and the tables behind them.

The map is folium's, with Leaflet inlined exactly as in the offline city map
(:func:`maps.page.inline_assets`); the cells and sites come from the same presenters as
``/v1/coverage/cells`` and ``/v1/coverage/candidates``, so the report shows what the API
answers. Markers are circles and text labels, never image files, so nothing is fetched. A
basemap is drawn only from an ``http(s)`` tile URL, and then only when there is a network;
without one, the district outline and the hexagons carry the map on their own.

The report is in Chinese by default and in English with ``lang=Lang.EN`` (``jzmap coverage
report --lang en``): every heading, legend band, note and number unit from the tables
below; district names carry their English name from :mod:`maps.i18n` with the official
Chinese one after it, while street and provider names, which have no translation, stay as
registered.

Data from the registry (provider names above all) never becomes markup or script text:
folium would splice a tooltip into a JavaScript template literal, where ``${…}`` or a
backtick in a name runs as code. The cells, providers and sites travel instead as one
JSON block (``<``, ``>`` and ``&`` escaped, so ``</script>`` cannot end it) that
``static/coverage-report.js`` parses and draws, labels set as text. The report carries a
Content-Security-Policy allowing exactly its own scripts (by SHA-256), nothing fetched
but basemap tiles.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import folium
import h3
import numpy as np
import pandas as pd
from branca.element import Figure

from gaps import SitePlan, worst_cells
from geo.crs import CRS, from_wgs84
from jzmap.application.coverage import Analysis, streets_of
from jzmap.presentation.coverage import cell_features
from jzmap.presentation.presenters import SYNTHETIC_DATASETS
from maps.coverage_exports import (
    STREET_FIELDS,
    demand_source_label,
    headers,
    mode_label,
    place_label,
    rounded,
)
from maps.i18n import Lang, category_label
from maps.page import STATIC_URL, LocalMap, districts_geojson, inline_assets

# THE legend of coverage cells, shared by this report, the workbench page
# (maps/coverage_workbench.py hands it to its script) and their printouts: gap cells are
# shaded by how far their residents are from the nearest suitable provider.
GAP_BANDS_KM: tuple[float, ...] = (2.0, 3.0, 5.0)  # beyond the catchment: <2, 2-3, 3-5, >5
GAP_COLOURS: tuple[str, ...] = ("#fdd49e", "#fc8d59", "#d7301f", "#7f0000")
COVERED_COLOUR = "#a6dba0"
NO_RESIDENTS_COLOUR = "#d9d9d9"
SITE_COLOUR = "#2166ac"


@dataclass(frozen=True)
class LegendBand:
    """One class of cell: its colour, its label, and (for gaps) the upper bound of the
    distance to the nearest provider, in km (``None``: unbounded)."""

    key: str
    colour: str
    zh: str
    en: str
    below_km: float | None = None

    def label(self, lang: Lang) -> str:
        """The band's label in ``lang``.

        Examples
        --------
        >>> LEGEND[0].label(Lang.ZH), LEGEND[0].label(Lang.EN)
        ('已覆盖', 'covered')
        """
        return self.zh if lang is Lang.ZH else self.en


LEGEND: tuple[LegendBand, ...] = (
    LegendBand("covered", COVERED_COLOUR, "已覆盖", "covered"),
    LegendBand("gap0", GAP_COLOURS[0], "缺口：最近机构 < 2 公里", "gap: nearest < 2 km", 2.0),
    LegendBand("gap1", GAP_COLOURS[1], "2–3 公里", "2–3 km", 3.0),
    LegendBand("gap2", GAP_COLOURS[2], "3–5 公里", "3–5 km", 5.0),
    LegendBand("gap3", GAP_COLOURS[3], "> 5 公里或无", "> 5 km or none"),
    LegendBand("empty", NO_RESIDENTS_COLOUR, "无居民", "no residents"),
)


def legend_band(nearest_m: float | None, residents: float, covered: bool) -> LegendBand:
    """The legend class of a cell.

    Examples
    --------
    >>> [legend_band(m, 10.0, False).key for m in (1500.0, 2000.0, 4000.0, None)]
    ['gap0', 'gap1', 'gap2', 'gap3']
    """
    if residents <= 0:
        return LEGEND[-1]
    if covered:
        return LEGEND[0]
    km = np.inf if nearest_m is None else nearest_m / 1000
    return LEGEND[1 + int(np.searchsorted(GAP_BANDS_KM, km, side="right"))]


def legend_items(lang: Lang) -> list[dict[str, Any]]:
    """The legend as plain data for a page's script (which applies, never redefines it)."""
    return [
        {
            "key": b.key,
            "colour": b.colour,
            "label": b.label(lang),
            "below_m": None if b.below_km is None else b.below_km * 1000,
        }
        for b in LEGEND
    ]


REPORT_JS = "coverage-report.js"
PROVIDER_COLOUR = "#1b7837"
BOUNDARY_CREDIT = (
    "行政区划边界：DataV.GeoAtlas（数据来源于高德开放平台，仅供学习交流使用），经 geotool-cn 转换为"
    " WGS-84；仅供演示与测试"
)
BOUNDARY_CREDIT_EN = (
    "District boundaries: DataV.GeoAtlas (data from the AMap open platform, for study and "
    "exchange only), converted to WGS-84 with geotool-cn; for demonstration and testing only"
)

# Every word of the report, per language: the two cannot drift apart, and a key missing
# from one is a KeyError in the tests, not a Chinese heading in an English report.
_WORDS: dict[Lang, dict[str, str]] = {
    Lang.ZH: {
        "title": "{district}{category}服务覆盖缺口报告",
        "covered": "已覆盖",
        "gap": "缺口",
        "empty": "无居民",
        "cell": "{state}：居民约 {residents} 人；最近机构 {nearest}；{catchment}内 {within} 家",
        "station": "服务站",
        "provider": "{name}（{grade}，{n} 人）",
        "site": "建议站点 {rank}：新增覆盖约 {added} 人",
        "none": "无",
        "km": "{km:.1f} 公里",
        "m": "{m:,.0f} 米",
        "min_grade": "企业信用等级 ≥ {grade}（服务站均计入）",
        "certified": "仅计有安心服务证人员的机构",
        "any_grade": "不限等级",
        "sep": "；",
        "then": "",
        "metric": "指标",
        "value": "数值",
        "residents": "常住人口（估算）",
        "share_covered": "已覆盖居民占比",
        "in_gaps": "缺口内居民",
        "cells": "网格数 / 缺口网格",
        "providers": "合适机构（区内）",
        "providers_10k": "每万人机构数",
        "practitioners_10k": "每万人从业人员",
        "access_q50": "可达性中位数（每万人可及从业人员，E2SFCA）",
        "legend_providers": "现有机构",
        "legend_sites": "建议新站点（虚线圈为服务半径）",
        "facts": "服务类别：{category}（{code}）；服务半径 {catchment}（{reach}）；"
        "H3 分辨率 {res}；{filters}；数据版本 {version}；生成于 {when}",
        "summary": "概况",
        "reach_timed": "{label}，{minutes:.0f} 分钟 × {speed:g} 米/秒",
        "approx": "缺口网格 {candidates:,} 个，按单独覆盖人数取前 {considered:,} "
        "个交给求解器（近似）。",
        "all_candidates": "全部 {candidates:,} 个缺口网格均作为候选。",
        "plan": "建议新站点（最大覆盖选址 MCLP，k = {k}）",
        "plan_text": "居民覆盖率由 {before} 提高到 {after}，新增覆盖约 {added} 人"
        "（求解器 {solver}，状态 {status}）。",
        "rank": "序号",
        "street": "街道",
        "wgs84": "坐标 WGS-84（纬度, 经度）",
        "gcj02": "坐标 GCJ-02 高德",
        "in_reach": "单独可覆盖缺口居民",
        "added": "依次新增覆盖居民",
        "cells_added": "新增覆盖网格",
        "worst": "服务最差的 {n} 个网格",
        "h3": "H3 网格",
        "cell_residents": "居民（估算）",
        "nearest_m": "最近机构距离",
        "nearest": "最近机构",
        "within": "{catchment}内机构",
        "access": "可达性（每万人）",
        "streets": "各街道覆盖（街道来源：街道面或按最近机构地址推断）",
        "notes": "说明",
        "note_distance": "距离为 WGS-84 椭球面上从网格中心到机构的测地线距离。",
        "note_walk": "距离为沿步行路网（OpenStreetMap）从网格中心到机构的步行距离。",
        "note_covered": "“覆盖”指 {catchment}内有合适机构；“缺口”指有居民但未覆盖。",
        "note_access": "可达性为增强两步移动搜索法（E2SFCA，PySAL access）：服务半径内按距离"
        "衰减加权的每居民可及从业人员数，此处乘以 10,000。",
        "note_residents": "居民分布：{source}",
        "note_synthetic": "本报告中的机构为合成演示数据。",
    },
    Lang.EN: {
        "title": "{category} coverage gaps: {district}",
        "covered": "covered",
        "gap": "gap",
        "empty": "no residents",
        "cell": "{state}: about {residents} residents; nearest provider {nearest}; "
        "{within} within {catchment}",
        "station": "station",
        "provider": "{name} ({grade}, {n} practitioners)",
        "site": "Proposed site {rank}: covers about {added} more residents",
        "none": "none",
        "km": "{km:.1f} km",
        "m": "{m:,.0f} m",
        "min_grade": "company credit grade ≥ {grade} (stations all counted)",
        "certified": "only providers with certified workers",
        "any_grade": "any grade",
        "sep": "; ",
        "then": " ",
        "metric": "Figure",
        "value": "Value",
        "residents": "Residents (estimated)",
        "share_covered": "Share of residents covered",
        "in_gaps": "Residents in gaps",
        "cells": "Cells / gap cells",
        "providers": "Suitable providers (in the district)",
        "providers_10k": "Providers per 10,000 residents",
        "practitioners_10k": "Practitioners per 10,000 residents",
        "access_q50": "Median accessibility (practitioners in reach per 10,000, E2SFCA)",
        "legend_providers": "existing providers",
        "legend_sites": "proposed sites (dashed circle: catchment)",
        "facts": "Service: {category} ({code}); catchment {catchment} ({reach}); "
        "H3 resolution {res}; {filters}; data version {version}; generated {when}",
        "summary": "Summary",
        "reach_timed": "{label}, {minutes:.0f} min × {speed:g} m/s",
        "approx": "{candidates:,} gap cells; the {considered:,} covering the most residents on "
        "their own went to the solver (approximate).",
        "all_candidates": "All {candidates:,} gap cells were candidates.",
        "plan": "Proposed new sites (maximal covering location, MCLP, k = {k})",
        "plan_text": "Residents covered rise from {before} to {after}: about {added} more "
        "(solver {solver}, status {status}).",
        "rank": "Rank",
        "street": "Street",
        "wgs84": "WGS-84 (latitude, longitude)",
        "gcj02": "GCJ-02 (AMap)",
        "in_reach": "Gap residents in reach",
        "added": "Newly covered (in order)",
        "cells_added": "Cells added",
        "worst": "The {n} worst-served cells",
        "h3": "H3 cell",
        "cell_residents": "Residents (est.)",
        "nearest_m": "Distance to nearest",
        "nearest": "Nearest provider",
        "within": "Providers within {catchment}",
        "access": "Accessibility (per 10,000)",
        "streets": "Coverage by street (streets from street polygons or inferred from the "
        "nearest provider's address)",
        "notes": "Notes",
        "note_distance": "Distances are geodesic, on the WGS-84 ellipsoid, from a cell's centre "
        "to the provider.",
        "note_walk": "Distances are walked along the street network (OpenStreetMap) from a "
        "cell's centre to the provider.",
        "note_covered": "“Covered”: a suitable provider within {catchment}; “gap”: residents "
        "but not covered.",
        "note_access": "Accessibility is the enhanced two-step floating catchment area "
        "(E2SFCA, PySAL access): practitioners in reach per resident, weighted by a "
        "distance decay within the catchment, here times 10,000.",
        "note_residents": "Residents: {source}",
        "note_synthetic": "The providers in this report are synthetic demo data.",
    },
}

_CSS = """
html body.jz-report { height: auto; display: flex; flex-direction: column;
  font: 15px/1.5 system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; color: #222; }
.jz-report section { order: 0; padding: 0 24px; max-width: 1100px; }
.jz-report .folium-map { order: 1; flex: none; margin: 8px 24px; max-width: 1100px;
  width: auto !important; height: 600px !important; border: 1px solid #999; }
.jz-report section.jz-after { order: 2; }
.jz-report h1 { font-size: 22px; margin: 16px 0 4px; }
.jz-report h2 { font-size: 18px; margin: 20px 0 6px; }
.jz-report table { border-collapse: collapse; margin: 6px 0 12px; }
.jz-report th, .jz-report td { border: 1px solid #bbb; padding: 3px 8px; text-align: right; }
.jz-report th { background: #f0f0f0; text-align: center; }
.jz-report td.t { text-align: left; }
.jz-report .legend span { display: inline-block; width: 14px; height: 14px;
  vertical-align: middle; margin: 0 4px 0 12px; border: 1px solid #777; }
.jz-report .note { color: #555; font-size: 13px; }
.jz-site { color: #fff; background: #2166ac; border-radius: 50%; width: 22px; height: 22px;
  line-height: 22px; text-align: center; font-weight: bold; border: 2px solid #fff; }
"""


def render_coverage_report(
    analysis: Analysis,
    plan: SitePlan,
    district: str,
    districts: Any,
    *,
    tiles_url: str,
    tiles_attribution: str,
    tiles_crs: CRS,
    worst: int = 10,
    generated: datetime | None = None,
    lang: Lang = Lang.ZH,
) -> str:
    """The report's HTML: everything inlined, nothing fetched but optional basemap tiles.

    Parameters
    ----------
    analysis, plan
        From :meth:`jzmap.application.coverage.CoverageService.plan` for ``district``.
    district
        The district reported on (a name of ``districts``).
    districts
        District polygons (a GeoDataFrame with ``name``, WGS-84).
    tiles_url, tiles_attribution, tiles_crs
        The basemap (drawn only for an ``http(s)`` URL) and the datum it is drawn in:
        everything on the map is shifted to ``tiles_crs``.
    worst
        How many of the worst-served cells to list.
    generated
        The time printed on the report (default now).
    lang
        The report's language: Chinese (default) or English.
    """
    category = analysis.query.category
    rows = analysis.districts.loc[analysis.districts["district"] == district]
    if rows.empty:
        raise ValueError(f"no district {district!r} in the analysis")
    summary = rows.iloc[0]
    outline = districts.loc[districts["name"] == district]
    west, south, east, north = outline.total_bounds
    (x0, x1), (y0, y1) = from_wgs84([west, east], [south, north], tiles_crs)

    m = LocalMap(location=[(y0 + y1) / 2, (x0 + x1) / 2], tiles=None, control_scale=True)
    m.fit_bounds([[float(y0), float(x0)], [float(y1), float(x1)]])
    if tiles_url.startswith(("http://", "https://")):
        folium.TileLayer(tiles_url, attr=tiles_attribution, name="basemap").add_to(m)
    folium.GeoJson(
        districts_geojson(outline, lang, tiles_crs),
        name="district",
        style_function=lambda _: {"color": "#222", "weight": 2.5, "fillOpacity": 0},
    ).add_to(m)
    data = {
        "mapVar": m.get_name(),
        "cells": _cells_geojson(analysis, district, tiles_crs, lang),
        "providers": _providers(analysis, (west, south, east, north), tiles_crs, lang),
        "sites": _sites(plan, tiles_crs, lang),
        "catchmentM": analysis.catchment_m,
        "providerColour": PROVIDER_COLOUR,
        "siteColour": SITE_COLOUR,
    }

    root = m.get_root()
    assert isinstance(root, Figure)
    title = _WORDS[lang]["title"].format(
        district=place_label(district, lang), category=category_label(category, lang)
    )
    root.header.add_child(
        folium.Element(
            f"<title>{html.escape(title)}</title>"
            '<link rel="icon" href="data:,">'
            f"<style>{_CSS}</style>"
        )
    )
    when = (generated or datetime.now(UTC)).astimezone().strftime("%Y-%m-%d %H:%M")
    root.html.add_child(folium.Element(_before_map(title, analysis, summary, when, lang)))
    root.html.add_child(folium.Element(_after_map(analysis, plan, district, worst, lang)))
    root.html.add_child(
        folium.Element(
            f'<script type="application/json" id="jz-report-data">{script_json(data)}</script>'
        )
    )
    root.header.add_child(folium.JavascriptLink(f"{STATIC_URL}/{REPORT_JS}"))
    page = str(root.render())
    page = page.replace("<html>", f'<html lang="{HTML_LANG[lang]}">', 1)
    page = page.replace("<body>", '<body class="jz-report">', 1)
    return with_csp(inline_assets(page), tiles_url)


HTML_LANG = {Lang.ZH: "zh-CN", Lang.EN: "en"}


def script_json(value: Any) -> str:
    """``value`` as JSON to put inside a ``<script type="application/json">`` element:
    ``<``, ``>`` and ``&`` escaped (``\\u003c`` …), so no string in it can end the
    element or open a comment; read back with ``JSON.parse(element.textContent)``."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    for raw, escaped in _JSON_ESCAPES:
        text = text.replace(raw, escaped)
    return text


_JSON_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)
# Inline scripts (those a browser runs: not JSON data blocks), for their hashes.
_SCRIPTS = re.compile(r"<script(?![^>]*\btype=\"application/json\")[^>]*>(.*?)</script>", re.DOTALL)


def with_csp(page: str, tiles_url: str) -> str:
    """``page`` with a Content-Security-Policy ``<meta>`` first in its head: its own
    inline scripts allowed by SHA-256 and nothing else run; no connection, no frame, no
    form; images from the basemap's host (and data: URLs) only."""
    hashes = sorted(
        {
            "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
            for body in _SCRIPTS.findall(page)
        }
    )
    images = ["data:"]
    if tiles_url.startswith(("http://", "https://")):
        scheme, _, rest = tiles_url.replace("{s}", "*").partition("://")
        host = rest.split("/", 1)[0]
        images.append(f"{scheme}://{host}" if "{" not in host else f"{scheme}:")
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {' '.join(hashes)}",
            # Leaflet positions everything with inline styles; the legend uses some too.
            "style-src 'unsafe-inline'",
            f"img-src {' '.join(images)}",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    meta = f'<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">'
    return page.replace("<head>", "<head>" + meta, 1)


def _band_colour(nearest_m: float | None, residents: float, covered: bool) -> str:
    return legend_band(nearest_m, residents, covered).colour


def _cells_geojson(analysis: Analysis, district: str, crs: CRS, lang: Lang) -> dict[str, Any]:
    words = _WORDS[lang]
    features = cell_features(analysis, district, crs)
    for f in features:
        p = f["properties"]
        p["colour"] = _band_colour(p["nearest_m"], p["residents"], p["covered"])
        state = words["covered" if p["covered"] else ("gap" if p["gap"] else "empty")]
        p["label"] = words["cell"].format(
            state=state,
            residents=f"{p['residents']:,.0f}",
            nearest=_km(p["nearest_m"], lang),
            catchment=_metres(analysis.catchment_m, lang),
            within=p["providers_within"],
        )
        # Only what the map draws: the page stays light.
        f["properties"] = {"colour": p["colour"], "label": p["label"]}
    return {"type": "FeatureCollection", "features": features}


def _providers(
    analysis: Analysis, bounds: Sequence[float], crs: CRS, lang: Lang
) -> list[dict[str, float | str]]:
    """The suitable providers in and around the district (they serve its edge cells too),
    each with its label as plain text."""
    west, south, east, north = bounds
    pad = 0.02  # degrees, ~2 km: beyond one catchment
    supply = analysis.supply
    near = supply.loc[
        supply["lon"].between(west - pad, east + pad)
        & supply["lat"].between(south - pad, north + pad)
    ]
    lon, lat = from_wgs84(near["lon"].to_numpy(np.float64), near["lat"].to_numpy(np.float64), crs)
    providers: list[dict[str, float | str]] = []
    for pid, x, y in zip(near["id"].tolist(), lon.tolist(), lat.tolist(), strict=True):
        p = analysis.providers.by_id[pid]
        grade = p.credit_grade.value if p.credit_grade else _WORDS[lang]["station"]
        label = _WORDS[lang]["provider"].format(name=p.name, grade=grade, n=p.practitioners)
        providers.append({"lon": x, "lat": y, "label": label})
    return providers


def _sites(plan: SitePlan, crs: CRS, lang: Lang) -> list[dict[str, float | int | str]]:
    sites = plan.sites
    lon, lat = from_wgs84(sites["lon"].to_numpy(np.float64), sites["lat"].to_numpy(np.float64), crs)
    label = _WORDS[lang]["site"]
    return [
        {"lon": x, "lat": y, "rank": int(rank),
         "label": label.format(rank=rank, added=f"{added:,.0f}")}
        for rank, added, x, y in zip(
            sites["rank"].tolist(), sites["residents_added"].tolist(), lon.tolist(), lat.tolist(),
            strict=True,
        )
    ]  # fmt: skip


def _km(metres: float | None, lang: Lang) -> str:
    """A distance in km as the report prints it.

    Examples
    --------
    >>> _km(1234.0, Lang.ZH), _km(1234.0, Lang.EN), _km(None, Lang.EN)
    ('1.2 公里', '1.2 km', 'none')
    """
    if metres is None or not np.isfinite(metres):
        return _WORDS[lang]["none"]
    return _WORDS[lang]["km"].format(km=metres / 1000)


def _metres(metres: float, lang: Lang) -> str:
    """A distance in whole metres: ``1,000 米`` / ``1,000 m``."""
    return _WORDS[lang]["m"].format(m=metres)


def _share(value: float | None) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.1%}"


def _number(value: float | None, digits: int = 0) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:,.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], text: Sequence[int] = ()) -> str:
    """An HTML table; the columns numbered in ``text`` are left-aligned (numbers right)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=t' if i in text else ''}>{html.escape(cell)}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _before_map(title: str, analysis: Analysis, s: pd.Series, when: str, lang: Lang) -> str:
    words = _WORDS[lang]
    q = analysis.query
    filters = []
    if q.min_grade is not None:
        filters.append(words["min_grade"].format(grade=q.min_grade.value))
    if q.certified_only:
        filters.append(words["certified"])
    figures = _table(
        [words["metric"], words["value"]],
        [
            [words["residents"], _number(s["residents"])],
            [words["share_covered"], _share(s["share_residents_covered"])],
            [words["in_gaps"], _number(s["residents_in_gaps"])],
            [words["cells"], f"{s['cells']:,} / {s['gap_cells']:,}"],
            [words["providers"], f"{s['providers']:,}"],
            [words["providers_10k"], _number(s["providers_per_10k"], 2)],
            [words["practitioners_10k"], _number(s["practitioners_per_10k"], 1)],
            [words["access_q50"], _number(_per_10k(s["accessibility_q50"]), 2)],
        ],
        text=(0,),
    )
    legend = "".join(
        f'<span style="background:{c}"></span>{html.escape(t)}'
        for c, t in [
            *((b.colour, b.label(lang)) for b in LEGEND),
            (PROVIDER_COLOUR, words["legend_providers"]),
            (SITE_COLOUR, words["legend_sites"]),
        ]
    )
    facts = words["facts"].format(
        category=category_label(q.category, lang),
        code=q.category.value,
        catchment=_metres(analysis.catchment_m, lang),
        reach=_reach_label(analysis, lang),
        res=q.resolution,
        filters=words["sep"].join(filters) or words["any_grade"],
        version=analysis.data_version,
        when=when,
    )
    return (
        f"<section><h1>{html.escape(title)}</h1>"
        f'<p class="note">{html.escape(facts)}</p>'
        f"<h2>{html.escape(words['summary'])}</h2>{figures}"
        f'<p class="legend">{legend}</p></section>'
    )


def _reach_label(analysis: Analysis, lang: Lang) -> str:
    """How reach was measured, as every output says it: 直线距离 / crow-fly, or the walk
    with its minutes and pace."""
    label = mode_label(analysis.query.mode, lang)
    if analysis.speed_m_s is None:
        return label
    minutes = analysis.catchment_m / 60 / analysis.speed_m_s
    return _WORDS[lang]["reach_timed"].format(
        label=label, minutes=minutes, speed=analysis.speed_m_s
    )


def _per_10k(accessibility: float | None) -> float | None:
    return None if accessibility is None else float(accessibility) * 10_000


def _after_map(analysis: Analysis, plan: SitePlan, district: str, worst: int, lang: Lang) -> str:
    words = _WORDS[lang]
    p = plan.summary.iloc[0]
    sites = plan.sites
    gcj_lon, gcj_lat = from_wgs84(
        sites["lon"].to_numpy(np.float64), sites["lat"].to_numpy(np.float64), CRS.GCJ02
    )
    site_rows = [
        [
            str(r["rank"]),
            str(r["street"] or "—"),
            f"{r['lat']:.6f}, {r['lon']:.6f}",
            f"{glat:.6f}, {glon:.6f}",
            _number(r["residents_in_reach"]),
            _number(r["residents_added"]),
            str(r["cells_added"]),
        ]
        for r, glon, glat in zip(
            sites.to_dict("records"), gcj_lon.tolist(), gcj_lat.tolist(), strict=True
        )
    ]
    approximate = (
        words["approx"].format(candidates=p["candidates"], considered=p["candidates_considered"])
        if p["candidates_considered"] < p["candidates"]
        else words["all_candidates"].format(candidates=p["candidates"])
    )
    said = words["plan_text"].format(
        before=_share(p["share_covered_before"]),
        after=_share(p["share_covered_after"]),
        added=_number(p["residents_newly_covered"]),
        solver=p["solver"],
        status=p["status"],
    )
    plan_html = (
        f"<h2>{html.escape(words['plan'].format(k=p['k']))}</h2>"
        f"<p>{html.escape(said + words['then'] + approximate)}</p>"
        + _table(
            [
                words["rank"],
                words["street"],
                words["wgs84"],
                words["gcj02"],
                words["in_reach"],
                words["added"],
                words["cells_added"],
            ],
            site_rows,
            text=(1, 2, 3),
        )
    )
    catchment = _metres(analysis.catchment_m, lang)
    in_district = analysis.measures.loc[analysis.cells_of(district)]
    worst_rows = [
        [
            str(r["rank"]),
            h3.int_to_str(int(r["cell"])),
            str(r["street"] or "—"),
            _number(r["residents"]),
            _km(r["nearest_m"], lang),
            _provider_name(analysis, r["nearest_id"]),
            str(r["providers_within"]),
            _number(_per_10k(r["accessibility"]), 2),
        ]
        for r in worst_cells(in_district, n=worst).to_dict("records")
    ]
    worst_html = f"<h2>{html.escape(words['worst'].format(n=worst))}</h2>" + _table(
        [
            words["rank"],
            words["h3"],
            words["street"],
            words["cell_residents"],
            words["nearest_m"],
            words["nearest"],
            words["within"].format(catchment=catchment),
            words["access"],
        ],
        worst_rows,
        text=(1, 2, 5),
    )
    streets = streets_of(analysis, district)
    street_rows = [
        [
            str(c) if c is not None else "—"
            for c in (rounded(r.get(key), how, lang) for key, _, _, how in STREET_FIELDS[1:])
        ]
        for r in streets.to_dict("records")
    ]
    streets_html = f"<h2>{html.escape(words['streets'])}</h2>" + _table(
        [h[:1].upper() + h[1:] for h in headers(STREET_FIELDS[1:], lang)],
        [_formatted(row, STREET_FIELDS[1:]) for row in street_rows],
        text=(0, 1, 2),
    )
    synthetic = any(
        p.extra.get("dataset") in SYNTHETIC_DATASETS for p in analysis.providers.by_id.values()
    )
    source = demand_source_label(analysis.grid.demand_source, lang)
    items = [
        words["note_walk" if analysis.query.mode == "walk" else "note_distance"],
        words["note_covered"].format(catchment=catchment),
        words["note_access"],
        words["note_residents"].format(source=source),
        BOUNDARY_CREDIT if lang is Lang.ZH else BOUNDARY_CREDIT_EN,
    ]
    notes = (
        f'<h2>{html.escape(words["notes"])}</h2><ul class="note">'
        + "".join(f"<li>{html.escape(item)}</li>" for item in items)
        + (f"<li><b>{html.escape(words['note_synthetic'])}</b></li>" if synthetic else "")
        + "</ul>"
    )
    return f'<section class="jz-after">{plan_html}{streets_html}{worst_html}{notes}</section>'


def _formatted(row: Sequence[str], fields: Sequence[tuple[str, str, str, str]]) -> list[str]:
    """Rounded figures as the page prints them: thousands separated, shares in %."""
    out = []
    for cell, (_, _, _, how) in zip(row, fields, strict=True):
        if cell != "—" and how in ("people", "int"):
            cell = f"{int(cell):,}"
        elif cell != "—" and how == "share":
            cell = f"{float(cell):.1%}"
        out.append(cell)
    return out


def _provider_name(analysis: Analysis, provider_id: str | None) -> str:
    if provider_id is None:
        return "—"
    p = analysis.providers.by_id.get(provider_id)
    return "—" if p is None else p.name

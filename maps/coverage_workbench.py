"""The district planner's workbench (``/map?view=coverage``): choose a district, a category,
a life circle, a walking speed and how distance is measured (walking over the street
network, or crow-fly); see the coverage cells, the streets and the proposed sites; leave
sites out and plan again; sort the street table; export Excel or GeoPackage; print an A4
report.

A page of its own, not the residents' map: no search for a place to live, no "near me", a
click on the map starts nothing. The server renders the controls and the empty tables (so
they work with a keyboard and a screen reader before any script runs), and only the
choices the API will answer: walking only when the operator configured a street network,
the office's own rooms (``/v1/coverage/sites``) when it configured them, else gap cells
(``/v1/coverage/candidates``). The script ``static/coverage-workbench.js`` fills the page
from ``/v1/coverage/cells``, ``/streets`` and the sites endpoint, and sets the export links
to ``/v1/coverage/workbook``. The legend is :data:`maps.coverage_report.LEGEND`, the one the
offline report draws: the script applies it, never defines its own. The street and cell
site headings are :mod:`maps.coverage_exports`', the ones the Excel file has, less the
columns the panel leaves to the files (:data:`OFF_SCREEN`).

The page plans on H3 resolution 9 (:data:`RESOLUTIONS`), sized for life circles, and its
export links carry every choice, the exclusions and where the sites are planned
(``sites=rooms|cells``), so the files hold what the page shows.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from maps.coverage_exports import (
    DEMAND_TEXT,
    ROOM_SITE_FIELDS,
    SITE_FIELDS,
    STREET_FIELDS,
    address_sources,
    headers,
)
from maps.coverage_report import SITE_COLOUR, legend_items
from maps.i18n import Lang, category_label, district_label
from maps.page import LEAFLET_CSS, LEAFLET_JS, STATIC_URL, PageOptions, districts_geojson
from providers.model import Category

WORKBENCH_JS = "coverage-workbench.js"
LIFE_CIRCLES = (5, 10, 15)
MODES = ("walk", "crow")
# The most sites one plan may leave out: /v1/coverage/sites' cap (and /candidates').
MAX_EXCLUDED = 200
CANDIDATES_PATH = "/v1/coverage/candidates"
ROOMS_PATH = "/v1/coverage/sites"

# H3 resolutions the page offers: 9 (centres ~300 m apart) resolves a 240–720 m life
# circle into several cells, so sites differ by what they add; 8 (~800 m) is the district
# overview, where a 10-minute elderly circle (480 m) reaches one cell and sites tie.
RESOLUTIONS = (9, 8)
# Columns the workbook keeps but the page's panel does not show: the district is chosen
# above the tables, coordinates are the map's business, a site's address note is the
# tooltip of its empty address cell.
OFF_SCREEN = frozenset({"district", "lat", "lon", "street_source", "address_note"})


def on_screen(fields: Sequence[tuple[str, str, str, str]]) -> tuple[tuple[str, str, str, str], ...]:
    """The columns of ``fields`` the page's panel shows (not :data:`OFF_SCREEN`).

    >>> [f[0] for f in on_screen(STREET_FIELDS)][:3]
    ['street', 'street_code', 'street_inferred']
    """
    return tuple(f for f in fields if f[0] not in OFF_SCREEN)


# The office's own rooms (``/v1/coverage/sites``) and gap-cell sites as the page lists them.
ROOM_FIELDS = on_screen(ROOM_SITE_FIELDS)
CELL_SITE_FIELDS = on_screen(SITE_FIELDS)
STREET_SCREEN_FIELDS = on_screen(STREET_FIELDS)

_TEXT: dict[Lang, dict[str, str]] = {
    Lang.ZH: {
        "title": "覆盖缺口工作台",
        "district": "区",
        "category": "服务类别",
        "minutes": "生活圈",
        "minutes_option": "{m} 分钟",
        "speed": "步速",
        "adult": "成人 1.2 米/秒",
        "elderly": "老年人 0.8 米/秒",
        "kind": "机构类型",
        "any_kind": "全部",
        "company": "企业",
        "station": "服务站",
        "k": "建议站点数",
        "xlsx": "导出 Excel",
        "gpkg": "导出 GeoPackage",
        "print": "打印报告（A4）",
        "streets": "街道",
        "sites": "建议站点",
        "legend": "图例",
        "site_legend": "建议新站点",
        "loading": "正在计算…",
        "busy": "请求较多，{s} 秒后自动重试…",
        "mode": "距离",
        "walk": "步行路网",
        "crow": "直线距离",
        "no_network": "未配置步行路网，因此只能按直线距离计算：运维人员设置 "
        "JZMAP_STREET_NETWORK（OpenStreetMap 路网文件）并运行 jzmap network build 后，"
        "即可按步行路网计算。",
        "note_crow": "生活圈按所选步速步行的直线距离计算（上限：实际路径更长）",
        "note_walk": "生活圈按所选步速沿步行路网（OpenStreetMap）行走的距离计算",
        "rooms_source": "候选站点：本办公室的候选用房（JZMAP_CANDIDATE_SITES）",
        "cells_source": "候选站点：缺口网格中心",
        "action": "操作",
        "exclude": "排除",
        "exclude_site": "排除 {site}",
        "excluded": "已排除",
        "none": "无",
        "restore": "取消排除",
        "restore_site": "取消排除 {site}",
        "too_many": "最多排除 {n} 处",
        "summary": "报告信息",
        "date": "日期",
        "data_version": "数据版本",
        "map_view": "切换到居民地图",
        "sort": "按此列排序",
        "res": "网格",
        "res_9": "生活圈（H3 r9，约 300 米）",
        "res_8": "区级概览（H3 r8，约 800 米）",
        "grid": "网格 H3 r{res}",
        "source": "居民分布",
        "added": "新增覆盖{who}：{n} 人",
        "added_rooms": "新增可达{who}：{n} 人（按容量可服务 {served} 人）",
        "share": "覆盖率 {before} → {after}",
    },
    Lang.EN: {
        "title": "Coverage workbench",
        "district": "District",
        "category": "Category",
        "minutes": "Life circle",
        "minutes_option": "{m} min",
        "speed": "Walking speed",
        "adult": "adult 1.2 m/s",
        "elderly": "elderly 0.8 m/s",
        "kind": "Provider kind",
        "any_kind": "all",
        "company": "companies",
        "station": "stations",
        "k": "Sites to propose",
        "xlsx": "Export Excel",
        "gpkg": "Export GeoPackage",
        "print": "Print report (A4)",
        "streets": "Streets",
        "sites": "Proposed sites",
        "legend": "Legend",
        "site_legend": "proposed new site",
        "loading": "computing…",
        "busy": "busy: trying again in {s} s…",
        "mode": "Distance",
        "walk": "walking (street network)",
        "crow": "crow-fly",
        "no_network": "No street network is configured, so distances are crow-fly only: the "
        "operator sets JZMAP_STREET_NETWORK (an OpenStreetMap extract) and runs "
        "jzmap network build to measure walking over the streets.",
        "note_crow": "a life circle is the straight-line distance walked at the chosen speed "
        "(an upper bound: real paths are longer)",
        "note_walk": "a life circle is the distance walked over the street network "
        "(OpenStreetMap) at the chosen speed",
        "rooms_source": "candidates: the office's own rooms (JZMAP_CANDIDATE_SITES)",
        "cells_source": "candidates: centres of gap cells",
        "action": "action",
        "exclude": "exclude",
        "exclude_site": "exclude {site}",
        "excluded": "Excluded",
        "none": "none",
        "restore": "restore",
        "restore_site": "restore {site}",
        "too_many": "at most {n} exclusions",
        "summary": "Report",
        "date": "Date",
        "data_version": "data version",
        "map_view": "Back to the residents' map",
        "sort": "sort by this column",
        "res": "Grid",
        "res_9": "life circles (H3 r9, ~300 m)",
        "res_8": "district overview (H3 r8, ~800 m)",
        "grid": "grid H3 r{res}",
        "source": "Residents",
        "added": "Newly covered {who}: {n}",
        "added_rooms": "Newly in reach {who}: {n} ({served} within capacity)",
        "share": "covered {before} → {after}",
    },
}

_CSS = """
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; }
body.jz-workbench { font: 15px/1.45 system-ui, "PingFang SC", "Microsoft YaHei", sans-serif;
  color: #222; display: flex; flex-direction: column; }
.jz-wb-head { padding: 8px 12px; border-bottom: 1px solid #ccc; }
.jz-wb-head h1 { font-size: 20px; margin: 0 0 6px; }
.jz-wb-controls { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: end; }
.jz-wb-controls label { display: flex; flex-direction: column; font-size: 13px; }
.jz-wb-controls select, .jz-wb-controls input { font-size: 15px; min-height: 32px; }
.jz-wb-actions { display: flex; gap: 8px; flex-wrap: wrap; }
.jz-wb-actions a, .jz-wb-actions button { font-size: 14px; padding: 6px 10px;
  border: 1px solid #2166ac; border-radius: 4px; background: #fff; color: #2166ac;
  text-decoration: none; cursor: pointer; }
.jz-wb-main { flex: 1; display: flex; min-height: 0; }
#jz-wb-map { flex: 1 1 55%; min-height: 420px; }
.jz-wb-side { flex: 1 1 45%; overflow: auto; padding: 8px 12px; max-width: 760px; }
.jz-wb-side h2 { font-size: 17px; margin: 10px 0 4px; }
.jz-wb-side h3 { font-size: 14px; margin: 6px 0 2px; }
.jz-wb-side table { border-collapse: collapse; width: 100%; font-size: 13px; }
.jz-wb-side th, .jz-wb-side td { border: 1px solid #ccc; padding: 2px 5px; text-align: right; }
.jz-wb-side th { background: #f2f2f2; text-align: center; }
.jz-wb-side th button { all: unset; cursor: pointer; display: block; width: 100%; }
.jz-wb-side th[aria-sort="ascending"] button::after { content: " ▲"; }
.jz-wb-side th[aria-sort="descending"] button::after { content: " ▼"; }
.jz-wb-side td.t { text-align: left; }
/* Names stay on one line (沙面街道, not one character a line): the table scrolls instead. */
.jz-wb-scroll { overflow-x: auto; max-width: 100%; }
.jz-wb-side td.t, .jz-wb-side td[data-key=street], .jz-wb-side td[data-key=name] {
  white-space: nowrap; }
.jz-wb-side th { min-width: 3.2em; }
.jz-wb-side td.h3 { font: 11px/1.2 ui-monospace, monospace; white-space: nowrap; }
.jz-wb-side td.noaddr { color: #777; cursor: help; }
.jz-wb-note { color: #555; font-size: 13px; margin: 4px 0; }
.jz-wb-why { color: #7a4b00; font-size: 13px; margin: 4px 0; max-width: 60em; }
.jz-wb-side td.act { text-align: center; }
.jz-wb-side td.act button, .jz-wb-excluded button { font-size: 13px; padding: 1px 6px;
  border: 1px solid #b2182b; border-radius: 3px; background: #fff; color: #b2182b;
  cursor: pointer; white-space: nowrap; }
.jz-wb-excluded ul { margin: 2px 0; padding-left: 1.2em; font-size: 13px; }
.jz-wb-excluded li { margin: 2px 0; }
.jz-wb-summary { display: none; }
.jz-wb-summary dl { display: grid; grid-template-columns: max-content 1fr; gap: 1px 10px;
  margin: 4px 0; font-size: 12px; }
.jz-wb-summary dt { font-weight: bold; }
.jz-wb-summary dd { margin: 0; }
.jz-wb-legend span.sw { display: inline-block; width: 13px; height: 13px; margin: 0 4px 0 10px;
  vertical-align: middle; border: 1px solid #777; }
.jz-wb-pct { background: rgba(255,255,255,.9); border: 1px solid #555; border-radius: 3px;
  padding: 0 3px; font-size: 12px; white-space: nowrap; }
.jz-wb-site { color: #fff; background: SITE_COLOUR; border-radius: 50%; width: 22px; height: 22px;
  line-height: 22px; text-align: center; font-weight: bold; border: 2px solid #fff; }
@page { size: A4 portrait; margin: 12mm; }
@media print {
  html, body { height: auto; }
  .jz-wb-controls, .jz-wb-actions, .jz-wb-maplink, .jz-wb-why, .jz-wb-excluded,
  .jz-wb-side .act { display: none !important; }
  .jz-wb-summary { display: block; }
  .jz-wb-main { display: block; }
  #jz-wb-map { width: 186mm; height: 130mm; min-height: 0; border: 1px solid #999;
    page-break-inside: avoid; }
  .jz-wb-side { max-width: none; overflow: visible; padding: 0; }
  .jz-wb-scroll { overflow: visible; }
  .jz-wb-side table { font-size: 10px; page-break-inside: auto; }
  .jz-wb-side tr { page-break-inside: avoid; }
  .jz-wb-side th button::after { content: "" !important; }
}
"""


def render_workbench(
    o: PageOptions,
    districts: Any,
    nonce: str,
    *,
    minutes: int = 10,
    speed: str = "elderly",
    walking: bool = False,
    default_mode: str = "crow",
    rooms: bool = False,
) -> str:
    """The workbench page's HTML.

    Parameters
    ----------
    o
        The page's options (language, basemap, category, kind).
    districts
        District polygons (``name``, optionally ``adcode``; WGS-84).
    nonce
        Put on every ``<script>`` and ``<style>`` for the Content-Security-Policy.
    minutes, speed
        The life circle and walking speed chosen when the page opens (``?minutes=``,
        ``?speed=`` override them); the H3 resolution is 9 unless ``?res=8``.
    walking
        Whether the operator configured a street network (``JZMAP_STREET_NETWORK``): the
        distance control offers walking only then, and says why not otherwise.
    default_mode
        ``walk`` or ``crow``: the API's default, chosen when the page opens (``?mode=``
        overrides it with a mode on offer).
    rooms
        Whether the operator configured the office's candidate rooms
        (``JZMAP_CANDIDATE_SITES``): the sites are then planned among them
        (``/v1/coverage/sites``), else among gap cells (``/v1/coverage/candidates``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> one = gpd.GeoDataFrame({"name": ["天河区"]}, geometry=[box(113.3, 23.1, 113.4, 23.2)])
    >>> page = render_workbench(PageOptions(), one, "n")
    >>> '<option value="crow" selected>直线距离</option>' in page, 'value="walk"' in page
    (True, False)
    >>> "JZMAP_STREET_NETWORK" in page
    True
    >>> page = render_workbench(PageOptions(), one, "n", walking=True, default_mode="walk")
    >>> '<option value="walk" selected>步行路网</option>' in page
    True
    """
    t = _TEXT[o.lang]
    ordered = (
        districts.sort_values("adcode", kind="stable")
        if "adcode" in districts.columns
        else districts
    )
    names = [str(n) for n in ordered["name"]]
    chosen_district = o.query.get("district") or names[0]
    if chosen_district not in names:
        chosen_district = next(
            (str(n) for n, c in zip(ordered["name"], ordered.get("adcode", []), strict=False)
             if str(c) == chosen_district),
            names[0],
        )  # fmt: skip
    category = o.category or Category.ELDERLY_CARE
    minutes = _int(o.query.get("minutes"), minutes, LIFE_CIRCLES)
    resolution = _int(o.query.get("res"), RESOLUTIONS[0], RESOLUTIONS)
    speed = o.query.get("speed", speed) if o.query.get("speed") in ("adult", "elderly") else speed
    kind = o.provider_kind.value if o.provider_kind else ""
    modes = MODES if walking else ("crow",)
    asked_mode = o.query.get("mode", "")
    mode = (
        asked_mode if asked_mode in modes else (default_mode if default_mode in modes else "crow")
    )

    def select(
        name: str,
        label: str,
        choices: Sequence[tuple[str, str]],
        chosen: str,
        described_by: str = "",
    ) -> str:
        options = "".join(
            f'<option value="{html.escape(v)}"{" selected" if v == chosen else ""}>'
            f"{html.escape(text)}</option>"
            for v, text in choices
        )
        described = f' aria-describedby="{described_by}"' if described_by else ""
        return (
            f'<label><span>{html.escape(label)}</span><select id="jz-wb-{name}" '
            f'name="{name}"{described}>{options}</select></label>'
        )

    controls = "".join(
        [
            select(
                "district",
                t["district"],
                [(n, district_label(n, o.lang)) for n in names],
                chosen_district,
            ),
            select(
                "category",
                t["category"],
                [(c.value, category_label(c, o.lang)) for c in Category],
                category.value,
            ),
            select(
                "minutes",
                t["minutes"],
                [(str(m), t["minutes_option"].format(m=m)) for m in LIFE_CIRCLES],
                str(minutes),
            ),
            select("speed", t["speed"], [("elderly", t["elderly"]), ("adult", t["adult"])], speed),
            select(
                "res",
                t["res"],
                [(str(r), t[f"res_{r}"]) for r in RESOLUTIONS],
                str(resolution),
            ),
            # Walking is offered only where the API can walk (else it answers a 409); the
            # sentence under the controls says what the operator does to offer it.
            select(
                "mode",
                t["mode"],
                [(m, t[m]) for m in modes],
                mode,
                described_by="" if walking else "jz-wb-mode-why",
            ),
            select(
                "kind",
                t["kind"],
                [("", t["any_kind"]), ("company", t["company"]), ("station", t["station"])],
                kind,
            ),
            select("k", t["k"], [(str(k), str(k)) for k in (1, 3, 5, 8, 10)], "5"),
        ]
    )
    street_head = _head(
        headers(STREET_SCREEN_FIELDS, o.lang), [f[0] for f in STREET_SCREEN_FIELDS], t
    )
    site_fields = ROOM_FIELDS if rooms else CELL_SITE_FIELDS
    site_head = (
        _head(headers(site_fields, o.lang), [f[0] for f in site_fields], t, sortable=False)
        + f'<th class="act">{html.escape(t["action"])}</th>'
    )
    config = {
        "lang": o.lang.value,
        "tiles": {"url": o.tiles_url, "attribution": o.tiles_attribution, "crs": o.tiles_crs.value},
        "maxZoom": o.tiles_max_zoom,
        "districts": districts_geojson(ordered, o.lang, o.tiles_crs),
        "legend": legend_items(o.lang),
        "siteColour": SITE_COLOUR,
        "streetFields": [[k, how] for k, _, _, how in STREET_SCREEN_FIELDS],
        "siteFields": [[k, how] for k, _, _, how in site_fields],
        # Her rooms are left out by id, gap cells by their H3 cell (the APIs' `exclude`).
        "sitesPath": ROOMS_PATH if rooms else CANDIDATES_PATH,
        "siteKey": "id" if rooms else "cell",
        "maxExcluded": MAX_EXCLUDED,
        # The workbook plans where the page does (sites=rooms|cells), in its language.
        "sites": "rooms" if rooms else "cells",
        "addressSources": address_sources(o.lang),
        "demandWords": {column: words[o.lang] for column, words in DEMAND_TEXT.items()},
        "text": t,
        "inferred": ["街道面", "推断"] if o.lang is Lang.ZH else ["polygons", "inferred"],
    }
    data = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
    legend = "".join(
        f'<span class="sw" style="background:{b["colour"]}"></span>{html.escape(b["label"])}'
        for b in legend_items(o.lang)
    ) + (
        f'<span class="sw" style="background:{SITE_COLOUR}"></span>{html.escape(t["site_legend"])}'
    )
    why = (
        ""
        if walking
        else f'<p class="jz-wb-why" id="jz-wb-mode-why">{html.escape(t["no_network"])}</p>\n'
    )
    # The print view's heading block; the script fills each <dd> (jz-wb-sum-<key>).
    summary = "".join(
        f'<dt>{html.escape(t[key])}</dt><dd id="jz-wb-sum-{key}"></dd>'
        for key in (
            "district", "category", "minutes", "speed", "mode", "res", "kind", "k",
            "excluded", "source", "date", "data_version",
        )
    )  # fmt: skip
    sites_source = t["rooms_source" if rooms else "cells_source"]
    lang_attr = "zh-CN" if o.lang is Lang.ZH else "en"
    map_link = "/map" + ("" if o.lang is Lang.ZH else "?lang=en")
    return f"""<!DOCTYPE html>
<html lang="{lang_attr}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(t["title"])}</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="{STATIC_URL}/{LEAFLET_CSS}">
<style nonce="{nonce}">{_CSS.replace("SITE_COLOUR", SITE_COLOUR)}</style>
<script nonce="{nonce}" src="{STATIC_URL}/{LEAFLET_JS}"></script>
<script nonce="{nonce}" src="{STATIC_URL}/{WORKBENCH_JS}"></script>
</head><body class="jz-workbench" data-workbench-state="loading">
<header class="jz-wb-head"><h1 id="jz-wb-title">{html.escape(t["title"])}</h1>
<form class="jz-wb-controls" id="jz-wb-form">{controls}
<div class="jz-wb-actions">
<a id="jz-wb-xlsx" href="#" download>{html.escape(t["xlsx"])}</a>
<a id="jz-wb-gpkg" href="#" download>{html.escape(t["gpkg"])}</a>
<button type="button" id="jz-wb-print">{html.escape(t["print"])}</button>
<a class="jz-wb-maplink" href="{html.escape(map_link)}">{html.escape(t["map_view"])}</a>
</div></form>
{why}<p class="jz-wb-note" id="jz-wb-query" aria-live="polite">{html.escape(t["loading"])}</p>
</header>
<main class="jz-wb-main"><div id="jz-wb-map" role="region" aria-label="map"></div>
<div class="jz-wb-side">
<section class="jz-wb-summary" id="jz-wb-summary" aria-labelledby="jz-wb-summary-h">
<h2 id="jz-wb-summary-h">{html.escape(t["summary"])}</h2><dl>{summary}</dl></section>
<p class="jz-wb-legend"><b>{html.escape(t["legend"])}</b>{legend}</p>
<p class="jz-wb-note" id="jz-wb-source"></p>
<h2>{html.escape(t["sites"])}</h2>
<p class="jz-wb-note" id="jz-wb-sites-source">{html.escape(sites_source)}</p>
<section class="jz-wb-excluded" aria-labelledby="jz-wb-excluded-h">
<h3 id="jz-wb-excluded-h">{html.escape(t["excluded"])}</h3>
<p class="jz-wb-note" id="jz-wb-excluded-none">{html.escape(t["none"])}</p>
<ul id="jz-wb-excluded"></ul></section>
<h3 id="jz-wb-sites-demand" aria-live="polite"></h3>
<div class="jz-wb-scroll">
<table id="jz-wb-sites"><thead><tr>{site_head}</tr></thead><tbody></tbody></table></div>
<h2>{html.escape(t["streets"])}</h2>
<div class="jz-wb-scroll">
<table id="jz-wb-streets"><thead><tr>{street_head}</tr></thead><tbody></tbody></table></div>
</div></main>
<script type="application/json" id="jz-wb-config">{data}</script>
</body></html>"""


def _head(
    labels: Sequence[str], keys: Sequence[str], t: dict[str, str], sortable: bool = True
) -> str:
    if not sortable:
        return "".join(f"<th>{html.escape(label)}</th>" for label in labels)
    return "".join(
        f'<th data-key="{html.escape(k)}" aria-sort="none"><button type="button" '
        f'title="{html.escape(t["sort"])}">{html.escape(label)}</button></th>'
        for k, label in zip(keys, labels, strict=True)
    )


def _int(value: str | None, default: int, allowed: Sequence[int]) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return number if number in allowed else default

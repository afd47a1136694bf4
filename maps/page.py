"""The map pages, built with folium: the full city map, the embeddable widget, and the
self-contained offline copy.

folium draws what does not change with the data: the Leaflet map, the basemap, the
district boundaries (shifted to GCJ-02 when the basemap is drawn in it) and the
server-rendered controls. What depends on the data is fetched by ``jzmap.js`` from the API
for the viewport in view (``/v1/map/layer``, ``/v1/providers/nearest``), so the page weighs
the same for 700 providers or a million. Leaflet is served from this site, never a CDN:
the map must load where there is no internet.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import folium
import numpy as np
import shapely
from branca.element import Figure

from geo.crs import CRS, from_wgs84
from geo.package_data import package_path
from maps.i18n import Lang, all_labels, category_label, district_label, text
from providers.model import Category, Grade, Kind

STATIC_DIR = package_path("maps", "static")
STATIC_URL = "/static"
LEAFLET_JS = "vendor/leaflet/leaflet.js"
LEAFLET_CSS = "vendor/leaflet/leaflet.css"
ASSETS_JS = ("jzmap.js",)
ASSETS_CSS = ("jzmap.css",)
WIDGET_JS = "widget.js"
# Guangzhou's centre and a zoom showing the whole city on a phone.
DEFAULT_CENTER = (113.42, 23.35)
DEFAULT_ZOOM = 9
# Boundary vertices closer than this (degrees, ~10 m) add weight, not detail, at city zoom.
_SIMPLIFY_DEG = 0.0001


class PageKind(StrEnum):
    MAP = "map"
    WIDGET = "widget"
    STATIC = "static"


@dataclass(frozen=True)
class PageOptions:
    """Everything a map page is built from; coordinates are WGS-84.

    ``point`` (lon, lat) is a place to search from as soon as the page opens.
    ``static_data`` holds the precomputed layers of the offline copy (see
    :func:`maps.export.static_layers`).
    """

    kind: PageKind = PageKind.MAP
    lang: Lang = Lang.ZH
    tiles_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tiles_attribution: str = "© OpenStreetMap contributors"
    tiles_crs: CRS = CRS.WGS84
    tiles_max_zoom: int = 19
    center: tuple[float, float] = DEFAULT_CENTER
    zoom: int = DEFAULT_ZOOM
    point: tuple[float, float] | None = None
    category: Category | None = None
    min_grade: Grade | None = None
    provider_kind: Kind | None = None
    certified_only: bool = False
    # The "open now" toggle: checked when the page opens; ``open_at`` (ISO 8601) fixes
    # the time it asks about (a shared link, a test), else it asks about now.
    open_now: bool = False
    open_at: str | None = None
    coverage: bool = False
    large_text: bool = False
    embed_origins: tuple[str, ...] = ()
    static_data: dict[str, Any] | None = None
    query: dict[str, str] = field(default_factory=dict)


class LocalMap(folium.Map):
    """A folium map that loads Leaflet from this site instead of public CDNs (and none of
    folium's other defaults: jQuery, Bootstrap, Font Awesome are not used here)."""

    default_js = [("leaflet", f"{STATIC_URL}/{LEAFLET_JS}")]  # noqa: RUF012 (folium's)
    default_css = [("leaflet_css", f"{STATIC_URL}/{LEAFLET_CSS}")]  # noqa: RUF012


def districts_geojson(districts: Any, lang: Lang, crs: CRS) -> dict[str, Any]:
    """District polygons, lightly simplified, in the basemap's datum, labelled in ``lang``."""
    geoms = shapely.simplify(
        np.asarray(districts.geometry.to_numpy()), _SIMPLIFY_DEG, preserve_topology=True
    )
    if crs is not CRS.WGS84:

        def shift(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
            lon, lat = from_wgs84(coords[:, 0], coords[:, 1], crs)
            return np.column_stack([lon, lat])

        geoms = shapely.transform(geoms, shift)
    geoms = shapely.set_precision(geoms, 1e-5)  # ~1 m: the page carries no false detail
    features = [
        {
            "type": "Feature",
            "properties": {"name": str(name), "label": district_label(str(name), lang)},
            "geometry": shapely.geometry.mapping(geom),
        }
        for name, geom in zip(districts["name"], geoms, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


def _options_html(name: str, label: str, choices: list[tuple[str, str]], chosen: str) -> str:
    options = "".join(
        f'<option value="{html.escape(value)}"{" selected" if value == chosen else ""}>'
        f"{html.escape(text_)}</option>"
        for value, text_ in choices
    )
    return (
        f'<label class="jz-field"><span>{html.escape(label)}</span>'
        f'<select id="jz-{name}" name="{name}">{options}</select></label>'
    )


def _panel_html(o: PageOptions) -> str:
    """The controls and the results list, rendered here so they work with a keyboard and a
    screen reader before any script runs."""
    t = text(o.lang)
    category = _options_html(
        "category",
        t["category"],
        [("", t["any_category"])] + [(c.value, category_label(c, o.lang)) for c in Category],
        o.category.value if o.category else "",
    )
    controls = []
    if o.kind is PageKind.MAP:
        controls.append(
            _options_html(
                "view",
                t["view"],
                [("providers", t["view_providers"]), ("coverage", t["view_coverage"])],
                "coverage" if o.coverage else "providers",
            )
        )
    controls.append(category)
    if o.kind is PageKind.WIDGET:
        # One visible control; the host app's other choices still filter every request.
        for name, value in (
            ("min_grade", o.min_grade.value if o.min_grade else ""),
            ("kind", o.provider_kind.value if o.provider_kind else ""),
        ):
            controls.append(
                f'<input type="hidden" id="jz-{name}" name="{name}" value="{html.escape(value)}">'
            )
        # A checkbox (filters() reads .checked), hidden like the others.
        checked = " checked" if o.certified_only else ""
        controls.append(
            f'<input type="checkbox" hidden id="jz-certified_only" name="certified_only"{checked}>'
        )
    # The offline copy holds counts per category only.
    if o.kind is PageKind.MAP:
        controls.append(
            _options_html(
                "min_grade",
                t["min_grade"],
                [("", t["any_grade"])] + [(g.value, g.value) for g in Grade],
                o.min_grade.value if o.min_grade else "",
            )
        )
        controls.append(
            _options_html(
                "kind",
                t["kind"],
                [("", t["any_kind"])] + [(k.value, t[k.value]) for k in Kind],
                o.provider_kind.value if o.provider_kind else "",
            )
        )
        checked = " checked" if o.certified_only else ""
        controls.append(
            f'<label class="jz-check"><input type="checkbox" id="jz-certified_only" '
            f'name="certified_only"{checked}> {html.escape(t["certified_only"])}</label>'
        )
    if o.kind is not PageKind.STATIC:
        # Open now (issue 16): on the map and the widget alike; the offline copy has no API.
        checked = " checked" if o.open_now else ""
        controls.append(
            f'<label class="jz-check"><input type="checkbox" id="jz-open_now" '
            f'name="open_now"{checked}> {html.escape(t["open_now"])}</label>'
        )
    buttons = []
    if o.kind is not PageKind.STATIC:
        buttons.append(
            f'<button type="button" id="jz-locate">{html.escape(t["locate"])}</button>'
            f'<button type="button" id="jz-search-centre">{html.escape(t["search_centre"])}'
            "</button>"
        )
    pressed = "true" if o.large_text else "false"
    buttons.append(
        f'<button type="button" id="jz-large-text" aria-pressed="{pressed}">'
        f"{html.escape(t['large_text'])}</button>"
    )
    other = Lang.EN if o.lang is Lang.ZH else Lang.ZH
    if o.kind is not PageKind.STATIC:
        query = {**o.query, "lang": other.value}
        href = "?" + "&".join(f"{html.escape(k)}={html.escape(v)}" for k, v in query.items())
        buttons.append(
            f'<a id="jz-lang" href="{href}" lang="{other.value}">{html.escape(t["language"])}</a>'
        )
    heading = t["widget_title"] if o.kind is PageKind.WIDGET else t["title"]
    hint = t["offline"] if o.kind is PageKind.STATIC else t["results_hint"]
    search = _search_html(o) if o.kind is PageKind.MAP else ""
    results_head = ""
    if o.kind is not PageKind.STATIC:
        results_head = (
            '<div class="jz-results-head">'
            f'<p id="jz-count" class="jz-count" aria-live="polite"></p>{_sort_html(o)}'
            f'<button type="button" id="jz-sheet-toggle" class="jz-sheet-toggle" hidden '
            f'aria-expanded="false">{html.escape(t["show_map"])}</button>'
            "</div>"
        )
    return (
        f'<aside id="jz-panel" class="jz-panel" aria-label="{html.escape(heading)}">'
        '<div id="jz-main" class="jz-main">'
        f'<h1 class="jz-title">{html.escape(heading)}</h1>'
        f"{search}"
        f'<form id="jz-controls" class="jz-controls">{"".join(controls)}</form>'
        f'<div class="jz-buttons">{"".join(buttons)}</div>'
        f'<p id="jz-status" class="jz-status" role="status" aria-live="polite"></p>'
        '<ul id="jz-legend" class="jz-legend" hidden></ul>'
        f"{_marker_legend_html(o)}"
        f'<h2 id="jz-results-title" class="jz-results-title">{html.escape(t["results"])}</h2>'
        f"{results_head}"
        f'<p id="jz-hint" class="jz-hint">{html.escape(hint)}</p>'
        '<ol id="jz-results" class="jz-results"></ol>'
        "</div>"
        # Phones: a provider's details replace the list in this sheet (no popup to spill
        # past the map); wide screens keep the map's popups.
        '<section id="jz-details" class="jz-details" hidden aria-live="polite">'
        f'<button type="button" id="jz-details-back" class="jz-back">{html.escape(t["back"])}'
        '</button><div id="jz-details-body"></div></section>'
        "</aside>"
    )


def _search_html(o: PageOptions) -> str:
    """The place search box: an ARIA 1.2 combobox whose listbox the page script fills
    from ``/v1/places/suggest`` as she types."""
    t = text(o.lang)
    return (
        '<div class="jz-search" role="search">'
        f'<label for="jz-place" class="jz-search-label">{html.escape(t["place_label"])}</label>'
        '<div class="jz-combo">'
        '<input id="jz-place" type="text" role="combobox" aria-autocomplete="list" '
        'aria-expanded="false" aria-controls="jz-place-list" autocomplete="off" '
        f'maxlength="50" enterkeyhint="search" placeholder="{html.escape(t["place_hint"])}">'
        '<ul id="jz-place-list" class="jz-place-list" role="listbox" '
        f'aria-label="{html.escape(t["place_label"])}" hidden></ul>'
        "</div></div>"
    )


def _sort_html(o: PageOptions) -> str:
    """综合推荐 / 距离最近: the API's ``sort=score|distance``, as two radio buttons."""
    t = text(o.lang)
    radios = "".join(
        f'<label class="jz-sort-option"><input type="radio" name="jz-sort" value="{value}"'
        f"{' checked' if value == 'score' else ''}> {html.escape(t[key])}</label>"
        for value, key in (("score", "sort_score"), ("distance", "sort_distance"))
    )
    return (
        f'<fieldset id="jz-sort" class="jz-sort"><legend>{html.escape(t["sort"])}</legend>'
        f"{radios}</fieldset>"
    )


def _marker_legend_html(o: PageOptions) -> str:
    """What the markers' colours and letters mean; A is the lowest grade, which nobody
    guesses."""
    if o.kind is PageKind.STATIC:
        return ""
    t = text(o.lang)
    items = [
        f'<li><span class="jz-key jz-company jz-g{grade.value}" aria-hidden="true">'
        f"{grade.value}</span>{html.escape(t['legend_grade_' + grade.value])}</li>"
        for grade in Grade
    ]
    items.append(
        '<li><span class="jz-key jz-station" aria-hidden="true">'
        f"{html.escape(t['station_mark'])}</span>{html.escape(t['legend_station'])}</li>"
    )
    items.append(
        '<li><span class="jz-key jz-ranked" aria-hidden="true">1</span>'
        f"{html.escape(t['legend_ranked'])}</li>"
    )
    items.append(
        '<li><span class="jz-key jz-here" aria-hidden="true"></span>'
        f"{html.escape(t['you_are_here'])}</li>"
    )
    return (
        f'<details id="jz-marker-legend" class="jz-marker-legend"><summary>'
        f"{html.escape(t['legend'])}</summary><ul>{''.join(items)}</ul></details>"
    )


def _config(o: PageOptions, map_var: str, districts_var: str) -> dict[str, Any]:
    point = None
    if o.point is not None:
        lon, lat = from_wgs84(o.point[0], o.point[1], o.tiles_crs)
        point = {"lon": float(lon), "lat": float(lat)}
    return {
        "page": o.kind.value,
        "lang": o.lang.value,
        "text": text(o.lang),
        "labels": all_labels(o.lang),
        "crs": o.tiles_crs.value,
        "api": "",
        "mapVar": map_var,
        "districtsVar": districts_var,
        "point": point,
        "embedOrigins": list(o.embed_origins),
        "largeText": o.large_text,
        "openAt": o.open_at,
        "static": o.static_data,
    }


def render_page(o: PageOptions, districts: Any, nonce: str = "") -> str:
    """The HTML of a map page.

    Parameters
    ----------
    o
        What to show; see :class:`PageOptions`.
    districts
        District polygons (a GeoDataFrame with ``name``, WGS-84).
    nonce
        Put on every ``<script>`` and ``<style>`` so a Content-Security-Policy can allow
        exactly them; empty for the offline copy.
    """
    center_lon, center_lat = from_wgs84(o.center[0], o.center[1], o.tiles_crs)
    m = LocalMap(
        location=[float(center_lat), float(center_lon)],
        zoom_start=o.zoom,
        tiles=None,
        control_scale=True,
        max_zoom=o.tiles_max_zoom,
    )
    folium.TileLayer(
        o.tiles_url, attr=o.tiles_attribution, name="basemap", max_zoom=o.tiles_max_zoom
    ).add_to(m)
    boundaries = folium.GeoJson(
        districts_geojson(districts, o.lang, o.tiles_crs),
        name="districts",
        style_function=lambda _: {
            "color": "#46505a",
            "weight": 1.5,
            "fillColor": "#46505a",
            "fillOpacity": 0.03,
        },
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
    ).add_to(m)
    root = m.get_root()
    assert isinstance(root, Figure)
    t = text(o.lang)
    title = t["widget_title"] if o.kind is PageKind.WIDGET else t["title"]
    root.header.add_child(
        folium.Element(
            f"<title>{html.escape(title)}</title>"
            # No favicon request (a 404 in every console).
            '<link rel="icon" href="data:,">'
        )
    )
    for css in ASSETS_CSS:
        root.header.add_child(folium.CssLink(f"{STATIC_URL}/{css}"))
    for js in ASSETS_JS:
        root.header.add_child(folium.JavascriptLink(f"{STATIC_URL}/{js}"))
    if o.kind is PageKind.WIDGET:
        # The host page's messages (maps/static/widget.js): the widget alone talks to one.
        root.header.add_child(folium.JavascriptLink(f"{STATIC_URL}/{WIDGET_JS}"))
    config = json.dumps(_config(o, m.get_name(), boundaries.get_name()), ensure_ascii=False)
    # "</" cannot end the script element early inside JSON strings.
    config = config.replace("</", "<\\/")
    classes = f"jz-page jz-{o.kind.value}" + (" jz-large" if o.large_text else "")
    root.html.add_child(
        folium.Element(
            f'<script type="application/json" id="jz-config">{config}</script>' + _panel_html(o)
        )
    )
    root.script.add_child(
        # After the page's scripts ran: folium writes the map's own script after this one.
        folium.Element(
            'document.addEventListener("DOMContentLoaded", function () {'
            f" window.jzmapStart({m.get_name()}, {boundaries.get_name()}); }});"
        )
    )
    page = str(root.render())
    # The large-text class on the root too: the styles are in rem, the root's font size.
    root_class = ' class="jz-large"' if o.large_text else ""
    page = page.replace(
        "<html>", f'<html lang="{"zh-CN" if o.lang is Lang.ZH else "en"}"{root_class}>', 1
    )
    page = page.replace("<body>", f'<body class="{classes}">', 1)
    if o.kind is PageKind.STATIC:
        return inline_assets(page)
    if nonce:
        page = re.sub(r"<(script|style)(?=[\s>])", rf'<\1 nonce="{nonce}"', page)
    return page


def inline_assets(page: str) -> str:
    """Replace this site's script and stylesheet links by their content: one file."""

    def script(match: re.Match[str]) -> str:
        body = (STATIC_DIR / match.group(1)).read_text(encoding="utf-8")
        return "<script>" + body.replace("</script", "<\\/script") + "</script>"

    def style(match: re.Match[str]) -> str:
        body = (STATIC_DIR / match.group(1)).read_text(encoding="utf-8")
        return "<style>" + body + "</style>"

    page = re.sub(rf'<script src="{STATIC_URL}/([^"]+)"></script>', script, page)
    return re.sub(rf'<link rel="stylesheet" href="{STATIC_URL}/([^"]+)"/>', style, page)

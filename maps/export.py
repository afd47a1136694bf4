"""The offline copy of the city map (``jzmap map --out city.html``): one self-contained HTML
file a district office can open without a network or a server.

It carries counts, not providers: per district, and per H3 cell of resolution 7 (~5 km²),
for every category; so its size depends on the city's area, not on how many providers it
holds. The geometry comes from the same presenter the API uses, so the copy draws exactly
what ``/v1/map/layer`` would answer.
"""

from __future__ import annotations

import base64
import mimetypes
from typing import Any

from geo.crs import CRS
from jzmap.presentation.presenters import layer_out
from maps.i18n import Lang
from maps.page import STATIC_DIR, STATIC_URL, PageKind, PageOptions, render_page
from providers.model import Category
from providers.store import Filters, ProviderStore, TallyBy
from providers.viewport import DISTRICTS_BELOW_ZOOM, Layer, LayerMode

STATIC_RESOLUTION = 7


def static_layers(
    store: ProviderStore, district_points: dict[str, tuple[float, float]], crs: CRS
) -> dict[str, Any]:
    """Counts per district and per H3 cell for all providers and for each category.

    Returns
    -------
    dict
        ``districts`` and ``cells``: GeoJSON-like collections whose features carry
        ``counts`` keyed ``all`` or by category; ``cells_from_zoom``: the zoom from which
        the page shows cells rather than districts.
    """
    keys: dict[str, Filters] = {"all": Filters()}
    keys.update({c.value: Filters(category=c) for c in Category})
    layers: dict[str, dict[str, Any]] = {"districts": {}, "cells": {}}
    for key, filters in keys.items():
        for name, by, mode in (
            ("districts", TallyBy.DISTRICT, LayerMode.DISTRICTS),
            ("cells", TallyBy.H3_R7, LayerMode.CELLS),
        ):
            counts = store.tally(filters, by)
            layer = Layer(mode, sum(counts.values()), counts=counts, resolution=STATIC_RESOLUTION)
            for feature in layer_out(layer, crs, district_points).features:
                merged = layers[name].setdefault(
                    feature.id,
                    {"geometry": feature.geometry, "properties": {"counts": {}}},
                )
                merged["properties"]["counts"][key] = feature.properties["count"]
                if name == "districts":
                    merged["properties"]["name"] = feature.properties["name"]
    return {
        "districts": {"features": list(layers["districts"].values())},
        "cells": {"features": list(layers["cells"].values())},
        "cells_from_zoom": DISTRICTS_BELOW_ZOOM,
    }


def export_static_map(
    store: ProviderStore,
    districts: Any,
    district_points: dict[str, tuple[float, float]],
    *,
    lang: Lang = Lang.ZH,
    tiles_url: str,
    tiles_attribution: str,
    tiles_crs: CRS,
) -> str:
    """The HTML of the offline copy (Leaflet, styles, script and data inlined).

    A basemap served by this site (``/static/…``) is inlined too, as a data URL.
    """
    if tiles_url.startswith(f"{STATIC_URL}/"):
        tile = (STATIC_DIR / tiles_url.removeprefix(f"{STATIC_URL}/")).resolve()
        if STATIC_DIR.resolve() not in tile.parents:
            raise ValueError(f"tiles_url {tiles_url!r} is outside the static files")
        mime = mimetypes.guess_type(tile.name)[0] or "image/png"
        tiles_url = f"data:{mime};base64,{base64.b64encode(tile.read_bytes()).decode()}"
    options = PageOptions(
        kind=PageKind.STATIC,
        lang=lang,
        tiles_url=tiles_url,
        tiles_attribution=tiles_attribution,
        tiles_crs=tiles_crs,
        static_data=static_layers(store, district_points, tiles_crs),
    )
    return render_page(options, districts)

"""The vector tiles' public description: a TileJSON 3.0.0 document.

What a tile's features carry is decided by the stores' tile contract
(:meth:`providers.store.ProviderStore.tile`), which mirrors the map layer's point summary
here (no phone, no address, no practitioner); this module says so to map clients.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from providers.store import TILE_LAYER
from providers.tiles import TILE_ZOOMS
from providers.viewport import DISTRICTS_BELOW_ZOOM

TILE_FIELDS: dict[str, str] = {
    "mode": "String: districts (counts per district, zoom below "
    f"{DISTRICTS_BELOW_ZOOM}), cells (counts per H3 cell) or points (one provider)",
    "count": "Number: providers counted here (districts, cells)",
    "district": "String: the district's name (districts)",
    "cell": "String: the H3 cell, hex (cells)",
    "id": "String: the provider's id, as /v1/providers/{provider_id} takes it (points)",
    "name": "String: the provider's name (points)",
    "kind": "String: company or station (points)",
    "categories": "String: its categories, comma-separated: elderly_care, housekeeping, "
    "maternal_infant, nursing (points)",
    "credit_grade": "String: 5A, 4A, 3A, 2A or A; companies only (points)",
    "certified_practitioners": "Number: practitioners holding the 安心服务证 (points)",
    "approximate": "Boolean: located to its street or district only (points)",
}


class VectorLayerOut(BaseModel):
    id: str
    description: str
    minzoom: int
    maxzoom: int
    fields: dict[str, str]


class TileJsonOut(BaseModel):
    """A TileJSON 3.0.0 document: what MapLibre's ``"url"`` source option reads."""

    tilejson: Literal["3.0.0"] = "3.0.0"
    name: str
    description: str
    version: str = "1.0.0"
    attribution: str
    scheme: Literal["xyz"] = "xyz"
    tiles: list[str] = Field(description="the tile URL template, with the request's filters")
    minzoom: int
    maxzoom: int
    bounds: list[float] = Field(description="west, south, east, north of the city, WGS-84")
    center: list[float] = Field(description="longitude, latitude, zoom")
    vector_layers: list[VectorLayerOut]


def tilejson_out(
    tiles_url: str, bounds: tuple[float, float, float, float], attribution: str
) -> TileJsonOut:
    """The TileJSON of the providers' tiles at ``tiles_url`` (a ``{z}/{x}/{y}`` template)
    over a city of ``bounds`` (WGS-84 west, south, east, north)."""
    west, south, east, north = bounds
    low, high = TILE_ZOOMS
    return TileJsonOut(
        name="Jiazheng Map providers (家政地图)",
        description="Domestic-service providers: counts per district below zoom "
        f"{DISTRICTS_BELOW_ZOOM}, then per H3 cell, and the providers one by one where a "
        "tile holds few enough",
        attribution=attribution,
        tiles=[tiles_url],
        minzoom=low,
        maxzoom=high,
        bounds=[round(v, 6) for v in (west, south, east, north)],
        center=[round((west + east) / 2, 6), round((south + north) / 2, 6), DISTRICTS_BELOW_ZOOM],
        vector_layers=[
            VectorLayerOut(
                id=TILE_LAYER,
                description="domestic-service providers (companies and stations)",
                minzoom=low,
                maxzoom=high,
                fields=TILE_FIELDS,
            )
        ],
    )

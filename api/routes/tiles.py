"""``/tiles``: the providers as Mapbox Vector Tiles (Web-Mercator quad) and their TileJSON.

One layer, ``providers``, under the map layer's rule (:mod:`providers.tiles`), with the
map layer's filters. A tile carries a strong ``ETag`` (the data version, the address,
the filters) and ``Cache-Control: public, max-age=JZMAP_VECTOR_TILE_MAX_AGE_S``; a
request whose ``If-None-Match`` names the current tag is answered ``304`` without
building the tile.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.dependencies import FiltersDep, SettingsDep, StoreDep
from api.params import ALLOWED
from geo.tiles import Tile
from jzmap.presentation.schemas import ErrorOut
from jzmap.presentation.tiles import TileJsonOut, tilejson_out
from jzmap.wiring import city_boundary
from providers.errors import InvalidParameterError
from providers.tiles import TILE_ZOOMS, provider_tile, tile_etag

router = APIRouter(prefix="/tiles", tags=["tiles"])

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
_MAX_INDEX = 2 ** TILE_ZOOMS[1] - 1


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak forms compare equal, as
    RFC 9110 has it for this header)."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.get(
    "/{z}/{x}/{y}.mvt",
    response_class=Response,
    responses={
        200: {
            "description": "a Mapbox Vector Tile (MVT 2.1) with one layer, `providers`; "
            "empty (no layer) where no provider passes",
            "content": {MVT_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        },
        304: {"description": "the tile `If-None-Match` names is still current"},
        422: {"model": ErrorOut},
        503: {"model": ErrorOut},
    },
    summary="A vector tile of the providers: district counts, H3 cell counts, or providers",
)
def vector_tile(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    filters: FiltersDep,
    z: Annotated[int, Path(ge=TILE_ZOOMS[0], le=TILE_ZOOMS[1], description="zoom")],
    x: Annotated[int, Path(ge=0, le=_MAX_INDEX, description="column from the west")],
    y: Annotated[int, Path(ge=0, le=_MAX_INDEX, description="row from the north")],
) -> Response:
    try:
        tile = Tile(z, x, y)
    except ValueError as exc:
        name = "x" if x > 2**z - 1 else "y"
        raise InvalidParameterError.of(
            name, str(exc), got=x if name == "x" else y, allowed=ALLOWED[name]
        ) from None
    wanted = filters.filters()
    cap = settings.map.map_point_cap
    headers = {
        "ETag": tile_etag(store.data_version(), tile, wanted, cap),
        "Cache-Control": f"public, max-age={settings.map.vector_tile_max_age_s}",
    }
    if _matches(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    answer = provider_tile(store, tile, wanted, cap)
    return Response(answer.tile.data, media_type=MVT_MEDIA_TYPE, headers=headers)


@router.get(
    "/tilejson.json",
    response_model=TileJsonOut,
    responses={422: {"model": ErrorOut}},
    summary="The TileJSON 3.0.0 of the providers' vector tiles (for MapLibre's `url`)",
)
def tilejson(request: Request, settings: SettingsDep, filters: FiltersDep) -> TileJsonOut:
    """The tile URL it gives carries this request's filters, so a map source made from
    ``/tiles/tilejson.json?category=nursing`` draws nursing providers only."""
    query = urlencode(
        {
            key: str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in filters.model_dump(mode="json", exclude_defaults=True).items()
        }
    )
    base = str(request.base_url).rstrip("/")
    template = f"{base}/tiles/{{z}}/{{x}}/{{y}}.mvt" + (f"?{query}" if query else "")
    west, south, east, north = (float(v) for v in city_boundary(settings.city).outline.bounds)
    return tilejson_out(template, (west, south, east, north), "家政地图 Jiazheng Map")

"""``/v1/map``: what a map viewport needs, bounded whatever the number of providers.

The box is bounded by the zoom too: from zoom 11 on (cells or providers) it may not be
larger than a screen of :data:`MAX_VIEWPORT_PX` pixels a side shows at that zoom, so a
request cannot ask for the cells of a continent at street level. Past the zoom where the
cells are finest (:data:`FINEST_ZOOM`) the answer costs what it costs there, so the box
allowed there stays allowed.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.dependencies import CoverageDep, FiltersDep, SettingsDep, StoreDep
from api.params import ALLOWED
from geo.crs import CRS, to_wgs84
from jzmap.application.coverage import community_counts
from jzmap.presentation.presenters import area_layer_out, layer_out
from jzmap.presentation.schemas import ErrorOut, LayerOut
from jzmap.wiring import district_points
from providers.errors import InvalidParameterError, ParameterProblem
from providers.store import BBox
from providers.viewport import (
    DISTRICTS_BELOW_ZOOM,
    ZOOM_BOUNDS,
    Layer,
    LayerMode,
    Level,
    resolution_for_zoom,
    viewport_layer,
)

router = APIRouter(prefix="/v1/map", tags=["map"])

MAX_VIEWPORT_PX = 4_096
"""The widest and tallest viewport served, in CSS pixels: more than any screen's map (a 4K
monitor is 3,840 wide), far less than the world at street zoom."""
_TILE_PX = 256
FINEST_ZOOM = min(
    z
    for z in range(DISTRICTS_BELOW_ZOOM, ZOOM_BOUNDS[1] + 1)
    if resolution_for_zoom(z) == resolution_for_zoom(ZOOM_BOUNDS[1])
)
"""The first zoom at the finest H3 resolution (13: resolution 9)."""
_MERCATOR_MAX_LAT = 85.0511287798


def viewport_px(box: BBox, zoom: int) -> tuple[float, float]:
    """Width and height of ``box`` in Web-Mercator pixels at ``zoom`` (Leaflet's).

    Examples
    --------
    >>> [round(v) for v in viewport_px(BBox(0.0, -10.0, 90.0, 10.0), 0)]
    [64, 14]
    """
    world_px = _TILE_PX * 2.0**zoom

    def y(lat: float) -> float:
        lat = max(-_MERCATOR_MAX_LAT, min(_MERCATOR_MAX_LAT, lat))
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    width = (box.east - box.west) / 360.0 * world_px
    height = (y(box.north) - y(box.south)) / (2 * math.pi) * world_px
    return width, height


def check_box_fits(box: BBox, zoom: int, got: str) -> None:
    """Raise a 422 for a box larger than a screen shows at ``zoom``."""
    if zoom < DISTRICTS_BELOW_ZOOM:
        return  # counts per district: the box is not used
    zoom = min(zoom, FINEST_ZOOM)
    width, height = viewport_px(box, zoom)
    if max(width, height) <= MAX_VIEWPORT_PX:
        return
    widest_deg = MAX_VIEWPORT_PX / (_TILE_PX * 2.0**zoom) * 360.0
    message = (
        f"bbox: {box.east - box.west:.4g}° × {box.north - box.south:.4g}° is more than a map "
        f"at zoom {zoom} shows (about {width:,.0f} × {height:,.0f} pixels; at most "
        f"{MAX_VIEWPORT_PX:,} a side, about {widest_deg:.3g}° of longitude): send the box in "
        f"view, or a zoom below {DISTRICTS_BELOW_ZOOM} for counts per district"
    )
    allowed = f"{ALLOWED['bbox']}; at most {MAX_VIEWPORT_PX:,} pixels a side at the zoom"
    raise InvalidParameterError(message, [ParameterProblem("bbox", message, allowed, got)])


def parse_bbox(text: str, crs: CRS) -> BBox:
    """``west,south,east,north`` in ``crs`` to a WGS-84 box holding all four corners.

    Raises :class:`~providers.errors.InvalidParameterError` (a 422) saying what is wrong.
    """
    try:
        return _wgs84_box(text, crs)
    except ValueError as exc:
        raise InvalidParameterError.of(
            "bbox", str(exc), got=text, allowed=ALLOWED["bbox"]
        ) from None


def _wgs84_box(text: str, crs: CRS) -> BBox:
    parts = text.split(",")
    try:
        west, south, east, north = (float(part) for part in parts)
    except ValueError:
        raise ValueError(f"four numbers are needed, got {text!r}") from None
    if crs is not CRS.WGS84:
        lon, lat = to_wgs84([west, east, west, east], [south, south, north, north], crs)
        west, east = float(min(lon)), float(max(lon))
        south, north = float(min(lat)), float(max(lat))
    # A viewport may reach past the poles or the antimeridian when zoomed far out.
    return BBox(max(west, -180.0), max(south, -90.0), min(east, 180.0), min(north, 90.0))


@router.get(
    "/layer",
    response_model=LayerOut,
    responses={
        200: {
            "description": "a GeoJSON FeatureCollection",
            "content": {
                "application/geo+json": {"schema": {"$ref": "#/components/schemas/LayerOut"}}
            },
        },
        422: {"model": ErrorOut},
        503: {"model": ErrorOut},
    },
    summary="A map viewport's data: district counts, H3 cell counts, or providers",
)
def layer(
    store: StoreDep,
    settings: SettingsDep,
    filters: FiltersDep,
    bbox: Annotated[
        str,
        Query(
            max_length=200,
            pattern=r"^\s*[-+]?[0-9.eE]+\s*(,\s*[-+]?[0-9.eE]+\s*){3}$",
            description="west,south,east,north of the viewport, in `crs`; from zoom 11 on, "
            f"at most {MAX_VIEWPORT_PX:,} pixels a side at `zoom` (at zoom {FINEST_ZOOM} "
            "past it)",
            examples=["113.25,23.08,113.40,23.16"],
        ),
    ],
    zoom: Annotated[int, Query(ge=ZOOM_BOUNDS[0], le=ZOOM_BOUNDS[1])],
    coverage: CoverageDep,
    crs: Annotated[CRS, Query(description="CRS of the bbox and of the answer")] = CRS.WGS84,
    level: Annotated[
        Level | None,
        Query(
            description="street: counts per street (街道) of the city, on the street polygons "
            "of JZMAP_STREETS_LAYER or at street points; community: counts per community "
            "(社区) in view (needs JZMAP_COMMUNITIES_LAYER); unset: by zoom (districts, cells, "
            "providers)"
        ),
    ] = None,
) -> Response:
    box = parse_bbox(bbox, crs)
    check_box_fits(box, zoom, bbox)
    if level is Level.STREET:
        answer = viewport_layer(store, box, zoom, filters.filters(), level=level)
        body = area_layer_out(answer, crs, coverage.street_areas(box))
        return Response(body.model_dump_json(), media_type="application/geo+json")
    if level is Level.COMMUNITY:
        areas = coverage.community_areas(box)
        if areas is None:
            raise InvalidParameterError.of(
                "level",
                "community needs community polygons (JZMAP_COMMUNITIES_LAYER); use street",
                got="community",
                allowed="street",
            )
        try:
            counts = community_counts(store, areas, filters.filters())
        except ValueError as exc:
            raise InvalidParameterError.of(
                "zoom", str(exc), got=zoom, allowed="a smaller box"
            ) from None
        layer_ = Layer(LayerMode.COMMUNITIES, sum(counts.values()), counts=counts)
        body = area_layer_out(layer_, crs, areas)
        return Response(body.model_dump_json(), media_type="application/geo+json")
    answer = viewport_layer(store, box, zoom, filters.filters(), settings.map.map_point_cap)
    body = layer_out(answer, crs, district_points(settings.city))
    return Response(body.model_dump_json(), media_type="application/geo+json")

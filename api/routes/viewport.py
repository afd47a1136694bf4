"""``/v1/map``: what a map viewport needs, bounded whatever the number of providers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from api.deps import SettingsDep, StoreDep
from api.errors import error_body
from api.params import ALLOWED
from api.presenters import layer_out
from api.schemas import ErrorOut, LayerOut
from geo.crs import CRS, to_wgs84
from jzmap.services import district_points
from providers.model import Category, Grade, Kind
from providers.store import BBox, Filters
from providers.viewport import ZOOM_BOUNDS, viewport_layer

router = APIRouter(prefix="/v1/map", tags=["map"])


def parse_bbox(text: str, crs: CRS) -> BBox:
    """``west,south,east,north`` in ``crs`` to a WGS-84 box holding all four corners.

    Raises ``ValueError`` with a message for a person.
    """
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


def _filters(
    category: Category | None = None,
    min_grade: Annotated[
        Grade | None, Query(description="companies graded at least this; stations stay")
    ] = None,
    kind: Kind | None = None,
    certified_only: bool = False,
    include_approximate: bool = False,
) -> Filters:
    return Filters(
        category=category,
        min_grade=min_grade,
        kind=kind,
        certified_only=certified_only,
        include_approximate=include_approximate,
    )


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
    filters: Annotated[Filters, Depends(_filters)],
    bbox: Annotated[
        str,
        Query(
            max_length=200,
            pattern=r"^\s*[-+]?[0-9.eE]+\s*(,\s*[-+]?[0-9.eE]+\s*){3}$",
            description="west,south,east,north of the viewport, in `crs`",
            examples=["113.25,23.08,113.40,23.16"],
        ),
    ],
    zoom: Annotated[int, Query(ge=ZOOM_BOUNDS[0], le=ZOOM_BOUNDS[1])],
    crs: Annotated[CRS, Query(description="CRS of the bbox and of the answer")] = CRS.WGS84,
) -> Response:
    try:
        box = parse_bbox(bbox, crs)
    except ValueError as exc:
        message = f"bbox: {exc}; allowed: {ALLOWED['bbox']}"
        detail = {"parameter": "bbox", "message": message, "allowed": ALLOWED["bbox"]}
        return JSONResponse(
            status_code=422,
            content=error_body("invalid_parameter", message, [{**detail, "got": bbox}]),
        )
    answer = viewport_layer(store, box, zoom, filters, settings.map_point_cap)
    body = layer_out(answer, crs, district_points(settings))
    return Response(body.model_dump_json(), media_type="application/geo+json")

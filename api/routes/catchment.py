"""``/v1/providers/{id}/catchment``: the area a provider reaches in a few minutes' walk.

The walking isochrone over the street network (``JZMAP_STREET_NETWORK``) as a GeoJSON
polygon, or the crow-fly circle of the same minutes (``mode=crow``, the default when no
network is configured).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import shapely
from fastapi import APIRouter, Query
from fastapi.responses import Response
from shapely.geometry.base import BaseGeometry

from api.dependencies import CoverageDep, ProviderDep
from gaps.network import MODE_LABELS
from geo.crs import CRS
from jzmap.application.coverage import MAX_MINUTES
from jzmap.application.network import provider_catchment
from jzmap.presentation.coverage import json_bytes
from jzmap.presentation.presenters import coordinates_in
from jzmap.presentation.schemas import ErrorOut

router = APIRouter(prefix="/v1/providers", tags=["coverage"])


@router.get(
    "/{provider_id}/catchment",
    response_class=Response,
    responses={
        200: {
            "content": {"application/geo+json": {}},
            "description": "a GeoJSON Feature: the (Multi)Polygon reached, in `crs`",
        },
        404: {"model": ErrorOut},
        409: {"model": ErrorOut, "description": "mode=walk with no street network"},
    },
    summary="The area a provider reaches in `minutes` (walking isochrone or crow-fly circle)",
    description="mode=walk: every way walked within the time from the foot on the provider's "
    "nearest way (its walk to the street counted), drawn as a band 40 m either side and "
    "unioned (buffered reached ways, so a river between two reached banks stays out); "
    "mode=crow: the geodesic circle of minutes × speed. Default: walk when "
    "JZMAP_STREET_NETWORK is set, crow otherwise. The polygon is empty when the provider "
    "is farther than JZMAP_NETWORK_MAX_SNAP_M from every walkable way.",
)
def catchment(
    *,
    provider: ProviderDep,
    service: CoverageDep,
    minutes: Annotated[
        float,
        Query(gt=0, le=MAX_MINUTES, description="minutes of walking (GB 50180: 5, 10, 15)"),
    ] = 10.0,
    speed: Annotated[
        Literal["adult", "elderly"],
        Query(description="pace: JZMAP_WALK_SPEED_ADULT_M_S or JZMAP_WALK_SPEED_ELDERLY_M_S"),
    ] = "adult",
    mode: Annotated[
        Literal["crow", "walk"] | None,
        Query(description="walk (over the street network) or crow (crow-fly)"),
    ] = None,
    crs: Annotated[CRS, Query(description="CRS of the polygon")] = CRS.WGS84,
) -> Response:
    chosen = mode or service.default_mode
    area = provider_catchment(
        provider.lon,
        provider.lat,
        minutes=minutes,
        speed=speed,
        mode=chosen,
        settings=service.settings,
        network=service.network,
    )
    body = {
        "type": "Feature",
        "id": provider.id,
        "geometry": _geometry_in(area.area, crs),
        "properties": {
            "provider_id": provider.id,
            "name": provider.name,
            "mode": area.mode,
            "mode_label": MODE_LABELS[area.mode],
            "minutes": area.minutes,
            "speed": area.speed,
            "speed_m_s": area.speed_m_s,
            "metres": round(area.metres, 1),
            "method": area.method,
            "crs": crs.value,
        },
    }
    return Response(json_bytes(body), media_type="application/geo+json")


def _geometry_in(area: BaseGeometry, crs: CRS) -> dict[str, Any]:
    """The area as a GeoJSON geometry in ``crs`` (coordinates converted point by point)."""
    if area.is_empty:
        return {"type": "MultiPolygon", "coordinates": []}
    coords = shapely.get_coordinates(area)
    lon, lat = coordinates_in(coords[:, 0].astype(np.float64), coords[:, 1], crs)
    moved = shapely.set_coordinates(area, np.column_stack([lon, lat]))
    geometry: dict[str, Any] = shapely.geometry.mapping(moved)
    return geometry

"""``GET /v1/places/suggest``: the search box's suggestions (issue 16, "find by words").

A resident types an address, a 小区, a street or a district; the geocoder chain answers
places with a point to search from. Short and bounded: the text is at most
:data:`~geo.places.MAX_QUERY_CHARS` characters and the answer at most
:data:`~geo.places.MAX_SUGGESTIONS` places (a larger ``limit``, allowed up to the other
routes' bound, is capped rather than refused: one client can send one ``limit`` to all).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.dependencies import PlacesDep
from geo.crs import CRS, from_wgs84
from geo.places import MAX_QUERY_CHARS, MAX_SUGGESTIONS
from jzmap.presentation.schemas import ErrorOut, PlaceOut, PlacesOut
from providers.ranking import LIMIT_BOUNDS

router = APIRouter(prefix="/v1/places", tags=["places"])


@router.get(
    "/suggest",
    response_model=PlacesOut,
    responses={422: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    summary="Places matching what a resident types: areas of the gazetteer, addresses (AMap)",
)
def suggest(
    places: PlacesDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_QUERY_CHARS,
            description="what she typed: part of a district's or street's name, or an address",
            examples=["天河"],
        ),
    ],
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=LIMIT_BOUNDS[1],
            description=f"the most places answered; capped at {MAX_SUGGESTIONS}",
        ),
    ] = 5,
    crs: Annotated[CRS, Query(description="CRS of the answer's points")] = CRS.WGS84,
) -> PlacesOut:
    # A plain def: AMap, when set, is asked over the network (on the thread pool).
    found, unavailable = places.suggest(q, limit)
    out = []
    for place in found:
        lon, lat = from_wgs84(place.lon, place.lat, crs)
        out.append(
            PlaceOut(
                name=place.name,
                district=place.district,
                kind=place.kind.value,
                lon=round(float(lon), 7),
                lat=round(float(lat), 7),
                source="amap" if place.source == "amap" else "gazetteer",
            )
        )
    return PlacesOut(q=q.strip(), crs=crs, places=out, unavailable=unavailable)

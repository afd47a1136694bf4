"""``/v1/providers``: nearest-match and provider lookup."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response

from api.deps import SettingsDep, StoreDep
from api.errors import error_body
from api.params import ALLOWED, Format
from api.presenters import geojson_feature, match_outs, provider_out, query_out
from api.schemas import ErrorOut, NearestGeoJSONOut, NearestOut, ProviderOut
from geo.boundaries import ServedArea
from geo.crs import CRS, from_wgs84, to_wgs84
from jzmap.services import served_area
from providers.model import Category, Grade, Kind
from providers.ranking import LIMIT_BOUNDS, RADIUS_BOUNDS_M, NearestQuery, Sort, find_nearest
from providers.scoring import (
    DEFAULT_HALF_DISTANCE_M,
    HALF_DISTANCE_BOUNDS_M,
    WEIGHT_BOUNDS,
    Weights,
)
from providers.store import Filters

router = APIRouter(prefix="/v1/providers", tags=["providers"])


def get_served_area(settings: SettingsDep) -> ServedArea:
    return served_area(settings)


ServedAreaDep = Annotated[ServedArea, Depends(get_served_area)]
_DEFAULT_WEIGHTS = Weights()


def _weight(name: str, default: float) -> Any:
    low, high = WEIGHT_BOUNDS[name]
    return Query(
        default,
        ge=low,
        le=high,
        description=f"relative weight of the {name} term ({ALLOWED['w_' + name]})",
    )


@router.get(
    "/nearest",
    response_model=NearestOut | NearestGeoJSONOut,
    responses={
        200: {
            "description": "Ranked providers: JSON, or a GeoJSON FeatureCollection (f=geojson)",
            "content": {
                "application/geo+json": {
                    "schema": {"$ref": "#/components/schemas/NearestGeoJSONOut"}
                }
            },
        },
        422: {"model": ErrorOut},
        503: {"model": ErrorOut},
    },
    summary="Rank the providers nearest a point",
)
def nearest(
    store: StoreDep,
    settings: SettingsDep,
    area: ServedAreaDep,
    lat: Annotated[float, Query(ge=-90, le=90, description="latitude in `crs`")],
    lon: Annotated[float, Query(ge=-180, le=180, description="longitude in `crs`")],
    category: Category | None = None,
    min_grade: Annotated[
        Grade | None, Query(description="companies graded at least this; stations stay")
    ] = None,
    kind: Kind | None = None,
    certified_only: Annotated[
        bool, Query(description="only providers with at least one 安心服务证 holder")
    ] = False,
    radius_m: Annotated[
        float | None,
        Query(ge=RADIUS_BOUNDS_M[0], le=RADIUS_BOUNDS_M[1], description="metres"),
    ] = None,
    limit: Annotated[int, Query(ge=LIMIT_BOUNDS[0], le=LIMIT_BOUNDS[1])] = 10,
    sort: Sort = Sort.SCORE,
    crs: Annotated[CRS, Query(description="CRS of the query point and of the answer")] = (
        CRS.WGS84
    ),
    out_crs: Annotated[
        CRS | None,
        Query(
            description="CRS of the answer when it differs from the point's (a phone's GPS "
            "point, WGS-84, on a GCJ-02 basemap)"
        ),
    ] = None,
    f: Annotated[Format, Query(description="json, or geojson for a FeatureCollection")] = (
        Format.JSON
    ),
    include_approximate: Annotated[
        bool, Query(description="also rank providers located only to their district")
    ] = False,
    w_distance: float = _weight("distance", _DEFAULT_WEIGHTS.distance),
    w_grade: float = _weight("grade", _DEFAULT_WEIGHTS.grade),
    w_certified: float = _weight("certified", _DEFAULT_WEIGHTS.certified),
    half_distance_m: Annotated[
        float,
        Query(
            ge=HALF_DISTANCE_BOUNDS_M[0],
            le=HALF_DISTANCE_BOUNDS_M[1],
            description="distance at which the distance term halves",
        ),
    ] = DEFAULT_HALF_DISTANCE_M,
) -> Response:
    wgs_lon, wgs_lat = to_wgs84(lon, lat, crs)
    beyond_m = area.distance_beyond_m(wgs_lon, wgs_lat)
    if beyond_m is not None:
        return _outside(lat, lon, beyond_m, settings.max_query_distance_km, settings.city_name)
    query = NearestQuery(
        lon=wgs_lon,
        lat=wgs_lat,
        filters=Filters(
            category=category,
            min_grade=min_grade,
            kind=kind,
            certified_only=certified_only,
            radius_m=radius_m,
            include_approximate=include_approximate,
        ),
        limit=limit,
        sort=sort,
        weights=Weights(w_distance, w_grade, w_certified),
        half_distance_m=half_distance_m,
    )
    matches = find_nearest(store, query)
    answer_crs = out_crs or crs
    if answer_crs is not crs:
        # The query point too is echoed in the answer's CRS, so it can be drawn with it.
        lon, lat = (float(v) for v in from_wgs84(wgs_lon, wgs_lat, answer_crs))
    body = NearestOut(
        query=query_out(query, lon, lat, answer_crs),
        results=match_outs(matches, answer_crs),
    )
    if f is Format.GEOJSON:
        collection = NearestGeoJSONOut(
            query=body.query,
            features=[geojson_feature(m) for m in body.results],
        )
        return Response(collection.model_dump_json(), media_type="application/geo+json")
    # The body is built from typed domain values and validated on construction; handing
    # FastAPI a Response skips validating and encoding it a second time (~70 µs).
    return Response(body.model_dump_json(), media_type="application/json")


@router.get(
    "/{provider_id}",
    response_model=ProviderOut,
    responses={404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    summary="One provider by id",
)
def get_provider(
    store: StoreDep,
    provider_id: Annotated[str, Path(min_length=1, max_length=100)],
    crs: CRS = CRS.WGS84,
) -> ProviderOut | JSONResponse:
    provider = store.get(provider_id)
    if provider is None or not provider.active:
        return JSONResponse(
            status_code=404,
            content=error_body(
                "not_found",
                f"no provider with id {provider_id!r}; ids come from /v1/providers/nearest",
            ),
        )
    return provider_out(provider, crs)


def _outside(lat: float, lon: float, beyond_m: float, max_km: float, city: str) -> JSONResponse:
    """422 for a query point outside the served area: where it is, and what is served."""
    message = (
        f"lat, lon: the point ({lat:g}, {lon:g}) is {beyond_m / 1000:,.1f} km from {city}; "
        f"this service answers for points in {city} or within {max_km:g} km of it"
    )
    allowed = f"a point within {max_km:g} km of {city}"
    details = [
        {"parameter": name, "message": message, "allowed": allowed, "got": value}
        for name, value in (("lat", lat), ("lon", lon))
    ]
    return JSONResponse(
        status_code=422, content=error_body("outside_served_area", message, details)
    )

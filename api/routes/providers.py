"""``/v1/providers``: nearest-match and provider lookup."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.dependencies import (
    FilterParams,
    ProviderDep,
    PublicViewDep,
    SearchLimiterDep,
    ServedAreaDep,
    SettingsDep,
    StoreDep,
    query_model,
    query_parameters,
)
from api.params import ALLOWED, Format
from geo.crs import CRS, from_wgs84, to_wgs84
from jzmap.presentation.presenters import (
    PublicView,
    geojson_feature,
    match_outs,
    provider_out,
    query_out,
)
from jzmap.presentation.schemas import ErrorOut, NearestGeoJSONOut, NearestOut, ProviderOut
from providers.errors import OutsideServedAreaError, ParameterProblem
from providers.ranking import LIMIT_BOUNDS, RADIUS_BOUNDS_M, NearestQuery, Sort, find_nearest
from providers.scoring import (
    DEFAULT_HALF_DISTANCE_M,
    HALF_DISTANCE_BOUNDS_M,
    WEIGHT_BOUNDS,
    Weights,
)
from providers.store import ProviderStore

router = APIRouter(prefix="/v1/providers", tags=["providers"])
_DEFAULT_WEIGHTS = Weights()


def _weight(name: str, default: float) -> Any:
    low, high = WEIGHT_BOUNDS[name]
    return Field(
        default,
        ge=low,
        le=high,
        description=f"relative weight of the {name} term ({ALLOWED['w_' + name]})",
    )


class _Point(BaseModel):
    """The query point; first, so that it leads the parameters and their errors."""

    lat: float = Field(ge=-90, le=90, description="latitude in `crs`")
    lon: float = Field(ge=-180, le=180, description="longitude in `crs`")


class NearestParams(FilterParams, _Point):
    """The nearest-match query string, validated as one model: FastAPI checks a model of
    query parameters in one pass, where eighteen separate parameters cost it more per
    request than the search itself (measured). The filters are the shared group
    (:class:`api.dependencies.FilterParams`)."""

    radius_m: float | None = Field(
        None, ge=RADIUS_BOUNDS_M[0], le=RADIUS_BOUNDS_M[1], description="metres"
    )
    limit: int = Field(10, ge=LIMIT_BOUNDS[0], le=LIMIT_BOUNDS[1])
    sort: Sort = Sort.SCORE
    crs: CRS = Field(CRS.WGS84, description="CRS of the query point and of the answer")
    out_crs: CRS | None = Field(
        None,
        description="CRS of the answer when it differs from the point's (a phone's GPS "
        "point, WGS-84, on a GCJ-02 basemap)",
    )
    f: Format = Field(Format.JSON, description="json, or geojson for a FeatureCollection")
    navigate: bool = Field(
        False,
        description="add each result's navigate links (AMap, Baidu, Tencent; about 2 KB a "
        "result); `/v1/providers/{id}` and the provider page always carry them",
    )
    w_distance: float = _weight("distance", _DEFAULT_WEIGHTS.distance)
    w_grade: float = _weight("grade", _DEFAULT_WEIGHTS.grade)
    w_certified: float = _weight("certified", _DEFAULT_WEIGHTS.certified)
    half_distance_m: float = Field(
        DEFAULT_HALF_DISTANCE_M,
        ge=HALF_DISTANCE_BOUNDS_M[0],
        le=HALF_DISTANCE_BOUNDS_M[1],
        description="distance at which the distance term halves",
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
    openapi_extra=query_parameters(NearestParams),
)
async def nearest(
    *,
    store: StoreDep,
    settings: SettingsDep,
    area: ServedAreaDep,
    searches: SearchLimiterDep,
    public: PublicViewDep,
    q: Annotated[NearestParams, Depends(query_model(NearestParams))],
) -> Response:
    """Checks run on the event loop (microseconds); the search and the answer on a worker
    thread of the searches' own small pool (JZMAP_SEARCH_THREADS)."""
    wgs_lon, wgs_lat = (q.lon, q.lat) if q.crs is CRS.WGS84 else to_wgs84(q.lon, q.lat, q.crs)
    beyond_m = area.distance_beyond_m(wgs_lon, wgs_lat)
    if beyond_m is not None:
        city = settings.city
        raise _outside(q.lat, q.lon, beyond_m, city.max_query_distance_km, city.city_name)
    query = NearestQuery(
        lon=wgs_lon,
        lat=wgs_lat,
        filters=q.filters(radius_m=q.radius_m),
        limit=q.limit,
        sort=q.sort,
        weights=Weights(q.w_distance, q.w_grade, q.w_certified),
        half_distance_m=q.half_distance_m,
    )
    at = query.filters.open_at
    view = public if at is None else dataclasses.replace(public, at=at)
    return await to_thread.run_sync(_answer, store, query, q, view, limiter=searches)


def _answer(
    store: ProviderStore, query: NearestQuery, q: NearestParams, view: PublicView
) -> Response:
    """Search ``store`` and render the answer (blocking: runs on a worker thread)."""
    matches = find_nearest(store, query)
    answer_crs = q.out_crs or q.crs
    lon, lat = q.lon, q.lat
    if answer_crs is not q.crs:
        # The query point too is echoed in the answer's CRS, so it can be drawn with it.
        lon, lat = (float(v) for v in from_wgs84(query.lon, query.lat, answer_crs))
    body = NearestOut(
        query=query_out(query, lon, lat, answer_crs),
        results=match_outs(matches, answer_crs, view, navigate=q.navigate),
    )
    if q.f is Format.GEOJSON:
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
def get_provider(provider: ProviderDep, public: PublicViewDep, crs: CRS = CRS.WGS84) -> ProviderOut:
    return provider_out(provider, crs, public)


def _outside(
    lat: float, lon: float, beyond_m: float, max_km: float, city: str
) -> OutsideServedAreaError:
    """The 422 for a query point outside the served area: where it is, and what is served."""
    message = (
        f"lat, lon: the point ({lat:g}, {lon:g}) is {beyond_m / 1000:,.1f} km from {city}; "
        f"this service answers for points in {city} or within {max_km:g} km of it"
    )
    allowed = f"a point within {max_km:g} km of {city}"
    return OutsideServedAreaError(
        message,
        [
            ParameterProblem(name, message, allowed, value)
            for name, value in (("lat", lat), ("lon", lon))
        ],
    )

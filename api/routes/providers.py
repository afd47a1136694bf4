"""``/v1/providers``: nearest-match and provider lookup."""

from __future__ import annotations

from typing import Annotated, Any

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import SettingsDep, StoreDep
from api.errors import error_body
from api.params import ALLOWED, Format, query_model, query_parameters
from api.presenters import geojson_feature, match_outs, provider_out, query_out
from api.schemas import ErrorOut, NearestGeoJSONOut, NearestOut, ProviderOut
from geo.boundaries import ServedArea
from geo.crs import CRS, from_wgs84, to_wgs84
from jzmap.wiring import served_area
from providers.model import Category, Grade, Kind
from providers.ranking import LIMIT_BOUNDS, RADIUS_BOUNDS_M, NearestQuery, Sort, find_nearest
from providers.scoring import (
    DEFAULT_HALF_DISTANCE_M,
    HALF_DISTANCE_BOUNDS_M,
    WEIGHT_BOUNDS,
    Weights,
)
from providers.store import Filters, ProviderStore

router = APIRouter(prefix="/v1/providers", tags=["providers"])


async def get_served_area(settings: SettingsDep) -> ServedArea:
    return served_area(settings.city)


ServedAreaDep = Annotated[ServedArea, Depends(get_served_area)]


async def get_search_limiter(request: Request) -> CapacityLimiter:
    """The threads nearest-match searches may use at once (``JZMAP_SEARCH_THREADS``).

    Searches are CPU-bound Python on the embedded store and short waits on PostgreSQL:
    more threads than that only contend for the interpreter lock. Measured at 32 clients
    on 10,000 providers, three threads served a quarter more requests than the 40 of the
    shared pool; and a pool of their own keeps slow routes (coverage) from starving them.
    """
    limiter: CapacityLimiter = request.app.state.search_limiter
    return limiter


SearchLimiterDep = Annotated[CapacityLimiter, Depends(get_search_limiter)]
_DEFAULT_WEIGHTS = Weights()


def _weight(name: str, default: float) -> Any:
    low, high = WEIGHT_BOUNDS[name]
    return Field(
        default,
        ge=low,
        le=high,
        description=f"relative weight of the {name} term ({ALLOWED['w_' + name]})",
    )


class NearestParams(BaseModel):
    """The nearest-match query string, validated as one model: FastAPI checks a model of
    query parameters in one pass, where eighteen separate parameters cost it more per
    request than the search itself (measured)."""

    model_config = ConfigDict(extra="ignore")

    lat: float = Field(ge=-90, le=90, description="latitude in `crs`")
    lon: float = Field(ge=-180, le=180, description="longitude in `crs`")
    category: Category | None = None
    min_grade: Grade | None = Field(
        None, description="companies graded at least this; stations stay"
    )
    kind: Kind | None = None
    certified_only: bool = Field(
        False, description="only providers with at least one 安心服务证 holder"
    )
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
    include_approximate: bool = Field(
        False, description="also rank providers located only to their district"
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
    store: StoreDep,
    settings: SettingsDep,
    area: ServedAreaDep,
    searches: SearchLimiterDep,
    q: Annotated[NearestParams, Depends(query_model(NearestParams))],
) -> Response:
    """Checks run on the event loop (microseconds); the search and the answer on a worker
    thread of the searches' own small pool (:func:`get_search_limiter`)."""
    wgs_lon, wgs_lat = (q.lon, q.lat) if q.crs is CRS.WGS84 else to_wgs84(q.lon, q.lat, q.crs)
    beyond_m = area.distance_beyond_m(wgs_lon, wgs_lat)
    if beyond_m is not None:
        city = settings.city
        return _outside(q.lat, q.lon, beyond_m, city.max_query_distance_km, city.city_name)
    query = NearestQuery(
        lon=wgs_lon,
        lat=wgs_lat,
        filters=Filters(
            category=q.category,
            min_grade=q.min_grade,
            kind=q.kind,
            certified_only=q.certified_only,
            radius_m=q.radius_m,
            include_approximate=q.include_approximate,
        ),
        limit=q.limit,
        sort=q.sort,
        weights=Weights(q.w_distance, q.w_grade, q.w_certified),
        half_distance_m=q.half_distance_m,
    )
    return await to_thread.run_sync(_answer, store, query, q, limiter=searches)


def _answer(store: ProviderStore, query: NearestQuery, q: NearestParams) -> Response:
    """Search ``store`` and render the answer (blocking: runs on a worker thread)."""
    matches = find_nearest(store, query)
    answer_crs = q.out_crs or q.crs
    lon, lat = q.lon, q.lat
    if answer_crs is not q.crs:
        # The query point too is echoed in the answer's CRS, so it can be drawn with it.
        lon, lat = (float(v) for v in from_wgs84(query.lon, query.lat, answer_crs))
    body = NearestOut(
        query=query_out(query, lon, lat, answer_crs),
        results=match_outs(matches, answer_crs),
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

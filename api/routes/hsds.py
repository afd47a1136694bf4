"""``/hsds``: the read side of the Open Referral HSDS 3.x API, for services and services at
locations, with a proximity search (``lat``, ``lon``, ``proximity`` in metres).

The objects are :mod:`jzmap.presentation.hsds`'s, the ones ``jzmap export hsds`` writes;
they pass the official schemas in their strict form. Lists page by ``page`` and
``per_page`` up to :data:`~jzmap.presentation.hsds.MAX_WINDOW` results deep (the export
has them all).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from api.dependencies import ServedAreaDep, SettingsDep, StoreDep
from geo.boundaries import ServedArea
from jzmap.presentation.hsds import (
    MAX_WINDOW,
    Near,
    ObjectType,
    PageQuery,
    api_meta,
    category_of_term,
    find_provider,
    hsds_page,
    service,
    service_at_location,
    taxonomy_term_id,
)
from jzmap.presentation.presenters import PublicPhones
from jzmap.presentation.schemas import ErrorOut
from jzmap.settings import Settings
from providers.errors import (
    InvalidParameterError,
    NotFoundError,
    OutsideServedAreaError,
    ParameterProblem,
)
from providers.model import Category
from providers.ranking import RADIUS_BOUNDS_M


def _phones(settings: Settings) -> PublicPhones:
    """The business-phone rule of ``JZMAP_PUBLIC_PHONES``."""
    return PublicPhones(settings.map.public_phones)


router = APIRouter(prefix="/hsds", tags=["hsds"])

_ERRORS: dict[int | str, dict[str, Any]] = {422: {"model": ErrorOut}, 503: {"model": ErrorOut}}
_TERMS = ", ".join(f"{taxonomy_term_id(c)} ({c.value})" for c in Category)

Page = Annotated[int, Query(ge=1, le=MAX_WINDOW, description="page number, from 1")]
PerPage = Annotated[int, Query(ge=1, le=100, description="results per page")]
TermId = Annotated[
    str | None,
    Query(max_length=36, description=f"only services of this category's term: {_TERMS}"),
]
Lat = Annotated[float | None, Query(ge=-90, le=90, description="proximity: WGS-84 latitude")]
Lon = Annotated[float | None, Query(ge=-180, le=180, description="proximity: WGS-84 longitude")]
Proximity = Annotated[
    float | None,
    Query(
        ge=1,
        le=RADIUS_BOUNDS_M[1],
        description="proximity: metres (geodesic, WGS-84) from lat/lon; results nearest first",
    ),
]


def _query(
    area: ServedArea,
    page: int,
    per_page: int,
    term: str | None,
    near: tuple[float | None, float | None, float | None],
) -> PageQuery:
    """The page asked for, or a 422 naming what is wrong."""
    if page * per_page > MAX_WINDOW:
        raise InvalidParameterError.of(
            "page",
            f"page {page} of {per_page} reaches past result {MAX_WINDOW:,}",
            got=page,
            allowed=f"page x per_page at most {MAX_WINDOW:,}; `jzmap export hsds` has them all",
        )
    category = None
    if term is not None:
        category = category_of_term(term)
        if category is None:
            raise InvalidParameterError.of(
                "taxonomy_term_id", "no such taxonomy term", got=term, allowed=_TERMS
            )
    lat, lon, radius = near
    given = [v is not None for v in near]
    if any(given) and not all(given):
        missing = [n for n, v in zip(("lat", "lon", "proximity"), near, strict=True) if v is None]
        raise InvalidParameterError.of(
            missing[0],
            "a proximity search needs lat, lon and proximity",
            got=None,
            allowed="all three, or none",
        )
    if lat is None or lon is None or radius is None:
        return PageQuery(page, per_page, category)
    beyond_m = area.distance_beyond_m(lon, lat)
    if beyond_m is not None:
        message = (
            f"lat, lon: the point ({lat:g}, {lon:g}) is {beyond_m / 1000:,.1f} km outside "
            "the served area"
        )
        raise OutsideServedAreaError(
            message,
            [
                ParameterProblem(n, message, "a point in the served area", v)
                for n, v in (("lat", lat), ("lon", lon))
            ],
        )
    return PageQuery(page, per_page, category, Near(lon, lat, radius))


@router.get("/", summary="HSDS API: what this API is (HSDS version, OpenAPI)")
def meta(request: Request) -> dict[str, str]:
    return api_meta(str(request.base_url).rstrip("/") + "/openapi.json")


@router.get(
    "/services",
    responses=_ERRORS,
    summary="HSDS API: a page of services, by id or nearest first (proximity search)",
)
def services(
    store: StoreDep,
    settings: SettingsDep,
    area: ServedAreaDep,
    page: Page = 1,
    per_page: PerPage = 20,
    taxonomy_term_id: TermId = None,
    lat: Lat = None,
    lon: Lon = None,
    proximity: Proximity = None,
) -> dict[str, Any]:
    q = _query(area, page, per_page, taxonomy_term_id, (lat, lon, proximity))
    city = settings.city.city_name
    return hsds_page(store, q, lambda p: service(p, city, _phones(settings)))


@router.get(
    "/services/{service_id}",
    responses={404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    summary="HSDS API: one service, fully nested",
)
def one_service(
    store: StoreDep,
    settings: SettingsDep,
    service_id: Annotated[str, Path(max_length=36, description="the service's HSDS id")],
) -> dict[str, Any]:
    provider = find_provider(store, ObjectType.SERVICE, service_id)
    if provider is None:
        raise NotFoundError(f"no service with id {service_id!r}; ids come from /hsds/services")
    return service(provider, settings.city.city_name, _phones(settings))


@router.get(
    "/service_at_locations",
    responses=_ERRORS,
    summary="HSDS API: a page of services at locations, by id or nearest first",
)
def services_at_locations(
    store: StoreDep,
    settings: SettingsDep,
    area: ServedAreaDep,
    page: Page = 1,
    per_page: PerPage = 20,
    taxonomy_term_id: TermId = None,
    lat: Lat = None,
    lon: Lon = None,
    proximity: Proximity = None,
) -> dict[str, Any]:
    q = _query(area, page, per_page, taxonomy_term_id, (lat, lon, proximity))
    city = settings.city.city_name
    return hsds_page(store, q, lambda p: service_at_location(p, city, _phones(settings)))


@router.get(
    "/service_at_locations/{service_at_location_id}",
    responses={404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    summary="HSDS API: one service at a location, its location inside",
)
def one_service_at_location(
    store: StoreDep,
    settings: SettingsDep,
    service_at_location_id: Annotated[
        str, Path(max_length=36, description="the service at location's HSDS id")
    ],
) -> dict[str, Any]:
    provider = find_provider(store, ObjectType.SERVICE_AT_LOCATION, service_at_location_id)
    if provider is None:
        raise NotFoundError(
            f"no service_at_location with id {service_at_location_id!r}; "
            "ids come from /hsds/service_at_locations"
        )
    return service_at_location(provider, settings.city.city_name, _phones(settings))

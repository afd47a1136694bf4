"""``/hsds``: the read side of the Open Referral HSDS 3.x API, for services and services at
locations, with a proximity search (``lat``, ``lon``, ``proximity`` in metres).

The objects are :mod:`jzmap.presentation.hsds`'s, the ones ``jzmap export hsds`` writes;
they pass the official schemas in their strict form. Lists page by ``page`` and
``per_page`` up to :data:`~jzmap.presentation.hsds.MAX_WINDOW` results deep (the export
has them all).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from api.dependencies import PublicViewDep, ServedAreaDep, SettingsDep, StoreDep
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
from jzmap.presentation.presenters import PublicView
from jzmap.presentation.schemas import ErrorOut
from providers.errors import (
    InvalidParameterError,
    NotFoundError,
    OutsideServedAreaError,
    ParameterProblem,
)
from providers.model import Category, Provider
from providers.ranking import RADIUS_BOUNDS_M

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


Build = Callable[[Provider, str, PublicView], dict[str, Any]]


def _add_routes(
    plural: str,
    kind: ObjectType,
    build: Build,
    *,
    what: str,
    names: tuple[str, str],
    summaries: tuple[str, str],
) -> None:
    """Add the list route ``/hsds/{plural}`` (pages, proximity search) and the by-id route
    ``/hsds/{plural}/{id}`` of one kind of HSDS object: the pair every object of the API
    has. ``names`` are the routes' names (their OpenAPI operation ids derive from them)."""

    def listed(
        store: StoreDep,
        settings: SettingsDep,
        view: PublicViewDep,
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
        return hsds_page(store, q, lambda p: build(p, city, view))

    def one(store: StoreDep, settings: SettingsDep, view: PublicViewDep, object_id: str) -> Any:
        provider = find_provider(store, kind, object_id)
        if provider is None:
            raise NotFoundError(f"no {what} with id {object_id!r}; ids come from /hsds/{plural}")
        return build(provider, settings.city.city_name, view)

    # The path parameter keeps its published name ({service_id}, ...). An object, not a
    # string: this module's annotations are strings, and FastAPI resolves those in the
    # module's globals, where this closure's ``what`` is not.
    singular = what.replace(" ", "_")
    one.__annotations__ = {
        **one.__annotations__,
        "object_id": Annotated[
            str,
            Path(alias=f"{singular}_id", max_length=36, description=f"the {what}'s HSDS id"),
        ],
        "return": dict[str, Any],
    }
    router.add_api_route(
        f"/{plural}",
        listed,
        methods=["GET"],
        responses=_ERRORS,
        summary=summaries[0],
        name=names[0],
    )
    router.add_api_route(
        f"/{plural}/{{{singular}_id}}",
        one,
        methods=["GET"],
        responses={404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
        summary=summaries[1],
        name=names[1],
    )


_add_routes(
    "services",
    ObjectType.SERVICE,
    service,
    what="service",
    names=("services", "one_service"),
    summaries=(
        "HSDS API: a page of services, by id or nearest first (proximity search)",
        "HSDS API: one service, fully nested",
    ),
)
_add_routes(
    "service_at_locations",
    ObjectType.SERVICE_AT_LOCATION,
    service_at_location,
    what="service at location",
    names=("services_at_locations", "one_service_at_location"),
    summaries=(
        "HSDS API: a page of services at locations, by id or nearest first",
        "HSDS API: one service at a location, its location inside",
    ),
)

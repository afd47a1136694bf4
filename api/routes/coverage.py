"""``/v1/coverage``: coverage gaps for district offices (cells, district table, new sites).

The analysis is :class:`jzmap.application.coverage.CoverageService`'s, one per app (its caches are
keyed by the store's data version); this module only reads parameters and writes bodies.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.deadline import lookup_deadline_s
from api.dependencies import CoverageDep, SettingsDep, SupplyDep
from api.params import ALLOWED, SITES_BOUNDS, TableFormat, excluded_items
from gaps import SitePlan
from gaps.grid import RESOLUTIONS
from gaps.network_sites import CandidatePlan
from geo.crs import CRS
from jzmap.application.coverage import (
    cells_to_exclude,
    district_table,
    districts_csv,
    life_circles_m,
    streets_layer,
    streets_of,
    with_addresses,
)
from jzmap.application.sites import candidate_plan, configured_candidates
from jzmap.presentation.coverage import (
    cell_features,
    clean_row,
    json_bytes,
    query_out,
    site_outs,
    street_outs,
)
from jzmap.presentation.presenters import coordinates_in
from jzmap.presentation.schemas import (
    CandidatePlanOut,
    CoverageCandidatesOut,
    CoverageCellsOut,
    CoverageDistrictOut,
    CoverageDistrictsOut,
    CoverageStreetsOut,
    ErrorOut,
)
from jzmap.wiring import district_name
from maps.coverage_exports import (
    GPKG_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    SiteSource,
    WorkbookFormat,
    workbench_geopackage,
    workbench_xlsx,
)
from maps.i18n import Lang
from providers.errors import InvalidParameterError
from providers.model import Category

router = APIRouter(prefix="/v1/coverage", tags=["coverage"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "mode=walk with no street network configured"},
    422: {"model": ErrorOut},
    503: {"model": ErrorOut},
}


def _district(
    settings: SettingsDep,
    district: Annotated[
        str | None,
        Query(
            max_length=100,
            description="a district of the boundary layer, by name (天河区) or code (440106); "
            "all if unset",
        ),
    ] = None,
) -> str | None:
    """The district's name, whether its name or its code was given (an unknown one is left
    for the service's check, whose message lists the districts)."""
    if district is None:
        return None
    try:
        return district_name(settings.city, district)
    except InvalidParameterError:
        return district


District = Annotated[str | None, Depends(_district)]


def _one_district(
    settings: SettingsDep,
    district: Annotated[
        str,
        Query(
            max_length=100,
            description="the district planned for, by name (天河区) or code (440106)",
        ),
    ],
) -> str:
    """A required district's name (an unknown one is left for the service's check)."""
    return _district(settings, district) or district


OneDistrict = Annotated[str, Depends(_one_district)]


ExcludeCells = Annotated[
    str | None,
    Query(
        max_length=8_000,
        description="H3 cells never to propose (the office knows they cannot take a site), "
        "comma-separated, at most 200; a coarser cell (up to 2 resolutions) excludes the "
        "cells inside it",
    ),
]


def _needs_district(resolution: int, why: str) -> InvalidParameterError:
    return InvalidParameterError.of(
        "res",
        f"{resolution} needs a district ({why}): add district=<name> or use res=8",
        got=resolution,
        allowed=ALLOWED["res"],
    )


@router.get(
    "/cells",
    response_model=CoverageCellsOut,
    responses={
        200: {"content": {"application/geo+json": {}}, "description": "hexagons with measures"},
        **_ERRORS,
    },
    summary="Coverage per H3 cell (GeoJSON hexagons): nearest provider, reach, E2SFCA, gaps",
)
def cells(
    service: CoverageDep,
    supply: SupplyDep,
    category: Category,
    district: District = None,
    crs: Annotated[CRS, Query(description="CRS of the hexagons")] = CRS.WGS84,
) -> Response:
    query = supply.query(service, category)
    if query.resolution != min(RESOLUTIONS) and district is None:
        # The whole city at res 9 is ~72,000 hexagons (~35 MB): one district at a time.
        raise _needs_district(query.resolution, "the whole city is too many cells")
    service.check_district(district)
    analysis = service.analysis(query)
    features = cell_features(analysis, district, crs)
    body = {
        "type": "FeatureCollection",
        "query": query_out(analysis, district, crs).model_dump(mode="json"),
        "cells": len(features),
        "features": features,
    }
    # Up to ~20,000 hexagons: plain dicts, not a model per feature (3x faster, same shape).
    return Response(json_bytes(body), media_type="application/geo+json")


@router.get(
    "/districts",
    response_model=CoverageDistrictsOut,
    responses={
        200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with f=csv"},
        **_ERRORS,
    },
    summary="Per-district coverage table (JSON, or CSV for Excel)",
)
def districts(
    service: CoverageDep,
    supply: SupplyDep,
    category: Annotated[Category | None, Query(description="all four if unset")] = None,
    f: Annotated[TableFormat, Query(description="json, or csv (UTF-8 with BOM)")] = (
        TableFormat.JSON
    ),
) -> Response:
    categories = [category] if category else list(Category)
    analyses = service.analyses([supply.query(service, c) for c in categories])
    table = district_table(analyses)
    if f is TableFormat.CSV:
        name = f"coverage-districts-{category or 'all'}-res{analyses[0].query.resolution}.csv"
        return Response(
            districts_csv(table).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    body = CoverageDistrictsOut(
        query=query_out(analyses[0], None, None).model_copy(
            update={"category": category} if category else {"category": None, "demand": None}
        ),
        districts=[CoverageDistrictOut(**clean_row(row)) for row in table.to_dict("records")],
    )
    return Response(body.model_dump_json(), media_type="application/json")


@router.get(
    "/candidates",
    response_model=CoverageCandidatesOut,
    responses=_ERRORS,
    summary="Where k new stations would newly cover the most residents (MCLP)",
    description="Solved with a time limit (JZMAP_SOLVER_TIME_LIMIT_S): `plan.status` says "
    "whether the plan is proven optimal, and `plan.optimality_gap` how far from the best "
    "bound it may be. At res 9 a district is required. `exclude` lists H3 cells never "
    "proposed (echoed in `excluded`). Each site has an `address`: AMap's reverse geocoding "
    "(`address_source` amap, with JZMAP_AMAP_KEY), else the nearest named way of the walking "
    "network (nearest_way, 'XX路附近'), else none; `address_note` says why not AMap's. "
    "Lookups are bounded by k and the request's deadline and never fail the request. "
    "With JZMAP_RESIDENTS_PER_PRACTITIONER existing providers serve at most their "
    "practitioners × that (`plan.capacity_limited`): sites may then go beside an "
    "under-staffed provider; `residents_served` per site.",
)
def candidates(
    service: CoverageDep,
    supply: SupplyDep,
    category: Category,
    k: Annotated[int, Query(ge=SITES_BOUNDS[0], le=SITES_BOUNDS[1], description="sites")] = 5,
    district: District = None,
    crs: Annotated[CRS, Query(description="CRS of the sites")] = CRS.WGS84,
    exclude: ExcludeCells = None,
) -> Response:
    query = supply.query(service, category)
    if query.resolution != min(RESOLUTIONS) and district is None:
        # ~68,000 candidate gap cells at res 9: finding the strongest alone takes seconds
        # of geodesic pairs, whatever the solver's time limit. One district is bounded.
        raise _needs_district(query.resolution, "a city-wide plan at this resolution is too large")
    excluded = excluded_items(exclude, cells_only=True)
    cells = cells_to_exclude(excluded, query.resolution)
    analysis, plan = service.plan(query, k, district, cells)
    plan = with_addresses(service, plan, deadline_s=lookup_deadline_s())
    said = query_out(analysis, district, crs)
    body = CoverageCandidatesOut(
        query=said,
        # The residents a plan counts are the category's demand (60+ for elderly care
        # where the source has ages): the label says which, as /v1/coverage/sites' does.
        plan=CandidatePlanOut(
            **clean_row(plan.summary.iloc[0].to_dict()), demand=said.demand or "residents"
        ),
        sites=site_outs(plan, crs, analysis),
        excluded=excluded,
    )
    return Response(body.model_dump_json(), media_type="application/json")


@router.get(
    "/streets",
    response_model=CoverageStreetsOut,
    responses=_ERRORS,
    summary="Per-street (街道) coverage table of one category: residents, 60+, life circles, gaps",
    description="One row per street of the district (or the city): all residents, the "
    "category's demand (60+ for elderly care where the population source has ages), demand "
    "within the 5-, 10- and 15-minute life circles (crow-fly at `speed` without a walking "
    "network) and within the catchment, in the gaps, and the suitable supply. Streets come "
    "from `JZMAP_STREETS_LAYER` polygons, else from the nearest provider's address "
    "(`street_inferred`).",
)
def streets(
    service: CoverageDep,
    supply: SupplyDep,
    category: Category,
    district: District = None,
    crs: Annotated[CRS, Query(description="CRS of the streets' label points")] = CRS.WGS84,
) -> Response:
    query = supply.query(service, category)
    service.check_district(district)
    analysis = service.analysis(query)
    table = streets_of(analysis, district)
    if crs is not CRS.WGS84 and len(table):
        lon, lat = coordinates_in(
            table["lon"].to_numpy(np.float64), table["lat"].to_numpy(np.float64), crs
        )
        table = table.assign(lon=lon, lat=lat)
    body = CoverageStreetsOut(
        query=query_out(analysis, district, crs),
        life_circles_m=life_circles_m(query.speed, analysis.catchment_m),
        streets=street_outs(table),
    )
    return Response(body.model_dump_json(), media_type="application/json")


@router.get(
    "/workbook",
    response_class=Response,
    responses={
        200: {
            "content": {XLSX_MEDIA_TYPE: {}, GPKG_MEDIA_TYPE: {}},
            "description": "an Excel workbook (f=xlsx) or a GeoPackage (f=gpkg)",
        },
        **_ERRORS,
    },
    summary="The planner's workbench as a file: street table, site list, cells (Excel or GPKG)",
    description="For one district and category: Excel (`f=xlsx`; Chinese headers, rounded "
    "figures; sheets 街道, 建议站点, 说明) or GeoPackage (`f=gpkg`; layers streets, sites, "
    "cells, WGS-84) with exactly the figures of `/v1/coverage/streets` and "
    "`/v1/coverage/candidates` (`sites=cells`) or `/v1/coverage/sites` (`sites=rooms`: the "
    "office's own rooms, as the workbench shows them when they are configured), for the "
    "same `res`, `minutes`, `speed`, `mode`, `kind`, `k` and `exclude`.",
)
def workbook(
    service: CoverageDep,
    supply: SupplyDep,
    category: Category,
    district: OneDistrict,
    k: Annotated[int, Query(ge=SITES_BOUNDS[0], le=SITES_BOUNDS[1], description="sites")] = 5,
    f: Annotated[WorkbookFormat, Query(description="xlsx or gpkg")] = WorkbookFormat.XLSX,
    exclude: Annotated[
        str | None,
        Query(
            max_length=8_000,
            description="sites never to propose, comma-separated, at most 200: H3 cells "
            "(sites=cells, as /v1/coverage/candidates), room ids or H3 cells (sites=rooms, "
            "as /v1/coverage/sites)",
        ),
    ] = None,
    sites: Annotated[
        SiteSource,
        Query(
            description="cells: new sites among gap cells (/v1/coverage/candidates); rooms: "
            "among the office's own rooms (JZMAP_CANDIDATE_SITES, /v1/coverage/sites; 409 "
            "without them)"
        ),
    ] = SiteSource.CELLS,
    lang: Annotated[Lang, Query(description="headings and words: zh (default) or en")] = (Lang.ZH),
) -> Response:
    query = supply.query(service, category)
    plan: SitePlan | CandidatePlan
    if sites is SiteSource.ROOMS:
        # The page planning among her rooms exports her rooms: the same plan as
        # /v1/coverage/sites answers for these parameters (its default demand column).
        analysis, rooms = candidate_plan(
            service, query, configured_candidates(service.settings), k,
            district=district, excluded=excluded_items(exclude),
        )  # fmt: skip
        plan = with_addresses(service, rooms, deadline_s=lookup_deadline_s())
    else:
        cells = cells_to_exclude(excluded_items(exclude, cells_only=True), query.resolution)
        analysis, gap_plan = service.plan(query, k, district, cells)
        plan = with_addresses(service, gap_plan, deadline_s=lookup_deadline_s())
    table = streets_of(analysis, district)
    name = f"coverage-{district}-{category.value}"
    if f is WorkbookFormat.GPKG:
        content = workbench_geopackage(analysis, plan, table, district, streets_layer(service.city))
        media, suffix = GPKG_MEDIA_TYPE, "gpkg"
    else:
        content = workbench_xlsx(analysis, plan, table, district, lang)
        media, suffix = XLSX_MEDIA_TYPE, "xlsx"
    ascii_name = f"coverage-{category.value}.{suffix}"
    return Response(
        content,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{ascii_name}"; '
            f"filename*=UTF-8''{quote(name)}.{suffix}"
        },
    )

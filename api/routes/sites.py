"""``/v1/coverage/sites``: where among the office's own candidate rooms new stations would
bring the most residents within the life circle (capacitated MCLP, existing providers kept).

The rooms are the operator's file (``JZMAP_CANDIDATE_SITES``); ``exclude`` leaves some out
for one request. Walking or crow-fly as on the other coverage endpoints.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deadline import lookup_deadline_s
from api.dependencies import CoverageDep, SettingsDep, SupplyDep
from api.params import SITES_BOUNDS, excluded_items
from geo.crs import CRS
from jzmap.application.coverage import with_addresses
from jzmap.application.sites import candidate_plan, configured_candidates
from jzmap.presentation.coverage import clean_row, query_out
from jzmap.presentation.presenters import coordinates_in
from jzmap.presentation.schemas import CoverageSitesOut, ErrorOut, RoomPlanOut, RoomSiteOut
from jzmap.wiring import district_name
from providers.errors import InvalidParameterError
from providers.model import Category

router = APIRouter(prefix="/v1/coverage", tags=["coverage"])


@router.get(
    "/sites",
    response_model=CoverageSitesOut,
    responses={
        409: {
            "model": ErrorOut,
            "description": "no JZMAP_CANDIDATE_SITES, or mode=walk with no street network",
        },
    },
    summary="Which of the office's candidate rooms to open: demand newly within the life circle",
    description="Chooses up to `k` rooms of JZMAP_CANDIDATE_SITES (minus `exclude`: room ids "
    "or H3 cells) so that the most demand in the district's gap cells comes within the "
    "catchment (walking `minutes` at `speed`, or crow-fly), existing providers fixed and "
    "each room's `capacity` (residents) respected: a capacitated MCLP solved by HiGHS with "
    "JZMAP_SOLVER_TIME_LIMIT_S. `demand` names the population column counted (default: the "
    "category's own, e.g. residents aged 60+ for elderly_care, else all residents). Rooms "
    "without an address in the file get one as /v1/coverage/candidates' sites do "
    "(`address_source`: file, amap, nearest_way or none). With "
    "JZMAP_RESIDENTS_PER_PRACTITIONER an existing provider serves at most its practitioners × "
    "that (no staff figure: everyone it reaches, counted in `plan.existing_unlimited`): its "
    "cells' remaining demand can go to the rooms too; `plan.demand_served_by_existing_before` "
    "and `_after` and each room's `demand_served` say who serves what.",
)
def sites(
    *,
    service: CoverageDep,
    supply: SupplyDep,
    settings: SettingsDep,
    category: Category,
    district: Annotated[
        str, Query(max_length=100, description="the district planned for: name or code")
    ],
    k: Annotated[int, Query(ge=SITES_BOUNDS[0], le=SITES_BOUNDS[1], description="rooms")] = 3,
    exclude: Annotated[
        str | None,
        Query(max_length=8_000, description="room ids or H3 cells to leave out, comma-separated"),
    ] = None,
    demand: Annotated[
        str | None, Query(max_length=64, description="demand column of the population data")
    ] = None,
    crs: Annotated[CRS, Query(description="CRS of the sites")] = CRS.WGS84,
) -> Response:
    with contextlib.suppress(InvalidParameterError):  # the service's check lists them
        district = district_name(settings.city, district)
    excluded = excluded_items(exclude)
    query = supply.query(service, category)
    analysis, plan = candidate_plan(
        service, query, configured_candidates(service.settings), k,
        district=district, excluded=excluded, demand_column=demand,
    )  # fmt: skip
    plan = with_addresses(service, plan, deadline_s=lookup_deadline_s())
    table = plan.sites
    lon, lat = coordinates_in(
        table["lon"].to_numpy(np.float64), table["lat"].to_numpy(np.float64), crs
    )
    rows: list[dict[str, Any]] = [clean_row(r) for r in table.to_dict("records")]
    body = CoverageSitesOut(
        query=query_out(analysis, district, crs),
        plan=RoomPlanOut(**clean_row(plan.summary.iloc[0].to_dict())),
        sites=[
            RoomSiteOut(**{**r, "id": str(r["id"]), "lon": x, "lat": y})
            for r, x, y in zip(rows, lon, lat, strict=True)
        ],
        excluded=excluded,
    )
    return Response(body.model_dump_json(), media_type="application/json")

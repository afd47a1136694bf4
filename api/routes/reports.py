"""Problem reports: ``POST /v1/providers/{id}/reports`` (public) and, with the admin
token, ``GET /v1/admin/reports`` and ``POST /v1/admin/reports/{id}/resolve``.

What a report must pass before it is stored (body cap, rate, origin) is
:mod:`api.problem_reports`, shared with the provider page's plain form.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam

from api.dependencies import BackendDep, SettingsDep
from api.problem_reports import REPORT_MAX_BODY_BYTES, ReportRefusedError, file_report
from api.security import admin_router
from jzmap.application.problem_reports import list_reports, resolve_report
from jzmap.presentation.problem_reports import (
    ReportIn,
    ReportOut,
    ReportReceivedOut,
    ReportsPageOut,
    ResolveIn,
    page_out,
    received_out,
    report_out,
)
from jzmap.presentation.schemas import ErrorOut
from providers.problem_reports import (
    MAX_REPORTS_PAGE,
    ReportKind,
    ReportQuery,
    ReportStatus,
)

public_router = APIRouter(prefix="/v1/providers", tags=["providers"])
router = admin_router()
ProviderIdPath = Annotated[str, PathParam(min_length=1, max_length=100)]


@public_router.post(
    "/{provider_id}/reports",
    response_model=ReportReceivedOut,
    responses={
        403: {"model": ErrorOut, "description": "sent by a browser from another site"},
        404: {"model": ErrorOut},
        413: {"model": ErrorOut, "description": f"a body over {REPORT_MAX_BODY_BYTES} bytes"},
    },
    summary="Report that a listing looks wrong (wrong phone, closed, moved, other)",
    description="For operators to check: the kind and, if given, a few words (kept to 300 "
    "characters). Nothing about the sender is stored. At most `JZMAP_REPORTS_PER_HOUR` per "
    "client address (429 with `Retry-After` beyond); a body of at most 4 KB.",
)
def post_report(
    request: Request,
    provider_id: ProviderIdPath,
    body: ReportIn,
    backend: BackendDep,
    settings: SettingsDep,
) -> ReportReceivedOut:
    try:
        report = file_report(request, settings, backend, body, provider_id)
    except ReportRefusedError as refused:
        headers = (
            None if refused.retry_after_s is None else {"Retry-After": str(refused.retry_after_s)}
        )
        raise HTTPException(refused.status, refused.message, headers=headers) from None
    return received_out(report)


@router.get(
    "/reports",
    response_model=ReportsPageOut,
    summary="Residents' problem reports, newest first (as `jzmap reports list`)",
    description="Filter by `provider_id`, `kind` and `status`; a page by `offset` and "
    "`limit`; `total` counts every match.",
)
def get_reports(
    backend: BackendDep,
    *,
    provider_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    kind: ReportKind | None = None,
    status: ReportStatus | None = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_REPORTS_PAGE)] = 100,
) -> ReportsPageOut:
    query = ReportQuery(provider_id, kind, status, offset, limit)
    return page_out(list_reports(backend.reports, query), offset, limit)


@router.post(
    "/reports/{report_id}/resolve",
    response_model=ReportOut,
    responses={404: {"model": ErrorOut}},
    summary="Mark a problem report resolved, with a note (as `jzmap reports resolve`)",
)
def post_resolve(
    backend: BackendDep,
    report_id: Annotated[int, PathParam(ge=1, le=2**62)],
    body: ResolveIn | None = None,
) -> ReportOut:
    note = None if body is None else body.note
    return report_out(resolve_report(backend.reports, report_id, note))

"""Problem reports: ``POST /v1/providers/{id}/reports`` (public) and, with the admin
token, ``GET /v1/admin/reports`` and ``POST /v1/admin/reports/{id}/resolve``.

A report is public and anonymous, so it is held to little: a body of at most
:data:`REPORT_MAX_BODY_BYTES` (refused from ``Content-Length`` before it is read, see
:func:`api.app.body_policies`), ``JZMAP_REPORTS_PER_HOUR`` per client address (a token
bucket of its own, :class:`api.middleware.TokenBuckets`), and only from this site's own
pages or from clients that are not browsers (a browser on another site is refused: the
provider page's form must not be a way for other sites to file reports in a visitor's
name). The provider page's plain HTML form (``api.routes.pages``) goes through the same
checks.
"""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam

from api.dependencies import BackendDep, SettingsDep
from api.middleware import TokenBuckets
from api.security import admin_router
from jzmap.application.problem_reports import list_reports, resolve_report, submit_report
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
from jzmap.settings import Settings
from providers.problem_reports import (
    MAX_REPORTS_PAGE,
    ProblemReport,
    ReportKind,
    ReportQuery,
    ReportStatus,
)
from providers.stores import Backend

REPORT_MAX_BODY_BYTES = 4 << 10
"""The largest body a report may have (JSON or a form): a kind and a short text."""
REPORT_ROUTES = (
    ("POST", "/v1/providers/{provider_id}/reports", "application/json"),
    ("POST", "/p/{provider_id}/report", "application/x-www-form-urlencoded"),
)
"""The routes that take a report and their body's media type, for the request guard."""

public_router = APIRouter(prefix="/v1/providers", tags=["providers"])
router = admin_router()
ProviderIdPath = Annotated[str, PathParam(min_length=1, max_length=100)]


class ReportRefusedError(Exception):
    """A report refused before it is looked at: too many from this address (429) or sent
    by a browser from another site (403)."""

    def __init__(self, status: int, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s


def _buckets(request: Request, settings: Settings) -> TokenBuckets:
    # Made on first use, one per app (and worker process); a dependency on the event loop,
    # so two first reports cannot both make one.
    buckets: TokenBuckets | None = getattr(request.app.state, "report_buckets", None)
    if buckets is None:
        per_hour = settings.limits.reports_per_hour
        buckets = TokenBuckets(per_minute=per_hour / 60, burst=per_hour)
        request.app.state.report_buckets = buckets
    return buckets


def _own_origin(request: Request, settings: Settings) -> str:
    base = settings.server.public_base_url
    if base:
        parts = urlsplit(base)
        return f"{parts.scheme}://{parts.netloc}"
    return f"{request.url.scheme}://{request.url.netloc}"


def check_report_allowed(request: Request, settings: Settings) -> None:
    """Refuse a report from a browser on another site, then one over the address's budget.

    Raises
    ------
    ReportRefusedError
        403 or 429 (with the seconds to wait).
    """
    fetch_site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if fetch_site in ("cross-site", "same-site") or (
        origin is not None and origin != _own_origin(request, settings)
    ):
        raise ReportRefusedError(403, "reports are taken from this site's own pages only")
    client = request.client.host if request.client else "unknown"
    wait_s = _buckets(request, settings).take(client)
    if wait_s > 0:
        retry = max(1, math.ceil(wait_s))
        raise ReportRefusedError(
            429,
            f"too many reports from this address (JZMAP_REPORTS_PER_HOUR); retry in {retry} s",
            retry,
        )


def file_report(
    request: Request,
    settings: Settings,
    backend: Backend,
    report: ReportIn,
    provider_id: str,
) -> ProblemReport:
    """Check, then store, one report (what both the API and the page's form do)."""
    check_report_allowed(request, settings)
    return submit_report(backend.store, backend.reports, provider_id, report.kind, report.text)


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

"""What a problem report must pass before it is stored, for both routes that take one:
``POST /v1/providers/{id}/reports`` (:mod:`api.routes.reports`) and the provider page's
plain form ``POST /p/{id}/report`` (:mod:`api.routes.pages`).

A report is public and anonymous, so it is held to little: a body of at most
:data:`REPORT_MAX_BODY_BYTES` (refused from ``Content-Length`` before it is read: the
request guard's rule for :data:`REPORT_ROUTES`, :func:`api.app.body_policies`),
``JZMAP_REPORTS_PER_HOUR`` per client address (a token bucket of its own,
:class:`api.middleware.TokenBuckets`), and only from this site's own pages or from clients
that are not browsers: a browser on another site is refused, so that no other site can
file reports in a visitor's name.
"""

from __future__ import annotations

import math
import threading
from urllib.parse import urlsplit

from fastapi import Request

from api.middleware import TokenBuckets
from jzmap.application.problem_reports import submit_report
from jzmap.presentation.problem_reports import ReportIn
from jzmap.settings import Settings
from providers.problem_reports import ProblemReport
from providers.stores import Backend

REPORT_MAX_BODY_BYTES = 4 << 10
"""The largest body a report may have (JSON or a form): a kind and a short text."""
REPORT_ROUTES = (
    ("POST", "/v1/providers/{provider_id}/reports", "application/json"),
    ("POST", "/p/{provider_id}/report", "application/x-www-form-urlencoded"),
)
"""The routes that take a report and their body's media type, for the request guard."""


class ReportRefusedError(Exception):
    """A report refused before it is looked at: too many from this address (429) or sent
    by a browser from another site (403)."""

    def __init__(self, status: int, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s


_BUCKETS_LOCK = threading.Lock()


def _take(request: Request, settings: Settings, client: str) -> float:
    """Spend one of ``client``'s report tokens: 0, or the seconds until one is due.

    The buckets are made on first use, one set per app (and worker process). Reports are
    taken on worker threads and :class:`~api.middleware.TokenBuckets` is not thread-safe:
    the lock covers making the set and each take."""
    with _BUCKETS_LOCK:
        buckets: TokenBuckets | None = getattr(request.app.state, "report_buckets", None)
        if buckets is None:
            per_hour = settings.limits.reports_per_hour
            buckets = TokenBuckets(per_minute=per_hour / 60, burst=per_hour)
            request.app.state.report_buckets = buckets
        return buckets.take(client)


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
    wait_s = _take(request, settings, client)
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

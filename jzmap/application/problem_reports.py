"""Residents report that a listing looks wrong; operators list and resolve the reports.

The rules are here so that the API, the provider page's form and ``jzmap reports`` apply
the same ones: a report is about a listed (active) provider, its text is cleaned and cut
(:func:`providers.problem_reports.clean_report_text`), and nothing else about the sender is
kept.
"""

from __future__ import annotations

from datetime import UTC, datetime

from providers.errors import InvalidParameterError, NotFoundError
from providers.problem_reports import (
    MAX_REPORTS_PAGE,
    MAX_RESOLUTION_NOTE,
    ProblemReport,
    ProblemReportStore,
    ReportKind,
    ReportPage,
    ReportQuery,
    clean_report_text,
)
from providers.store import ProviderStore


def submit_report(
    store: ProviderStore,
    reports: ProblemReportStore,
    provider_id: str,
    kind: ReportKind,
    text: str | None,
    *,
    now: datetime | None = None,
) -> ProblemReport:
    """Store a resident's report about ``provider_id``.

    Raises
    ------
    providers.errors.NotFoundError
        No listed provider has that id.
    """
    provider = store.get(provider_id)
    if provider is None or not provider.active:
        raise NotFoundError(
            f"no provider with id {provider_id!r}; ids come from /v1/providers/nearest"
        )
    return reports.add(provider.id, kind, clean_report_text(text), now or datetime.now(UTC))


def list_reports(reports: ProblemReportStore, query: ReportQuery) -> ReportPage:
    """A page of reports, newest first (at most :data:`MAX_REPORTS_PAGE`)."""
    if not 1 <= query.limit <= MAX_REPORTS_PAGE or query.offset < 0:
        raise InvalidParameterError.of(
            "limit",
            "out of range",
            got=query.limit,
            allowed=f"1 to {MAX_REPORTS_PAGE}, with offset 0 or more",
        )
    return reports.list(query)


def resolve_report(
    reports: ProblemReportStore, report_id: int, note: str | None, now: datetime | None = None
) -> ProblemReport:
    """Mark report ``report_id`` resolved, with the operator's ``note`` (cleaned, cut).

    Raises
    ------
    providers.errors.NotFoundError
        No such report.
    """
    cleaned = clean_report_text(note, MAX_RESOLUTION_NOTE)
    resolved = reports.resolve(report_id, now or datetime.now(UTC), cleaned)
    if resolved is None:
        raise NotFoundError(f"no report with id {report_id}; ids come from /v1/admin/reports")
    return resolved

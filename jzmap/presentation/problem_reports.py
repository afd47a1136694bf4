"""What the report routes take and give: a resident's report in, the operators' view out.

The public answer says only that the report was received; the operators' view carries the
report as stored (its free text, typed by the resident, is for operators only).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from providers.problem_reports import (
    MAX_REPORT_TEXT,
    MAX_RESOLUTION_NOTE,
    ProblemReport,
    ReportKind,
    ReportPage,
    ReportStatus,
)

# Room for more than the stored text, so that a long paste is cut (and kept), not refused;
# far less than the body cap, so the body stays small.
MAX_TEXT_IN = 4 * MAX_REPORT_TEXT


class ReportIn(BaseModel):
    """A resident's report that a listing looks wrong."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"kind": "wrong_phone", "text": "电话是空号"}]},
    )

    kind: ReportKind = Field(description="wrong_phone, closed, moved or other")
    text: str | None = Field(
        None,
        max_length=MAX_TEXT_IN,
        description=f"what looks wrong, in a few words; kept to {MAX_REPORT_TEXT} characters, "
        "control characters dropped. Do not write names or phone numbers of people.",
    )


class ReportReceivedOut(BaseModel):
    """The answer to a report: received, for operators to check."""

    provider_id: str
    kind: ReportKind
    status: ReportStatus
    received_at: datetime


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(
        None, max_length=MAX_RESOLUTION_NOTE, description="what was checked or changed"
    )


class ReportOut(BaseModel):
    """A report as stored, for operators."""

    id: int
    provider_id: str
    kind: ReportKind
    text: str
    created_at: datetime
    status: ReportStatus
    resolved_at: datetime | None
    note: str


class ReportsPageOut(BaseModel):
    total: int = Field(description="reports matching the filters in all")
    offset: int
    limit: int
    reports: list[ReportOut]


def received_out(report: ProblemReport) -> ReportReceivedOut:
    return ReportReceivedOut(
        provider_id=report.provider_id,
        kind=report.kind,
        status=report.status,
        received_at=report.created_at,
    )


def report_out(report: ProblemReport) -> ReportOut:
    return ReportOut(
        id=report.id,
        provider_id=report.provider_id,
        kind=report.kind,
        text=report.text,
        created_at=report.created_at,
        status=report.status,
        resolved_at=report.resolved_at,
        note=report.note,
    )


def page_out(page: ReportPage, offset: int, limit: int) -> ReportsPageOut:
    return ReportsPageOut(
        total=page.total,
        offset=offset,
        limit=limit,
        reports=[report_out(r) for r in page.reports],
    )

"""``/v1/admin/appeals`` and ``/v1/admin/notices``: appeals (申诉) and operators' notices.

An appeal is filed (``POST /v1/admin/appeals``), then decided once
(``POST /v1/admin/appeals/{id}/decision``); the work is
:mod:`jzmap.application.appeals`. Notices list what an operator should review within the
appeal window (``JZMAP_GRADES_APPEAL_WINDOW_DAYS``). All of it requires the admin token.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Path

from api.dependencies import GradeBookDep, GradeStoresDep, SettingsDep
from api.security import admin_router
from jzmap.application.appeals import (
    AppealResult,
    appeals_by_complaint,
    decide_appeal,
    file_appeal,
    find_appeal,
    notices,
)
from jzmap.application.grades import EvaluationReport
from jzmap.presentation.explanations import explain
from jzmap.presentation.schemas import (
    AppealDecisionIn,
    AppealIn,
    AppealOut,
    ErrorOut,
    GradeChangeOut,
    NoticeOut,
    NoticesOut,
    SubjectOut,
)
from providers.evaluations import CHINA_TZ, Appeal
from providers.gradebook import evaluation_type, grade_text
from providers.grading import GradeChange

router = admin_router()
AppealId = Annotated[str, Path(min_length=1, max_length=100)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut},
    409: {"model": ErrorOut},
    422: {"model": ErrorOut},
}


@router.post(
    "/appeals",
    response_model=AppealOut,
    responses=_ERRORS,
    summary="File an appeal against a verified complaint (its deductions or blacklisting)",
)
def post_appeal(body: AppealIn, stores: GradeStoresDep, settings: SettingsDep) -> AppealOut:
    result = file_appeal(
        stores,
        appeal_id=body.id,
        complaint_id=body.complaint_id,
        filed_at=body.filed_at,
        scope=body.scope,
        grounds=body.grounds,
        baseline_since=settings.grades.baseline_since,
    )
    return _out(result.appeal, result)


@router.post(
    "/appeals/{appeal_id}/decision",
    response_model=AppealOut,
    responses=_ERRORS,
    summary="Uphold or dismiss a filed appeal; an upheld one reverses through the grade engine",
)
def post_decision(
    *,
    appeal_id: AppealId,
    body: AppealDecisionIn,
    stores: GradeStoresDep,
    settings: SettingsDep,
) -> AppealOut:
    result = decide_appeal(
        stores,
        appeal_id,
        status=body.status,
        at=body.decided_at,
        by=body.decided_by,
        decision=body.decision,
        baseline_since=settings.grades.baseline_since,
    )
    return _out(result.appeal, result)


@router.get(
    "/appeals/{appeal_id}",
    response_model=AppealOut,
    responses={404: {"model": ErrorOut}},
    summary="An appeal: what it contests, who decided, when and why",
)
def get_appeal(appeal_id: AppealId, gradebook: GradeBookDep) -> AppealOut:
    return _out(find_appeal(gradebook, appeal_id), None)


@router.get(
    "/notices",
    response_model=NoticesOut,
    summary="Blacklistings and grade drops of a letter or more within the appeal window",
)
def get_notices(gradebook: GradeBookDep, settings: SettingsDep) -> NoticesOut:
    window = timedelta(days=settings.grades.appeal_window_days)
    now = datetime.now(CHINA_TZ)
    found = notices(gradebook, now, window)
    out: list[NoticeOut] = []
    for n in found:
        events = {e.id: e for e in n.triggers}
        appeals = appeals_by_complaint(gradebook.events(n.change.subject))
        text = explain(n.change, events, appeals)
        out.append(
            NoticeOut(
                kind="blacklisting" if n.kind == "blacklisting" else "grade_drop",
                change=change_out(n.change),
                trigger_types=[evaluation_type(e) for e in n.triggers],
                explanation_zh=text.zh,
                explanation_en=text.en,
                review_by=n.review_by,
            )
        )
    return NoticesOut(
        since=now - window, window_days=settings.grades.appeal_window_days, notices=out
    )


def change_out(c: GradeChange) -> GradeChangeOut:
    return GradeChangeOut(
        subject=SubjectOut(kind=c.subject.kind, id=c.subject.id),
        at=c.at,
        cause=list(c.cause),
        grade_before=grade_text(c.grade_before),
        grade_after=grade_text(c.grade_after),
        score_before=c.score_before,
        score_after=c.score_after,
        blacklisted=c.blacklisted,
    )


def _out(appeal: Appeal, result: AppealResult | None) -> AppealOut:
    report: EvaluationReport | None = None if result is None else result.report
    return AppealOut(
        id=appeal.id,
        subject=SubjectOut(kind=appeal.subject.kind, id=appeal.subject.id),
        complaint_id=appeal.complaint_id,
        scope=appeal.scope,
        filed_at=appeal.filed_at,
        grounds=appeal.grounds,
        status=appeal.status,
        decided_at=appeal.decided_at,
        decided_by=appeal.decided_by,
        decision=appeal.decision,
        grade_changes=[] if report is None else [change_out(c) for c in report.changes],
        practitioners_lifted=[] if report is None else list(report.lifted),
        providers_updated=[] if report is None else list(report.providers_updated),
    )

"""``/v1/providers/{id}/grade-history``: a company's public grade trail.

Public, so it carries only what may be public: times, the ids of the evaluations behind
each change, grades and scores before and after, and a plain-words zh/en sentence per
change (:mod:`jzmap.presentation.explanations`: kinds, severities, points, dimensions and
whether it was appealed). Review texts, complaint details and
anything about practitioners stay in the grade book.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.dependencies import GradeBookDep, ProviderDep
from jzmap.application.appeals import appeals_by_complaint
from jzmap.presentation.explanations import explain
from jzmap.presentation.schemas import ErrorOut, GradeHistoryEntryOut, GradeHistoryOut
from providers.evaluations import Subject
from providers.model import Grade, Kind
from providers.practitioners import Stars

router = APIRouter(prefix="/v1/providers", tags=["providers"])


@router.get(
    "/{provider_id}/grade-history",
    response_model=GradeHistoryOut,
    responses={404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    summary="A company's dynamic grade changes, with their causes",
)
def grade_history(provider: ProviderDep, gradebook: GradeBookDep) -> GradeHistoryOut:
    if provider.kind is not Kind.COMPANY:
        # Stations are not graded: no trail, said plainly rather than with a 404.
        return GradeHistoryOut(
            provider_id=provider.id,
            credit_grade=None,
            baseline=None,
            baseline_since=None,
            score=None,
            changes=[],
        )
    subject = Subject.company(provider.id)
    current = gradebook.current(subject)
    history = gradebook.history(subject)
    # Explanations read the evaluations' kinds, severities and dates, never their texts.
    events = {e.id: e for e in gradebook.events(subject)} if history else {}
    appeals = appeals_by_complaint(list(events.values()))
    changes = []
    for c in history:
        text = explain(c, events, appeals)
        changes.append(
            GradeHistoryEntryOut(
                at=c.at,
                cause=list(c.cause),
                grade_before=_grade(c.grade_before),
                grade_after=_grade(c.grade_after),
                score_before=c.score_before,
                score_after=c.score_after,
                explanation_zh=text.zh,
                explanation_en=text.en,
                appealed=text.appealed,
            )
        )
    return GradeHistoryOut(
        provider_id=provider.id,
        credit_grade=provider.credit_grade,
        baseline=None if current is None else _grade(current.baseline.grade),
        baseline_since=None if current is None else current.baseline.since,
        score=None if current is None else current.score,
        changes=changes,
    )


def _grade(grade: Grade | Stars) -> Grade:
    # A company subject's grades are always Grades; stars would mean a mixed-up subject.
    if not isinstance(grade, Grade):
        raise TypeError(f"a company's grade history holds stars: {grade!r}")
    return grade

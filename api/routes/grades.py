"""``/v1/providers/{id}/grade-history``: a company's public grade trail.

Public, so it carries only what the issue allows: times, the ids of the evaluations behind
each change, grades and scores before and after. Review texts, complaint details and
anything about practitioners stay in the grade book.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.deps import GradeBookDep, StoreDep
from api.errors import error_body
from api.schemas import ErrorOut, GradeHistoryEntryOut, GradeHistoryOut
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
def grade_history(
    store: StoreDep,
    gradebook: GradeBookDep,
    provider_id: Annotated[str, Path(min_length=1, max_length=100)],
) -> GradeHistoryOut | JSONResponse:
    provider = store.get(provider_id)
    if provider is None or not provider.active:
        return JSONResponse(
            status_code=404,
            content=error_body(
                "not_found",
                f"no provider with id {provider_id!r}; ids come from /v1/providers/nearest",
            ),
        )
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
    changes = [
        GradeHistoryEntryOut(
            at=c.at,
            cause=list(c.cause),
            grade_before=_grade(c.grade_before),
            grade_after=_grade(c.grade_after),
            score_before=c.score_before,
            score_after=c.score_after,
        )
        for c in gradebook.history(subject)
    ]
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

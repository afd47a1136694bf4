"""``POST /v1/admin/evaluations``: the evaluations feed (reviews, complaints, visits).

Items are validated one by one (see :mod:`jzmap.application.grades` for why a batch is not
all-or-nothing); the rest of the work is :func:`jzmap.application.grades.apply_evaluations`.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from api.batches import SortedBatch, check_batch_size, sort_batch
from api.dependencies import GradeBookDep, RegistryDep, SettingsDep, StoreDep
from api.security import admin_router
from jzmap.application.grades import apply_evaluations
from jzmap.presentation.schemas import (
    ErrorOut,
    EvaluationBatchIn,
    EvaluationIn,
    EvaluationReportOut,
    GradeChangeOut,
    RejectedItemOut,
    SubjectOut,
)
from providers.evaluations import Evaluation, InvalidEvaluationError
from providers.gradebook import Outcome, grade_text

router = admin_router()
_ITEM: TypeAdapter[Any] = TypeAdapter(EvaluationIn)


@router.post(
    "/evaluations",
    response_model=EvaluationReportOut,
    responses={
        400: {"model": ErrorOut},
        413: {"model": ErrorOut},
        422: {"model": ErrorOut},
        503: {"model": ErrorOut},
    },
    summary="Record a batch of reviews, complaints and follow-up visits; grades follow",
)
def post_evaluations(
    batch: EvaluationBatchIn,
    store: StoreDep,
    gradebook: GradeBookDep,
    registry: RegistryDep,
    settings: SettingsDep,
) -> EvaluationReportOut:
    check_batch_size(
        batch.evaluations,
        settings.limits.max_evaluations_per_batch,
        "evaluations",
        "JZMAP_MAX_EVALUATIONS_PER_BATCH",
    )
    items: SortedBatch[Evaluation] = sort_batch(batch.evaluations, _parse, _item_id)
    parsed, positions, rejected = items.parsed, items.positions, items.rejected
    report = apply_evaluations(
        gradebook,
        store,
        parsed,
        baseline_since=settings.grades.baseline_since,
        registry=registry,
    )
    for result in report.items:
        if result.outcome is Outcome.REJECTED:
            index = positions[result.index]
            rejected.append(
                RejectedItemOut(index=index, id=result.id, reasons=list(result.reasons))
            )
    return EvaluationReportOut(
        received=len(batch.evaluations),
        accepted=report.ids(Outcome.ACCEPTED),
        duplicates=report.ids(Outcome.DUPLICATE),
        rejected=sorted(rejected, key=lambda r: r.index),
        grade_changes=[
            GradeChangeOut(
                subject=SubjectOut(kind=c.subject.kind, id=c.subject.id),
                at=c.at,
                cause=list(c.cause),
                grade_before=grade_text(c.grade_before),
                grade_after=grade_text(c.grade_after),
                score_before=c.score_before,
                score_after=c.score_after,
                blacklisted=c.blacklisted,
            )
            for c in report.changes
        ],
        providers_updated=list(report.providers_updated),
        blacklisted=list(report.blacklisted),
    )


def _parse(item: Any) -> tuple[Evaluation | None, list[str]]:
    """The item as a domain evaluation, or the reasons it is not one."""
    try:
        evaluation: Evaluation = _ITEM.validate_python(item).to_domain()
    except ValidationError as exc:
        return None, [_reason(err) for err in exc.errors()]
    except InvalidEvaluationError as exc:
        return None, [str(exc)]
    return evaluation, []


def _reason(err: Any) -> str:
    if err.get("type") in ("union_tag_not_found", "union_tag_invalid"):
        return (
            f"type: must be review, complaint or visit (got {err.get('input', {}).get('type')!r})"
        )
    # The first part of the location is the discriminator's value ("review"): not a field.
    loc = [str(p) for p in err.get("loc", ())][1:] or ["item"]
    return f"{'.'.join(loc)}: {err.get('msg', 'invalid value')}"


def _item_id(item: Any) -> str | None:
    value = item.get("id") if isinstance(item, dict) else None
    return value if isinstance(value, str) and value else None

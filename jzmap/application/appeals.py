"""Appeals (申诉) and the operators' notices, wired.

An appeal names a verified complaint and contests it (its deductions and blacklisting) or
only the blacklisting it caused. It is filed, then decided once — upheld or dismissed, by
whom, when and why — and both versions go through the grade book like any evaluation
(:func:`jzmap.application.grades.apply_evaluations`): an upheld appeal reverses the
complaint's effects *through the grade engine* from its decision (no grade is edited), the
audit trail gains the record, and the registry's blacklisting is lifted or moved to the
case that stands, which restores the certificate when its checks still hold.

:func:`notices` lists what an operator should review within the appeal window: every
blacklisting, and every grade drop of one letter (one star) or more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from jzmap.application.grades import EvaluationReport, apply_evaluations
from providers.errors import ConflictError, InvalidRequestError, NotFoundError
from providers.evaluations import (
    Appeal,
    AppealScope,
    AppealStatus,
    Complaint,
    GradeEvent,
    InvalidEvaluationError,
)
from providers.gradebook import GradeBook, Outcome
from providers.grading import GradeChange
from providers.registry import PractitionerRegistry
from providers.store import ProviderStore
from providers.stores import Backend


@dataclass(frozen=True, slots=True)
class GradeStores:
    """The three stores an appeal reaches."""

    gradebook: GradeBook
    providers: ProviderStore
    registry: PractitionerRegistry | None

    @classmethod
    def of(cls, backend: Backend) -> GradeStores:
        """The backend's grade book, provider store and practitioners registry."""
        return cls(backend.gradebook, backend.store, backend.registry)


@dataclass(frozen=True, slots=True)
class AppealResult:
    """The appeal as stored and what recording it did."""

    appeal: Appeal
    report: EvaluationReport


def file_appeal(
    stores: GradeStores,
    *,
    appeal_id: str,
    complaint_id: str,
    filed_at: datetime,
    scope: AppealScope = AppealScope.COMPLAINT,
    grounds: str = "",
    baseline_since: datetime,
) -> AppealResult:
    """File an appeal against the verified complaint ``complaint_id``.

    Raises
    ------
    NotFoundError
        No such complaint.
    InvalidRequestError
        The appeal is malformed, or the grade book refuses it (the complaint is not
        verified, the appeal predates its verification, its id is used, ...).
    """
    target = stores.gradebook.find([complaint_id]).get(complaint_id)
    if not isinstance(target, Complaint):
        raise NotFoundError(f"no recorded complaint with id {complaint_id!r}")
    try:
        appeal = Appeal(appeal_id, target.subject, complaint_id, filed_at, scope, grounds)
    except InvalidEvaluationError as exc:
        raise InvalidRequestError(str(exc)) from exc
    return AppealResult(appeal, _record(stores, appeal, baseline_since))


def decide_appeal(
    stores: GradeStores,
    appeal_id: str,
    *,
    status: AppealStatus,
    at: datetime,
    by: str,
    decision: str,
    baseline_since: datetime,
) -> AppealResult:
    """Uphold or dismiss the filed appeal ``appeal_id`` (a decision is final).

    Raises
    ------
    NotFoundError
        No such appeal.
    ConflictError
        It is already decided.
    InvalidRequestError
        The decision is malformed (no one named, no reason, before the filing, ...).
    """
    appeal = find_appeal(stores.gradebook, appeal_id)
    if appeal.status is not AppealStatus.FILED:
        raise ConflictError(
            f"appeal {appeal_id!r} is already {appeal.status} (on "
            f"{appeal.decided_at.isoformat() if appeal.decided_at else '?'}); a decision is final"
        )
    try:
        decided = appeal.decide(status, at, by, decision)
    except InvalidEvaluationError as exc:
        raise InvalidRequestError(str(exc)) from exc
    return AppealResult(decided, _record(stores, decided, baseline_since))


def find_appeal(gradebook: GradeBook, appeal_id: str) -> Appeal:
    """The stored appeal ``appeal_id``; :class:`NotFoundError` when there is none."""
    found = gradebook.find([appeal_id]).get(appeal_id)
    if not isinstance(found, Appeal):
        raise NotFoundError(f"no appeal with id {appeal_id!r}")
    return found


def _record(stores: GradeStores, appeal: Appeal, baseline_since: datetime) -> EvaluationReport:
    report = apply_evaluations(
        stores.gradebook,
        stores.providers,
        [appeal],
        baseline_since=baseline_since,
        registry=stores.registry,
    )
    item = report.items[0]
    if item.outcome is Outcome.REJECTED:
        raise InvalidRequestError(f"appeal {appeal.id!r}: " + "; ".join(item.reasons))
    if item.outcome is Outcome.DUPLICATE and appeal.status is AppealStatus.FILED:
        raise ConflictError(f"appeal {appeal.id!r} is already filed")
    return report


@dataclass(frozen=True, slots=True)
class Notice:
    """A change an operator should review before ``review_by``: a blacklisting or a grade
    drop of one letter or more, with the evaluations that triggered it."""

    change: GradeChange
    triggers: tuple[GradeEvent, ...]
    review_by: datetime

    @property
    def kind(self) -> str:
        return "blacklisting" if self.change.blacklisted else "grade_drop"


def notices(gradebook: GradeBook, now: datetime, window: timedelta) -> list[Notice]:
    """Every blacklisting and every grade drop of one letter (star) or more recorded within
    ``window`` before ``now`` (the appeal window), oldest first."""
    picked = [c for c in gradebook.changes_since(now - window) if is_notable(c)]
    events = gradebook.find({id_ for c in picked for id_ in c.cause})
    return [
        Notice(c, tuple(events[i] for i in c.cause if i in events), c.at + window) for c in picked
    ]


def is_notable(change: GradeChange) -> bool:
    """A blacklisting, or a grade one letter (one star) or more lower.

    Examples
    --------
    >>> from datetime import datetime
    >>> from providers.evaluations import Subject
    >>> from providers.model import Grade
    >>> c = GradeChange(Subject.company("co-1"), datetime(2026, 5, 1).astimezone(), ("cp-1",),
    ...                 Grade.A4, Grade.A3, 80.5, 78.0)
    >>> is_notable(c)
    True
    """
    return change.blacklisted or change.grade_after.rank < change.grade_before.rank


def appeals_by_complaint(events: Sequence[GradeEvent]) -> dict[str, list[Appeal]]:
    """The appeals among ``events`` by the complaint they name (each list by id)."""
    found: dict[str, list[Appeal]] = {}
    for e in sorted((e for e in events if isinstance(e, Appeal)), key=lambda a: a.id):
        found.setdefault(e.complaint_id, []).append(e)
    return found

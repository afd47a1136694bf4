"""The grade book: where evaluations, baselines, current grades and the audit trail live.

:mod:`providers.grading` is pure: it needs a subject's baseline and evaluations and says
what the grade is and what changed. A :class:`GradeBook` keeps those between calls, per
subject: the baseline (official grade and when it was assigned), every evaluation by id,
the current state and the :class:`~providers.grading.GradeChange` audit records. Two
backends implement it (``providers.stores.gradebook_embedded`` and
``providers.stores.gradebook_postgis``); both do their I/O around :func:`plan_recording`,
so the rules below are written once.

Recording rules
---------------
*Idempotent by id.* An evaluation id is recorded once, whatever its subject. Sending the
same evaluation again is a **duplicate** (nothing changes). Sending the same id with other
content is **rejected** — evaluations are immutable once recorded — with one exception:

*A complaint's resolution replaces its filed version.* A complaint is usually sent twice:
when it is filed and when it is verified or rejected. The resolved version (same id, same
content, ``status``/``resolved_at`` added) replaces the stored filed one. This keeps the
engine's "an id counts once" rule sound: a filed complaint takes no effect and is never
counted (it is not in :attr:`GradeState.applied`), so its resolution is the first and only
time the id counts. Whatever has counted never changes afterwards — a resolution is final,
so a verified complaint cannot later become rejected, nor a review change its stars — and
the stored audit trail therefore stays true. A filed version arriving after its resolution
is a stale duplicate.

*State by replay.* The stored state is a summary for reading (grade, score, blacklisting);
the engine's full :class:`GradeState` is rebuilt for every recording by replaying the
subject's stored evaluations onto its baseline, and the new batch is applied on top of
it. The audit records of the new batch are appended; earlier records are never rewritten.

*Baseline.* The first recording of a subject fixes its baseline; later recordings keep the
stored one (the ``baseline`` argument is then ignored).

*New official assessments.* An official grade that differs from the stored baseline (a
provider import whose 信用等级 changed, see :mod:`jzmap.application.imports`) is a new baseline:
:meth:`GradeBook.rebaseline` replaces baseline and ``since`` and rebuilds the state by
replaying the subject's stored evaluations onto the new baseline. The engine ignores
evaluations that took effect before ``since`` (they are reflected in the assessment), so
the official grade starts afresh and only evidence dated from the assessment on moves it;
the evaluations stay stored, so their ids stay used. The rebaseline appends one audit
record at ``since`` whose cause names the assessment (``"official:<file>"``), with the
grade and score before and after. A baseline equal to the stored one changes nothing, so
repeating a rebaseline is harmless; a subject never evaluated has nothing to rebaseline
(its first recording takes the provider's grade, or the registry's stars, then).

The same holds for practitioners: a practitioners registry load whose official ``stars``
differ from an evaluated practitioner's baseline rebaselines them (see
:mod:`jzmap.application.practitioners`; cause ``"official:registry"`` for the JSON API,
``"official:<file>"`` for a file import). :meth:`GradeBook.subject_grades` reads the
baselines to compare with in one query.

*Transactions.* Each :meth:`GradeBook.record` reads, plans and writes one subject in one
transaction, holding that subject's lock, so concurrent batches cannot lose each other's
evaluations and a failure leaves nothing behind; re-running a batch is always safe.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from providers.evaluations import (
    CHINA_TZ,
    Appeal,
    AppealScope,
    AppealStatus,
    Complaint,
    ComplaintStatus,
    FollowUpVisit,
    GradeEvent,
    Review,
    Severity,
    Subject,
    SubjectKind,
    VisitOutcome,
)
from providers.grading import (
    DEFAULT_MODEL,
    GradeChange,
    GradeState,
    GradingModel,
    apply,
    initial_state,
)
from providers.model import Grade
from providers.practitioners import Stars


@dataclass(frozen=True, slots=True)
class Baseline:
    """An officially assigned grade (a company's 5A..A, a practitioner's stars) and when."""

    grade: Grade | Stars
    since: datetime


class Outcome(StrEnum):
    """What became of one evaluation sent to :meth:`GradeBook.record`."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    outcome: Outcome
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Recording:
    """What one :meth:`GradeBook.record` did.

    ``outcomes`` follows the evaluations as they were sent, position by position;
    ``accepted`` are the versions written (new ids, and resolutions replacing filed
    complaints); ``changes`` are the audit records appended.
    """

    subject: Subject
    baseline: Baseline
    outcomes: tuple[ItemOutcome, ...]
    accepted: tuple[GradeEvent, ...]
    state: GradeState
    changes: tuple[GradeChange, ...]


@dataclass(frozen=True, slots=True)
class SubjectGrade:
    """A subject's stored summary: baseline and current grade."""

    subject: Subject
    baseline: Baseline
    grade: Grade | Stars
    score: float
    as_of: datetime
    blacklisted_at: datetime | None = None
    blacklist_cause: str | None = None


@runtime_checkable
class GradeBook(Protocol):
    """Storage for dynamic grades; see the module's recording rules."""

    def record(
        self,
        subject: Subject,
        baseline: Baseline,
        evaluations: Sequence[GradeEvent],
        model: GradingModel = DEFAULT_MODEL,
    ) -> Recording:
        """Record evaluations about ``subject`` (all of them must be about it) in one
        transaction; ``baseline`` counts only when the subject is new."""
        ...

    def current(self, subject: Subject) -> SubjectGrade | None:
        """The subject's baseline and current grade, or ``None`` if never evaluated."""
        ...

    def history(self, subject: Subject) -> list[GradeChange]:
        """The subject's audit records, oldest first (empty if never evaluated)."""
        ...

    def company_grades(self) -> dict[str, tuple[Grade, Grade]]:
        """Every evaluated company's id -> (baseline grade, current grade), for a provider
        import to tell a re-import from a new official assessment (one query)."""
        ...

    def subject_grades(
        self, kind: SubjectKind, ids: Collection[str] | None = None
    ) -> dict[str, SubjectGrade]:
        """Every evaluated subject of ``kind`` (only those among ``ids`` when given):
        id -> its stored summary, baseline included, sorted by id. One query (a large
        ``ids`` may be sent in chunks); for a registry load to tell practitioners whose
        official stars changed from those it merely repeats."""
        ...

    def rebaseline(
        self,
        subject: Subject,
        baseline: Baseline,
        cause: str,
        model: GradingModel = DEFAULT_MODEL,
    ) -> GradeChange | None:
        """Make ``baseline`` the subject's new official baseline, in one transaction (see
        the module's rules); returns the audit record appended, or ``None`` when the
        subject is unknown or ``baseline`` is the stored one."""
        ...

    def events(self, subject: Subject) -> list[GradeEvent]:
        """Every evaluation and appeal stored about ``subject``, sorted by id."""
        ...

    def find(self, ids: Collection[str]) -> dict[str, GradeEvent]:
        """The stored evaluations and appeals among ``ids``, whatever their subject."""
        ...

    def regrade(
        self,
        subject: Subject,
        corrections: Mapping[str, Severity],
        at: datetime,
        cause: str,
        model: GradingModel = DEFAULT_MODEL,
    ) -> GradeChange | None:
        """Re-run the engine over the subject's stored evaluations under ``model``, with
        ``corrections`` to stored complaints' severities, in one transaction (see
        :func:`plan_regrade`); stores the corrected complaints and the new state, appends
        and returns the audit record when the grade, score or blacklisting changed."""
        ...

    def changes_since(self, since: datetime) -> list[GradeChange]:
        """Every audit record at or after ``since``, of every subject, oldest first."""
        ...

    def delete_all(self) -> int:
        """Remove every subject, evaluation and audit record in one transaction (a demo
        rebuild); returns how many subjects there were."""
        ...

    def check(self) -> None:
        """Raise :class:`~providers.store.StoreUnavailableError` when it cannot answer."""
        ...

    def close(self) -> None: ...


def plan_recording(
    subject: Subject,
    baseline: Baseline,
    stored: Sequence[GradeEvent],
    known: Mapping[str, GradeEvent],
    incoming: Sequence[GradeEvent],
    *,
    model: GradingModel = DEFAULT_MODEL,
) -> Recording:
    """Decide what recording ``incoming`` means, given what is stored (pure).

    Parameters
    ----------
    baseline
        The subject's stored baseline (or, for a new subject, the one to store).
    stored
        Every evaluation stored for ``subject``.
    known
        Stored evaluations of any subject whose ids are among ``incoming``'s.
    """
    pending: dict[str, GradeEvent] = {}
    outcomes: list[ItemOutcome] = []
    stored_by_id = {e.id: e for e in stored}
    for e in incoming:
        if e.subject != subject:
            outcomes.append(
                ItemOutcome(Outcome.REJECTED, f"is about {e.subject.kind} {e.subject.id!r}")
            )
            continue
        problem = (
            _appeal_problem(e, stored_by_id, pending, model) if isinstance(e, Appeal) else None
        )
        if problem is not None:
            outcomes.append(ItemOutcome(Outcome.REJECTED, problem))
            continue
        seen = pending.get(e.id) or known.get(e.id)
        if seen is None:
            pending[e.id] = e
            outcomes.append(ItemOutcome(Outcome.ACCEPTED))
        elif seen.subject != e.subject:
            outcomes.append(
                ItemOutcome(
                    Outcome.REJECTED,
                    f"id {e.id!r} is already recorded for another subject; ids are unique "
                    "across the whole feed",
                )
            )
        elif seen == e or is_resolution(e, seen):
            outcomes.append(ItemOutcome(Outcome.DUPLICATE))
        elif is_resolution(seen, e):
            pending[e.id] = e
            outcomes.append(ItemOutcome(Outcome.ACCEPTED))
        else:
            outcomes.append(
                ItemOutcome(
                    Outcome.REJECTED,
                    f"id {e.id!r} is already recorded with other content; a recorded "
                    "evaluation cannot change (only a filed complaint may be resolved)",
                )
            )
    replayed, _ = apply(
        initial_state(subject, baseline.grade, baseline.since, model), stored, model
    )
    # Only new ids and resolutions of filed (never counted) complaints are pending, so
    # applying them on top of the replay counts every id at most once.
    state, changes = apply(replayed, pending.values(), model)
    return Recording(
        subject=subject,
        baseline=baseline,
        outcomes=tuple(outcomes),
        accepted=tuple(pending.values()),
        state=state,
        changes=changes,
    )


def _appeal_problem(
    appeal: Appeal,
    stored: Mapping[str, GradeEvent],
    pending: Mapping[str, GradeEvent],
    model: GradingModel,
) -> str | None:
    """Why ``appeal`` cannot be recorded (``None`` when it can): it must name a verified
    complaint about its own subject, recorded before or in the same batch, and be filed no
    earlier than that complaint's verification."""
    target = pending.get(appeal.complaint_id) or stored.get(appeal.complaint_id)
    if not isinstance(target, Complaint):
        return (
            f"complaint {appeal.complaint_id!r} is not recorded for {appeal.subject.kind} "
            f"{appeal.subject.id!r}; an appeal names a recorded complaint of its subject"
        )
    if target.status is not ComplaintStatus.VERIFIED or target.resolved_at is None:
        return f"complaint {appeal.complaint_id!r} is {target.status}: only a verified one counts"
    if appeal.filed_at < target.resolved_at:
        return (
            f"filed_at {appeal.filed_at.isoformat()} is before the complaint was verified "
            f"({target.resolved_at.isoformat()})"
        )
    if appeal.scope is AppealScope.BLACKLISTING and (
        appeal.subject.kind is not SubjectKind.PRACTITIONER
        or target.severity not in model.blacklist_severities
    ):
        return (
            f"complaint {appeal.complaint_id!r} blacklists no one (a {target.severity} "
            f"complaint against a {appeal.subject.kind}); appeal its deductions (scope complaint)"
        )
    return None


def plan_regrade(
    before: SubjectGrade,
    stored: Sequence[GradeEvent],
    corrections: Mapping[str, Severity],
    *,
    at: datetime,
    cause: str,
    model: GradingModel = DEFAULT_MODEL,
) -> tuple[GradeState, tuple[GradeEvent, ...], GradeChange | None]:
    """Re-run the engine over ``before.subject``'s stored evaluations under ``model`` (pure).

    ``corrections`` re-reads stored complaints' severities (complaint id -> the severity
    its source says under the current scale); a complaint absent from it keeps its stored
    severity. Returns the replayed state, the complaints whose stored severity changes, and
    the audit record (at ``at``, cause ``cause``) when the grade, score or blacklisting
    differs from the stored summary, else ``None``.
    """
    changed: list[GradeEvent] = []
    events: list[GradeEvent] = []
    for e in stored:
        severity = corrections.get(e.id) if isinstance(e, Complaint) else None
        if isinstance(e, Complaint) and severity is not None and severity is not e.severity:
            e = dataclasses.replace(e, severity=severity)
            changed.append(e)
        events.append(e)
    subject = before.subject
    state, _ = apply(
        initial_state(subject, before.baseline.grade, before.baseline.since, model), events, model
    )
    if (
        state.grade == before.grade
        and state.score_cp == score_cp(before.score)
        and state.blacklisted_at == before.blacklisted_at
    ):
        return state, tuple(changed), None
    change = GradeChange(
        subject=subject,
        at=china_time(at),
        cause=(cause,),
        grade_before=before.grade,
        grade_after=state.grade,
        score_before=before.score,
        score_after=state.score,
        blacklisted=state.blacklisted and before.blacklisted_at is None,
    )
    return state, tuple(changed), change


def plan_rebaseline(
    before: SubjectGrade,
    baseline: Baseline,
    stored: Sequence[GradeEvent],
    cause: str,
    model: GradingModel = DEFAULT_MODEL,
) -> tuple[GradeState, GradeChange] | None:
    """The state and audit record of rebaselining ``before.subject`` (pure); ``None`` when
    ``baseline`` is the stored one.

    ``stored`` are the subject's stored evaluations: replayed onto the new baseline, those
    that took effect before ``baseline.since`` are ignored by the engine.
    """
    subject = before.subject
    since = china_time(baseline.since)
    if before.baseline.grade == baseline.grade and before.baseline.since == since:
        return None
    state, _ = apply(initial_state(subject, baseline.grade, since, model), stored, model)
    change = GradeChange(
        subject=subject,
        at=since,
        cause=(cause,),
        grade_before=before.grade,
        grade_after=state.grade,
        score_before=before.score,
        score_after=state.score,
        blacklisted=state.blacklisted and before.blacklisted_at is None,
    )
    return state, change


def is_resolution(filed: GradeEvent, other: GradeEvent) -> bool:
    """Whether ``other`` is the filed complaint ``filed``, verified or rejected (or the
    filed appeal ``filed``, upheld or dismissed)."""
    if isinstance(filed, Appeal) or isinstance(other, Appeal):
        return (
            isinstance(filed, Appeal)
            and isinstance(other, Appeal)
            and filed.status is AppealStatus.FILED
            and other.status is not AppealStatus.FILED
            and dataclasses.replace(
                other, status=AppealStatus.FILED, decided_at=None, decided_by="", decision=""
            )
            == filed
        )
    return (
        isinstance(filed, Complaint)
        and isinstance(other, Complaint)
        and filed.status is ComplaintStatus.FILED
        and other.status is not ComplaintStatus.FILED
        and other.id == filed.id
        and other.subject == filed.subject
        and other.severity == filed.severity
        and other.filed_at == filed.filed_at
        and other.text == filed.text
    )


# -- codecs shared by the backends ------------------------------------------------------


def grade_text(grade: Grade | Stars) -> str:
    """``"4A"`` for a company grade, ``"4"`` for stars."""
    return grade.value if isinstance(grade, Grade) else str(int(grade))


def parse_grade(kind: SubjectKind, text: str) -> Grade | Stars:
    return Grade(text) if kind is SubjectKind.COMPANY else Stars(int(text))


def evaluation_type(e: GradeEvent) -> str:
    if isinstance(e, Appeal):
        return "appeal"
    return (
        "review" if isinstance(e, Review) else "complaint" if isinstance(e, Complaint) else "visit"
    )


def evaluation_to_json(e: GradeEvent) -> str:
    """The evaluation as JSON text (times ISO 8601 with their offsets)."""
    body: dict[str, Any] = {
        "type": evaluation_type(e),
        "id": e.id,
        "subject": {"kind": e.subject.kind.value, "id": e.subject.id},
    }
    if isinstance(e, Appeal):
        body |= {
            "complaint_id": e.complaint_id,
            "scope": e.scope.value,
            "filed_at": e.filed_at.isoformat(),
            "grounds": e.grounds,
            "status": e.status.value,
            "decided_at": None if e.decided_at is None else e.decided_at.isoformat(),
            "decided_by": e.decided_by,
            "decision": e.decision,
        }
    elif isinstance(e, Review):
        body |= {"at": e.at.isoformat(), "stars": e.stars, "text": e.text}
    elif isinstance(e, Complaint):
        body |= {
            "severity": e.severity.value,
            "filed_at": e.filed_at.isoformat(),
            "status": e.status.value,
            "resolved_at": None if e.resolved_at is None else e.resolved_at.isoformat(),
            "text": e.text,
        }
    else:
        body |= {"at": e.at.isoformat(), "outcome": e.outcome.value, "note": e.note}
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def evaluation_from_json(text: str | Mapping[str, Any]) -> GradeEvent:
    body = json.loads(text) if isinstance(text, str) else text
    subject = Subject(SubjectKind(body["subject"]["kind"]), body["subject"]["id"])
    kind = body["type"]
    if kind == "review":
        return Review(
            body["id"], subject, datetime.fromisoformat(body["at"]), body["stars"], body["text"]
        )
    if kind == "complaint":
        resolved = body["resolved_at"]
        return Complaint(
            body["id"],
            subject,
            Severity(body["severity"]),
            datetime.fromisoformat(body["filed_at"]),
            ComplaintStatus(body["status"]),
            None if resolved is None else datetime.fromisoformat(resolved),
            body["text"],
        )
    if kind == "appeal":
        decided = body["decided_at"]
        return Appeal(
            body["id"],
            subject,
            body["complaint_id"],
            datetime.fromisoformat(body["filed_at"]),
            AppealScope(body["scope"]),
            body["grounds"],
            AppealStatus(body["status"]),
            None if decided is None else datetime.fromisoformat(decided),
            body["decided_by"],
            body["decision"],
        )
    if kind == "visit":
        return FollowUpVisit(
            body["id"],
            subject,
            datetime.fromisoformat(body["at"]),
            VisitOutcome(body["outcome"]),
            body["note"],
        )
    raise ValueError(f"unknown evaluation type {kind!r}")


def china_time(at: datetime) -> datetime:
    """``at`` in China Standard Time, as the engine reports times."""
    return at.astimezone(CHINA_TZ)


def score_cp(score: float) -> int:
    """A score (a multiple of 0.01 points) as integer hundredths, for storage."""
    return round(score * 100)


__all__ = [
    "Baseline",
    "GradeBook",
    "ItemOutcome",
    "Outcome",
    "Recording",
    "SubjectGrade",
    "evaluation_from_json",
    "evaluation_to_json",
    "plan_rebaseline",
    "plan_recording",
    "plan_regrade",
]

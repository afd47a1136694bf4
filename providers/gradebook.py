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

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from providers.evaluations import (
    CHINA_TZ,
    Complaint,
    ComplaintStatus,
    Evaluation,
    FollowUpVisit,
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
    accepted: tuple[Evaluation, ...]
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
        evaluations: Sequence[Evaluation],
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
    stored: Sequence[Evaluation],
    known: Mapping[str, Evaluation],
    incoming: Sequence[Evaluation],
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
    pending: dict[str, Evaluation] = {}
    outcomes: list[ItemOutcome] = []
    for e in incoming:
        if e.subject != subject:
            outcomes.append(
                ItemOutcome(Outcome.REJECTED, f"is about {e.subject.kind} {e.subject.id!r}")
            )
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


def plan_rebaseline(
    before: SubjectGrade,
    baseline: Baseline,
    stored: Sequence[Evaluation],
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


def is_resolution(filed: Evaluation, other: Evaluation) -> bool:
    """Whether ``other`` is the filed complaint ``filed``, verified or rejected."""
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


def evaluation_type(e: Evaluation) -> str:
    return (
        "review" if isinstance(e, Review) else "complaint" if isinstance(e, Complaint) else "visit"
    )


def evaluation_to_json(e: Evaluation) -> str:
    """The evaluation as JSON text (times ISO 8601 with their offsets)."""
    body: dict[str, Any] = {
        "type": evaluation_type(e),
        "id": e.id,
        "subject": {"kind": e.subject.kind.value, "id": e.subject.id},
    }
    if isinstance(e, Review):
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


def evaluation_from_json(text: str | Mapping[str, Any]) -> Evaluation:
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
]

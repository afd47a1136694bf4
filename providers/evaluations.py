"""The evaluations feed: reviews, complaints and order follow-up visits (订单回访).

These are the evidence the grade engine (:mod:`providers.grading`) moves dynamic credit
grades with. Each is an immutable, validated record with a stable ``id`` (ids are unique
across all three kinds: the engine de-duplicates by id, so re-sending a batch is harmless).

Every evaluation is about one :class:`Subject`: a company (its provider id, ``co-…``) or a
practitioner (their registry id). A review of a practitioner's work does not move their
company's grade by itself: attributing evidence to subjects is the feed's job, so send one
evaluation per subject it should count against.

Times are timezone-aware :class:`~datetime.datetime` values. A naive time is refused
because the engine counts reviews per calendar month in China Standard Time
(:data:`CHINA_TZ`), and a naive time would fall into a month by accident of the server's
zone; an import that only knows dates should attach ``CHINA_TZ`` at midnight.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

# China Standard Time: UTC+8 all year (no daylight saving since 1991).
CHINA_TZ = timezone(timedelta(hours=8), "CST")

# Long enough for a real complaint, short enough that a feed cannot push megabytes per row.
MAX_TEXT_CHARS = 2_000


class InvalidEvaluationError(ValueError):
    """An evaluation breaks an invariant; the message names the record and every problem."""


class SubjectKind(StrEnum):
    """Whom an evaluation is about."""

    COMPANY = "company"
    PRACTITIONER = "practitioner"


@dataclass(frozen=True, slots=True, order=True)
class Subject:
    """A graded party: a company (by provider id) or a practitioner (by registry id).

    Examples
    --------
    >>> Subject.company("co-914403001922038216")
    Subject(kind=<SubjectKind.COMPANY: 'company'>, id='co-914403001922038216')
    >>> Subject.practitioner("")
    Traceback (most recent call last):
    ...
    providers.evaluations.InvalidEvaluationError: subject id is empty
    """

    kind: SubjectKind
    id: str

    def __post_init__(self) -> None:
        if not self.id.strip():
            raise InvalidEvaluationError("subject id is empty")
        if not isinstance(self.kind, SubjectKind):
            raise InvalidEvaluationError(
                f"subject kind must be company or practitioner, got {self.kind!r}"
            )

    @classmethod
    def company(cls, provider_id: str) -> Subject:
        return cls(SubjectKind.COMPANY, provider_id)

    @classmethod
    def practitioner(cls, practitioner_id: str) -> Subject:
        return cls(SubjectKind.PRACTITIONER, practitioner_id)


class Severity(StrEnum):
    """How bad a complaint's matter is, as the handling authority classifies it.

    Five levels, mildest first, so that every level a registry writes keeps its own
    meaning: 轻微 (slight), 一般 (minor), 较重 (fairly serious), 严重 (serious: 情节严重, the
    circumstances the standard reserves the 3-year blacklist for) and 特别严重 (grave). A
    source may use any subset. The values ``minor``, ``serious`` and ``grave`` are those of
    the older three-level scale, so evaluations stored before keep reading the same.

    Examples
    --------
    >>> [s.label_zh for s in Severity]
    ['轻微', '一般', '较重', '严重', '特别严重']
    >>> Severity.FAIRLY_SERIOUS.rank
    3
    """

    SLIGHT = "slight"
    MINOR = "minor"
    FAIRLY_SERIOUS = "fairly_serious"
    SERIOUS = "serious"
    GRAVE = "grave"

    @property
    def label_zh(self) -> str:
        return _SEVERITY_LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _SEVERITY_LABELS[self][1]

    @property
    def rank(self) -> int:
        """1 (轻微) to 5 (特别严重)."""
        return list(Severity).index(self) + 1


_SEVERITY_LABELS = {
    Severity.SLIGHT: ("轻微", "slight"),
    Severity.MINOR: ("一般", "minor"),
    Severity.FAIRLY_SERIOUS: ("较重", "fairly serious"),
    Severity.SERIOUS: ("严重", "serious"),
    Severity.GRAVE: ("特别严重", "grave"),
}


class ComplaintStatus(StrEnum):
    """A complaint is filed, then either verified (it counts) or rejected (it never does)."""

    FILED = "filed"
    VERIFIED = "verified"
    REJECTED = "rejected"


class VisitOutcome(StrEnum):
    """What an order follow-up visit (订单回访) found."""

    SATISFIED = "satisfied"
    NEUTRAL = "neutral"
    DISSATISFIED = "dissatisfied"
    # The customer could not be reached: says nothing about the service.
    UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class Review:
    """A customer's review: 1 to 5 stars and optional text.

    Examples
    --------
    >>> at = datetime(2026, 3, 1, 10, 0, tzinfo=CHINA_TZ)
    >>> review = Review("rv-1", Subject.company("co-1"), at, stars=5, text="阿姨很细心")
    >>> review.takes_effect_at == at
    True
    >>> Review("rv-2", Subject.company("co-1"), at, stars=6)
    Traceback (most recent call last):
    ...
    providers.evaluations.InvalidEvaluationError: review 'rv-2': stars must be a whole ...
    """

    id: str
    subject: Subject
    at: datetime
    stars: int
    text: str = ""

    def __post_init__(self) -> None:
        problems = _common_problems(self.id, self.subject, self.text)
        problems += _time_problems("at", self.at)
        # bool is an int subclass: True stars would silently mean 1.
        if isinstance(self.stars, bool) or not isinstance(self.stars, int):
            problems.append(f"stars must be a whole number from 1 to 5, got {self.stars!r}")
        elif not 1 <= self.stars <= 5:
            problems.append(f"stars must be a whole number from 1 to 5, got {self.stars}")
        _raise_if(problems, "review", self.id)

    @property
    def takes_effect_at(self) -> datetime:
        """When the review counts: when it was given."""
        return self.at


@dataclass(frozen=True, slots=True)
class Complaint:
    """A complaint: filed, then verified or rejected by whoever handles it.

    Only a verified complaint counts, and it counts at ``resolved_at``: a complaint that is
    still being handled, or was rejected, moves nothing.

    Examples
    --------
    >>> filed = Complaint("cp-1", Subject.company("co-1"), Severity.MINOR,
    ...                   filed_at=datetime(2026, 3, 1, tzinfo=CHINA_TZ))
    >>> filed.takes_effect_at is None
    True
    >>> verified = filed.resolve(ComplaintStatus.VERIFIED, datetime(2026, 3, 8, tzinfo=CHINA_TZ))
    >>> verified.takes_effect_at.date()
    datetime.date(2026, 3, 8)
    >>> verified.resolve(ComplaintStatus.REJECTED, datetime(2026, 3, 9, tzinfo=CHINA_TZ))
    Traceback (most recent call last):
    ...
    providers.evaluations.InvalidEvaluationError: complaint 'cp-1': is already verified; ...
    """

    id: str
    subject: Subject
    severity: Severity
    filed_at: datetime
    status: ComplaintStatus = ComplaintStatus.FILED
    resolved_at: datetime | None = None
    text: str = ""

    def __post_init__(self) -> None:
        problems = _common_problems(self.id, self.subject, self.text)
        problems += _time_problems("filed_at", self.filed_at)
        if not isinstance(self.severity, Severity):
            problems.append(
                "severity must be slight, minor, fairly_serious, serious or grave, "
                f"got {self.severity!r}"
            )
        if not isinstance(self.status, ComplaintStatus):
            problems.append(f"status must be filed, verified or rejected, got {self.status!r}")
        elif self.status is ComplaintStatus.FILED:
            if self.resolved_at is not None:
                problems.append("a complaint still filed has no resolved_at")
        elif self.resolved_at is None:
            problems.append(f"a {self.status} complaint needs resolved_at")
        else:
            time_problems = _time_problems("resolved_at", self.resolved_at)
            problems += time_problems
            comparable = not time_problems and not _time_problems("filed_at", self.filed_at)
            if comparable and self.resolved_at < self.filed_at:
                problems.append(
                    f"resolved_at {self.resolved_at.isoformat()} is before "
                    f"filed_at {self.filed_at.isoformat()}"
                )
        _raise_if(problems, "complaint", self.id)

    @property
    def takes_effect_at(self) -> datetime | None:
        """When the complaint counts: its resolution if verified, else never (``None``)."""
        return self.resolved_at if self.status is ComplaintStatus.VERIFIED else None

    def resolve(self, status: ComplaintStatus, at: datetime) -> Complaint:
        """This complaint, verified or rejected at ``at`` (a filed complaint only)."""
        if self.status is not ComplaintStatus.FILED:
            raise InvalidEvaluationError(
                f"complaint {self.id!r}: is already {self.status}; a resolution is final"
            )
        if status is ComplaintStatus.FILED:
            raise InvalidEvaluationError(
                f"complaint {self.id!r}: resolve to verified or rejected, not filed"
            )
        return dataclasses.replace(self, status=status, resolved_at=at)


@dataclass(frozen=True, slots=True)
class FollowUpVisit:
    """An order follow-up visit (订单回访) and what it found.

    Examples
    --------
    >>> FollowUpVisit("fv-1", Subject.practitioner("pr-1"),
    ...               datetime(2026, 3, 2, 9, 30, tzinfo=CHINA_TZ), VisitOutcome.SATISFIED).outcome
    <VisitOutcome.SATISFIED: 'satisfied'>
    """

    id: str
    subject: Subject
    at: datetime
    outcome: VisitOutcome
    note: str = ""

    def __post_init__(self) -> None:
        problems = _common_problems(self.id, self.subject, self.note)
        problems += _time_problems("at", self.at)
        if not isinstance(self.outcome, VisitOutcome):
            problems.append(
                "outcome must be satisfied, neutral, dissatisfied or unreachable, "
                f"got {self.outcome!r}"
            )
        _raise_if(problems, "follow-up visit", self.id)

    @property
    def takes_effect_at(self) -> datetime:
        """When the visit counts: when it was made."""
        return self.at


Evaluation = Review | Complaint | FollowUpVisit


class AppealStatus(StrEnum):
    """An appeal (申诉) is filed, then upheld (its target's effects are reversed) or
    dismissed (the decision stands)."""

    FILED = "filed"
    UPHELD = "upheld"
    DISMISSED = "dismissed"


class AppealScope(StrEnum):
    """What an appeal contests about a verified complaint.

    ``complaint``: the complaint itself (so its deductions and any blacklisting it caused);
    ``blacklisting``: only the blacklisting it caused (the deductions stand).
    """

    COMPLAINT = "complaint"
    BLACKLISTING = "blacklisting"


# Who decided: an operator's account name or office, not a person's identity card.
MAX_DECIDER_CHARS = 100


@dataclass(frozen=True, slots=True)
class Appeal:
    """An appeal (申诉) against a verified complaint: its deductions or its blacklisting.

    Filed, then decided once: ``upheld`` reverses the complaint's effects (all of them, or
    only the blacklisting, by ``scope``) from ``decided_at``, through the grade engine;
    ``dismissed`` leaves them standing. ``decided_by`` and ``decision`` say who decided and
    why. ``grounds`` and ``decision`` are kept for operators, never shown to the public.

    Examples
    --------
    >>> filed = Appeal("ap-1", Subject.practitioner("pr-1"), "cp-1",
    ...                filed_at=datetime(2026, 5, 1, tzinfo=CHINA_TZ), grounds="当日不在场")
    >>> filed.takes_effect_at is None
    True
    >>> upheld = filed.decide(AppealStatus.UPHELD, datetime(2026, 5, 9, tzinfo=CHINA_TZ),
    ...                       "ops-li", "监控显示当日不在场")
    >>> upheld.takes_effect_at.date()
    datetime.date(2026, 5, 9)
    >>> upheld.decide(AppealStatus.DISMISSED, datetime(2026, 5, 10, tzinfo=CHINA_TZ), "x", "y")
    Traceback (most recent call last):
    ...
    providers.evaluations.InvalidEvaluationError: appeal 'ap-1': is already upheld; a decision ...
    """

    id: str
    subject: Subject
    complaint_id: str
    filed_at: datetime
    scope: AppealScope = AppealScope.COMPLAINT
    grounds: str = ""
    status: AppealStatus = AppealStatus.FILED
    decided_at: datetime | None = None
    decided_by: str = ""
    decision: str = ""

    def __post_init__(self) -> None:
        problems = _common_problems(self.id, self.subject, self.grounds)
        problems += _time_problems("filed_at", self.filed_at)
        if not isinstance(self.complaint_id, str) or not self.complaint_id.strip():
            problems.append("complaint_id is empty: name the complaint appealed against")
        if not isinstance(self.scope, AppealScope):
            problems.append(f"scope must be complaint or blacklisting, got {self.scope!r}")
        problems += _decision_problems(self)
        _raise_if(problems, "appeal", self.id)

    @property
    def takes_effect_at(self) -> datetime | None:
        """When the appeal counts: its decision if upheld, else never (``None``)."""
        return self.decided_at if self.status is AppealStatus.UPHELD else None

    def decide(self, status: AppealStatus, at: datetime, by: str, decision: str) -> Appeal:
        """This appeal, upheld or dismissed at ``at`` by ``by`` for ``decision`` (a filed
        appeal only: a decision is final)."""
        if self.status is not AppealStatus.FILED:
            raise InvalidEvaluationError(
                f"appeal {self.id!r}: is already {self.status}; a decision is final"
            )
        if status is AppealStatus.FILED:
            raise InvalidEvaluationError(
                f"appeal {self.id!r}: decide to upheld or dismissed, not filed"
            )
        return dataclasses.replace(
            self, status=status, decided_at=at, decided_by=by, decision=decision
        )


def _decision_problems(a: Appeal) -> list[str]:
    problems: list[str] = []
    if not isinstance(a.status, AppealStatus):
        return [f"status must be filed, upheld or dismissed, got {a.status!r}"]
    if not isinstance(a.decided_by, str) or not isinstance(a.decision, str):
        return ["decided_by and decision must be strings"]
    if a.status is AppealStatus.FILED:
        if a.decided_at is not None or a.decided_by or a.decision:
            problems.append("an appeal still filed has no decided_at, decided_by or decision")
        return problems
    if a.decided_at is None:
        problems.append(f"a {a.status} appeal needs decided_at")
    else:
        time_problems = _time_problems("decided_at", a.decided_at)
        problems += time_problems
        comparable = not time_problems and not _time_problems("filed_at", a.filed_at)
        if comparable and a.decided_at < a.filed_at:
            problems.append(
                f"decided_at {a.decided_at.isoformat()} is before filed_at {a.filed_at.isoformat()}"
            )
    if not a.decided_by.strip():
        problems.append(f"a {a.status} appeal needs decided_by (who decided)")
    elif len(a.decided_by) > MAX_DECIDER_CHARS:
        problems.append(f"decided_by has more than {MAX_DECIDER_CHARS} characters")
    if not a.decision.strip():
        problems.append(f"a {a.status} appeal needs decision (why)")
    elif len(a.decision) > MAX_TEXT_CHARS:
        problems.append(f"decision has more than {MAX_TEXT_CHARS} characters")
    return problems


# What the grade engine and the grade book take: the evaluations, and appeals against them.
GradeEvent = Evaluation | Appeal


def by_subject(evaluations: Iterable[Evaluation]) -> dict[Subject, tuple[Evaluation, ...]]:
    """Group a mixed feed by subject (subjects sorted, each group in feed order).

    Examples
    --------
    >>> at = datetime(2026, 3, 1, tzinfo=CHINA_TZ)
    >>> one, two = Subject.company("co-1"), Subject.company("co-2")
    >>> feed = [Review("a", two, at, 4), Review("b", one, at, 5), Review("c", two, at, 3)]
    >>> {s.id: [e.id for e in group] for s, group in by_subject(feed).items()}
    {'co-1': ['b'], 'co-2': ['a', 'c']}
    """
    groups: dict[Subject, list[Evaluation]] = {}
    for evaluation in evaluations:
        groups.setdefault(evaluation.subject, []).append(evaluation)
    return {subject: tuple(groups[subject]) for subject in sorted(groups)}


def china_date(at: datetime) -> date:
    """The calendar date of ``at`` in China Standard Time.

    Examples
    --------
    >>> from datetime import UTC
    >>> china_date(datetime(2026, 2, 28, 17, 30, tzinfo=UTC))  # 01:30 on 1 March in Guangzhou
    datetime.date(2026, 3, 1)
    """
    return at.astimezone(CHINA_TZ).date()


def _common_problems(id_: str, subject: object, text: str) -> list[str]:
    problems: list[str] = []
    if not isinstance(id_, str) or not id_.strip():
        problems.append("id is empty")
    if not isinstance(subject, Subject):
        problems.append(f"subject must be a Subject, got {subject!r}")
    if not isinstance(text, str):
        problems.append(f"text must be a string, got {type(text).__name__}")
    elif len(text) > MAX_TEXT_CHARS:
        problems.append(f"text has {len(text)} characters, at most {MAX_TEXT_CHARS} are allowed")
    return problems


def _time_problems(name: str, value: object) -> list[str]:
    if not isinstance(value, datetime):
        return [f"{name} must be a datetime, got {type(value).__name__}"]
    if value.tzinfo is None or value.utcoffset() is None:
        return [f"{name} {value.isoformat()} has no time zone; attach one (e.g. +08:00)"]
    return []


def _raise_if(problems: list[str], what: str, id_: str) -> None:
    if problems:
        raise InvalidEvaluationError(f"{what} {id_!r}: " + "; ".join(problems))

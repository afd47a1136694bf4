"""The grade engine: dynamic credit grades from an official baseline and evaluations.

Pure and deterministic: :func:`apply` takes a subject's :class:`GradeState` and a batch of
evaluations (:mod:`providers.evaluations`) and returns the new state and the audit trail
of what changed. No clock, no storage: persist the evaluations, the changes and
``state.grade``; a state can always be rebuilt by replaying a subject's evaluations onto
its baseline (:func:`initial_state`), and replaying gives the same answer.

The rule
--------
*Scores.* A subject's score is 0–100 points, the sum of its dimensions, each worth at most
its weight (the defaults below, all configurable in :class:`Scale`):

============  ===========================================================================
companies     企业实力 strength 20 · 服务能力 service 25 · 管理能力 management 20 ·
              公共信用 public credit 25 · 综合能力 overall 10
practitioners 基本信息 basic information 20 · 服务能力 service ability 30 ·
              社会评价 social evaluation 30 · 信用记录 credit record 20
============  ===========================================================================

A score maps to a grade by bands: ≥ 90 is 5A (5 stars), ≥ 80 4A, ≥ 70 3A, ≥ 60 2A, below
A (1 star).

*Baseline.* The officially assigned grade is the starting point: it maps to the middle of
its band (5A 95, 4A 85, 3A 75, 2A 65, A 55 — the open bottom band is treated as 10 points
wide like the others), spread over the dimensions in proportion to their weights.

*Evaluations* move only the dimensions they speak to; the official ones (企业实力,
综合能力, 基本信息) move only with a new official assessment, which is a new baseline.

* **Reviews** and **follow-up visits** feed 服务能力 (companies) or 社会评价
  (practitioners). Each review is worth ``(stars − 3) × 0.5`` points; each visit
  +0.25 (satisfied), 0 (neutral or unreachable) or −0.5 (dissatisfied). Per calendar month
  (China Standard Time) the reviews' net is capped at ±2 points and the visits' at ±1, so
  a flood of either (or a campaign of either sign) moves a grade slowly. The months are
  then added up in order, and the running total is held within the dimension's range at
  each step: goodwill beyond the dimension's maximum is not banked, so a bad month always
  shows.
* A **verified complaint** deducts, at its resolution, by severity (轻微 slight, 一般
  minor, 较重 fairly serious, 严重 serious, 特别严重 grave) — companies (管理能力 +
  公共信用): slight 0.5 + 0.5, minor 1 + 1, fairly serious 2 + 4, serious 3 + 6, grave 5 +
  12; practitioners (服务能力 + 信用记录): slight 0.5 + 2, minor 1 + 4, fairly serious 3 +
  7, serious 5 + 10, grave 10 + 20. Deductions stay until the next official assessment.
* A verified complaint whose severity is in :attr:`GradingModel.blacklist_severities`
  (by default **严重 serious and 特别严重 grave** only: the standard reserves the 3-year
  blacklist for serious circumstances, 情节严重) against a **practitioner** also
  blacklists them: the practitioner is rated 1 star whatever the score, the change says
  ``blacklisted=True`` and the registry should record it
  (:func:`providers.practitioners.blacklist`: the certificate is revoked and
  re-application barred for 3 years). A 较重 complaint only deducts.
* An **upheld appeal** (:class:`~providers.evaluations.Appeal`) reverses, from its
  decision, the effects of the complaint it names: its deductions and its blacklisting
  (scope ``complaint``), or the blacklisting alone (scope ``blacklisting``). A blacklisting
  then rests on the earliest verified blacklisting complaint that still stands (its bar
  runs from that complaint's resolution), or on none. A dismissed or undecided appeal
  changes nothing; an appeal against a complaint that does not count changes nothing.
* Filed (unresolved) and **rejected** complaints change nothing. Evaluations dated before
  the baseline was assigned are already reflected in it and are ignored.

Each dimension is finally held within 0..its weight. With these defaults evaluations can
lift a grade by at most one band above the baseline, and never to the top band: 5A (5
stars) also needs the official dimensions.

*Order.* An evaluation takes effect at ``takes_effect_at`` (a review's or visit's time, a
complaint's resolution). Evaluations are applied in groups of equal effective time,
earliest first; a group is applied as a whole, so the order of evaluations sharing a
timestamp cannot matter, and its :class:`GradeChange` lists all their ids, sorted. An
evaluation older than the state's latest (a late arrival) takes effect at the state's
latest time, so the audit trail never runs backwards. Every evaluation id is applied at
most once (re-sending a batch changes nothing). Because every contribution is a sum over
the set of applied evaluations, the final state does not depend on how the feed was cut
into batches or in what order it arrived; only the audit trail does.

Arithmetic is in integer hundredths of a point, so no rounding can differ between two
orders of the same sums.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

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
from providers.model import Grade
from providers.practitioners import Stars

# Scores are kept in hundredths of a point: integers add up the same in any order.
_CP = 100
_FULL_CP = 100 * _CP

_GRADE_BY_RANK = {g.rank: g for g in Grade}


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _cp(points: float, what: str) -> int:
    """``points`` in hundredths, refusing anything finer (it could not add up exactly)."""
    if isinstance(points, bool) or not isinstance(points, int | float) or not math.isfinite(points):
        raise ValueError(f"{what} must be a number of points, got {points!r}")
    scaled = round(points * _CP)
    if abs(points * _CP - scaled) > 1e-6:
        raise ValueError(f"{what} must be a multiple of 0.01 points, got {points!r}")
    return int(scaled)


class GradingError(ValueError):
    """A batch cannot be applied as it is (wrong subject, two versions of one id, ...)."""


class Dimension(StrEnum):
    """The standard's scoring dimensions (companies: part 1; practitioners: part 2)."""

    STRENGTH = "strength"
    SERVICE = "service"
    MANAGEMENT = "management"
    PUBLIC_CREDIT = "public_credit"
    OVERALL = "overall"
    BASIC_INFO = "basic_info"
    SOCIAL_EVALUATION = "social_evaluation"
    CREDIT_RECORD = "credit_record"

    @property
    def label_zh(self) -> str:
        return _DIMENSION_LABELS_ZH[self]


_DIMENSION_LABELS_ZH = {
    Dimension.STRENGTH: "企业实力",
    Dimension.SERVICE: "服务能力",
    Dimension.MANAGEMENT: "管理能力",
    Dimension.PUBLIC_CREDIT: "公共信用",
    Dimension.OVERALL: "综合能力",
    Dimension.BASIC_INFO: "基本信息",
    Dimension.SOCIAL_EVALUATION: "社会评价",
    Dimension.CREDIT_RECORD: "信用记录",
}


@dataclass(frozen=True, slots=True)
class Scale:
    """How one kind of subject is scored. Points are multiples of 0.01.

    Parameters
    ----------
    weights
        The dimensions and the most points each is worth; they must sum to 100.
    feedback_dimension
        The dimension reviews and follow-up visits move.
    complaint_deductions
        Points a verified complaint of each severity deducts, per dimension.
    band_floors
        The lowest score of the top four bands (rank 5, 4, 3, 2), strictly decreasing;
        anything below the last is rank 1.
    review_step
        Points per star above (or below) 3.
    review_cap_per_month, visit_cap_per_month
        The most the reviews (visits) of one calendar month move, either way.
    visit_points
        Points per follow-up visit outcome (an outcome left out is worth 0).
    """

    weights: Mapping[Dimension, float]
    feedback_dimension: Dimension
    complaint_deductions: Mapping[Severity, Mapping[Dimension, float]]
    band_floors: tuple[float, float, float, float] = (90.0, 80.0, 70.0, 60.0)
    review_step: float = 0.5
    review_cap_per_month: float = 2.0
    visit_points: Mapping[VisitOutcome, float] = field(
        default_factory=lambda: {
            VisitOutcome.SATISFIED: 0.25,
            VisitOutcome.NEUTRAL: 0.0,
            VisitOutcome.DISSATISFIED: -0.5,
            VisitOutcome.UNREACHABLE: 0.0,
        }
    )
    visit_cap_per_month: float = 1.0

    def __post_init__(self) -> None:
        # Freeze the mappings: a model shared by every call must not change under them.
        setattr_ = object.__setattr__
        setattr_(self, "weights", MappingProxyType(dict(self.weights)))
        setattr_(self, "visit_points", MappingProxyType(dict(self.visit_points)))
        setattr_(
            self,
            "complaint_deductions",
            MappingProxyType(
                {s: MappingProxyType(dict(d)) for s, d in self.complaint_deductions.items()}
            ),
        )
        problems = _scale_problems(self)
        if problems:
            raise ValueError("grading scale: " + "; ".join(problems))

    def baseline_score(self, rank: int) -> float:
        """The score an officially assigned grade of ``rank`` (5..1) starts from.

        Examples
        --------
        >>> [COMPANY_SCALE.baseline_score(r) for r in (5, 4, 3, 2, 1)]
        [95.0, 85.0, 75.0, 65.0, 55.0]
        """
        return self._baseline_cp(rank) / _CP

    def rank_for(self, score: float) -> int:
        """The rank (5..1) a score falls in.

        Examples
        --------
        >>> [COMPANY_SCALE.rank_for(s) for s in (100, 90, 89.99, 60, 59.99, 0)]
        [5, 5, 4, 2, 1, 1]
        """
        return self._rank_for_cp(_cp(score, "score"))

    def _floors_cp(self) -> tuple[int, ...]:
        return tuple(_cp(f, "band floor") for f in self.band_floors)

    def _rank_for_cp(self, score_cp: int) -> int:
        for rank, floor in zip((5, 4, 3, 2), self._floors_cp(), strict=True):
            if score_cp >= floor:
                return rank
        return 1

    def _baseline_cp(self, rank: int) -> int:
        if rank not in (1, 2, 3, 4, 5):
            raise ValueError(f"rank must be 1 to 5, got {rank!r}")
        # Band edges from the top: 100, floor5, floor4, floor3, floor2, and for the open
        # bottom band one more band as wide as the 2 band.
        f5, f4, f3, f2 = self._floors_cp()
        edges = (_FULL_CP, f5, f4, f3, f2, max(0, f2 - (f3 - f2)))
        top, bottom = edges[5 - rank], edges[6 - rank]
        return (top + bottom) // 2

    def _baseline_dimensions_cp(self, rank: int) -> dict[Dimension, int]:
        """The baseline spread over the dimensions in proportion to their weights, by
        largest remainder so that the parts add up exactly to the baseline."""
        total = self._baseline_cp(rank)
        weights = {d: _cp(w, "weight") for d, w in self.weights.items()}
        parts = {d: total * w // _FULL_CP for d, w in weights.items()}
        left = total - sum(parts.values())
        order = sorted(weights, key=lambda d: -(total * weights[d] % _FULL_CP))  # stable
        for d in order[:left]:
            parts[d] += 1
        return parts


def _scale_problems(s: Scale) -> list[str]:
    """Everything wrong with a scale, a sentence each, in a fixed order; none when usable.

    Points that cannot be held in hundredths are reported alone: the other checks
    compute with them.
    """
    problems = _unrepresentable_points(s)
    if problems:
        return problems
    problems = [*_weight_problems(s), *_band_floor_problems(s)]
    if s.feedback_dimension not in s.weights:
        problems.append(f"feedback dimension {s.feedback_dimension} has no weight")
    problems += _deduction_problems(s)
    if min(s.review_step, s.review_cap_per_month, s.visit_cap_per_month) < 0:
        problems.append("review_step and the monthly caps must be >= 0")
    return problems


def _unrepresentable_points(s: Scale) -> list[str]:
    """Every number of the scale that is not a whole number of hundredths of a point."""
    points: list[tuple[str, float]] = [
        *((f"weight of {d}", w) for d, w in s.weights.items()),
        *((f"band floor {f}", f) for f in s.band_floors),
        ("review_step", s.review_step),
        ("review_cap_per_month", s.review_cap_per_month),
        ("visit_cap_per_month", s.visit_cap_per_month),
        *((f"visit points for {o}", v) for o, v in s.visit_points.items()),
        *(
            (f"{sev} deduction from {d}", v)
            for sev, ds in s.complaint_deductions.items()
            for d, v in ds.items()
        ),
    ]
    problems: list[str] = []
    for what, value in points:
        try:
            _cp(value, what)
        except ValueError as err:
            problems.append(str(err))
    return problems


def _weight_problems(s: Scale) -> list[str]:
    problems: list[str] = []
    if not s.weights:
        problems.append("weights are empty")
    if any(not isinstance(d, Dimension) for d in s.weights):
        problems.append("weights must be keyed by Dimension")
    if any(w <= 0 for w in s.weights.values()):
        problems.append("every weight must be positive")
    weight_total = sum(_cp(w, "weight") for w in s.weights.values())
    if weight_total != _FULL_CP:
        problems.append(f"weights must sum to 100, they sum to {weight_total / _CP:g}")
    return problems


def _band_floor_problems(s: Scale) -> list[str]:
    floors = [_cp(f, "band floor") for f in s.band_floors]
    if len(floors) != 4 or not all(a > b for a, b in itertools.pairwise(floors)):
        return ["band_floors must be four strictly decreasing scores"]
    if not (floors[-1] > 0 and floors[0] <= _FULL_CP):
        return ["band_floors must lie within 0 (exclusive) and 100"]
    return []


def _deduction_problems(s: Scale) -> list[str]:
    problems: list[str] = []
    for severity, deductions in s.complaint_deductions.items():
        for d, value in deductions.items():
            if d not in s.weights:
                problems.append(f"{severity} complaints deduct from {d}, which has no weight")
            if value < 0:
                problems.append(f"{severity} deduction from {d} must be >= 0 (points taken)")
    return problems


COMPANY_SCALE = Scale(
    weights={
        Dimension.STRENGTH: 20,
        Dimension.SERVICE: 25,
        Dimension.MANAGEMENT: 20,
        Dimension.PUBLIC_CREDIT: 25,
        Dimension.OVERALL: 10,
    },
    feedback_dimension=Dimension.SERVICE,
    complaint_deductions={
        Severity.SLIGHT: {Dimension.MANAGEMENT: 0.5, Dimension.PUBLIC_CREDIT: 0.5},
        Severity.MINOR: {Dimension.MANAGEMENT: 1, Dimension.PUBLIC_CREDIT: 1},
        Severity.FAIRLY_SERIOUS: {Dimension.MANAGEMENT: 2, Dimension.PUBLIC_CREDIT: 4},
        Severity.SERIOUS: {Dimension.MANAGEMENT: 3, Dimension.PUBLIC_CREDIT: 6},
        Severity.GRAVE: {Dimension.MANAGEMENT: 5, Dimension.PUBLIC_CREDIT: 12},
    },
)
PRACTITIONER_SCALE = Scale(
    weights={
        Dimension.BASIC_INFO: 20,
        Dimension.SERVICE: 30,
        Dimension.SOCIAL_EVALUATION: 30,
        Dimension.CREDIT_RECORD: 20,
    },
    feedback_dimension=Dimension.SOCIAL_EVALUATION,
    complaint_deductions={
        Severity.SLIGHT: {Dimension.SERVICE: 0.5, Dimension.CREDIT_RECORD: 2},
        Severity.MINOR: {Dimension.SERVICE: 1, Dimension.CREDIT_RECORD: 4},
        Severity.FAIRLY_SERIOUS: {Dimension.SERVICE: 3, Dimension.CREDIT_RECORD: 7},
        Severity.SERIOUS: {Dimension.SERVICE: 5, Dimension.CREDIT_RECORD: 10},
        Severity.GRAVE: {Dimension.SERVICE: 10, Dimension.CREDIT_RECORD: 20},
    },
)


@dataclass(frozen=True, slots=True)
class GradingModel:
    """The whole scoring model: one :class:`Scale` per kind of subject, and which verified
    complaint severities blacklist a practitioner.

    ``blacklist_severities`` follows the standard's rule that the 3-year blacklist is for
    serious circumstances (情节严重): 严重 and 特别严重 by default, never 较重 or milder
    unless an operator sets it so (``JZMAP_GRADES_BLACKLIST_SEVERITIES``).
    """

    company: Scale = COMPANY_SCALE
    practitioner: Scale = PRACTITIONER_SCALE
    blacklist_severities: frozenset[Severity] = frozenset({Severity.SERIOUS, Severity.GRAVE})

    def scale(self, kind: SubjectKind) -> Scale:
        return self.company if kind is SubjectKind.COMPANY else self.practitioner


DEFAULT_MODEL = GradingModel()


@dataclass(frozen=True, slots=True)
class MonthTally:
    """Raw (uncapped) review and visit points of one calendar month, in hundredths."""

    month: str  # "YYYY-MM", China Standard Time
    reviews_cp: int = 0
    visits_cp: int = 0


@dataclass(frozen=True, slots=True)
class GradeState:
    """A subject's dynamic grade and what it was computed from.

    Read ``grade`` (a :class:`~providers.model.Grade` for a company, :class:`Stars` for a
    practitioner), ``score``, ``dimension_scores`` and ``blacklisted``; the rest is what
    :func:`apply` needs to continue exactly. Build one with :func:`initial_state`.

    Fields ending in ``_cp`` are in hundredths of a point. ``since`` is when the baseline
    was assigned, ``as_of`` the latest effective time applied (both China Standard Time);
    ``feedback`` holds each month's raw review and visit points, ``deductions_cp`` the
    complaint deductions per dimension, ``applied`` the ids already counted.
    ``blacklisted_at``/``blacklist_cause`` are the earliest verified blacklisting case that
    stands (for a practitioner); ``complaints`` the counted complaints (id, severity,
    resolution) and ``reversals`` what upheld appeals reversed (complaint id, scope).
    Nothing here is personal: a state may be stored as it is, or rebuilt by replaying the
    subject's stored evaluations onto its baseline.
    """

    subject: Subject
    baseline: Grade | Stars
    since: datetime
    as_of: datetime
    grade: Grade | Stars
    score_cp: int
    dimensions_cp: tuple[tuple[Dimension, int], ...]
    feedback: tuple[MonthTally, ...] = ()
    deductions_cp: tuple[tuple[Dimension, int], ...] = ()
    applied: frozenset[str] = frozenset()
    blacklisted_at: datetime | None = None
    blacklist_cause: str | None = None
    complaints: tuple[tuple[str, Severity, datetime], ...] = ()
    reversals: tuple[tuple[str, AppealScope], ...] = ()

    @property
    def score(self) -> float:
        """The dynamic score, 0–100 points."""
        return self.score_cp / _CP

    @property
    def dimension_scores(self) -> dict[Dimension, float]:
        """Points per dimension (they sum to ``score``)."""
        return {d: v / _CP for d, v in self.dimensions_cp}

    @property
    def blacklisted(self) -> bool:
        return self.blacklisted_at is not None

    @property
    def company_grade(self) -> Grade:
        """``grade`` for a company's state; a practitioner's raises ``TypeError``."""
        if not isinstance(self.grade, Grade):
            raise TypeError(f"{self.subject.id!r} is a practitioner: its grade is in stars")
        return self.grade


@dataclass(frozen=True, slots=True)
class GradeChange:
    """One entry of the audit trail: at ``at``, the evaluations in ``cause`` moved the
    subject from ``grade_before``/``score_before`` to ``grade_after``/``score_after``.

    Recorded whenever the score, the grade or the blacklisting changes (so a move within a
    band is traceable too); ``grade_changed`` tells the grade history apart.
    """

    subject: Subject
    at: datetime
    cause: tuple[str, ...]
    grade_before: Grade | Stars
    grade_after: Grade | Stars
    score_before: float
    score_after: float
    blacklisted: bool = False

    @property
    def grade_changed(self) -> bool:
        return self.grade_before != self.grade_after


def initial_state(
    subject: Subject,
    baseline: Grade | Stars,
    since: datetime,
    model: GradingModel = DEFAULT_MODEL,
) -> GradeState:
    """A subject at its officially assigned grade, assigned at ``since``.

    Examples
    --------
    >>> from providers.evaluations import CHINA_TZ
    >>> s = initial_state(Subject.company("co-1"), Grade.A4, datetime(2026, 1, 1, tzinfo=CHINA_TZ))
    >>> s.grade, s.score
    (<Grade.A4: '4A'>, 85.0)
    >>> s.dimension_scores[Dimension.SERVICE]
    21.25
    """
    if subject.kind is SubjectKind.COMPANY and not isinstance(baseline, Grade):
        raise GradingError(f"company {subject.id!r}: the baseline must be a Grade (5A..A)")
    if subject.kind is SubjectKind.PRACTITIONER and not isinstance(baseline, Stars):
        raise GradingError(f"practitioner {subject.id!r}: the baseline must be Stars (5..1)")
    if since.tzinfo is None or since.utcoffset() is None:
        raise GradingError(f"since {since.isoformat()} has no time zone; attach one (e.g. +08:00)")
    since = since.astimezone(CHINA_TZ)
    score_cp, grade, dims = _evaluate(
        subject, baseline, feedback=(), deductions={}, blacklisting=None, model=model
    )
    return GradeState(
        subject=subject,
        baseline=baseline,
        since=since,
        as_of=since,
        grade=grade,
        score_cp=score_cp,
        dimensions_cp=dims,
    )


def apply(
    state: GradeState,
    evaluations: Iterable[GradeEvent],
    model: GradingModel = DEFAULT_MODEL,
) -> tuple[GradeState, tuple[GradeChange, ...]]:
    """Apply a batch of evaluations about ``state.subject``.

    Parameters
    ----------
    state
        The subject's current state (from :func:`initial_state` or an earlier ``apply``).
    evaluations
        Reviews, complaints, follow-up visits and appeals, in any order. The same
        evaluation may appear more than once, and a complaint (an appeal) both as filed and
        as resolved (decided; that version counts); two different versions of one id are
        refused.
    model
        The scoring model; use the same one for a subject's whole history.

    Returns
    -------
    tuple[GradeState, tuple[GradeChange, ...]]
        The new state and the audit trail of this batch, earliest first.

    Raises
    ------
    GradingError
        An evaluation is about another subject, or one id comes with conflicting content.

    Examples
    --------
    >>> from providers.evaluations import CHINA_TZ, Review
    >>> co = Subject.company("co-1")
    >>> s0 = initial_state(co, Grade.A3, datetime(2026, 1, 1, tzinfo=CHINA_TZ))
    >>> day = lambda d: datetime(2026, 2, d, 10, tzinfo=CHINA_TZ)
    >>> s1, changes = apply(s0, [Review(f"rv-{d}", co, day(d), 5) for d in (3, 4, 5)])
    >>> [(c.cause, c.score_after, c.grade_after.value) for c in changes]
    [(('rv-3',), 76.0, '3A'), (('rv-4',), 77.0, '3A')]
    >>> apply(s1, [Review("rv-3", co, day(3), 5)]) == (s1, ())  # replaying changes nothing
    True
    """
    subject = state.subject
    pending = _effective(state, _deduplicate(subject, evaluations))
    if not pending:
        return state, ()

    feedback = {t.month: [t.reviews_cp, t.visits_cp] for t in state.feedback}
    complaints = {id_: (sev, at) for id_, sev, at in state.complaints}
    reversals = dict(state.reversals)
    applied = set(state.applied)
    scale = model.scale(subject.kind)
    step_cp = _cp(scale.review_step, "review_step")
    visit_cp = {o: _cp(v, "visit points") for o, v in scale.visit_points.items()}

    current = state
    changes: list[GradeChange] = []
    for at in sorted(pending):
        group = pending[at]
        for e in group:
            if isinstance(e, Review):
                feedback.setdefault(_month(e.at), [0, 0])[0] += (e.stars - 3) * step_cp
            elif isinstance(e, FollowUpVisit):
                feedback.setdefault(_month(e.at), [0, 0])[1] += visit_cp.get(e.outcome, 0)
            elif isinstance(e, Appeal):
                # The widest reversal upheld counts (a whole complaint covers its blacklisting).
                if reversals.get(e.complaint_id) is not AppealScope.COMPLAINT:
                    reversals[e.complaint_id] = e.scope
            else:
                assert e.resolved_at is not None  # only verified complaints get here
                complaints[e.id] = (e.severity, e.resolved_at.astimezone(CHINA_TZ))
            applied.add(e.id)

        tallies = tuple(MonthTally(m, r, v) for m, (r, v) in sorted(feedback.items()))
        deduction_items = _deductions(complaints, reversals, scale)
        blacklisting = _blacklisting(subject, complaints, reversals, model)
        score_cp, grade, dims = _evaluate(
            subject,
            state.baseline,
            feedback=tallies,
            deductions=dict(deduction_items),
            blacklisting=blacklisting,
            model=model,
        )
        after = dataclasses.replace(
            current,
            as_of=at,
            grade=grade,
            score_cp=score_cp,
            dimensions_cp=dims,
            feedback=tallies,
            deductions_cp=deduction_items,
            applied=frozenset(applied),
            blacklisted_at=None if blacklisting is None else blacklisting[0],
            blacklist_cause=None if blacklisting is None else blacklisting[1],
            complaints=tuple(sorted((i, sv, t) for i, (sv, t) in complaints.items())),
            reversals=tuple(sorted(reversals.items())),
        )
        newly_blacklisted = after.blacklisted and not current.blacklisted
        blacklisting_moved = after.blacklisted_at != current.blacklisted_at
        if after.score_cp != current.score_cp or after.grade != current.grade or blacklisting_moved:
            changes.append(
                GradeChange(
                    subject=subject,
                    at=at,
                    cause=tuple(sorted(e.id for e in group)),
                    grade_before=current.grade,
                    grade_after=after.grade,
                    score_before=current.score,
                    score_after=after.score,
                    blacklisted=newly_blacklisted,
                )
            )
        current = after
    return current, tuple(changes)


def _deductions(
    complaints: Mapping[str, tuple[Severity, datetime]],
    reversals: Mapping[str, AppealScope],
    scale: Scale,
) -> tuple[tuple[Dimension, int], ...]:
    """Deductions per dimension (hundredths) of the counted complaints no upheld appeal
    reversed as a whole."""
    deductions: dict[Dimension, int] = defaultdict(int)
    for id_, (severity, _) in complaints.items():
        if reversals.get(id_) is AppealScope.COMPLAINT:
            continue
        for d, points in scale.complaint_deductions.get(severity, {}).items():
            deductions[d] += _cp(points, "deduction")
    return tuple(sorted((d, v) for d, v in deductions.items() if v))


def _blacklisting(
    subject: Subject,
    complaints: Mapping[str, tuple[Severity, datetime]],
    reversals: Mapping[str, AppealScope],
    model: GradingModel,
) -> tuple[datetime, str] | None:
    """The earliest blacklisting case that stands (resolution, complaint id), if any: the
    bar runs from the decision that stands, whatever order the feed arrived in."""
    if subject.kind is not SubjectKind.PRACTITIONER:
        return None
    standing = [
        (at, id_)
        for id_, (severity, at) in complaints.items()
        if severity in model.blacklist_severities and id_ not in reversals
    ]
    return min(standing, default=None)


def _deduplicate(subject: Subject, evaluations: Iterable[GradeEvent]) -> list[GradeEvent]:
    by_id: dict[str, GradeEvent] = {}
    strangers: list[str] = []
    conflicts: list[str] = []
    for e in evaluations:
        if e.subject != subject:
            strangers.append(e.id)
            continue
        seen = by_id.get(e.id)
        if seen is None or seen == e or _resolution_of(seen, e):
            by_id[e.id] = e
        elif _resolution_of(e, seen):
            pass  # keep the resolved version already seen
        else:
            conflicts.append(e.id)
    if strangers:
        raise GradingError(
            f"evaluations {sorted(set(strangers))} are not about {subject.kind} {subject.id!r}"
        )
    if conflicts:
        raise GradingError(
            f"evaluation ids {sorted(set(conflicts))} come with different contents in one batch"
        )
    return list(by_id.values())


def _resolution_of(filed: GradeEvent, other: GradeEvent) -> bool:
    """Whether ``other`` is the filed complaint (or appeal) ``filed``, resolved (decided)."""
    if isinstance(filed, Appeal):
        return (
            isinstance(other, Appeal)
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
        and dataclasses.replace(other, status=ComplaintStatus.FILED, resolved_at=None) == filed
    )


def _effective(
    state: GradeState, evaluations: list[GradeEvent]
) -> dict[datetime, list[GradeEvent]]:
    """The evaluations that take effect now, grouped by when (in China Standard Time)."""
    groups: dict[datetime, list[GradeEvent]] = defaultdict(list)
    for e in evaluations:
        at = e.takes_effect_at
        if at is None or e.id in state.applied or at < state.since:
            continue
        # A late arrival takes effect at the state's latest time: the trail never runs back.
        groups[max(at, state.as_of).astimezone(CHINA_TZ)].append(e)
    return groups


def _month(at: datetime) -> str:
    local = at.astimezone(CHINA_TZ)
    return f"{local.year:04d}-{local.month:02d}"


def _evaluate(
    subject: Subject,
    baseline: Grade | Stars,
    *,
    feedback: tuple[MonthTally, ...],
    deductions: Mapping[Dimension, int],
    blacklisting: tuple[datetime, str] | None,
    model: GradingModel,
) -> tuple[int, Grade | Stars, tuple[tuple[Dimension, int], ...]]:
    """Score, grade and dimension points from the baseline and the accumulated evidence."""
    scale = model.scale(subject.kind)
    base = scale._baseline_dimensions_cp(baseline.rank)
    weights = {d: _cp(w, "weight") for d, w in scale.weights.items()}
    fd = scale.feedback_dimension
    low, high = -base[fd], weights[fd] - base[fd]
    review_cap = _cp(scale.review_cap_per_month, "review cap")
    visit_cap = _cp(scale.visit_cap_per_month, "visit cap")
    running = 0
    for tally in feedback:  # months in order; no goodwill is banked beyond the range
        month_net = _clamp(tally.reviews_cp, -review_cap, review_cap) + _clamp(
            tally.visits_cp, -visit_cap, visit_cap
        )
        running = _clamp(running + month_net, low, high)
    dims = tuple(
        (
            d,
            _clamp(base[d] + (running if d is fd else 0) - deductions.get(d, 0), 0, weights[d]),
        )
        for d in scale.weights
    )
    score_cp = sum(v for _, v in dims)
    rank = 1 if blacklisting is not None else scale._rank_for_cp(score_cp)
    grade: Grade | Stars = (
        _GRADE_BY_RANK[rank] if subject.kind is SubjectKind.COMPANY else Stars(rank)
    )
    return score_cp, grade, dims

"""The grade engine: scripted histories with every audit record, the rule's edge cases,
and properties (bounds, rejected complaints, idempotent replay, order independence)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    china_date,
)
from providers.grading import (
    COMPANY_SCALE,
    DEFAULT_MODEL,
    PRACTITIONER_SCALE,
    Dimension,
    GradeChange,
    GradeState,
    GradingError,
    GradingModel,
    apply,
    initial_state,
)
from providers.model import Grade
from providers.practitioners import (
    CertificateStatus,
    CheckRecord,
    CheckStatus,
    Practitioner,
    Stars,
    blacklist,
    can_reapply,
    certificate_status,
    id_number_check_char,
)
from providers.scoring import grade_value
from tests.helpers import CANTON_TOWER, company

CO = Subject.company("co-914403001922038216")
PR = Subject.practitioner("pr-0001")
SINCE = datetime(2026, 1, 1, tzinfo=CHINA_TZ)  # the official grade was assigned then


def t(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CHINA_TZ)


def review(id_: str, at: datetime, stars: int, subject: Subject = CO) -> Review:
    return Review(id_, subject, at, stars)


def verified(
    id_: str, filed: datetime, resolved: datetime, severity: Severity, subject: Subject = CO
) -> Complaint:
    return Complaint(id_, subject, severity, filed, ComplaintStatus.VERIFIED, resolved)


def change(
    at: datetime,
    cause: Sequence[str],
    grades: tuple[Grade | Stars, Grade | Stars],
    scores: tuple[float, float],
    *,
    subject: Subject = CO,
    blacklisted: bool = False,
) -> GradeChange:
    return GradeChange(subject, at, tuple(cause), *grades, *scores, blacklisted=blacklisted)


# A 4A company through half a year: good reviews, a follow-up visit, a rejected and a minor
# verified complaint, a serious case, a grave case, then a month of bad reviews.
COMPANY_HISTORY: list[Evaluation] = [
    review("rv-01", t(1, 10), 5),
    review("rv-02", t(1, 12), 4),
    review("rv-03", t(1, 20), 5),
    review("rv-04", t(1, 25), 5),  # January's reviews are capped at +2: no effect
    review("rv-05", t(2, 3), 5),
    FollowUpVisit("fv-01", CO, t(2, 3), VisitOutcome.SATISFIED),  # same time as rv-05
    Complaint("cp-01", CO, Severity.GRAVE, t(2, 25), ComplaintStatus.REJECTED, t(3, 1)),
    verified("cp-02", t(2, 20), t(3, 5), Severity.MINOR),
    verified("cp-03", t(3, 15), t(4, 2), Severity.SERIOUS),
    *(review(f"rv-1{d}", t(5, d), 5) for d in range(1, 6)),  # only 0.5 left to the top
    verified("cp-04", t(5, 20), t(6, 10), Severity.GRAVE),
    review("rv-21", t(7, 1), 1),
    review("rv-22", t(7, 2), 1),
    review("rv-23", t(7, 3), 1),  # July's reviews are capped at -2
]
A5, A4, A3, A2, A1 = Grade.A5, Grade.A4, Grade.A3, Grade.A2, Grade.A1
COMPANY_TRAIL = [
    change(t(1, 10), ["rv-01"], (A4, A4), (85.0, 86.0)),  # (5 - 3) x 0.5
    change(t(1, 12), ["rv-02"], (A4, A4), (86.0, 86.5)),
    change(t(1, 20), ["rv-03"], (A4, A4), (86.5, 87.0)),  # January's +2 reached
    change(t(2, 3), ["fv-01", "rv-05"], (A4, A4), (87.0, 88.25)),  # +1 review, +0.25 visit
    change(t(3, 5), ["cp-02"], (A4, A4), (88.25, 86.25)),  # minor: 1 管理 + 1 公共信用
    change(t(4, 2), ["cp-03"], (A4, A3), (86.25, 77.25)),  # serious: 3 + 6
    change(t(5, 1), ["rv-11"], (A3, A3), (77.25, 77.75)),  # 服务能力 reaches its 25
    change(t(6, 10), ["cp-04"], (A3, A2), (77.75, 60.75)),  # grave: 5 + 12
    change(t(7, 1), ["rv-21"], (A2, A1), (60.75, 59.75)),  # no banked goodwill
    change(t(7, 2), ["rv-22"], (A1, A1), (59.75, 58.75)),
]


def company_start(grade: Grade = A4) -> GradeState:
    return initial_state(CO, grade, SINCE)


def test_company_scripted_history_grade_by_grade() -> None:
    state, changes = apply(company_start(), COMPANY_HISTORY)
    assert list(changes) == COMPANY_TRAIL
    assert state.grade is A1 and state.company_grade is A1
    assert state.score == 58.75
    assert state.dimension_scores == {
        Dimension.STRENGTH: 17.0,  # official dimensions never move
        Dimension.SERVICE: 23.0,  # 21.25 + 3.75 (the top) - 2 (July)
        Dimension.MANAGEMENT: 8.0,  # 17 - 1 - 3 - 5
        Dimension.PUBLIC_CREDIT: 2.25,  # 21.25 - 1 - 6 - 12
        Dimension.OVERALL: 8.5,
    }
    assert "cp-01" not in state.applied  # rejected: never counted
    assert state.as_of == t(7, 3)
    assert [c.grade_after for c in changes if c.grade_changed] == [A3, A2, A1]


def test_the_same_history_one_evaluation_at_a_time() -> None:
    state = company_start()
    trail: list[GradeChange] = []
    for evaluation in sorted(COMPANY_HISTORY, key=lambda e: e.takes_effect_at or SINCE):
        state, changes = apply(state, [evaluation])
        trail.extend(changes)
    # rv-05 and fv-01 share a timestamp: one at a time they are two records, not one.
    assert [c for c in trail if c.at != t(2, 3)] == [c for c in COMPANY_TRAIL if c.at != t(2, 3)]
    assert state == apply(company_start(), COMPANY_HISTORY)[0]


def test_ranking_uses_the_current_grade_at_once() -> None:
    state, _ = apply(company_start(), COMPANY_HISTORY[:9])  # through the serious case
    provider = company(1, *CANTON_TOWER, grade=Grade.A4)
    assert grade_value(provider) == 0.8
    regraded = dataclasses.replace(provider, credit_grade=state.company_grade)
    assert regraded.credit_grade is A3 and grade_value(regraded) == 0.6


def test_practitioner_serious_case_blacklists_and_revokes_the_certificate() -> None:
    history: list[Evaluation] = [
        review("rv-1", t(2, 1), 5, PR),
        verified("cp-1", t(2, 10), t(2, 20), Severity.MINOR, PR),
        verified("cp-2", t(3, 1), t(3, 9), Severity.SERIOUS, PR),
        review("rv-2", t(4, 1), 5, PR),
    ]
    state, changes = apply(initial_state(PR, Stars.FIVE, SINCE), history)
    five, one = Stars.FIVE, Stars.ONE
    assert list(changes) == [
        change(t(2, 1), ["rv-1"], (five, five), (95.0, 96.0), subject=PR),  # 社会评价 +1
        change(t(2, 20), ["cp-1"], (five, five), (96.0, 91.0), subject=PR),  # 1 服务 + 4 信用
        # 5 + 10 points would leave 3 stars; the blacklist is a veto: one star.
        change(t(3, 9), ["cp-2"], (five, one), (91.0, 76.0), subject=PR, blacklisted=True),
        # 社会评价 reaches its 30 (+0.5); one star whatever the score.
        change(t(4, 1), ["rv-2"], (one, one), (76.0, 76.5), subject=PR),
    ]
    assert state.blacklisted and (state.blacklisted_at, state.blacklist_cause) == (t(3, 9), "cp-2")
    assert state.grade is Stars.ONE
    with pytest.raises(TypeError, match="practitioner"):
        _ = state.company_grade

    # What the registry does with the blacklisting change.
    first17 = "44010519900101001"
    ok = CheckRecord(CheckStatus.PASSED, date(2025, 1, 6))
    person = Practitioner(
        "pr-0001", "张三华", first17 + id_number_check_char(first17), company_id=CO.id,
        real_name=ok, pre_job_training=ok, no_criminal_record=ok, vocational_certificate=ok,
        health_certificate=CheckRecord(CheckStatus.PASSED, date(2025, 1, 6), date(2027, 1, 5)),
        certificate_code="GZAX-2025-000001", certificate_issued_on=date(2025, 1, 10),
    )  # fmt: skip
    struck = next(c for c in changes if c.blacklisted)
    person = blacklist(person, china_date(struck.at), "严重投诉属实", struck.cause)
    assert certificate_status(person, date(2026, 3, 8)) is CertificateStatus.VALID
    assert certificate_status(person, date(2026, 3, 9)) is CertificateStatus.REVOKED
    assert not can_reapply(person, date(2029, 3, 8)) and can_reapply(person, date(2029, 3, 9))


def test_minor_complaints_do_not_blacklist() -> None:
    minors = [verified(f"cp-{i}", t(2, i), t(2, i + 1), Severity.MINOR, PR) for i in range(1, 5)]
    state, changes = apply(initial_state(PR, Stars.FOUR, SINCE), minors)
    assert not state.blacklisted and not any(c.blacklisted for c in changes)
    # 4 x (1 服务能力 + 4 信用记录) from 85; 信用记录 (17 at baseline) stops at 0.
    assert state.score == 85.0 - 4 * 1 - 16
    assert state.grade is Stars.TWO


def test_the_earliest_serious_case_is_the_blacklisting_whatever_the_order() -> None:
    later = verified("cp-b", t(3, 1), t(3, 20), Severity.GRAVE, PR)
    earlier = verified("cp-a", t(3, 1), t(3, 10), Severity.SERIOUS, PR)
    start = initial_state(PR, Stars.FIVE, SINCE)
    state, changes = apply(apply(start, [later])[0], [earlier])  # the earlier one arrives late
    assert (state.blacklisted_at, state.blacklist_cause) == (t(3, 10), "cp-a")
    assert changes[0].at == t(3, 20) and not changes[0].blacklisted  # already blacklisted
    assert state == apply(start, [earlier, later])[0]


def test_filed_then_verified() -> None:
    filed = Complaint("cp-1", CO, Severity.SERIOUS, t(3, 1))
    state, changes = apply(company_start(), [filed])
    assert changes == () and state == company_start()
    done = filed.resolve(ComplaintStatus.VERIFIED, t(3, 8))
    state, changes = apply(state, [filed, done])  # both versions in one batch: resolved wins
    assert [(c.cause, c.score_after) for c in changes] == [(("cp-1",), 76.0)]
    assert apply(company_start(), [done, filed])[0] == state
    # A resolution is final: a later contrary version of an applied id changes nothing.
    overturned = dataclasses.replace(done, status=ComplaintStatus.REJECTED)
    assert apply(state, [overturned]) == (state, ())


def test_one_id_with_two_contents_is_refused() -> None:
    with pytest.raises(GradingError, match=r"\['rv-1'\] come with different contents"):
        apply(company_start(), [review("rv-1", t(2, 1), 5), review("rv-1", t(2, 1), 1)])


def test_evaluations_of_another_subject_are_refused() -> None:
    with pytest.raises(GradingError, match=r"\['rv-9'\] are not about company 'co-9144"):
        apply(company_start(), [review("rv-1", t(2, 1), 5), review("rv-9", t(2, 1), 5, PR)])


def test_evidence_before_the_baseline_is_already_in_it() -> None:
    old = review("rv-0", SINCE - timedelta(seconds=1), 1)
    at_baseline = review("rv-1", SINCE, 5)
    state, changes = apply(company_start(), [old, at_baseline])
    assert [c.cause for c in changes] == [("rv-1",)]
    assert state.applied == {"rv-1"}


def test_a_late_arrival_takes_effect_when_it_arrives() -> None:
    state, _ = apply(company_start(), [review("rv-1", t(3, 1), 5)])
    state, changes = apply(state, [review("rv-0", t(2, 1), 5)])
    assert [(c.at, c.cause, c.score_after) for c in changes] == [(t(3, 1), ("rv-0",), 87.0)]
    assert [tally.month for tally in state.feedback] == ["2026-02", "2026-03"]  # counted in Feb


def test_same_timestamp_evaluations_are_one_step_in_any_order() -> None:
    batch: list[Evaluation] = [
        review("rv-b", t(2, 1), 5),
        review("rv-a", t(2, 1), 1),
        FollowUpVisit("fv-c", CO, t(2, 1), VisitOutcome.DISSATISFIED),
        verified("cp-d", t(1, 20), t(2, 1), Severity.MINOR),
    ]
    expected = apply(company_start(), batch)
    assert expected[1] == (
        change(t(2, 1), ["cp-d", "fv-c", "rv-a", "rv-b"], (A4, A4), (85.0, 82.5)),
    )
    for seed in range(10):
        shuffled = batch.copy()
        random.Random(seed).shuffle(shuffled)
        assert apply(company_start(), shuffled) == expected


def test_same_instant_in_two_time_zones_is_one_step() -> None:
    in_utc = t(2, 1).astimezone(UTC)
    _, changes = apply(company_start(), [review("rv-a", t(2, 1), 5), review("rv-b", in_utc, 5)])
    assert len(changes) == 1 and changes[0].at.utcoffset() == timedelta(hours=8)


def test_monthly_caps_and_months_in_china_time() -> None:
    flood = [review(f"rv-{i}", t(2, 1) + timedelta(minutes=i), 5) for i in range(20)]
    state, _ = apply(company_start(A2), flood)
    assert state.score == 65.0 + 2.0  # twenty five-star reviews in February: +2
    # 23:30 UTC on 31 January is 07:30 on 1 February in Guangzhou: February's cap is full.
    edge = review("rv-x", datetime(2026, 1, 31, 23, 30, tzinfo=UTC), 5)
    assert apply(state, [edge])[0].score == 67.0
    visits = [FollowUpVisit(f"fv-{i}", CO, t(3, 2, i), VisitOutcome.SATISFIED) for i in range(9)]
    assert apply(state, visits)[0].score == 67.0 + 1.0  # visits: +1 a month at most


def test_evaluations_lift_at_most_one_band_and_never_into_5a() -> None:
    a_year = [review(f"rv-{m}-{d}", t(m, d), 5) for m in range(1, 13) for d in range(1, 6)]
    for baseline, ceiling in [(A1, A2), (A2, A3), (A3, A4), (A4, A4)]:
        state, _ = apply(company_start(baseline), a_year)
        assert state.grade is ceiling
        assert state.dimension_scores[Dimension.SERVICE] == 25.0
    state, _ = apply(company_start(A5), [verified("cp-1", t(2, 1), t(2, 2), Severity.SERIOUS)])
    assert state.grade is A4  # and down from 5A, of course


@pytest.mark.parametrize(
    ("grade", "score", "service"),
    [(A5, 95.0, 23.75), (A4, 85.0, 21.25), (A3, 75.0, 18.75), (A2, 65.0, 16.25), (A1, 55.0, 13.75)],
)
def test_baseline_is_the_middle_of_its_band(grade: Grade, score: float, service: float) -> None:
    state = company_start(grade)
    assert (state.grade, state.score) == (grade, score)
    assert state.dimension_scores[Dimension.SERVICE] == service
    assert sum(state.dimension_scores.values()) == score
    assert initial_state(PR, Stars(grade.rank), SINCE).score == score


def test_initial_state_checks_its_arguments() -> None:
    with pytest.raises(GradingError, match="must be a Grade"):
        initial_state(CO, Stars.FIVE, SINCE)
    with pytest.raises(GradingError, match="must be Stars"):
        initial_state(PR, Grade.A5, SINCE)
    with pytest.raises(GradingError, match="has no time zone"):
        initial_state(CO, Grade.A5, datetime(2026, 1, 1))  # naive on purpose


def test_the_model_is_configurable() -> None:
    generous = GradingModel(
        company=dataclasses.replace(COMPANY_SCALE, review_step=1.0, review_cap_per_month=5.0),
        blacklist_severities=frozenset({Severity.GRAVE}),
    )
    state, _ = apply(initial_state(CO, A4, SINCE, generous), [review("rv-1", t(2, 1), 5)], generous)
    assert state.score == 87.0
    serious = [verified("cp-1", t(2, 1), t(2, 2), Severity.SERIOUS, PR)]
    assert not apply(initial_state(PR, Stars.FIVE, SINCE, generous), serious, generous)[
        0
    ].blacklisted
    uneven = dataclasses.replace(
        PRACTITIONER_SCALE,
        weights={
            Dimension.BASIC_INFO: 33.33,
            Dimension.SOCIAL_EVALUATION: 33.33,
            Dimension.CREDIT_RECORD: 33.34,
        },
        complaint_deductions={Severity.MINOR: {Dimension.CREDIT_RECORD: 2}},
    )
    odd = initial_state(PR, Stars.FOUR, SINCE, GradingModel(practitioner=uneven))
    assert odd.score == 85.0 and sum(v for _, v in odd.dimensions_cp) == 8500  # exact split


@pytest.mark.parametrize(
    ("change_", "message"),
    [
        (
            {"weights": {Dimension.SERVICE: 50, Dimension.OVERALL: 45}},
            "weights must sum to 100, they sum to 95",
        ),
        ({"review_step": 0.125}, "review_step must be a multiple of 0.01 points, got 0.125"),
        ({"band_floors": (90, 80, 85, 60)}, "four strictly decreasing scores"),
        ({"band_floors": (120, 80, 70, 60)}, "within 0 (exclusive) and 100"),
        (
            {"feedback_dimension": Dimension.SOCIAL_EVALUATION},
            "feedback dimension social_evaluation has no weight",
        ),
        (
            {"complaint_deductions": {Severity.MINOR: {Dimension.CREDIT_RECORD: 1}}},
            "which has no weight",
        ),
        ({"complaint_deductions": {Severity.MINOR: {Dimension.MANAGEMENT: -1}}}, "must be >= 0"),
        ({"review_cap_per_month": -1}, "the monthly caps must be >= 0"),
    ],
)
def test_scale_validation(change_: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match="grading scale: ") as err:
        dataclasses.replace(COMPANY_SCALE, **change_)  # type: ignore[arg-type]
    assert message in str(err.value)


def test_scale_is_immutable_and_its_bands() -> None:
    with pytest.raises(TypeError):
        COMPANY_SCALE.weights[Dimension.SERVICE] = 100  # type: ignore[index]
    assert [COMPANY_SCALE.rank_for(s) for s in (90, 89.99, 80, 70, 60, 59.99)] == [5, 4, 4, 3, 2, 1]
    assert DEFAULT_MODEL.scale(SubjectKind.PRACTITIONER) is PRACTITIONER_SCALE


# --- properties -------------------------------------------------------------------------

DAYS = st.integers(-10, 200)  # some evidence before the baseline; many shared timestamps


@st.composite
def feeds(draw: st.DrawFn, subject: Subject) -> list[Evaluation]:
    out: list[Evaluation] = []
    for i in range(draw(st.integers(0, 25))):
        at = SINCE + timedelta(days=draw(DAYS))
        kind = draw(st.sampled_from(["review", "visit", "complaint"]))
        if kind == "review":
            out.append(Review(f"e{i}", subject, at, draw(st.integers(1, 5))))
        elif kind == "visit":
            out.append(
                FollowUpVisit(f"e{i}", subject, at, draw(st.sampled_from(list(VisitOutcome))))
            )
        else:
            status = draw(st.sampled_from(list(ComplaintStatus)))
            resolved = (
                None
                if status is ComplaintStatus.FILED
                else at + timedelta(days=draw(st.integers(0, 30)))
            )
            severity = draw(st.sampled_from(list(Severity)))
            out.append(Complaint(f"e{i}", subject, severity, at, status, resolved))
    return out


@st.composite
def histories(draw: st.DrawFn) -> tuple[GradeState, list[Evaluation]]:
    subject = draw(st.sampled_from([CO, PR]))
    rank = draw(st.integers(1, 5))
    baseline: Grade | Stars = (
        Stars(rank) if subject is PR else next(g for g in Grade if g.rank == rank)
    )
    return initial_state(subject, baseline, SINCE), draw(feeds(subject))


def assert_consistent(state: GradeState, changes: Sequence[GradeChange], start: GradeState) -> None:
    scale = DEFAULT_MODEL.scale(state.subject.kind)
    assert 0 <= state.score <= 100
    for dimension, points in state.dimension_scores.items():
        assert 0 <= points <= scale.weights[dimension]
    expected_rank = 1 if state.blacklisted else scale.rank_for(state.score)
    assert state.grade.rank == expected_rank
    previous = start
    for c in changes:  # an unbroken chain, never running backwards
        assert (c.grade_before, c.score_before) == (previous.grade, previous.score)
        assert c.at >= previous.as_of and c.cause == tuple(sorted(c.cause))
        previous = dataclasses.replace(
            previous, grade=c.grade_after, score_cp=round(c.score_after * 100), as_of=c.at
        )
    assert (previous.grade, previous.score) == (state.grade, state.score)


@settings(max_examples=150, deadline=None)
@given(histories())
def test_grades_stay_within_bounds_and_the_trail_is_unbroken(
    h: tuple[GradeState, list[Evaluation]],
) -> None:
    start, feed = h
    state, changes = apply(start, feed)
    assert_consistent(state, changes, start)


@settings(max_examples=100, deadline=None)
@given(histories(), st.sampled_from(list(Severity)), DAYS, st.booleans())
def test_a_rejected_or_pending_complaint_changes_nothing(
    h: tuple[GradeState, list[Evaluation]], severity: Severity, day: int, rejected: bool
) -> None:
    start, feed = h
    at = SINCE + timedelta(days=day)
    complaint = Complaint("extra", start.subject, severity, at)
    if rejected:
        complaint = complaint.resolve(ComplaintStatus.REJECTED, at + timedelta(days=3))
    assert apply(start, [*feed, complaint]) == apply(start, feed)


@settings(max_examples=100, deadline=None)
@given(histories(), st.data())
def test_replaying_is_idempotent(
    h: tuple[GradeState, list[Evaluation]], data: st.DataObject
) -> None:
    start, feed = h
    state, _ = apply(start, feed)
    assert apply(state, feed) == (state, ())
    some = data.draw(st.lists(st.sampled_from(feed), max_size=5)) if feed else []
    assert apply(state, some) == (state, ())


@settings(max_examples=100, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_the_order_of_a_batch_does_not_matter(
    h: tuple[GradeState, list[Evaluation]], rnd: random.Random
) -> None:
    start, feed = h
    shuffled = feed.copy()
    rnd.shuffle(shuffled)
    assert apply(start, shuffled) == apply(start, feed)


@settings(max_examples=100, deadline=None)
@given(histories(), st.randoms(use_true_random=False), st.integers(0, 25))
def test_how_the_feed_is_cut_into_batches_does_not_change_the_result(
    h: tuple[GradeState, list[Evaluation]], rnd: random.Random, cut: int
) -> None:
    """Late arrivals included: batches in any order end in the same state."""
    start, feed = h
    shuffled = feed.copy()
    rnd.shuffle(shuffled)
    first, _ = apply(start, shuffled[:cut])
    twice, changes = apply(first, shuffled[cut:])
    assert twice == apply(start, feed)[0]
    assert_consistent(twice, changes, first)


@settings(max_examples=100, deadline=None)
@given(histories(), st.sampled_from(list(Severity)), DAYS, st.integers(1, 5))
def test_complaints_never_help_and_five_stars_never_hurt(
    h: tuple[GradeState, list[Evaluation]], severity: Severity, day: int, stars: int
) -> None:
    start, feed = h
    at = SINCE + timedelta(days=day)
    state, _ = apply(start, feed)
    complaint = Complaint("cp-x", start.subject, severity, at, ComplaintStatus.VERIFIED, at)
    worse, _ = apply(start, [*feed, complaint])
    assert worse.score <= state.score and worse.grade.rank <= state.grade.rank
    better, _ = apply(start, [*feed, Review("rv-x", start.subject, at, 5)])
    assert better.score >= state.score and better.grade.rank >= state.grade.rank
    moved, _ = apply(start, [*feed, Review("rv-y", start.subject, at, stars)])
    if stars >= 3:
        assert moved.score >= state.score
    if stars <= 3:
        assert moved.score <= state.score

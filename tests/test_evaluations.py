"""Evaluations: validation messages, the complaint life cycle, effect times, grouping."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from providers.evaluations import (
    CHINA_TZ,
    MAX_TEXT_CHARS,
    Complaint,
    ComplaintStatus,
    Evaluation,
    FollowUpVisit,
    InvalidEvaluationError,
    Review,
    Severity,
    Subject,
    SubjectKind,
    VisitOutcome,
    by_subject,
    china_date,
)

CO = Subject.company("co-914403001922038216")
PR = Subject.practitioner("pr-0001")
AT = datetime(2026, 3, 1, 10, 0, tzinfo=CHINA_TZ)


def test_subject_constructors_and_order() -> None:
    assert Subject(SubjectKind.COMPANY, "co-914403001922038216") == CO
    assert PR.kind is SubjectKind.PRACTITIONER
    assert sorted([PR, CO]) == [CO, PR]
    with pytest.raises(InvalidEvaluationError, match="subject id is empty"):
        Subject.company("  ")


@pytest.mark.parametrize("stars", [1, 2, 3, 4, 5])
def test_review_accepts_one_to_five_stars(stars: int) -> None:
    review = Review("rv-1", CO, AT, stars, text="准时、干净")
    assert review.stars == stars
    assert review.takes_effect_at == AT


@pytest.mark.parametrize(
    ("stars", "message"),
    [
        (0, "stars must be a whole number from 1 to 5, got 0"),
        (6, "stars must be a whole number from 1 to 5, got 6"),
        (4.5, "stars must be a whole number from 1 to 5, got 4.5"),
        (True, "stars must be a whole number from 1 to 5, got True"),
    ],
)
def test_review_refuses_other_stars(stars: Any, message: str) -> None:
    with pytest.raises(InvalidEvaluationError) as err:
        Review("rv-1", CO, AT, stars)
    assert str(err.value) == f"review 'rv-1': {message}"


def test_naive_times_are_refused_with_a_hint() -> None:
    with pytest.raises(
        InvalidEvaluationError, match=r"has no time zone; attach one \(e\.g\. \+08:00\)"
    ):
        Review("rv-1", CO, datetime(2026, 3, 1, 10), 5)  # naive: the point of the test
    with pytest.raises(InvalidEvaluationError, match="filed_at must be a datetime, got date"):
        Complaint("cp-1", CO, Severity.MINOR, date(2026, 3, 1))  # type: ignore[arg-type]


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(InvalidEvaluationError) as err:
        Review(" ", "co-1", AT, 9, text="x" * (MAX_TEXT_CHARS + 1))  # type: ignore[arg-type]
    message = str(err.value)
    for fragment in (
        "id is empty",
        "subject must be a Subject",
        "stars",
        f"at most {MAX_TEXT_CHARS}",
    ):
        assert fragment in message


def test_complaint_life_cycle() -> None:
    filed = Complaint("cp-1", CO, Severity.SERIOUS, filed_at=AT, text="物品损坏")
    assert filed.status is ComplaintStatus.FILED
    assert filed.takes_effect_at is None  # being handled: counts for nothing yet

    verified = filed.resolve(ComplaintStatus.VERIFIED, AT + timedelta(days=7))
    assert verified.takes_effect_at == AT + timedelta(days=7)
    assert (verified.id, verified.severity, verified.filed_at) == (filed.id, filed.severity, AT)

    rejected = filed.resolve(ComplaintStatus.REJECTED, AT + timedelta(days=2))
    assert rejected.takes_effect_at is None  # never counts

    with pytest.raises(InvalidEvaluationError, match="already verified; a resolution is final"):
        verified.resolve(ComplaintStatus.REJECTED, AT + timedelta(days=9))
    with pytest.raises(InvalidEvaluationError, match="resolve to verified or rejected"):
        filed.resolve(ComplaintStatus.FILED, AT)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"resolved_at": AT}, "a complaint still filed has no resolved_at"),
        ({"status": ComplaintStatus.VERIFIED}, "a verified complaint needs resolved_at"),
        ({"status": ComplaintStatus.REJECTED}, "a rejected complaint needs resolved_at"),
        (
            {"status": ComplaintStatus.VERIFIED, "resolved_at": AT - timedelta(days=1)},
            "resolved_at 2026-02-28T10:00:00+08:00 is before filed_at 2026-03-01T10:00:00+08:00",
        ),
        (
            {"severity": "terrible"},
            "severity must be slight, minor, fairly_serious, serious or grave, got 'terrible'",
        ),
    ],
)
def test_complaint_invariants(fields: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"severity": Severity.MINOR, "filed_at": AT}
    base.update(fields)
    with pytest.raises(InvalidEvaluationError) as err:
        Complaint("cp-1", CO, **base)
    assert str(err.value) == f"complaint 'cp-1': {message}"


def test_resolution_may_be_in_another_time_zone() -> None:
    resolved = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)  # 10:30 in Guangzhou, after filing
    complaint = Complaint("cp-1", CO, Severity.MINOR, AT, ComplaintStatus.VERIFIED, resolved)
    assert complaint.takes_effect_at == resolved


def test_follow_up_visit() -> None:
    visit = FollowUpVisit("fv-1", PR, AT, VisitOutcome.UNREACHABLE)
    assert visit.takes_effect_at == AT
    with pytest.raises(InvalidEvaluationError, match="outcome must be satisfied, neutral"):
        FollowUpVisit("fv-1", PR, AT, "happy")  # type: ignore[arg-type]


def test_labels() -> None:
    assert [s.label_zh for s in Severity] == ["轻微", "一般", "较重", "严重", "特别严重"]
    assert [s.value for s in Severity] == ["slight", "minor", "fairly_serious", "serious", "grave"]


def test_by_subject_groups_in_feed_order() -> None:
    feed: list[Evaluation] = [
        Review("a", PR, AT, 5),
        Complaint("b", CO, Severity.MINOR, AT),
        FollowUpVisit("c", PR, AT, VisitOutcome.NEUTRAL),
    ]
    grouped = by_subject(feed)
    assert list(grouped) == [CO, PR]
    assert [e.id for e in grouped[PR]] == ["a", "c"]


def test_china_date_crosses_midnight() -> None:
    assert china_date(datetime(2026, 3, 31, 16, 0, tzinfo=UTC)) == date(2026, 4, 1)
    assert china_date(datetime(2026, 3, 31, 15, 59, tzinfo=UTC)) == date(2026, 3, 31)

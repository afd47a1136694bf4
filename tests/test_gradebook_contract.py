"""The grade book contract, run unchanged against the embedded and the PostGIS grade book."""

from __future__ import annotations

import sqlite3
import sys
import threading
import uuid
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

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
from providers.gradebook import Baseline, GradeBook, Outcome
from providers.grading import apply, initial_state
from providers.model import Grade
from providers.practitioners import Stars
from providers.stores.engine import make_engine, upgrade_schema
from providers.stores.gradebook_embedded import EmbeddedGradeBook
from providers.stores.gradebook_postgis import PostgisGradeBook
from providers.stores.pg_database import Database
from tests.helpers import embedded_backend_at

CO = Subject.company("co-914401010000000017")
PR = Subject.practitioner("pr-0001")
SINCE = datetime(2026, 1, 1, tzinfo=CHINA_TZ)
BASE = Baseline(Grade.A3, SINCE)


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CHINA_TZ)


def reviews(month: int, stars: int = 5, n: int = 4, subject: Subject = CO) -> list[Review]:
    return [
        Review(f"rv-{month}-{d}", subject, at(month, d), stars, "阿姨很细心")
        for d in range(1, n + 1)
    ]


def complaint(id_: str, severity: Severity = Severity.SERIOUS, subject: Subject = CO) -> Complaint:
    return Complaint(id_, subject, severity, filed_at=at(4, 1), text="迟到两小时")


def test_a_new_subject_starts_at_its_baseline_and_moves_with_evidence(gradebook: GradeBook) -> None:
    assert gradebook.current(CO) is None and gradebook.history(CO) == []
    rec = gradebook.record(CO, BASE, reviews(2) + reviews(3))
    assert [o.outcome for o in rec.outcomes] == [Outcome.ACCEPTED] * 8
    # +2 points a month at most: 75 -> 79, still 3A.
    assert (rec.state.grade, rec.state.score) == (Grade.A3, 79.0)
    history = gradebook.history(CO)
    assert history == list(rec.changes) and len(history) == 4
    assert history[0].cause == ("rv-2-1",) and history[0].score_before == 75.0
    current = gradebook.current(CO)
    assert current is not None
    assert (current.grade, current.score, current.baseline) == (Grade.A3, 79.0, BASE)
    assert current.as_of == at(3, 4)


def test_recording_the_same_batch_again_changes_nothing(gradebook: GradeBook) -> None:
    batch: list[Evaluation] = [
        *reviews(2),
        FollowUpVisit("fv-1", CO, at(2, 9), VisitOutcome.SATISFIED),
    ]
    first = gradebook.record(CO, BASE, batch)
    again = gradebook.record(CO, BASE, batch)
    assert [o.outcome for o in again.outcomes] == [Outcome.DUPLICATE] * len(batch)
    assert again.changes == () and again.accepted == ()
    assert again.state == first.state
    assert gradebook.history(CO) == list(first.changes)


def test_the_stored_baseline_wins_over_a_later_one(gradebook: GradeBook) -> None:
    gradebook.record(CO, BASE, reviews(2, n=1))
    rec = gradebook.record(CO, Baseline(Grade.A5, at(6, 1)), reviews(3, n=1))
    assert rec.baseline == BASE and rec.state.baseline is Grade.A3
    current = gradebook.current(CO)
    assert current is not None and current.baseline == BASE


def test_a_resolution_replaces_the_filed_complaint_and_counts_once(gradebook: GradeBook) -> None:
    filed = complaint("cp-1")
    rec = gradebook.record(CO, BASE, [filed])
    assert rec.outcomes[0].outcome is Outcome.ACCEPTED and rec.changes == ()

    verified = filed.resolve(ComplaintStatus.VERIFIED, at(4, 8))
    rec = gradebook.record(CO, BASE, [verified])
    assert rec.outcomes[0].outcome is Outcome.ACCEPTED
    assert [(c.cause, c.score_before, c.score_after) for c in rec.changes] == [
        (("cp-1",), 75.0, 66.0)
    ]
    assert rec.state.grade is Grade.A2

    # The stale filed version and the verified one again: duplicates, nothing moves.
    again = gradebook.record(CO, BASE, [filed, verified])
    assert [o.outcome for o in again.outcomes] == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert again.changes == () and again.state.score == 66.0

    # A resolution is final: the complaint cannot be rejected afterwards.
    reversed_ = Complaint(
        "cp-1", CO, Severity.SERIOUS, at(4, 1), ComplaintStatus.REJECTED, at(4, 9), "迟到两小时"
    )
    refused = gradebook.record(CO, BASE, [reversed_])
    assert refused.outcomes[0].outcome is Outcome.REJECTED
    assert "cannot change" in refused.outcomes[0].reason
    assert len(gradebook.history(CO)) == 1


def test_filed_and_resolved_in_one_batch(gradebook: GradeBook) -> None:
    filed = complaint("cp-2", Severity.MINOR)
    verified = filed.resolve(ComplaintStatus.VERIFIED, at(4, 3))
    rec = gradebook.record(CO, BASE, [filed, verified])
    assert [o.outcome for o in rec.outcomes] == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert rec.state.score == 73.0
    # What was stored is the resolution: a replay from the book gives the same answer.
    assert gradebook.record(CO, BASE, []).state.score == 73.0


def test_an_id_with_other_content_or_another_subject_is_rejected(gradebook: GradeBook) -> None:
    gradebook.record(CO, BASE, [Review("rv-x", CO, at(2, 1), 5)])
    other = Subject.company("co-914401010000000025")
    changed = gradebook.record(CO, BASE, [Review("rv-x", CO, at(2, 1), 1)])
    elsewhere = gradebook.record(other, BASE, [Review("rv-x", other, at(2, 1), 5)])
    assert changed.outcomes[0].outcome is Outcome.REJECTED
    assert elsewhere.outcomes[0].outcome is Outcome.REJECTED
    assert "another subject" in elsewhere.outcomes[0].reason
    assert gradebook.history(other) == []
    # Within one batch, the first version of an id wins and a conflicting one is reported.
    rec = gradebook.record(
        CO, BASE, [Review("rv-y", CO, at(2, 2), 5), Review("rv-y", CO, at(2, 2), 2)]
    )
    assert [o.outcome for o in rec.outcomes] == [Outcome.ACCEPTED, Outcome.REJECTED]


def test_the_state_does_not_depend_on_how_the_feed_was_cut(gradebook: GradeBook) -> None:
    filed = complaint("cp-3")
    feed: list[Evaluation] = [
        *reviews(2),
        *reviews(3, stars=4),
        FollowUpVisit("fv-2", CO, at(3, 20), VisitOutcome.DISSATISFIED),
        filed.resolve(ComplaintStatus.VERIFIED, at(4, 10)),
        *reviews(5, stars=1, n=2),
    ]
    for cut in (feed[6:], feed[:3], feed[3:6]):  # out of order, in three batches
        last = gradebook.record(CO, BASE, cut)
    whole, _ = apply(initial_state(CO, Grade.A3, SINCE), feed)
    assert (last.state.grade, last.state.score_cp) == (whole.grade, whole.score_cp)
    assert last.state.dimensions_cp == whole.dimensions_cp


def test_a_serious_case_blacklists_a_practitioner(gradebook: GradeBook) -> None:
    base = Baseline(Stars.FOUR, SINCE)
    case = complaint("cp-pr", Severity.SERIOUS, PR).resolve(ComplaintStatus.VERIFIED, at(4, 5))
    rec = gradebook.record(PR, base, [*reviews(2, subject=Subject.practitioner("pr-0001")), case])
    assert rec.state.grade is Stars.ONE and rec.state.blacklisted
    history = gradebook.history(PR)
    assert history[-1].blacklisted and history[-1].cause == ("cp-pr",)
    assert history[-1].grade_after is Stars.ONE
    current = gradebook.current(PR)
    assert current is not None
    assert (current.grade, current.blacklist_cause) == (Stars.ONE, "cp-pr")
    assert current.blacklisted_at == at(4, 5)


def test_a_failed_write_leaves_nothing_behind(
    gradebook: GradeBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = sys.modules[type(gradebook).__module__]
    name = "_change_row" if isinstance(gradebook, EmbeddedGradeBook) else "_change_params"

    def broken(*_: object) -> object:
        raise RuntimeError("disk full")

    monkeypatch.setattr(module, name, broken)
    with pytest.raises(RuntimeError, match="disk full"):
        gradebook.record(CO, BASE, reviews(2))
    monkeypatch.undo()
    assert gradebook.current(CO) is None and gradebook.history(CO) == []
    rec = gradebook.record(CO, BASE, reviews(2))  # the re-run records it all
    # 4 five-star reviews in a month: +1, +1, then the month's +2 cap holds.
    assert [o.outcome for o in rec.outcomes] == [Outcome.ACCEPTED] * 4 and len(rec.changes) == 2


def test_concurrent_batches_about_one_subject_both_count(
    gradebook: GradeBook, request: pytest.FixtureRequest
) -> None:
    errors: list[BaseException] = []

    def send(month: int) -> None:
        try:
            gradebook.record(CO, BASE, reviews(month))
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(m,)) for m in (2, 3, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    current = gradebook.current(CO)
    assert current is not None and current.score == 81.0 and current.grade is Grade.A4
    # Every batch's changes were appended exactly once (a batch arriving after a later
    # month takes effect at once, so how many records depends on the order: not the sum).
    assert gradebook.history(CO)[-1].score_after == 81.0
    assert sum(c.score_after - c.score_before for c in gradebook.history(CO)) == 6.0


def test_embedded_grades_live_beside_the_providers_file(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    backend = embedded_backend_at(folder)
    store, book = backend.store, backend.gradebook
    book.record(CO, BASE, reviews(2))
    assert (folder / "grades.sqlite").exists()
    tables = {
        row[0]
        for row in sqlite3.connect(folder / "providers.sqlite").execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    assert not any(t.startswith("grade") for t in tables)
    assert store.data_version() == 0
    backend.close()
    reopened = EmbeddedGradeBook(folder)
    assert len(reopened.history(CO)) == 2
    reopened.close()


def test_migration_0003_upgrades_and_downgrades(postgis_url: str) -> None:
    name = f"jzmap_mig3_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgis_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(postgis_url).set(database=name).render_as_string(hide_password=False)
    try:
        engine = make_engine(url)
        assert upgrade_schema(engine, "0002") == "0002"
        assert upgrade_schema(engine, "0003") == "0003"
        book = PostgisGradeBook(Database(engine))
        book.record(CO, BASE, reviews(2))
        assert len(book.history(CO)) == 2
        from alembic import command

        from providers.stores.engine import _alembic_config

        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "0002")
        with engine.connect() as conn:
            left = set(sa.inspect(conn).get_table_names())
        assert "providers" in left and not {t for t in left if t.startswith("grade")}
        assert upgrade_schema(engine, "0003") == "0003"
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_company_grades_lists_every_company_with_baseline_and_current(
    gradebook: GradeBook,
) -> None:
    assert gradebook.company_grades() == {}
    other = Subject.company("co-914401010000000025")
    gradebook.record(CO, BASE, [complaint("cp-1").resolve(ComplaintStatus.VERIFIED, at(4, 8))])
    gradebook.record(other, Baseline(Grade.A5, SINCE), reviews(2, n=1, subject=other))
    gradebook.record(PR, Baseline(Stars.FOUR, SINCE), [])  # practitioners are not listed
    assert gradebook.company_grades() == {
        CO.id: (Grade.A3, Grade.A2),
        other.id: (Grade.A5, Grade.A5),
    }


def test_a_new_official_baseline_restarts_the_grade_and_is_audited(gradebook: GradeBook) -> None:
    verified = complaint("cp-1").resolve(ComplaintStatus.VERIFIED, at(4, 8))
    gradebook.record(CO, BASE, [*reviews(2), verified])  # 75 -> 77 -> 68: 2A
    assert gradebook.company_grades()[CO.id] == (Grade.A3, Grade.A2)
    trail = gradebook.history(CO)

    assessed = Baseline(Grade.A4, at(5, 1))
    change = gradebook.rebaseline(CO, assessed, "official:海珠区.csv")
    assert change is not None
    assert (change.at, change.cause) == (at(5, 1), ("official:海珠区.csv",))
    assert (change.grade_before, change.score_before) == (Grade.A2, 68.0)
    # Everything before the assessment is in it: the subject starts at 4A's 85 points.
    assert (change.grade_after, change.score_after, change.blacklisted) == (Grade.A4, 85.0, False)
    current = gradebook.current(CO)
    assert current is not None
    assert (current.baseline, current.grade, current.score) == (assessed, Grade.A4, 85.0)
    assert gradebook.history(CO) == [*trail, change]
    assert gradebook.company_grades()[CO.id] == (Grade.A4, Grade.A4)

    # The same baseline again changes nothing; the old evaluations stay recorded (ids used).
    assert gradebook.rebaseline(CO, assessed, "official:海珠区.csv") is None
    assert gradebook.history(CO) == [*trail, change]
    again = gradebook.record(CO, BASE, [verified])
    assert [o.outcome for o in again.outcomes] == [Outcome.DUPLICATE] and again.changes == ()
    # Evidence dated from the assessment on moves it as usual (5-star reviews in June).
    later = gradebook.record(CO, BASE, reviews(6, n=2))
    assert later.state.baseline is Grade.A4 and later.state.score == 87.0


def test_subject_grades_lists_the_evaluated_subjects_of_a_kind_with_their_baselines(
    gradebook: GradeBook,
) -> None:
    assert gradebook.subject_grades(SubjectKind.PRACTITIONER) == {}
    assert gradebook.subject_grades(SubjectKind.COMPANY, [CO.id]) == {}
    other = Subject.practitioner("pr-0000")
    gradebook.record(PR, Baseline(Stars.FOUR, SINCE), reviews(2, n=2, subject=PR))
    gradebook.record(other, Baseline(Stars.THREE, SINCE), [])
    gradebook.record(CO, BASE, reviews(3, n=1))

    everyone = gradebook.subject_grades(SubjectKind.PRACTITIONER)
    assert list(everyone) == [other.id, PR.id]  # sorted by id
    assert everyone == {other.id: gradebook.current(other), PR.id: gradebook.current(PR)}
    assert everyone[PR.id].baseline == Baseline(Stars.FOUR, SINCE)
    assert (everyone[PR.id].grade, everyone[PR.id].score) == (Stars.FOUR, 87.0)
    assert gradebook.subject_grades(SubjectKind.COMPANY) == {CO.id: gradebook.current(CO)}

    # Only the ids asked for, whatever else is asked; as many as a whole register.
    assert gradebook.subject_grades(SubjectKind.PRACTITIONER, [PR.id, CO.id, "pr-x"]) == {
        PR.id: everyone[PR.id]
    }
    assert gradebook.subject_grades(SubjectKind.PRACTITIONER, []) == {}
    register = [f"pr-{n:04d}" for n in range(1_500, -1, -1)]
    assert gradebook.subject_grades(SubjectKind.PRACTITIONER, register) == everyone

    # A new official rating shows as the practitioner's baseline.
    rated = Baseline(Stars.FIVE, at(5, 1))
    change = gradebook.rebaseline(PR, rated, "official:registry")
    assert change is not None and change.cause == ("official:registry",)
    assert (change.grade_before, change.grade_after, change.score_after) == (
        Stars.FOUR,
        Stars.FIVE,
        95.0,
    )
    after = gradebook.subject_grades(SubjectKind.PRACTITIONER, [PR.id])[PR.id]
    assert (after.baseline, after.grade) == (rated, Stars.FIVE)
    assert gradebook.history(PR)[-1] == change


def test_rebaselining_an_unknown_subject_does_nothing(gradebook: GradeBook) -> None:
    assert gradebook.rebaseline(CO, Baseline(Grade.A4, at(5, 1)), "official:x.csv") is None
    assert gradebook.current(CO) is None and gradebook.company_grades() == {}


def test_delete_all_empties_the_book(gradebook: GradeBook) -> None:
    gradebook.record(CO, BASE, reviews(2))
    gradebook.record(PR, Baseline(Stars.FOUR, SINCE), reviews(2, subject=PR)[:0])
    assert gradebook.delete_all() == 2
    assert gradebook.current(CO) is None and gradebook.history(CO) == []
    assert gradebook.company_grades() == {} and gradebook.delete_all() == 0
    # The ids are free again: the same evaluations are new.
    rec = gradebook.record(CO, BASE, reviews(2))
    assert [o.outcome for o in rec.outcomes] == [Outcome.ACCEPTED] * 4

"""The PostGIS grade book: tables ``grade_subjects``, ``grade_evaluations`` and
``grade_changes`` (migration 0003) in the providers' database.

Each recording is one transaction that first makes sure the subject's row exists and then
locks it (``SELECT … FOR UPDATE``): concurrent recordings about one subject queue up
behind each other, recordings about different subjects run side by side.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from providers.evaluations import GradeEvent, Severity, Subject, SubjectKind
from providers.gradebook import (
    Baseline,
    Recording,
    SubjectGrade,
    china_time,
    evaluation_from_json,
    evaluation_to_json,
    evaluation_type,
    grade_text,
    parse_grade,
    plan_rebaseline,
    plan_recording,
    plan_regrade,
    score_cp,
)
from providers.grading import (
    DEFAULT_MODEL,
    GradeChange,
    GradeState,
    GradingModel,
    initial_state,
)
from providers.model import Grade
from providers.stores.pg_database import Database

_ENSURE_SUBJECT = sa.text(
    """
    INSERT INTO grade_subjects (kind, id, baseline, since, grade, score_cp, as_of)
    VALUES (:kind, :id, :baseline, :since, :grade, :score_cp, :as_of)
    ON CONFLICT (kind, id) DO NOTHING
    """
)
_LOCK_SUBJECT = sa.text(
    "SELECT baseline, since FROM grade_subjects WHERE kind = :kind AND id = :id FOR UPDATE"
)
_STORED = sa.text(
    "SELECT body FROM grade_evaluations WHERE subject_kind = :kind AND subject_id = :id"
)
_KNOWN = sa.text("SELECT id, body FROM grade_evaluations WHERE id = ANY(:ids)")
_UPSERT_EVALUATION = sa.text(
    """
    INSERT INTO grade_evaluations (id, subject_kind, subject_id, type, body)
    VALUES (:id, :kind, :subject_id, :type, CAST(:body AS jsonb))
    ON CONFLICT (id) DO UPDATE SET type = excluded.type, body = excluded.body,
        recorded_at = now()
    """
)
_UPDATE_SUBJECT = sa.text(
    """
    UPDATE grade_subjects SET grade = :grade, score_cp = :score_cp, as_of = :as_of,
        blacklisted_at = :blacklisted_at, blacklist_cause = :blacklist_cause
    WHERE kind = :kind AND id = :id
    """
)
_INSERT_CHANGE = sa.text(
    """
    INSERT INTO grade_changes (subject_kind, subject_id, at, cause, grade_before, grade_after,
        score_before_cp, score_after_cp, blacklisted)
    VALUES (:kind, :id, :at, :cause, :grade_before, :grade_after, :score_before_cp,
        :score_after_cp, :blacklisted)
    """
)
_CURRENT = sa.text(
    """
    SELECT baseline, since, grade, score_cp, as_of, blacklisted_at, blacklist_cause
    FROM grade_subjects WHERE kind = :kind AND id = :id
    """
)
_CURRENT_FOR_UPDATE = sa.text(
    """
    SELECT baseline, since, grade, score_cp, as_of, blacklisted_at, blacklist_cause
    FROM grade_subjects WHERE kind = :kind AND id = :id FOR UPDATE
    """
)
_REBASELINE = sa.text(
    """
    UPDATE grade_subjects SET baseline = :baseline, since = :since, grade = :grade,
        score_cp = :score_cp, as_of = :as_of, blacklisted_at = :blacklisted_at,
        blacklist_cause = :blacklist_cause
    WHERE kind = :kind AND id = :id
    """
)
_SUBJECT_GRADES = sa.text(
    """
    SELECT id, baseline, since, grade, score_cp, as_of, blacklisted_at, blacklist_cause
    FROM grade_subjects WHERE kind = :kind
    """
)
_SUBJECT_GRADES_OF = sa.text(
    """
    SELECT id, baseline, since, grade, score_cp, as_of, blacklisted_at, blacklist_cause
    FROM grade_subjects WHERE kind = :kind AND id = ANY(:ids)
    """
)
_COMPANY_GRADES = sa.text(
    "SELECT id, baseline, grade FROM grade_subjects WHERE kind = 'company' ORDER BY id"
)
_CHANGES_SINCE = sa.text(
    """
    SELECT subject_kind, subject_id, at, cause, grade_before, grade_after, score_before_cp,
        score_after_cp, blacklisted
    FROM grade_changes WHERE at >= :since ORDER BY at, seq
    """
)
_STORED_SORTED = sa.text(
    "SELECT id, body FROM grade_evaluations WHERE subject_kind = :kind AND subject_id = :id"
)
_CORRECT = sa.text("UPDATE grade_evaluations SET body = CAST(:body AS jsonb) WHERE id = :id")
_HISTORY = sa.text(
    """
    SELECT at, cause, grade_before, grade_after, score_before_cp, score_after_cp, blacklisted
    FROM grade_changes WHERE subject_kind = :kind AND subject_id = :id ORDER BY seq
    """
)


class PostgisGradeBook:
    """A :class:`~providers.gradebook.GradeBook` in PostgreSQL.

    Its transactions run with the read timeout: batches are small
    (JZMAP_MAX_EVALUATIONS_PER_BATCH).

    Parameters
    ----------
    db
        The backend's database, shared with its provider store; closed by the backend,
        not by the grade book.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def engine(self) -> Engine:
        """The engine of the backend's one pool."""
        return self._db.engine

    def record(
        self,
        subject: Subject,
        baseline: Baseline,
        evaluations: Sequence[GradeEvent],
        model: GradingModel = DEFAULT_MODEL,
    ) -> Recording:
        try:
            return self._record(subject, baseline, evaluations, model)
        except sa.exc.IntegrityError:
            # Two batches about different subjects sent one new id at the same moment: the
            # loser's insert hit the winner's row. Once more, the id is known and the item
            # is classified (a duplicate or a conflict) like any other.
            return self._record(subject, baseline, evaluations, model)

    def _record(
        self,
        subject: Subject,
        baseline: Baseline,
        evaluations: Sequence[GradeEvent],
        model: GradingModel,
    ) -> Recording:
        key = {"kind": subject.kind.value, "id": subject.id}
        with self._db.transaction() as conn:
            initial = initial_state(subject, baseline.grade, baseline.since, model)
            conn.execute(
                _ENSURE_SUBJECT,
                key
                | _baseline_params(baseline)
                | {"grade": grade_text(initial.grade), "score_cp": initial.score_cp}
                | {"as_of": initial.as_of},
            )
            locked = conn.execute(_LOCK_SUBJECT, key).one()
            baseline = Baseline(
                parse_grade(subject.kind, locked.baseline), china_time(locked.since)
            )
            stored = [evaluation_from_json(row.body) for row in conn.execute(_STORED, key)]
            ids = sorted({e.id for e in evaluations})
            known = {
                row.id: evaluation_from_json(row.body) for row in conn.execute(_KNOWN, {"ids": ids})
            }
            plan = plan_recording(subject, baseline, stored, known, evaluations, model=model)
            if plan.accepted:
                conn.execute(
                    _UPSERT_EVALUATION,
                    [
                        {
                            "id": e.id,
                            "kind": subject.kind.value,
                            "subject_id": subject.id,
                            "type": evaluation_type(e),
                            "body": evaluation_to_json(e),
                        }
                        for e in plan.accepted
                    ],
                )
            conn.execute(_UPDATE_SUBJECT, key | _state_params(plan.state))
            if plan.changes:
                conn.execute(_INSERT_CHANGE, [_change_params(c) for c in plan.changes])
        return plan

    def current(self, subject: Subject) -> SubjectGrade | None:
        with self._db.connection() as conn:
            row = conn.execute(_CURRENT, {"kind": subject.kind.value, "id": subject.id}).first()
        return None if row is None else _subject_grade(subject, row)

    def company_grades(self) -> dict[str, tuple[Grade, Grade]]:
        with self._db.connection() as conn:
            rows = conn.execute(_COMPANY_GRADES).all()
        return {row.id: (Grade(row.baseline), Grade(row.grade)) for row in rows}

    def subject_grades(
        self, kind: SubjectKind, ids: Collection[str] | None = None
    ) -> dict[str, SubjectGrade]:
        with self._db.connection() as conn:
            if ids is None:
                rows = conn.execute(_SUBJECT_GRADES, {"kind": kind.value}).all()
            else:
                params = {"kind": kind.value, "ids": sorted(set(ids))}
                rows = conn.execute(_SUBJECT_GRADES_OF, params).all()
        # Sorted here: the database's collation need not order ids as Python does.
        return {
            row.id: _subject_grade(Subject(kind, row.id), row)
            for row in sorted(rows, key=lambda r: str(r.id))
        }

    def rebaseline(
        self,
        subject: Subject,
        baseline: Baseline,
        cause: str,
        model: GradingModel = DEFAULT_MODEL,
    ) -> GradeChange | None:
        key = {"kind": subject.kind.value, "id": subject.id}
        with self._db.transaction() as conn:
            row = conn.execute(_CURRENT_FOR_UPDATE, key).first()
            if row is None:
                return None
            stored = [evaluation_from_json(r.body) for r in conn.execute(_STORED, key)]
            planned = plan_rebaseline(_subject_grade(subject, row), baseline, stored, cause, model)
            if planned is None:
                return None
            state, change = planned
            conn.execute(_REBASELINE, key | _baseline_params(baseline) | _state_params(state))
            conn.execute(_INSERT_CHANGE, _change_params(change))
        return change

    def events(self, subject: Subject) -> list[GradeEvent]:
        with self._db.connection() as conn:
            rows = conn.execute(_STORED_SORTED, {"kind": subject.kind.value, "id": subject.id})
            found = {str(row.id): evaluation_from_json(row.body) for row in rows}
        return [found[id_] for id_ in sorted(found)]

    def find(self, ids: Collection[str]) -> dict[str, GradeEvent]:
        with self._db.connection() as conn:
            rows = conn.execute(_KNOWN, {"ids": sorted(set(ids))}).all()
        return {str(row.id): evaluation_from_json(row.body) for row in rows}

    def regrade(
        self,
        subject: Subject,
        corrections: Mapping[str, Severity],
        at: datetime,
        cause: str,
        model: GradingModel = DEFAULT_MODEL,
    ) -> GradeChange | None:
        key = {"kind": subject.kind.value, "id": subject.id}
        with self._db.transaction() as conn:
            row = conn.execute(_CURRENT_FOR_UPDATE, key).first()
            if row is None:
                return None
            before = _subject_grade(subject, row)
            stored = [evaluation_from_json(r.body) for r in conn.execute(_STORED, key)]
            state, corrected, change = plan_regrade(
                before, stored, corrections, at=at, cause=cause, model=model
            )
            if corrected:
                conn.execute(
                    _CORRECT, [{"id": e.id, "body": evaluation_to_json(e)} for e in corrected]
                )
            if change is not None:
                conn.execute(_UPDATE_SUBJECT, key | _state_params(state))
                conn.execute(_INSERT_CHANGE, _change_params(change))
        return change

    def changes_since(self, since: datetime) -> list[GradeChange]:
        with self._db.connection() as conn:
            rows = conn.execute(_CHANGES_SINCE, {"since": since}).all()
        return [
            _change(Subject(SubjectKind(row.subject_kind), row.subject_id), row) for row in rows
        ]

    def delete_all(self) -> int:
        with self._db.transaction() as conn:
            conn.execute(sa.text("DELETE FROM grade_changes"))
            conn.execute(sa.text("DELETE FROM grade_evaluations"))
            return int(conn.execute(sa.text("DELETE FROM grade_subjects")).rowcount)

    def history(self, subject: Subject) -> list[GradeChange]:
        with self._db.connection() as conn:
            rows = conn.execute(_HISTORY, {"kind": subject.kind.value, "id": subject.id}).all()
        return [_change(subject, row) for row in rows]

    def check(self) -> None:
        self._db.check("grade_subjects")

    def close(self) -> None:
        """Nothing of its own to release: the pool is the backend's."""


def _change(subject: Subject, row: Any) -> GradeChange:
    return GradeChange(
        subject=subject,
        at=china_time(row.at),
        cause=tuple(row.cause),
        grade_before=parse_grade(subject.kind, row.grade_before),
        grade_after=parse_grade(subject.kind, row.grade_after),
        score_before=row.score_before_cp / 100,
        score_after=row.score_after_cp / 100,
        blacklisted=row.blacklisted,
    )


def _subject_grade(subject: Subject, row: Any) -> SubjectGrade:
    return SubjectGrade(
        subject=subject,
        baseline=Baseline(parse_grade(subject.kind, row.baseline), china_time(row.since)),
        grade=parse_grade(subject.kind, row.grade),
        score=row.score_cp / 100,
        as_of=china_time(row.as_of),
        blacklisted_at=None if row.blacklisted_at is None else china_time(row.blacklisted_at),
        blacklist_cause=row.blacklist_cause,
    )


def _baseline_params(baseline: Baseline) -> dict[str, Any]:
    return {"baseline": grade_text(baseline.grade), "since": baseline.since}


def _state_params(state: GradeState) -> dict[str, Any]:
    return {
        "grade": grade_text(state.grade),
        "score_cp": state.score_cp,
        "as_of": state.as_of,
        "blacklisted_at": state.blacklisted_at,
        "blacklist_cause": state.blacklist_cause,
    }


def _change_params(c: GradeChange) -> dict[str, Any]:
    return {
        "kind": c.subject.kind.value,
        "id": c.subject.id,
        "at": c.at,
        "cause": list(c.cause),
        "grade_before": grade_text(c.grade_before),
        "grade_after": grade_text(c.grade_after),
        "score_before_cp": score_cp(c.score_before),
        "score_after_cp": score_cp(c.score_after),
        "blacklisted": c.blacklisted,
    }

"""The embedded grade book: SQLite in ``<data_dir>/grades.sqlite``, beside the providers.

A file of its own, so the provider store's schema (and its data version, which caches
key on) stays untouched: grade writes reach the providers only through
:meth:`ProviderStore.upsert`. Each recording is one ``BEGIN IMMEDIATE`` transaction, which
takes SQLite's write lock first and so serialises concurrent recordings across threads and
processes (``jzmap serve`` workers) before anything is read.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

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
from providers.grading import DEFAULT_MODEL, GradeChange, GradeState, GradingModel
from providers.model import Grade
from providers.stores.sqlite_file import SQLiteFile

DB_FILENAME = "grades.sqlite"
# Bump when _SCHEMA changes: a file of another version is refused, never half-read.
_SCHEMA_VERSION = 1
# SQLite has no IN-list for a whole batch of parameters beyond its variable limit.
_ID_CHUNK = 500

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS grade_subjects (
    kind TEXT NOT NULL CHECK (kind IN ('company', 'practitioner')),
    id TEXT NOT NULL,
    baseline TEXT NOT NULL,
    since TEXT NOT NULL,
    grade TEXT NOT NULL,
    score_cp INTEGER NOT NULL,
    as_of TEXT NOT NULL,
    blacklisted_at TEXT,
    blacklist_cause TEXT,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS grade_evaluations (
    id TEXT PRIMARY KEY,
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS grade_evaluations_subject
    ON grade_evaluations (subject_kind, subject_id);
CREATE TABLE IF NOT EXISTS grade_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    at TEXT NOT NULL,
    cause TEXT NOT NULL,
    grade_before TEXT NOT NULL,
    grade_after TEXT NOT NULL,
    score_before_cp INTEGER NOT NULL,
    score_after_cp INTEGER NOT NULL,
    blacklisted INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS grade_changes_subject ON grade_changes (subject_kind, subject_id, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('schema_version', {_SCHEMA_VERSION});
"""

_SUMMARY = (
    "SELECT id, baseline, since, grade, score_cp, as_of, blacklisted_at, blacklist_cause"
    " FROM grade_subjects"
)
_UPSERT_EVALUATION = """
INSERT INTO grade_evaluations (id, subject_kind, subject_id, type, body) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET type = excluded.type, body = excluded.body
"""
_UPSERT_SUBJECT = """
INSERT INTO grade_subjects (kind, id, baseline, since, grade, score_cp, as_of, blacklisted_at,
    blacklist_cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (kind, id) DO UPDATE SET grade = excluded.grade, score_cp = excluded.score_cp,
    as_of = excluded.as_of, blacklisted_at = excluded.blacklisted_at,
    blacklist_cause = excluded.blacklist_cause
"""
_INSERT_CHANGE = """
INSERT INTO grade_changes (subject_kind, subject_id, at, cause, grade_before, grade_after,
    score_before_cp, score_after_cp, blacklisted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


class EmbeddedGradeBook:
    """A :class:`~providers.gradebook.GradeBook` in a SQLite file.

    Parameters
    ----------
    data_dir
        Directory holding ``grades.sqlite``; created when missing.
    """

    def __init__(self, data_dir: Path) -> None:
        self._db = SQLiteFile(
            Path(data_dir) / DB_FILENAME, _SCHEMA, _SCHEMA_VERSION, "the grade book"
        )
        self.path = self._db.path

    def record(
        self,
        subject: Subject,
        baseline: Baseline,
        evaluations: Sequence[GradeEvent],
        model: GradingModel = DEFAULT_MODEL,
    ) -> Recording:
        with self._db.transaction() as conn:
            baseline = _stored_baseline(conn, subject) or baseline
            stored = _stored(conn, subject)
            known = _known(conn, [e.id for e in evaluations])
            plan = plan_recording(subject, baseline, stored, known, evaluations, model=model)
            conn.executemany(
                _UPSERT_EVALUATION,
                [
                    (
                        e.id,
                        subject.kind.value,
                        subject.id,
                        evaluation_type(e),
                        evaluation_to_json(e),
                    )
                    for e in plan.accepted
                ],
            )
            conn.execute(_UPSERT_SUBJECT, _subject_row(plan.baseline, plan.state))
            conn.executemany(_INSERT_CHANGE, [_change_row(c) for c in plan.changes])
        return plan

    def current(self, subject: Subject) -> SubjectGrade | None:
        return _current(self._db.conn(), subject)

    def company_grades(self) -> dict[str, tuple[Grade, Grade]]:
        rows = self._db.conn().execute(
            "SELECT id, baseline, grade FROM grade_subjects WHERE kind = 'company' ORDER BY id"
        )
        return {id_: (Grade(baseline), Grade(grade)) for id_, baseline, grade in rows}

    def subject_grades(
        self, kind: SubjectKind, ids: Collection[str] | None = None
    ) -> dict[str, SubjectGrade]:
        conn = self._db.conn()
        rows: list[Any] = []
        if ids is None:
            rows += conn.execute(f"{_SUMMARY} WHERE kind = ? ORDER BY id", (kind.value,))
        else:
            # Chunks in id order, each read in id order: the rows come sorted.
            unique = sorted(set(ids))
            for start in range(0, len(unique), _ID_CHUNK):
                chunk = unique[start : start + _ID_CHUNK]
                marks = ", ".join("?" for _ in chunk)
                rows += conn.execute(
                    f"{_SUMMARY} WHERE kind = ? AND id IN ({marks}) ORDER BY id",
                    (kind.value, *chunk),
                )
        return {row[0]: _subject_grade(Subject(kind, row[0]), row[1:]) for row in rows}

    def rebaseline(
        self,
        subject: Subject,
        baseline: Baseline,
        cause: str,
        model: GradingModel = DEFAULT_MODEL,
    ) -> GradeChange | None:
        with self._db.transaction() as conn:
            before = _current(conn, subject)
            if before is None:
                return None
            planned = plan_rebaseline(before, baseline, _stored(conn, subject), cause, model)
            if planned is None:
                return None
            state, change = planned
            conn.execute(
                "UPDATE grade_subjects SET baseline = ?, since = ?, grade = ?, score_cp = ?,"
                " as_of = ?, blacklisted_at = ?, blacklist_cause = ? WHERE kind = ? AND id = ?",
                (*_subject_row(baseline, state)[2:], subject.kind.value, subject.id),
            )
            conn.execute(_INSERT_CHANGE, _change_row(change))
        return change

    def events(self, subject: Subject) -> list[GradeEvent]:
        return _stored(self._db.conn(), subject)

    def find(self, ids: Collection[str]) -> dict[str, GradeEvent]:
        return _known(self._db.conn(), list(ids))

    def regrade(
        self,
        subject: Subject,
        corrections: Mapping[str, Severity],
        at: datetime,
        cause: str,
        model: GradingModel = DEFAULT_MODEL,
    ) -> GradeChange | None:
        with self._db.transaction() as conn:
            before = _current(conn, subject)
            if before is None:
                return None
            stored = _stored(conn, subject)
            state, corrected, change = plan_regrade(
                before, stored, corrections, at=at, cause=cause, model=model
            )
            conn.executemany(
                "UPDATE grade_evaluations SET body = ? WHERE id = ?",
                [(evaluation_to_json(e), e.id) for e in corrected],
            )
            if change is not None:
                conn.execute(_UPSERT_SUBJECT, _subject_row(before.baseline, state))
                conn.execute(_INSERT_CHANGE, _change_row(change))
        return change

    def changes_since(self, since: datetime) -> list[GradeChange]:
        # Times are stored as ISO text with their offsets: compare as instants in Python.
        rows = self._db.conn().execute(
            "SELECT subject_kind, subject_id, at, cause, grade_before, grade_after,"
            " score_before_cp, score_after_cp, blacklisted FROM grade_changes ORDER BY seq"
        )
        changes = [
            _change(Subject(SubjectKind(kind), id_), row)
            for kind, id_, *row in rows
            if datetime.fromisoformat(row[0]) >= since
        ]
        return sorted(changes, key=lambda c: c.at)

    def delete_all(self) -> int:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM grade_changes")
            conn.execute("DELETE FROM grade_evaluations")
            return int(conn.execute("DELETE FROM grade_subjects").rowcount)

    def history(self, subject: Subject) -> list[GradeChange]:
        rows = self._db.conn().execute(
            "SELECT at, cause, grade_before, grade_after, score_before_cp, score_after_cp,"
            " blacklisted FROM grade_changes WHERE subject_kind = ? AND subject_id = ?"
            " ORDER BY seq",
            (subject.kind.value, subject.id),
        )
        return [_change(subject, row) for row in rows]

    def check(self) -> None:
        self._db.check("grade_subjects")

    def close(self) -> None:
        self._db.close()


def _change(subject: Subject, row: Sequence[Any]) -> GradeChange:
    at, cause, before, after, score_before, score_after, blacklisted = row
    return GradeChange(
        subject=subject,
        at=_time(at),
        cause=tuple(json.loads(cause)),
        grade_before=parse_grade(subject.kind, before),
        grade_after=parse_grade(subject.kind, after),
        score_before=score_before / 100,
        score_after=score_after / 100,
        blacklisted=bool(blacklisted),
    )


def _stored_baseline(conn: sqlite3.Connection, subject: Subject) -> Baseline | None:
    row = conn.execute(
        "SELECT baseline, since FROM grade_subjects WHERE kind = ? AND id = ?",
        (subject.kind.value, subject.id),
    ).fetchone()
    if row is None:
        return None
    return Baseline(parse_grade(subject.kind, row[0]), _time(row[1]))


def _current(conn: sqlite3.Connection, subject: Subject) -> SubjectGrade | None:
    row = conn.execute(
        f"{_SUMMARY} WHERE kind = ? AND id = ?", (subject.kind.value, subject.id)
    ).fetchone()
    return None if row is None else _subject_grade(subject, row[1:])


def _subject_grade(subject: Subject, row: Sequence[Any]) -> SubjectGrade:
    """A :data:`_SUMMARY` row without its id."""
    base, since, grade, score, as_of, blacklisted_at, cause = row
    return SubjectGrade(
        subject=subject,
        baseline=Baseline(parse_grade(subject.kind, base), _time(since)),
        grade=parse_grade(subject.kind, grade),
        score=score / 100,
        as_of=_time(as_of),
        blacklisted_at=None if blacklisted_at is None else _time(blacklisted_at),
        blacklist_cause=cause,
    )


def _stored(conn: sqlite3.Connection, subject: Subject) -> list[GradeEvent]:
    return [
        evaluation_from_json(body)
        for (body,) in conn.execute(
            "SELECT body FROM grade_evaluations WHERE subject_kind = ? AND subject_id = ?"
            " ORDER BY id",
            (subject.kind.value, subject.id),
        )
    ]


def _known(conn: sqlite3.Connection, ids: list[str]) -> dict[str, GradeEvent]:
    unique = sorted(set(ids))
    known: dict[str, GradeEvent] = {}
    for start in range(0, len(unique), _ID_CHUNK):
        chunk = unique[start : start + _ID_CHUNK]
        marks = ", ".join("?" for _ in chunk)
        for id_, body in conn.execute(
            f"SELECT id, body FROM grade_evaluations WHERE id IN ({marks})", chunk
        ):
            known[id_] = evaluation_from_json(body)
    return known


def _subject_row(baseline: Baseline, state: GradeState) -> tuple[object, ...]:
    subject = state.subject
    return (
        subject.kind.value,
        subject.id,
        grade_text(baseline.grade),
        baseline.since.isoformat(),
        grade_text(state.grade),
        state.score_cp,
        state.as_of.isoformat(),
        None if state.blacklisted_at is None else state.blacklisted_at.isoformat(),
        state.blacklist_cause,
    )


def _change_row(c: GradeChange) -> tuple[object, ...]:
    return (
        c.subject.kind.value,
        c.subject.id,
        c.at.isoformat(),
        json.dumps(list(c.cause), ensure_ascii=False),
        grade_text(c.grade_before),
        grade_text(c.grade_after),
        score_cp(c.score_before),
        score_cp(c.score_after),
        int(c.blacklisted),
    )


def _time(text: str) -> datetime:
    # Reported in China Standard Time whatever offset a time was sent with, like PostGIS.
    return china_time(datetime.fromisoformat(text))

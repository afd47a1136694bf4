"""The embedded problem reports: SQLite in ``<data_dir>/problem-reports.sqlite``.

A file of its own: residents write to it from a public page, at any time, and that must
neither wait on an import holding the providers' file nor change its schema.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from providers.problem_reports import (
    ProblemReport,
    ReportKind,
    ReportPage,
    ReportQuery,
    ReportStatus,
)
from providers.stores.sqlite_file import SQLiteFile

DB_FILENAME = "problem-reports.sqlite"
_SCHEMA_VERSION = 1
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS problem_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    resolved_at TEXT,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS problem_reports_provider ON problem_reports (provider_id, id);
CREATE INDEX IF NOT EXISTS problem_reports_status ON problem_reports (status, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('schema_version', {_SCHEMA_VERSION});
"""
_COLUMNS = "id, provider_id, kind, text, created_at, status, resolved_at, note"


def _report(row: sqlite3.Row | tuple[Any, ...]) -> ProblemReport:
    id_, provider_id, kind, text, created_at, status, resolved_at, note = row
    return ProblemReport(
        id=int(id_),
        provider_id=provider_id,
        kind=ReportKind(kind),
        text=text,
        created_at=datetime.fromisoformat(created_at),
        status=ReportStatus(status),
        resolved_at=None if resolved_at is None else datetime.fromisoformat(resolved_at),
        note=note,
    )


class EmbeddedProblemReports:
    """A :class:`~providers.problem_reports.ProblemReportStore` in a SQLite file.

    Parameters
    ----------
    data_dir
        Directory holding ``problem-reports.sqlite``; created when missing.
    """

    def __init__(self, data_dir: Path) -> None:
        self._db = SQLiteFile(
            Path(data_dir) / DB_FILENAME, _SCHEMA, _SCHEMA_VERSION, "the problem reports"
        )

    def add(self, provider_id: str, kind: ReportKind, text: str, at: datetime) -> ProblemReport:
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO problem_reports (provider_id, kind, text, created_at) "
                "VALUES (?, ?, ?, ?)",
                (provider_id, kind.value, text, at.isoformat()),
            )
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM problem_reports WHERE id = ?", (cursor.lastrowid,)
            ).fetchone()
        return _report(row)

    def get(self, report_id: int) -> ProblemReport | None:
        row = (
            self._db.conn()
            .execute(f"SELECT {_COLUMNS} FROM problem_reports WHERE id = ?", (report_id,))
            .fetchone()
        )
        return None if row is None else _report(row)

    def list(self, query: ReportQuery) -> ReportPage:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (
            ("provider_id", query.provider_id),
            ("kind", query.kind),
            ("status", query.status),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(str(value))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        conn = self._db.conn()
        (total,) = conn.execute(f"SELECT count(*) FROM problem_reports{clause}", args).fetchone()
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM problem_reports{clause} ORDER BY id DESC LIMIT ? OFFSET ?",
            [*args, query.limit, query.offset],
        ).fetchall()
        return ReportPage([_report(r) for r in rows], int(total))

    def resolve(self, report_id: int, at: datetime, note: str) -> ProblemReport | None:
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE problem_reports SET status = 'resolved', resolved_at = ?, note = ? "
                "WHERE id = ?",
                (at.isoformat(), note, report_id),
            )
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM problem_reports WHERE id = ?", (report_id,)
            ).fetchone()
        return None if row is None else _report(row)

    def delete_all(self) -> int:
        with self._db.transaction() as conn:
            return int(conn.execute("DELETE FROM problem_reports").rowcount)

    def close(self) -> None:
        self._db.close()

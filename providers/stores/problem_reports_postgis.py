"""The PostGIS problem reports: table ``problem_reports`` (migration 0013) in the
providers' database, shared through the backend's one pool."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from providers.problem_reports import (
    ProblemReport,
    ReportKind,
    ReportPage,
    ReportQuery,
    ReportStatus,
)
from providers.stores.pg_database import Database

_COLUMNS = "id, provider_id, kind, text, created_at, status, resolved_at, note"
_INSERT = sa.text(
    "INSERT INTO problem_reports (provider_id, kind, text, created_at) "
    f"VALUES (:provider_id, :kind, :text, :at) RETURNING {_COLUMNS}"
)
_GET = sa.text(f"SELECT {_COLUMNS} FROM problem_reports WHERE id = :id")
_RESOLVE = sa.text(
    "UPDATE problem_reports SET status = 'resolved', resolved_at = :at, note = :note "
    f"WHERE id = :id RETURNING {_COLUMNS}"
)
# One statement for every combination of filters: a NULL parameter matches every row.
_FILTER = (
    " WHERE (CAST(:provider_id AS text) IS NULL OR provider_id = :provider_id)"
    " AND (CAST(:kind AS text) IS NULL OR kind = :kind)"
    " AND (CAST(:status AS text) IS NULL OR status = :status)"
)
_COUNT = sa.text(f"SELECT count(*) FROM problem_reports{_FILTER}")
_LIST = sa.text(
    f"SELECT {_COLUMNS} FROM problem_reports{_FILTER} ORDER BY id DESC LIMIT :limit OFFSET :offset"
)


def _report(row: Any) -> ProblemReport:
    return ProblemReport(
        id=int(row.id),
        provider_id=row.provider_id,
        kind=ReportKind(row.kind),
        text=row.text,
        created_at=row.created_at,
        status=ReportStatus(row.status),
        resolved_at=row.resolved_at,
        note=row.note,
    )


class PostgisProblemReports:
    """A :class:`~providers.problem_reports.ProblemReportStore` in PostgreSQL.

    Parameters
    ----------
    db
        The backend's database; closed by the backend, not here.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, provider_id: str, kind: ReportKind, text: str, at: datetime) -> ProblemReport:
        with self._db.transaction() as conn:
            row = conn.execute(
                _INSERT, {"provider_id": provider_id, "kind": kind.value, "text": text, "at": at}
            ).one()
        return _report(row)

    def get(self, report_id: int) -> ProblemReport | None:
        with self._db.connection() as conn:
            row = conn.execute(_GET, {"id": report_id}).one_or_none()
        return None if row is None else _report(row)

    def list(self, query: ReportQuery) -> ReportPage:
        args: dict[str, Any] = {
            "provider_id": query.provider_id,
            "kind": None if query.kind is None else query.kind.value,
            "status": None if query.status is None else query.status.value,
        }
        with self._db.connection() as conn:
            total = int(conn.execute(_COUNT, args).scalar_one())
            rows = conn.execute(_LIST, {**args, "limit": query.limit, "offset": query.offset}).all()
        return ReportPage([_report(r) for r in rows], total)

    def resolve(self, report_id: int, at: datetime, note: str) -> ProblemReport | None:
        with self._db.transaction() as conn:
            row = conn.execute(_RESOLVE, {"id": report_id, "at": at, "note": note}).one_or_none()
        return None if row is None else _report(row)

    def delete_all(self) -> int:
        with self._db.transaction() as conn:
            return int(conn.execute(sa.text("DELETE FROM problem_reports")).rowcount)

    def close(self) -> None:
        """Nothing of its own to release: the pool is the backend's."""

"""The PostGIS practitioners registry: table ``practitioners`` (migration 0004; its
certified period columns ``certified_from``/``certified_until``, migration 0006) in the
providers' database.

Each upsert is one transaction that locks the rows it reads (``SELECT … FOR UPDATE``), so
concurrent loads of the same practitioners queue up; a code taken by a concurrent load
between read and write trips the unique constraint and the upsert is planned once more.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from providers.practitioners import CompanyCounts, Practitioner
from providers.registry import (
    UpsertPlan,
    certified_columns,
    plan_upsert,
    practitioner_from_json,
    practitioner_to_json,
)
from providers.stores.pg_database import Database

_STORED = sa.text("SELECT body FROM practitioners WHERE id = ANY(:ids) FOR UPDATE")
_HOLDERS = sa.text(
    "SELECT certificate_code, id FROM practitioners WHERE certificate_code = ANY(:codes)"
)
_UPSERT = sa.text(
    """
    INSERT INTO practitioners (id, company_id, certificate_code, body, certified_from,
        certified_until)
    VALUES (:id, :company_id, :certificate_code, CAST(:body AS jsonb), :certified_from,
        :certified_until)
    ON CONFLICT (id) DO UPDATE SET company_id = excluded.company_id,
        certificate_code = excluded.certificate_code, body = excluded.body,
        certified_from = excluded.certified_from, certified_until = excluded.certified_until,
        updated_at = now()
    """
)
# One scan of the narrow key columns (no JSONB is read): ~264,000 rows in well under a
# second. certified_from is NULL for a certificate that is never valid.
_COUNTS = """
    SELECT company_id, count(*) AS registered,
        count(*) FILTER (WHERE certified_from <= :on
            AND (certified_until IS NULL OR :on <= certified_until)) AS certified
    FROM practitioners WHERE company_id IS NOT NULL {restrict}
    GROUP BY company_id ORDER BY company_id
"""
_ALL_COUNTS = sa.text(_COUNTS.format(restrict=""))
_SOME_COUNTS = sa.text(_COUNTS.format(restrict="AND company_id = ANY(:companies)"))
_GET = sa.text("SELECT body FROM practitioners WHERE id = :key")
_BY_CODE = sa.text("SELECT body FROM practitioners WHERE certificate_code = :key")
_BY_COMPANY = sa.text("SELECT body FROM practitioners WHERE company_id = :key ORDER BY id")


class PostgisRegistry:
    """A :class:`~providers.registry.PractitionerRegistry` in PostgreSQL.

    Parameters
    ----------
    db
        The backend's database, shared with its provider store; closed by the backend,
        not by the practitioners registry.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def engine(self) -> Engine:
        """The engine of the backend's one pool."""
        return self._db.engine

    def upsert(
        self, practitioners: Sequence[Practitioner], *, lift: Collection[str] = ()
    ) -> UpsertPlan:
        try:
            return self._upsert(practitioners, lift)
        except sa.exc.IntegrityError:
            return self._upsert(practitioners, lift)

    def _upsert(self, practitioners: Sequence[Practitioner], lift: Collection[str]) -> UpsertPlan:
        ids = sorted({p.id for p in practitioners})
        codes = sorted({p.certificate_code for p in practitioners if p.certificate_code})
        with self._db.transaction() as conn:
            stored = {
                p.id: p
                for p in (
                    practitioner_from_json(row.body) for row in conn.execute(_STORED, {"ids": ids})
                )
            }
            holders = {
                row.certificate_code: row.id for row in conn.execute(_HOLDERS, {"codes": codes})
            }
            plan = plan_upsert(practitioners, stored, holders, lift=lift)
            if plan.writes:
                conn.execute(_UPSERT, [_params(p) for p in plan.writes])
        return plan

    def get(self, practitioner_id: str) -> Practitioner | None:
        return self._one(_GET, practitioner_id)

    def by_certificate(self, code: str) -> Practitioner | None:
        return self._one(_BY_CODE, code)

    def by_company(self, company_id: str) -> list[Practitioner]:
        with self._db.connection() as conn:
            rows = conn.execute(_BY_COMPANY, {"key": company_id}).all()
        return [practitioner_from_json(row.body) for row in rows]

    def company_counts(
        self, on: date, companies: Collection[str] | None = None
    ) -> dict[str, CompanyCounts]:
        with self._db.connection() as conn:
            if companies is None:
                rows = conn.execute(_ALL_COUNTS, {"on": on}).all()
            else:
                wanted = sorted(set(companies))
                rows = conn.execute(_SOME_COUNTS, {"on": on, "companies": wanted}).all()
        return {row.company_id: CompanyCounts(row.registered, row.certified) for row in rows}

    def delete_all(self) -> int:
        with self._db.transaction() as conn:
            return int(conn.execute(sa.text("DELETE FROM practitioners")).rowcount)

    def _one(self, query: sa.TextClause, key: str) -> Practitioner | None:
        with self._db.connection() as conn:
            row = conn.execute(query, {"key": key}).first()
        return None if row is None else practitioner_from_json(row.body)

    def check(self) -> None:
        self._db.check("practitioners")

    def close(self) -> None:
        """Nothing of its own to release: the pool is the backend's."""


def _params(p: Practitioner) -> dict[str, object]:
    start, end = certified_columns(p)
    return {
        "id": p.id,
        "company_id": p.company_id,
        "certificate_code": p.certificate_code,
        "body": practitioner_to_json(p),
        "certified_from": start,
        "certified_until": end,
    }

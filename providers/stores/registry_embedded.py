"""The embedded practitioners registry: SQLite in ``<data_dir>/practitioners.sqlite``.

A file of its own, beside ``providers.sqlite`` and ``grades.sqlite``: the registry holds
personal data, so it is kept apart from what the public endpoints read (and can be
backed up, restricted or wiped on its own), and neither other file's schema changes.
Each upsert is one ``BEGIN IMMEDIATE`` transaction.

Schema version 2 keeps each record's certified period (``certified_from``,
``certified_until``: ISO dates, which compare as text in date order) for
:meth:`EmbeddedRegistry.company_counts`; a version-1 file is upgraded on open, the periods
computed from the stored records.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from providers.practitioners import CompanyCounts, Practitioner
from providers.registry import (
    UpsertPlan,
    certified_columns,
    plan_upsert,
    practitioner_from_json,
    practitioner_to_json,
)
from providers.stores.sqlite_file import SQLiteFile

DB_FILENAME = "practitioners.sqlite"
_SCHEMA_VERSION = 2
_ID_CHUNK = 500

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS practitioners (
    id TEXT PRIMARY KEY,
    company_id TEXT,
    certificate_code TEXT UNIQUE,
    body TEXT NOT NULL,
    certified_from TEXT,
    certified_until TEXT
);
CREATE INDEX IF NOT EXISTS practitioners_company ON practitioners (company_id);
-- Covers company_counts: it scans this index, never the records (an order of magnitude
-- faster for a quarter of a million practitioners).
CREATE INDEX IF NOT EXISTS practitioners_certified
    ON practitioners (company_id, certified_from, certified_until);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('schema_version', {_SCHEMA_VERSION});
"""
_UPSERT = """
INSERT INTO practitioners (id, company_id, certificate_code, body, certified_from,
    certified_until) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET company_id = excluded.company_id,
    certificate_code = excluded.certificate_code, body = excluded.body,
    certified_from = excluded.certified_from, certified_until = excluded.certified_until
"""
# Registered and certified per company; the period bounds are ISO dates (text order is
# date order), certified_from NULL when never valid, certified_until NULL when open-ended.
_COUNTS = """
SELECT company_id, count(*), coalesce(sum(certified_from <= :on
    AND (certified_until IS NULL OR :on <= certified_until)), 0)
FROM practitioners WHERE company_id IS NOT NULL
"""


class EmbeddedRegistry:
    """A :class:`~providers.registry.PractitionerRegistry` in a SQLite file.

    Parameters
    ----------
    data_dir
        Directory holding ``practitioners.sqlite``; created when missing.
    """

    def __init__(self, data_dir: Path) -> None:
        self._db = SQLiteFile(
            Path(data_dir) / DB_FILENAME,
            _SCHEMA,
            _SCHEMA_VERSION,
            "the practitioners registry",
            upgrades={1: _add_certified_periods},
        )
        self.path = self._db.path

    def upsert(
        self, practitioners: Sequence[Practitioner], *, lift: Collection[str] = ()
    ) -> UpsertPlan:
        ids = sorted({p.id for p in practitioners})
        codes = sorted({p.certificate_code for p in practitioners if p.certificate_code})
        with self._db.transaction() as conn:
            stored = {
                p.id: p
                for p in (
                    practitioner_from_json(body)
                    for (body,) in _select_in(conn, "SELECT body FROM practitioners", "id", ids)
                )
            }
            holders: dict[str, str] = dict(
                _select_in(
                    conn,
                    "SELECT certificate_code, id FROM practitioners",
                    "certificate_code",
                    codes,
                )
            )
            plan = plan_upsert(practitioners, stored, holders, lift=lift)
            conn.executemany(_UPSERT, [_row(p) for p in plan.writes])
        return plan

    def get(self, practitioner_id: str) -> Practitioner | None:
        return self._one("SELECT body FROM practitioners WHERE id = ?", practitioner_id)

    def by_certificate(self, code: str) -> Practitioner | None:
        return self._one("SELECT body FROM practitioners WHERE certificate_code = ?", code)

    def by_company(self, company_id: str) -> list[Practitioner]:
        rows = self._db.conn().execute(
            "SELECT body FROM practitioners WHERE company_id = ? ORDER BY id", (company_id,)
        )
        return [practitioner_from_json(body) for (body,) in rows]

    def company_counts(
        self, on: date, companies: Collection[str] | None = None
    ) -> dict[str, CompanyCounts]:
        conn = self._db.conn()
        params = {"on": on.isoformat()}
        if companies is None:
            rows = list(conn.execute(_COUNTS + " GROUP BY company_id", params))
        else:
            wanted = sorted(set(companies))
            rows = []
            for start in range(0, len(wanted), _ID_CHUNK):
                chunk = wanted[start : start + _ID_CHUNK]
                marks = ", ".join(f":c{i}" for i in range(len(chunk)))
                rows.extend(
                    conn.execute(
                        f"{_COUNTS} AND company_id IN ({marks}) GROUP BY company_id",
                        params | {f"c{i}": c for i, c in enumerate(chunk)},
                    )
                )
        return {
            company: CompanyCounts(int(n), int(certified)) for company, n, certified in sorted(rows)
        }

    def delete_all(self) -> int:
        with self._db.transaction() as conn:
            return int(conn.execute("DELETE FROM practitioners").rowcount)

    def _one(self, sql: str, key: str) -> Practitioner | None:
        row = self._db.conn().execute(sql, (key,)).fetchone()
        return None if row is None else practitioner_from_json(row[0])

    def check(self) -> None:
        self._db.check("practitioners")

    def close(self) -> None:
        self._db.close()


def _row(p: Practitioner) -> tuple[object, ...]:
    start, end = certified_columns(p)
    return (
        p.id,
        p.company_id,
        p.certificate_code,
        practitioner_to_json(p),
        None if start is None else start.isoformat(),
        None if end is None else end.isoformat(),
    )


def _add_certified_periods(conn: sqlite3.Connection) -> None:
    """Version 1 -> 2: the certified period columns, filled from the stored records."""
    conn.execute("ALTER TABLE practitioners ADD COLUMN certified_from TEXT")
    conn.execute("ALTER TABLE practitioners ADD COLUMN certified_until TEXT")
    records = [
        practitioner_from_json(body) for (body,) in conn.execute("SELECT body FROM practitioners")
    ]
    conn.executemany(
        "UPDATE practitioners SET certified_from = ?, certified_until = ? WHERE id = ?",
        [(*_row(p)[4:], p.id) for p in records],
    )


def _select_in(
    conn: sqlite3.Connection, select: str, column: str, keys: list[str]
) -> Iterator[Any]:
    for start in range(0, len(keys), _ID_CHUNK):
        chunk = keys[start : start + _ID_CHUNK]
        marks = ", ".join("?" for _ in chunk)
        yield from conn.execute(f"{select} WHERE {column} IN ({marks})", chunk)

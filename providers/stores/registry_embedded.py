"""The embedded practitioners registry: SQLite in ``<data_dir>/practitioners.sqlite``.

A file of its own, beside ``providers.sqlite`` and ``grades.sqlite``: the registry holds
personal data, so it is kept apart from what the public endpoints read (and can be
backed up, restricted or wiped on its own), and neither other file's schema changes.
Each upsert is one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from providers.practitioners import Practitioner
from providers.registry import (
    UpsertPlan,
    plan_upsert,
    practitioner_from_json,
    practitioner_to_json,
)
from providers.stores.sqlite_file import SQLiteFile

DB_FILENAME = "practitioners.sqlite"
_SCHEMA_VERSION = 1
_ID_CHUNK = 500

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS practitioners (
    id TEXT PRIMARY KEY,
    company_id TEXT,
    certificate_code TEXT UNIQUE,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS practitioners_company ON practitioners (company_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('schema_version', {_SCHEMA_VERSION});
"""
_UPSERT = """
INSERT INTO practitioners (id, company_id, certificate_code, body) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET company_id = excluded.company_id,
    certificate_code = excluded.certificate_code, body = excluded.body
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
            Path(data_dir) / DB_FILENAME, _SCHEMA, _SCHEMA_VERSION, "the practitioners registry"
        )
        self.path = self._db.path

    def upsert(self, practitioners: Sequence[Practitioner]) -> UpsertPlan:
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
            plan = plan_upsert(practitioners, stored, holders)
            conn.executemany(
                _UPSERT,
                [
                    (p.id, p.company_id, p.certificate_code, practitioner_to_json(p))
                    for p in plan.writes
                ],
            )
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

    def _one(self, sql: str, key: str) -> Practitioner | None:
        row = self._db.conn().execute(sql, (key,)).fetchone()
        return None if row is None else practitioner_from_json(row[0])

    def check(self) -> None:
        self._db.check("practitioners")

    def close(self) -> None:
        self._db.close()


def _select_in(
    conn: sqlite3.Connection, select: str, column: str, keys: list[str]
) -> Iterator[Any]:
    for start in range(0, len(keys), _ID_CHUNK):
        chunk = keys[start : start + _ID_CHUNK]
        marks = ", ".join("?" for _ in chunk)
        yield from conn.execute(f"{select} WHERE {column} IN ({marks})", chunk)

"""The embedded practitioners registry: SQLite in ``<data_dir>/practitioners.sqlite``.

A file of its own, beside ``providers.sqlite`` and ``grades.sqlite``: the registry holds
personal data, so it is kept apart from what the public endpoints read (and can be
backed up, restricted or wiped on its own), and neither other file's schema changes.
Each upsert is one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from providers.practitioners import Practitioner
from providers.registry import (
    UpsertPlan,
    plan_upsert,
    practitioner_from_json,
    practitioner_to_json,
)
from providers.store import StoreUnavailableError

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
        self.path = Path(data_dir) / DB_FILENAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                conn.executescript(_SCHEMA)
                found = conn.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'"
                ).fetchone()[0]
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailableError(
                f"cannot open the practitioners registry at {self.path}: {exc}"
            ) from exc
        if found != _SCHEMA_VERSION:
            raise StoreUnavailableError(
                f"the practitioners registry at {self.path} has schema version {found}, "
                f"this program needs {_SCHEMA_VERSION}"
            )
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"practitioners registry at {self.path}: {exc}") from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def upsert(self, practitioners: Sequence[Practitioner]) -> UpsertPlan:
        ids = sorted({p.id for p in practitioners})
        codes = sorted({p.certificate_code for p in practitioners if p.certificate_code})
        with self._transaction() as conn:
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
        rows = self._conn().execute(
            "SELECT body FROM practitioners WHERE company_id = ? ORDER BY id", (company_id,)
        )
        return [practitioner_from_json(body) for (body,) in rows]

    def _one(self, sql: str, key: str) -> Practitioner | None:
        row = self._conn().execute(sql, (key,)).fetchone()
        return None if row is None else practitioner_from_json(row[0])

    def check(self) -> None:
        try:
            self._conn().execute("SELECT 1 FROM practitioners LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailableError(
                f"practitioners registry at {self.path} is unreadable: {exc}"
            ) from exc

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _select_in(
    conn: sqlite3.Connection, select: str, column: str, keys: list[str]
) -> Iterator[Any]:
    for start in range(0, len(keys), _ID_CHUNK):
        chunk = keys[start : start + _ID_CHUNK]
        marks = ", ".join("?" for _ in chunk)
        yield from conn.execute(f"{select} WHERE {column} IN ({marks})", chunk)

"""A SQLite file of the embedded backends: created with its schema, upgraded from an older
schema version it knows how to upgrade, refused at any other, one connection per thread,
``BEGIN IMMEDIATE`` transactions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from providers.store import StoreUnavailableError


class SQLiteFile:
    """One SQLite database file.

    Parameters
    ----------
    path
        The file; its directory is created when missing.
    schema
        Idempotent DDL run on open (``CREATE … IF NOT EXISTS``), which also inserts
        ``('schema_version', N)`` into a ``meta (key, value)`` table.
    schema_version
        The version this program reads; a file of another version is refused, never
        half-read.
    what
        What the file holds, for error messages ("the grade book").
    upgrades
        Version N -> a step that brings a file of version N to N + 1 (run in one
        transaction with the version bump). An existing file is upgraded first, then
        ``schema`` runs on it like on a new file (``IF NOT EXISTS`` skips what it has), so
        the schema may index columns an upgrade adds.
    refusal_hint
        What to do about a file of a version no upgrade reaches, appended to the error.
    """

    def __init__(
        self,
        path: Path,
        schema: str,
        schema_version: int,
        what: str,
        upgrades: Mapping[int, Callable[[sqlite3.Connection], None]] | None = None,
        refusal_hint: str = "",
    ) -> None:
        self.path = path
        self.what = what
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connect()
            try:
                found = schema_version
                if _has_meta(conn):
                    found = _upgrade(conn, schema_version, upgrades or {})
                # The schema runs only on a file of this version: on another, its indexes
                # may name columns the file does not have.
                if found == schema_version:
                    conn.executescript(schema)
                    found = _version(conn)
            finally:
                conn.close()
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailableError(f"cannot open {what} at {path}: {exc}") from exc
        if found != schema_version:
            raise StoreUnavailableError(
                f"{what} at {path} has schema version {found}, this program needs "
                f"{schema_version}{refusal_hint}"
            )
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (sqlite3 connections must stay on their thread; the API
        serves from a thread pool)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taking the file's write lock at once."""
        conn = self.conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"{self.what} at {self.path}: {exc}") from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def check(self, table: str) -> None:
        """Raise :class:`StoreUnavailableError` unless ``table`` can be read."""
        try:
            self.conn().execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"{self.what} at {self.path} is unreadable: {exc}") from exc

    def close(self) -> None:
        """Close this thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _has_meta(conn: sqlite3.Connection) -> bool:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    return found is not None


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])


def _upgrade(
    conn: sqlite3.Connection,
    wanted: int,
    upgrades: Mapping[int, Callable[[sqlite3.Connection], None]],
) -> int:
    """Run the upgrade steps from the file's version towards ``wanted``; the version then.

    Each step runs under the write lock and re-reads the version first, so two processes
    opening an old file at once upgrade it once.
    """
    found = _version(conn)
    while found < wanted and found in upgrades:
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = _version(conn)
            if found < wanted and found in upgrades:
                upgrades[found](conn)
                found += 1
                conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (found,))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return found

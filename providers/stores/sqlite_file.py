"""A SQLite file of the embedded backends: created with its schema, refused at another
schema version, one connection per thread, ``BEGIN IMMEDIATE`` transactions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
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
    """

    def __init__(self, path: Path, schema: str, schema_version: int, what: str) -> None:
        self.path = path
        self.what = what
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                conn.executescript(schema)
                found = conn.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'"
                ).fetchone()[0]
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailableError(f"cannot open {what} at {path}: {exc}") from exc
        if found != schema_version:
            raise StoreUnavailableError(
                f"{what} at {path} has schema version {found}, this program needs {schema_version}"
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

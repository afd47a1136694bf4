"""The embedded embed origins: SQLite in ``<data_dir>/embed-origins.sqlite``.

A file of its own: a few rows operators write by hand, read by every worker process
every couple of seconds (``jzmap.application.embedding``), which must neither wait on nor
change the schema of the providers' file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from providers.embedding import MAX_STORED_ORIGINS, EmbedOrigin
from providers.errors import TooLargeError
from providers.stores.sqlite_file import SQLiteFile

DB_FILENAME = "embed-origins.sqlite"
_SCHEMA_VERSION = 1
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS embed_origins (
    origin TEXT PRIMARY KEY,
    note TEXT NOT NULL DEFAULT '',
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('schema_version', {_SCHEMA_VERSION});
"""


class EmbeddedEmbedOrigins:
    """An :class:`~providers.embedding.EmbedOriginStore` in a SQLite file.

    Parameters
    ----------
    data_dir
        Directory holding ``embed-origins.sqlite``; created when missing.
    """

    def __init__(self, data_dir: Path) -> None:
        self._db = SQLiteFile(
            Path(data_dir) / DB_FILENAME, _SCHEMA, _SCHEMA_VERSION, "the embed origins"
        )

    def list(self) -> list[EmbedOrigin]:
        rows = self._db.conn().execute(
            "SELECT origin, note, added_at FROM embed_origins ORDER BY origin"
        )
        return [EmbedOrigin(o, n, datetime.fromisoformat(t)) for o, n, t in rows]

    def add(self, origin: str, note: str = "") -> bool:
        with self._db.transaction() as conn:
            known = conn.execute("SELECT 1 FROM embed_origins WHERE origin = ?", (origin,))
            if known.fetchone() is not None:
                conn.execute("UPDATE embed_origins SET note = ? WHERE origin = ?", (note, origin))
                return False
            (count,) = conn.execute("SELECT count(*) FROM embed_origins").fetchone()
            if count >= MAX_STORED_ORIGINS:
                raise TooLargeError(
                    f"{MAX_STORED_ORIGINS} embed origins are stored already: remove some first"
                )
            conn.execute(
                "INSERT INTO embed_origins (origin, note, added_at) VALUES (?, ?, ?)",
                (origin, note, datetime.now(UTC).isoformat()),
            )
            return True

    def remove(self, origin: str) -> bool:
        with self._db.transaction() as conn:
            return (
                conn.execute("DELETE FROM embed_origins WHERE origin = ?", (origin,)).rowcount > 0
            )

    def delete_all(self) -> int:
        with self._db.transaction() as conn:
            return int(conn.execute("DELETE FROM embed_origins").rowcount)

    def close(self) -> None:
        self._db.close()

"""The PostGIS embed origins: table ``embed_origins`` (migration 0010) in the providers'
database, shared through the backend's one pool."""

from __future__ import annotations

import sqlalchemy as sa

from providers.embedding import MAX_STORED_ORIGINS, EmbedOrigin
from providers.errors import TooLargeError
from providers.stores.pg_database import Database

_LIST = sa.text("SELECT origin, note, added_at FROM embed_origins ORDER BY origin")
# The table lock serialises adds, so two at once cannot both pass the count.
_LOCK = sa.text("LOCK TABLE embed_origins IN SHARE ROW EXCLUSIVE MODE")
_UPDATE = sa.text("UPDATE embed_origins SET note = :note WHERE origin = :origin")
_COUNT = sa.text("SELECT count(*) FROM embed_origins")
_INSERT = sa.text("INSERT INTO embed_origins (origin, note) VALUES (:origin, :note)")
_DELETE = sa.text("DELETE FROM embed_origins WHERE origin = :origin")


class PostgisEmbedOrigins:
    """An :class:`~providers.embedding.EmbedOriginStore` in PostgreSQL.

    Parameters
    ----------
    db
        The backend's database; closed by the backend, not here.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def list(self) -> list[EmbedOrigin]:
        with self._db.connection() as conn:
            rows = conn.execute(_LIST).all()
        return [EmbedOrigin(row.origin, row.note, row.added_at) for row in rows]

    def add(self, origin: str, note: str = "") -> bool:
        with self._db.transaction() as conn:
            conn.execute(_LOCK)
            if conn.execute(_UPDATE, {"origin": origin, "note": note}).rowcount:
                return False
            if int(conn.execute(_COUNT).scalar_one()) >= MAX_STORED_ORIGINS:
                raise TooLargeError(
                    f"{MAX_STORED_ORIGINS} embed origins are stored already: remove some first"
                )
            conn.execute(_INSERT, {"origin": origin, "note": note})
            return True

    def remove(self, origin: str) -> bool:
        with self._db.transaction() as conn:
            return bool(conn.execute(_DELETE, {"origin": origin}).rowcount)

    def delete_all(self) -> int:
        with self._db.transaction() as conn:
            return int(conn.execute(sa.text("DELETE FROM embed_origins")).rowcount)

    def close(self) -> None:
        """Nothing of its own to release: the pool is the backend's."""

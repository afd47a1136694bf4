"""Store backends: ``embedded`` (SQLite + in-memory geodesic index) and ``postgis``."""

from __future__ import annotations

from pathlib import Path

from providers.store import ProviderStore


def open_store(
    database_url: str | None,
    data_dir: Path,
    *,
    pool_size: int = 5,
    connect_timeout_s: int = 5,
    statement_timeout_ms: int = 10_000,
    write_timeout_ms: int = 1_800_000,
) -> ProviderStore:
    """The PostGIS store when ``database_url`` is set, else the embedded one in ``data_dir``.

    The PostGIS store checks that the schema is migrated, so a forgotten
    ``jzmap db upgrade`` fails at start-up with a message saying so, not at the first query.
    """
    if database_url:
        from providers.stores.postgis import PostgisStore

        store = PostgisStore.open(
            database_url,
            pool_size=pool_size,
            connect_timeout_s=connect_timeout_s,
            statement_timeout_ms=statement_timeout_ms,
            write_timeout_ms=write_timeout_ms,
        )
        store.ensure_schema()
        return store
    from providers.stores.embedded import EmbeddedStore

    return EmbeddedStore(data_dir)

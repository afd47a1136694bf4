"""PostGIS-specific behaviour: timeouts of reads and writes are separate settings; a load
into an empty table builds its indexes at the end."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from providers.model import Provider
from providers.store import Filters, StoreUnavailableError
from providers.stores.postgis import PostgisStore
from tests.helpers import company


def _slow(n: int, pause_s: float) -> Iterator[Provider]:
    for i in range(n):
        if i % 10_000 == 0:
            time.sleep(pause_s)  # a file being validated while COPY streams
        yield company(i, 113.3 + (i % 100) * 0.001, 23.1 + (i // 100) * 0.001)


def test_a_long_import_outlives_the_read_timeout(postgis_migrated: str) -> None:
    store = PostgisStore.open(postgis_migrated, statement_timeout_ms=200)
    try:
        store.delete_all()
        counts = store.upsert(_slow(20_001, pause_s=0.3))
        assert counts.inserted == 20_001
    finally:
        store.delete_all()
        store.close()


def test_the_write_timeout_stops_an_import_and_keeps_the_store(postgis_migrated: str) -> None:
    store = PostgisStore.open(postgis_migrated, write_timeout_ms=300)
    try:
        store.delete_all()
        store.upsert([company(1, 113.3, 23.1)])
        with pytest.raises(StoreUnavailableError, match="statement timeout"):
            store.upsert(_slow(20_001, pause_s=0.4))
        assert store.count() == 1
    finally:
        store.delete_all()
        store.close()


def _index_definitions(store: PostgisStore) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE tablename = 'providers' ORDER BY indexname"
            )
        )
        return [(str(name), str(definition)) for name, definition in rows]


def test_a_load_into_an_empty_table_rebuilds_the_same_indexes_and_analyses(
    postgis_migrated: str,
) -> None:
    store = PostgisStore.open(postgis_migrated)
    try:
        store.delete_all()
        before = _index_definitions(store)
        assert store.upsert(_slow(3_000, pause_s=0)).inserted == 3_000
        assert _index_definitions(store) == before
        with store.engine.connect() as conn:
            analysed = conn.execute(
                sa.text(
                    "SELECT n_live_tup, last_analyze FROM pg_stat_user_tables "
                    "WHERE relname = 'providers'"
                )
            ).one()
        assert analysed.last_analyze is not None
        # A second load into the now-full table merges row by row: same answers.
        counts = store.upsert(_slow(3_001, pause_s=0))
        assert (counts.inserted, counts.unchanged) == (1, 3_000)
        assert _index_definitions(store) == before
        nearest = store.nearest(113.3, 23.1, Filters(), 3)
        assert [c.provider.id for c in nearest][:1] == [company(0, 113.3, 23.1).id]
    finally:
        store.delete_all()
        store.close()

"""PostGIS-specific behaviour: timeouts of reads and writes are separate settings; a load
into an empty table is a bulk load (a new table, indexes built at the end, swapped in)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import sqlalchemy as sa

from providers.model import Provider
from providers.store import Filters, StoreUnavailableError
from providers.stores.postgis import PostgisStore
from tests.helpers import company, postgis_store_at


def _slow(n: int, pause_s: float) -> Iterator[Provider]:
    for i in range(n):
        if i % 10_000 == 0:
            time.sleep(pause_s)  # a file being validated while COPY streams
        yield company(i, 113.3 + (i % 100) * 0.001, 23.1 + (i // 100) * 0.001)


def test_a_long_import_outlives_the_read_timeout(postgis_migrated: str) -> None:
    with postgis_store_at(postgis_migrated, statement_timeout_ms=200) as store:
        try:
            store.delete_all()
            counts = store.upsert(_slow(20_001, pause_s=0.3))
            assert counts.inserted == 20_001
        finally:
            store.delete_all()


def test_the_write_timeout_stops_an_import_and_keeps_the_store(postgis_migrated: str) -> None:
    with postgis_store_at(postgis_migrated, write_timeout_ms=300) as store:
        try:
            store.delete_all()
            store.upsert([company(1, 113.3, 23.1)])
            with pytest.raises(StoreUnavailableError, match="statement timeout"):
                store.upsert(_slow(20_001, pause_s=0.4))
            assert store.count() == 1
        finally:
            store.delete_all()


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
    with postgis_store_at(postgis_migrated) as store:
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


def test_readers_see_the_empty_table_during_a_bulk_load_and_are_not_blocked(
    postgis_migrated: str,
) -> None:
    # The bulk load builds a new table beside the live one and swaps at the end: a reader
    # must get its (empty) answer meanwhile, never wait for a lock. ``lock_timeout`` fires
    # only on a lock wait, however slow the machine, so it tests exactly that.
    with postgis_store_at(postgis_migrated) as writer:
        dsn = postgis_migrated.replace("postgresql+psycopg://", "postgresql://")
        try:
            writer.delete_all()
            with (
                psycopg.connect(dsn, autocommit=True) as reader,
                ThreadPoolExecutor(1) as pool,
            ):
                reader.execute("SET lock_timeout = '10ms'")
                loading = pool.submit(writer.upsert, _slow(40_001, pause_s=0.3))
                seen: list[int] = []
                while not loading.done():
                    row = reader.execute("SELECT count(*) FROM providers WHERE active").fetchone()
                    assert row is not None
                    seen.append(int(row[0]))
                    time.sleep(0.1)
                assert loading.result().inserted == 40_001
                # The empty city, then (maybe) the whole one: never a half-loaded table.
                assert seen and seen[0] == 0 and set(seen) <= {0, 40_001}
            assert writer.count() == 40_001
        finally:
            writer.delete_all()


def test_an_import_that_fills_the_table_during_a_bulk_load_is_merged_with_it(
    postgis_migrated: str,
) -> None:
    with (
        postgis_store_at(postgis_migrated) as store,
        postgis_store_at(postgis_migrated) as other,
    ):
        try:
            store.delete_all()
            with ThreadPoolExecutor(1) as pool:
                loading = pool.submit(store.upsert, _slow(20_001, pause_s=0.3))
                time.sleep(0.3)
                # The bulk load holds its lock: this one merges into the live table at once.
                early = [company(0, 113.9, 23.9), company(500_000, 113.3, 23.1)]
                assert other.upsert(early).inserted == 2
                counts = loading.result()
            # Company 0 came from both (the bulk load's record wins), the other only early.
            assert (counts.inserted, counts.updated) == (20_000, 1)
            assert store.count() == 20_002
            got = store.get(company(0, 0, 0).id)
            assert got is not None and (got.lon, got.lat) == (113.3, 23.1)
            with store.engine.connect() as conn:
                leftover = conn.execute(sa.text("SELECT to_regclass('providers_bulk')")).scalar()
            assert leftover is None
        finally:
            store.delete_all()


def test_a_stray_bulk_table_from_a_killed_load_is_replaced(postgis_migrated: str) -> None:
    with postgis_store_at(postgis_migrated) as store:
        try:
            store.delete_all()
            with store.engine.begin() as conn:
                conn.execute(sa.text("CREATE TABLE providers_bulk (junk int)"))
            assert store.upsert(_slow(10, pause_s=0)).inserted == 10
            assert store.count() == 10
        finally:
            store.delete_all()

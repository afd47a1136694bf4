"""PostGIS-specific behaviour: timeouts of reads and writes are separate settings."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from providers.model import Provider
from providers.store import StoreUnavailableError
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

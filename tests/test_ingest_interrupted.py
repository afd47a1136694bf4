"""An import killed part-way leaves the store exactly as it was (one transaction)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from providers.store import ProviderStore
from providers.stores.embedded import EmbeddedStore
from providers.stores.postgis import PostgisStore
from tests.helpers import company, credit_code

JZMAP = str(Path(sys.executable).with_name("jzmap"))
ROWS = 150_000


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["企业名称", "类型", "统一社会信用代码", "信用等级", "服务类别", "经度", "纬度"])
        for n in range(ROWS):
            lon, lat = 113.30 + (n % 400) * 0.0001, 23.09 + (n // 400) * 0.00005
            w.writerow(
                [
                    f"公司{n}",
                    "企业",
                    credit_code(10_000 + n),
                    "3A",
                    "保洁",
                    f"{lon:.6f}",
                    f"{lat:.6f}",
                ]
            )
    return path


def _kill_when(process: subprocess.Popen[bytes], started: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("the import ended before it could be interrupted; make the file larger")
        if started():
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return
        time.sleep(0.02)
    pytest.fail("the import never started writing")


def _seed(store: ProviderStore) -> int:
    store.upsert([company(n, 113.33, 23.10 + n * 0.001) for n in range(5)])
    return store.count()


def test_killed_import_into_postgis_leaves_it_unchanged(
    big_csv: Path, postgis_store: PostgisStore, postgis_migrated: str
) -> None:
    before, version = _seed(postgis_store), postgis_store.data_version()
    env = {**os.environ, "DATABASE_URL": postgis_migrated}
    process = subprocess.Popen([JZMAP, "ingest", str(big_csv)], env=env)
    dsn = postgis_migrated.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as watcher:

        def copying() -> bool:
            sql = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY incoming%%'"
            row = watcher.execute(sql).fetchone()
            return bool(row and row[0])

        _kill_when(process, copying)
    assert process.returncode == -signal.SIGKILL
    assert postgis_store.count() == before
    assert postgis_store.data_version() == version


def test_killed_import_into_the_embedded_store_leaves_it_unchanged(
    big_csv: Path, tmp_path: Path
) -> None:
    store = EmbeddedStore(tmp_path / "store")
    before, version = _seed(store), store.data_version()
    store.close()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["JZMAP_DATA_DIR"] = str(tmp_path / "store")
    process = subprocess.Popen([JZMAP, "ingest", str(big_csv)], env=env)
    wal = tmp_path / "store" / "providers.sqlite-wal"
    # Rows are written as they are validated, inside one transaction: the write-ahead log
    # grows long before the commit.
    _kill_when(process, lambda: wal.exists() and wal.stat().st_size > 4 << 20)
    assert process.returncode == -signal.SIGKILL
    reopened = EmbeddedStore(tmp_path / "store")
    assert reopened.count() == before and reopened.data_version() == version
    reopened.close()


def _indexes(dsn: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'providers' ORDER BY 1"
        ).fetchall()
    return [(str(name), str(definition)) for name, definition in rows]


def test_killed_bulk_load_into_empty_postgis_leaves_it_empty_and_indexed(
    big_csv: Path, postgis_store: PostgisStore, postgis_migrated: str
) -> None:
    # Into an empty table the import drops the secondary indexes and builds them at the
    # end (PostgisStore.upsert): a kill in between must bring them all back.
    postgis_store.delete_all()
    dsn = postgis_migrated.replace("postgresql+psycopg://", "postgresql://")
    indexes = _indexes(dsn)
    assert any(name == "providers_geom_active" for name, _ in indexes)
    env = {**os.environ, "DATABASE_URL": postgis_migrated}
    process = subprocess.Popen([JZMAP, "ingest", str(big_csv)], env=env)
    with psycopg.connect(dsn, autocommit=True) as watcher:

        def copying() -> bool:
            sql = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY providers%%'"
            row = watcher.execute(sql).fetchone()
            return bool(row and row[0])

        _kill_when(process, copying)
    assert process.returncode == -signal.SIGKILL
    assert postgis_store.count() == 0
    assert _indexes(dsn) == indexes

"""The backend: chosen once, its three parts over one engine and pool on PostGIS, over one
data directory embedded, opened and closed together (by the app's lifespan too)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from jzmap.settings import Settings
from providers.evaluations import CHINA_TZ, Review, Subject
from providers.gradebook import Baseline
from providers.model import Grade
from providers.practitioners import Practitioner
from providers.store import Filters, StoreUnavailableError
from providers.stores import Backend, open_backend
from tests.helpers import CANTON_TOWER, BackendConfig, company, postgis_backend_at
from tests.test_registry_contract import person

LON, LAT = CANTON_TOWER
CO = Subject.company(company(1, LON, LAT).id)


def _empty(backend: Backend) -> None:
    backend.registry.delete_all()
    backend.gradebook.delete_all()
    backend.store.delete_all()


def _use_every_part(backend: Backend, n: int) -> None:
    """Reads and writes through the store, the grade book, the registry and the embed
    origins."""
    backend.store.nearest(LON, LAT, Filters(), 5)
    backend.store.upsert([company(100 + n, LON + n * 1e-4, LAT)])
    at = datetime(2026, 2, 1 + n, 10, tzinfo=CHINA_TZ)
    review = Review(f"rv-{n}", CO, at, 5, "好")
    backend.gradebook.record(
        CO, Baseline(Grade.A3, datetime(2026, 1, 1, tzinfo=CHINA_TZ)), [review]
    )
    practitioner: Practitioner = person(n + 1)
    backend.registry.upsert([practitioner])
    backend.registry.company_counts(at.date())
    backend.embed_origins.add(f"https://app{n}.example.cn")


@pytest.mark.postgis
def test_postgis_opens_one_engine_whose_pool_size_comes_from_the_environment(
    postgis_migrated: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engines: list[sa.engine.Engine] = []
    create_engine = sa.create_engine

    def counted(*args: Any, **kwargs: Any) -> sa.engine.Engine:
        engine = create_engine(*args, **kwargs)
        engines.append(engine)
        return engine

    monkeypatch.setattr(sa, "create_engine", counted)
    monkeypatch.setenv("DATABASE_URL", postgis_migrated)
    monkeypatch.setenv("JZMAP_DB_POOL_SIZE", "3")
    with open_backend(Settings().database) as backend:
        assert backend.kind == "postgis" and backend.database is not None
        _empty(backend)  # the session's database: other tests may have left rows
        engine = backend.database.engine
        connected: list[object] = []
        sa.event.listen(engine, "connect", lambda *_: connected.append(1))
        # Eight threads at once over all three parts, reads and writes: still one pool.
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                _use_every_part(backend, n)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(engines) == 1, "the backend opened more than one engine"
        parts: list[Any] = [backend.store, backend.gradebook, backend.registry]
        assert all(part.engine is engine for part in parts)
        assert backend.database.pool_size == 3
        assert 1 <= len(connected) <= 3, f"{len(connected)} connections for a pool of 3"
        assert backend.store.count() == 8 and len(backend.gradebook.history(CO)) > 0
        _empty(backend)


@pytest.mark.postgis
def test_a_read_hands_its_connection_back_ready_for_a_transaction(postgis_migrated: str) -> None:
    # One connection: the read's autocommit must not leak into the next transaction, or its
    # statements would commit one by one.
    with postgis_backend_at(postgis_migrated, pool_size=1) as backend:
        assert backend.database is not None
        db = backend.database
        _empty(backend)
        backend.store.upsert([company(1, LON, LAT)])
        assert len(backend.store.nearest(LON, LAT, Filters(), 1)) == 1
        with db.engine.connect() as conn:
            assert db.driver(conn).autocommit is False
        with pytest.raises(RuntimeError, match="half-way"), db.transaction() as conn:
            conn.execute(sa.text("DELETE FROM providers"))
            raise RuntimeError("half-way")
        assert backend.store.count() == 1
        backend.store.delete_all()


@pytest.mark.postgis
def test_an_unmigrated_database_is_refused_at_open_with_the_command_to_run(
    postgis_url: str,
) -> None:
    name = f"jzmap_empty_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgis_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(postgis_url).set(database=name).render_as_string(hide_password=False)
    try:
        with pytest.raises(StoreUnavailableError, match="run `jzmap db upgrade`"):
            open_backend(BackendConfig(url))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_embedded_backend_keeps_its_files_in_one_directory(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    with open_backend(BackendConfig(None, folder)) as backend:
        assert backend.kind == "embedded" and backend.database is None
        _use_every_part(backend, 0)
    names = {p.name for p in folder.iterdir() if p.suffix == ".sqlite"}
    assert names == {
        "providers.sqlite",
        "grades.sqlite",
        "practitioners.sqlite",
        "embed-origins.sqlite",
        "problem-reports.sqlite",
    }
    with open_backend(BackendConfig(None, folder)) as again:
        assert again.store.count() == 1 and len(again.gradebook.history(CO)) == 1
        assert again.registry.get(person(1).id) is not None
        assert [o.origin for o in again.embed_origins.list()] == ["https://app0.example.cn"]


def test_a_part_that_cannot_open_fails_the_backend(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "practitioners.sqlite").write_bytes(b"not a database, " * 512)
    with pytest.raises(StoreUnavailableError, match="practitioners registry"):
        open_backend(BackendConfig(None, folder))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    """An app that opens its own backend from its settings, as ``jzmap serve`` does."""
    folder = tmp_path / "served"
    app = create_app(Settings(database_url=None, data_dir=folder))
    with TestClient(app) as client:
        yield client, folder


def test_the_app_lifespan_opens_the_backend_its_settings_select(
    served: tuple[TestClient, Path],
) -> None:
    client, folder = served
    health = client.get("/healthz").json()
    assert (health["status"], health["store"], health["providers"]) == ("ok", "embedded", 0)
    assert (folder / "grades.sqlite").exists() and (folder / "practitioners.sqlite").exists()
    backend: Backend = client.app.state.backend  # type: ignore[attr-defined]
    assert backend.kind == "embedded"

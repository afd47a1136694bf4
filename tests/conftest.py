"""Shared fixtures: stores of both kinds, a real PostGIS database, the demo city.

PostGIS tests need ``DATABASE_URL`` (``make test`` starts a throwaway cluster and sets it).
Each test session creates its own database on that server and drops it afterwards, so a
shared server is left as it was found.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from providers.store import ProviderStore
from providers.stores.embedded import EmbeddedStore
from providers.stores.postgis import PostgisStore, make_engine, sqlalchemy_url, upgrade_schema

STORE_KINDS = ("embedded", "postgis")

# The suite fires thousands of requests from one test client; the rate limiter has its own
# tests (test_abuse.py), which turn it on explicitly.
os.environ["JZMAP_RATE_LIMIT_PER_MINUTE"] = "0"

# No test may write into the user's real data directory (platformdirs' ~/.local/share/jzmap,
# the default JZMAP_DATA_DIR): whatever opens a store with default settings, in this process
# or in a `jzmap` it starts, writes here instead, and the folder goes with the session.
_SESSION_DATA_DIR = tempfile.mkdtemp(prefix="jzmap-test-data-")
os.environ["JZMAP_DATA_DIR"] = _SESSION_DATA_DIR


@pytest.fixture(scope="session", autouse=True)
def _session_data_dir() -> Iterator[Path]:
    yield Path(_SESSION_DATA_DIR)
    shutil.rmtree(_SESSION_DATA_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def postgis_url() -> Iterator[str]:
    """A fresh database with PostGIS on the ``DATABASE_URL`` server, dropped at the end."""
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        pytest.fail(
            "DATABASE_URL is not set: run the suite with `make test`, which starts a "
            "throwaway PostgreSQL + PostGIS, or point DATABASE_URL at one"
        )
    name = f"jzmap_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(sqlalchemy_url(server_url)).set(database=name)
    test_url = url.render_as_string(hide_password=False)
    try:
        yield test_url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgis_migrated(postgis_url: str) -> str:
    engine = make_engine(postgis_url)
    try:
        upgrade_schema(engine)
    finally:
        engine.dispose()
    return postgis_url


@pytest.fixture
def postgis_store(postgis_migrated: str) -> Iterator[PostgisStore]:
    """An empty, migrated PostGIS store."""
    store = PostgisStore.open(postgis_migrated)
    store.delete_all()
    yield store
    store.close()


@pytest.fixture
def embedded_store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    store = EmbeddedStore(tmp_path / "embedded")
    yield store
    store.close()


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest) -> ProviderStore:
    """Each test using this runs once per store kind, unchanged: the contract suite."""
    fixture = "embedded_store" if request.param == "embedded" else "postgis_store"
    result: ProviderStore = request.getfixturevalue(fixture)
    return result


StoreFactory = Callable[[], ProviderStore]

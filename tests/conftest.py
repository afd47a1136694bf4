"""Shared fixtures: a clean backend of either kind, a real PostGIS database, the demo city.

Every test that needs a store, a grade book or a registry gets it from one backend
(:func:`backend`, or :func:`embedded_backend` / :func:`postgis_backend` for one kind), as
the app and the CLI do. Tests of the contracts take ``store``, ``gradebook`` or
``registry``: those run once per backend kind, unchanged.

PostGIS tests need ``DATABASE_URL`` (``make test`` starts a throwaway cluster and sets it).
Each test session creates its own database on that server and drops it afterwards, so a
shared server is left as it was found.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from providers.embedding import EmbedOriginStore
from providers.gradebook import GradeBook
from providers.registry import PractitionerRegistry
from providers.store import ProviderStore
from providers.stores import Backend
from providers.stores.embedded import EmbeddedStore
from providers.stores.engine import make_engine, sqlalchemy_url, upgrade_schema
from providers.stores.postgis import PostgisStore
from tests.helpers import embedded_backend_at, postgis_backend_at

# Tests on PostGIS carry the postgis mark (``-m "not postgis"`` leaves them out).
BACKEND_KINDS = ("embedded", pytest.param("postgis", marks=pytest.mark.postgis))

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


def _emptied(backend: Backend) -> Backend:
    backend.registry.delete_all()
    backend.embed_origins.delete_all()
    backend.reports.delete_all()
    backend.gradebook.delete_all()
    backend.store.delete_all()
    return backend


@pytest.fixture
def postgis_backend(postgis_migrated: str) -> Iterator[Backend]:
    """An empty backend on the migrated PostGIS database."""
    with postgis_backend_at(postgis_migrated) as backend:
        yield _emptied(backend)


@pytest.fixture
def embedded_backend(tmp_path: Path) -> Iterator[Backend]:
    """An empty embedded backend in a directory of its own."""
    with embedded_backend_at(tmp_path / "embedded") as backend:
        yield backend


@pytest.fixture(params=BACKEND_KINDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """A clean backend; each test using it runs once per kind, unchanged."""
    result: Backend = request.getfixturevalue(f"{request.param}_backend")
    return result


@pytest.fixture
def store(backend: Backend) -> ProviderStore:
    """The contract suite's store: one per backend kind."""
    return backend.store


@pytest.fixture
def gradebook(backend: Backend) -> GradeBook:
    """The contract suite's grade book: one per backend kind."""
    return backend.gradebook


@pytest.fixture
def registry(backend: Backend) -> PractitionerRegistry:
    """The contract suite's practitioners registry: one per backend kind."""
    return backend.registry


@pytest.fixture
def embed_origins(backend: Backend) -> EmbedOriginStore:
    """The contract suite's embed origins: one per backend kind."""
    return backend.embed_origins


@pytest.fixture
def postgis_store(postgis_backend: Backend) -> PostgisStore:
    """The store of an empty PostGIS backend (tests of PostGIS itself)."""
    assert isinstance(postgis_backend.store, PostgisStore)
    return postgis_backend.store


@pytest.fixture
def embedded_store(embedded_backend: Backend) -> EmbeddedStore:
    """The store of an empty embedded backend (tests of the embedded store itself)."""
    assert isinstance(embedded_backend.store, EmbeddedStore)
    return embedded_backend.store

"""``jzmap backup`` and ``jzmap restore`` as an operator runs them: real processes, real
SQLite files, real PostgreSQL databases (created here on the ``DATABASE_URL`` server, the
restore always into a database of its own), real ``pg_dump``/``pg_restore``.

Each round trip fills a store through the admin API (providers, practitioners,
evaluations: so the grade book and the registry hold rows), records every table and the
public answers, backs up, wipes, restores, and compares both.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from geo.package_data import REFERENCE_DIR
from jzmap.application.demo import generate_demo
from jzmap.settings import Settings
from providers.model import Category
from providers.registry import practitioner_to_json
from providers.stores import Backend
from providers.stores.backup import EMBEDDED_FILES, MANIFEST
from providers.stores.engine import head_revision, make_engine, sqlalchemy_url, upgrade_schema
from providers.stores.registry_embedded import EmbeddedRegistry
from tests.helpers import CANTON_TOWER, company, embedded_backend_at, postgis_backend_at
from tests.test_cli import run
from tests.test_grades_api import good_reviews
from tests.test_practitioners_api import person
from tests.test_registry_contract import person as registry_person

TOKEN = "backup-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LON, LAT = CANTON_TOWER
X = company(1, LON, LAT + 0.002, practitioners=3, certified_practitioners=0)
Rows = dict[str, list[tuple[str, ...]]]


def fill(backend: Backend) -> None:
    """A small city, a company with practitioners and a dynamic grade."""
    for chunk in generate_demo(REFERENCE_DIR, companies=40):
        backend.store.upsert(chunk)
    backend.store.upsert([X])
    with client_of(backend) as client:
        people = [person(n) for n in (1, 2, 3)]
        r = client.post("/v1/admin/practitioners", json={"practitioners": people}, headers=AUTH)
        assert r.status_code == 200 and not r.json()["rejected"], r.text
        r = client.post(
            "/v1/admin/evaluations", json={"evaluations": good_reviews(X.id)}, headers=AUTH
        )
        assert r.status_code == 200 and r.json()["accepted"], r.text
        r = client.post(f"/v1/providers/{X.id}/reports", json={"kind": "moved", "text": "搬了"})
        assert r.status_code == 200, r.text


@contextmanager
def client_of(backend: Backend) -> Iterator[TestClient]:
    settings = Settings(admin_token=SecretStr(TOKEN))
    with TestClient(create_app(settings, backend=backend)) as client:
        yield client


def without_hours_time(body: Any) -> Any:
    """``body`` without the opening hours' ``at`` (the minute the open state was judged:
    a backup and a restore may be minutes apart)."""
    if isinstance(body, dict):
        return {
            k: {**v, "at": None} if k == "hours" and isinstance(v, dict) else without_hours_time(v)
            for k, v in body.items()
        }
    if isinstance(body, list):
        return [without_hours_time(v) for v in body]
    return body


def public_answers(backend: Backend) -> dict[str, Any]:
    """What residents and other apps are told, route by route."""
    urls = [
        "/v1/categories",
        f"/v1/providers/{X.id}",
        f"/v1/providers/{X.id}/grade-history",
        "/v1/certificates/GZ-2020-000002",
        f"/v1/map/layer?bbox={LON - 0.05},{LAT - 0.05},{LON + 0.05},{LAT + 0.05}&zoom=16",
        f"/v1/map/layer?bbox={LON - 0.5},{LAT - 0.5},{LON + 0.5},{LAT + 0.5}&zoom=11",
        *(
            f"/v1/providers/nearest?lat={LAT}&lon={LON}&category={c.value}&limit=20"
            for c in Category
        ),
    ]
    answers: dict[str, Any] = {}
    with client_of(backend) as client:
        for url in urls:
            r = client.get(url)
            assert r.status_code == 200, (url, r.text)
            answers[url] = without_hours_time(r.json())
        # Operators' side too: the residents' problem reports come back.
        answers["/v1/admin/reports"] = client.get("/v1/admin/reports", headers=AUTH).json()
        health = client.get("/healthz").json()
    # The data version is raised by a restore on purpose (a running server re-reads).
    answers["/healthz"] = {k: v for k, v in health.items() if k != "data_version"}
    assert answers["/healthz"]["providers"] > 100
    assert answers["/v1/admin/reports"]["total"] == 1
    return answers


def without_data_version(tables: Rows, meta: str) -> tuple[Rows, int]:
    """``tables`` less the data-version row of ``meta``, and that version."""
    kept = [row for row in tables[meta] if row[0] != repr("data_version")]
    (version,) = [int(row[1]) for row in tables[meta] if row[0] == repr("data_version")]
    return {**tables, meta: kept}, version


def embedded_tables(data_dir: Path) -> Rows:
    """Every row of every table of every file of the embedded store, in order."""
    found: Rows = {}
    for name in EMBEDDED_FILES:
        with closing(sqlite3.connect(data_dir / name)) as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            for table in tables:
                rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
                found[f"{name}:{table}"] = sorted(tuple(map(repr, row)) for row in rows)
    return found


def postgis_tables(url: str) -> Rows:
    """Every row of every table of the database (but PostGIS's own), in order."""
    engine = make_engine(url, pool_size=1)
    found: Rows = {}
    try:
        with engine.connect() as conn:
            tables = conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'spatial_ref_sys' ORDER BY tablename"
            ).scalars()
            for table in list(tables):
                rows = conn.exec_driver_sql(f'SELECT * FROM "{table}"').all()
                found[table] = sorted(tuple(map(repr, row)) for row in rows)
    finally:
        engine.dispose()
    return found


def assert_same_tables(before: Rows, after: Rows, meta: str) -> None:
    before_rows, before_version = without_data_version(before, meta)
    after_rows, after_version = without_data_version(after, meta)
    assert set(after_rows) == set(before_rows)
    for table, rows in before_rows.items():
        assert after_rows[table] == rows, table
    assert sum(len(rows) for rows in before_rows.values()) > 200
    assert after_version > before_version


def env_embedded(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JZMAP_DATABASE_URL")}
    env["JZMAP_DATA_DIR"] = str(data_dir)
    return env


def env_postgis(url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url}


@contextmanager
def fresh_database(migrate: str | None = "head") -> Iterator[str]:
    """A new database on the ``DATABASE_URL`` server (migrated to ``migrate``), dropped
    afterwards."""
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        pytest.fail("DATABASE_URL is not set: run the suite with `make test`")
    name = f"jzmap_backup_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(sqlalchemy_url(server_url)).set(database=name)
    database_url = url.render_as_string(hide_password=False)
    try:
        if migrate is not None:
            engine = make_engine(database_url)
            try:
                upgrade_schema(engine, migrate)
            finally:
                engine.dispose()
        yield database_url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def drop_database(database_url: str) -> None:
    name = sa.make_url(database_url).database
    server = os.environ["DATABASE_URL"]
    admin = sa.create_engine(sqlalchemy_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def rewrite_manifest(backup: Path, out: Path, **changes: Any) -> None:
    """A copy of ``backup`` whose manifest says ``changes`` (a backup as a newer program
    would write it)."""
    with tarfile.open(backup) as source, tarfile.open(out, "w:") as target:
        for member in source.getmembers():
            data = source.extractfile(member)
            assert data is not None
            content = data.read()
            if member.name == MANIFEST:
                content = json.dumps({**json.loads(content), **changes}).encode()
                member.size = len(content)
            target.addfile(member, io.BytesIO(content))


# --- embedded -----------------------------------------------------------------------------


def test_embedded_backup_wipe_restore_gives_back_every_table_and_answer(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with embedded_backend_at(data_dir) as backend:
        fill(backend)
        answers = public_answers(backend)
    tables = embedded_tables(data_dir)
    backup = tmp_path / "city.tar"
    out = run(["backup", str(backup)], env_embedded(data_dir)).stdout
    assert "backed up the embedded store" in out and "providers.sqlite" in out

    shutil.rmtree(data_dir)
    out = run(["restore", str(backup)], env_embedded(data_dir)).stdout
    assert "restored the embedded store" in out

    assert_same_tables(tables, embedded_tables(data_dir), "providers.sqlite:meta")
    with embedded_backend_at(data_dir) as backend:
        assert public_answers(backend) == answers


def test_an_embedded_restore_over_a_store_needs_replace(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with embedded_backend_at(data_dir) as backend:
        fill(backend)
    tables = embedded_tables(data_dir)
    backup = tmp_path / "city.tar"
    run(["backup", str(backup)], env_embedded(data_dir))
    # Another backup to the same name is refused: a backup is never overwritten.
    again = run(["backup", str(backup)], env_embedded(data_dir), check=False)
    assert again.returncode == 1 and "exists" in again.stderr

    with embedded_backend_at(data_dir) as backend:
        backend.store.delete_all()
        backend.registry.delete_all()
    emptied = embedded_tables(data_dir)
    refused = run(["restore", str(backup)], env_embedded(data_dir), check=False)
    assert refused.returncode == 1
    assert "already holds a store" in refused.stderr and "--replace" in refused.stderr
    assert embedded_tables(data_dir) == emptied

    run(["restore", str(backup), "--replace"], env_embedded(data_dir))
    assert_same_tables(tables, embedded_tables(data_dir), "providers.sqlite:meta")


def test_an_embedded_backup_of_an_older_schema_is_upgraded(tmp_path: Path) -> None:
    old = tmp_path / "old"
    embedded_backend_at(old).close()
    people = [registry_person(1, company=X.id), registry_person(2, company=X.id)]
    # The registry's file as its schema version 1 wrote it (no certified period columns).
    (old / "practitioners.sqlite").unlink()
    with closing(sqlite3.connect(old / "practitioners.sqlite")) as conn:
        conn.executescript(
            """
            CREATE TABLE practitioners (id TEXT PRIMARY KEY, company_id TEXT,
                certificate_code TEXT UNIQUE, body TEXT NOT NULL);
            CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            INSERT INTO meta VALUES ('schema_version', 1);
            """
        )
        conn.executemany(
            "INSERT INTO practitioners VALUES (?, ?, ?, ?)",
            [(p.id, p.company_id, p.certificate_code, practitioner_to_json(p)) for p in people],
        )
        conn.commit()
    backup = tmp_path / "old.tar"
    assert (
        "practitioners.sqlite (schema 1)" in run(["backup", str(backup)], env_embedded(old)).stdout
    )

    data_dir = tmp_path / "data"
    run(["restore", str(backup)], env_embedded(data_dir))
    with closing(sqlite3.connect(data_dir / "practitioners.sqlite")) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == (2,)
        columns = {r[1] for r in conn.execute("PRAGMA table_info(practitioners)")}
        assert {"certified_from", "certified_until"} <= columns
        assert conn.execute("SELECT count(*) FROM practitioners").fetchone() == (2,)
    registry = EmbeddedRegistry(data_dir)
    try:
        assert {p.id for p in registry.by_company(X.id)} == {"pr-1", "pr-2"}
    finally:
        registry.close()


def test_an_embedded_backup_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    embedded_backend_at(data_dir).close()
    backup = tmp_path / "now.tar"
    run(["backup", str(backup)], env_embedded(data_dir))
    newer = tmp_path / "newer.tar"
    rewrite_manifest(backup, newer, files={"providers.sqlite": 99, "grades.sqlite": 1})
    target = tmp_path / "target"
    refused = run(["restore", str(newer)], env_embedded(target), check=False)
    assert refused.returncode == 1
    assert "schema version 99, newer than this program's" in refused.stderr
    assert not target.exists()
    unknown = tmp_path / "unknown.tar"
    rewrite_manifest(backup, unknown, files={"history.sqlite": 1})
    refused = run(["restore", str(unknown)], env_embedded(target), check=False)
    assert refused.returncode == 1 and "does not know" in refused.stderr


def test_a_file_that_is_not_a_backup_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar file at all" * 100)
    refused = run(["restore", str(junk)], env_embedded(tmp_path / "data"), check=False)
    assert refused.returncode == 1 and "is not a jzmap backup" in refused.stderr


# --- PostGIS ------------------------------------------------------------------------------


@pytest.mark.postgis
def test_postgis_backup_wipe_restore_gives_back_every_table_and_answer(tmp_path: Path) -> None:
    backup = tmp_path / "city.tar"
    with fresh_database() as source:
        with postgis_backend_at(source) as backend:
            fill(backend)
            answers = public_answers(backend)
        tables = postgis_tables(source)
        out = run(["backup", str(backup)], env_postgis(source)).stdout
        assert f"PostGIS database at schema revision {head_revision()}" in out
        drop_database(source)  # the wipe: the whole database is gone

    with fresh_database(migrate=None) as target:
        out = run(["restore", str(backup)], env_postgis(target)).stdout
        assert "restored the PostGIS database" in out
        assert_same_tables(tables, postgis_tables(target), "jzmap_meta")
        with postgis_backend_at(target) as backend:
            assert public_answers(backend) == answers

        # Over a database holding data: refused, unchanged, unless --replace.
        with postgis_backend_at(target) as backend:
            backend.store.delete_all()
            backend.gradebook.delete_all()
        emptied = postgis_tables(target)
        refused = run(["restore", str(backup)], env_postgis(target), check=False)
        assert refused.returncode == 1
        assert "already holds" in refused.stderr and "--replace" in refused.stderr
        assert postgis_tables(target) == emptied
        run(["restore", str(backup), "--replace"], env_postgis(target))
        assert_same_tables(tables, postgis_tables(target), "jzmap_meta")


@pytest.mark.postgis
def test_a_postgis_backup_of_an_older_schema_is_migrated(tmp_path: Path) -> None:
    backup = tmp_path / "old.tar"
    with fresh_database(migrate="0005") as source:
        engine = make_engine(source)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO practitioners (id, company_id, certificate_code, body) "
                "VALUES ('pr-1', %(company)s, 'GZ-2020-000001', %(body)s)",
                {"company": X.id, "body": practitioner_to_json(registry_person(1, company=X.id))},
            )
        engine.dispose()
        assert "schema revision 0005" in run(["backup", str(backup)], env_postgis(source)).stdout
    with fresh_database(migrate=None) as target:
        run(["restore", str(backup)], env_postgis(target))
        with postgis_backend_at(target) as backend:  # refuses a schema not at head
            assert {p.id for p in backend.registry.by_company(X.id)} == {"pr-1"}
        tables = postgis_tables(target)
        assert tables["alembic_version"] == [(repr(head_revision()),)]


@pytest.mark.postgis
def test_a_postgis_backup_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    with fresh_database() as source:
        backup = tmp_path / "now.tar"
        run(["backup", str(backup)], env_postgis(source))
        newer = tmp_path / "newer.tar"
        rewrite_manifest(backup, newer, schema_revision="9999")
    with fresh_database(migrate=None) as target:
        refused = run(["restore", str(newer)], env_postgis(target), check=False)
        assert refused.returncode == 1
        assert "revision 9999, which this program does not know" in refused.stderr
        assert postgis_tables(target) == {}


@pytest.mark.postgis
def test_a_backup_restores_into_its_own_kind_of_store_only(tmp_path: Path) -> None:
    """A PostGIS backup is not restored into the embedded store (nor the reverse): the
    refusal says why and changes nothing."""
    postgis_backup = tmp_path / "pg.tar"
    embedded_backup = tmp_path / "embedded.tar"
    with fresh_database() as source:
        with postgis_backend_at(source) as backend:
            backend.store.upsert([X])
        run(["backup", str(postgis_backup)], env_postgis(source))
    data_dir = tmp_path / "data"
    with embedded_backend_at(data_dir) as backend:
        backend.store.upsert([X])
    run(["backup", str(embedded_backup)], env_embedded(data_dir))

    target = tmp_path / "target"
    refused = run(["restore", str(postgis_backup)], env_embedded(target), check=False)
    assert refused.returncode == 1
    assert "is a backup of a PostGIS database" in refused.stderr
    assert "not restored into the other" in refused.stderr
    assert not target.exists()
    with fresh_database(migrate=None) as empty:
        refused = run(["restore", str(embedded_backup)], env_postgis(empty), check=False)
        assert refused.returncode == 1
        assert "is a backup of the embedded store" in refused.stderr
        assert postgis_tables(empty) == {}

"""SQL injection: every parameter of every public GET route, fed hostile strings, against a
real PostGIS. SQL is built only from constants and enums; values travel as bound
parameters, so the strings are data: a 4xx (or an empty answer), never a 500, never a
changed database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from jzmap.settings import Settings
from providers.stores import Backend
from providers.stores.engine import make_engine
from providers.stores.postgis import PostgisStore
from tests.helpers import CANTON_TOWER, company, station, wait_for_network
from tests.osm_fixtures import rooms_csv, street_grid

LON, LAT = CANTON_TOWER
PAYLOADS = [
    "' OR '1'='1",
    "'; DROP TABLE jzmap_canary; --",
    '"; DROP TABLE jzmap_canary; --',
    "1; DELETE FROM providers",
    "1) OR (1=1",
    "海珠区' UNION SELECT phone FROM providers --",
    "%27%20OR%201%3D1",
    "\\'; SELECT pg_sleep(5); --",
    "$$; DROP TABLE jzmap_canary; $$",
    "co-' || (SELECT string_agg(phone, ',') FROM providers) || '",
]
# Values that make every other parameter of a route valid, so the payload is what is tested.
VALID: dict[str, Any] = {
    "lat": LAT,
    "lon": LON,
    "bbox": f"{LON - 0.01},{LAT - 0.01},{LON + 0.01},{LAT + 0.01}",
    "zoom": 15,
    "category": "elderly_care",
    "provider_id": "co-none",
    "collection_id": "providers",
    "feature_id": "co-none",
    "z": "12",
    "x": "3334",
    "y": "1780",
    "format": "geojson",
    "service_id": "00000000-0000-4000-8000-000000000000",
    "service_at_location_id": "00000000-0000-4000-8000-000000000000",
    "code": "none",
}


@pytest.fixture
def client(postgis_backend: Backend, postgis_migrated: str, tmp_path: Path) -> Iterator[TestClient]:
    postgis_backend.store.upsert(
        [company(1, LON, LAT, phone="13812345678"), station(2, LON + 0.001, LAT)]
    )
    engine = make_engine(postgis_migrated)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS jzmap_canary (x int)"))
    # Masked business phones (JZMAP_PUBLIC_PHONES=masked): no hostile parameter may show
    # the number the operator masked, in any output (OGC items, HSDS, downloads included).
    # Streets and candidate rooms too: mode=walk and /v1/coverage/sites answer rather than
    # refuse for want of them (a 409), so hostile values reach their parsing.
    settings = Settings(
        public_phones="masked",
        street_network=street_grid((LON, LAT)).write(tmp_path / "streets.osm"),
        candidate_sites=rooms_csv(tmp_path / "rooms.csv", (LON, LAT)),
        network_cache_dir=tmp_path / "networks",
    )
    with TestClient(create_app(settings, backend=postgis_backend)) as c:
        assert wait_for_network(c) == "ready"
        yield c
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('jzmap_canary')")).scalar() is not None
        conn.execute(sa.text("DROP TABLE jzmap_canary"))
    engine.dispose()


def _get_routes(client: TestClient) -> list[tuple[str, list[dict[str, Any]]]]:
    spec = client.get("/openapi.json").json()
    routes = []
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get and not path.startswith("/v1/admin"):
            routes.append((path, get.get("parameters", [])))
    return routes


@pytest.mark.postgis
def test_hostile_strings_in_every_parameter_change_nothing(
    client: TestClient, postgis_store: PostgisStore
) -> None:
    before = postgis_store.count()
    tried = 0
    for path, parameters in _get_routes(client):
        for parameter in parameters:
            name = parameter["name"]
            for payload in PAYLOADS:
                query = {
                    p["name"]: VALID[p["name"]]
                    for p in parameters
                    if p["in"] == "query" and p.get("required") and p["name"] in VALID
                }
                url = path
                for p in parameters:
                    if p["in"] == "path":
                        value = payload if p["name"] == name else VALID[p["name"]]
                        url = url.replace("{" + p["name"] + "}", _path_quote(value))
                if parameter["in"] == "query":
                    query[name] = payload
                r = client.get(url, params=query)
                tried += 1
                assert r.status_code in (200, 400, 404, 422), (path, name, payload, r.text[:200])
                assert r.headers["content-type"].startswith("application/"), (path, name)
                assert "13812345678" not in r.text, ("a masked phone leaked", path, name)
    assert tried > 100
    assert postgis_store.count() == before


def _path_quote(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.~-]", lambda m: "".join(f"%{b:02X}" for b in m[0].encode()), value)


@pytest.mark.postgis
def test_hostile_strings_in_problem_reports_are_stored_and_filtered_as_data(
    postgis_backend: Backend, postgis_migrated: str
) -> None:
    """The report routes (a public POST and the admin list and resolve): hostile strings
    in the path, the body and the filters are data; each text reads back as typed."""
    provider = company(1, LON, LAT)
    postgis_backend.store.upsert([provider])
    token = "injection-admin-token"
    auth = {"Authorization": f"Bearer {token}"}
    settings = Settings(admin_token=token, reports_per_hour=1_000)
    engine = make_engine(postgis_migrated)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS jzmap_canary (x int)"))
    try:
        with TestClient(create_app(settings, backend=postgis_backend)) as c:
            for payload in PAYLOADS:
                r = c.post(f"/v1/providers/{_path_quote(payload)}/reports", json={"kind": "other"})
                assert r.status_code in (404, 422), (payload, r.text[:200])
                r = c.post(
                    f"/v1/providers/{provider.id}/reports", json={"kind": "other", "text": payload}
                )
                assert r.status_code == 200, (payload, r.text[:200])
                for name in ("provider_id", "kind", "status"):
                    r = c.get("/v1/admin/reports", params={name: payload}, headers=auth)
                    assert r.status_code in (200, 422), (name, payload, r.text[:200])
                    if r.status_code == 200:
                        assert r.json()["total"] == 0, (name, payload)
                r = c.post(
                    f"/v1/admin/reports/{_path_quote(payload)}/resolve", json={}, headers=auth
                )
                assert r.status_code in (404, 422), (payload, r.text[:200])
            texts = [
                r["text"]
                for r in c.get("/v1/admin/reports", params={"limit": 100}, headers=auth).json()[
                    "reports"
                ]
            ]
        assert sorted(texts) == sorted(" ".join(p.split()) for p in PAYLOADS)
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT to_regclass('jzmap_canary')")).scalar()
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS jzmap_canary"))
        engine.dispose()

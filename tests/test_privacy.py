"""Privacy by construction: a practitioner's personal values never leave through a public
route, the map pages or the static export; admin routes refuse missing and wrong tokens.

The walk is driven by the app's own OpenAPI spec, so a public route added later is walked
too (and a required parameter this test cannot fill fails it, rather than being skipped).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pyogrio
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from geo.crs import CRS, from_wgs84
from geo.tiles import Tile
from jzmap.presentation.hsds import ObjectType, export_hsds, hsds_id, listed_providers
from jzmap.presentation.hsds_tabular import TABLES, write_tabular
from jzmap.settings import Settings
from jzmap.wiring import district_points, districts_layer
from maps.export import export_static_map
from providers.model import Category
from providers.practitioners import id_number_check_char
from providers.store import ProviderStore
from providers.stores import Backend
from tests.helpers import CANTON_TOWER, company, station, wait_for_network
from tests.osm_fixtures import rooms_csv, street_grid

TOKEN = "privacy-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LON, LAT = CANTON_TOWER
TEST_LAYERS = Path(__file__).parent / "data"
CO = company(
    7,
    LON + 0.001,
    LAT + 0.001,
    categories=(Category.HOUSEKEEPING, Category.ELDERLY_CARE),
    practitioners=1,
    certified_practitioners=0,
)
ST = station(8, LON - 0.001, LAT - 0.001)
CODE = "GZ-2025-770001"

NAME = "司徒雪梅"
ID_NUMBER = "44010519870423" + "512" + id_number_check_char("44010519870423512")
PHONE = "139-2468-1357"
HOME = "海珠区新港西路135号7栋1203房"
HOME_LON, HOME_LAT = 113.3381237, 23.0968841

PASSED = {"status": "passed", "evidenced_on": "2020-03-01"}
PRACTITIONER: dict[str, Any] = {
    "id": "pr-privacy-1",
    "name": NAME,
    "id_number": ID_NUMBER,
    "phone": PHONE,
    "company_id": CO.id,
    "stars": 4,
    "real_name": PASSED,
    "pre_job_training": PASSED,
    "no_criminal_record": PASSED,
    "health_certificate": {**PASSED, "expires_on": "2099-12-31"},
    "vocational_certificate": PASSED,
    "certificate_code": CODE,
    "certificate_issued_on": "2020-03-10",
    "home_address": HOME,
    "home_lon": HOME_LON,
    "home_lat": HOME_LAT,
}


def spellings() -> list[str]:
    """Every form a personal value could leak in: as stored, reformatted, JSON-escaped."""
    digits = "".join(ch for ch in PHONE if ch.isdigit())
    values = [
        NAME,
        NAME[2:],  # the given name alone (the masked form keeps only 司徒 and 梅)
        NAME[:3],
        ID_NUMBER,
        ID_NUMBER.lower(),
        ID_NUMBER[:17],
        PHONE,
        digits,
        f"{digits[:3]} {digits[3:7]} {digits[7:]}",
        HOME,
        "新港西路135号",
        str(HOME_LON),  # full precision: one alone is a leak
        str(HOME_LAT),
    ]
    escaped = [json.dumps(v)[1:-1] for v in values]  # \\uXXXX forms of the Chinese values
    return sorted(set(values + escaped))


_NUMBER = re.compile(r"-?\d+\.\d+")
# The home point in every CRS an answer may be given in, to 5 decimals (about a metre).
HOME_POINTS = {crs: tuple(round(v, 5) for v in from_wgs84(HOME_LON, HOME_LAT, crs)) for crs in CRS}


def home_coordinates_in(body: str) -> list[str]:
    """The CRSs in which the home point appears in ``body`` to 5 decimals, as a lon/lat or
    lat/lon pair of numbers at most two apart. (One coordinate alone turns up by chance
    among the hundred thousand numbers of a coverage grid; a point does not.)"""
    numbers = [round(float(m), 5) for m in _NUMBER.findall(body)]
    found = []
    for crs, (lon, lat) in HOME_POINTS.items():
        for i, a in enumerate(numbers):
            if a not in (lon, lat):
                continue
            other = lat if a == lon else lon
            if other in numbers[max(0, i - 2) : i + 3]:
                found.append(f"home point in {crs.value}")
                break
    return found


def assert_private(where: str, body: str) -> None:
    leaked = [v for v in spellings() if v in body] + home_coordinates_in(body)
    assert not leaked, f"{where} carries personal values {leaked}"


@pytest.fixture
def client(backend: Backend, tmp_path: Path) -> Iterator[TestClient]:
    backend.store.upsert([CO, ST])
    # A street network and candidate rooms, so that walking coverage, catchments and the
    # office's sites are walked too (without them they are a 409).
    places = tmp_path / "places"
    places.mkdir()
    settings = Settings(
        admin_token=SecretStr(TOKEN),
        street_network=street_grid((LON, LAT)).write(places / "streets.osm"),
        candidate_sites=rooms_csv(places / "rooms.csv", (LON, LAT)),
        network_cache_dir=places / "networks",
        # Street and community polygons, so that the map layer's street and community
        # levels are walked too (without a communities layer, level=community is a 422).
        streets_layer=TEST_LAYERS / "streets-test.geojson",
        communities_layer=TEST_LAYERS / "communities-test.geojson",
    )
    with TestClient(create_app(settings, backend=backend)) as c:
        assert wait_for_network(c) == "ready"
        r = c.post("/v1/admin/practitioners", json={"practitioners": [PRACTITIONER]}, headers=AUTH)
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == [PRACTITIONER["id"]], r.text
        assert_private("the admin load's answer", r.text)
        seed_grades_and_appeals(c)
        yield c


def seed_grades_and_appeals(c: TestClient) -> None:
    """Complaints and appeals whose texts carry personal values (issue 19), so the walk
    covers the grade history's plain-words explanations too."""
    complaint = {
        "type": "complaint",
        "severity": "fairly_serious",
        "filed_at": "2026-03-04T10:00:00+08:00",
        "status": "verified",
        "resolved_at": "2026-03-09T10:00:00+08:00",
        "text": f"{NAME} {PHONE} {HOME}",
    }
    batch = [
        complaint | {"id": "cp-privacy-co", "subject": {"kind": "company", "id": CO.id}},
        complaint | {"id": "cp-privacy-pr", "subject": {"kind": "practitioner", "id": "pr-privacy-1"}},
    ]  # fmt: skip
    r = c.post("/v1/admin/evaluations", json={"evaluations": batch}, headers=AUTH)
    assert r.status_code == 200 and len(r.json()["accepted"]) == 2, r.text
    appeal = {"complaint_id": "cp-privacy-co", "filed_at": "2026-03-10T10:00:00+08:00"}
    r = c.post("/v1/admin/appeals", json=appeal | {"id": "ap-privacy", "grounds": NAME}, headers=AUTH)  # fmt: skip
    assert r.status_code == 200, r.text
    decision = {"status": "dismissed", "decided_at": "2026-03-20T10:00:00+08:00",
                "decided_by": "ops", "decision": f"{NAME} {PHONE}"}  # fmt: skip
    r = c.post("/v1/admin/appeals/ap-privacy/decision", json=decision, headers=AUTH)
    assert r.status_code == 200, r.text
    history = c.get(f"/v1/providers/{CO.id}/grade-history").json()["changes"]
    assert history[0]["appealed"] == "dismissed" and "较重" in history[0]["explanation_zh"]


BBOX = f"{LON - 0.02},{LAT - 0.02},{LON + 0.02},{LAT + 0.02}"
# Values for every parameter a public route may take; a list is walked value by value.
REQUIRED: dict[str, list[str]] = {
    "lat": [str(LAT)],
    "lon": [str(LON)],
    "bbox": [BBOX],
    "zoom": ["11", "15", "18"],
    "district": ["海珠区"],  # required by /v1/coverage/sites
    "category": ["housekeeping", "elderly_care"],
    "provider_id": [CO.id, ST.id],
    "code": [CODE, CODE.lower()],
    # The search box's place suggestions (a district by a part of its name, then whole).
    "q": ["海珠", "海珠区"],
    # OGC API Features: a collection of providers with one of its features, round by round.
    "collection_id": ["providers", "stations"],
    "feature_id": [CO.id, ST.id],
    "format": ["geojson", "gpkg", "parquet", "csv"],
    # Vector tiles over the company: districts, then points at two zooms.
    **{
        axis: [str(getattr(Tile.containing(CO.lon, CO.lat, z), axis)) for z in (10, 15, 18)]
        for axis in ("z", "x", "y")
    },
    # HSDS ids of the company's and the station's objects.
    "service_id": [hsds_id(ObjectType.SERVICE, p) for p in (CO, ST)],
    "service_at_location_id": [hsds_id(ObjectType.SERVICE_AT_LOCATION, p) for p in (CO, ST)],
}
# Optional parameters without an enum worth one more call each (enum parameters are
# walked through every value their schema allows).
OPTIONAL: dict[str, str] = {
    "certified_only": "true",
    "include_approximate": "true",
    "district": "海珠区",
    "k": "3",
    "radius_m": "5000",
    "filter": "kind = 'company' OR name LIKE '%站%'",
    "limit": "100",
    "open_at": "2026-12-03T10:00",
}


def public_gets(spec: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    return [
        (path, op.get("parameters", []))
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method == "get" and not path.startswith("/v1/admin")
    ]


def enum_values(spec: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """The values an (optional) parameter's schema allows, when it lists them."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "enum" in schema:
        return [str(v) for v in schema["enum"]]
    return [v for option in schema.get("anyOf", []) for v in enum_values(spec, option)]


def calls(
    spec: dict[str, Any], path: str, parameters: list[dict[str, Any]]
) -> list[tuple[str, dict[str, str]]]:
    """(url, query) pairs covering each value of each required parameter, then each
    optional parameter added on its own, with each of its values."""
    required = [p for p in parameters if p.get("required")]
    missing = [p["name"] for p in required if p["name"] not in REQUIRED]
    assert not missing, f"{path}: the privacy walk cannot fill {missing}; add values"
    out: list[tuple[str, dict[str, str]]] = []
    rounds = max([len(REQUIRED[p["name"]]) for p in required] or [1])
    for i in range(rounds):
        url, query = path, {}
        for p in required:
            values = REQUIRED[p["name"]]
            value = values[min(i, len(values) - 1)]
            if p["in"] == "path":
                url = url.replace("{" + p["name"] + "}", value)
            else:
                query[p["name"]] = value
        out.append((url, query))
    base_url, base_query = out[0]
    for p in parameters:
        if p.get("required") or p["in"] != "query":
            continue
        values = enum_values(spec, p.get("schema", {}))
        if not values and p["name"] in OPTIONAL:
            values = [OPTIONAL[p["name"]]]
        out.extend((base_url, base_query | {p["name"]: v}) for v in values)
    return out


def test_no_public_route_carries_a_practitioners_personal_values(
    client: TestClient, store: ProviderStore, tmp_path: Path
) -> None:
    spec = client.get("/openapi.json").json()
    assert_private("the OpenAPI spec", json.dumps(spec, ensure_ascii=False))
    routes = public_gets(spec)
    walked = {path for path, _ in routes}
    # The walk must reach the routes that touch practitioners at all.
    assert {"/v1/certificates/{code}", "/v1/providers/nearest", "/v1/map/layer"} <= walked
    assert {"/tiles/{z}/{x}/{y}.mvt", "/tiles/tilejson.json"} <= walked
    assert {"/hsds/services/{service_id}", "/hsds/service_at_locations"} <= walked
    seen_company = seen_certificate = 0
    for path, parameters in routes:
        for url, query in calls(spec, path, parameters):
            r = client.get(url, params=query)
            where = f"GET {url} {query}"
            assert r.status_code == 200, f"{where}: {r.status_code} {r.text[:300]}"
            assert_private(where, r.text)
            seen_company += CO.id in r.text
            seen_certificate += "司徒*梅" in r.text
    # Not vacuous: the company (with its derived count) and the certificate were answered.
    assert seen_company >= 5 and seen_certificate == 2
    provider = store.get(CO.id)
    assert provider is not None and provider.certified_practitioners == 1

    # A report's answer, and the provider pages with their grade history in plain words.
    r = client.post(f"/v1/providers/{CO.id}/reports", json={"kind": "wrong_phone"})
    assert r.status_code == 200, r.text
    assert_private("a report's answer", r.text)
    provider_pages = (f"/p/{CO.id}", f"/p/{CO.id}?lang=en", f"/p/{ST.id}")
    for page in ("/map", "/widget", "/embed", "/map?lang=en", f"/map?lat={LAT}&lon={LON}",
                 *provider_pages):  # fmt: skip
        r = client.get(page)
        assert r.status_code == 200, page
        assert_private(f"GET {page}", r.text)

    settings = Settings()
    html = export_static_map(
        store,
        districts_layer(settings.city),
        district_points(settings.city),
        tiles_url="/static/blank-tile.png",
        tiles_attribution="test",
        tiles_crs=CRS.WGS84,
    )
    assert_private("the static export", html)

    hsds_dir = tmp_path / "hsds"
    export_hsds(store, hsds_dir, settings.city.city_name)
    write_tabular(listed_providers(store, 10_000), hsds_dir, settings.city.city_name)
    assert len(list(hsds_dir.iterdir())) == 3 + len(TABLES) + 1  # JSON, CSV, datapackage
    for written in sorted(hsds_dir.iterdir()):
        text = written.read_text(encoding="utf-8")
        named = ("organizations.csv", "services.csv", "locations.csv")
        if written.name in named or (written.suffix == ".json" and written.stem != "datapackage"):
            assert CO.name in text  # not vacuous
        assert_private(f"the HSDS export {written.name}", text)


def test_a_404_for_a_certificate_is_json_and_impersonal(client: TestClient) -> None:
    r = client.get("/v1/certificates/GZ-0000-000000")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert_private("a certificate 404", r.text)


def admin_operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, ops in spec["paths"].items()
        for method in ops
        if path.startswith("/v1/admin")
    ]


def test_every_admin_operation_refuses_missing_and_wrong_tokens(client: TestClient) -> None:
    operations = admin_operations(client.get("/openapi.json").json())
    assert ("post", "/v1/admin/practitioners") in operations
    assert ("post", "/v1/admin/evaluations") in operations
    assert ("get", "/v1/admin/reports") in operations
    assert ("post", "/v1/admin/reports/{report_id}/resolve") in operations
    assert ("post", "/v1/admin/appeals") in operations and (
        "get",
        "/v1/admin/notices",
    ) in operations
    for method, path in operations:
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}):
            r = client.request(method, path, json={}, headers=headers)
            assert r.status_code == 401, (method, path, headers, r.status_code)
            assert_private(f"{method} {path}", r.text)
    # The seeded practitioner was not touched by any refused call.
    r = client.get(f"/v1/certificates/{CODE}")
    assert r.json()["valid"] is True


@pytest.mark.parametrize(
    "body",
    [
        f'{{"n": "{NAME}"}}',
        json.dumps({"n": NAME}),  # \\u-escaped
        "44010519870423512" + ID_NUMBER[-1],
        "tel:13924681357",
        f"<p>{HOME}</p>",
        '{"lat": 23.096884, "lon": 113.338124}',
        "[113.34357,23.0943]",  # the home point in GCJ-02
    ],
)
def test_the_leak_detector_catches_each_spelling(body: str) -> None:
    with pytest.raises(AssertionError):
        assert_private("a crafted body", body)


def test_ogc_collections_and_open_data_files_carry_no_personal_values(
    client: TestClient, tmp_path: Path
) -> None:
    """Every OGC collection's features (as JSON and HTML), and every open-data file read
    back by its own reader (Parquet is compressed: its bytes would hide a leak)."""
    collections = client.get("/ogc/collections").json()["collections"]
    assert len(collections) >= 7
    for collection in collections:
        for f in ("json", "html"):
            url = f"/ogc/collections/{collection['id']}/items"
            r = client.get(url, params={"f": f, "limit": "10000"})
            assert r.status_code == 200, (url, r.text[:300])
            assert_private(f"GET {url}?f={f}", r.text)
    seen = 0
    for fmt in ("geojson", "gpkg", "parquet", "csv"):
        r = client.get(f"/v1/exports/providers.{fmt}")
        assert r.status_code == 200, r.text
        path = tmp_path / f"providers.{fmt}"
        path.write_bytes(r.content)
        if fmt == "parquet":
            table = pq.read_table(path).drop_columns(["geometry"]).to_pylist()
        else:
            table = pyogrio.read_dataframe(path, read_geometry=False).to_dict("records")
        text = json.dumps(table, ensure_ascii=False, default=str)
        assert_private(f"the {fmt} download", text)
        seen += CO.id in text
    assert seen == 4


def test_a_company_s_and_a_station_s_business_phone_is_public_a_practitioner_s_is_not(
    backend: Backend,
) -> None:
    """Issue 16's rule: a registered business line is what the directory exists to give,
    in full with a tel: link (or masked when the operator says so); a practitioner's
    phone never appears either way."""
    company_ = company(
        17, LON + 0.002, LAT, phone="020-8333 4567", practitioners=1, certified_practitioners=0
    )
    station_ = station(18, LON - 0.002, LAT, phone="020-8444 1234")
    backend.store.upsert([company_, station_])
    for phones, shown in (("full", True), ("masked", False)):
        settings = Settings(admin_token=SecretStr(TOKEN), public_phones=phones)
        with TestClient(create_app(settings, backend=backend)) as c:
            loaded = {**PRACTITIONER, "company_id": company_.id}
            r = c.post("/v1/admin/practitioners", json={"practitioners": [loaded]}, headers=AUTH)
            assert r.status_code == 200, r.text
            for p in (company_, station_):
                body = c.get(f"/v1/providers/{p.id}").json()
                digits = "".join(ch for ch in p.phone if ch.isdigit())
                assert (body["phone"] == p.phone) is shown
                assert body["tel"] == (f"tel:{digits}" if shown else None)
                assert_private(f"GET /v1/providers/{p.id} ({phones})", json.dumps(body))
            r = c.get("/v1/providers/nearest", params={"lat": LAT, "lon": LON, "limit": 5})
            phones_seen = {m["phone"] for m in r.json()["results"]}
            assert ("020-8333 4567" in phones_seen) is shown
            assert_private(f"nearest ({phones})", r.text)
            assert_private(f"nearest ({phones})", json.dumps(r.json(), ensure_ascii=False))

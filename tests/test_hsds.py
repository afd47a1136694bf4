"""HSDS 3.x: the export and the API's read side, checked against the official compiled
schemas in the strict form the specification checks with (additionalProperties false
everywhere), on both stores."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from geo.crs import CRS
from geo.geodesy import geodesic_distance_m
from geo.precision import Precision
from jzmap.presentation.hsds import (
    SCHEMAS,
    ObjectType,
    export_hsds,
    find_provider,
    hsds_id,
    schema_problems,
    service,
    service_at_location,
    strict_validator,
    taxonomy_term_id,
)
from jzmap.presentation.hsds_tabular import TABLES, columns, rows_of, write_tabular
from jzmap.presentation.presenters import provider_out
from jzmap.settings import Settings
from providers.model import Category, Provider
from providers.store import BBox, Filters, ProviderStore
from providers.stores import Backend
from tests.helpers import CANTON_TOWER, company, station
from tests.test_cli import run

LON, LAT = CANTON_TOWER
CITY = "广州市 Guangzhou"


def providers() -> list[Provider]:
    out: list[Provider] = []
    for i in range(1, 31):
        lon, lat = LON + 0.002 * (i % 6) - 0.005, LAT + 0.0015 * (i // 6) - 0.004
        categories = [c for j, c in enumerate(Category) if (i >> j) & 1] or [Category.NURSING]
        extra: dict[str, Any] = {"address": f"海珠区阅江西路{i}号" if i % 5 else ""}
        if i % 7 == 0:
            extra["geocode_precision"] = Precision.DISTRICT
        if i % 3 == 0:
            out.append(station(i, lon, lat, categories=categories, phone="020-8888" + f"{i:04d}"))
        else:
            out.append(company(i, lon, lat, categories=categories, **extra))
    # Two on one spot: ids must still tell them apart.
    out.append(company(99, out[0].lon, out[0].lat, name="同址公司"))
    return [
        dataclasses.replace(
            p, opening_hours=HOURS[i % len(HOURS)], verified_at=VERIFIED if i % 2 else None
        )
        for i, p in enumerate(out)
    ]


VERIFIED = date(2026, 11, 30)
HOURS = ["周一至周五 9:00-18:00，节假日休息", "20:00-次日2:00", "看心情", "", "24小时"]


@pytest.fixture
def seeded(store: ProviderStore) -> ProviderStore:
    store.upsert(providers())
    return store


def everyone(store: ProviderStore) -> list[Provider]:
    return store.within(BBox(-180, -90, 180, 90), Filters(include_approximate=True), 10_000)


def read(path: Path) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_the_export_holds_every_provider_and_passes_the_strict_schemas(
    seeded: ProviderStore, tmp_path: Path
) -> None:
    counts = export_hsds(seeded, tmp_path, CITY, validate=True)
    listed = everyone(seeded)
    assert len(listed) == 31 and set(counts.values()) == {31}
    files = {
        "organization": read(tmp_path / "organizations.json"),
        "service": read(tmp_path / "services.json"),
        "service_at_location": read(tmp_path / "service_at_locations.json"),
    }
    for schema, objects in files.items():
        for obj in objects:
            assert schema_problems(schema, obj) == [], (schema, obj["id"])
    ids = {o["id"] for objects in files.values() for o in objects}
    assert len(ids) == 3 * 31  # unique, across types
    by_service = {o["id"]: o for o in files["service"]}
    for p in listed:
        s = by_service[hsds_id(ObjectType.SERVICE, p)]
        assert s["name"] == p.name and s["status"] == "active"
        assert s["organization_id"] == hsds_id(ObjectType.ORGANIZATION, p)
        terms = {a["taxonomy_term"]["code"] for a in s["attributes"]}
        assert terms == {c.value for c in p.categories}
        assert {a["taxonomy_term"]["name"] for a in s["attributes"]} <= {
            "养老",
            "居家",
            "母婴",
            "护理",
        }
        phones = [ph["number"] for ph in s["phones"]]
        public = provider_out(p, CRS.WGS84).phone
        assert phones == ([public] if public else [])
        (sal,) = s["service_at_locations"]
        place = sal["location"]
        if p.geocode_precision is Precision.DISTRICT:
            assert "latitude" not in place  # a stand-in point is no location
        else:
            assert (place["longitude"], place["latitude"]) == (round(p.lon, 7), round(p.lat, 7))
        assert [a["address_1"] for a in place.get("addresses", [])] == (
            [p.address] if p.address else []
        )
        assert s["service_areas"][0]["name"] == (p.district or CITY)


def test_the_strict_schemas_refuse_what_the_loose_ones_allow(seeded: ProviderStore) -> None:
    p = everyone(seeded)[0]
    good = service(p, CITY)
    assert schema_problems("service", good) == []
    extra = json.loads(json.dumps(good))
    extra["service_at_locations"][0]["location"]["colour"] = "red"
    assert any("colour" in problem for problem in schema_problems("service", extra))
    bad_id = json.loads(json.dumps(good))
    bad_id["id"] = "co-1"
    assert any("uuid" in problem for problem in schema_problems("service", bad_id))
    assert set(SCHEMAS) == {"organization", "service", "service_at_location"}
    schema = strict_validator("service").schema
    assert isinstance(schema, dict) and schema["additionalProperties"] is False


def test_ids_find_their_provider_and_nothing_else(seeded: ProviderStore) -> None:
    for p in everyone(seeded):
        for kind in (ObjectType.SERVICE, ObjectType.SERVICE_AT_LOCATION):
            object_id = hsds_id(kind, p)
            assert uuid.UUID(object_id).version == 8
            found = find_provider(seeded, kind, object_id)
            assert found is not None and found.id == p.id
        other = ObjectType.SERVICE_AT_LOCATION
        assert find_provider(seeded, ObjectType.SERVICE, hsds_id(other, p)) is None
    for junk in ("", "x", str(uuid.uuid4()), "00000000-0000-8000-8000-000000000000"):
        assert find_provider(seeded, ObjectType.SERVICE, junk) is None


def test_ids_stay_when_a_provider_moves_or_changes(seeded: ProviderStore) -> None:
    p = everyone(seeded)[4]
    before = service(p, CITY)
    moved = dataclasses.replace(p, lon=p.lon + 0.02, lat=p.lat - 0.01, name="搬家后的名字")
    seeded.upsert([moved])
    object_id = hsds_id(ObjectType.SERVICE, p)
    found = find_provider(seeded, ObjectType.SERVICE, object_id)
    assert found is not None and (found.id, found.lon) == (p.id, moved.lon)
    after = service(found, CITY)

    def ids(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [v for k, v in node.items() if k.endswith("id")] + ids(list(node.values()))
        if isinstance(node, list):
            return [i for value in node for i in ids(value)]
        return []

    assert ids(after) == ids(before)
    assert len(set(ids(before))) > 10  # every object of it, none by chance
    seeded.upsert([dataclasses.replace(moved, active=False)])
    assert find_provider(seeded, ObjectType.SERVICE, object_id) is None  # unlisted


def test_jzmap_export_hsds_writes_the_demo_city(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JZMAP_DATABASE_URL")}
    env["JZMAP_DATA_DIR"] = str(tmp_path / "data")
    run(["demo"], env)
    out = run(["export", "hsds", str(tmp_path / "hsds"), "--validate", "--tabular"], env).stdout
    assert "services.json: 708 objects" in out and "services.csv: 708 rows" in out
    assert len(read(tmp_path / "hsds" / "organizations.json")) == 708
    assert_tabular_package(tmp_path / "hsds")


def assert_tabular_package(folder: Path) -> dict[str, list[dict[str, str]]]:
    """The package's tables, checked: each CSV has the columns datapackage.json declares,
    which are scalar properties of its object in the official schemas; ids are unique;
    every link names a row of the table it links to."""
    package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    assert package["profile"] == "tabular-data-package"
    tables: dict[str, list[dict[str, str]]] = {}
    for resource in package["resources"]:
        with (folder / resource["path"]).open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            declared = [field["name"] for field in resource["schema"]["fields"]]
            assert reader.fieldnames == declared == columns(resource["name"])
            tables[resource["name"]] = list(reader)
    assert set(tables) == set(TABLES)
    for name, rows in tables.items():
        assert len({r["id"] for r in rows}) == len(rows), name
        for r in rows:
            assert uuid.UUID(r["id"])
    links = {
        "organization_id": "organizations",
        "service_id": "services",
        "location_id": "locations",
        "service_at_location_id": "service_at_locations",
        "taxonomy_term_id": "taxonomy_terms",
    }
    ids = {name: {r["id"] for r in rows} for name, rows in tables.items()}
    for name, rows in tables.items():
        for column, target in links.items():
            for r in rows:
                if r.get(column):
                    assert r[column] in ids[target], (name, column)
    return tables


def test_the_tabular_package_holds_the_same_objects(seeded: ProviderStore, tmp_path: Path) -> None:
    listed = everyone(seeded)
    counts = write_tabular(listed, tmp_path, CITY)
    tables = assert_tabular_package(tmp_path)
    assert counts == {name: len(rows) for name, rows in tables.items()}
    assert len(tables["services"]) == len(tables["organizations"]) == len(listed)
    assert len(tables["taxonomy_terms"]) == len({c for p in listed for c in p.categories})
    by_id = {name: {r["id"]: r for r in rows} for name, rows in tables.items()}
    for p in listed:
        s = service(p, CITY)
        row = by_id["services"][s["id"]]
        assert row["name"] == p.name and row["assured_date"] == s.get("assured_date", "")
        assert len([x for x in tables["schedules"] if x["service_id"] == s["id"]]) == len(
            s["schedules"]
        )
        for schedule in s["schedules"]:
            got = by_id["schedules"][schedule["id"]]
            assert {k: got[k] for k in schedule} == {k: str(v) for k, v in schedule.items()}
        sal = s["service_at_locations"][0]
        assert by_id["service_at_locations"][sal["id"]]["location_id"] == sal["location"]["id"]
        for phone in s["phones"]:  # one row, linked to the organization and the service
            got = by_id["phones"][phone["id"]]
            assert got["service_id"] == s["id"] and got["organization_id"] == s["organization_id"]
    with pytest.raises(ValueError, match="not a column"):
        rows_of("services", {"id": str(uuid.uuid4()), "practitioner_phone": "1"}, {})


# -- the API ------------------------------------------------------------------------------


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    backend.store.upsert(providers())
    with TestClient(create_app(Settings(data_dir=Path("/nonexistent")), backend=backend)) as c:
        yield c


def test_pages_walk_every_service_by_id(client: TestClient, store: ProviderStore) -> None:
    seen: list[str] = []
    page = 1
    while True:
        r = client.get("/hsds/services", params={"page": page, "per_page": 7})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total_items"] == 31 and body["total_pages"] == 5
        assert body["page_number"] == page and body["first_page"] == (page == 1)
        for obj in body["contents"]:
            assert schema_problems("service", obj) == []
        seen += [obj["id"] for obj in body["contents"]]
        if body["last_page"]:
            break
        page += 1
    assert page == 5
    assert seen == [hsds_id(ObjectType.SERVICE, p) for p in everyone(store)]
    one = client.get(f"/hsds/services/{seen[3]}")
    assert one.status_code == 200 and one.json()["id"] == seen[3]


def test_services_at_locations_by_id_and_category(client: TestClient, store: ProviderStore) -> None:
    term = taxonomy_term_id(Category.MATERNAL_INFANT)
    r = client.get("/hsds/service_at_locations", params={"taxonomy_term_id": term, "per_page": 100})
    body = r.json()
    want = [p for p in everyone(store) if Category.MATERNAL_INFANT in p.categories]
    assert [o["id"] for o in body["contents"]] == [
        hsds_id(ObjectType.SERVICE_AT_LOCATION, p) for p in want
    ]
    for obj in body["contents"]:
        assert schema_problems("service_at_location", obj) == []
        again = client.get(f"/hsds/service_at_locations/{obj['id']}")
        assert again.json() == obj
    assert client.get(f"/hsds/services/{body['contents'][0]['id']}").status_code == 404


def test_proximity_search_is_geodesic_and_nearest_first(
    client: TestClient, store: ProviderStore
) -> None:
    radius = 350.0
    r = client.get(
        "/hsds/service_at_locations",
        params={"lat": LAT, "lon": LON, "proximity": radius, "per_page": 100},
    )
    assert r.status_code == 200, r.text
    got = r.json()["contents"]
    located = [
        p for p in everyone(store) if p.geocode_precision is not Precision.DISTRICT
    ]  # stand-in points are not searched
    distance = {p.id: geodesic_distance_m(LON, LAT, p.lon, p.lat) for p in located}
    want = sorted(
        (p for p in located if distance[p.id] <= radius), key=lambda p: (distance[p.id], p.id)
    )
    assert 3 <= len(want) < len(located)
    # The same set; in order up to a millimetre (PostGIS measures ties a hair differently).
    assert sorted(o["id"] for o in got) == sorted(
        hsds_id(ObjectType.SERVICE_AT_LOCATION, p) for p in want
    )
    nearest_first = [
        geodesic_distance_m(LON, LAT, o["location"]["longitude"], o["location"]["latitude"])
        for o in got
    ]
    assert all(a <= b + 1e-3 for a, b in itertools.pairwise(nearest_first))


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"lat": LAT, "lon": LON}, "proximity"),
        ({"proximity": 500}, "lat"),
        ({"lat": 40.0, "lon": 116.4, "proximity": 500}, "lat"),
        ({"proximity": 10**9, "lat": LAT, "lon": LON}, "proximity"),
        ({"page": 1000, "per_page": 100}, "page"),
        ({"per_page": 0}, "per_page"),
        ({"taxonomy_term_id": str(uuid.uuid4())}, "taxonomy_term_id"),
    ],
)
def test_bad_hsds_queries_are_json_422(
    client: TestClient, params: dict[str, Any], parameter: str
) -> None:
    r = client.get("/hsds/services", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["details"][0]["parameter"] == parameter and r.json()["request_id"]


def test_unknown_ids_are_json_404(client: TestClient) -> None:
    for path in ("/hsds/services/nope", f"/hsds/service_at_locations/{uuid.uuid4()}"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_the_api_says_what_it_is(client: TestClient) -> None:
    body = client.get("/hsds/").json()
    assert body["version"] == "3.0" and body["openapi_url"].endswith("/openapi.json")


def test_schedules_come_from_the_structured_hours_and_assured_date_from_verified_at(
    seeded: ProviderStore,
) -> None:
    found = {p.opening_hours: p for p in everyone(seeded)}
    plus8 = "+08:00"
    weekdays = service(found[HOURS[0]], CITY)
    assert [
        (x["freq"], x["byday"], x["opens_at"], x["closes_at"], x["timezone"])
        for x in weekdays["schedules"]
    ] == [("WEEKLY", "MO,TU,WE,TH,FR", "09:00" + plus8, "18:00" + plus8, 8)]
    assert "public holidays closed" in weekdays["schedules"][0]["notes"]
    assert weekdays["schedules"][0]["service_id"] == weekdays["id"]
    overnight = service(found[HOURS[1]], CITY)["schedules"]
    assert [(x["byday"], x["opens_at"], x["closes_at"]) for x in overnight] == [
        ("MO,TU,WE,TH,FR,SA,SU", "20:00" + plus8, "02:00" + plus8)  # closes the next day
    ]
    assert "notes" not in overnight[0]  # says nothing of holidays: the weekday decides
    whole_day = service(found[HOURS[4]], CITY)["schedules"]
    assert [(x["opens_at"], x["closes_at"]) for x in whole_day] == [
        ("00:00" + plus8, "23:59" + plus8)
    ]
    # Hours the parser cannot read: the text alone, never a guessed time.
    unread = service(found[HOURS[2]], CITY)["schedules"]
    assert [set(x) for x in unread] == [{"id", "service_id", "description"}]
    assert unread[0]["description"] == "看心情"
    assert service(found[HOURS[3]], CITY)["schedules"] == []
    at_location = service_at_location(found[HOURS[0]], CITY)
    assert at_location["schedules"][0]["service_at_location_id"] == at_location["id"]
    # Ids are stable: the same provider moved keeps its schedules' ids.
    moved = dataclasses.replace(found[HOURS[0]], lon=found[HOURS[0]].lon + 0.01)
    assert [x["id"] for x in service(moved, CITY)["schedules"]] == [
        x["id"] for x in weekdays["schedules"]
    ]

    dated = [p for p in everyone(seeded) if p.verified_at is not None]
    assert dated and len(dated) < len(everyone(seeded))
    for p in everyone(seeded):
        s = service(p, CITY)
        assert s.get("assured_date") == (None if p.verified_at is None else "2026-11-30")
        assert schema_problems("service", s) == []
        assert schema_problems("service_at_location", service_at_location(p, CITY)) == []

"""OGC API – Features under /ogc, on both stores: documents, pages, filters, CQL2, HTML;
and read by its real client, GDAL's OAPIF driver (through pyogrio's bundled GDAL)."""

from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from jzmap.presentation.presenters import public_properties
from jzmap.settings import Settings
from providers.model import Category, Grade, Kind, Precision, Provider
from providers.store import BBox, Filters
from providers.stores import Backend
from tests.browser import serve_app
from tests.helpers import CANTON_TOWER, company, station

LON, LAT = CANTON_TOWER
BOX = BBox(LON - 0.03, LAT - 0.03, LON + 0.03, LAT + 0.03)
BOX_TEXT = f"{BOX.west},{BOX.south},{BOX.east},{BOX.north}"


def _city(n: int = 90) -> list[Provider]:
    """Providers over twice the box; some inactive, some located only to their district."""
    rng = random.Random(17)
    out: list[Provider] = []
    for i in range(n):
        lon, lat = LON + rng.uniform(-0.06, 0.06), LAT + rng.uniform(-0.06, 0.06)
        fields: dict[str, Any] = {
            "district": ["海珠区", "天河区"][i % 2],
            "certified_practitioners": i % 3,
            "practitioners": 5 + i % 7,
            "active": i % 17 != 5,
            "geocode_precision": Precision.DISTRICT if i % 13 == 0 else Precision.EXACT,
            "categories": rng.sample(list(Category), rng.randint(1, 2)),
        }
        if i % 5 == 0:
            out.append(station(i, lon, lat, **fields))
        else:
            out.append(company(i, lon, lat, grade=list(Grade)[i % 5], **fields))
    return out


# Three in four dated by an import (verified_at), the others never dated.
CITY = [
    dataclasses.replace(
        p, verified_at=date(2026, 11, 30) - timedelta(days=i % 3) if i % 4 else None
    )
    for i, p in enumerate(_city())
]


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    backend.store.upsert(CITY)
    with TestClient(create_app(Settings(), backend=backend)) as c:
        yield c


def expected(filters: Filters, bbox: BBox | None = None) -> list[Provider]:
    return sorted(
        (p for p in CITY if filters.admits(p) and (bbox is None or bbox.contains(p.lon, p.lat))),
        key=lambda p: p.id,
    )


def walk(client: TestClient, url: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every feature of every page, following ``next`` links; checks the page counts."""
    features: list[dict[str, Any]] = []
    r = client.get(url, params=params)
    while True:
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/geo+json")
        body = r.json()
        assert body["numberReturned"] == len(body["features"])
        features.extend(body["features"])
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        if not nxt:
            return features
        r = client.get(nxt[0])


def test_landing_conformance_and_collections(client: TestClient) -> None:
    landing = client.get("/ogc").json()
    rels = {link["rel"]: link["href"] for link in landing["links"]}
    assert {"self", "conformance", "data", "service-desc", "service-doc"} <= set(rels)
    assert rels["data"].startswith("http") and rels["data"].endswith("/ogc/collections")
    conformance = client.get("/ogc/conformance").json()["conformsTo"]
    for part in (
        "features-1/1.0/conf/core",
        "conf/geojson",
        "conf/oas30",
        "cql2/1.0/conf/basic-cql2",
    ):
        assert any(uri.endswith(part) or part in uri for uri in conformance), part
    ids = [c["id"] for c in client.get("/ogc/collections").json()["collections"]]
    assert ids[:3] == ["providers", "stations", "districts"]
    assert {f"coverage-{c.value}" for c in Category} <= set(ids)
    one = client.get("/ogc/collections/providers").json()
    assert one["id"] == "providers" and any(link["rel"] == "items" for link in one["links"])
    r = client.get("/ogc/collections/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found" and "providers" in r.text


@pytest.mark.parametrize(
    ("params", "filters", "bbox"),
    [
        ({}, Filters(), None),
        ({"bbox": BOX_TEXT}, Filters(), BOX),
        ({"category": "nursing", "bbox": BOX_TEXT}, Filters(category=Category.NURSING), BOX),
        ({"min_grade": "3A"}, Filters(min_grade=Grade.A3), None),
        ({"kind": "station"}, Filters(kind=Kind.STATION), None),
        ({"certified_only": "true"}, Filters(certified_only=True), None),
        ({"include_approximate": "true"}, Filters(include_approximate=True), None),
    ],
)
def test_items_pages_hold_exactly_the_stores_public_features(
    client: TestClient, params: dict[str, str], filters: Filters, bbox: BBox | None
) -> None:
    want = expected(filters, bbox)
    assert 0 < len(want) < len(CITY)
    first = client.get("/ogc/collections/providers/items", params={**params, "limit": "7"})
    assert first.json()["numberMatched"] == len(want)
    features = walk(client, "/ogc/collections/providers/items", {**params, "limit": "7"})
    assert [f["id"] for f in features] == [p.id for p in want]
    for feature, p in zip(features, want, strict=True):
        assert feature["geometry"] == {"type": "Point", "coordinates": [p.lon, p.lat]}
        assert feature["properties"] == public_properties(p)


def test_the_stations_collection_holds_stations_only(client: TestClient) -> None:
    features = walk(client, "/ogc/collections/stations/items", {"limit": "4"})
    assert [f["id"] for f in features] == [p.id for p in expected(Filters(kind=Kind.STATION))]
    company_id = expected(Filters(kind=Kind.COMPANY))[0].id
    assert client.get(f"/ogc/collections/stations/items/{company_id}").status_code == 404


_HOURS = ["周一至周五 9:00-18:00", "24小时", "20:00-次日2:00", "", "看情况"]


@pytest.mark.parametrize("collection", ["providers", "stations"])
@pytest.mark.parametrize(
    ("params", "at", "unknown"),
    [
        ({"open_at": "2026-11-30T10:00"}, datetime(2026, 11, 30, 10, 0), False),  # a Monday
        ({"open_at": "2026-11-29T23:30:00+08:00"}, datetime(2026, 11, 29, 23, 30), False),
        (
            {"open_at": "2026-11-29T02:00:00Z", "include_unknown_hours": "true"},
            datetime(2026, 11, 29, 10, 0),  # 02:00 UTC is 10:00 in Guangzhou, a Sunday
            True,
        ),
    ],
)
def test_items_take_the_open_hours_filters_like_the_map_layer(
    backend: Backend,
    collection: str,
    params: dict[str, str],
    at: datetime,
    unknown: bool,
) -> None:
    city = [
        # Every fifth is a station: the index's own fifth keeps their hours mixed too.
        dataclasses.replace(p, opening_hours=_HOURS[(i + i // 5) % len(_HOURS)])
        for i, p in enumerate(CITY)
    ]
    backend.store.upsert(city)
    kind = Kind.STATION if collection == "stations" else None
    filters = Filters(kind=kind, open_at=at, include_unknown_hours=unknown)
    want = sorted((p.id for p in city if filters.admits(p)), key=str)
    everyone = [p for p in city if Filters(kind=kind).admits(p)]
    assert 0 < len(want) < len(everyone)  # the filter leaves some out
    with TestClient(create_app(Settings(), backend=backend)) as client:
        url = f"/ogc/collections/{collection}/items"
        features = walk(client, url, {**params, "limit": "4"})
        assert [f["id"] for f in features] == want
        first = client.get(url, params={**params, "limit": "4"}).json()
        assert first["numberMatched"] == len(want)


def test_a_page_after_a_write_neither_repeats_nor_skips(
    client: TestClient, backend: Backend
) -> None:
    body = client.get("/ogc/collections/providers/items", params={"limit": "10"}).json()
    seen = [f["id"] for f in body["features"]]
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    # One provider of the first page leaves, one arrives before the cursor and one after.
    gone = next(p for p in CITY if p.id == seen[0])
    before, after = company(0, LON, LAT), station(9_000, LON, LAT)
    assert before.id < seen[-1] < after.id
    backend.store.upsert([dataclasses.replace(gone, active=False), before, after])
    rest: list[str] = []
    r = client.get(nxt)
    while True:
        page = r.json()
        rest.extend(f["id"] for f in page["features"])
        links = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if not links:
            break
        r = client.get(links[0])
    assert rest == sorted([p.id for p in expected(Filters()) if p.id > seen[-1]] + [after.id])


def test_one_item_json_and_html(client: TestClient) -> None:
    p = expected(Filters())[3]
    r = client.get(f"/ogc/collections/providers/items/{p.id}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    assert r.json()["properties"] == public_properties(p)
    page = client.get(f"/ogc/collections/providers/items/{p.id}", params={"f": "html"})
    assert page.headers["content-type"].startswith("text/html") and p.name in page.text
    browser = client.get(
        f"/ogc/collections/providers/items/{p.id}", headers={"Accept": "text/html"}
    )
    assert browser.headers["content-type"].startswith("text/html")
    inactive = next(x for x in CITY if not x.active)
    assert client.get(f"/ogc/collections/providers/items/{inactive.id}").status_code == 404


def test_html_escapes_what_a_registry_row_holds(client: TestClient, backend: Backend) -> None:
    hostile = station(7_777, LON, LAT, name='<script>alert("x")</script>', address="a&b")
    backend.store.upsert([hostile])
    for url in (
        f"/ogc/collections/providers/items/{hostile.id}?f=html",
        "/ogc/collections/providers/items?f=html&limit=10000",
    ):
        page = client.get(url).text
        assert "<script>" not in page and "&lt;script&gt;" in page and "a&amp;b" in page


@pytest.mark.parametrize(
    ("cql", "keep"),
    [
        (
            "kind = 'company' AND district = '海珠区'",
            lambda p: p["kind"] == "company" and p["district"] == "海珠区",
        ),
        (
            "practitioners >= 9 OR NOT (district <> '天河区')",
            lambda p: p["practitioners"] >= 9 or p["district"] == "天河区",
        ),
        ("credit_grade IS NULL", lambda p: p["credit_grade"] is None),
        ("name LIKE '%服务站%'", lambda p: "服务站" in p["name"]),
        ("certified_practitioners BETWEEN 1 AND 1", lambda p: p["certified_practitioners"] == 1),
        ("credit_grade IN ('5A', '4A')", lambda p: p["credit_grade"] in ("5A", "4A")),
        ("approximate = false", lambda p: p["approximate"] is False),
    ],
)
def test_cql2_filters_select_what_they_say(client: TestClient, cql: str, keep: Any) -> None:
    want = [p.id for p in expected(Filters()) if keep(public_properties(p))]
    assert want
    features = walk(client, "/ogc/collections/providers/items", {"filter": cql, "limit": "5"})
    assert [f["id"] for f in features] == want


@pytest.mark.parametrize(
    ("cql", "says"),
    [
        ("kind = ", "not CQL2 text"),
        ("phone_private = '1'", "not a queryable"),
        ("extra = 'x'", "not a queryable"),
        ("practitioners = 'many'", "integer property compared"),
        ("S_INTERSECTS(geometry, POINT(113 23))", "not supported"),
        ("name = '" + "x" * 3000 + "'", "longer than"),
    ],
)
def test_bad_filters_are_400_json_with_a_request_id(
    client: TestClient, cql: str, says: str
) -> None:
    r = client.get("/ogc/collections/providers/items", params={"filter": cql})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "invalid_filter" and says in body["message"], body
    assert body["request_id"] and body["details"][0]["parameter"] == "filter"
    assert "Traceback" not in r.text and "lark" not in r.text.lower()


def test_bad_bbox_limit_and_filter_lang(client: TestClient) -> None:
    items = "/ogc/collections/providers/items"
    assert client.get(items, params={"bbox": "1,2,3"}).status_code == 422
    assert client.get(items, params={"bbox": "3,2,1,4"}).status_code == 422
    assert client.get(items, params={"limit": "0"}).status_code == 422
    big = client.get(items, params={"limit": "999999"}).json()
    assert big["numberReturned"] == len(expected(Filters()))  # served as the maximum
    r = client.get(items, params={"filter": "kind = 'x'", "filter-lang": "cql2-json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_filter"


def test_districts_collection_counts_providers(client: TestClient) -> None:
    features = walk(client, "/ogc/collections/districts/items", {"limit": "3"})
    by_name = {f["properties"]["name"]: f["properties"]["providers"] for f in features}
    assert len(features) >= 11 and features[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert by_name["海珠区"] == sum(1 for p in expected(Filters()) if p.district == "海珠区")
    one = client.get(f"/ogc/collections/districts/items/{features[0]['id']}").json()
    assert one["properties"] == features[0]["properties"]


def test_coverage_cells_collection(client: TestClient) -> None:
    body = client.get(
        "/ogc/collections/coverage-nursing/items",
        params={"bbox": BOX_TEXT, "limit": "50", "filter": "gap = false"},
    ).json()
    assert body["numberReturned"] > 0 and body["numberMatched"] >= body["numberReturned"]
    assert all(f["properties"]["gap"] is False for f in body["features"])
    assert all(f["geometry"]["type"] == "Polygon" for f in body["features"])


# -- the client is GDAL ----------------------------------------------------------------------

# GDAL holds the interpreter lock while it fetches pages (pyogrio does not release it), so
# it runs in a child process; the server runs in a thread of this one, on the test's store.
_GDAL_READ = """
import json, sys
import pyogrio

def plain(v):
    if hasattr(v, "tolist"):  # a list property (categories) comes as an array
        return v.tolist()
    return None if isinstance(v, float) and v != v else v  # NaN: a null

url, page_size, bbox = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
frame = pyogrio.read_dataframe(
    "OAPIF:" + url + "/ogc", layer="providers", bbox=tuple(bbox) if bbox else None,
    PAGE_SIZE=page_size,
)
rows = [
    {**{k: plain(v) for k, v in row.items() if k != "geometry"},
     "xy": [row["geometry"].x, row["geometry"].y]}
    for row in frame.to_dict("records")
]
print(json.dumps(rows, ensure_ascii=False, default=str))
"""


def _gdal_rows(url: str, page_size: int, bbox: BBox | None) -> list[dict[str, Any]]:
    box = None if bbox is None else [bbox.west, bbox.south, bbox.east, bbox.north]
    done = subprocess.run(
        [sys.executable, "-c", _GDAL_READ, url, str(page_size), json.dumps(box)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def test_gdal_reads_the_providers_collection_over_pages_and_a_bbox(backend: Backend) -> None:
    backend.store.upsert(CITY)
    with serve_app(create_app(Settings(), backend=backend)) as url:
        # PAGE_SIZE: GDAL's page size, so that it follows several `next` links.
        everything = _gdal_rows(url, 8, None)
        boxed = _gdal_rows(url, 5, BOX)
    for rows, want in ((everything, expected(Filters())), (boxed, expected(Filters(), BOX))):
        assert len(want) > 16
        rows = sorted(rows, key=lambda row: str(row["id"]))
        assert [row["id"] for row in rows] == [p.id for p in want]
        for row, p in zip(rows, want, strict=True):
            props = public_properties(p)
            for name in ("name", "kind", "district", "phone", "address", "geocode_precision"):
                assert row[name] == props[name], name
            assert int(row["practitioners"]) == p.practitioners
            assert int(row["certified_practitioners"]) == p.certified_practitioners
            assert row["credit_grade"] == props["credit_grade"]
            assert row["categories"] == props["categories"]
            assert row["xy"] == pytest.approx([p.lon, p.lat], abs=1e-9)
        # Public fields only: nothing of the record beyond them.
        assert set(rows[0]) - {"xy"} <= set(public_properties(want[0]))


def test_verified_at_is_in_every_public_output(client: TestClient) -> None:
    p = next(x for x in expected(Filters()) if x.verified_at == date(2026, 11, 30))
    never = next(x for x in expected(Filters()) if x.verified_at is None)
    item = client.get(f"/ogc/collections/providers/items/{p.id}").json()
    assert item["properties"]["verified_at"] == "2026-11-30"
    assert client.get(f"/v1/providers/{p.id}").json()["verified_at"] == "2026-11-30"
    assert client.get(f"/v1/providers/{never.id}").json()["verified_at"] is None
    zh = client.get(f"/p/{p.id}").text
    en = client.get(f"/p/{p.id}", params={"lang": "en"}).text
    assert "信息核验于 2026-11-30" in zh and "Record verified on 2026-11-30" in en
    assert "信息核验于" not in client.get(f"/p/{never.id}").text  # never a made-up date
    dated = walk(
        client,
        "/ogc/collections/providers/items",
        {"filter": "verified_at >= '2026-11-29'", "limit": "50"},
    )
    want = [x.id for x in expected(Filters()) if x.verified_at and x.verified_at.day >= 29]
    assert [f["id"] for f in dated] == want

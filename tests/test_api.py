"""The HTTP API over the demo city, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from geo.crs import CRS, from_wgs84
from geo.package_data import REFERENCE_DIR
from jzmap.application.demo import generate_demo
from jzmap.settings import Settings
from providers.model import Category
from providers.stores import Backend
from tests.helpers import CANTON_TOWER, embedded_backend_at, postgis_backend_at

LON, LAT = CANTON_TOWER
NEAREST = "/v1/providers/nearest"


def _fill(backend: Backend) -> Backend:
    backend.store.delete_all()
    for chunk in generate_demo(REFERENCE_DIR):
        backend.store.upsert(chunk)
    return backend


@pytest.fixture(scope="module")
def embedded_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with embedded_backend_at(tmp_path_factory.mktemp("demo")) as backend:
        yield _fill(backend)


@pytest.fixture(scope="module")
def postgis_demo(postgis_migrated: str) -> Iterator[Backend]:
    with postgis_backend_at(postgis_migrated) as backend:
        yield _fill(backend)


def _client(backend: Backend) -> TestClient:
    return TestClient(create_app(Settings(), backend=backend))


@pytest.fixture(scope="module")
def client(embedded_demo: Backend) -> Iterator[TestClient]:
    with _client(embedded_demo) as c:
        yield c


@pytest.mark.parametrize(
    ("params", "parameter", "allowed"),
    [
        ({"lat": 91, "lon": LON}, "lat", "-90 to 90"),
        ({"lat": LAT, "lon": 181}, "lon", "-180 to 180"),
        ({"lat": "nan", "lon": LON}, "lat", "-90 to 90"),
        (
            {"lat": LAT, "lon": LON, "category": "gardening"},
            "category",
            "elderly_care, housekeeping, maternal_infant, nursing",
        ),
        ({"lat": LAT, "lon": LON, "limit": 0}, "limit", "1 to 100"),
        ({"lat": LAT, "lon": LON, "limit": 10_000}, "limit", "1 to 100"),
        ({"lat": LAT, "lon": LON, "radius_m": -5}, "radius_m", "1 to 200000 metres"),
        ({"lat": LAT, "lon": LON, "crs": "utm50n"}, "crs", "wgs84, gcj02, bd09"),
        ({"lat": LAT, "lon": LON, "min_grade": "6A"}, "min_grade", "5A, 4A, 3A, 2A, A"),
        ({"lat": LAT, "lon": LON, "kind": "person"}, "kind", "company, station"),
        ({"lat": LAT, "lon": LON, "sort": "price"}, "sort", "score, distance"),
        ({"lat": LAT, "lon": LON, "w_distance": 0}, "w_distance", "0.1 to 1"),
        ({"lat": LAT, "lon": LON, "f": "xml"}, "f", "json, geojson"),
        ({"lon": LON}, "lat", "-90 to 90"),
    ],
)
def test_bad_input_is_a_422_naming_the_parameter_and_allowed_values(
    client: TestClient, params: dict[str, Any], parameter: str, allowed: str
) -> None:
    r = client.get(NEAREST, params=params)
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_parameter"
    assert [d["parameter"] for d in body["details"]] == [parameter]
    assert (
        body["details"][0]["allowed"].startswith(allowed)
        or allowed in body["details"][0]["allowed"]
    )
    assert parameter in body["message"] and allowed in body["message"]


def test_unknown_provider_is_a_json_404(client: TestClient) -> None:
    r = client.get("/v1/providers/co-NOSUCHCODE")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    assert "co-NOSUCHCODE" in r.json()["message"]


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    r = client.get("/v2/nothing")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


def test_nearest_by_score_explains_itself(client: TestClient) -> None:
    r = client.get(NEAREST, params={"lat": LAT, "lon": LON, "category": "elderly_care"})
    assert r.status_code == 200
    body = r.json()
    assert body["query"]["sort"] == "score"
    assert body["query"]["weights"] == {"distance": 0.6, "grade": 0.3, "certified": 0.1}
    results = body["results"]
    assert len(results) == 10
    assert [m["rank"] for m in results] == list(range(1, 11))
    scores = [m["score"] for m in results]
    assert scores == sorted(scores, reverse=True)
    for m in results:
        assert "elderly_care" in m["categories"]
        parts = m["score_parts"]
        assert set(parts) == {"distance", "grade", "certified"}
        assert sum(p["points"] for p in parts.values()) == pytest.approx(m["score"], abs=1e-5)
        assert m["synthetic"] is True
        # A company's or station's registered business line is public in full (#16).
        assert "****" not in m["phone"]
        assert m["tel"] == "tel:" + "".join(ch for ch in m["phone"] if ch.isdigit())


def test_sort_by_distance_and_weights_override(client: TestClient) -> None:
    params: dict[str, Any] = {"lat": LAT, "lon": LON, "sort": "distance", "limit": 20}
    results = client.get(NEAREST, params=params).json()["results"]
    distances = [m["distance_m"] for m in results]
    assert distances == sorted(distances)
    heavy = client.get(
        NEAREST,
        params={
            "lat": LAT,
            "lon": LON,
            "w_distance": 1,
            "w_grade": 0,
            "w_certified": 0,
            "limit": 20,
        },
    ).json()
    assert heavy["query"]["weights"] == {"distance": 1.0, "grade": 0.0, "certified": 0.0}
    assert [m["id"] for m in heavy["results"]] == [m["id"] for m in results]


def test_filters_reach_the_store(client: TestClient) -> None:
    params: dict[str, Any] = {
        "lat": LAT,
        "lon": LON,
        "min_grade": "4A",
        "certified_only": True,
        "limit": 50,
    }
    results = client.get(NEAREST, params=params).json()["results"]
    assert results
    for m in results:
        assert m["kind"] == "station" or m["credit_grade"] in ("5A", "4A")
        assert m["certified_practitioners"] > 0
    companies = client.get(NEAREST, params={**params, "kind": "company"}).json()["results"]
    assert companies and all(m["kind"] == "company" for m in companies)
    near = client.get(
        NEAREST, params={"lat": LAT, "lon": LON, "radius_m": 1500, "limit": 100}
    ).json()
    assert all(m["distance_m"] <= 1500 for m in near["results"])


def test_approximate_providers_only_when_asked(client: TestClient) -> None:
    def approx(include: bool) -> int:
        results = []
        for lon, lat in [(113.26, 23.13), (113.30, 23.40), (113.60, 23.10), (113.50, 22.90)]:
            params: dict[str, Any] = {
                "lat": lat,
                "lon": lon,
                "limit": 100,
                "include_approximate": include,
            }
            results += client.get(NEAREST, params=params).json()["results"]
        return sum(1 for m in results if m["geocode_precision"] == "district")

    assert approx(False) == 0
    assert approx(True) > 0


def test_crs_applies_to_query_and_answer(client: TestClient) -> None:
    wgs = client.get(NEAREST, params={"lat": LAT, "lon": LON, "sort": "distance"}).json()
    g_lon, g_lat = from_wgs84(LON, LAT, CRS.GCJ02)
    gcj = client.get(
        NEAREST, params={"lat": g_lat, "lon": g_lon, "sort": "distance", "crs": "gcj02"}
    ).json()
    assert gcj["query"]["crs"] == "gcj02"
    assert [m["id"] for m in gcj["results"]] == [m["id"] for m in wgs["results"]]
    for a, b in zip(wgs["results"], gcj["results"], strict=True):
        assert b["distance_m"] == pytest.approx(a["distance_m"], abs=0.02)
        want_lon, want_lat = from_wgs84(a["lon"], a["lat"], CRS.GCJ02)
        assert (b["lon"], b["lat"]) == pytest.approx((want_lon, want_lat), abs=1e-9)
        assert b["crs"] == "gcj02"
    # GCJ-02 sits ~550 m east of WGS-84 in Guangzhou: the answer really moved.
    assert gcj["results"][0]["lon"] - wgs["results"][0]["lon"] == pytest.approx(0.0054, abs=0.0005)


def test_geojson(client: TestClient) -> None:
    r = client.get(NEAREST, params={"lat": LAT, "lon": LON, "f": "geojson", "limit": 3})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 3
    feature = body["features"][0]
    assert feature["geometry"]["type"] == "Point"
    assert "distance_m" in feature["properties"] and "score_parts" in feature["properties"]
    plain = client.get(NEAREST, params={"lat": LAT, "lon": LON, "limit": 3}).json()["results"][0]
    assert feature["geometry"]["coordinates"] == [plain["lon"], plain["lat"]]


def test_provider_by_id_matches_nearest(client: TestClient) -> None:
    hit = client.get(NEAREST, params={"lat": LAT, "lon": LON, "limit": 1}).json()["results"][0]
    one = client.get(f"/v1/providers/{hit['id']}")
    assert one.status_code == 200
    body = one.json()
    for key in ("name", "kind", "lat", "lon", "phone", "credit_grade", "categories"):
        assert body[key] == hit[key]


def test_navigate_links_come_with_a_search_only_when_asked(client: TestClient) -> None:
    """A search's answer is lean by default; ``navigate=true`` adds to each result the
    links ``/v1/providers/{id}`` gives, in the answer's CRS-independent form."""
    params: dict[str, Any] = {"lat": LAT, "lon": LON, "limit": 5, "crs": "gcj02"}
    lean = client.get(NEAREST, params=params).json()["results"]
    full = client.get(NEAREST, params={**params, "navigate": "true"}).json()["results"]
    assert [r["id"] for r in lean] == [r["id"] for r in full]
    assert all(r["navigate"] is None for r in lean)
    for r in full:
        one = client.get(f"/v1/providers/{r['id']}").json()
        assert r["navigate"] == one["navigate"] and set(one["navigate"]) == {
            "amap",
            "baidu",
            "tencent",
        }


def test_health_and_categories(client: TestClient, embedded_demo: Backend) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["store"] == "embedded"
    assert health["providers"] == embedded_demo.store.count() == 531 + 177
    cats = client.get("/v1/categories").json()
    assert [c["id"] for c in cats] == [c.value for c in Category]
    assert cats[0]["label_zh"] == "养老"


def test_both_stores_give_the_same_answers(embedded_demo: Backend, postgis_demo: Backend) -> None:
    points = [(113.3245, 23.1064), (113.2644, 23.1291), (113.45, 23.35), (113.80, 23.55)]
    with _client(embedded_demo) as a, _client(postgis_demo) as b:
        for lon, lat in points:
            for extra in ({}, {"sort": "distance"}, {"category": "nursing", "min_grade": "3A"}):
                params: dict[str, Any] = {"lat": lat, "lon": lon, "limit": 15, **extra}
                ra, rb = a.get(NEAREST, params=params).json(), b.get(NEAREST, params=params).json()
                assert [m["id"] for m in ra["results"]] == [m["id"] for m in rb["results"]]
                for ma, mb in zip(ra["results"], rb["results"], strict=True):
                    assert ma["distance_m"] == pytest.approx(mb["distance_m"], abs=0.01)
        assert b.get("/healthz").json()["store"] == "postgis"


def test_the_nearest_parameters_are_documented_one_by_one(client: TestClient) -> None:
    """The query string is validated as one model; the OpenAPI still lists each parameter
    with its bounds, default and description (what /docs and schemathesis read)."""
    operation = client.get("/openapi.json").json()["paths"][NEAREST]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert {"lat", "lon", "category", "sort", "w_distance", "half_distance_m"} <= set(parameters)
    assert all(p["in"] == "query" for p in parameters.values())
    assert parameters["lat"]["required"] and not parameters["sort"]["required"]
    assert parameters["lat"]["schema"]["maximum"] == 90
    assert parameters["sort"]["schema"]["default"] == "score"
    assert parameters["sort"]["schema"]["enum"] == ["score", "distance"]
    assert parameters["crs"]["description"].startswith("CRS of the query point")
    assert "$ref" not in str(operation["parameters"])

"""The served area: query points far from the city are refused, clearly and cheaply."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient

from api.app import create_app
from geo.boundaries import CityBoundary, ServedArea, load_districts
from geo.crs import CRS, from_wgs84
from jzmap.settings import REFERENCE_DIR, Settings
from providers.model import Grade
from providers.stores import Backend
from tests.helpers import CANTON_TOWER, company

NEAREST = "/v1/providers/nearest"
# East of the city along 23.3 N, where its edge is near 114.0 E.
EAST_LAT = 23.3


@pytest.fixture(scope="module")
def area() -> ServedArea:
    return ServedArea(CityBoundary(load_districts(REFERENCE_DIR)), 50_000.0)


def _client(backend: Backend, **settings: object) -> TestClient:
    backend.store.upsert([company(1, *CANTON_TOWER, grade=Grade.A5)])
    return TestClient(create_app(Settings(**settings), backend=backend))


@pytest.fixture
def client(embedded_backend: Backend) -> Iterator[TestClient]:
    with _client(embedded_backend) as c:
        yield c


def _aeqd_distance_m(city: CityBoundary, lon: float, lat: float) -> float:
    """Another way to the same answer: in an azimuthal equidistant projection centred on
    the point, every distance from the centre is geodesic, and the outline's edges can be
    measured whole."""
    centred = pyproj.Transformer.from_crs(
        "EPSG:4326",
        pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m"),
        always_xy=True,
    )
    edge = shapely.transform(
        shapely.boundary(city.outline),
        lambda xy: np.column_stack(centred.transform(xy[:, 0], xy[:, 1])),
    )
    return float(shapely.distance(edge, shapely.Point(0.0, 0.0)))


def test_distance_to_the_city_is_geodesic_to_its_nearest_edge(area: ServedArea) -> None:
    for lon, lat in [(114.6, EAST_LAT), (113.3, 22.2), (112.5, 24.0), (-170.0, -45.0)]:
        want = _aeqd_distance_m(area.city, lon, lat)
        assert area.distance_to_city_m(lon, lat) == pytest.approx(want, rel=1e-6, abs=0.5)
    assert area.distance_to_city_m(*CANTON_TOWER) == 0.0


def test_points_inside_or_within_the_margin_are_served(area: ServedArea) -> None:
    assert area.distance_beyond_m(*CANTON_TOWER) is None
    for lon in (114.2, 114.4, 114.45):  # about 21, 42 and 47 km east of the city
        assert area.distance_to_city_m(lon, EAST_LAT) < 50_000
        assert area.distance_beyond_m(lon, EAST_LAT) is None
    # Refused far from the line by the coarse outline: never nearer than the exact
    # distance, and within a few hundred metres of it.
    for lon in (114.6, 115.5):
        exact = area.distance_to_city_m(lon, EAST_LAT)
        beyond = area.distance_beyond_m(lon, EAST_LAT)
        assert beyond is not None and 50_000 < exact <= beyond < exact + 500
    # Within the margin of the line (about 50 km), measured exactly both ways.
    assert area.distance_beyond_m(114.48, EAST_LAT) is None
    assert area.distance_beyond_m(114.485, EAST_LAT) == area.distance_to_city_m(114.485, EAST_LAT)


def test_a_far_point_is_a_422_naming_lat_lon_the_distance_and_the_city(
    client: TestClient,
) -> None:
    r = client.get(NEAREST, params={"lat": -45, "lon": -170})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "outside_served_area"
    assert [d["parameter"] for d in body["details"]] == ["lat", "lon"]
    assert "10,733.9 km from 广州市 Guangzhou" in body["message"]
    assert "or within 50 km of it" in body["message"]


def test_the_check_applies_to_the_point_in_its_own_datum(client: TestClient) -> None:
    lon, lat = (float(v) for v in from_wgs84(114.6, EAST_LAT, CRS.GCJ02))
    r = client.get(NEAREST, params={"lat": lat, "lon": lon, "crs": "gcj02"})
    assert r.status_code == 422
    assert f"({lat:g}, {lon:g})" in r.json()["message"]
    near = client.get(NEAREST, params={"lat": EAST_LAT, "lon": 114.4, "sort": "distance"})
    assert near.status_code == 200
    assert [m["id"] for m in near.json()["results"]] == [company(1, *CANTON_TOWER).id]


def test_the_margin_is_a_setting(embedded_backend: Backend) -> None:
    with _client(embedded_backend, max_query_distance_km=10, city_name="Testville") as c:
        r = c.get(NEAREST, params={"lat": EAST_LAT, "lon": 114.4})
        assert r.status_code == 422
        assert "km from Testville" in r.json()["message"]
        assert "in Testville or within 10 km of it" in r.json()["message"]
        assert (
            c.get(NEAREST, params={"lat": CANTON_TOWER[1], "lon": CANTON_TOWER[0]}).status_code
            == 200
        )

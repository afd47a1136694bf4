"""Place suggestions (issue 16, "find by words"): the gazetteer's districts and streets on
the real Guangzhou polygons, AMap through the local fake server, over the real API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box

from api.app import create_app
from geo.boundaries import load_districts
from geo.crs import gcj02_to_wgs84, wgs84_to_gcj02
from geo.geodesy import geodesic_distance_m
from geo.package_data import REFERENCE_DIR
from geo.places import PlaceIndex, PlaceKind, normalise
from jzmap.settings import Settings
from providers.stores import Backend
from tests.fake_amap import FakeAmap, fake_amap
from tests.helpers import embedded_backend_at

# 广州塔 (Canton Tower), WGS-84, and the same point as AMap answers it (GCJ-02).
TOWER = (113.3245, 23.1064)
TOWER_GCJ = wgs84_to_gcj02(*TOWER)


def _streets(path: Path) -> Path:
    """Two street polygons, written as a layer file like an operator's."""
    layer = gpd.GeoDataFrame(
        {"name": ["赤岗街道", "天河南街道"], "district": ["海珠区", "天河区"]},
        geometry=[box(113.32, 23.09, 113.35, 23.11), box(113.31, 23.13, 113.33, 23.14)],
        crs="EPSG:4326",
    )
    out = path / "streets.geojson"
    layer.to_file(out, driver="GeoJSON")
    return out


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with embedded_backend_at(tmp_path_factory.mktemp("places")) as b:
        yield b


@pytest.fixture(scope="module")
def amap() -> Iterator[FakeAmap]:
    with fake_amap() as fake:
        yield fake


@pytest.fixture(scope="module")
def client(
    backend: Backend, amap: FakeAmap, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("places-settings")
    settings = Settings(
        data_dir=tmp,
        streets_layer=_streets(tmp),
        amap_key="test-key",
        amap_url=amap.url,
        amap_timeout_s=1.0,
    )
    with TestClient(create_app(settings, backend=backend)) as c:
        yield c


@pytest.fixture(scope="module")
def offline(backend: Backend) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=Path("/nonexistent")), backend=backend)) as c:
        yield c


def _suggest(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/places/suggest", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_part_of_a_name_finds_the_district_and_its_point_lies_inside() -> None:
    districts = load_districts(REFERENCE_DIR)
    index = PlaceIndex(districts)
    found = index.suggest("海珠")
    assert [p.name for p in found] == ["海珠区"]
    haizhu = districts.loc[districts["name"] == "海珠区"].geometry.iloc[0]
    assert haizhu.contains(gpd.points_from_xy([found[0].lon], [found[0].lat])[0])
    # An address beginning with a district's name finds that district too.
    assert [p.name for p in index.suggest("广州市海珠区阅江西路")] == ["海珠区"]
    assert index.suggest("北京") == []


def test_names_beginning_with_the_text_come_before_names_containing_it() -> None:
    districts = gpd.GeoDataFrame(
        {"name": ["花都区", "番禺区"]},
        geometry=[box(113.1, 23.3, 113.2, 23.4), box(113.3, 22.9, 113.4, 23.0)],
        crs="EPSG:4326",
    )
    streets = gpd.GeoDataFrame(
        {
            "name": ["新华街道", "花山镇", "市桥花城街道"],
            "district": ["花都区", "花都区", "番禺区"],
        },
        geometry=[box(113.2, 23.35, 113.21, 23.36)] * 3,
        crs="EPSG:4326",
    )
    found = PlaceIndex(districts, streets).suggest("花", 10)
    # Beginning with 花: the street (more precise) then the district; then containing it.
    assert [p.name for p in found] == ["花山镇", "花都区", "市桥花城街道"]
    assert [p.kind for p in found] == [PlaceKind.STREET, PlaceKind.DISTRICT, PlaceKind.STREET]
    assert normalise(" 天河路３８５号 ") == "天河路385号"


def test_the_api_answers_streets_and_districts_offline_with_their_source(
    client: TestClient,
) -> None:
    body = _suggest(client, q="赤岗")
    assert body["q"] == "赤岗" and body["crs"] == "wgs84"
    first = body["places"][0]
    assert (first["name"], first["district"], first["kind"], first["source"]) == (
        "赤岗街道",
        "海珠区",
        "street",
        "gazetteer",
    )
    assert 113.32 <= first["lon"] <= 113.35 and 23.09 <= first["lat"] <= 23.11


def test_an_address_is_placed_by_amap_converted_from_gcj02_and_first(
    client: TestClient, amap: FakeAmap
) -> None:
    address = "天河区天河路385号"
    amap.script[address] = [("ok", f"{TOWER_GCJ[0]:.6f},{TOWER_GCJ[1]:.6f}", "门牌号")]
    body = _suggest(client, q=address, limit=3)
    first = body["places"][0]
    assert (first["name"], first["kind"], first["source"]) == (address, "address", "amap")
    # Stored and answered in WGS-84: within a metre of the tower.
    assert geodesic_distance_m(first["lon"], first["lat"], *TOWER) < 1.0
    # The district the text names follows it.
    assert [p["name"] for p in body["places"][1:]] == ["天河区"]
    assert amap.requests[-1]["address"] == address and amap.requests[-1]["key"] == "test-key"
    # Asked in GCJ-02, the point is AMap's own.
    gcj = _suggest(client, q=address, limit=3, crs="gcj02")["places"][0]
    lon, lat = gcj02_to_wgs84(gcj["lon"], gcj["lat"])
    assert geodesic_distance_m(lon, lat, *TOWER) < 1.0


def test_amap_down_leaves_the_offline_places_and_says_so(
    client: TestClient, amap: FakeAmap
) -> None:
    amap.script["天河区停电路"] = [("http", 503)]
    body = _suggest(client, q="天河区停电路")
    assert [p["name"] for p in body["places"]] == ["天河区"]
    assert body["unavailable"] == ["amap"]


def test_one_character_is_not_sent_to_amap(client: TestClient, amap: FakeAmap) -> None:
    asked = len(amap.requests)
    body = _suggest(client, q="天")
    assert [p["name"] for p in body["places"]] == ["天河南街道", "天河区"]
    assert len(amap.requests) == asked


def test_a_larger_limit_is_capped_at_ten(offline: TestClient) -> None:
    body = _suggest(offline, q="区", limit=100)
    # Eleven districts end in 区: ten come back.
    assert len(body["places"]) == 10
    assert all(p["kind"] == "district" for p in body["places"])


def test_without_a_key_amap_is_never_asked(offline: TestClient) -> None:
    body = _suggest(offline, q="天河区天河路385号")
    assert [p["source"] for p in body["places"]] == ["gazetteer"]
    assert body["unavailable"] == []


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"q": ""}, "q"),
        ({"q": "天" * 51}, "q"),
        ({"q": "天河", "limit": 101}, "limit"),
        ({"q": "天河", "limit": 0}, "limit"),
        ({"q": "天河", "crs": "mars"}, "crs"),
    ],
)
def test_the_text_and_the_limit_are_bounded(
    offline: TestClient, params: dict[str, Any], parameter: str
) -> None:
    response = offline.get("/v1/places/suggest", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_parameter"
    assert [d["parameter"] for d in body["details"]] == [parameter]

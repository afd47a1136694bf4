"""Geocoders: the offline gazetteer on real district polygons, AMap against a local fake."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from geo.boundaries import load_districts
from geo.crs import wgs84_to_gcj02
from geo.geocoding import (
    AddressQuery,
    AmapGeocoder,
    GazetteerGeocoder,
    GeocoderChain,
    GeocoderUnavailableError,
)
from geo.geodesy import geodesic_distance_m
from geo.package_data import REFERENCE_DIR
from geo.precision import Precision
from tests.fake_amap import fake_amap

CANTON_TOWER = (113.3245, 23.1064)


@pytest.fixture(scope="module")
def districts() -> gpd.GeoDataFrame:
    return load_districts(REFERENCE_DIR)


def test_gazetteer_district_from_column_or_address(districts: gpd.GeoDataFrame) -> None:
    g = GazetteerGeocoder(districts)
    by_column = g.geocode(AddressQuery(address="阅江西路222号", district="海珠区"))
    by_address = g.geocode(AddressQuery(address="广州市海珠区阅江西路222号"))
    assert by_column == by_address
    assert by_column is not None and by_column.precision is Precision.DISTRICT
    haizhu = districts.loc[districts["name"] == "海珠区"].geometry.iloc[0]
    assert haizhu.contains(gpd.points_from_xy([by_column.lon], [by_column.lat])[0])
    assert g.geocode(AddressQuery(address="北京市朝阳区")) is None


def test_gazetteer_street_when_a_street_layer_is_loaded(districts: gpd.GeoDataFrame) -> None:
    streets = gpd.GeoDataFrame(
        {"name": ["赤岗街道"], "district": ["海珠区"]},
        geometry=[box(113.32, 23.09, 113.35, 23.11)],
        crs="EPSG:4326",
    )
    found = GazetteerGeocoder(districts, streets).geocode(
        AddressQuery(address="海珠区赤岗街道某路1号")
    )
    assert found is not None and found.precision is Precision.STREET
    assert 113.32 <= found.lon <= 113.35 and 23.09 <= found.lat <= 23.11


def _amap(url: str, tmp_path: Path, **kw: object) -> AmapGeocoder:
    options: dict[str, object] = {"retries": 2, "backoff_s": 0.01, "timeout_s": 0.5}
    options.update(kw)
    return AmapGeocoder("test-key", url=url, cache_path=tmp_path / "cache.sqlite", **options)  # type: ignore[arg-type]


def test_amap_answer_is_converted_from_gcj02_and_cached(tmp_path: Path) -> None:
    lon, lat = wgs84_to_gcj02(*CANTON_TOWER)
    with fake_amap() as fake:
        fake.script["海珠区阅江西路222号"] = [("ok", f"{lon:.6f},{lat:.6f}", "门牌号")]
        amap = _amap(fake.url, tmp_path)
        found = amap.geocode(AddressQuery(address="阅江西路222号", district="海珠区"))
        assert found is not None and found.precision is Precision.EXACT
        assert found.geocoder == "amap"
        # AMap gives six decimals (~0.1 m); the conversion back must land on the tower.
        assert float(geodesic_distance_m(found.lon, found.lat, *CANTON_TOWER)) < 1.0
        assert fake.requests[0]["key"] == "test-key" and fake.requests[0]["city"] == "广州市"
        again = _amap(fake.url, tmp_path).geocode(
            AddressQuery(address="阅江西路222号", district="海珠区")
        )
        assert again == found
        assert len(fake.requests) == 1, "the second answer must come from the disk cache"


def test_amap_levels_map_to_precision_and_coarse_is_refused(tmp_path: Path) -> None:
    with fake_amap() as fake:
        fake.script["海珠区新港路"] = [("ok", "113.33,23.10", "道路")]
        fake.script["广州市"] = [("ok", "113.26,23.13", "市")]
        amap = _amap(fake.url, tmp_path)
        road = amap.geocode(AddressQuery(address="海珠区新港路"))
        assert road is not None and road.precision is Precision.STREET
        assert amap.geocode(AddressQuery(address="广州市")) is None


def test_amap_retries_server_errors_rate_limits_and_garbage(tmp_path: Path) -> None:
    with fake_amap() as fake:
        fake.script["a"] = [
            ("http", 502),
            ("status0", "CUQPS_HAS_EXCEEDED_THE_LIMIT"),
            ("ok", "113.3,23.1", "门牌号"),
        ]
        fake.script["b"] = [("garbage",)]
        amap = _amap(fake.url, tmp_path)
        found = amap.geocode(AddressQuery(address="a"))
        assert found is not None and len(fake.requests) == 3
        with pytest.raises(GeocoderUnavailableError, match="unreadable answer"):
            amap.geocode(AddressQuery(address="b"))
        assert len(fake.requests) == 3 + 3  # first try and two retries


def test_amap_timeout_is_bounded_and_reported(tmp_path: Path) -> None:
    with fake_amap() as fake:
        fake.script["slow"] = [("sleep", 1.0)]
        amap = _amap(fake.url, tmp_path, retries=1, timeout_s=0.2)
        with pytest.raises(GeocoderUnavailableError, match="no answer"):
            amap.geocode(AddressQuery(address="slow"))


def test_a_refused_key_stops_the_geocoder_for_the_run(tmp_path: Path) -> None:
    with fake_amap() as fake:
        fake.script["x"] = [("status0", "INVALID_USER_KEY")]
        amap = _amap(fake.url, tmp_path)
        with pytest.raises(GeocoderUnavailableError, match="INVALID_USER_KEY"):
            amap.geocode(AddressQuery(address="x"))
        with pytest.raises(GeocoderUnavailableError, match="geocoding stopped"):
            amap.geocode(AddressQuery(address="y"))
        assert len(fake.requests) == 1


def test_chain_keeps_the_most_precise_and_reports_failures(
    districts: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    with fake_amap() as fake:
        fake.script["海珠区阅江西路222号"] = [("ok", "113.33,23.10", "门牌号")]
        chain = GeocoderChain([GazetteerGeocoder(districts), _amap(fake.url, tmp_path)])
        found, failures = chain.geocode(AddressQuery(address="阅江西路222号", district="海珠区"))
        assert found is not None and found.geocoder == "amap" and failures == []
        fake.script["海珠区某处"] = [("http", 500)]
        found, failures = chain.geocode(AddressQuery(address="某处", district="海珠区"))
        assert found is not None and found.precision is Precision.DISTRICT
        assert found.geocoder == "gazetteer" and "HTTP 500" in failures[0]

"""Proposed sites get an address (issue 18), and /v1/coverage/candidates an exclusion list.

AMap is :mod:`tests.fake_amap`, a real HTTP server on this machine; the walking network is
the river of :mod:`tests.osm_fixtures` (streets 西岸路 and 东岸路), so the fallback names a
real way. Nothing is patched.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from geo.crs import wgs84_to_gcj02
from geo.geocoding import AmapReverseGeocoder, GeocoderUnavailableError
from jzmap.application.coverage import site_addresses
from jzmap.settings import Settings
from tests.fake_amap import FakeAmap, fake_amap
from tests.helpers import embedded_backend_at, station
from tests.osm_fixtures import lonlat, river_with_one_bridge

pytestmark = pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning")

HERE = lonlat(700, -300)  # on 东岸路
FOUND = "广东省广州市海珠区示例街道东岸路8号"


@pytest.fixture
def amap() -> Iterator[FakeAmap]:
    with fake_amap() as fake:
        yield fake


def _reverse(fake: FakeAmap, cache: Path | None = None, **kw: Any) -> AmapReverseGeocoder:
    return AmapReverseGeocoder(
        "test-key", url=fake.regeo_url, cache_path=cache, backoff_s=0.01, **kw
    )


# -- the reverse geocoder -------------------------------------------------------------------


def test_an_address_is_asked_in_gcj02_and_cached(amap: FakeAmap, tmp_path: Path) -> None:
    amap.regeo = [("ok", FOUND)]
    geocoder = _reverse(amap, tmp_path / "cache.sqlite")
    found = geocoder.reverse(*HERE)
    assert found is not None
    assert (found.address, found.township, found.street, found.number) == (
        FOUND, "示例街道", "示例路", "8号",
    )  # fmt: skip
    sent = amap.regeo_requests[0]
    assert sent["key"] == "test-key" and sent["output"] == "JSON"
    lon, lat = (float(v) for v in sent["location"].split(","))
    assert (lon, lat) == pytest.approx(wgs84_to_gcj02(*HERE), abs=1e-6)
    # A new geocoder on the same file (the next process) asks nothing.
    again = _reverse(amap, tmp_path / "cache.sqlite").reverse(*HERE)
    assert again == found and len(amap.regeo_requests) == 1


def test_no_address_at_a_point_is_none(amap: FakeAmap) -> None:
    amap.regeo = [("empty",)]
    assert _reverse(amap).reverse(*HERE) is None


def test_a_refused_key_stops_the_geocoder_for_a_while(amap: FakeAmap) -> None:
    amap.regeo = [("status0", "INVALID_USER_KEY")]
    geocoder = _reverse(amap, stop_for_s=60.0)
    with pytest.raises(GeocoderUnavailableError, match="INVALID_USER_KEY"):
        geocoder.reverse(*HERE)
    with pytest.raises(GeocoderUnavailableError, match="stopped"):
        geocoder.reverse(*HERE)
    assert len(amap.regeo_requests) == 1  # stopped: not asked again


def test_a_refused_key_is_asked_again_after_the_pause(amap: FakeAmap) -> None:
    amap.regeo = [("status0", "DAILY_QUERY_OVER_LIMIT"), ("ok", FOUND)]
    geocoder = _reverse(amap, stop_for_s=0.0)
    with pytest.raises(GeocoderUnavailableError):
        geocoder.reverse(*HERE)
    found = geocoder.reverse(*HERE)
    assert found is not None and found.address == FOUND


def test_a_rate_limit_and_a_5xx_are_retried(amap: FakeAmap) -> None:
    amap.regeo = [("status0", "CUQPS_HAS_EXCEEDED_THE_LIMIT"), ("http", 502), ("ok", FOUND)]
    found = _reverse(amap, retries=2).reverse(*HERE)
    assert found is not None and len(amap.regeo_requests) == 3


def test_a_slow_amap_times_out(amap: FakeAmap) -> None:
    amap.regeo = [("sleep", 2.0)]
    with pytest.raises(GeocoderUnavailableError, match="no answer"):
        _reverse(amap, timeout_s=0.2, retries=0).reverse(*HERE)


def test_a_passed_deadline_asks_nothing(amap: FakeAmap) -> None:
    amap.regeo = [("ok", FOUND)]
    with pytest.raises(GeocoderUnavailableError, match="out of time"):
        _reverse(amap).reverse(*HERE, deadline_s=time.monotonic() - 1.0)
    assert amap.regeo_requests == []


# -- the fallbacks --------------------------------------------------------------------------


def _ways(lon: Any, lat: Any) -> list[str | None]:
    return ["东岸路"] * len(lon)


def test_a_failing_geocoder_is_asked_once_then_the_nearest_way_names_the_sites(
    amap: FakeAmap,
) -> None:
    amap.regeo = [("sleep", 2.0)]
    points = [lonlat(700, n) for n in (-300, 0, 300)]
    table = site_addresses(
        [p[0] for p in points], [p[1] for p in points],
        reverse=_reverse(amap, timeout_s=0.2, retries=0), street_of=_ways,
    )  # fmt: skip
    assert table["address"].tolist() == ["东岸路附近"] * 3
    assert table["address_source"].tolist() == ["nearest_way"] * 3
    assert all("no answer" in str(n) for n in table["address_note"])
    assert len(amap.regeo_requests) == 1  # one dead geocoder costs one timeout


def test_without_a_network_a_failure_leaves_no_address_and_says_why(amap: FakeAmap) -> None:
    amap.regeo = [("status0", "CUQPS_HAS_EXCEEDED_THE_LIMIT")]
    table = site_addresses([HERE[0]], [HERE[1]], reverse=_reverse(amap, retries=0))
    row = table.iloc[0]
    assert row["address"] is None and row["address_source"] == "none"
    assert "rate limit" in row["address_note"]


def test_lookups_stop_at_the_cap_and_the_deadline(amap: FakeAmap) -> None:
    amap.regeo = [("ok", FOUND)]
    capped = site_addresses([HERE[0]] * 3, [HERE[1]] * 3, reverse=_reverse(amap), max_lookups=2)
    assert capped["address_source"].tolist() == ["amap", "amap", "none"]
    assert "at most 2" in capped["address_note"].iloc[2]
    late = site_addresses(
        [HERE[0]], [HERE[1]], reverse=_reverse(amap), deadline_s=time.monotonic() - 1.0
    )
    assert late["address_source"].tolist() == ["none"]
    assert "time ran out" in late["address_note"].iloc[0]
    assert len(amap.regeo_requests) == 2


# -- the API --------------------------------------------------------------------------------

CANDIDATES = "/v1/coverage/candidates"
SITES = "/v1/coverage/sites"
ASK: dict[str, str | int] = {"category": "elderly_care", "district": "440105", "res": 9}


@pytest.fixture(scope="module")
def river(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, FakeAmap]]:
    root = tmp_path_factory.mktemp("addresses")
    source = river_with_one_bridge().write(root / "river.osm")
    rooms = root / "rooms.csv"
    pd.DataFrame(
        [
            {"id": "r2", "name": "东岸社区用房", "lon": lonlat(700, -300)[0],
             "lat": lonlat(700, -300)[1], "address": "东岸路8号"},
            {"id": "r3", "name": "桥头社区用房", "lon": lonlat(700, 900)[0],
             "lat": lonlat(700, 900)[1], "address": None},
        ]
    ).to_csv(rooms, index=False)  # fmt: skip
    with fake_amap() as amap, embedded_backend_at(root / "data") as backend:
        backend.store.upsert([station(1, *lonlat(0, 0))])
        settings = Settings(
            data_dir=root / "data", street_network=source, candidate_sites=rooms,
            database_url=None, amap_key="test-key", amap_regeo_url=amap.regeo_url,
            amap_retries=0, amap_timeout_s=0.3,
            # The first walk analysis of 海珠区 at res 9 may queue behind other work.
            request_timeout_s=300,
        )  # fmt: skip
        with TestClient(create_app(settings, backend=backend)) as client:
            yield client, amap


def test_proposed_cells_get_amap_addresses(river: tuple[TestClient, FakeAmap]) -> None:
    client, amap = river
    amap.regeo = [("ok", FOUND)]
    body = client.get(CANDIDATES, params={**ASK, "k": 2}).json()
    assert body["sites"] and body["excluded"] == []
    for site in body["sites"]:
        assert (site["address"], site["address_source"], site["address_note"]) == (
            FOUND, "amap", None,
        )  # fmt: skip


def test_when_amap_fails_the_walking_network_names_the_way(
    river: tuple[TestClient, FakeAmap],
) -> None:
    client, amap = river
    amap.regeo = [("ok", FOUND)]
    seen = [s["cell"] for s in client.get(CANDIDATES, params={**ASK, "k": 2}).json()["sites"]]
    # Cells not proposed before: their addresses are not in the cache.
    amap.regeo = [("sleep", 2.0)]
    asked = len(amap.regeo_requests)
    body = client.get(CANDIDATES, params={**ASK, "k": 2, "exclude": ",".join(seen)}).json()
    sources = {s["address_source"] for s in body["sites"]}
    assert sources <= {"nearest_way", "none"} and "nearest_way" in sources
    named = [s["address"] for s in body["sites"] if s["address_source"] == "nearest_way"]
    assert set(named) <= {"东岸路附近", "西岸路附近", "人行桥附近", "快速路附近"}
    assert all("no answer" in s["address_note"] for s in body["sites"])
    assert len(amap.regeo_requests) - asked <= 1  # one dead geocoder, one timeout


def test_excluded_cells_are_never_proposed_and_are_echoed(
    river: tuple[TestClient, FakeAmap],
) -> None:
    client, amap = river
    amap.regeo = [("ok", FOUND)]
    first = client.get(CANDIDATES, params={**ASK, "k": 1}).json()
    best = first["sites"][0]["cell"]
    body = client.get(CANDIDATES, params={**ASK, "k": 1, "exclude": best.upper()}).json()
    assert body["excluded"] == [best]
    assert body["sites"] and body["sites"][0]["cell"] != best
    assert body["plan"]["candidates"] == first["plan"]["candidates"] - 1
    # The res-8 cell holding it excludes its seven res-9 cells.
    parent = h3.cell_to_parent(best, 8)
    wider = client.get(CANDIDATES, params={**ASK, "k": 3, "exclude": parent}).json()
    assert all(h3.cell_to_parent(s["cell"], 8) != parent for s in wider["sites"])


@pytest.mark.parametrize(
    ("exclude", "named"),
    [
        ("8931aa4c967ffff,天河", "天河"),
        (",".join(["8931aa4c967ffff"] * 1 + [f"x{i}" for i in range(200)]), "201 items"),
        (h3.latlng_to_cell(23.1, 113.3, 5), "resolution 5"),
    ],
)
def test_bad_exclusions_are_422_naming_them(
    river: tuple[TestClient, FakeAmap], exclude: str, named: str
) -> None:
    client, _ = river
    answer = client.get(CANDIDATES, params={**ASK, "k": 1, "exclude": exclude})
    assert answer.status_code == 422
    error = answer.json()
    assert named in error["message"] and error["details"][0]["parameter"] == "exclude"
    assert "request_id" in error or "x-request-id" in answer.headers


def test_rooms_without_an_address_get_one(river: tuple[TestClient, FakeAmap]) -> None:
    client, amap = river
    amap.regeo = [("ok", FOUND)]
    body = client.get(SITES, params={**ASK, "k": 2, "exclude": "r9"}).json()
    by_id = {s["id"]: s for s in body["sites"]}
    assert body["excluded"] == ["r9"]
    assert (by_id["r2"]["address"], by_id["r2"]["address_source"]) == ("东岸路8号", "file")
    assert (by_id["r3"]["address"], by_id["r3"]["address_source"]) == (FOUND, "amap")


def test_the_workbook_site_sheet_has_the_addresses(river: tuple[TestClient, FakeAmap]) -> None:
    client, amap = river
    amap.regeo = [("ok", FOUND)]
    params = {k: v for k, v in ASK.items() if k != "res"} | {"k": 1, "f": "xlsx"}
    answer = client.get("/v1/coverage/workbook", params={**params, "res": 9})
    assert answer.status_code == 200, answer.text
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content))["建议站点"]
    rows = list(sheet.iter_rows(values_only=True))
    head = list(rows[0])
    assert head[-3:] == ["地址", "地址来源", "地址说明"]
    # The source in words, as the workbench says it; no note when AMap answered.
    assert rows[1][-3:] == (FOUND, "高德逆地理编码", None)


def test_the_workbook_of_her_rooms_is_the_sites_answer(
    river: tuple[TestClient, FakeAmap], tmp_path: Path
) -> None:
    """With her rooms configured the workbench plans among them (/v1/coverage/sites): its
    export (sites=rooms) lists the same rooms, in the same order, with the same figures."""
    client, amap = river
    amap.regeo = [("ok", FOUND)]
    ask = {**ASK, "k": 2, "mode": "walk", "minutes": 15, "speed": "adult"}
    page = client.get(SITES, params=ask).json()
    assert "r2" in {s["id"] for s in page["sites"]}  # the room with its file's address
    answer = client.get("/v1/coverage/workbook", params={**ask, "sites": "rooms", "f": "xlsx"})
    assert answer.status_code == 200, answer.text
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    rows = list(book["建议站点"].iter_rows(values_only=True))
    head = [str(h) for h in rows[0]]
    column = {h: i for i, h in enumerate(head)}
    assert {"编号", "名称", "地址", "地址来源", "纬度 WGS-84", "经度 WGS-84", "容量（人）"} <= set(
        head
    )
    assert [r[column["编号"]] for r in rows[1:]] == [s["id"] for s in page["sites"]]
    words = {"file": "文件", "amap": "高德逆地理编码", "nearest_way": "最近道路", "none": "无"}
    for row, site in zip(rows[1:], page["sites"], strict=True):
        assert row[column["地址"]] == site["address"]
        assert row[column["地址来源"]] == words[site["address_source"]]
        assert row[column["依次新增可达"]] == round(site["demand_added"])
        assert row[column["纬度 WGS-84"]] == pytest.approx(site["lat"], abs=1e-6)
    by_id = {r[column["编号"]]: r for r in rows[1:]}
    assert by_id["r2"][column["地址来源"]] == "文件"
    notes = {str(k): v for k, v in book["说明"].iter_rows(values_only=True)}
    assert "候选用房" in str(notes["候选站点"]) and notes["网格"] == "H3 r9"
    assert notes["距离"] == "步行距离"
    # In English, and as a GeoPackage layer with every column.
    english = client.get(
        "/v1/coverage/workbook", params={**ask, "sites": "rooms", "f": "xlsx", "lang": "en"}
    )
    sheet = openpyxl.load_workbook(io.BytesIO(english.content))["sites"]
    en_rows = list(sheet.iter_rows(values_only=True))
    en_column = [str(h) for h in en_rows[0]].index("address from")
    assert "candidates file" in [r[en_column] for r in en_rows[1:]]
    gpkg = client.get("/v1/coverage/workbook", params={**ask, "sites": "rooms", "f": "gpkg"})
    assert gpkg.status_code == 200, gpkg.text
    path = tmp_path / "rooms.gpkg"
    path.write_bytes(gpkg.content)
    layer = gpd.read_file(path, layer="sites")
    assert layer["id"].tolist() == [s["id"] for s in page["sites"]]
    assert layer["address_source"].tolist() == [s["address_source"] for s in page["sites"]]

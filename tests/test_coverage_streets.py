"""Streets in the coverage analysis and on the map: ``/v1/coverage/streets``, the workbook
exports read back (openpyxl, GDAL), the street and community levels of ``/v1/map/layer``
on both stores (the streets CLI is tested in test_coverage_cli.py)."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import openpyxl
import pyogrio
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from gaps.grid import locate_points
from gaps.streets import read_streets_layer
from geo.package_data import REFERENCE_DIR
from jzmap.application.demo import generate_demo
from jzmap.settings import Settings
from maps.coverage_exports import SITE_FIELDS, STREET_FIELDS, rounded
from maps.i18n import Lang
from providers.model import Kind, Provider
from providers.store import BBox, Filters
from providers.stores import Backend
from tests.helpers import embedded_backend_at

pytestmark = pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning")

DATA = Path(__file__).parent / "data"
TEST_STREETS = DATA / "streets-test.geojson"
TEST_COMMUNITIES = DATA / "communities-test.geojson"
TIANHE = "天河区"
ELDERLY: dict[str, Any] = {
    "category": "elderly_care",
    "district": TIANHE,
    "minutes": 10,
    "speed": "elderly",
}


def _settings(**overrides: Any) -> Settings:
    # A shared CI machine: the first analysis of a layer may take longer than the default.
    return Settings(data_dir=Path("/nonexistent"), request_timeout_s=300, **overrides)


@pytest.fixture(scope="module")
def demo_providers() -> list[Provider]:
    return [p for chunk in generate_demo(REFERENCE_DIR) for p in chunk]


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory, demo_providers: list[Provider]
) -> Iterator[Backend]:
    with embedded_backend_at(tmp_path_factory.mktemp("streets-demo")) as backend:
        backend.store.upsert(demo_providers)
        yield backend


@pytest.fixture(scope="module")
def client(demo: Backend) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(), backend=demo)) as c:
        yield c


@pytest.fixture(scope="module")
def layered(demo: Backend) -> Iterator[TestClient]:
    settings = _settings(streets_layer=TEST_STREETS, communities_layer=TEST_COMMUNITIES)
    with TestClient(create_app(settings, backend=demo)) as c:
        yield c


def _get(client: TestClient, path: str, params: dict[str, Any]) -> Any:
    answer = client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_street_rows_add_up_to_the_district_row(client: TestClient) -> None:
    body = _get(client, "/v1/coverage/streets", ELDERLY)
    district = _get(
        client,
        "/v1/coverage/districts",
        {"category": "elderly_care", "minutes": 10, "speed": "elderly"},
    )
    row = next(d for d in district["districts"] if d["district"] == TIANHE)
    streets = body["streets"]
    assert body["query"]["catchment_m"] == 480.0  # 10 minutes at 0.8 m/s, crow-fly
    assert body["life_circles_m"] == {"5min": 240.0, "10min": 480.0, "15min": 720.0}
    assert "均匀分配 / uniform" in body["query"]["demand_source"]
    assert "aged_60_plus: city-wide share 11.41%" in body["query"]["demand_source"]
    assert "60 岁及以上：全市比例 11.41%" in body["query"]["demand_source_zh"]
    assert sum(s["demand"] for s in streets) == pytest.approx(row["residents"])
    assert sum(s["residents_covered"] for s in streets) == pytest.approx(row["residents_covered"])
    assert sum(s["residents_in_gaps"] for s in streets) == pytest.approx(row["residents_in_gaps"])
    assert sum(s["cells"] for s in streets) == row["cells"]
    assert sum(s["providers"] for s in streets) == row["providers"]
    for s in streets:
        # The 10-minute circle is the catchment here; the circles nest.
        assert s["within_10min"] == pytest.approx(s["residents_covered"])
        assert s["within_5min"] <= s["within_10min"] <= s["within_15min"] <= s["demand"] + 1e-6
        # No street polygons: every street is inferred from the providers' addresses. Elderly
        # care's demand is the 60+ (the shipped table's city-wide share, said in the source).
        assert s["street_inferred"] is True
        assert s["residents_60plus"] == pytest.approx(s["demand"])
    named = [s for s in streets if s["street"]]
    assert len(named) >= 10
    official = {"五山街道": "440106001", "元岗街道": "440106015"}
    for s in named:
        if s["street"] in official:
            assert s["street_code"] == official[s["street"]]


def test_street_polygons_name_the_cells_inside_them(layered: TestClient) -> None:
    body = _get(layered, "/v1/coverage/streets", ELDERLY)
    by_name = {s["street"]: s for s in body["streets"]}
    layer = read_streets_layer(TEST_STREETS)
    for name, code in zip(layer["name"], layer["code"], strict=True):
        assert by_name[name]["street_code"] == code
        assert by_name[name]["street_inferred"] is False
    cells = _get(layered, "/v1/coverage/cells", {**ELDERLY})
    for f in cells["features"]:
        lat, lon = h3.cell_to_latlng(f["properties"]["cell"])
        row = int(locate_points(layer, [lon], [lat])[0])
        if row >= 0:
            assert f["properties"]["street"] == layer["name"].iloc[row]
        else:  # outside the hand-made polygons: inferred, never one of theirs
            assert f["properties"]["street"] not in set(layer["name"])


def test_sites_carry_their_cell_s_street(layered: TestClient) -> None:
    plan = _get(layered, "/v1/coverage/candidates", {**ELDERLY, "k": 5})
    cells = _get(layered, "/v1/coverage/cells", ELDERLY)
    street_of = {f["properties"]["cell"]: f["properties"]["street"] for f in cells["features"]}
    assert plan["sites"]
    for site in plan["sites"]:
        assert site["street"] == street_of[site["cell"]] and site["street"]
    inferred = [s["street_inferred"] for s in plan["sites"]]
    assert all(isinstance(v, bool) for v in inferred)


def test_the_kind_filter_counts_one_kind_of_supply(
    client: TestClient, demo_providers: list[Provider]
) -> None:
    every = _get(client, "/v1/coverage/streets", ELDERLY)["streets"]
    stations = _get(client, "/v1/coverage/streets", {**ELDERLY, "kind": "station"})["streets"]
    assert sum(s["providers"] for s in stations) < sum(s["providers"] for s in every)
    assert (
        _get(client, "/v1/coverage/streets", {**ELDERLY, "kind": "station"})["query"]["kind"]
        == "station"
    )
    assert any(p.kind is Kind.STATION for p in demo_providers)


def test_the_excel_workbook_reads_back_as_the_api_answers(client: TestClient) -> None:
    answer = client.get("/v1/coverage/workbook", params={**ELDERLY, "k": 3, "f": "xlsx"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["街道", "建议站点", "说明"]
    rows = list(book["街道"].iter_rows(values_only=True))
    assert list(rows[0]) == [zh for _, zh, _, _ in STREET_FIELDS]
    streets = _get(client, "/v1/coverage/streets", ELDERLY)["streets"]
    assert len(rows) - 1 == len(streets)
    for got, want in zip(rows[1:], streets, strict=True):
        assert list(got) == [rounded(want.get(k), how, Lang.ZH) for k, _, _, how in STREET_FIELDS]
        # Whole persons: no raw floats in the file.
        assert isinstance(got[5], int)
    sites = list(book["建议站点"].iter_rows(values_only=True))
    plan = _get(client, "/v1/coverage/candidates", {**ELDERLY, "k": 3})
    assert list(sites[0]) == [zh for _, zh, _, _ in SITE_FIELDS]
    assert [r[0] for r in sites[1:]] == [s["rank"] for s in plan["sites"]]
    column = {key: i for i, (key, _, _, _) in enumerate(SITE_FIELDS)}
    assert [r[column["cell"]] for r in sites[1:]] == [s["cell"] for s in plan["sites"]]
    # No geocoder and no walking network here: no address, and the sheet says so.
    assert [r[column["address_source"]] for r in sites[1:]] == ["无"] * len(plan["sites"])
    assert [r[column["address_note"]] for r in sites[1:]] == [
        s["address_note"] for s in plan["sites"]
    ]
    assert [r[7] for r in sites[1:]] == [round(s["residents_added"]) for s in plan["sites"]]
    notes = {str(k): v for k, v in book["说明"].iter_rows(values_only=True)}
    assert notes["区"] == TIANHE and "均匀分配" in str(notes["居民分布"])


def test_the_geopackage_reads_back_with_gdal(layered: TestClient, tmp_path: Path) -> None:
    answer = layered.get("/v1/coverage/workbook", params={**ELDERLY, "k": 3, "f": "gpkg"})
    assert answer.status_code == 200, answer.text
    path = tmp_path / "w.gpkg"
    path.write_bytes(answer.content)
    assert {name for name, _ in pyogrio.list_layers(path)} == {"streets", "sites", "cells"}
    streets = gpd.read_file(path, layer="streets")
    api = _get(layered, "/v1/coverage/streets", ELDERLY)["streets"]
    assert sorted(map(str, streets["street"])) == sorted(str(s["street"]) for s in api)
    polygons = streets.loc[streets["street"].isin(["试验一街道", "试验二街道"])]
    assert set(polygons.geom_type) == {"Polygon"}, "streets with polygons are drawn on them"
    sites = gpd.read_file(path, layer="sites")
    plan = _get(layered, "/v1/coverage/candidates", {**ELDERLY, "k": 3})
    assert sites["cell"].tolist() == [s["cell"] for s in plan["sites"]]
    # The API's coordinates are rounded to 6 decimals (~0.1 m); the file's are not.
    assert sites.geometry.x.tolist() == pytest.approx([s["lon"] for s in plan["sites"]], abs=1e-6)
    cells = gpd.read_file(path, layer="cells")
    assert len(cells) == _get(layered, "/v1/coverage/cells", ELDERLY)["cells"]


def test_a_plan_says_which_residents_it_counted(client: TestClient) -> None:
    """Elderly care counts the 60+ where the districts table has them (the shipped one
    does): the plan's residents are theirs, and its label says so, as /v1/coverage/sites'
    does; nursing counts everyone."""
    elderly = _get(client, "/v1/coverage/candidates", {**ELDERLY, "k": 2, "res": 9})
    assert elderly["plan"]["demand"] == "aged_60_plus" == elderly["query"]["demand"]
    streets = _get(client, "/v1/coverage/streets", {**ELDERLY, "res": 9})["streets"]
    assert elderly["plan"]["residents"] == pytest.approx(
        sum(s["residents_60plus"] for s in streets)
    )
    nursing = _get(client, "/v1/coverage/candidates", {**ELDERLY, "category": "nursing", "k": 2})
    assert nursing["plan"]["demand"] == "residents"
    every = _get(client, "/v1/coverage/districts", {})
    assert every["query"]["demand"] is None


def test_the_workbook_holds_the_page_s_grid_and_exclusions(client: TestClient) -> None:
    """The workbench asks at res 9 and may leave cells out: its export is the same plan."""
    ask = {**ELDERLY, "k": 3, "res": 9}
    first = _get(client, "/v1/coverage/candidates", ask)
    left_out = first["sites"][0]["cell"]
    plan = _get(client, "/v1/coverage/candidates", {**ask, "exclude": left_out})
    answer = client.get(
        "/v1/coverage/workbook", params={**ask, "exclude": left_out, "f": "xlsx", "sites": "cells"}
    )
    assert answer.status_code == 200, answer.text
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    rows = list(book["建议站点"].iter_rows(values_only=True))
    column = {key: i for i, (key, _, _, _) in enumerate(SITE_FIELDS)}
    cells = [r[column["cell"]] for r in rows[1:]]
    assert cells == [s["cell"] for s in plan["sites"]] and left_out not in cells
    assert all(h3.get_resolution(c) == 9 for c in cells)
    notes = {str(k): v for k, v in book["说明"].iter_rows(values_only=True)}
    assert notes["网格"] == "H3 r9" and str(notes["服务对象"]).startswith("60 岁及以上居民")


def test_a_workbook_of_rooms_needs_rooms(client: TestClient) -> None:
    answer = client.get("/v1/coverage/workbook", params={**ELDERLY, "sites": "rooms", "f": "xlsx"})
    assert answer.status_code == 409, answer.text
    assert "JZMAP_CANDIDATE_SITES" in answer.json()["message"]


def test_a_workbook_needs_a_district(client: TestClient) -> None:
    answer = client.get("/v1/coverage/workbook", params={"category": "nursing"})
    assert answer.status_code == 422 and "district" in answer.json()["message"]


# ---- the map's street and community levels, on both stores ------------------------------


CITY_BOX = "112.9,22.5,114.1,23.95"


def test_the_street_level_counts_every_provider_by_its_street(
    backend: Backend, demo_providers: list[Provider]
) -> None:
    backend.store.upsert(demo_providers)
    with TestClient(create_app(_settings(), backend=backend)) as c:
        body = _get(c, "/v1/map/layer", {"bbox": CITY_BOX, "zoom": 11, "level": "street"})
    # The same providers the district level counts (the default filters: located ones).
    shown = backend.store.within(BBox(-180, -90, 180, 90), Filters(), 10_000)
    want = Counter(p.street for p in shown)
    assert 0 < len(shown) < len(demo_providers)
    assert body["mode"] == "streets"
    assert body["total"] == sum(want.values())
    got = {f["properties"]["name"]: f["properties"]["count"] for f in body["features"]}
    assert got == {name: n for name, n in want.items() if name}
    # No street polygons: each street at the mean position of its providers.
    assert {f["geometry"]["type"] for f in body["features"]} == {"Point"}


def test_the_street_level_draws_the_polygons_and_filters(
    backend: Backend, demo_providers: list[Provider]
) -> None:
    backend.store.upsert(demo_providers)
    settings = _settings(streets_layer=TEST_STREETS)
    with TestClient(create_app(settings, backend=backend)) as c:
        body = _get(
            c,
            "/v1/map/layer",
            {"bbox": "113.29,23.09,113.39,23.18", "zoom": 12, "level": "street", "kind": "station"},
        )
    assert [f["properties"]["name"] for f in body["features"]] == [
        "试验一街道",
        "试验二街道",
        "试验三街道",
    ]
    assert {f["geometry"]["type"] for f in body["features"]} == {"Polygon"}
    stations = backend.store.within(BBox(-180, -90, 180, 90), Filters(kind=Kind.STATION), 10_000)
    assert body["total"] == len(stations) and all(p.kind is Kind.STATION for p in stations)


def test_the_community_level_counts_providers_in_each_polygon(
    backend: Backend, demo_providers: list[Provider]
) -> None:
    backend.store.upsert(demo_providers)
    settings = _settings(communities_layer=TEST_COMMUNITIES)
    layer = read_streets_layer(TEST_COMMUNITIES)
    inside = backend.store.within(BBox(113.30, 23.10, 113.34, 23.12), Filters(), 10_000)
    rows = locate_points(layer, [p.lon for p in inside], [p.lat for p in inside])
    want = Counter(str(layer["name"].iloc[r]) for r in rows if r >= 0)
    with TestClient(create_app(settings, backend=backend)) as c:
        body = _get(
            c,
            "/v1/map/layer",
            {"bbox": "113.29,23.09,113.35,23.13", "zoom": 14, "level": "community"},
        )
        refused = c.get("/v1/map/layer", params={"bbox": CITY_BOX, "zoom": 11, "level": "bogus"})
    assert body["mode"] == "communities"
    got = {f["properties"]["name"]: f["properties"]["count"] for f in body["features"]}
    assert got == {"试验甲社区": want["试验甲社区"], "试验乙社区": want["试验乙社区"]}
    assert sum(want.values()) > 0, "the demo city has providers in the test communities"
    assert refused.status_code == 422


def test_the_community_level_needs_its_layer(client: TestClient) -> None:
    answer = client.get(
        "/v1/map/layer", params={"bbox": CITY_BOX, "zoom": 11, "level": "community"}
    )
    assert answer.status_code == 422 and "JZMAP_COMMUNITIES_LAYER" in answer.json()["message"]

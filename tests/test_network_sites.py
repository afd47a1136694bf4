"""Her sites on the river of :mod:`tests.osm_fixtures`: candidate rooms from a file, an
exclusion list, capacities, the demand column and the street; answers worked out by hand.

One elderly-care station at w1 (0, 0) on the west bank; a 10-minute adult walk is 720 m.
Cells (east, north in metres; residents / aged 60+):

* A (0, 300): 1,000 / 300 — 300 m walk from the station: covered either way;
* B (700, 0): 800 / 200 — 700 m crow-fly (covered), 2,500 m walk (a gap);
* C (700, -600): 400 / 150 — 922 m crow-fly, 3,100 m walk: a gap either way;
* D (700, 800): 100 / 20 — 1,063 m crow-fly, 1,700 m walk: a gap either way.

Rooms: r1 (0, 100) on the west bank reaches no gap on foot; r2 (700, -300) on the east
bank reaches B and C (300 m each), not D (1,100 m); r3 (700, 900) by the bridge reaches D
(100 m) and not B (900 m).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from gaps.measures import cell_measures
from gaps.network import (
    WalkNetwork,
    densify,
    nearest_way_name,
    network_from_arrays,
    network_nearest,
    network_pairs_within,
)
from gaps.network_sites import drop_excluded, plan_candidate_sites
from geo.crs import CRS, from_wgs84
from ingest.candidate_sites import CandidateFileError, read_candidate_sites, read_exclusions
from ingest.osm_network import read_walkable_ways
from jzmap.cli import app as cli
from jzmap.settings import Settings
from providers.model import Category
from tests.helpers import embedded_backend_at, station, wait_for_network
from tests.osm_fixtures import lonlat, river_with_one_bridge

pytestmark = pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning")

CATCHMENT_M = 720.0
CELLS = {"A": (0, 300, 1_000, 300), "B": (700, 0, 800, 200), "C": (700, -600, 400, 150),
         "D": (700, 800, 100, 20)}  # fmt: skip
ROOMS = {"r1": (0, 100, "西岸社区用房", "西岸路1号", None),
         "r2": (700, -300, "东岸社区用房", "东岸路8号", None),
         "r3": (700, 900, "桥头社区用房", None, "桥头街")}  # fmt: skip


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> WalkNetwork:
    path = river_with_one_bridge().write(tmp_path_factory.mktemp("osm") / "river.osm")
    ways = read_walkable_ways(path)
    # Split into 50 m pieces, as `jzmap network build` does: every room and cell is on a node.
    return densify(
        network_from_arrays(
            ways.node_lon,
            ways.node_lat,
            ways.edge_u,
            ways.edge_v,
            edge_name=ways.edge_name,
            names=ways.names,
        ),
        50.0,
    )


def _cells() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    points = [lonlat(e, n) for e, n, _, _ in CELLS.values()]
    grid = pd.DataFrame(
        {"cell": [1, 2, 3, 4], "lon": [p[0] for p in points], "lat": [p[1] for p in points],
         "district": "海珠区"}
    )  # fmt: skip
    demand = pd.DataFrame({"cell": [1, 2, 3, 4], "residents": [c[2] for c in CELLS.values()]})
    elderly = pd.Series([float(c[3]) for c in CELLS.values()], index=[1, 2, 3, 4])
    return grid, demand, elderly


def _rooms(**capacity: float) -> pd.DataFrame:
    rows = []
    for rid, (e, n, name, address, street) in ROOMS.items():
        lon, lat = lonlat(e, n)
        rows.append({"id": rid, "name": name, "lon": lon, "lat": lat, "address": address,
                     "street": street, "capacity": capacity.get(rid, np.nan)})  # fmt: skip
    return pd.DataFrame(rows)


def _measures(net: WalkNetwork | None) -> pd.DataFrame:
    grid, demand, _ = _cells()
    provider = lonlat(0, 0)
    supply = pd.DataFrame({"category": ["elderly_care"], "id": ["st-1"], "lon": [provider[0]],
                           "lat": [provider[1]], "capacity": [8.0]})  # fmt: skip
    if net is None:
        return cell_measures(grid, demand, supply, Category.ELDERLY_CARE, catchment_m=CATCHMENT_M)
    return cell_measures(
        grid, demand, supply, Category.ELDERLY_CARE, catchment_m=CATCHMENT_M,
        nearest=functools.partial(network_nearest, net=net),
        pairs=functools.partial(network_pairs_within, net=net),
    )  # fmt: skip


def _plan(net: WalkNetwork | None, rooms: pd.DataFrame, k: int = 1) -> tuple[pd.DataFrame, Any]:
    _, _, elderly = _cells()
    measures = _measures(net)
    if net is None:
        plan = plan_candidate_sites(
            measures, rooms, Category.ELDERLY_CARE, k, catchment_m=CATCHMENT_M,
            demand=elderly, demand_label="aged 60+",
        )  # fmt: skip
    else:
        plan = plan_candidate_sites(
            measures, rooms, Category.ELDERLY_CARE, k, catchment_m=CATCHMENT_M,
            demand=elderly, demand_label="aged 60+",
            pairs=functools.partial(network_pairs_within, net=net),
            street_of=functools.partial(nearest_way_name, net),
        )  # fmt: skip
    return plan.sites, plan.summary.iloc[0].to_dict()


def test_on_foot_the_east_bank_room_brings_the_most_older_residents_within_ten_minutes(
    net: WalkNetwork,
) -> None:
    sites, summary = _plan(net, _rooms())
    assert sites["id"].tolist() == ["r2"]
    # B and C: 200 + 150 aged 60+, newly within a 10-minute walk; no capacity limit.
    assert sites[["demand_in_reach", "demand_added", "demand_served"]].iloc[0].tolist() == [
        350.0, 350.0, 350.0,
    ]  # fmt: skip
    assert summary["demand"] == "aged 60+" and summary["demand_total"] == 670.0
    assert summary["demand_covered_before"] == 300.0  # A only
    assert summary["demand_newly_in_reach"] == 350.0
    assert summary["share_covered_after"] == pytest.approx(650 / 670)
    # The file has no street for r2: the nearest named way of the extract is given.
    assert (sites["street"][0], sites["street_source"][0]) == (
        "东岸路", "nearest way (OpenStreetMap)",
    )  # fmt: skip
    assert sites["address"][0] == "东岸路8号"


def test_crow_fly_plans_see_b_as_covered(net: WalkNetwork) -> None:
    sites, summary = _plan(None, _rooms())
    # Crow-fly B is within 720 m of the station: only C (150) and D (20) are gaps; r2 reaches
    # C (300 m), r3 reaches D (100 m).
    assert sites["id"].tolist() == ["r2"] and summary["demand_newly_in_reach"] == 150.0
    assert summary["demand_covered_before"] == 500.0


def test_two_rooms_and_a_capacity(net: WalkNetwork) -> None:
    sites, summary = _plan(net, _rooms(r2=250.0), k=2)
    assert sites["id"].tolist() == ["r2", "r3"]
    assert sites["demand_added"].tolist() == [350.0, 20.0]
    # r2 can serve 250 of the 350 it brings within reach.
    assert sites["demand_served"].tolist() == [250.0, 20.0]
    assert summary["demand_served"] == 270.0 and summary["demand_newly_in_reach"] == 370.0
    assert sites["street"][1] == "桥头街" and sites["street_source"][1] == "file"


def test_an_excluded_room_is_not_proposed(net: WalkNetwork) -> None:
    rooms = drop_excluded(_rooms(), {"r2"}, lambda lon, lat: "none")
    sites, summary = _plan(net, rooms)
    assert sites["id"].tolist() == ["r3"] and summary["demand_newly_in_reach"] == 20.0
    by_cell = drop_excluded(
        _rooms(), {"cell-r3"}, lambda lon, lat: "cell-r3" if lat > 23.105 else "x"
    )
    assert by_cell["id"].tolist() == ["r1", "r2"]


def test_a_capacity_can_make_a_smaller_room_the_better_choice(net: WalkNetwork) -> None:
    # r2 may serve only 10: r3's 20 is more.
    sites, _ = _plan(net, _rooms(r2=10.0))
    assert sites["id"].tolist() == ["r3"]


def _staffed_plan(net: WalkNetwork, practitioners: int, per: float | None, k: int) -> Any:
    _, _, elderly = _cells()
    lon, lat = lonlat(0, 0)
    existing = pd.DataFrame({"lon": [lon], "lat": [lat], "practitioners": [practitioners]})
    return plan_candidate_sites(
        _measures(net), _rooms(), Category.ELDERLY_CARE, k, catchment_m=CATCHMENT_M,
        demand=elderly, demand_label="aged 60+",
        pairs=functools.partial(network_pairs_within, net=net),
        existing=existing, residents_per_practitioner=per,
    )  # fmt: skip


def test_an_understaffed_station_makes_the_room_beside_it_worth_opening(
    net: WalkNetwork,
) -> None:
    # The station's 2 practitioners serve 100 older residents each: 200 of A's 300. r1, a
    # walk from A, reaches no gap but can serve A's other 100, more than r3's 20 (D).
    plan = _staffed_plan(net, 2, 100.0, k=2)
    sites, s = plan.sites, plan.summary.iloc[0]
    assert sites["id"].tolist() == ["r2", "r1"]
    assert sites["demand_added"].tolist() == [350.0, 0.0]
    assert sites["demand_served"].tolist() == [350.0, 100.0]
    assert s["demand_served"] == 450.0 and s["demand_newly_in_reach"] == 350.0
    assert s["demand_served_by_existing_before"] == s["demand_served_by_existing_after"] == 200.0
    assert bool(s["capacity_limited"]) and (s["existing_providers"], s["existing_unlimited"]) == (
        1,
        0,
    )


def test_without_the_setting_or_a_staff_figure_the_station_covers_everyone(
    net: WalkNetwork,
) -> None:
    for practitioners, per in ((2, None), (0, 100.0)):
        plan = _staffed_plan(net, practitioners, per, k=2)
        s = plan.summary.iloc[0]
        assert plan.sites["id"].tolist() == ["r2", "r3"]
        assert plan.sites["demand_served"].tolist() == [350.0, 20.0]
        assert not s["capacity_limited"] and s["existing_unlimited"] == 1
        assert s["demand_served_by_existing_before"] == s["demand_covered_before"] == 300.0
    # And exactly the plan made with no providers given (today's answer; _plan names streets).
    sites, _ = _plan(net, _rooms(), k=2)
    named = ["street", "street_source"]
    pd.testing.assert_frame_equal(plan.sites.drop(columns=named), sites.drop(columns=named))


# -- the files -------------------------------------------------------------------------------


def _rows() -> list[dict[str, object]]:
    return [
        {"编号": "r2", "名称": "东岸社区用房", "经度": lonlat(700, -300)[0],
         "纬度": lonlat(700, -300)[1], "地址": "东岸路8号", "容量": 250},
        {"编号": "", "名称": "桥头社区用房", "经度": lonlat(700, 900)[0],
         "纬度": lonlat(700, 900)[1], "街道": "桥头街", "容量": ""},
    ]  # fmt: skip


def _check(table: pd.DataFrame) -> None:
    assert table["id"].tolist() == ["r2", "2"]  # a blank id: the row number
    assert table["name"].tolist() == ["东岸社区用房", "桥头社区用房"]
    assert table["capacity"].tolist()[0] == 250.0 and np.isnan(table["capacity"][1])
    assert table["street"].tolist() == [None, "桥头街"]
    np.testing.assert_allclose(table["lon"][0], lonlat(700, -300)[0])


def test_candidates_from_csv_xlsx_and_geojson(tmp_path: Path) -> None:
    rows = _rows()
    csv_path = tmp_path / "rooms.csv"
    pd.DataFrame(rows).to_csv(csv_path, index=False, encoding="utf-8-sig")
    _check(read_candidate_sites(csv_path))
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([*list(rows[0]), "街道"])
    for r in rows:
        sheet.append([r.get(c, None) for c in [*list(rows[0]), "街道"]])
    book.save(tmp_path / "rooms.xlsx")
    _check(read_candidate_sites(tmp_path / "rooms.xlsx"))
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [r["经度"], r["纬度"]]},
         "properties": {k: v for k, v in r.items() if k not in ("经度", "纬度")}}
        for r in rows
    ]  # fmt: skip
    geojson = tmp_path / "rooms.geojson"
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    table = read_candidate_sites(geojson)
    assert table["name"].tolist() == ["东岸社区用房", "桥头社区用房"]


def test_gcj02_candidates_are_converted(tmp_path: Path) -> None:
    lon, lat = lonlat(700, -300)
    g_lon, g_lat = from_wgs84(lon, lat, CRS.GCJ02)
    path = tmp_path / "rooms.csv"
    path.write_text(f"name,lon,lat\n用房,{g_lon},{g_lat}\n", "utf-8")
    table = read_candidate_sites(path, CRS.GCJ02)
    assert table["lon"][0] == pytest.approx(lon, abs=1e-6)
    assert table["lat"][0] == pytest.approx(lat, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "why"),
    [("lon,lat\n113.3,23.1\n", "no 'name' column"), ("name,lon,lat\n用房,东,23.1\n", "rows 2")],
)
def test_unusable_candidate_files_say_why(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "rooms.csv"
    path.write_text(text, "utf-8")
    with pytest.raises(CandidateFileError, match=why):
        read_candidate_sites(path)


def test_exclusion_lists(tmp_path: Path) -> None:
    path = tmp_path / "exclude.txt"
    path.write_text("id\nr2  # the room is let\n\n8941aa0c3a7ffff,extra\n# done\n", "utf-8")
    assert read_exclusions(path) == {"r2", "8941aa0c3a7ffff"}


# -- the command -------------------------------------------------------------------------------


def test_coverage_sites_command_on_the_river(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = river_with_one_bridge().write(tmp_path / "river.osm")
    with embedded_backend_at(tmp_path / "data") as backend:
        backend.store.upsert([station(1, *lonlat(0, 0))])
    rooms = tmp_path / "rooms.csv"
    _rooms().drop(columns="capacity").to_csv(rooms, index=False)
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("r3\n", "utf-8")
    monkeypatch.setenv("JZMAP_STREET_NETWORK", str(source))
    monkeypatch.setenv("JZMAP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    out = tmp_path / "sites.csv"
    args = ["coverage", "sites", "--district", "海珠区", "--category", "elderly_care",
            "--candidates", str(rooms), "--exclude", str(exclude), "--k", "1", "--res", "9",
            "--csv", str(out)]  # fmt: skip
    answer = CliRunner().invoke(cli, args)
    assert answer.exit_code == 0, answer.output
    # Chinese by default: the reach, the units, the headings of the CSV.
    assert "步行距离 720 米" in answer.output and "walking" not in answer.output
    # East-bank cells are gaps on foot; r3 is excluded, r1's bank is the station's.
    assert "1. 东岸社区用房 (r2) 东岸路 东岸路8号：新增可及" in answer.output
    written = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert written["编号"].tolist() == ["r2"]
    assert written["街道来源"].tolist() == ["最近道路（OpenStreetMap）"]
    # Rounded as the other tables: whole persons, coordinates to 6 decimals.
    assert written["依次新增可及需求"].str.fullmatch(r"\d+").all()
    assert all(len(v.split(".")[-1]) <= 6 for v in written["经度 WGS-84"])
    english = CliRunner().invoke(cli, [*args, "--lang", "en"])
    assert english.exit_code == 0, english.output
    assert "Haizhu (海珠区) elderly care" in english.output and "walking, 720 m" in english.output
    assert "步行" not in english.output and "within reach" in english.output
    assert pd.read_csv(out, encoding="utf-8-sig")["id"].tolist() == ["r2"]
    crow = CliRunner().invoke(cli, [*args[:-2], "--mode", "crow"])
    assert crow.exit_code == 0 and "直线距离" in crow.output
    assert "现有机构" not in crow.output  # no staff limit set: nothing to say about it
    # With a staff limit the station (8 practitioners) serves at most 8 residents, and the
    # command says what the existing providers serve before and after the rooms.
    monkeypatch.setenv("JZMAP_RESIDENTS_PER_PRACTITIONER", "1")
    limited = CliRunner().invoke(cli, args[:-2])
    assert limited.exit_code == 0, limited.output
    assert (
        "现有机构按每名从业人员服务 1 人计：服务 8 → 8（0 家无人员数，不设上限）" in limited.output
    )


# -- the API -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def river_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("sites-api")
    source = river_with_one_bridge().write(root / "river.osm")
    rooms = root / "rooms.csv"
    _rooms(r3=100.0).to_csv(rooms, index=False)
    with embedded_backend_at(root / "data") as backend:
        backend.store.upsert([station(1, *lonlat(0, 0))])
        settings = Settings(
            data_dir=root / "data", street_network=source, candidate_sites=rooms,
            database_url=None,
        )  # fmt: skip
        with TestClient(create_app(settings, backend=backend)) as client:
            assert wait_for_network(client) == "ready"
            yield client


SITES = "/v1/coverage/sites"
ASK: dict[str, str | int] = {"category": "elderly_care", "district": "440105", "k": 1, "res": 9}


def test_the_api_proposes_the_east_bank_room_on_foot(river_api: TestClient) -> None:
    body = river_api.get(SITES, params=ASK).json()
    assert body["query"]["mode"] == "walk" and body["query"]["district"] == "海珠区"
    site = body["sites"][0]
    assert (site["id"], site["name"], site["street"]) == ("r2", "东岸社区用房", "东岸路")
    assert site["capacity"] is None and site["demand_served"] == site["demand_in_reach"] > 0
    # The population counted: the 60+ of the shipped table, named as the gap-cell plan names it.
    assert body["plan"]["candidates"] == 3 and body["plan"]["demand"] == "aged_60_plus"
    assert body["plan"]["demand"] == body["query"]["demand"]
    gcj = river_api.get(SITES, params={**ASK, "crs": "gcj02"}).json()["sites"][0]
    expected = from_wgs84(site["lon"], site["lat"], CRS.GCJ02)
    assert (gcj["lon"], gcj["lat"]) == pytest.approx(expected, abs=1e-6)


def test_the_api_leaves_out_excluded_rooms(river_api: TestClient) -> None:
    body = river_api.get(SITES, params={**ASK, "exclude": "r2, r9"}).json()
    assert body["plan"]["candidates"] == 2 and body["sites"][0]["id"] != "r2"


@pytest.mark.parametrize(
    ("params", "status"),
    [({"demand": "no_such_column"}, 422), ({"k": 0}, 422), ({"district": "朝阳区"}, 422),
     ({"exclude": ",".join(f"x{i}" for i in range(201))}, 422)],
)  # fmt: skip
def test_the_api_refuses_what_it_cannot_plan(
    river_api: TestClient, params: dict[str, str | int], status: int
) -> None:
    assert river_api.get(SITES, params={**ASK, **params}).status_code == status


@pytest.fixture(scope="module")
def staffed_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The river API where one practitioner serves one resident aged 60+: the station's 8
    serve 8 of the thousands its catchment holds."""
    root = tmp_path_factory.mktemp("staffed-api")
    source = river_with_one_bridge().write(root / "river.osm")
    rooms = root / "rooms.csv"
    _rooms(r3=100.0).to_csv(rooms, index=False)
    with embedded_backend_at(root / "data") as backend:
        backend.store.upsert([station(1, *lonlat(0, 0))])
        settings = Settings(
            data_dir=root / "data", street_network=source, candidate_sites=rooms,
            database_url=None, residents_per_practitioner=1.0,
        )  # fmt: skip
        with TestClient(create_app(settings, backend=backend)) as client:
            yield client


def test_the_api_limits_existing_providers_by_their_staff(
    river_api: TestClient, staffed_api: TestClient
) -> None:
    ask = {**ASK, "k": 3}
    plain = river_api.get(SITES, params=ask).json()
    staffed = staffed_api.get(SITES, params=ask).json()
    p, s = plain["plan"], staffed["plan"]
    assert not p["capacity_limited"] and p["residents_per_practitioner"] is None
    assert p["demand_served_by_existing_before"] == p["demand_covered_before"] > 8
    assert s["capacity_limited"] and s["residents_per_practitioner"] == 1.0
    assert (s["existing_providers"], s["existing_unlimited"]) == (1, 0)
    assert s["demand_served_by_existing_before"] == s["demand_served_by_existing_after"] == 8.0
    # Coverage in reach is the same; what the rooms serve is more: the station's cells too.
    assert s["demand_newly_in_reach"] == pytest.approx(p["demand_newly_in_reach"])
    assert s["demand_served"] > p["demand_served"]
    served = {r["id"]: r for r in staffed["sites"]}
    before = {r["id"]: r for r in plain["sites"]}
    assert before["r1"]["demand_served"] == pytest.approx(before["r1"]["demand_in_reach"])
    assert served["r1"]["demand_served"] > served["r1"]["demand_in_reach"]
    assert served["r3"]["demand_served"] == pytest.approx(100.0)  # its own capacity
    # The cell planner likewise: sites may go where the station cannot serve everyone.
    ask = {"category": "elderly_care", "district": "海珠区", "k": 2, "res": 9}
    cells = staffed_api.get("/v1/coverage/candidates", params=ask).json()
    assert cells["plan"]["capacity_limited"] and cells["plan"]["existing_unlimited"] == 0
    assert cells["plan"]["residents_served_by_existing_before"] == 8.0
    assert cells["plan"]["residents_newly_served"] == pytest.approx(
        sum(site["residents_served"] for site in cells["sites"])
    )
    assert cells["plan"]["residents_newly_served"] > cells["plan"]["residents_newly_covered"]


def test_without_candidate_rooms_the_api_says_what_to_set(tmp_path: Path) -> None:
    with embedded_backend_at(tmp_path / "data") as backend:
        settings = Settings(data_dir=tmp_path / "data", database_url=None)
        with TestClient(create_app(settings, backend=backend)) as client:
            answer = client.get(SITES, params=ASK)
    assert answer.status_code == 409 and "JZMAP_CANDIDATE_SITES" in answer.json()["message"]

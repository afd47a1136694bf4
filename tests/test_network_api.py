"""Walking distances through the API and the CLI: ``mode``, ``minutes`` and ``speed`` on the
coverage endpoints, the provider catchment, the 409 without a network, and
``jzmap network build``.

The network is the hand-built river of :mod:`tests.osm_fixtures` (two banks, one
footbridge 900 m north, a motorway that cannot be walked), with one elderly-care station on
the west bank: its answers are worked out by hand there.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from gaps.network import densify, network_from_arrays, network_nearest
from geo.crs import CRS, from_wgs84
from ingest.osm_network import read_walkable_ways
from jzmap.cli import app as cli
from jzmap.settings import Settings
from providers.stores import Backend
from tests.helpers import embedded_backend_at, station, wait_for_network
from tests.osm_fixtures import lonlat, river_with_one_bridge

pytestmark = pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning")

CELLS = "/v1/coverage/cells"
STATION_ID = "st-test000001"
CATCHMENT = f"/v1/providers/{STATION_ID}/catchment"


@pytest.fixture(scope="module")
def river_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return river_with_one_bridge().write(tmp_path_factory.mktemp("osm") / "river.osm")


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with embedded_backend_at(tmp_path_factory.mktemp("network-api")) as backend:
        backend.store.upsert([station(1, *river_with_one_bridge().at("w1"))])
        yield backend


def _client(backend: Backend, data_dir: Path, network: Path | None) -> TestClient:
    settings = Settings(data_dir=data_dir, street_network=network, database_url=None)
    return TestClient(create_app(settings, backend=backend))


@pytest.fixture(scope="module")
def walk(
    store_dir: Backend, river_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    with _client(store_dir, tmp_path_factory.mktemp("data"), river_file) as c:
        assert wait_for_network(c) == "ready"
        yield c


@pytest.fixture(scope="module")
def crow(store_dir: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with _client(store_dir, tmp_path_factory.mktemp("data"), None) as c:
        yield c


def _polygon(body: dict[str, Any]) -> Any:
    return shapely.geometry.shape(body["geometry"])


# -- without a network: crow-fly, said so, and walking refused -----------------------------


def test_without_a_network_answers_say_crow_fly(crow: TestClient) -> None:
    body = crow.get(CELLS, params={"category": "elderly_care", "district": "海珠区"}).json()
    q = body["query"]
    assert (q["mode"], q["mode_label"], q["catchment_m"]) == ("crow", "直线距离 / crow-fly", 1000)
    assert q["distance_model"] == "geodesic on the WGS-84 ellipsoid"
    assert q["minutes"] is None and q["speed_m_s"] is None


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (CELLS, {"category": "elderly_care", "district": "海珠区", "mode": "walk"}),
        ("/v1/coverage/districts", {"category": "elderly_care", "mode": "walk"}),
        (CATCHMENT, {"mode": "walk"}),
    ],
)
def test_walking_without_a_network_is_a_409_saying_what_to_set(
    crow: TestClient, path: str, params: dict[str, str]
) -> None:
    answer = crow.get(path, params=params)
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["error"] == "conflict" and "JZMAP_STREET_NETWORK" in body["message"]


def test_the_crow_fly_catchment_is_a_circle_of_minutes_times_speed(crow: TestClient) -> None:
    body = crow.get(CATCHMENT, params={"minutes": 10, "speed": "elderly"}).json()
    props = body["properties"]
    assert (props["mode"], props["metres"], props["speed_m_s"]) == ("crow", 480.0, 0.8)
    area = _polygon(body)
    assert area.contains(shapely.Point(lonlat(470, 0)))  # across the river, crow-fly
    assert not area.contains(shapely.Point(lonlat(0, 490)))


def test_minutes_in_minutes_and_crow_fly_compare_like_for_like(crow: TestClient) -> None:
    params: dict[str, str | int] = {
        "category": "elderly_care",
        "district": "海珠区",
        "minutes": 5,
        "speed": "elderly",
    }
    q = crow.get(CELLS, params=params).json()["query"]
    assert (q["mode"], q["catchment_m"], q["minutes"], q["speed_m_s"]) == ("crow", 240, 5, 0.8)


# -- with the river network --------------------------------------------------------------


def test_walking_is_the_default_with_a_network_and_a_walk_is_ten_minutes(
    walk: TestClient,
) -> None:
    q = walk.get(CELLS, params={"category": "elderly_care", "district": "海珠区"}).json()["query"]
    assert (q["mode"], q["mode_label"], q["minutes"], q["speed"]) == (
        "walk", "步行距离 / walking", 10, "adult",
    )  # fmt: skip
    assert q["catchment_m"] == pytest.approx(720.0)
    assert q["distance_model"].startswith("walking over the OpenStreetMap street network")


def test_cells_measure_walking_metres_over_the_network(walk: TestClient, river_file: Path) -> None:
    params: dict[str, str | int] = {
        "category": "elderly_care",
        "district": "海珠区",
        "res": 9,
        "minutes": 15,
    }
    body = walk.get(CELLS, params=params).json()
    crow_body = walk.get(CELLS, params={**params, "mode": "crow"}).json()
    ways = read_walkable_ways(river_file)
    net = densify(network_from_arrays(ways.node_lon, ways.node_lat, ways.edge_u, ways.edge_v))
    cells = [f["properties"] for f in body["features"]]
    centres = np.array([h3.cell_to_latlng(c["cell"])[::-1] for c in cells])
    provider = river_with_one_bridge().at("w1")
    _, expected = functools.partial(network_nearest, net=net, max_snap_m=300.0)(
        centres[:, 0], centres[:, 1], [provider[0]], [provider[1]]
    )
    got = np.array([np.inf if c["nearest_m"] is None else c["nearest_m"] for c in cells])
    np.testing.assert_allclose(got, np.round(expected, 1), atol=0.051)
    covered = {c["cell"] for c in cells if c["covered"]}
    assert covered == {c["cell"] for c, m in zip(cells, expected, strict=True) if m <= 1_080}
    # Some cells are within 1,080 m crow-fly but not on foot: across the river.
    crow_covered = {
        f["properties"]["cell"] for f in crow_body["features"] if f["properties"]["covered"]
    }
    assert covered < crow_covered
    east = h3.latlng_to_cell(*lonlat(700, 0)[::-1], 9)
    assert east in crow_covered and east not in covered


def test_the_walking_catchment_stays_on_its_bank(walk: TestClient) -> None:
    body = walk.get(CATCHMENT, params={"minutes": 10, "speed": "elderly"}).json()
    props = body["properties"]
    assert body["type"] == "Feature" and body["id"] == STATION_ID
    assert (props["mode"], props["mode_label"], props["metres"]) == (
        "walk",
        "步行距离 / walking",
        480,
    )
    assert props["method"].startswith("buffered reached ways")
    area = _polygon(body)
    assert area.contains(shapely.Point(lonlat(0, 400)))  # 400 m up the bank
    assert not area.contains(shapely.Point(lonlat(0, 600)))
    assert not area.contains(shapely.Point(lonlat(700, 0)))  # across: 2.5 km on foot
    adult = _polygon(walk.get(CATCHMENT, params={"minutes": 10}).json())
    assert adult.contains(shapely.Point(lonlat(0, 700))) and adult.area > area.area


def test_the_catchment_honours_crs(walk: TestClient) -> None:
    wgs = walk.get(CATCHMENT, params={"minutes": 5}).json()
    gcj = walk.get(CATCHMENT, params={"minutes": 5, "crs": "gcj02"}).json()
    assert gcj["properties"]["crs"] == "gcj02"
    ring = np.array(wgs["geometry"]["coordinates"][0])
    lon, lat = from_wgs84(ring[:, 0], ring[:, 1], CRS.GCJ02)
    np.testing.assert_allclose(
        np.array(gcj["geometry"]["coordinates"][0]), np.column_stack([lon, lat]), atol=2e-6
    )
    assert not np.allclose(ring, np.column_stack([lon, lat]), atol=1e-4)  # GCJ-02 moved it


@pytest.mark.parametrize(
    "params", [{"minutes": 0}, {"minutes": 31}, {"speed": "child"}, {"mode": "drive"}]
)
def test_catchment_parameters_are_bounded(walk: TestClient, params: dict[str, Any]) -> None:
    answer = walk.get(CATCHMENT, params=params)
    assert answer.status_code == 422, answer.text


def test_an_unknown_provider_has_no_catchment(walk: TestClient) -> None:
    assert walk.get("/v1/providers/st-none/catchment").status_code == 404


# -- a fresh server: the network is prepared beside the first requests -------------------------


def _walk_answer_is_ready_or_asks_to_retry(answer: Any) -> None:
    """200, or the 503 that says the network is being prepared and when to retry."""
    if answer.status_code == 200:
        assert answer.json()["properties"]["mode"] == "walk"
        return
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["Retry-After"]) > 0
    body = answer.json()
    assert body["error"] == "unavailable" and body["request_id"]
    assert "正在准备" in body["message"] and "being prepared" in body["message"]
    assert "mode=crow" in body["message"]


def test_a_fresh_server_builds_the_network_beside_its_first_requests(
    store_dir: Backend, river_file: Path, tmp_path: Path
) -> None:
    # No `jzmap network build` first: the server builds and caches it in the background.
    with _client(store_dir, tmp_path, river_file) as c:
        _walk_answer_is_ready_or_asks_to_retry(c.get(CATCHMENT, params={"mode": "walk"}))
        crow_answer = c.get(CATCHMENT, params={"mode": "crow"})
        assert crow_answer.status_code == 200, crow_answer.text  # never held up
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["network"] in ("loading", "ready")
        assert wait_for_network(c) == "ready"
        answer = c.get(CATCHMENT, params={"mode": "walk"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["properties"]["mode"] == "walk"
    (cached,) = (tmp_path / "networks").glob("walk-*.npz")
    built_at = cached.stat().st_mtime_ns
    # The next start reads that cache (the extract's hash matches) instead of building.
    with _client(store_dir, tmp_path, river_file) as c:
        assert wait_for_network(c) == "ready"
        assert c.get(CATCHMENT, params={"mode": "walk"}).status_code == 200
    assert cached.stat().st_mtime_ns == built_at


def test_an_unreadable_extract_fails_walking_with_a_503_and_not_crow_fly(
    store_dir: Backend, tmp_path: Path
) -> None:
    broken = tmp_path / "secret-place" / "broken.osm"
    broken.parent.mkdir()
    broken.write_text("<osm><node id='1' lat=", "utf-8")
    with _client(store_dir, tmp_path, broken) as c:
        assert wait_for_network(c) == "failed"
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        answer = c.get(CATCHMENT, params={"mode": "walk"})
        assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0
        body = answer.json()
        assert body["error"] == "unavailable" and "could not be prepared" in body["message"]
        assert "secret-place" not in answer.text and "broken.osm" not in answer.text
        assert c.get(CATCHMENT, params={"mode": "crow"}).status_code == 200


# -- the CLI -----------------------------------------------------------------------------


def test_network_build_caches_and_reports(
    river_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JZMAP_STREET_NETWORK", str(river_file))
    monkeypatch.setenv("JZMAP_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    first = runner.invoke(cli, ["network", "build", "--lang", "en"])
    assert first.exit_code == 0, first.output
    # The river's 4,500 m of way in pieces of at most 50 m: 92 edges, 93 nodes.
    assert "built: 93 nodes, 92 edges from 3 walkable ways" in first.output
    assert list((tmp_path / "networks").glob("walk-*.npz"))
    again = runner.invoke(cli, ["network", "build"])
    # Chinese by default, as every coverage command.
    assert again.exit_code == 0 and "步行路网已有缓存：93 个节点、92 条边" in again.output


def test_network_build_without_an_extract_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JZMAP_STREET_NETWORK", raising=False)
    monkeypatch.setenv("JZMAP_DATA_DIR", str(tmp_path))
    answer = CliRunner().invoke(cli, ["network", "build"])
    assert answer.exit_code == 1 and "JZMAP_STREET_NETWORK" in answer.output

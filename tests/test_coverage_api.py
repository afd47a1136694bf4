"""``/v1/coverage`` on the demo city: the answers are the :mod:`gaps` functions' answers, the
errors say what to change, and repeat requests come from the cache until the data changes."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient

from api.app import create_app
from gaps import (
    area_summary,
    candidate_sites,
    city_grid,
    coverage_measures,
    demand_from_census,
    locate_supply,
    providers_frame,
    suitable_supply,
)
from geo.boundaries import load_districts
from geo.crs import CRS, from_wgs84
from geo.package_data import REFERENCE_DIR
from jzmap.application.coverage import DISTRICT_COLUMNS, CoverageQuery, CoverageService, OnceCache
from jzmap.application.demo import generate_demo
from jzmap.settings import Settings
from providers.model import Category, Grade, Provider
from providers.store import ProviderStore
from providers.stores import Backend
from tests.helpers import embedded_backend_at, station

# spopt builds its model with the PuLP 3 API that PuLP 4 will drop (pinned below 4).
pytestmark = pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning")

CELLS = "/v1/coverage/cells"
DISTRICTS = "/v1/coverage/districts"
CANDIDATES = "/v1/coverage/candidates"
CATCHMENT_M = 1_000.0


def _settings() -> Settings:
    return Settings(data_dir=Path("/nonexistent"), coverage_catchment_m=CATCHMENT_M)


@pytest.fixture(scope="module")
def demo_providers() -> list[Provider]:
    return [p for chunk in generate_demo(REFERENCE_DIR) for p in chunk]


def _coverage(store: ProviderStore) -> CoverageService:
    """The coverage service of ``store`` with this module's settings."""
    settings = _settings()
    return CoverageService(store, settings.coverage, settings.city)


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory, demo_providers: list[Provider]
) -> Iterator[Backend]:
    with embedded_backend_at(tmp_path_factory.mktemp("coverage-demo")) as backend:
        backend.store.upsert(demo_providers)
        yield backend


@pytest.fixture(scope="module")
def demo_store(demo: Backend) -> ProviderStore:
    return demo.store


@pytest.fixture(scope="module")
def client(demo: Backend) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(), backend=demo)) as c:
        yield c


@pytest.fixture(scope="module")
def reference(demo_providers: list[Provider]) -> dict[str, Any]:
    """The elderly-care analysis at resolution 8, built straight from the gaps functions."""
    districts = load_districts(REFERENCE_DIR)
    grid = city_grid(districts, 8)
    demand = demand_from_census(grid, districts)
    supply = locate_supply(
        suitable_supply(providers_frame(demo_providers), [Category.ELDERLY_CARE]),
        districts,
    )
    measures = coverage_measures(
        grid, demand, supply, [Category.ELDERLY_CARE], catchment_m=CATCHMENT_M
    )
    return {
        "districts": districts,
        "grid": grid,
        "measures": measures.set_index("cell"),
        "raw_measures": measures,
        "summary": area_summary(measures, supply).set_index("district"),
    }


def _service(client: TestClient) -> CoverageService:
    service: CoverageService = client.app.state.coverage  # type: ignore[attr-defined]
    return service


def test_cells_of_a_district_are_the_gaps_measures(
    client: TestClient, reference: dict[str, Any]
) -> None:
    r = client.get(CELLS, params={"category": "elderly_care", "district": "天河区"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert body["type"] == "FeatureCollection"
    q = body["query"]
    assert (q["category"], q["resolution"], q["district"], q["crs"]) == (
        "elderly_care",
        8,
        "天河区",
        "wgs84",
    )
    assert q["catchment_m"] == CATCHMENT_M and "census" in q["demand_source"]

    expected = reference["grid"].loc[reference["grid"]["district"] == "天河区", "cell"]
    cells = [h3.str_to_int(f["id"]) for f in body["features"]]
    assert body["cells"] == len(cells) == len(expected) > 100
    assert sorted(cells) == sorted(expected.tolist())

    m = reference["measures"].loc[cells]
    props = pd.DataFrame([f["properties"] for f in body["features"]])
    assert props["district"].eq("天河区").all()
    assert props["residents"].to_numpy() == pytest.approx(m["residents"].to_numpy(), abs=0.05)
    assert props["nearest_m"].to_numpy(np.float64) == pytest.approx(
        m["nearest_m"].to_numpy(), abs=0.05
    )
    assert props["nearest_id"].tolist() == m["nearest_id"].tolist()
    assert props["providers_within"].tolist() == m["providers_within"].tolist()
    assert props["accessibility"].to_numpy(np.float64) == pytest.approx(
        m["accessibility"].to_numpy(), abs=1e-8
    )
    assert props["covered"].tolist() == m["covered"].tolist()
    assert props["gap"].tolist() == m["gap"].tolist()
    assert 0 < props["covered"].sum() < len(props), "a mix of covered cells and gaps"

    for feature in body["features"][:50]:
        ring = feature["geometry"]["coordinates"][0]
        assert feature["geometry"]["type"] == "Polygon" and ring[0] == ring[-1]
        centre = shapely.Polygon(ring).centroid
        assert h3.latlng_to_cell(centre.y, centre.x, 8) == feature["id"]


def test_the_whole_city_at_resolution_8_is_one_bounded_answer(
    client: TestClient, reference: dict[str, Any]
) -> None:
    body = client.get(CELLS, params={"category": "elderly_care"}).json()
    assert body["cells"] == len(reference["grid"]) and 9_000 < body["cells"] < 12_000
    residents = sum(f["properties"]["residents"] for f in body["features"])
    # Elderly care counts the residents aged 60+ (the shipped table's column), each once
    # (every cell's figure is rounded to 0.1 in the answer).
    census = reference["districts"]["aged_60_plus"].sum()
    assert residents == pytest.approx(census, abs=0.05 * body["cells"])


def test_cells_in_gcj02_are_the_wgs84_hexagons_shifted(client: TestClient) -> None:
    params = {"category": "nursing", "district": "越秀区"}
    wgs = client.get(CELLS, params=params).json()
    gcj = client.get(CELLS, params={**params, "crs": "gcj02"}).json()
    assert gcj["query"]["crs"] == "gcj02"
    assert [f["id"] for f in gcj["features"]] == [f["id"] for f in wgs["features"]]
    for a, b in zip(wgs["features"][:20], gcj["features"][:20], strict=True):
        ring = np.array(a["geometry"]["coordinates"][0])
        lon, lat = from_wgs84(ring[:, 0], ring[:, 1], CRS.GCJ02)
        shifted = np.array(b["geometry"]["coordinates"][0])
        assert shifted[:, 0] == pytest.approx(lon, abs=2e-6)
        assert shifted[:, 1] == pytest.approx(lat, abs=2e-6)
        assert abs(shifted[0, 0] - ring[0, 0]) > 0.003, "a real shift (~500 m), not a no-op"
        assert a["properties"] == b["properties"]


def test_resolution_9_needs_a_district(client: TestClient) -> None:
    refused = client.get(CELLS, params={"category": "elderly_care", "res": 9})
    assert refused.status_code == 422
    body = refused.json()
    assert body["error"] == "invalid_parameter"
    assert body["details"][0]["parameter"] == "res" and "district" in body["message"]

    small = client.get(CELLS, params={"category": "elderly_care", "res": 9, "district": "越秀区"})
    assert small.status_code == 200
    features = small.json()["features"]
    assert 250 < len(features) < 400
    assert all(h3.get_resolution(f["id"]) == 9 for f in features)


@pytest.mark.parametrize("path", [CELLS, CANDIDATES])
def test_an_unknown_district_is_422_listing_the_valid_names(client: TestClient, path: str) -> None:
    r = client.get(path, params={"category": "elderly_care", "district": "朝阳区"})
    assert r.status_code == 422
    body = r.json()
    detail = body["details"][0]
    assert detail["parameter"] == "district" and detail["got"] == "朝阳区"
    for name in ("白云区", "天河区", "从化区"):
        assert name in detail["allowed"] and name in body["message"]


@pytest.mark.parametrize(
    ("path", "params", "parameter", "allowed"),
    [
        (CELLS, {}, "category", "elderly_care"),
        (CELLS, {"category": "gardening"}, "category", "nursing"),
        (CELLS, {"category": "nursing", "res": 7}, "res", "8"),
        (CELLS, {"category": "nursing", "res": "x"}, "res", "9"),
        (CELLS, {"category": "nursing", "crs": "gps"}, "crs", "gcj02"),
        (CELLS, {"category": "nursing", "min_grade": "6A"}, "min_grade", "5A"),
        (DISTRICTS, {"f": "xlsx"}, "f", "json, csv"),
        (DISTRICTS, {"category": "cooking"}, "category", "housekeeping"),
        (CANDIDATES, {"category": "nursing", "k": 0}, "k", "1 to 20"),
        (CANDIDATES, {"category": "nursing", "k": 21}, "k", "1 to 20"),
        (CANDIDATES, {"k": 3}, "category", "elderly_care"),
    ],
)
def test_bad_parameters_are_422_naming_them_with_allowed_values(
    client: TestClient, path: str, params: dict[str, Any], parameter: str, allowed: str
) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_parameter"
    assert [d["parameter"] for d in body["details"]] == [parameter]
    assert allowed in body["details"][0]["allowed"] and allowed in body["message"]


def test_the_district_table_is_area_summary(client: TestClient, reference: dict[str, Any]) -> None:
    body = client.get(DISTRICTS, params={"category": "elderly_care"}).json()
    assert body["query"]["category"] == "elderly_care" and body["query"]["crs"] is None
    rows = {row["district"]: row for row in body["districts"]}
    expected = reference["summary"]
    assert sorted(rows) == sorted(expected.index.tolist()) and len(rows) == 11
    for name, row in rows.items():
        want = expected.loc[name]
        assert list(row) == list(DISTRICT_COLUMNS)
        for column in ("cells", "cells_covered", "gap_cells", "providers", "practitioners"):
            assert row[column] == want[column], (name, column)
        for column in (
            "share_cells_covered", "residents", "residents_covered", "share_residents_covered",
            "residents_in_gaps", "providers_per_10k", "practitioners_per_10k",
            "accessibility_q10", "accessibility_q50", "accessibility_q90",
        ):  # fmt: skip
            assert row[column] == pytest.approx(want[column], rel=1e-9, abs=1e-12), (name, column)

    everything = client.get(DISTRICTS).json()
    assert everything["query"]["category"] is None
    assert len(everything["districts"]) == 4 * 11
    assert {r["category"] for r in everything["districts"]} == {c.value for c in Category}


def test_the_district_table_as_csv_opens_in_excel(client: TestClient) -> None:
    r = client.get(DISTRICTS, params={"category": "nursing", "f": "csv"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;") and 'filename="' in disposition
    assert disposition.endswith('.csv"')
    assert r.content.startswith(b"\xef\xbb\xbf"), "a BOM, so that Excel reads UTF-8"
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == list(DISTRICT_COLUMNS)
    assert len(rows) == 1 + 11
    as_json = client.get(DISTRICTS, params={"category": "nursing"}).json()["districts"]
    for line, row in zip(rows[1:], as_json, strict=True):
        assert line[1] == row["district"] and line[1].endswith("区")
        assert int(line[2]) == row["cells"]
        assert float(line[5]) == pytest.approx(row["residents"])


def test_candidate_sites_are_the_mclp_answer(client: TestClient, reference: dict[str, Any]) -> None:
    params: dict[str, str | int] = {"category": "elderly_care", "k": 3, "district": "白云区"}
    body = client.get(CANDIDATES, params=params).json()
    want = candidate_sites(
        reference["raw_measures"], Category.ELDERLY_CARE, 3, catchment_m=CATCHMENT_M,
        district="白云区",
    )  # fmt: skip
    sites = body["sites"]
    assert [h3.str_to_int(s["cell"]) for s in sites] == want.sites["cell"].tolist()
    assert [s["rank"] for s in sites] == [1, 2, 3]
    assert [s["residents_added"] for s in sites] == pytest.approx(
        want.sites["residents_added"].tolist()
    )
    plan = body["plan"]
    summary = want.summary.iloc[0]
    assert plan["k"] == 3 and plan["sites"] == 3 and plan["status"] == "Optimal"
    for key in ("share_covered_before", "share_covered_after", "residents_newly_covered"):
        assert plan[key] == pytest.approx(summary[key])
    assert plan["share_covered_after"] > plan["share_covered_before"]
    assert sum(s["residents_added"] for s in sites) == pytest.approx(
        plan["residents_newly_covered"]
    )
    before = reference["summary"].loc["白云区", "share_residents_covered"]
    assert plan["share_covered_before"] == pytest.approx(before)
    baiyun = reference["districts"].set_index("name").geometry["白云区"]
    for s in sites:
        assert s["district"] == "白云区"
        assert baiyun.contains(shapely.Point(s["lon"], s["lat"]))

    baidu = client.get(CANDIDATES, params={**params, "crs": "bd09"}).json()
    lon, lat = from_wgs84([s["lon"] for s in sites], [s["lat"] for s in sites], CRS.BD09)
    assert [s["lon"] for s in baidu["sites"]] == pytest.approx(lon.tolist(), abs=2e-6)
    assert [s["lat"] for s in baidu["sites"]] == pytest.approx(lat.tolist(), abs=2e-6)


def test_repeat_requests_are_answered_from_the_cache(client: TestClient) -> None:
    params = {"category": "maternal_infant", "district": "海珠区", "min_grade": "4A"}
    first = client.get(CELLS, params=params).json()
    service = _service(client)
    computed, hits = service.analysis_cache.computed, service.analysis_cache.hits
    again = client.get(CELLS, params={**params, "crs": "bd09"})
    table = client.get(DISTRICTS, params={"category": "maternal_infant", "min_grade": "4A"})
    assert again.status_code == table.status_code == 200
    assert service.analysis_cache.computed == computed, "nothing recomputed"
    assert service.analysis_cache.hits == hits + 2
    assert first["query"]["min_grade"] == "4A"
    query = CoverageQuery(Category.MATERNAL_INFANT, 8, Grade.A4)
    assert service.analysis(query) is service.analysis(query)

    plan: dict[str, str | int] = {"category": "housekeeping", "k": 2, "district": "越秀区"}
    client.get(CANDIDATES, params=plan)
    planned = service.plan_cache.computed
    assert client.get(CANDIDATES, params=plan).status_code == 200
    assert service.plan_cache.computed == planned


def test_an_upsert_invalidates_the_cached_analysis(embedded_backend: Backend) -> None:
    store = embedded_backend.store
    for chunk in generate_demo(REFERENCE_DIR, companies=50):
        store.upsert(chunk)
    with TestClient(create_app(_settings(), backend=embedded_backend)) as c:
        params = {"category": "elderly_care", "district": "从化区"}
        before = c.get(CELLS, params=params).json()
        gap = next(f for f in before["features"] if f["properties"]["gap"])
        service = _service(c)
        computed = service.analysis_cache.computed
        assert c.get(CELLS, params=params).json()["query"] == before["query"]
        assert service.analysis_cache.computed == computed

        lat, lon = h3.cell_to_latlng(gap["id"])
        store.upsert([station(1, lon, lat, categories=[Category.ELDERLY_CARE])])
        after = c.get(CELLS, params=params).json()
        assert after["query"]["data_version"] != before["query"]["data_version"]
        assert service.analysis_cache.computed == computed + 1
        now = next(f for f in after["features"] if f["id"] == gap["id"])["properties"]
        assert now["covered"] and not now["gap"]
        assert now["nearest_id"] == "st-test000001" and now["nearest_m"] < 1
        table = c.get(DISTRICTS, params={"category": "elderly_care"}).json()["districts"]
        row = next(r for r in table if r["district"] == "从化区")
        assert row["cells_covered"] > sum(f["properties"]["covered"] for f in before["features"])


def test_concurrent_identical_requests_compute_once(demo_store: ProviderStore) -> None:
    service = _coverage(demo_store)
    query = CoverageQuery(Category.HOUSEKEEPING, 8, certified_only=True)
    start = threading.Barrier(6)

    def ask() -> object:
        start.wait()
        return service.analysis(query)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: ask(), range(6)))
    assert service.analysis_cache.computed == 1
    assert all(a is answers[0] for a in answers)


def test_once_cache_waits_for_the_running_computation_and_is_bounded() -> None:
    cache: OnceCache[str, list[int]] = OnceCache(maxsize=2)
    calls: list[str] = []
    started = threading.Event()

    def slow() -> list[int]:
        calls.append("slow")
        started.set()
        time.sleep(0.2)  # long enough for the other callers to arrive while it runs
        return [1]

    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(cache.get, "a", slow)
        started.wait()
        others = [pool.submit(cache.get, "a", slow) for _ in range(3)]
        results = [first.result(), *(f.result() for f in others)]
    assert calls == ["slow"] and all(r is results[0] for r in results)

    def boom() -> list[int]:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        cache.get("b", boom)
    assert cache.get("b", lambda: [2]) == [2], "a failure is not cached"
    cache.get("c", lambda: [3])
    assert len(cache) == 2
    assert cache.get("a", lambda: [9]) == [9], "the least recently used entry went"


def test_both_stores_give_the_same_analysis(
    store: ProviderStore, demo_providers: list[Provider], reference: dict[str, Any]
) -> None:
    """The service lists every active provider through the store contract (``within`` over
    the whole world), so PostGIS and the embedded store answer alike."""
    store.delete_all()
    store.upsert(demo_providers)
    analysis = _coverage(store).analysis(CoverageQuery(Category.ELDERLY_CARE))
    got = analysis.districts.set_index("district")
    want = reference["summary"]
    assert got["providers"].to_dict() == want["providers"].to_dict()
    assert got["gap_cells"].to_dict() == want["gap_cells"].to_dict()
    measures = analysis.measures.set_index("cell")
    assert measures["nearest_id"].equals(reference["measures"]["nearest_id"])


def test_an_operator_population_layer_replaces_the_census_default(
    tmp_path: Path, embedded_backend: Backend, demo_providers: list[Provider]
) -> None:
    """Polygons with `residents` and a category column: the service uses them, per category."""
    import geopandas as gpd

    tower = shapely.Point(113.32, 23.08).buffer(0.005)  # well inside 海珠区
    layer = gpd.GeoDataFrame(
        {"residents": [10_000.0], "elderly_care": [3_000.0]}, geometry=[tower], crs="EPSG:4326"
    )
    path = tmp_path / "population.geojson"
    layer.to_file(path, driver="GeoJSON")
    embedded_backend.store.upsert(demo_providers)
    settings = Settings(population_layer=path)
    with TestClient(create_app(settings, backend=embedded_backend)) as c:
        body = c.get(DISTRICTS).json()
    assert body["query"]["demand_source"] == "population layer population.geojson"
    residents = {(d["category"], d["district"]): d["residents"] for d in body["districts"]}
    assert residents[("housekeeping", "海珠区")] == pytest.approx(10_000.0)
    assert residents[("elderly_care", "海珠区")] == pytest.approx(3_000.0)
    assert sum(residents.values()) == pytest.approx(3 * 10_000.0 + 3_000.0)

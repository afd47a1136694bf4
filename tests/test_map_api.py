"""The map's HTTP side without a browser: viewport layers, page headers, the offline copy."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h3
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from geo.crs import CRS, from_wgs84
from jzmap.settings import Settings
from jzmap.wiring import district_points, districts_layer
from maps.export import export_static_map
from providers.model import Category
from providers.store import BBox, Filters, ProviderStore, TallyBy
from providers.stores import Backend
from tests.helpers import CANTON_TOWER, demo_city_backend_at

LON, LAT = CANTON_TOWER
LAYER = "/v1/map/layer"
HOST = "https://app.example.cn"
# A box around the Canton Tower small enough to hold fewer providers than the cap.
SMALL = (LON - 0.01, LAT - 0.01, LON + 0.01, LAT + 0.01)
CITY = (112.9, 22.5, 114.1, 23.95)
# What a 1920 x 1080 screen shows of the city centre at zoom 12 (boxes are capped by zoom).
CENTRE_Z12 = (113.0, 22.96, 113.66, 23.30)


def _bbox(box: tuple[float, float, float, float]) -> str:
    return ",".join(f"{v:.6f}" for v in box)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with demo_city_backend_at(tmp_path_factory.mktemp("map-demo")) as backend:
        yield backend


@pytest.fixture(scope="module")
def demo_store(demo: Backend) -> ProviderStore:
    return demo.store


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": Path("/nonexistent"),
        "tiles_url": "/static/blank-tile.png",
        "embed_origins": HOST,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="module")
def client(demo: Backend) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(), backend=demo)) as c:
        yield c


def test_city_zoom_answers_one_count_per_district(
    client: TestClient, demo_store: ProviderStore
) -> None:
    body = client.get(LAYER, params={"bbox": _bbox(CITY), "zoom": 9}).json()
    assert body["mode"] == "districts"
    names = [f["properties"]["name"] for f in body["features"]]
    assert names == list(district_points(_settings().city))
    assert len(names) == 11
    counts = {f["properties"]["name"]: f["properties"]["count"] for f in body["features"]}
    assert counts == {n: demo_store.tally(Filters(), TallyBy.DISTRICT).get(n, 0) for n in names}
    assert body["total"] == sum(counts.values()) > 600


def test_a_small_box_gets_its_providers_and_a_crowded_one_gets_cells(
    client: TestClient, demo_store: ProviderStore
) -> None:
    small = client.get(LAYER, params={"bbox": _bbox(SMALL), "zoom": 15}).json()
    assert small["mode"] == "points"
    expected = demo_store.within(BBox(*SMALL), Filters(), 1_000)
    assert 0 < len(expected) <= 200
    assert [f["id"] for f in small["features"]] == [p.id for p in expected]
    first = small["features"][0]
    assert first["geometry"]["coordinates"] == [
        round(expected[0].lon, 6),
        round(expected[0].lat, 6),
    ]
    assert set(first["properties"]) >= {"name", "kind", "credit_grade", "approximate"}
    assert "phone" not in first["properties"], "details come from /v1/providers/{id}"

    # The city centre at zoom 12 holds more than the cap: H3 resolution-8 counts.
    crowded = client.get(LAYER, params={"bbox": _bbox(CENTRE_Z12), "zoom": 12}).json()
    assert crowded["mode"] == "cells" and crowded["resolution"] == 8
    counts = {f["properties"]["cell"]: f["properties"]["count"] for f in crowded["features"]}
    assert counts == demo_store.tally(Filters(), TallyBy.H3_R8, BBox(*CENTRE_Z12))
    ring = crowded["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 7
    cell = crowded["features"][0]["properties"]["cell"]
    lat, lon = h3.cell_to_latlng(cell)
    assert h3.latlng_to_cell(lat, lon, 8) == cell


def test_filters_change_the_layer(client: TestClient, demo_store: ProviderStore) -> None:
    params: dict[str, str | int] = {"bbox": _bbox(SMALL), "zoom": 15}
    everyone = client.get(LAYER, params=params).json()
    nursing = client.get(LAYER, params={**params, "category": "nursing"}).json()
    expected = demo_store.within(BBox(*SMALL), Filters(category=Category.NURSING), 1_000)
    assert [f["id"] for f in nursing["features"]] == [p.id for p in expected]
    assert len(nursing["features"]) < len(everyone["features"])
    assert all("nursing" in f["properties"]["categories"] for f in nursing["features"])


def test_gcj02_layer_is_shifted_to_match_the_basemap(
    client: TestClient, demo_store: ProviderStore
) -> None:
    gcj_box = from_wgs84([SMALL[0], SMALL[2]], [SMALL[1], SMALL[3]], CRS.GCJ02)
    box = (gcj_box[0][0], gcj_box[1][0], gcj_box[0][1], gcj_box[1][1])
    body = client.get(LAYER, params={"bbox": _bbox(box), "zoom": 15, "crs": "gcj02"}).json()
    assert body["crs"] == "gcj02" and body["mode"] == "points"
    by_id = {p.id: p for p in demo_store.within(BBox(*CITY), Filters(), 10_000)}
    for feature in body["features"][:20]:
        p = by_id[feature["id"]]
        want = from_wgs84(p.lon, p.lat, CRS.GCJ02)
        assert feature["geometry"]["coordinates"] == pytest.approx(
            [float(want[0]), float(want[1])], abs=2e-6
        )
        # ~600 m off the WGS-84 point: a shift, not a no-op.
        assert abs(feature["geometry"]["coordinates"][0] - p.lon) > 0.003


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"bbox": "1,2,3", "zoom": 12}, "bbox"),
        ({"bbox": "113.4,23,113.2,23.2", "zoom": 12}, "bbox"),
        ({"bbox": "a,b,c,d", "zoom": 12}, "bbox"),
        ({"bbox": "nan,23,113.2,23.2", "zoom": 12}, "bbox"),
        ({"bbox": _bbox(SMALL), "zoom": 25}, "zoom"),
        ({"bbox": _bbox(SMALL)}, "zoom"),
        ({"bbox": _bbox(SMALL), "zoom": 12, "category": "gardening"}, "category"),
    ],
)
def test_bad_layer_requests_are_422_naming_the_parameter(
    client: TestClient, params: dict[str, Any], parameter: str
) -> None:
    r = client.get(LAYER, params=params)
    assert r.status_code == 422
    body = r.json()
    assert [d["parameter"] for d in body["details"]] == [parameter]
    assert body["details"][0]["allowed"] and parameter in body["message"]


def test_nearest_answers_in_out_crs_when_asked(client: TestClient) -> None:
    params = {"lat": LAT, "lon": LON, "limit": 3}
    wgs = client.get("/v1/providers/nearest", params=params).json()
    gcj = client.get("/v1/providers/nearest", params={**params, "out_crs": "gcj02"}).json()
    assert [r["id"] for r in gcj["results"]] == [r["id"] for r in wgs["results"]]
    first, shifted = wgs["results"][0], gcj["results"][0]
    want = from_wgs84(first["lon"], first["lat"], CRS.GCJ02)
    assert (shifted["lon"], shifted["lat"]) == pytest.approx((want[0], want[1]), abs=1e-9)
    assert shifted["crs"] == "gcj02" and gcj["query"]["crs"] == "gcj02"
    q = from_wgs84(LON, LAT, CRS.GCJ02)
    assert (gcj["query"]["lon"], gcj["query"]["lat"]) == pytest.approx((q[0], q[1]), abs=1e-9)


def _csp(response: Any) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] for d in policy.split("; ")}


def test_pages_carry_a_csp_whose_nonce_covers_every_script(client: TestClient) -> None:
    for path in ("/map", "/widget", "/embed", "/map?lang=en"):
        r = client.get(path)
        assert r.status_code == 200, path
        csp = _csp(r)
        nonce = re.search(r"'nonce-([^']+)'", csp["script-src"])
        assert nonce, path
        scripts = re.findall(r"<script[^>]*>", r.text)
        assert scripts and all(f'nonce="{nonce.group(1)}"' in s for s in scripts), path
        assert "cdn" not in r.text.lower(), f"{path} loads a CDN"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"]
    assert _csp(client.get("/widget"))["frame-ancestors"] == f"'self' {HOST}"
    assert _csp(client.get("/map"))["frame-ancestors"] == "'self'"
    assert (
        client.get("/map").headers["content-security-policy"]
        != client.get("/map").headers["content-security-policy"]
    ), "a nonce is used once"


def test_cors_admits_the_embedding_origins_only(client: TestClient) -> None:
    params = {"lat": LAT, "lon": LON}
    ok = client.get("/v1/providers/nearest", params=params, headers={"Origin": HOST})
    assert ok.headers["access-control-allow-origin"] == HOST
    other = client.get(
        "/v1/providers/nearest", params=params, headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in other.headers


def test_pages_speak_chinese_by_default_and_english_on_request(client: TestClient) -> None:
    zh = client.get("/map").text
    en = client.get("/map", params={"lang": "en"}).text
    assert '<html lang="zh-CN">' in zh and "<title>家政服务地图</title>" in zh
    assert '<html lang="en">' in en and "<title>Domestic services map</title>" in en
    assert "Tianhe" in en and "Tianhe" not in zh


def test_bad_page_parameters_are_json_422(client: TestClient) -> None:
    r = client.get("/widget", params={"category": "gardening"})
    assert r.status_code == 422 and r.json()["details"][0]["parameter"] == "category"


def test_page_html_is_the_same_size_whatever_the_data(
    demo: Backend, embedded_backend: Backend
) -> None:
    """The page carries no provider: what depends on the data is fetched per viewport."""
    with TestClient(create_app(_settings(), backend=embedded_backend)) as c:
        empty_size = len(c.get("/map").content)
    with TestClient(create_app(_settings(), backend=demo)) as c:
        demo_size = len(c.get("/map").content)
    # Only the random folium element names and the nonce may differ.
    assert abs(demo_size - empty_size) < 64


def test_static_copy_holds_counts_for_each_category(demo_store: ProviderStore) -> None:
    settings = _settings()
    page = export_static_map(
        demo_store,
        districts_layer(settings.city),
        district_points(settings.city),
        tiles_url="/static/blank-tile.png",
        tiles_attribution="test",
        tiles_crs=CRS.WGS84,
    )
    assert "<script src=" not in page and '<link rel="stylesheet"' not in page
    assert "data:image/png;base64," in page
    config = re.search(r'<script type="application/json" id="jz-config">(.*?)</script>', page)
    assert config
    data = json.loads(config.group(1))["static"]
    for key, filters in [("all", Filters())] + [(c.value, Filters(category=c)) for c in Category]:
        districts = {
            f["properties"]["name"]: f["properties"]["counts"][key]
            for f in data["districts"]["features"]
        }
        expected = demo_store.tally(filters, TallyBy.DISTRICT)
        assert districts == {name: expected.get(name, 0) for name in districts}
        cells = {
            h3.latlng_to_cell(*reversed(_centroid(f["geometry"])), 7): f["properties"]["counts"]
            for f in data["cells"]["features"]
        }
        assert {c: n[key] for c, n in cells.items() if n.get(key)} == demo_store.tally(
            filters, TallyBy.H3_R7
        )
    assert len(page.encode()) < 1_000_000


def _centroid(geometry: dict[str, Any]) -> tuple[float, float]:
    ring = geometry["coordinates"][0][:-1]
    return (sum(x for x, _ in ring) / len(ring), sum(y for _, y in ring) / len(ring))


def _page_config(page: str) -> dict[str, Any]:
    found = re.search(r'<script[^>]*id="jz-config">(.*?)</script>', page)
    assert found
    config: dict[str, Any] = json.loads(found.group(1))
    return config


def test_a_gcj02_basemap_shifts_the_boundaries_and_asks_the_api_in_gcj02(
    demo: Backend,
) -> None:
    pages = {}
    for crs in (CRS.WGS84, CRS.GCJ02):
        with TestClient(create_app(_settings(tiles_crs=crs), backend=demo)) as c:
            pages[crs] = c.get("/map", params={"lat": LAT, "lon": LON}).text
    assert _page_config(pages[CRS.GCJ02])["crs"] == "gcj02"
    assert _page_config(pages[CRS.WGS84])["crs"] == "wgs84"
    # The search point is handed to the page in the basemap's datum.
    point = _page_config(pages[CRS.GCJ02])["point"]
    want = from_wgs84(LON, LAT, CRS.GCJ02)
    assert (point["lon"], point["lat"]) == pytest.approx((want[0], want[1]), abs=1e-9)
    # The district boundaries folium inlines are shifted too (~500 m here).
    pattern = r'"coordinates": \[\[\[([0-9.]+), ([0-9.]+)\]'
    wgs = re.search(pattern, pages[CRS.WGS84])
    gcj = re.search(pattern, pages[CRS.GCJ02])
    assert wgs and gcj
    shifted = from_wgs84(float(wgs.group(1)), float(wgs.group(2)), CRS.GCJ02)
    assert (float(gcj.group(1)), float(gcj.group(2))) == pytest.approx(
        (shifted[0], shifted[1]), abs=2e-5
    )
    assert abs(float(gcj.group(1)) - float(wgs.group(1))) > 0.003

"""Vector tiles: the stores' tile contract, the tile rule, and ``/tiles`` over HTTP.

The decoder is GDAL's MVT driver (through ``pyogrio``'s wheels), a client that shares no
code with either encoder (PostGIS' ``ST_AsMVT``, ``mapbox-vector-tile`` on the embedded
store): it reads a tile file by its ``z/x/y.pbf`` path and gives the features in
EPSG:3857 with their properties. Every decoded feature is compared with what the store
itself holds in that tile (``within`` on the tile's WGS-84 bounds), its position
converted back to longitude and latitude and compared within the tile's resolution (one
of its 4,096 units a side).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pyogrio
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from geo.precision import Precision
from geo.tiles import Tile, mercator_lonlat
from jzmap.presentation.presenters import public_properties
from jzmap.settings import Settings
from providers.model import Category, Grade, Kind, Provider
from providers.store import (
    TILE_EXTENT,
    TILE_GROUPINGS,
    TILE_LAYER,
    BBox,
    Filters,
    ProviderStore,
    TallyBy,
)
from providers.stores import Backend
from providers.tiles import provider_tile
from providers.viewport import LayerMode
from tests.helpers import CANTON_TOWER, company, station

LON, LAT = CANTON_TOWER
DISTRICTS = ("海珠区", "天河区", "越秀区")
_COUNTER = itertools.count()


def city(n: int = 90, seed: int = 17) -> list[Provider]:
    """``n`` providers within ~3 km of Canton Tower, of every kind, grade, category mix and
    precision, some on one spot (tiles must keep both)."""
    rng = np.random.default_rng(seed)
    out: list[Provider] = []
    for i in range(1, n + 1):
        lon = LON + float(rng.uniform(-0.03, 0.03))
        lat = LAT + float(rng.uniform(-0.025, 0.025))
        if i % 15 == 0:
            lon, lat = out[-1].lon, out[-1].lat  # same point as the one before
        categories = [c for c in Category if rng.random() < 0.45] or [Category.NURSING]
        fields: dict[str, Any] = {
            "district": DISTRICTS[i % 3],
            "practitioners": 10,
            "certified_practitioners": int(rng.integers(0, 3)),
            "geocode_precision": (Precision.EXACT, Precision.EXACT, Precision.STREET)[i % 3]
            if i % 11
            else Precision.DISTRICT,
        }
        if i % 4 == 0:
            out.append(station(i, lon, lat, categories=categories, **fields))
        else:
            grade = list(Grade)[i % 5]
            out.append(company(i, lon, lat, grade=grade, categories=categories, **fields))
    return out


def decode(tmp_path: Path, tile: Tile, data: bytes) -> list[dict[str, Any]]:
    """The tile's ``providers`` features as GDAL reads them: properties, and ``lon``/``lat``
    (WGS-84, from GDAL's EPSG:3857 positions)."""
    if not data:
        return []
    folder = tmp_path / f"t{next(_COUNTER)}" / str(tile.z) / str(tile.x)
    folder.mkdir(parents=True)
    path = folder / f"{tile.y}.pbf"
    path.write_bytes(data)
    assert [list(layer) for layer in pyogrio.list_layers(path)] == [[TILE_LAYER, "Point"]]
    frame = pyogrio.read_dataframe(path, layer=TILE_LAYER)
    assert frame.crs.to_epsg() == 3857
    features = []
    for record, point in zip(
        frame.drop(columns=["geometry", "mvt_id"], errors="ignore").to_dict("records"),
        frame.geometry,
        strict=True,
    ):
        props = {k: v for k, v in record.items() if not _missing(v)}
        lon, lat = mercator_lonlat(point.x, point.y)
        features.append({**props, "lon": lon, "lat": lat})
    return features


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def near(tile: Tile, lon: float, lat: float, want_lon: float, want_lat: float) -> bool:
    """Whether two points are within one of the tile's units of each other (a position is
    rounded to the nearest unit: half a unit off at most)."""
    west, south, east, north = tile.bounds_wgs84()
    # Mercator stretches latitude unevenly within a tile: 10% covers it at any zoom here.
    return (
        abs(lon - want_lon) <= (east - west) / TILE_EXTENT
        and abs(lat - want_lat) <= 1.1 * (north - south) / TILE_EXTENT
    )


def in_tile(store: ProviderStore, tile: Tile, filters: Filters) -> list[Provider]:
    return store.within(BBox(*tile.bounds_wgs84()), filters, 100_000)


# What a point tile carries of a provider beside its point: public fields only (the
# categories joined, as an MVT value cannot be a list), named as in the API.
TILE_FIELDS = {"id", "name", "kind", "categories", "credit_grade", "certified_practitioners",
               "approximate"}  # fmt: skip


def assert_public_properties(feature: dict[str, Any], p: Provider) -> None:
    """Every property of a decoded point feature is the provider's public value
    (:func:`~jzmap.presentation.presenters.public_properties`, the rule every output uses),
    and the tile holds every field of :data:`TILE_FIELDS` the provider has."""
    public = public_properties(p)
    public["categories"] = ",".join(sorted(public["categories"]))
    props = dict(feature)
    assert props.pop("mode") == "points"
    assert set(props) <= TILE_FIELDS, set(props) - TILE_FIELDS
    for key in TILE_FIELDS:
        assert props.get(key) == public[key], (p.id, key, props.get(key), public[key])


def group_key(p: Provider, by: TallyBy) -> str:
    if by is TallyBy.DISTRICT:
        return p.district
    return str(h3.latlng_to_cell(p.lat, p.lon, int(by.value[-1])))


FILTERS = [
    Filters(),
    Filters(category=Category.NURSING),
    Filters(kind=Kind.STATION),
    Filters(min_grade=Grade.A4, certified_only=True),
    Filters(include_approximate=True),
]
# Tiles of several zooms over the providers, some cutting through them.
TILES = [
    Tile.containing(LON, LAT, 10),
    Tile.containing(LON, LAT, 12),
    Tile.containing(LON, LAT, 14),
    Tile.containing(LON + 0.02, LAT - 0.02, 14),
    Tile.containing(LON, LAT, 15),
    Tile.containing(LON - 0.01, LAT + 0.015, 16),
]


@pytest.fixture
def seeded(store: ProviderStore) -> ProviderStore:
    store.upsert(city())
    return store


def test_point_tiles_hold_the_stores_providers_where_they_are(
    seeded: ProviderStore, tmp_path: Path
) -> None:
    checked = 0
    for tile, filters in itertools.product(TILES, FILTERS):
        expected = in_tile(seeded, tile, filters)
        answer = seeded.tile(tile, filters, limit=len(expected) + 1)
        got = decode(tmp_path, tile, answer.data)
        assert answer.features == len(expected) == len(got), (tile, filters)
        by_id = {p.id: p for p in expected}
        assert sorted(f["id"] for f in got) == sorted(by_id)
        for feature in got:
            p = by_id[feature["id"]]
            lon, lat = feature.pop("lon"), feature.pop("lat")
            assert_public_properties(feature, p)
            assert near(tile, lon, lat, p.lon, p.lat), (tile, p.id, lon, lat, p.lon, p.lat)
        checked += len(got)
    assert checked > 200  # not vacuous


@pytest.mark.postgis
def test_neither_store_draws_tiles_by_street(
    postgis_backend: Backend, embedded_backend: Backend
) -> None:
    """Streets are tallied for the map layer, not drawn in tiles: both stores say so alike
    (PostGIS had answered with an SQL error)."""
    for store in (postgis_backend.store, embedded_backend.store):
        with pytest.raises(ValueError, match="district or H3 cell"):
            store.tile(TILES[0], Filters(), by=TallyBy.STREET)


@pytest.mark.postgis
def test_postgis_and_embedded_tiles_decode_to_the_same_features(
    postgis_backend: Backend, embedded_backend: Backend, tmp_path: Path
) -> None:
    """The two encoders (``ST_AsMVT``, ``mapbox-vector-tile``) agree feature for feature,
    property for property, point for point (within a tile unit), in every mode."""
    providers = city()
    every = len(providers) + 1
    postgis_backend.store.upsert(providers)
    embedded_backend.store.upsert(providers)
    compared = 0
    for tile, filters in itertools.product(TILES, FILTERS):
        for by in (None, *TILE_GROUPINGS):
            pg = decode(
                tmp_path, tile, postgis_backend.store.tile(tile, filters, by=by, limit=every).data
            )
            em = decode(
                tmp_path, tile, embedded_backend.store.tile(tile, filters, by=by, limit=every).data
            )
            key = "id" if by is None else ("district" if by is TallyBy.DISTRICT else "cell")
            pg.sort(key=lambda f: str(f[key]))
            em.sort(key=lambda f: str(f[key]))
            assert len(pg) == len(em), (tile, filters, by)
            for a, b in zip(pg, em, strict=True):
                a_lon, a_lat, b_lon, b_lat = a.pop("lon"), a.pop("lat"), b.pop("lon"), b.pop("lat")
                assert a == b, (tile, filters, by)
                assert near(tile, a_lon, a_lat, b_lon, b_lat), (tile, filters, by, a)
            compared += len(pg)
    assert compared > 500  # not vacuous


def test_a_point_tile_keeps_the_first_providers_by_id(
    seeded: ProviderStore, tmp_path: Path
) -> None:
    tile = Tile.containing(LON, LAT, 12)
    expected = in_tile(seeded, tile, Filters())
    assert len(expected) > 20
    answer = seeded.tile(tile, Filters(), limit=7)
    got = decode(tmp_path, tile, answer.data)
    assert answer.features == 7
    assert sorted(f["id"] for f in got) == [p.id for p in expected[:7]]


# Tiles group by district or cell (street counts are the map layer's street level).
@pytest.mark.parametrize("by", [b for b in TallyBy if b is not TallyBy.STREET])
def test_grouped_tiles_count_each_group_at_its_mean_position(
    seeded: ProviderStore, by: TallyBy, tmp_path: Path
) -> None:
    key = "district" if by is TallyBy.DISTRICT else "cell"
    mode = "districts" if by is TallyBy.DISTRICT else "cells"
    for tile, filters in itertools.product(TILES, FILTERS):
        groups: dict[str, list[Provider]] = defaultdict(list)
        for p in in_tile(seeded, tile, filters):
            groups[group_key(p, by)].append(p)
        answer = seeded.tile(tile, filters, by=by)
        got = decode(tmp_path, tile, answer.data)
        assert answer.features == len(groups) == len(got), (tile, filters, by)
        for feature in got:
            assert feature["mode"] == mode and set(feature) == {"mode", key, "count", "lon", "lat"}
            members = groups[feature[key]]
            assert feature["count"] == len(members)
            mean_lon = sum(p.lon for p in members) / len(members)
            mean_lat = sum(p.lat for p in members) / len(members)
            assert near(tile, feature["lon"], feature["lat"], mean_lon, mean_lat)


def test_a_tile_without_providers_is_empty(seeded: ProviderStore) -> None:
    far = Tile.containing(LON + 1.0, LAT + 1.0, 14)
    for by in (None, TallyBy.DISTRICT, TallyBy.H3_R9):
        answer = seeded.tile(far, Filters(), by=by, limit=10)
        assert (answer.data, answer.features) == (b"", 0)
    assert seeded.tile(Tile.containing(LON, LAT, 14), Filters(), limit=0).features == 0


def test_tiles_at_the_worlds_edges_are_served(seeded: ProviderStore) -> None:
    # Found by schemathesis: the east edge came back as 180.00000000000003.
    for tile in (Tile(0, 0, 0), Tile(1, 1, 1), Tile(20, 2**20 - 1, 2**20 - 1)):
        assert seeded.tile(tile, Filters(), by=TallyBy.DISTRICT).features >= 0
        assert provider_tile(seeded, tile, Filters()).tile.features >= 0
    assert provider_tile(seeded, Tile(0, 0, 0), Filters()).tile.features == 3  # districts


def test_the_tile_rule_is_the_map_layers(seeded: ProviderStore) -> None:
    everyone = Filters(include_approximate=True)
    assert provider_tile(seeded, TILES[0], everyone).mode is LayerMode.DISTRICTS
    crowded = Tile.containing(LON, LAT, 12)
    n = len(in_tile(seeded, crowded, everyone))
    assert provider_tile(seeded, crowded, everyone, point_cap=n).mode is LayerMode.POINTS
    cells = provider_tile(seeded, crowded, everyone, point_cap=n - 1)
    assert cells.mode is LayerMode.CELLS
    assert cells.tile == seeded.tile(crowded, everyone, by=TallyBy.H3_R8)


# -- over HTTP ----------------------------------------------------------------------------


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    backend.store.upsert(city())
    settings = Settings(data_dir=Path("/nonexistent"), map_point_cap=50, vector_tile_max_age_s=90)
    with TestClient(create_app(settings, backend=backend)) as c:
        yield c


def url(tile: Tile) -> str:
    return f"/tiles/{tile.z}/{tile.x}/{tile.y}.mvt"


def test_a_tile_is_served_with_its_etag_and_revalidated(
    client: TestClient, store: ProviderStore, tmp_path: Path
) -> None:
    tile = Tile.containing(LON, LAT, 15)
    r = client.get(url(tile))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert r.headers["cache-control"] == "public, max-age=90"
    etag = r.headers["etag"]
    got = decode(tmp_path, tile, r.content)
    assert sorted(f["id"] for f in got) == sorted(p.id for p in in_tile(store, tile, Filters()))

    again = client.get(url(tile), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get(url(tile), headers={"If-None-Match": f'W/{etag}, "x"'}).status_code == 304
    assert client.get(url(tile), headers={"If-None-Match": '"other"'}).status_code == 200
    # Another filter is another tile, with another tag.
    nursing = client.get(url(tile), params={"category": "nursing"})
    assert nursing.headers["etag"] != etag
    ids = {f["id"] for f in decode(tmp_path, tile, nursing.content)}
    assert ids == {p.id for p in in_tile(store, tile, Filters(category=Category.NURSING))}

    store.upsert([company(999, LON + 0.0001, LAT + 0.0001, name="新来的公司")])
    changed = client.get(url(tile), headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "新来的公司" in {f["name"] for f in decode(tmp_path, tile, changed.content)}


def test_tiles_follow_the_rule_with_the_configured_cap(client: TestClient, tmp_path: Path) -> None:
    city_tile = Tile.containing(LON, LAT, 9)
    modes = {f["mode"] for f in decode(tmp_path, city_tile, client.get(url(city_tile)).content)}
    assert modes == {"districts"}
    crowded = Tile.containing(LON, LAT, 12)  # holds more than the cap of 50
    got = decode(tmp_path, crowded, client.get(url(crowded)).content)
    assert {f["mode"] for f in got} == {"cells"} and sum(f["count"] for f in got) > 50


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/tiles/21/0/0.mvt", "z"),
        ("/tiles/-1/0/0.mvt", "z"),
        ("/tiles/3/8/0.mvt", "x"),
        ("/tiles/3/0/8.mvt", "y"),
        ("/tiles/3/0/x.mvt", "y"),
        ("/tiles/3/0/99999999999999999999.mvt", "y"),
    ],
)
def test_bad_tile_addresses_are_json_422_naming_the_parameter(
    client: TestClient, path: str, parameter: str
) -> None:
    r = client.get(path)
    assert r.status_code == 422, r.text
    body = r.json()
    assert [d["parameter"] for d in body["details"]] == [parameter]
    assert body["request_id"] and r.headers["content-type"].startswith("application/json")


def test_bad_tile_filters_are_json_422(client: TestClient) -> None:
    r = client.get("/tiles/15/0/0.mvt", params={"category": "plumbing"})
    assert r.status_code == 422 and r.json()["details"][0]["parameter"] == "category"


def test_tilejson_points_at_the_tiles_with_the_filters(client: TestClient) -> None:
    r = client.get("/tiles/tilejson.json", params={"category": "nursing", "certified_only": "true"})
    assert r.status_code == 200
    doc = r.json()
    assert doc["tilejson"] == "3.0.0" and doc["scheme"] == "xyz"
    (template,) = doc["tiles"]
    assert template.startswith("http://testserver/tiles/{z}/{x}/{y}.mvt?")
    assert "category=nursing" in template and "certified_only=true" in template
    assert [layer["id"] for layer in doc["vector_layers"]] == [TILE_LAYER]
    west, south, east, north = doc["bounds"]
    assert west < LON < east and south < LAT < north
    tile = Tile.containing(LON, LAT, 15)
    first = template.format(z=tile.z, x=tile.x, y=tile.y).removeprefix("http://testserver")
    assert client.get(first).status_code == 200
    plain = client.get("/tiles/tilejson.json").json()["tiles"][0]
    assert plain == "http://testserver/tiles/{z}/{x}/{y}.mvt"

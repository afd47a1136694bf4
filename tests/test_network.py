"""Walking distances on hand-built OpenStreetMap files whose answers are worked out by hand
(:mod:`tests.osm_fixtures`): a river with one bridge, a cul-de-sac, an island with no
path; the cache; and the many-to-many routing against a plain Dijkstra."""

from __future__ import annotations

import functools
import heapq
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from gaps.distances import nearest_geodesic, pairs_within
from gaps.measures import cell_measures
from gaps.network import (
    WalkNetwork,
    clip_network,
    densify,
    isochrone,
    nearest_way_name,
    network_from_arrays,
    network_nearest,
    network_pairs_within,
    snap,
)
from ingest.osm_network import read_walkable_ways
from jzmap.application.network import build_network, cache_path
from jzmap.settings import CitySettings
from providers.model import Category
from tests.osm_fixtures import OsmPlace, cul_de_sac, island, lonlat, river_with_one_bridge

TEN_MINUTES_ADULT_M = 10 * 60 * 1.2  # 720 m
TEN_MINUTES_ELDERLY_M = 10 * 60 * 0.8  # 480 m


def _network(place: OsmPlace, tmp_path: Path) -> WalkNetwork:
    ways = read_walkable_ways(place.write(tmp_path / "place.osm"))
    return network_from_arrays(
        ways.node_lon, ways.node_lat, ways.edge_u, ways.edge_v,
        edge_name=ways.edge_name, names=ways.names,
    )  # fmt: skip


def _walk(net: WalkNetwork, a: tuple[float, float], b: tuple[float, float]) -> float:
    _, metres = network_nearest([a[0]], [a[1]], [b[0]], [b[1]], net=net)
    return float(metres[0])


def _crow(a: tuple[float, float], b: tuple[float, float]) -> float:
    _, metres = nearest_geodesic([a[0]], [a[1]], [b[0]], [b[1]])
    return float(metres[0])


# -- the river with one bridge -----------------------------------------------------------------


def test_the_motorway_bridge_is_not_walked_and_the_footbridge_is(tmp_path: Path) -> None:
    place = river_with_one_bridge()
    ways = read_walkable_ways(place.write(tmp_path / "river.osm"))
    # West bank 3 edges, east bank 2, the footbridge 1; the motorway none.
    assert (ways.ways, ways.edge_u.size, ways.node_lon.size) == (3, 6, 7)
    assert set(ways.names) == {"西岸路", "东岸路", "人行桥"}


def test_across_the_river_is_covered_by_crow_fly_but_not_on_foot(tmp_path: Path) -> None:
    place = river_with_one_bridge()
    net = _network(place, tmp_path)
    provider, across = place.at("w1"), place.at("e1")
    assert _crow(across, provider) == pytest.approx(700.0, abs=1.0)
    # Up the east bank 900 m, over the bridge 700 m, down the west bank 900 m.
    assert _walk(net, across, provider) == pytest.approx(2_500.0, abs=1.0)

    grid = pd.DataFrame(
        {
            "cell": [1, 2],
            "lon": [across[0], place.at("w2")[0]],
            "lat": [across[1], place.at("w2")[1]],
            "district": ["海珠区", "海珠区"],
        }
    )
    demand = pd.DataFrame({"cell": [1, 2], "residents": [200.0, 100.0]})
    supply = pd.DataFrame(
        {"category": ["elderly_care"], "id": ["st-1"], "lon": [provider[0]],
         "lat": [provider[1]], "capacity": [10.0]}
    )  # fmt: skip
    crow = cell_measures(
        grid, demand, supply, Category.ELDERLY_CARE, catchment_m=TEN_MINUTES_ADULT_M
    )
    walk = cell_measures(
        grid, demand, supply, Category.ELDERLY_CARE, catchment_m=TEN_MINUTES_ADULT_M,
        nearest=functools.partial(network_nearest, net=net),
        pairs=functools.partial(network_pairs_within, net=net),
    )  # fmt: skip
    assert crow["covered"].tolist() == [True, True]
    assert walk["covered"].tolist() == [False, True]
    assert walk["gap"].tolist() == [True, False]
    assert walk["nearest_m"].round().tolist() == [2_500.0, 500.0]
    assert walk["providers_within"].tolist() == [0, 1]
    # E2SFCA on walking metres (thirds of 720 m: 240, 480): only the west cell is in reach
    # (500 m, outer third: weight 0.22), R = 10 / (0.22 × 100), A = 0.22 R = 0.1. Crow-fly
    # the east cell (700 m, outer third too) shares it: R = 10 / (22 + 44), A = 0.22 R.
    assert walk["accessibility"].round(4).tolist() == [0.0, 0.1]
    assert crow["accessibility"].round(4).tolist() == [round(0.22 * 10 / 66, 4)] * 2


def test_a_door_off_the_street_adds_its_walk_to_the_street(tmp_path: Path) -> None:
    place = river_with_one_bridge()
    net = _network(place, tmp_path)
    door = lonlat(-50.0, 0.0)  # 50 m west of w1, e.g. a building behind the street
    assert _walk(net, door, place.at("w2")) == pytest.approx(550.0, abs=1.0)
    at = snap(net, [door[0]], [door[1]], max_snap_m=40.0)
    assert at.edge.tolist() == [-1] and np.isinf(at.metres[0])  # beyond the largest snap


def test_the_river_isochrone_stops_at_the_bank(tmp_path: Path) -> None:
    place = river_with_one_bridge()
    net = _network(place, tmp_path)
    area = isochrone(net, *place.at("w1"), TEN_MINUTES_ELDERLY_M)
    assert area.contains(shapely.Point(place.at("w1")))
    assert area.contains(shapely.Point(lonlat(0, 400)))  # 400 m up the bank
    assert not area.contains(shapely.Point(lonlat(0, 600)))  # 600 m: too far
    assert not area.contains(shapely.Point(place.at("e1")))  # 700 m away, 2.5 km on foot
    assert not area.contains(shapely.Point(lonlat(350, 0)))  # the river itself


# -- the cul-de-sac --------------------------------------------------------------------------


def test_the_end_of_a_cul_de_sac_is_a_long_walk_from_the_street_behind_it(
    tmp_path: Path,
) -> None:
    place = cul_de_sac()
    net = _network(place, tmp_path)
    assert net.edges == 6  # the private service road is left out
    end, behind = place.at("c"), place.at("n5")
    assert _crow(end, behind) == pytest.approx(100.0, abs=1.0)
    # Down the lane 400, west 500, north 500, east 500.
    assert _walk(net, end, behind) == pytest.approx(1_900.0, abs=1.0)
    i, j, m = network_pairs_within([end[0]], [end[1]], [behind[0]], [behind[1]], 1_899.0, net=net)
    assert i.size == 0
    i, j, m = network_pairs_within([end[0]], [end[1]], [behind[0]], [behind[1]], 1_901.0, net=net)
    assert (i.tolist(), j.tolist(), round(float(m[0]))) == ([0], [0], 1_900)


def test_the_cul_de_sac_isochrone_follows_the_streets(tmp_path: Path) -> None:
    place = cul_de_sac()
    net = _network(place, tmp_path)
    area = isochrone(net, *place.at("n5"), TEN_MINUTES_ELDERLY_M)
    assert area.contains(shapely.Point(lonlat(900, 500)))  # 400 m along the north street
    assert not area.contains(shapely.Point(place.at("c")))  # 100 m crow-fly, 1.9 km walk
    assert not area.contains(shapely.Point(lonlat(0, 300)))  # 700 m: round the corner
    # The band ends 480 m each way along the street, plus its 40 m half-width.
    west, _, east, _ = area.bounds
    assert west == pytest.approx(lonlat(20 - 40, 0)[0], abs=2e-5)
    assert east == pytest.approx(lonlat(980 + 40, 0)[0], abs=2e-5)


def test_nearest_way_names_come_from_the_extract(tmp_path: Path) -> None:
    place = cul_de_sac()
    net = _network(place, tmp_path)
    assert nearest_way_name(net, *zip(lonlat(1000, 30), strict=True)) == ["南街"]


# -- the island --------------------------------------------------------------------------------


def test_an_island_with_no_path_is_unreachable_on_foot(tmp_path: Path) -> None:
    place = island()
    net = _network(place, tmp_path)
    provider, centre = place.at("b1"), lonlat(300, 0)
    assert _crow(centre, provider) == pytest.approx(300.0, abs=1.0)
    at = snap(net, [centre[0]], [centre[1]], max_snap_m=300.0)
    # On the island path: 50 m to the foot on its nearest side (70.7 m to its corners).
    assert at.on[0] and at.metres[0] == pytest.approx(50.0, abs=0.5)
    pos, walk = network_nearest([centre[0]], [centre[1]], [provider[0]], [provider[1]], net=net)
    assert pos.tolist() == [-1] and np.isinf(walk[0])
    i, _, _ = network_pairs_within(
        [centre[0]], [centre[1]], [provider[0]], [provider[1]], 10_000.0, net=net
    )
    assert i.size == 0
    area = isochrone(net, *provider, 10_000.0)
    assert not area.contains(shapely.Point(centre))
    assert area.contains(shapely.Point(lonlat(0, 450)))


# -- snapping to the way, not the node ----------------------------------------------------------


def _long_street() -> WalkNetwork:
    """One straight street 1,000 m long, east from the origin, mapped with its two ends."""
    lon, lat = np.array([lonlat(0, 0), lonlat(1_000, 0)]).T
    return network_from_arrays(lon, lat, [0], [1])


def test_a_door_beside_the_middle_of_a_long_way_joins_it_at_its_foot() -> None:
    net = _long_street()
    door = lonlat(500, 30)
    at = snap(net, [door[0]], [door[1]], max_snap_m=300.0)
    # The perpendicular, not the ~501 m to either end (which is beyond the largest snap).
    assert at.edge.tolist() == [0]
    assert at.metres[0] == pytest.approx(30.0, abs=0.01)
    assert (at.to_u_m[0], at.to_v_m[0]) == (pytest.approx(500.0, abs=0.01),) * 2
    assert (at.foot_lon[0], at.foot_lat[0]) == pytest.approx(lonlat(500, 0), abs=1e-7)
    # Its walks start there: 30 m to the street, then along it either way.
    end = lonlat(1_000, 0)
    assert _walk(net, door, end) == pytest.approx(530.0, abs=0.01)
    i, _, m = network_pairs_within([door[0]], [door[1]], [end[0]], [end[1]], 531.0, net=net)
    assert i.tolist() == [0] and m[0] == pytest.approx(530.0, abs=0.01)


def test_a_door_joins_the_street_it_is_beside_not_the_nearest_corner() -> None:
    # Street A runs east 100 m; street B runs north from 40 m above A's middle (its end
    # node 30 m from the door, A's ends 51 m): the door is 10 m from A.
    lon, lat = np.array([lonlat(0, 0), lonlat(100, 0), lonlat(50, 40), lonlat(50, 400)]).T
    net = network_from_arrays(lon, lat, [0, 2], [1, 3])
    door = lonlat(50, 10)
    at = snap(net, [door[0]], [door[1]], max_snap_m=300.0)
    assert at.edge.tolist() == [0] and at.metres[0] == pytest.approx(10.0, abs=0.01)
    assert nearest_way_name(
        network_from_arrays(lon, lat, [0, 2], [1, 3], edge_name=[0, 1], names=("甲街", "乙街")),
        [door[0]], [door[1]],
    ) == ["甲街"]  # fmt: skip


def test_two_doors_on_one_way_walk_straight_along_it() -> None:
    net = _long_street()
    a, b = lonlat(300, 10), lonlat(700, -10)
    # 10 m to the street, 400 m along it, 10 m to the door; not out to an end and back.
    assert _walk(net, a, b) == pytest.approx(420.0, abs=0.01)
    i, j, m = network_pairs_within([a[0]], [a[1]], [b[0]], [b[1]], 500.0, net=net)
    assert (i.tolist(), j.tolist()) == ([0], [0]) and m[0] == pytest.approx(420.0, abs=0.01)
    i, _, _ = network_pairs_within([a[0]], [a[1]], [b[0]], [b[1]], 419.0, net=net)
    assert i.size == 0


def test_the_isochrone_of_a_door_beside_a_long_way_runs_both_ways_from_its_foot() -> None:
    net = _long_street()
    door = lonlat(500, 30)
    area = isochrone(net, *door, 230.0)  # 30 m to the street, then 200 m each way
    assert area.contains(shapely.Point(door))
    west, _, east, _ = area.bounds
    assert west == pytest.approx(lonlat(300 - 40, 0)[0], abs=2e-5)
    assert east == pytest.approx(lonlat(700 + 40, 0)[0], abs=2e-5)


def test_snapping_finds_the_nearest_way_exactly_and_builds_its_index_once() -> None:
    # Ways of every length (5 m to 3 km, so that the index's proof sometimes fails and the
    # wider search runs), against every way measured one by one.
    rng = np.random.default_rng(7)
    ends = [lonlat(e, n) for e, n in rng.uniform(-2_000, 2_000, (120, 2))]
    lon, lat = np.array(ends).T
    u = rng.integers(0, 120, 200)
    v = np.where(rng.random(200) < 0.5, (u + 1) % 120, rng.integers(0, 120, 200))
    net = network_from_arrays(lon, lat, u, v)
    points = np.array([lonlat(e, n) for e, n in rng.uniform(-2_200, 2_200, (400, 2))])
    at = snap(net, points[:, 0], points[:, 1], max_snap_m=np.inf)
    index = net.ways
    assert net.ways is index  # built once, kept with the network
    x, y = index.to_plane.transform(net.node_lon, net.node_lat)
    segment_ends = [
        np.column_stack([x[net.edge_u], y[net.edge_u]]),
        np.column_stack([x[net.edge_v], y[net.edge_v]]),
    ]
    lines = np.asarray(shapely.linestrings(np.stack(segment_ends, axis=1)), dtype=object)
    px, py = index.to_plane.transform(points[:, 0], points[:, 1])
    doors = np.asarray(shapely.points(px, py), dtype=object)
    every = shapely.distance(doors[:, None], lines[None, :]).min(axis=1)
    assert at.on.all()
    np.testing.assert_allclose(at.metres, every, atol=0.05)
    assert (
        snap(net, points[:, 0], points[:, 1], max_snap_m=300.0).on.tolist()
        == (every <= 300.0).tolist()
    )


# -- routing against a plain Dijkstra ----------------------------------------------------------


def _plain_dijkstra(net: WalkNetwork, start: int) -> dict[int, float]:
    adjacent: dict[int, list[tuple[int, float]]] = {}
    for u, v, m in zip(net.edge_u.tolist(), net.edge_v.tolist(), net.edge_m.tolist(), strict=True):
        adjacent.setdefault(u, []).append((v, m))
        adjacent.setdefault(v, []).append((u, m))
    best = {start: 0.0}
    queue = [(0.0, start)]
    while queue:
        d, node = heapq.heappop(queue)
        if d > best.get(node, np.inf):
            continue
        for nxt, m in adjacent.get(node, []):
            if d + m < best.get(nxt, np.inf):
                best[nxt] = d + m
                heapq.heappush(queue, (d + m, nxt))
    return best


def _random_grid(seed: int) -> WalkNetwork:
    rng = np.random.default_rng(seed)
    side = 12
    east, north = np.meshgrid(np.arange(side) * 80.0, np.arange(side) * 80.0)
    points = [lonlat(e, n) for e, n in zip(east.ravel(), north.ravel(), strict=True)]
    ids = np.arange(side * side).reshape(side, side)
    u = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    v = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    keep = rng.random(u.size) > 0.3  # remove ~30% of the streets
    lon, lat = np.array(points).T
    return network_from_arrays(lon, lat, u[keep], v[keep])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_many_to_many_agrees_with_a_plain_dijkstra(seed: int) -> None:
    net = _random_grid(seed)
    rng = np.random.default_rng(seed)
    # Points on the ways: a node whose streets were all removed is no door on the network
    # (it walks to its nearest way, which the plain Dijkstra from nodes does not know).
    on_a_way = np.unique(np.concatenate([net.edge_u, net.edge_v]))
    q = rng.choice(on_a_way, 25, replace=False)
    t = rng.choice(on_a_way, 6, replace=False)
    radius = 500.0
    i, j, m = network_pairs_within(
        net.node_lon[q], net.node_lat[q], net.node_lon[t], net.node_lat[t], radius, net=net
    )
    expected = {}
    for col, target in enumerate(t.tolist()):
        reach = _plain_dijkstra(net, target)
        for row, node in enumerate(q.tolist()):
            if reach.get(node, np.inf) <= radius:
                expected[(row, col)] = reach[node]
    got = {(a, b): c for a, b, c in zip(i.tolist(), j.tolist(), m.tolist(), strict=True)}
    assert expected and got.keys() == expected.keys()
    for key, metres_walked in expected.items():
        assert got[key] == pytest.approx(metres_walked, abs=1e-6)
    pos, metres = network_nearest(
        net.node_lon[q], net.node_lat[q], net.node_lon[t], net.node_lat[t], net=net
    )
    for row, node in enumerate(q.tolist()):
        best = min(_plain_dijkstra(net, target).get(node, np.inf) for target in t.tolist())
        assert metres[row] == pytest.approx(best)
        if np.isfinite(best):
            assert _plain_dijkstra(net, int(t[pos[row]]))[node] == pytest.approx(best)


def test_crow_fly_pairs_are_the_geodesic_ones_when_every_straight_line_is_a_street() -> None:
    # A star of straight streets: walking from the centre is the crow-fly distance.
    centre = lonlat(0, 0)
    tips = [lonlat(300 * np.cos(a), 300 * np.sin(a)) for a in np.linspace(0, 6, 7)]
    lon, lat = np.array([centre, *tips]).T
    net = network_from_arrays(lon, lat, [0] * 7, list(range(1, 8)))
    _, _, walk = network_pairs_within(lon[1:], lat[1:], [lon[0]], [lat[0]], 400.0, net=net)
    _, _, crow = pairs_within(lon[1:], lat[1:], [lon[0]], [lat[0]], 400.0)
    np.testing.assert_allclose(walk, crow, atol=1e-6)


# -- the cache ---------------------------------------------------------------------------------


def test_the_network_is_clipped_to_the_city_and_cached_by_the_extracts_hash(
    tmp_path: Path,
) -> None:
    place = river_with_one_bridge()
    source = place.write(tmp_path / "river.osm")
    # A way far outside Guangzhou (Beijing) is clipped away.
    text = source.read_text("utf-8").replace(
        "</osm>",
        '  <node id="100" version="1" lat="39.9" lon="116.4"/>\n'
        '  <node id="101" version="1" lat="39.901" lon="116.4"/>\n'
        '  <way id="100" version="1"><nd ref="100"/><nd ref="101"/>'
        '<tag k="highway" v="footway"/></way>\n</osm>',
    )
    source.write_text(text, "utf-8")
    city = CitySettings()
    net, info = build_network(source, city, tmp_path / "cache")
    # The 7 nodes and 6 edges of the river (Beijing's way dropped), edges split to ≤ 50 m:
    # 1,900 m up each bank and the 700 m bridge, so at least 90 edges (a tree: one node more).
    assert info.built and net.edges >= 90 and net.nodes == net.edges + 1
    assert net.edge_m.max() <= 50.0 + 1e-6
    assert net.edge_m.sum() == pytest.approx(1_900 + 1_900 + 700, abs=1)
    assert info.path == cache_path(tmp_path / "cache", info.source_sha256)
    assert info.path.exists()
    again, info2 = build_network(source, city, tmp_path / "cache")
    assert not info2.built
    np.testing.assert_array_equal(again.edge_m, net.edge_m)
    np.testing.assert_array_equal(again.node_lon, net.node_lon)
    assert again.names == net.names
    source.write_text(text.replace("西岸路", "西岸大道"), "utf-8")
    changed, info3 = build_network(source, city, tmp_path / "cache")
    assert info3.built and info3.path != info.path and "西岸大道" in changed.names


def test_densifying_keeps_every_distance(tmp_path: Path) -> None:
    place = river_with_one_bridge()
    net = _network(place, tmp_path)
    fine = densify(net, 50.0)
    assert fine.edge_m.max() <= 50.0 + 1e-6
    assert fine.edge_m.sum() == pytest.approx(net.edge_m.sum(), abs=1e-3)
    assert set(fine.edge_name.tolist()) == set(net.edge_name.tolist())
    # A door halfway up the east bank joins the bank beside it, on either network.
    door = lonlat(690, -500)
    assert float(snap(fine, [door[0]], [door[1]], 300.0).metres[0]) == pytest.approx(10, abs=0.1)
    assert float(snap(net, [door[0]], [door[1]], 300.0).metres[0]) == pytest.approx(10, abs=0.1)
    assert _walk(fine, place.at("e1"), place.at("w1")) == pytest.approx(2_500.0, abs=1.0)


def test_clipping_keeps_edges_with_both_ends_inside() -> None:
    net = _random_grid(4)
    keep = net.node_lon < np.median(net.node_lon)
    part = clip_network(net, keep)
    assert part.edges == int((keep[net.edge_u] & keep[net.edge_v]).sum())
    assert part.nodes <= int(keep.sum())

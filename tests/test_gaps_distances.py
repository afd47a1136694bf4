"""gaps.distances against oracles: GeodesicKNN (one query at a time) and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod
from scipy.spatial import cKDTree

from gaps.distances import nearest_geodesic, pairs_within
from geo.geodesy import ecef_xyz, geodesic_distance_m
from geo.spatial_index import GeodesicKNN

GEOD = Geod(ellps="WGS84")


def _random_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # A 30 km square over central Guangzhou.
    return rng.uniform(113.15, 113.45, n), rng.uniform(22.95, 23.25, n)


def test_nearest_matches_geodesic_knn_one_query_at_a_time() -> None:
    rng = np.random.default_rng(5)
    t_lon, t_lat = _random_points(rng, 300)
    q_lon, q_lat = _random_points(rng, 400)
    pos, metres = nearest_geodesic(q_lon, q_lat, t_lon, t_lat)
    knn = GeodesicKNN(t_lon, t_lat)
    for n in range(q_lon.size):
        want_pos, want_m = knn.nearest(float(q_lon[n]), float(q_lat[n]), 1)
        assert pos[n] == want_pos[0]
        assert metres[n] == pytest.approx(want_m[0], abs=1e-6)


def test_nearest_is_exact_where_chord_order_and_geodesic_order_disagree() -> None:
    # At 50 km a chord is ~0.1294 m shorter than the geodesic northwards but only ~0.1279 m
    # eastwards (the meridian curves more). Five targets 0.7 mm farther north than one
    # target east therefore come first by chord: only the exactness check finds the east
    # one, which is the true nearest.
    lon0, lat0 = 113.3, 23.1
    north_az = np.array([0.0, 0.001, -0.001, 0.002, -0.002])
    n_lon, n_lat, _ = GEOD.fwd(
        np.full(5, lon0), np.full(5, lat0), north_az, np.full(5, 50_000.0007)
    )
    e_lon, e_lat, _ = GEOD.fwd(lon0, lat0, 90.0, 50_000.0)
    t_lon, t_lat = np.append(n_lon, e_lon), np.append(n_lat, e_lat)
    chord_first = int(cKDTree(ecef_xyz(t_lon, t_lat)).query(ecef_xyz(lon0, lat0)[0])[1])
    assert chord_first != 5  # the case is adversarial: chord order alone gets it wrong
    pos, metres = nearest_geodesic([lon0], [lat0], t_lon, t_lat)
    assert pos.tolist() == [5]
    assert metres[0] == pytest.approx(50_000.0, abs=1e-6)


def test_nearest_without_targets() -> None:
    pos, metres = nearest_geodesic([113.3, 113.4], [23.1, 23.2], [], [])
    assert pos.tolist() == [-1, -1]
    assert np.isinf(metres).all()


def test_nearest_ties_go_to_the_lower_position() -> None:
    pos, _ = nearest_geodesic([113.3], [23.1], [113.31, 113.31, 113.2], [23.1, 23.1, 23.1])
    assert pos.tolist() == [0]


def test_pairs_within_equal_brute_force() -> None:
    rng = np.random.default_rng(7)
    t_lon, t_lat = _random_points(rng, 120)
    q_lon, q_lat = _random_points(rng, 150)
    # A target exactly on a query point is within any radius.
    t_lon[0], t_lat[0] = q_lon[3], q_lat[3]
    i, j, metres = pairs_within(q_lon, q_lat, t_lon, t_lat, 2500.0)
    all_m = geodesic_distance_m(q_lon[:, None], q_lat[:, None], t_lon[None, :], t_lat[None, :])
    want_i, want_j = np.nonzero(all_m <= 2500.0)
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == list(
        zip(want_i.tolist(), want_j.tolist(), strict=True)
    )
    np.testing.assert_allclose(metres, all_m[want_i, want_j], atol=1e-6)
    assert (3, 0) in set(zip(i.tolist(), j.tolist(), strict=True))
    assert i.size > 50  # the radius catches a fair number: the comparison is not vacuous


def test_pairs_within_the_radius_edge() -> None:
    lon, lat, _ = GEOD.fwd([113.3, 113.3], [23.1, 23.1], [0.0, 0.0], [999.5, 1000.5])
    _, j, _ = pairs_within([113.3], [23.1], lon, lat, 1000.0)
    assert j.tolist() == [0]

"""Many-to-many geodesic distances for whole grids: nearest target and pairs within a radius.

:class:`geo.spatial_index.GeodesicKNN` answers one query point at a time, which is right for
the API but costs ~80 µs a call: 70,000 cells times four categories would take half a
minute. Here the same two facts are applied to every cell at once, through a k-d tree over
the earth-centred (ECEF) coordinates of :func:`geo.geodesy.ecef_xyz`:

* a chord is never longer than the geodesic between its ends, so a chord radius of ``r``
  finds every point within ``r`` geodesic metres (and a few more, removed afterwards);
* the tree returns neighbours in chord order, which for city distances is geodesic order to
  well under a millimetre, so the nearest by chord is almost always the nearest by geodesic,
  and the chord to the last neighbour fetched proves it.

Every metre returned is geodesic on the WGS-84 ellipsoid (Karney's algorithm through
:func:`geo.geodesy.geodesic_distance_m`), the same model as the rest of the project.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from geo.geodesy import ecef_xyz, geodesic_distance_m

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Neighbours fetched per query before the exactness check; more than one so that the
# check nearly always passes at the first fetch.
_NEAREST_FETCH = 4


def _xyz(lon: npt.ArrayLike, lat: npt.ArrayLike) -> FloatArray:
    lon_a = np.asarray(lon, dtype=np.float64).ravel()
    if lon_a.size == 0:
        return np.empty((0, 3), dtype=np.float64)
    return ecef_xyz(lon_a, np.asarray(lat, dtype=np.float64).ravel())


def nearest_geodesic(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    target_lon: npt.ArrayLike,
    target_lat: npt.ArrayLike,
) -> tuple[IntArray, FloatArray]:
    """The nearest target of each point, in geodesic metres on the WGS-84 ellipsoid.

    Exact, not approximate: a point's answer is accepted only when its best geodesic
    distance is no longer than the chord to the farthest target fetched for it (every
    target not fetched is at least that far); the rare points that fail are answered by
    scoring every target within that distance.

    Parameters
    ----------
    lon, lat
        Query points, WGS-84 degrees.
    target_lon, target_lat
        Targets, WGS-84 degrees.

    Returns
    -------
    (positions, metres)
        Per query point, the position of its nearest target (ties by position) and the
        distance; ``-1`` and ``inf`` when there are no targets.

    Examples
    --------
    >>> pos, m = nearest_geodesic([113.3245], [23.1064], [113.30, 113.33], [23.10, 23.11])
    >>> int(pos[0]), round(float(m[0]))
    (1, 690)
    """
    q_lon = np.asarray(lon, dtype=np.float64).ravel()
    q_lat = np.asarray(lat, dtype=np.float64).ravel()
    t_lon = np.asarray(target_lon, dtype=np.float64).ravel()
    t_lat = np.asarray(target_lat, dtype=np.float64).ravel()
    n = q_lon.size
    if t_lon.size == 0 or n == 0:
        return np.full(n, -1, dtype=np.int64), np.full(n, np.inf, dtype=np.float64)

    tree = cKDTree(_xyz(t_lon, t_lat))
    k = min(_NEAREST_FETCH, t_lon.size)
    chord, idx = tree.query(_xyz(q_lon, q_lat), k=k)
    chord = np.asarray(chord, dtype=np.float64).reshape(n, k)
    idx = np.asarray(idx, dtype=np.int64).reshape(n, k)
    geod = geodesic_distance_m(q_lon[:, None], q_lat[:, None], t_lon[idx], t_lat[idx])
    # Ties by position, as GeodesicKNN: sort each row by (metres, position).
    order = np.lexsort((idx, geod), axis=1)
    rows = np.arange(n)[:, None]
    idx, geod = idx[rows, order], geod[rows, order]
    best_pos, best_m = idx[:, 0].copy(), geod[:, 0].copy()

    # Proven when every target not fetched (chord >= the k-th chord) is farther.
    unproven = np.nonzero((k < t_lon.size) & (best_m > chord[:, -1]))[0]
    if unproven.size:
        # A chord ball of the best geodesic distance holds every target that could win.
        balls = tree.query_ball_point(_xyz(q_lon[unproven], q_lat[unproven]), best_m[unproven])
        for row, members in zip(unproven.tolist(), balls, strict=True):
            cand = np.asarray(members, dtype=np.int64)
            d = geodesic_distance_m(q_lon[row], q_lat[row], t_lon[cand], t_lat[cand])
            pick = np.lexsort((cand, d))[0]
            best_pos[row], best_m[row] = cand[pick], d[pick]
    return best_pos, best_m


def pairs_within(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    target_lon: npt.ArrayLike,
    target_lat: npt.ArrayLike,
    radius_m: float,
) -> tuple[IntArray, IntArray, FloatArray]:
    """Every (point, target) pair at most ``radius_m`` geodesic metres apart.

    Parameters
    ----------
    lon, lat
        Points, WGS-84 degrees.
    target_lon, target_lat
        Targets, WGS-84 degrees.
    radius_m
        The radius, metres (inclusive).

    Returns
    -------
    (point_positions, target_positions, metres)
        Equal-length arrays, sorted by point then target.

    Examples
    --------
    >>> i, j, m = pairs_within([113.3245], [23.1064], [113.30, 113.33], [23.10, 23.11], 1000)
    >>> i.tolist(), j.tolist(), m.round().tolist()
    ([0], [1], [690.0])
    """
    q_lon = np.asarray(lon, dtype=np.float64).ravel()
    q_lat = np.asarray(lat, dtype=np.float64).ravel()
    t_lon = np.asarray(target_lon, dtype=np.float64).ravel()
    t_lat = np.asarray(target_lat, dtype=np.float64).ravel()
    if q_lon.size == 0 or t_lon.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy(), np.empty(0, dtype=np.float64)
    # Chord <= geodesic: the chord ball of the radius holds every pair within it.
    pairs = cKDTree(_xyz(q_lon, q_lat)).sparse_distance_matrix(
        cKDTree(_xyz(t_lon, t_lat)), radius_m, output_type="ndarray"
    )
    i = np.asarray(pairs["i"], dtype=np.int64)
    j = np.asarray(pairs["j"], dtype=np.int64)
    metres = geodesic_distance_m(q_lon[i], q_lat[i], t_lon[j], t_lat[j])
    keep = metres <= radius_m
    i, j, metres = i[keep], j[keep], metres[keep]
    order = np.lexsort((j, i))
    return i[order], j[order], metres[order]

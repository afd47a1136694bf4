"""Exact k-nearest-neighbour search in geodesic metres over a fixed set of points.

Points are indexed in an R-tree (libspatialindex, through ``rtree``) by their 3-D
earth-centred coordinates. Two facts make the answer exact rather than approximate:

* a chord is never longer than the geodesic between its ends, so the chord distance to the
  farthest point the tree returned bounds from below the geodesic distance of every point
  it did *not* return;
* the tree returns points in chord order, which for city distances is geodesic order up
  to well under a millimetre, so the bound is nearly always met at the first fetch.

When it is not met (a filter rejected most of what came back), the search fetches four
times as many and checks again; past a point, scoring every admitted point directly is
cheaper, and it does that instead. Planar indexes over degrees (``geom <-> point`` on
SRID 4326, an STRtree over lon/lat) order by degrees and return the wrong neighbours at
this latitude; see docs/ranking.md.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from rtree import index as rtree_index

from geo.geodesy import ecef_point, ecef_xyz, geodesic_distance_m

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
# Given candidate positions, say which are acceptable (the hard filters).
Acceptor = Callable[[IntArray], npt.NDArray[np.bool_]]

_FIRST_FETCH_EXTRA = 8
# Fetching more than this share of the points through the tree costs more than a scan.
_SCAN_SHARE = 1 / 16


class GeodesicKNN:
    """k-nearest search over WGS-84 points, distances geodesic on the ellipsoid.

    Parameters
    ----------
    lon, lat
        WGS-84 degrees of the points; positions ``0..n-1`` identify them in answers.
    positions
        Optional subset of positions to index (e.g. the providers of one category);
        answers then only contain these.

    Examples
    --------
    >>> knn = GeodesicKNN(np.array([113.30, 113.33]), np.array([23.10, 23.11]))
    >>> idx, dist = knn.nearest(113.3245, 23.1064, 1)
    >>> int(idx[0])
    1
    """

    def __init__(self, lon: FloatArray, lat: FloatArray, positions: IntArray | None = None) -> None:
        self._lon = np.asarray(lon, dtype=np.float64)
        self._lat = np.asarray(lat, dtype=np.float64)
        self._positions = (
            np.arange(self._lon.size, dtype=np.int64)
            if positions is None
            else np.asarray(positions, dtype=np.int64)
        )
        self.size = int(self._positions.size)
        xyz = ecef_xyz(self._lon[self._positions], self._lat[self._positions])
        # libspatialindex keeps per-index query state: concurrent queries from the API's
        # thread pool corrupted the heap under load (a worker aborted with "free(): invalid
        # next size"). A query takes microseconds; serialising them costs little.
        self._lock = threading.Lock()
        props = rtree_index.Property()
        props.dimension = 3
        if self.size:
            # Stream loading builds a packed tree, several times faster than inserts.
            stream = (
                (int(pos), (x, y, z, x, y, z), None)
                for pos, (x, y, z) in zip(self._positions.tolist(), xyz.tolist(), strict=True)
            )
            self._tree = rtree_index.Index(stream, properties=props)
        else:
            self._tree = rtree_index.Index(properties=props)

    def nearest(
        self,
        lon: float,
        lat: float,
        k: int,
        *,
        accept: Acceptor | None = None,
        max_distance_m: float | None = None,
    ) -> tuple[IntArray, FloatArray]:
        """The ``k`` nearest accepted points, nearest first (ties by position).

        Parameters
        ----------
        lon, lat
            The query point, WGS-84 degrees.
        k
            How many to return at most.
        accept
            Filter applied to candidate positions; ``None`` accepts all.
        max_distance_m
            Only points within this geodesic distance.

        Returns
        -------
        (positions, distances_m)
            Equal-length arrays; shorter than ``k`` only when no more points qualify.
        """
        if self.size == 0 or k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        q = ecef_point(lon, lat)[None, :]
        fetch = k + _FIRST_FETCH_EXTRA
        while fetch <= self.size * _SCAN_SHARE or fetch <= k + _FIRST_FETCH_EXTRA:
            kwargs: dict[str, object] = {}
            if max_distance_m is not None:
                # Chord <= geodesic, so a chord bound of the radius loses nothing.
                kwargs["max_dists"] = np.array([max_distance_m])
            with self._lock:
                ids, _counts, max_chord = self._tree.nearest_v(  # type: ignore[no-untyped-call]
                    q, q, num_results=fetch, strict=True, return_max_dists=True, **kwargs
                )
            ids = np.asarray(ids, dtype=np.int64)
            exhausted = ids.size < fetch
            pos, dist = self._rank(ids, lon, lat, accept, max_distance_m)
            # Every point not fetched has geodesic >= chord >= the farthest fetched chord.
            if exhausted or (pos.size >= k and dist[k - 1] < float(max_chord[0])):
                return pos[:k], dist[:k]
            fetch *= 4
        pos, dist = self._rank(self._positions, lon, lat, accept, max_distance_m)
        return pos[:k], dist[:k]

    def _rank(
        self,
        candidates: IntArray,
        lon: float,
        lat: float,
        accept: Acceptor | None,
        max_distance_m: float | None,
    ) -> tuple[IntArray, FloatArray]:
        if accept is not None and candidates.size:
            candidates = candidates[accept(candidates)]
        dist = geodesic_distance_m(lon, lat, self._lon[candidates], self._lat[candidates])
        if max_distance_m is not None:
            keep = dist <= max_distance_m
            candidates, dist = candidates[keep], dist[keep]
        order = np.lexsort((candidates, dist))
        return candidates[order], dist[order]

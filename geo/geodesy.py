"""Distances in metres on the WGS-84 ellipsoid, and earth-centred coordinates.

Every distance this project reports is geodesic on the WGS-84 ellipsoid (Karney's
algorithm, through PROJ's ``Geod``) — the same model PostGIS uses for
``ST_Distance(geography, geography)`` — so both stores agree to the millimetre.
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt
import pyproj

FloatArray = npt.NDArray[np.float64]
ArrayLike = float | npt.ArrayLike

_GEOD = pyproj.Geod(ellps="WGS84")
_local = threading.local()


def geodesic_distance_m(
    lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike
) -> FloatArray:
    """Geodesic distance in metres between points, broadcasting like numpy.

    Parameters
    ----------
    lon1, lat1, lon2, lat2
        WGS-84 degrees; scalars or arrays of compatible shapes.

    Returns
    -------
    numpy.ndarray
        Metres, in the broadcast shape of the inputs (0-d for four scalars).

    Examples
    --------
    >>> round(float(geodesic_distance_m(113.3245, 23.1064, 113.3245, 23.1164)))
    1107
    """
    a, b, c, d = np.broadcast_arrays(
        np.asarray(lon1, dtype=np.float64),
        np.asarray(lat1, dtype=np.float64),
        np.asarray(lon2, dtype=np.float64),
        np.asarray(lat2, dtype=np.float64),
    )
    _, _, dist = _GEOD.inv(a.ravel(), b.ravel(), c.ravel(), d.ravel())
    return np.asarray(dist, dtype=np.float64).reshape(a.shape)


def _ecef_transformer() -> pyproj.Transformer:
    # A Transformer must not be shared between threads; the API serves from a thread pool.
    transformer: pyproj.Transformer | None = getattr(_local, "ecef", None)
    if transformer is None:
        transformer = pyproj.Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
        _local.ecef = transformer
    return transformer


def ecef_xyz(lon: ArrayLike, lat: ArrayLike) -> FloatArray:
    """Earth-centred, earth-fixed (EPSG:4978) metres of points on the ellipsoid surface.

    The straight-line (chord) distance between two such points never exceeds their
    geodesic distance, and for city-scale distances it is shorter by less than a
    millimetre per kilometre; the spatial index relies on both facts.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, 3)``.
    """
    lon_a = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    lat_a = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    x, y, z = _ecef_transformer().transform(lon_a, lat_a, np.zeros_like(lon_a))
    return np.column_stack([x, y, z])

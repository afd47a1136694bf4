"""Distances in metres on the WGS-84 ellipsoid, and earth-centred coordinates.

Every distance this project reports is geodesic on the WGS-84 ellipsoid (Karney's
algorithm, through PROJ's ``Geod``) — the same model PostGIS uses for
``ST_Distance(geography, geography)`` — so both stores agree to the millimetre.
"""

from __future__ import annotations

import math
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


def ecef_point(lon: float, lat: float) -> FloatArray:
    """:func:`ecef_xyz` of one point, shape ``(3,)``, by the closed formula.

    Why not pyproj: a query point needs this once per request, and the transformer's call
    costs twenty times the arithmetic. The formula is the definition of EPSG:4978 on the
    WGS-84 ellipsoid at height 0; it agrees with pyproj to well under a micrometre.

    Examples
    --------
    >>> xyz = ecef_point(113.3245, 23.1064)
    >>> float(np.abs(xyz - ecef_xyz(113.3245, 23.1064)[0]).max()) < 1e-6
    True
    """
    phi, lam = math.radians(lat), math.radians(lon)
    sin_phi = math.sin(phi)
    normal = WGS84_A_M / math.sqrt(1.0 - WGS84_E2 * sin_phi * sin_phi)
    return np.array(
        [
            normal * math.cos(phi) * math.cos(lam),
            normal * math.cos(phi) * math.sin(lam),
            normal * (1.0 - WGS84_E2) * sin_phi,
        ]
    )


# WGS-84: semi-major axis and first eccentricity squared (what pyproj's "WGS84" uses).
WGS84_A_M = 6_378_137.0
WGS84_E2 = 6.694379990141317e-3
# The smallest meridional radius of curvature, a(1 - e²), reached at the equator: no path
# moves one radian of latitude in fewer metres than this.
MERIDIAN_RADIUS_MIN_M = WGS84_A_M * (1.0 - WGS84_E2)


def _metres_per_radian_min(lat_deg: float, reach_m: float) -> float:
    """Metres per radian of lon/lat movement, a lower bound on any path of length
    ``reach_m`` or less from latitude ``lat_deg``.

    Along a path, ds² = M(φ)² dφ² + (N(φ) cos φ)² dλ² with M ≥ a(1 - e²) and N ≥ a. A path
    no longer than ``reach_m`` stays within |φ| ≤ Φ = |lat| + reach_m / a(1 - e²), where
    N cos φ ≥ a cos Φ; so ds ≥ min(a(1 - e²), a cos Φ) · |d(λ, φ)|.
    """
    phi_max = math.radians(abs(lat_deg)) + reach_m / MERIDIAN_RADIUS_MIN_M
    if phi_max >= math.pi / 2:
        return 0.0
    return min(MERIDIAN_RADIUS_MIN_M, WGS84_A_M * math.cos(phi_max))


def geodesic_lower_bound_m(planar_deg: float, lat_deg: float, below_m: float) -> float:
    """A lower bound on the geodesic distance to a point ``planar_deg`` away in plain
    lon/lat degrees (PostGIS's ``geometry <-> geometry`` in EPSG:4326), from a point at
    latitude ``lat_deg`` — valid for every point closer than ``below_m`` metres.

    This is what lets a store walk a planar GiST index in ``<->`` order and still answer
    in geodesic metres: once the k-th geodesic distance ``d`` found satisfies
    ``d <= geodesic_lower_bound_m(last_planar, lat, d)``, no row further down the walk
    can be closer than ``d``. (A row closer than ``d`` would be at least this bound away,
    and the bound only grows with the planar distance.) Longitudes are not wrapped at
    ±180°, like PostGIS's planar distance; paths across the antimeridian are not covered.

    Parameters
    ----------
    planar_deg
        Euclidean distance in degrees, sqrt(Δlon² + Δlat²).
    lat_deg
        Latitude of the query point.
    below_m
        The bound holds for points whose geodesic distance is below this.

    Returns
    -------
    float
        Metres; 0 near the poles, where no planar distance bounds the geodesic one.

    Examples
    --------
    In Guangzhou a degree east is 102,447 m; the bound for it is a little under:

    >>> bound = geodesic_lower_bound_m(1.0, 23.1, 5_000.0)
    >>> round(bound), bound <= float(geodesic_distance_m(113.0, 23.1, 114.0, 23.1))
    (102360, True)
    """
    return _metres_per_radian_min(lat_deg, below_m) * math.radians(planar_deg)


def geodesic_upper_bound_m(chord_m: ArrayLike) -> FloatArray:
    """An upper bound on the geodesic distance between two points on the WGS-84 ellipsoid
    whose straight-line (chord) distance is ``chord_m``: within a millimetre at 10 km.

    A geodesic is a curve on the surface whose curvature in space is the surface's normal
    curvature along it, never more than 1 / ρ with ρ = a(1 - e²), the smallest radius of
    curvature of the ellipsoid. By Schur's comparison theorem, a curve of length L whose
    curvature never exceeds 1 / ρ (and with L ≤ πρ) has a chord at least that of a circle
    arc of radius ρ and length L, 2ρ·sin(L / 2ρ); so L ≤ 2ρ·asin(chord / 2ρ). Chords beyond
    ρ (a sixth of the way round the earth, where L ≤ πρ could fail) get ``inf``.

    Together with "a chord is never longer than its geodesic" this pins a geodesic distance
    between two numbers a k-d tree over earth-centred points gives for free.

    Examples
    --------
    >>> xyz = ecef_xyz([113.3245, 113.4245], [23.1064, 23.1664])
    >>> chord = float(np.linalg.norm(xyz[0] - xyz[1]))
    >>> geodesic = float(geodesic_distance_m(113.3245, 23.1064, 113.4245, 23.1664))
    >>> chord <= geodesic <= float(geodesic_upper_bound_m(chord)) < geodesic + 0.01
    True
    """
    chord = np.asarray(chord_m, dtype=np.float64)
    rho = MERIDIAN_RADIUS_MIN_M
    with np.errstate(invalid="ignore"):
        bound = 2.0 * rho * np.arcsin(np.minimum(chord / (2.0 * rho), 1.0))
    return np.asarray(np.where(chord <= rho, bound, np.inf), dtype=np.float64)


def degree_box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box (west, south, east, north) holding every point within ``radius_m``
    geodesic metres of (``lon``, ``lat``): a planar index can then prefilter a radius
    search. Longitudes are not wrapped at ±180° (a box there spans the whole range).

    Examples
    --------
    >>> [round(v, 4) for v in degree_box(113.3, 23.1, 1_000.0)]
    [113.2902, 23.091, 113.3098, 23.109]
    """
    # A part per billion wider than the bound: a point at exactly the radius along the
    # equator's meridian must not fall outside by a rounding error.
    radius_m *= 1.0 + 1e-9
    dlat = math.degrees(radius_m / MERIDIAN_RADIUS_MIN_M)
    south, north = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    per_radian = _metres_per_radian_min(lat, radius_m)
    if per_radian <= 0.0:
        return (-180.0, south, 180.0, north)
    dlon = math.degrees(radius_m / per_radian)
    if dlon >= 180.0:
        return (-180.0, south, 180.0, north)
    return (lon - dlon, south, lon + dlon, north)

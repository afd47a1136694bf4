"""Conversions between WGS-84, GCJ-02 and BD-09 coordinates.

Three coordinate reference systems matter for a map of Guangzhou:

* **WGS-84** (``CRS.WGS84``): what GPS receivers, OpenStreetMap and our database use.
* **GCJ-02** (``CRS.GCJ02``): China's obfuscated "Mars" datum, mandatory for maps
  published in mainland China and used by AMap (Gaode) and Tencent Maps. In Guangzhou
  a GCJ-02 coordinate sits roughly 550 m east and 290 m south of the true WGS-84
  position.
* **BD-09** (``CRS.BD09``): Baidu's extra obfuscation layered on top of GCJ-02.

Axis order
----------
Every function takes and returns **longitude first, latitude second** (x, y order),
in decimal degrees, matching GeoJSON, shapely and ``pyproj`` with ``always_xy=True``.
Do not pass ``(lat, lon)`` pairs.

Algorithms
----------
The forward transforms are the widely published reverse-engineered GCJ-02 algorithm
(Krasovsky 1940 ellipsoid, ``a = 6378245.0``, ``ee = 0.00669342162296594323``) and the
BD-09 algorithm (``x_pi = pi * 3000 / 180`` with the 0.0065 / 0.006 shifts). No closed
form exists for their inverses; the common one-step approximation (subtract the
offset evaluated at the *obfuscated* point) is off by up to a few metres, which is
enough to put a provider on the wrong side of a street. The inverses here therefore
solve ``forward(x) == y`` by fixed-point iteration until the residual is below
``1e-10`` degrees (about 0.01 mm), so ``inverse(forward(p))`` returns ``p`` to well
under a millimetre.

China bounding box
------------------
The GCJ-02 offset only applies inside China. Following the conventional rule used by
virtually every open implementation, a point with longitude outside
``[72.004, 137.8347]`` or latitude outside ``[0.8293, 55.8271]`` is treated as
outside China and WGS-84 and GCJ-02 coincide there (the transform is the identity).
The box is crude: it includes e.g. parts of Mongolia, Korea and Japan, and excludes
nothing inside China. Within roughly 1 km of the box edge the forward transform is
discontinuous, so a GCJ-02 point there may have zero or two WGS-84 preimages; the
inverse decides "inside" from the GCJ-02 input and is exact everywhere else. BD-09
has no such box: the GCJ-02 -> BD-09 step is applied everywhere, as Baidu does.

Shapes and types
----------------
All conversion functions are vectorised with numpy: ``lon`` and ``lat`` may be floats
or array-likes and are broadcast against each other. If both inputs are scalars the
result is a tuple of two Python ``float``; otherwise it is a tuple of two new
``float64`` arrays of the broadcast shape. Non-finite input (NaN, inf) is passed
through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Final, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "CRS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]


class CRS(StrEnum):
    """Coordinate reference systems understood by :func:`to_wgs84` / :func:`from_wgs84`."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


FloatArray = npt.NDArray[np.float64]
_Pair = tuple[FloatArray, FloatArray]

# Krasovsky 1940 ellipsoid: the published GCJ-02 algorithm is defined on it, so these
# must not be "corrected" to WGS-84 values or the offsets stop matching AMap/Tencent.
_KRASOVSKY_A: Final = 6378245.0
_KRASOVSKY_EE: Final = 0.00669342162296594323

# BD-09 constants from Baidu's published GCJ-02 -> BD-09 transform.
_X_PI: Final = np.pi * 3000.0 / 180.0
_BD_DLON: Final = 0.0065
_BD_DLAT: Final = 0.006

# Conventional "is it in China" bounding box (inclusive).
_CHINA_LON_MIN: Final = 72.004
_CHINA_LON_MAX: Final = 137.8347
_CHINA_LAT_MIN: Final = 0.8293
_CHINA_LAT_MAX: Final = 55.8271

# 1e-10 degrees is ~0.01 mm on the ground: far below any map's precision, yet well
# above float64 rounding noise for coordinates of magnitude ~100 (ulp ~1.4e-14).
_INVERSE_TOL_DEG: Final = 1e-10
# Both forward transforms are the identity plus a perturbation whose Jacobian is
# ~1e-2 or smaller, so each fixed-point step gains about two digits; 4 steps typically suffice.
# The cap only guards against pathological input (e.g. enormous coordinates).
_INVERSE_MAX_ITER: Final = 50


# --------------------------------------------------------------------------------------
# Array plumbing
# --------------------------------------------------------------------------------------


def _apply(
    kernel: Callable[[FloatArray, FloatArray], _Pair],
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
) -> tuple[float, float] | _Pair:
    """Run an array kernel on broadcast inputs, restoring the caller's shape and type.

    Kernels see at-least-1-d float64 arrays (numpy arithmetic on 0-d arrays decays to
    scalars, which would break the kernels' masked assignment) and must not mutate them.
    """
    lon_a, lat_a = np.broadcast_arrays(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    shape = lon_a.shape
    # Private copies: the caller's arrays are never aliased, whatever a kernel does.
    lon_in = np.array(lon_a, dtype=np.float64, ndmin=1)
    lat_in = np.array(lat_a, dtype=np.float64, ndmin=1)
    # NaN/inf would only produce RuntimeWarnings and NaN garbage inside the kernels
    # (e.g. cos(inf)); let them through silently and hand the input back unchanged.
    with np.errstate(invalid="ignore", over="ignore"):
        out_lon, out_lat = kernel(lon_in, lat_in)
    finite = np.isfinite(lon_in) & np.isfinite(lat_in)
    # np.where also guarantees fresh output arrays, even from the identity kernel.
    out_lon = np.where(finite, out_lon, lon_in)
    out_lat = np.where(finite, out_lat, lat_in)
    if shape == ():
        # Both inputs were scalars: hand back plain Python floats.
        return float(out_lon[0]), float(out_lat[0])
    return out_lon.reshape(shape), out_lat.reshape(shape)


def _in_china(lon: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
    """Conventional GCJ-02 bounding-box test (NaN compares False, so counts as outside)."""
    return (
        (lon >= _CHINA_LON_MIN)
        & (lon <= _CHINA_LON_MAX)
        & (lat >= _CHINA_LAT_MIN)
        & (lat <= _CHINA_LAT_MAX)
    )


def _solve_inverse(
    forward: Callable[[FloatArray, FloatArray], _Pair],
    target_lon: FloatArray,
    target_lat: FloatArray,
    guess_lon: FloatArray,
    guess_lat: FloatArray,
) -> _Pair:
    """Find ``p`` with ``forward(p) == target`` by fixed-point iteration.

    ``forward`` is the identity plus a small, slowly varying offset, so
    ``p <- p - (forward(p) - target)`` is a contraction and converges linearly and fast.
    Points whose residual is NaN (non-finite input) are left alone rather than
    iterated to the cap.
    """
    lon, lat = guess_lon.copy(), guess_lat.copy()
    for _ in range(_INVERSE_MAX_ITER):
        f_lon, f_lat = forward(lon, lat)
        r_lon = f_lon - target_lon
        r_lat = f_lat - target_lat
        lon -= r_lon
        lat -= r_lat
        # Residual of the iterate *before* this step; after it the error is ~100x smaller.
        worst = np.fmax(np.abs(r_lon), np.abs(r_lat))
        if not np.any(worst >= _INVERSE_TOL_DEG):  # NaN >= tol is False: NaNs don't block
            break
    return lon, lat


# --------------------------------------------------------------------------------------
# Array kernels: at-least-1-d float64 arrays in and out; inputs are never mutated
# --------------------------------------------------------------------------------------


def _gcj02_offset(lon: FloatArray, lat: FloatArray) -> _Pair:
    """GCJ-02 minus WGS-84 in degrees at WGS-84 ``(lon, lat)``, ignoring the China box."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    # The shared high-frequency "noise" term of both polynomials.
    noise = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0

    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    d_lat += noise
    d_lat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0

    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    d_lon += noise
    d_lon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0

    # The polynomials give metres; convert to degrees with the Krasovsky meridian and
    # prime-vertical radii of curvature at this latitude.
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / (
        (_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * np.pi
    )
    d_lon = (d_lon * 180.0) / (_KRASOVSKY_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return d_lon, d_lat


def _wgs84_to_gcj02_unmasked(lon: FloatArray, lat: FloatArray) -> _Pair:
    """Forward GCJ-02 transform applied everywhere (smooth, so safe to iterate on)."""
    d_lon, d_lat = _gcj02_offset(lon, lat)
    return lon + d_lon, lat + d_lat


def _wgs84_to_gcj02(lon: FloatArray, lat: FloatArray) -> _Pair:
    inside = _in_china(lon, lat)
    g_lon, g_lat = _wgs84_to_gcj02_unmasked(lon, lat)
    return np.where(inside, g_lon, lon), np.where(inside, g_lat, lat)


def _gcj02_to_wgs84(lon: FloatArray, lat: FloatArray) -> _Pair:
    # Decide inside/outside on the GCJ-02 input and iterate on the *unmasked* forward
    # transform: iterating on the masked one could bounce across the box edge forever.
    inside = _in_china(lon, lat)
    if not np.any(inside):
        return lon.copy(), lat.copy()
    t_lon, t_lat = lon[inside], lat[inside]
    # The one-step approximation is the natural starting point (already within metres).
    d_lon, d_lat = _gcj02_offset(t_lon, t_lat)
    w_lon, w_lat = _solve_inverse(
        _wgs84_to_gcj02_unmasked, t_lon, t_lat, t_lon - d_lon, t_lat - d_lat
    )
    out_lon, out_lat = lon.copy(), lat.copy()
    out_lon[inside] = w_lon
    out_lat[inside] = w_lat
    return out_lon, out_lat


def _gcj02_to_bd09(lon: FloatArray, lat: FloatArray) -> _Pair:
    # Baidu perturbs the radius and angle of the point as seen from (0, 0) in degree
    # space, then shifts it; there is no China bounding box for this step.
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + _BD_DLON, z * np.sin(theta) + _BD_DLAT


def _bd09_to_gcj02_one_step(lon: FloatArray, lat: FloatArray) -> _Pair:
    """Baidu's published approximate inverse (perturbations evaluated at the wrong point)."""
    x = lon - _BD_DLON
    y = lat - _BD_DLAT
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _bd09_to_gcj02(lon: FloatArray, lat: FloatArray) -> _Pair:
    g_lon, g_lat = _bd09_to_gcj02_one_step(lon, lat)
    return _solve_inverse(_gcj02_to_bd09, lon, lat, g_lon, g_lat)


def _wgs84_to_bd09(lon: FloatArray, lat: FloatArray) -> _Pair:
    return _gcj02_to_bd09(*_wgs84_to_gcj02(lon, lat))


def _bd09_to_wgs84(lon: FloatArray, lat: FloatArray) -> _Pair:
    return _gcj02_to_wgs84(*_bd09_to_gcj02(lon, lat))


def _identity(lon: FloatArray, lat: FloatArray) -> _Pair:
    return lon, lat


_TO_WGS84: Final[dict[CRS, Callable[[FloatArray, FloatArray], _Pair]]] = {
    CRS.WGS84: _identity,
    CRS.GCJ02: _gcj02_to_wgs84,
    CRS.BD09: _bd09_to_wgs84,
}
_FROM_WGS84: Final[dict[CRS, Callable[[FloatArray, FloatArray], _Pair]]] = {
    CRS.WGS84: _identity,
    CRS.GCJ02: _wgs84_to_gcj02,
    CRS.BD09: _wgs84_to_bd09,
}


def _parse_crs(crs: CRS | str) -> CRS:
    """Accept a :class:`CRS` or its value, case-insensitively; else a helpful ValueError."""
    if isinstance(crs, str):
        try:
            return CRS(crs.strip().lower())
        except ValueError:
            pass
    allowed = ", ".join(repr(c.value) for c in CRS)
    msg = f"unknown CRS {crs!r}; expected one of {allowed}"
    raise ValueError(msg)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Pair: ...
def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[float, float] | _Pair:
    """Convert WGS-84 coordinates to GCJ-02.

    Points outside the China bounding box (see module docstring) are returned unchanged.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 longitude and latitude in degrees; broadcast against each other.

    Returns
    -------
    tuple of (float, float) or tuple of (ndarray, ndarray)
        GCJ-02 ``(lon, lat)``: Python floats if both inputs are scalars, else float64
        arrays of the broadcast shape.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(113.3245, 23.1064)  # Canton Tower
    >>> round(lon - 113.3245, 4), round(lat - 23.1064, 4)
    (0.0054, -0.0026)
    >>> wgs84_to_gcj02(2.2945, 48.8584)  # Eiffel Tower: outside China, unchanged
    (2.2945, 48.8584)
    """
    return _apply(_wgs84_to_gcj02, lon, lat)


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Pair: ...
def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[float, float] | _Pair:
    """Convert GCJ-02 coordinates to WGS-84, exactly inverting :func:`wgs84_to_gcj02`.

    Solved by fixed-point iteration to a residual below 1e-10 degrees, rather than the
    usual one-step approximation that can be several metres off. Points outside the
    China bounding box are returned unchanged.

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 longitude and latitude in degrees; broadcast against each other.

    Returns
    -------
    tuple of (float, float) or tuple of (ndarray, ndarray)
        WGS-84 ``(lon, lat)``: Python floats if both inputs are scalars, else float64
        arrays of the broadcast shape.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(*wgs84_to_gcj02(113.3245, 23.1064))
    >>> abs(lon - 113.3245) < 1e-9 and abs(lat - 23.1064) < 1e-9
    True
    """
    return _apply(_gcj02_to_wgs84, lon, lat)


@overload
def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Pair: ...
def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[float, float] | _Pair:
    """Convert GCJ-02 coordinates to Baidu BD-09.

    Applied everywhere (BD-09 has no China bounding box).

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 longitude and latitude in degrees; broadcast against each other.

    Returns
    -------
    tuple of (float, float) or tuple of (ndarray, ndarray)
        BD-09 ``(lon, lat)``: Python floats if both inputs are scalars, else float64
        arrays of the broadcast shape.

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09(113.3299, 23.1037)
    >>> round(lon - 113.3299, 3), round(lat - 23.1037, 3)
    (0.007, 0.006)
    """
    return _apply(_gcj02_to_bd09, lon, lat)


@overload
def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Pair: ...
def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[float, float] | _Pair:
    """Convert Baidu BD-09 coordinates to GCJ-02, exactly inverting :func:`gcj02_to_bd09`.

    Starts from Baidu's closed-form approximate inverse and refines it by fixed-point
    iteration to a residual below 1e-10 degrees.

    Parameters
    ----------
    lon, lat : float or array_like
        BD-09 longitude and latitude in degrees; broadcast against each other.

    Returns
    -------
    tuple of (float, float) or tuple of (ndarray, ndarray)
        GCJ-02 ``(lon, lat)``: Python floats if both inputs are scalars, else float64
        arrays of the broadcast shape.

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02(*gcj02_to_bd09(113.3299, 23.1037))
    >>> abs(lon - 113.3299) < 1e-9 and abs(lat - 23.1037) < 1e-9
    True
    """
    return _apply(_bd09_to_gcj02, lon, lat)


@overload
def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Pair: ...
def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[float, float] | _Pair:
    """Convert WGS-84 coordinates to Baidu BD-09 (via GCJ-02).

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 longitude and latitude in degrees; broadcast against each other.

    Returns
    -------
    tuple of (float, float) or tuple of (ndarray, ndarray)
        BD-09 ``(lon, lat)``: Python floats if both inputs are scalars, else float64
        arrays of the broadcast shape.

    Examples
    --------
    >>> lon, lat = wgs84_to_bd09(113.3245, 23.1064)  # Canton Tower
    >>> round(lon - 113.3245, 2), round(lat - 23.1064, 3)
    (0.01, 0.003)
    """
    return _apply(_wgs84_to_bd09, lon, lat)


@overload
def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Pair: ...
def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[float, float] | _Pair:
    """Convert Baidu BD-09 coordinates to WGS-84 (via GCJ-02), exactly inverting
    :func:`wgs84_to_bd09`.

    Parameters
    ----------
    lon, lat : float or array_like
        BD-09 longitude and latitude in degrees; broadcast against each other.

    Returns
    -------
    tuple of (float, float) or tuple of (ndarray, ndarray)
        WGS-84 ``(lon, lat)``: Python floats if both inputs are scalars, else float64
        arrays of the broadcast shape.

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(*wgs84_to_bd09(113.3245, 23.1064))
    >>> abs(lon - 113.3245) < 1e-9 and abs(lat - 23.1064) < 1e-9
    True
    """
    return _apply(_bd09_to_wgs84, lon, lat)


@overload
def to_wgs84(lon: float, lat: float, crs: CRS | str) -> tuple[float, float]: ...
@overload
def to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, crs: CRS | str) -> _Pair: ...
def to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, crs: CRS | str) -> tuple[float, float] | _Pair:
    """Convert coordinates given in ``crs`` to WGS-84.

    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in degrees in the source CRS; broadcast together.
    crs : CRS or str
        Source CRS: a :class:`CRS` member or one of ``"wgs84"``, ``"gcj02"``,
        ``"bd09"`` (case-insensitive). ``"wgs84"`` is the identity.

    Returns
    -------
    tuple of (float, float) or tuple of (ndarray, ndarray)
        WGS-84 ``(lon, lat)``: Python floats if both inputs are scalars, else float64
        arrays of the broadcast shape.

    Raises
    ------
    ValueError
        If ``crs`` is not a known CRS; the message lists the allowed values.

    Examples
    --------
    >>> to_wgs84(113.3245, 23.1064, "wgs84")
    (113.3245, 23.1064)
    >>> lon, lat = to_wgs84(*wgs84_to_gcj02(113.3245, 23.1064), CRS.GCJ02)
    >>> round(lon, 6), round(lat, 6)
    (113.3245, 23.1064)
    """
    return _apply(_TO_WGS84[_parse_crs(crs)], lon, lat)


@overload
def from_wgs84(lon: float, lat: float, crs: CRS | str) -> tuple[float, float]: ...
@overload
def from_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, crs: CRS | str) -> _Pair: ...
def from_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, crs: CRS | str
) -> tuple[float, float] | _Pair:
    """Convert WGS-84 coordinates to ``crs``.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 longitude and latitude in degrees; broadcast against each other.
    crs : CRS or str
        Target CRS: a :class:`CRS` member or one of ``"wgs84"``, ``"gcj02"``,
        ``"bd09"`` (case-insensitive). ``"wgs84"`` is the identity.

    Returns
    -------
    tuple of (float, float) or tuple of (ndarray, ndarray)
        ``(lon, lat)`` in ``crs``: Python floats if both inputs are scalars, else
        float64 arrays of the broadcast shape.

    Raises
    ------
    ValueError
        If ``crs`` is not a known CRS; the message lists the allowed values.

    Examples
    --------
    >>> from_wgs84(113.3245, 23.1064, CRS.WGS84)
    (113.3245, 23.1064)
    >>> from_wgs84(113.3245, 23.1064, "gcj02") == wgs84_to_gcj02(113.3245, 23.1064)
    True
    >>> from_wgs84(113.3245, 23.1064, "utm")
    Traceback (most recent call last):
        ...
    ValueError: unknown CRS 'utm'; expected one of 'wgs84', 'gcj02', 'bd09'
    """
    return _apply(_FROM_WGS84[_parse_crs(crs)], lon, lat)

"""Tests for geo.crs: WGS-84 / GCJ-02 / BD-09 conversions (all in lon, lat order)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pyproj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.crs import (
    CRS,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = pyproj.Geod(ellps="WGS84")
ROUND_TRIP_TOL_M = 0.01

CANTON_TOWER_WGS84 = (113.3245, 23.1064)
# Canton Tower in GCJ-02 / BD-09 as computed by an independent implementation of the
# published algorithms (GeoToolCN 3.1.0 coords.wgs84_to_gcj02 / wgs84_to_bd09).
CANTON_TOWER_GCJ02 = (113.32992120333554, 23.10379812376)
CANTON_TOWER_BD09 = (113.336477213301, 23.10950359851204)

# Points comfortably inside China's bounding box (and > 1 km from its edges).
china_lon = st.floats(min_value=73.0, max_value=135.0, allow_nan=False)
china_lat = st.floats(min_value=18.0, max_value=53.0, allow_nan=False)


def metres(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> float:
    """Largest geodesic distance in metres between corresponding WGS-84 points."""
    _, _, dist = GEOD.inv(
        np.asarray(lon1, dtype=np.float64).ravel(),
        np.asarray(lat1, dtype=np.float64).ravel(),
        np.asarray(lon2, dtype=np.float64).ravel(),
        np.asarray(lat2, dtype=np.float64).ravel(),
    )
    return float(np.max(dist))


def china_grid() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """A 0.25-degree grid over China (lon 73-135, lat 18-53), flattened."""
    lon, lat = np.meshgrid(np.arange(73.0, 135.0001, 0.25), np.arange(18.0, 53.0001, 0.25))
    return lon.ravel(), lat.ravel()


def bd09_to_gcj02_published(
    lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Baidu's widely copied closed-form (approximate) BD-09 -> GCJ-02 inverse."""
    x_pi = np.pi * 3000.0 / 180.0
    x, y = lon - 0.0065, lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * x_pi)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * x_pi)
    return z * np.cos(theta), z * np.sin(theta)


# --------------------------------------------------------------------------------------
# Known facts
# --------------------------------------------------------------------------------------


def test_crs_enum_values() -> None:
    assert [c.value for c in CRS] == ["wgs84", "gcj02", "bd09"]
    assert CRS("gcj02") is CRS.GCJ02
    # A StrEnum, so members can be used wherever the plain string is expected.
    assert isinstance(CRS.BD09, str)
    assert f"{CRS.BD09}" == "bd09"


def test_canton_tower_gcj02_offset_is_the_known_guangzhou_shift() -> None:
    lon, lat = CANTON_TOWER_WGS84
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    # In Guangzhou GCJ-02 is roughly WGS-84 + (+0.0054 lon, -0.0027 lat).
    assert g_lon - lon == pytest.approx(0.0054, abs=5e-4)
    assert g_lat - lat == pytest.approx(-0.0027, abs=5e-4)
    # Split the shift into its east and south components on the ground.
    east = metres(lon, lat, g_lon, lat)
    south = metres(lon, lat, lon, g_lat)
    assert g_lon > lon
    assert g_lat < lat
    assert 400.0 < east < 700.0
    assert 200.0 < south < 400.0


def test_forward_transforms_match_independent_reference_values() -> None:
    assert wgs84_to_gcj02(*CANTON_TOWER_WGS84) == pytest.approx(CANTON_TOWER_GCJ02, abs=1e-11)
    assert wgs84_to_bd09(*CANTON_TOWER_WGS84) == pytest.approx(CANTON_TOWER_BD09, abs=1e-11)
    assert gcj02_to_bd09(*CANTON_TOWER_GCJ02) == pytest.approx(CANTON_TOWER_BD09, abs=1e-11)


def test_forward_transforms_match_geotoolcn_over_china() -> None:
    """Cross-check the vectorised forward maps against a scalar third-party implementation."""
    from GeoToolCN import coords  # a dev dependency: missing it is a failure, not a skip

    lon, lat = china_grid()
    lon, lat = lon[::37], lat[::37]  # a few hundred scattered points is plenty
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    b_lon, b_lat = gcj02_to_bd09(g_lon, g_lat)
    for i in range(lon.size):
        ref_g = coords.wgs84_to_gcj02(float(lon[i]), float(lat[i]))
        ref_b = coords.gcj02_to_bd09(*ref_g)
        assert (g_lon[i], g_lat[i]) == pytest.approx(ref_g, abs=1e-11)
        assert (b_lon[i], b_lat[i]) == pytest.approx(ref_b, abs=1e-11)


def test_bd09_shift_from_gcj02_is_about_700m_northeast_in_guangzhou() -> None:
    g_lon, g_lat = CANTON_TOWER_GCJ02
    b_lon, b_lat = gcj02_to_bd09(g_lon, g_lat)
    assert b_lon - g_lon == pytest.approx(0.0065, abs=1e-3)
    assert b_lat - g_lat == pytest.approx(0.0060, abs=1e-3)


# --------------------------------------------------------------------------------------
# Exact inverses
# --------------------------------------------------------------------------------------


@settings(deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_round_trip_wgs84_gcj02_wgs84(lon: float, lat: float) -> None:
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert metres(lon, lat, *back) < ROUND_TRIP_TOL_M


@settings(deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_round_trip_gcj02_bd09_gcj02(lon: float, lat: float) -> None:
    back = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    # GCJ-02 is not WGS-84, but over a few mm the metric difference is irrelevant.
    assert metres(lon, lat, *back) < ROUND_TRIP_TOL_M


@settings(deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_round_trip_wgs84_bd09_wgs84(lon: float, lat: float) -> None:
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert metres(lon, lat, *back) < ROUND_TRIP_TOL_M


@settings(deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_inverse_then_forward_reproduces_obfuscated_point(lon: float, lat: float) -> None:
    """The other composition: any GCJ-02 / BD-09 point in China has an exact preimage."""
    assert metres(lon, lat, *wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))) < ROUND_TRIP_TOL_M
    assert metres(lon, lat, *gcj02_to_bd09(*bd09_to_gcj02(lon, lat))) < ROUND_TRIP_TOL_M
    assert metres(lon, lat, *wgs84_to_bd09(*bd09_to_wgs84(lon, lat))) < ROUND_TRIP_TOL_M


def test_round_trips_over_china_grid_are_sub_millimetre() -> None:
    lon, lat = china_grid()
    assert metres(lon, lat, *gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))) < 1e-3
    assert metres(lon, lat, *bd09_to_gcj02(*gcj02_to_bd09(lon, lat))) < 1e-3
    assert metres(lon, lat, *bd09_to_wgs84(*wgs84_to_bd09(lon, lat))) < 1e-3


def test_one_step_gcj02_inverse_is_not_good_enough() -> None:
    """The usual approximation w = g - offset(g) misses by metres; iteration matters."""
    lon, lat = china_grid()
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    f_lon, f_lat = wgs84_to_gcj02(g_lon, g_lat)
    approx_lon, approx_lat = 2.0 * g_lon - f_lon, 2.0 * g_lat - f_lat
    assert metres(lon, lat, approx_lon, approx_lat) > 1.0
    assert metres(lon, lat, *gcj02_to_wgs84(g_lon, g_lat)) < ROUND_TRIP_TOL_M


def test_one_step_bd09_inverse_is_not_good_enough() -> None:
    lon, lat = china_grid()
    b_lon, b_lat = gcj02_to_bd09(lon, lat)
    assert metres(lon, lat, *bd09_to_gcj02_published(b_lon, b_lat)) > 0.1
    assert metres(lon, lat, *bd09_to_gcj02(b_lon, b_lat)) < ROUND_TRIP_TOL_M


# --------------------------------------------------------------------------------------
# China bounding box
# --------------------------------------------------------------------------------------

outside_china = st.one_of(
    st.tuples(st.floats(-180.0, 72.0), st.floats(-90.0, 90.0)),
    st.tuples(st.floats(137.84, 180.0), st.floats(-90.0, 90.0)),
    st.tuples(st.floats(-180.0, 180.0), st.floats(-90.0, 0.8292)),
    st.tuples(st.floats(-180.0, 180.0), st.floats(55.8272, 90.0)),
)


@given(point=outside_china)
def test_gcj02_is_identity_outside_china(point: tuple[float, float]) -> None:
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point


@pytest.mark.parametrize(
    ("lon", "lat"),
    [
        (2.2945, 48.8584),  # Paris
        (139.6917, 35.6895),  # Tokyo: east of 137.8347
        (103.8198, 0.3521),  # Singapore: south of 0.8293
        (37.6173, 55.7558),  # Moscow: west of 72.004
        (113.3245, 56.0),  # due north of Guangzhou, beyond 55.8271
    ],
)
def test_named_places_outside_the_box_are_unchanged(lon: float, lat: float) -> None:
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)
    assert to_wgs84(lon, lat, "gcj02") == (lon, lat)


def test_box_edges_switch_the_offset() -> None:
    lat = 30.0
    assert wgs84_to_gcj02(72.003, lat) == (72.003, lat)
    assert wgs84_to_gcj02(72.005, lat) != (72.005, lat)
    assert wgs84_to_gcj02(137.8348, lat) == (137.8348, lat)
    assert wgs84_to_gcj02(137.8346, lat) != (137.8346, lat)


def test_bd09_applies_outside_china_too() -> None:
    lon, lat = 2.2945, 48.8584
    b_lon, b_lat = wgs84_to_bd09(lon, lat)
    assert (b_lon, b_lat) == gcj02_to_bd09(lon, lat)
    assert metres(lon, lat, b_lon, b_lat) > 100.0
    assert metres(lon, lat, *bd09_to_wgs84(b_lon, b_lat)) < ROUND_TRIP_TOL_M


# --------------------------------------------------------------------------------------
# Vectorisation, shapes and types
# --------------------------------------------------------------------------------------

# The overloads' array variant; results are (ndarray, ndarray) or (float, float).
Conversion = Callable[[npt.ArrayLike, npt.ArrayLike], tuple[Any, Any]]

ALL_FUNCS: list[Conversion] = [
    wgs84_to_gcj02,
    gcj02_to_wgs84,
    gcj02_to_bd09,
    bd09_to_gcj02,
    wgs84_to_bd09,
    bd09_to_wgs84,
]


@pytest.mark.parametrize("func", ALL_FUNCS, ids=lambda f: f.__name__)
def test_vectorised_equals_elementwise(func: Conversion) -> None:
    rng = np.random.default_rng(20240601)
    lon = np.concatenate([rng.uniform(73.0, 135.0, 200), [2.2945, 139.69, np.nan]])
    lat = np.concatenate([rng.uniform(18.0, 53.0, 200), [48.8584, 35.69, 30.0]])
    v_lon, v_lat = func(lon, lat)
    assert v_lon.shape == lon.shape
    assert v_lat.shape == lat.shape
    for i in range(lon.size):
        e_lon, e_lat = func(float(lon[i]), float(lat[i]))
        # Only the iteration stopping point may differ, and only by float noise.
        np.testing.assert_allclose(v_lon[i], e_lon, rtol=0, atol=1e-12)
        np.testing.assert_allclose(v_lat[i], e_lat, rtol=0, atol=1e-12)


@pytest.mark.parametrize("func", ALL_FUNCS, ids=lambda f: f.__name__)
def test_scalars_in_give_python_floats_out(func: Conversion) -> None:
    out = func(113.3245, 23.1064)
    assert isinstance(out, tuple)
    assert len(out) == 2
    assert all(type(v) is float for v in out)
    out_int = func(113, 23)
    assert all(type(v) is float for v in out_int)


def test_shapes_are_preserved_and_broadcast() -> None:
    lon = np.linspace(113.0, 114.0, 6).reshape(2, 3)
    lat = np.linspace(22.5, 23.5, 6).reshape(2, 3)
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    assert g_lon.shape == g_lat.shape == (2, 3)
    assert g_lon.dtype == np.float64
    # A scalar latitude broadcasts against an array of longitudes.
    b_lon, b_lat = gcj02_to_wgs84([113.2, 113.3, 113.4], 23.1)
    assert b_lon.shape == b_lat.shape == (3,)
    for i, x in enumerate([113.2, 113.3, 113.4]):
        assert (b_lon[i], b_lat[i]) == pytest.approx(gcj02_to_wgs84(x, 23.1), abs=1e-12)
    # Empty input gives empty output rather than an error.
    e_lon, e_lat = bd09_to_wgs84(np.empty(0), np.empty(0))
    assert e_lon.shape == e_lat.shape == (0,)


def test_input_arrays_are_not_modified_or_aliased() -> None:
    lon = np.array([113.3, 2.0])
    lat = np.array([23.1, 48.0])
    out_lon, out_lat = to_wgs84(lon, lat, CRS.WGS84)
    out_lon[:] = 0.0
    out_lat[:] = 0.0
    gcj02_to_wgs84(lon, lat)
    bd09_to_wgs84(lon, lat)
    np.testing.assert_array_equal(lon, [113.3, 2.0])
    np.testing.assert_array_equal(lat, [23.1, 48.0])


def test_non_finite_input_passes_through() -> None:
    lon = np.array([np.nan, 113.3, np.inf, 113.3])
    lat = np.array([23.1, np.nan, 23.1, 23.1])
    for func in ALL_FUNCS:
        out_lon, out_lat = func(lon, lat)
        np.testing.assert_array_equal(out_lon[:3], lon[:3])
        np.testing.assert_array_equal(out_lat[:3], lat[:3])
        # ...and doesn't poison the finite neighbour.
        assert np.isfinite(out_lon[3])
        assert np.isfinite(out_lat[3])
        assert out_lon[3] != 113.3


# --------------------------------------------------------------------------------------
# Dispatchers
# --------------------------------------------------------------------------------------


def test_dispatchers_match_direct_functions() -> None:
    lon, lat = CANTON_TOWER_WGS84
    assert from_wgs84(lon, lat, CRS.WGS84) == (lon, lat)
    assert from_wgs84(lon, lat, CRS.GCJ02) == wgs84_to_gcj02(lon, lat)
    assert from_wgs84(lon, lat, CRS.BD09) == wgs84_to_bd09(lon, lat)
    assert to_wgs84(lon, lat, CRS.WGS84) == (lon, lat)
    assert to_wgs84(*CANTON_TOWER_GCJ02, CRS.GCJ02) == gcj02_to_wgs84(*CANTON_TOWER_GCJ02)
    assert to_wgs84(*CANTON_TOWER_BD09, CRS.BD09) == bd09_to_wgs84(*CANTON_TOWER_BD09)


@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09", "GCJ02", " Bd09 ", *CRS])
def test_dispatchers_accept_strings_and_round_trip(crs: str) -> None:
    lon = np.array([113.2644, 113.3245, 100.0])
    lat = np.array([23.1291, 23.1064, 40.0])
    out_lon, out_lat = from_wgs84(lon, lat, crs)
    back_lon, back_lat = to_wgs84(out_lon, out_lat, crs)
    assert metres(lon, lat, back_lon, back_lat) < ROUND_TRIP_TOL_M


@pytest.mark.parametrize("bad", ["utm", "", "wgs-84", "bd09ll", "epsg:4326"])
def test_dispatchers_reject_unknown_crs_listing_allowed_values(bad: str) -> None:
    for dispatch in (to_wgs84, from_wgs84):
        with pytest.raises(ValueError, match="unknown CRS") as info:
            dispatch(113.3, 23.1, bad)
        message = str(info.value)
        assert repr(bad) in message
        for allowed in ("wgs84", "gcj02", "bd09"):
            assert allowed in message


def test_dispatchers_reject_non_string_crs() -> None:
    with pytest.raises(ValueError, match="gcj02"):
        to_wgs84(113.3, 23.1, None)  # type: ignore[call-overload]

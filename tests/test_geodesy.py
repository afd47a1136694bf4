"""The bounds that let a planar index answer in geodesic metres (geo.geodesy), checked
against Karney's geodesics over the whole globe, not just Guangzhou."""

from __future__ import annotations

import math

import numpy as np
import pyproj
from hypothesis import example, given
from hypothesis import strategies as st

from geo.geodesy import degree_box, geodesic_distance_m, geodesic_lower_bound_m

_GEOD = pyproj.Geod(ellps="WGS84")
lons = st.floats(-170.0, 170.0)
lats = st.floats(-85.0, 85.0)
# From a few metres to a few thousand kilometres.
offsets = st.floats(-20.0, 20.0) | st.floats(-0.05, 0.05) | st.floats(-1e-4, 1e-4)


@given(lon=lons, lat=lats, dlon=offsets, dlat=offsets)
def test_the_lower_bound_never_exceeds_the_geodesic_distance(
    lon: float, lat: float, dlon: float, dlat: float
) -> None:
    lon2, lat2 = lon + dlon, max(-89.9, min(89.9, lat + dlat))
    metres = float(geodesic_distance_m(lon, lat, lon2, lat2))
    planar = math.hypot(lon2 - lon, lat2 - lat)
    # Valid for points closer than ``below_m``; the tightest such value is just above.
    assert geodesic_lower_bound_m(planar, lat, metres * (1 + 1e-9) + 1e-6) <= metres + 1e-6


def test_the_lower_bound_is_tight_enough_to_stop_a_walk_in_guangzhou() -> None:
    # A degree north and a degree east differ by 8% here: the bound must not be looser.
    east = float(geodesic_distance_m(113.3, 23.1, 113.31, 23.1))
    assert geodesic_lower_bound_m(0.01, 23.1, east) > 0.999 * east
    north = float(geodesic_distance_m(113.3, 23.1, 113.3, 23.11))
    assert geodesic_lower_bound_m(0.01, 23.1, north) > 0.92 * north


def test_no_planar_distance_bounds_anything_at_the_pole() -> None:
    assert geodesic_lower_bound_m(1.0, 89.99, 10_000.0) == 0.0


@given(
    lon=st.floats(-60.0, 60.0),  # far enough from ±180° for a 2,000 km radius not to wrap
    lat=lats,
    radius=st.floats(1.0, 2_000_000.0),
    azimuth=st.floats(-180.0, 180.0),
    share=st.floats(0.0, 1.0),
)
@example(lon=0.0, lat=1e-06, radius=1.0, azimuth=0.0, share=1.0)  # exactly on the edge
def test_the_degree_box_holds_every_point_within_the_radius(
    lon: float, lat: float, radius: float, azimuth: float, share: float
) -> None:
    lon2, lat2, _ = _GEOD.fwd(lon, lat, azimuth, radius * share)
    west, south, east, north = degree_box(lon, lat, radius)
    if west > -180.0 or east < 180.0:  # a box that spans every longitude holds them all
        assert west <= lon2 <= east
    assert south <= lat2 <= north


def test_the_degree_box_is_not_much_larger_than_the_circle_in_guangzhou() -> None:
    west, south, east, north = degree_box(113.3, 23.1, 5_000.0)
    width = float(geodesic_distance_m(west, 23.1, east, 23.1))
    height = float(geodesic_distance_m(113.3, south, 113.3, north))
    assert np.allclose([width, height], 10_000.0, rtol=0.01)

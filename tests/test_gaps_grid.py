"""gaps.grid: H3 cells cover the city, each in the district (and street) its centre is in."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pytest
import shapely
from shapely.geometry import box

from gaps.grid import city_grid
from geo.boundaries import load_districts, locate
from geo.package_data import REFERENCE_DIR

WEST = box(113.26, 23.10, 113.30, 23.14)
EAST = box(113.30, 23.10, 113.34, 23.14)


def _two_districts() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": ["西区", "东区"]}, geometry=[WEST, EAST], crs="EPSG:4326")


def test_cells_partition_two_districts_by_centre() -> None:
    grid = city_grid(_two_districts(), resolution=9)
    assert grid["cell"].is_unique
    assert grid["cell"].dtype == np.int64
    assert all(h3.get_resolution(h3.int_to_str(int(c))) == 9 for c in grid["cell"].head(50))
    centres = shapely.points(grid["lon"].to_numpy(), grid["lat"].to_numpy())
    in_west = shapely.covered_by(centres, WEST)
    in_east = shapely.covered_by(centres, EAST)
    assert (in_west | in_east).all()
    assert (grid["district"].to_numpy() == np.where(in_west, "西区", "东区")).all()
    # Each box is ~4.1 km x 4.4 km = ~18 km²; res-9 cells are ~0.105 km².
    for name in ("西区", "东区"):
        area = grid.loc[grid["district"] == name, "area_km2"].sum()
        assert area == pytest.approx(18.1, rel=0.05)


def test_centres_are_the_cells_own_and_hexagons_are_right() -> None:
    grid = city_grid(_two_districts(), resolution=8)
    for row in grid.head(20).itertuples():
        lat, lon = h3.cell_to_latlng(h3.int_to_str(int(row.cell)))
        assert (row.lon, row.lat) == pytest.approx((lon, lat), abs=1e-12)
        assert row.geometry.contains(shapely.Point(row.lon, row.lat))
        assert row.area_km2 == pytest.approx(h3.cell_area(h3.int_to_str(int(row.cell)), "km^2"))
    # The hexagons tile: neighbours share edges, no overlaps.
    union = shapely.union_all(grid.geometry.to_numpy())
    assert union.area == pytest.approx(shapely.area(grid.geometry.to_numpy()).sum(), rel=1e-9)


def test_street_polygons_assign_streets_and_leave_the_rest_none() -> None:
    streets = gpd.GeoDataFrame(
        {"name": ["北街道", "南街道"], "district": ["东区", "东区"]},
        geometry=[box(113.30, 23.12, 113.34, 23.14), box(113.30, 23.10, 113.34, 23.12)],
        crs="EPSG:4326",
    )
    grid = city_grid(_two_districts(), resolution=9, streets=streets)
    east = grid.loc[grid["district"] == "东区"]
    assert set(east["street"]) == {"北街道", "南街道"}
    north = east["lat"] > 23.12
    assert (east.loc[north, "street"] == "北街道").all()
    assert (east.loc[~north & (east["lat"] < 23.12), "street"] == "南街道").all()
    assert grid.loc[grid["district"] == "西区", "street"].isna().all()


def test_resolution_is_checked() -> None:
    with pytest.raises(ValueError, match="resolution"):
        city_grid(_two_districts(), resolution=7)


def test_guangzhou_at_resolution_8() -> None:
    districts = load_districts(REFERENCE_DIR)
    grid = city_grid(districts, resolution=8)
    assert 10_000 < len(grid) < 10_700
    assert set(grid["district"]) == set(districts["name"])
    # The cells' area is the city's, up to half a cell along the outline.
    city_km2 = districts.to_crs(districts.estimate_utm_crs()).area.sum() / 1e6
    assert grid["area_km2"].sum() == pytest.approx(city_km2, rel=0.01)
    # Independent check of the district of a sample of cells.
    sample = grid.sample(500, random_state=1)
    rows = locate(districts, sample["lon"], sample["lat"])
    assert (districts["name"].to_numpy()[rows] == sample["district"].to_numpy()).all()

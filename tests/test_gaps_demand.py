"""gaps.demand: census default, areal weighting of polygons, GeoTIFF grids."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from shapely.geometry import box

from gaps.demand import (
    CENSUS_EVEN_SOURCE,
    DEMAND_COLUMNS,
    demand_from_census,
    demand_from_polygons,
    demand_from_raster,
)
from gaps.grid import city_grid
from geo.boundaries import load_districts
from geo.package_data import REFERENCE_DIR
from providers.model import Category


def _grid(resolution: int = 9) -> gpd.GeoDataFrame:
    districts = gpd.GeoDataFrame(
        {"name": ["西区", "东区"]},
        geometry=[box(113.26, 23.10, 113.30, 23.14), box(113.30, 23.10, 113.34, 23.14)],
        crs="EPSG:4326",
    )
    return city_grid(districts, resolution=resolution)


def test_census_spreads_each_district_evenly_and_keeps_totals() -> None:
    districts = load_districts(REFERENCE_DIR)
    grid = city_grid(districts, resolution=8)
    demand = demand_from_census(grid, districts)
    assert tuple(demand.columns) == DEMAND_COLUMNS
    assert (demand["cell"].to_numpy() == grid["cell"].to_numpy()).all()
    per_district = demand.groupby(grid["district"].to_numpy())["residents"]
    totals = per_district.sum()
    want = districts.set_index("name")["population"].astype(float)
    pd.testing.assert_series_equal(totals.sort_index(), want.sort_index(), check_names=False)
    assert (per_district.nunique() == 1).all()  # even within a district
    assert demand["residents"].sum() == pytest.approx(districts["population"].sum())
    # Elderly care counts the 60+ of the shipped table, spread the same way; every other
    # category all residents; and the table says where the numbers come from, ages included.
    older = demand.groupby(grid["district"].to_numpy())["elderly_care"].sum()
    want_older = districts.set_index("name")["aged_60_plus"].astype(float)
    pd.testing.assert_series_equal(older.sort_index(), want_older.sort_index(), check_names=False)
    assert (demand["aged_60_plus"] == demand["elderly_care"]).all()
    for c in Category:
        if c is not Category.ELDERLY_CARE:
            assert (demand[c.value] == demand["residents"]).all()
    (source,) = set(demand["demand_source"])
    assert source.startswith(CENSUS_EVEN_SOURCE)
    assert "aged_60_plus: city-wide share 11.41%" in source and "not a district figure" in source
    assert "evenly" in CENSUS_EVEN_SOURCE and "default" in CENSUS_EVEN_SOURCE


def test_census_district_without_population_or_cells() -> None:
    grid = pd.DataFrame({"cell": [1, 2, 3], "district": ["甲区", "甲区", "丙区"]})
    counts = pd.DataFrame({"name": ["甲区", "乙区"], "population": [900, 500]})
    demand = demand_from_census(grid, counts)
    # 乙区 has no cells (its people are not placed); 丙区 has no figure (nobody).
    assert demand["residents"].tolist() == [450.0, 450.0, 0.0]


def test_polygons_areal_weighting() -> None:
    grid = _grid()
    hexes = grid.geometry.to_numpy()
    pair = shapely.union_all(hexes[[10, 11]])
    # A polygon half inside the grid: a box whose western half lies beyond the city.
    west_edge = grid.total_bounds[0]
    half_out = box(west_edge - 0.01, 23.115, west_edge + 0.01, 23.125)
    layer = gpd.GeoDataFrame(
        {"pop": [700.0, 100.0, 1000.0], "pop60": [70.0, 20.0, 0.0]},
        geometry=[hexes[3], pair, half_out],
        crs="EPSG:4326",
    ).to_crs("EPSG:32649")  # any CRS: the function projects both sides itself
    demand = demand_from_polygons(
        grid, layer, {"residents": "pop", Category.ELDERLY_CARE.value: "pop60"}
    )
    residents = demand["residents"].to_numpy()
    assert residents[3] == pytest.approx(700.0, abs=1e-6)
    # Two hexagons of one resolution have equal areas to within a fraction of a percent.
    assert residents[10] == pytest.approx(50.0, rel=0.005)
    assert residents[10] + residents[11] == pytest.approx(100.0, abs=1e-6)
    # Of the half-outside box, only the share over cells is kept (about half).
    inside = residents.sum() - 800.0
    assert 400.0 < inside < 600.0
    assert demand[Category.ELDERLY_CARE.value].to_numpy()[3] == pytest.approx(70.0, abs=1e-6)
    assert (demand[Category.NURSING.value] == demand["residents"]).all()


def test_polygons_need_residents_and_known_columns() -> None:
    grid = _grid(8)
    layer = gpd.GeoDataFrame({"pop": [1.0]}, geometry=[grid.geometry.iloc[0]], crs="EPSG:4326")
    with pytest.raises(ValueError, match="residents"):
        demand_from_polygons(grid, layer, {"elderly_care": "pop"})
    with pytest.raises(ValueError, match="unknown demand columns"):
        demand_from_polygons(grid, layer, {"residents": "pop", "elderly": "pop"})


def _write_tif(path: Path, bands: np.ndarray, transform: object, crs: str, nodata: float) -> None:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=bands.shape[1],
        width=bands.shape[2],
        count=bands.shape[0],
        dtype="float32",
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as out:
        out.write(bands.astype(np.float32))


def test_raster_pixels_go_to_the_cell_of_their_centre(tmp_path: Path) -> None:
    grid = _grid(9)
    rng = np.random.default_rng(3)
    # 0.0005° pixels (~50 m) over a window larger than the grid on every side.
    x0, y0, size, width, height = 113.25, 23.15, 0.0005, 200, 120
    people = rng.integers(0, 50, (height, width)).astype(np.float64)
    elderly = np.floor(people / 5)
    people[5, 7] = -9999.0  # nodata
    path = tmp_path / "pop.tif"
    _write_tif(
        path, np.stack([people, elderly]), from_origin(x0, y0, size, size), "EPSG:4326", -9999.0
    )

    demand = demand_from_raster(grid, path, {"residents": 1, "elderly_care": 2})

    # Oracle: each pixel centre's H3 cell, one at a time.
    rows, cols = np.indices(people.shape)
    lon = x0 + (cols.ravel() + 0.5) * size
    lat = y0 - (rows.ravel() + 0.5) * size
    cells = np.array(
        [h3.str_to_int(h3.latlng_to_cell(y, x, 9)) for x, y in zip(lon, lat, strict=True)]
    )
    valid = people.ravel() >= 0
    want = pd.Series(people.ravel()[valid]).groupby(cells[valid]).sum()
    got = demand.set_index("cell")["residents"]
    assert got.sum() > 10_000  # most pixels fall in cells: the comparison is not vacuous
    pd.testing.assert_series_equal(
        got, want.reindex(got.index).fillna(0.0), check_names=False, check_index_type=False
    )
    want_elderly = pd.Series(elderly.ravel()[valid]).groupby(cells[valid]).sum()
    np.testing.assert_allclose(
        demand["elderly_care"].to_numpy(), want_elderly.reindex(got.index).fillna(0.0).to_numpy()
    )
    assert demand["demand_source"].iloc[0] == "population grid pop.tif"


def test_raster_in_a_projected_crs_conserves_people_inside_the_grid(tmp_path: Path) -> None:
    grid = _grid(8)
    utm = grid.to_crs("EPSG:32649")
    left, bottom, right, top = utm.total_bounds
    size = 50.0
    width, height = int((right - left) // size) + 1, int((top - bottom) // size) + 1
    people = np.full((1, height, width), 2.0)
    path = tmp_path / "utm.tif"
    _write_tif(path, people, from_origin(left, top, size, size), "EPSG:32649", -1.0)
    demand = demand_from_raster(grid, path)
    # Every pixel centre inside a hexagon counts: 2 people per 2,500 m².
    expected = 2.0 * shapely.area(utm.geometry.to_numpy()) / size**2
    np.testing.assert_allclose(demand["residents"].to_numpy(), expected, rtol=0.03)

"""gaps.streets and the census weights of gaps.demand: a street for every point, per-street
tables whose figures add up to the district's, and residents placed where the weight
layer says people live."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from gaps.demand import (
    AGED_60_PLUS,
    CENSUS_EVEN_SOURCE,
    UNIFORM,
    demand_basis,
    demand_from_census,
    footprint_weights,
    raster_weights,
)
from gaps.grid import city_grid
from gaps.streets import (
    assign_streets,
    crow_equivalent_m,
    read_streets_layer,
    street_points,
    street_table,
)
from geo.boundaries import load_streets
from geo.package_data import REFERENCE_DIR
from providers.model import Category

TEST_STREETS = Path(__file__).parent / "data" / "streets-test.geojson"


def _districts() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": ["西区", "东区"], "population": [10_000, 4_000]},
        geometry=[box(113.26, 23.10, 113.30, 23.14), box(113.30, 23.10, 113.34, 23.14)],
        crs="EPSG:4326",
    )


def test_the_test_layer_reads_with_names_codes_and_districts() -> None:
    layer = read_streets_layer(TEST_STREETS)
    assert layer["name"].tolist() == ["试验一街道", "试验二街道", "试验三街道"]
    assert layer["code"].tolist() == ["440106901", "440106902", "440106903"]
    assert set(layer["district"]) == {"天河区"}
    assert layer.crs.to_epsg() == 4326


def test_a_layer_without_a_name_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nameless.geojson"
    gpd.GeoDataFrame({"x": [1]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:4326").to_file(path)
    with pytest.raises(ValueError, match="no name column"):
        read_streets_layer(path)


def test_streets_from_polygons_then_inferred_within_the_district() -> None:
    layer = read_streets_layer(TEST_STREETS)
    known = pd.DataFrame(
        {
            "lon": [113.40, 113.20],
            "lat": [23.12, 23.12],
            "street": ["元岗街道", "沙面街道"],
            "district": ["天河区", "荔湾区"],
        }
    )
    got = assign_streets(
        # Inside 试验一, inside 试验二, outside every polygon (天河区), outside (荔湾区),
        # and a 天河区 point nearer 沙面街道 than 元岗街道, which must not cross districts.
        [113.32, 113.36, 113.42, 113.25, 113.27],
        [23.12, 23.12, 23.20, 23.12, 23.12],
        ["天河区", "天河区", "天河区", "荔湾区", "天河区"],
        layer=layer,
        known=known,
        gazetteer=load_streets(REFERENCE_DIR),
    )
    assert got["street"].tolist() == [
        "试验一街道",
        "试验二街道",
        "元岗街道",
        "沙面街道",
        "元岗街道",
    ]
    assert got["street_inferred"].tolist() == [False, False, True, True, True]
    # Codes: the layer's own, else the official list's for the inferred names.
    assert got["street_code"].tolist() == [
        "440106901",
        "440106902",
        "440106015",
        "440103001",
        "440106015",
    ]


def test_without_any_source_the_street_stays_unknown() -> None:
    got = assign_streets([113.3], [23.1])
    assert got["street"].tolist() == [None] and got["street_inferred"].tolist() == [False]


def test_street_points_are_polygon_points_or_provider_means() -> None:
    layer = read_streets_layer(TEST_STREETS)
    points = street_points(layer, None)
    assert len(points) == 3
    for row in points.itertuples():
        polygon = layer.loc[layer["name"] == row.street].geometry.iloc[0]
        assert polygon.contains(gpd.points_from_xy([row.lon], [row.lat])[0])


def test_life_circles_are_the_distance_walked() -> None:
    assert crow_equivalent_m(5, 1.2) == 360.0
    assert crow_equivalent_m(10, 0.8) == 480.0
    with pytest.raises(ValueError):
        crow_equivalent_m(0, 1.2)


def test_street_table_adds_up_and_counts_each_circle() -> None:
    measures = pd.DataFrame(
        {
            "category": ["elderly_care"] * 5,
            "district": ["甲区"] * 5,
            "street": ["东街道", "东街道", "西街道", "西街道", None],
            "lon": [113.0, 113.2, 113.4, 113.6, 113.8],
            "lat": [23.0] * 5,
            "residents": [100.0, 200.0, 300.0, 400.0, 50.0],
            "all_residents": [1000.0, 2000.0, 3000.0, 4000.0, 500.0],
            AGED_60_PLUS: [100.0, 200.0, 300.0, 400.0, 50.0],
            "covered": [True, False, True, False, False],
            "gap": [False, True, False, True, True],
            "nearest_m": [250.0, 900.0, 450.0, 3000.0, np.inf],
        }
    )
    supply = pd.DataFrame(
        {"category": ["elderly_care"], "district": ["甲区"], "street": ["西街道"],
         "practitioners": [9]}
    )  # fmt: skip
    table = street_table(measures, supply, circles_m={"5min": 300.0, "10min": 500.0})
    assert table["street"].tolist() == ["东街道", "西街道", None]
    east, west, unknown = table.to_dict("records")
    assert (east["residents"], east["demand"], east["residents_60plus"]) == (3000.0, 300.0, 300.0)
    assert (east["within_5min"], east["within_10min"]) == (100.0, 100.0)
    assert (west["within_5min"], west["within_10min"]) == (0.0, 300.0)
    assert west["residents_in_gaps"] == 400.0 and west["share_covered"] == pytest.approx(3 / 7)
    assert (west["providers"], west["practitioners"], east["providers"]) == (1, 9, 0)
    assert unknown["residents_in_gaps"] == 50.0 and unknown["gap_cells"] == 1
    assert (east["lon"], east["lat"]) == pytest.approx((113.1, 23.0))
    # Every resident is in exactly one row.
    assert table["demand"].sum() == measures["residents"].sum()
    assert table["residents_in_gaps"].sum() == (measures["residents"] * measures["gap"]).sum()


def test_weights_place_the_census_where_the_buildings_are_and_keep_totals() -> None:
    districts = _districts()
    grid = city_grid(districts, resolution=9)
    west_cells = np.flatnonzero(grid["district"].to_numpy() == "西区")
    # Buildings in two cells of the west district only; none in the east.
    footprints = gpd.GeoDataFrame(
        {"floors": [1, 3]},
        geometry=[
            grid.geometry.iloc[west_cells[0]].centroid.buffer(0.0005),
            grid.geometry.iloc[west_cells[1]].centroid.buffer(0.0005),
        ],
        crs="EPSG:4326",
    )
    weights = footprint_weights(grid, footprints)
    # Three floors weigh three times one (the two circles differ in area by ~3 ppm: their
    # latitudes differ).
    assert weights[west_cells[1]] == pytest.approx(3 * weights[west_cells[0]], rel=1e-4)
    demand = demand_from_census(grid, districts, weights=weights, weights_source="footprints")
    residents = demand["residents"].to_numpy()
    assert residents[west_cells[0]] == pytest.approx(2_500.0, rel=1e-4)
    assert residents[west_cells[1]] == pytest.approx(7_500.0, rel=1e-4)
    assert residents.sum() == pytest.approx(14_000.0)
    # The east district has no buildings: spread evenly there, and the source says so.
    east = grid["district"].to_numpy() == "东区"
    assert np.unique(residents[east]).size == 1
    source = demand["demand_source"].iloc[0]
    assert "footprints" in source and UNIFORM in source and "东区" in source


def test_uniform_default_says_so() -> None:
    assert UNIFORM in CENSUS_EVEN_SOURCE and "均匀分配" in UNIFORM


def test_raster_weights_follow_the_pixels(tmp_path: Path) -> None:
    districts = _districts()
    grid = city_grid(districts, resolution=8)
    path = tmp_path / "pop.tif"
    pixels = np.zeros((40, 80), dtype=np.float32)
    pixels[:, :20] = 1.0  # people in the western 2 km only, far from the east district
    with rasterio.open(
        path, "w", driver="GTiff", height=40, width=80, count=1, dtype="float32",
        crs="EPSG:4326", transform=from_origin(113.26, 23.14, 0.001, 0.001),
    ) as raster:  # fmt: skip
        raster.write(pixels, 1)
    weights = raster_weights(grid, path)
    west = grid["district"].to_numpy() == "西区"
    assert weights[west].sum() > 0 and weights[~west].sum() == 0
    demand = demand_from_census(grid, districts, weights=weights, weights_source="pop.tif")
    assert demand["residents"].sum() == pytest.approx(14_000.0)


def test_age_columns_count_the_groups_each_category_serves() -> None:
    districts = _districts().assign(aged_60_plus=[2_000, 1_000], women_15_49=[3_000, 900])
    basis = demand_basis(districts)
    assert basis[Category.ELDERLY_CARE] == "aged_60_plus"
    assert basis[Category.MATERNAL_INFANT] == "women_15_49"
    assert basis[Category.NURSING] == "residents"
    grid = city_grid(districts, resolution=8)
    demand = demand_from_census(grid, districts)
    by_district = demand.groupby(grid["district"].to_numpy()).sum(numeric_only=True)
    assert by_district.loc["西区", "elderly_care"] == pytest.approx(2_000)
    assert by_district.loc["东区", "maternal_infant"] == pytest.approx(900)
    assert by_district.loc["东区", "nursing"] == pytest.approx(4_000)
    assert by_district.loc["西区", AGED_60_PLUS] == pytest.approx(2_000)
    # Without ages, 60+ is unknown (not all residents).
    assert demand_from_census(grid, _districts())[AGED_60_PLUS].isna().all()

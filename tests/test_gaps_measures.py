"""Measures and district summaries on a hand-made town whose answers are worked out by hand.

Two districts side by side, 东区 (east, listed first) and 西区 (west), sharing the meridian
113.30° E. Cells are points placed at exact geodesic distances and bearings from the
providers (pyproj's ``Geod.fwd``), so every distance below is known before any code runs:

* elderly care: one station P in 东区's north-east corner, 10 practitioners; cells at 0, 500
  and 900 m (covered), 1,500 and 2,500 m (gaps) in 东区, and 4,500 m (a gap) and 6,000 m
  (nobody lives there) in 西区, which has no provider: an empty district;
* nursing: one station B exactly on the shared edge, covering a cell 400 m into each
  district;
* maternal & infant: no provider at all.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import box

from gaps.measures import MEASURE_COLUMNS, cell_measures, coverage_measures
from gaps.summary import area_summary, locate_supply, worst_cells
from gaps.supply import suitable_supply
from providers.model import Category
from tests.helpers import station

GEOD = Geod(ellps="WGS84")
EAST = box(113.30, 23.10, 113.34, 23.14)
WEST = box(113.26, 23.10, 113.30, 23.14)
P = (113.339, 23.139)  # north-east corner of 东区
B = (113.30, 23.12)  # on the shared edge

# (cell, district, from, bearing, metres, residents)
CELLS = [
    (1, "东区", P, 0.0, 0.0, 100.0),
    (2, "东区", P, 180.0, 500.0, 200.0),
    (3, "东区", P, 180.0, 900.0, 300.0),
    (4, "东区", P, 270.0, 1500.0, 400.0),
    (5, "东区", P, 225.0, 2500.0, 500.0),
    (6, "西区", P, 270.0, 4500.0, 600.0),
    (7, "西区", P, 270.0, 6000.0, 0.0),
    (8, "东区", B, 90.0, 400.0, 50.0),
    (9, "西区", B, 270.0, 400.0, 70.0),
    (10, "西区", B, 270.0, 1200.0, 80.0),
]


def _districts() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": ["东区", "西区"]}, geometry=[EAST, WEST], crs="EPSG:4326")


def _grid() -> pd.DataFrame:
    origin = np.array([c[2] for c in CELLS])
    lon, lat, _ = GEOD.fwd(origin[:, 0], origin[:, 1], [c[3] for c in CELLS], [c[4] for c in CELLS])
    return pd.DataFrame(
        {"cell": [c[0] for c in CELLS], "lon": lon, "lat": lat, "district": [c[1] for c in CELLS]}
    )


def _demand() -> pd.DataFrame:
    residents = [c[5] for c in CELLS]
    return pd.DataFrame({"cell": [c[0] for c in CELLS], "residents": residents})


def _supply() -> pd.DataFrame:
    providers = [
        station(1, *P, categories=[Category.ELDERLY_CARE], practitioners=10),
        station(2, *B, categories=[Category.NURSING], practitioners=6),
    ]
    return locate_supply(suitable_supply(providers), _districts())


def _rows(table: pd.DataFrame) -> dict[tuple[str, str], dict[Hashable, Any]]:
    return {(str(r["category"]), str(r["district"])): r for r in table.to_dict("records")}


def _measures() -> pd.DataFrame:
    return coverage_measures(_grid(), _demand(), _supply())


def test_the_town_is_laid_out_as_described() -> None:
    grid = _grid()
    inside_east = (grid["lon"] >= 113.30) & (grid["lon"] <= 113.34)
    assert ((grid["district"] == "东区") == inside_east).all()


def test_distances_coverage_and_gaps_by_hand() -> None:
    m = _measures()
    assert tuple(m.columns) == MEASURE_COLUMNS
    elderly = m.loc[m["category"] == "elderly_care"].set_index("cell")
    np.testing.assert_allclose(
        elderly["nearest_m"].to_numpy()[:7], [0, 500, 900, 1500, 2500, 4500, 6000], atol=1e-6
    )
    assert elderly["nearest_id"].iloc[:7].tolist() == ["st-test000001"] * 7
    assert elderly["providers_within"].iloc[:7].tolist() == [1, 1, 1, 0, 0, 0, 0]
    assert elderly["capacity_within"].iloc[:7].tolist() == [10, 10, 10, 0, 0, 0, 0]
    assert elderly["covered"].iloc[:7].tolist() == [True, True, True, False, False, False, False]
    # Cell 7 is uncovered but nobody lives there: not a gap.
    assert elderly["gap"].iloc[:7].tolist() == [False, False, False, True, True, True, False]

    nursing = m.loc[m["category"] == "nursing"].set_index("cell")
    np.testing.assert_allclose(nursing.loc[[8, 9, 10], "nearest_m"], [400, 400, 1200], atol=1e-6)
    assert nursing.loc[[8, 9, 10], "covered"].tolist() == [True, True, False]

    nobody = m.loc[m["category"] == "maternal_infant"]
    assert np.isinf(nobody["nearest_m"]).all()
    assert nobody["nearest_id"].isna().all()
    assert (nobody["gap"] == (nobody["residents"] > 0)).all()


def test_e2sfca_by_hand() -> None:
    # Within 1,000 m of P: cells 1, 2, 3 at 0, 500, 900 m, weights 1.0, 0.68, 0.22.
    # R = 10 / (100·1 + 200·0.68 + 300·0.22) = 10 / 302;  A = weight · R.
    m = cell_measures(_grid(), _demand(), _supply(), Category.ELDERLY_CARE)
    r = 10 / 302
    np.testing.assert_allclose(
        m["accessibility"].to_numpy()[:7], [r, 0.68 * r, 0.22 * r, 0, 0, 0, 0], rtol=1e-12
    )
    # Nursing: B reaches cells 8 and 9 (400 m, weight 0.68): R = 6 / (0.68 · 120).
    nursing = cell_measures(_grid(), _demand(), _supply(), Category.NURSING)
    r = 6 / (0.68 * 120)
    np.testing.assert_allclose(nursing["accessibility"].to_numpy()[7:], [0.68 * r, 0.68 * r, 0])


def test_category_specific_demand_is_used() -> None:
    demand = _demand().assign(elderly_care=lambda d: d["residents"] / 10)
    m = coverage_measures(_grid(), demand, _supply(), [Category.ELDERLY_CARE, Category.NURSING])
    elderly = m.loc[m["category"] == "elderly_care", "residents"].to_numpy()
    nursing = m.loc[m["category"] == "nursing", "residents"].to_numpy()
    np.testing.assert_allclose(elderly, nursing / 10)
    # And E2SFCA follows: ten times fewer people per practitioner.
    acc = m.loc[m["category"] == "elderly_care", "accessibility"].to_numpy()
    assert acc[0] == pytest.approx(10 * 10 / 302)


def test_the_boundary_provider_counts_once_in_the_first_district() -> None:
    supply = _supply()
    on_edge = supply.loc[supply["id"] == "st-test000002"]
    assert on_edge["district"].tolist() == ["东区"]


def test_district_summary_by_hand() -> None:
    table = _rows(area_summary(_measures(), _supply()))
    east, west = table[("elderly_care", "东区")], table[("elderly_care", "西区")]
    # 东区 elderly care: cells 1-5 and 8; covered 1, 2, 3; residents 1,550, covered 600.
    assert east["cells"] == 6
    assert east["cells_covered"] == 3
    assert east["share_cells_covered"] == pytest.approx(0.5)
    assert east["residents"] == 1550
    assert east["share_residents_covered"] == pytest.approx(600 / 1550)
    assert east["gap_cells"] == 3  # cells 4, 5 and 8
    assert east["providers"] == 1
    assert east["practitioners"] == 10
    assert east["providers_per_10k"] == pytest.approx(10_000 / 1550)
    assert east["practitioners_per_10k"] == pytest.approx(100_000 / 1550)
    # 西区, the empty district: cells 6, 7, 9, 10; nobody covered, no provider.
    assert west["cells"] == 4
    assert west["cells_covered"] == 0
    assert west["share_residents_covered"] == 0.0
    assert west["residents_in_gaps"] == 750
    assert west["providers"] == 0
    assert west["providers_per_10k"] == 0.0
    assert [west[f"accessibility_q{q}"] for q in ("10", "50", "90")] == [0, 0, 0]

    # Nursing: the edge provider covers a cell on each side but is counted in 东区 only.
    assert table[("nursing", "东区")]["providers"] == 1
    assert table[("nursing", "西区")]["providers"] == 0
    assert table[("nursing", "西区")]["cells_covered"] == 1
    assert table[("nursing", "西区")]["residents_covered"] == 70


def test_accessibility_quantiles_are_over_populated_cells() -> None:
    table = _rows(area_summary(_measures(), _supply(), quantiles=(0.5, 1.0)))
    east = table[("elderly_care", "东区")]
    # Populated 东区 cells: 1-5 and 8 -> A = r, 0.68r, 0.22r, 0, 0, 0 (median of six: 0.11r).
    r = 10 / 302
    assert east["accessibility_q50"] == pytest.approx(0.11 * r)
    assert east["accessibility_q100"] == pytest.approx(r)


def test_street_summary_uses_the_street_column() -> None:
    grid = _grid().assign(street=pd.Series(["甲街"] * 5 + [None] * 5, dtype=object))
    m = coverage_measures(grid, _demand(), _supply(), [Category.ELDERLY_CARE])
    supply = _supply().assign(street="甲街")
    table = area_summary(m, supply, by="street")
    street = table.loc[table["street"] == "甲街"].iloc[0]
    assert street["cells"] == 5
    assert street["share_residents_covered"] == pytest.approx(600 / 1500)
    assert street["providers"] == 1


def test_worst_cells_put_the_biggest_gap_first() -> None:
    worst = worst_cells(_measures(), n=2)
    east = worst.loc[(worst["category"] == "elderly_care") & (worst["district"] == "东区")]
    assert east["cell"].tolist() == [5, 4]  # gaps, most residents first
    assert east["rank"].tolist() == [1, 2]
    west = worst.loc[(worst["category"] == "elderly_care") & (worst["district"] == "西区")]
    assert west["cell"].tolist() == [6, 10]  # cell 7 is empty: never listed


def test_catchment_is_a_setting() -> None:
    wide = cell_measures(_grid(), _demand(), _supply(), Category.ELDERLY_CARE, catchment_m=1600)
    assert wide["covered"].iloc[:7].tolist() == [True, True, True, True, False, False, False]
    with pytest.raises(ValueError, match="catchment"):
        cell_measures(_grid(), _demand(), _supply(), Category.ELDERLY_CARE, catchment_m=0)

"""E2SFCA: the figures equal PySAL ``access`` run directly on the same inputs."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from access import Access, weights
from shapely.geometry import box

from gaps.accessibility import decay_function, e2sfca
from gaps.demand import demand_from_census
from gaps.grid import city_grid
from gaps.measures import cell_measures
from geo.geodesy import geodesic_distance_m
from providers.model import Category


def _scene() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    districts = gpd.GeoDataFrame(
        {"name": ["甲区", "乙区"], "population": [60_000, 20_000]},
        geometry=[box(113.30, 23.10, 113.33, 23.13), box(113.33, 23.10, 113.36, 23.13)],
        crs="EPSG:4326",
    )
    grid = city_grid(districts, resolution=9)
    demand = demand_from_census(grid, districts)
    rng = np.random.default_rng(21)
    # A band of cells with nobody: a provider there has no residents in reach.
    demand.loc[grid["lat"] > 23.116, "residents"] = 0.0
    demand[Category.NURSING.value] = demand["residents"] * rng.uniform(0.5, 1.5, len(demand))
    n = 30
    supply = pd.DataFrame(
        {
            "category": Category.NURSING.value,
            "id": [f"p{k}" for k in range(n)],
            "lon": rng.uniform(113.30, 113.36, n),
            "lat": rng.uniform(23.10, 23.13, n),
            "capacity": rng.integers(1, 40, n).astype(float),
        }
    )
    supply.loc[0, ["lon", "lat"]] = [113.33, 23.1295]  # among the empty cells
    return grid, demand, supply


def _access_directly(
    grid: pd.DataFrame, demand: pd.DataFrame, supply: pd.DataFrame, weight_fn: object
) -> pd.Series:
    """PySAL access on a full, brute-force cost matrix with string ids: no gaps code."""
    cells = grid["cell"].astype(str).to_numpy()
    dist = geodesic_distance_m(
        grid["lon"].to_numpy()[:, None],
        grid["lat"].to_numpy()[:, None],
        supply["lon"].to_numpy()[None, :],
        supply["lat"].to_numpy()[None, :],
    )
    cost = pd.DataFrame(
        {
            "origin": np.repeat(cells, len(supply)),
            "dest": np.tile(supply["id"].to_numpy(), len(grid)),
            "cost": dist.ravel(),
        }
    )
    model = Access(
        demand_df=pd.DataFrame({"geoid": cells, "pop": demand[Category.NURSING.value].to_numpy()}),
        demand_index="geoid",
        demand_value="pop",
        supply_df=supply[["id", "capacity"]],
        supply_index="id",
        supply_value="capacity",
        cost_df=cost,
        cost_origin="origin",
        cost_dest="dest",
        cost_name="cost",
    )
    result = model.enhanced_two_stage_fca(name="ref", max_cost=1000.0, weight_fn=weight_fn)
    return pd.Series(result["ref_capacity"]).reindex(cells)


@pytest.mark.parametrize(
    ("decay", "weight_fn"),
    [
        ("step", weights.step_fn({1000 / 3: 1.0, 2000 / 3: 0.68, 1000.0: 0.22})),
        ("gaussian", weights.gaussian(500.0)),
    ],
)
def test_e2sfca_equals_access_run_directly(decay: str, weight_fn: object) -> None:
    grid, demand, supply = _scene()
    measures = cell_measures(grid, demand, supply, Category.NURSING, decay=decay)  # type: ignore[arg-type]
    ref = _access_directly(grid, demand, supply, weight_fn).to_numpy()
    got = measures["accessibility"].to_numpy()
    reached = ~np.isnan(ref)
    # Access leaves a cell with no provider in reach out (NaN): gaps says 0.
    assert (got[~reached] == 0).all()
    # Cells reached only by providers with nobody in reach get inf from access: gaps NaN.
    infinite = reached & np.isinf(ref)
    assert np.isnan(got[infinite]).all()
    finite = reached & np.isfinite(ref)
    np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-12)
    # Not vacuous: many cells reached, some not, a spread of values.
    assert finite.sum() > 100 and (~reached).sum() > 0 and infinite.any()
    assert np.unique(np.round(got[finite], 9)).size > 80


def test_e2sfca_two_providers_sharing_residents_by_hand() -> None:
    # Cells A (100 people), B (300); provider X (10) reaches A at 100 m (w 1.0) and B at
    # 600 m (w 0.68); provider Y (5) reaches B at 200 m (w 1.0).
    # R_X = 10 / (100 + 0.68·300) = 10/304;  R_Y = 5 / 300.
    # A_A = R_X;  A_B = 0.68·R_X + R_Y.
    got = e2sfca(
        [100.0, 300.0], [10.0, 5.0], [0, 1, 1], [0, 0, 1], [100.0, 600.0, 200.0], catchment_m=900
    )
    rx, ry = 10 / 304, 5 / 300
    np.testing.assert_allclose(got, [rx, 0.68 * rx + ry], rtol=1e-12)


def test_pairs_beyond_the_catchment_are_ignored() -> None:
    got = e2sfca([100.0], [10.0], [0], [0], [901.0], catchment_m=900)
    assert got.tolist() == [0.0]


def test_decay_functions() -> None:
    step = decay_function("step", 1200.0)
    assert [step(0.0), step(400.0), step(401.0), step(800.0), step(1200.0), step(1201.0)] == [
        1.0,
        1.0,
        0.68,
        0.68,
        0.22,
        0,
    ]
    gauss = decay_function("gaussian", 1000.0)
    assert float(gauss(1000.0)) == pytest.approx(np.exp(-2.0))
    with pytest.raises(ValueError, match="decay"):
        decay_function("linear", 1000.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="catchment"):
        decay_function("step", 0.0)

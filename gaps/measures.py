"""Measures per cell and category: nearest provider, providers in reach, E2SFCA, gap flag.

For every cell and category, with distances geodesic on the WGS-84 ellipsoid from the
cell's centre:

* ``nearest_m`` / ``nearest_id`` — the nearest suitable provider (``inf`` / missing when the
  category has none);
* ``providers_within`` / ``capacity_within`` — suitable providers (and their capacity)
  within the catchment, default 1,000 m;
* ``accessibility`` — E2SFCA through PySAL ``access`` (:mod:`gaps.accessibility`),
  capacity per resident, with distance decay inside the catchment;
* ``covered`` — a suitable provider lies within the catchment;
* ``gap`` — residents live in the cell and it is not covered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from gaps.accessibility import Decay, e2sfca
from gaps.demand import RESIDENTS
from gaps.distances import nearest_geodesic, pairs_within
from providers.model import Category

DEFAULT_CATCHMENT_M = 1_000.0

# How far points are from targets: geodesic by default, or walking over a network
# (:func:`gaps.network.network_nearest` / :func:`gaps.network.network_pairs_within` with the
# network bound), with the same shapes.
NearestFn = Callable[
    [npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]],
]
PairsFn = Callable[
    [npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, float],
    tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]],
]

MEASURE_COLUMNS: tuple[str, ...] = (
    "category",
    "cell",
    "lon",
    "lat",
    "district",
    "street",
    "residents",
    "nearest_m",
    "nearest_id",
    "providers_within",
    "capacity_within",
    "accessibility",
    "covered",
    "gap",
)


def cell_measures(
    grid: pd.DataFrame,
    demand: pd.DataFrame,
    supply: pd.DataFrame,
    category: Category,
    *,
    catchment_m: float = DEFAULT_CATCHMENT_M,
    decay: Decay = "step",
    nearest: NearestFn = nearest_geodesic,
    pairs: PairsFn = pairs_within,
) -> pd.DataFrame:
    """The measures of one category for every cell.

    Parameters
    ----------
    grid
        ``cell``, ``lon``, ``lat``, ``district`` and optionally ``street``, e.g. from
        :func:`gaps.grid.city_grid` (any points with ids will do).
    demand
        ``cell`` and a column per category or ``residents``, e.g. from :mod:`gaps.demand`;
        the category's column is used when present, else ``residents``. Cells missing from
        it have no residents.
    supply
        ``category``, ``id``, ``lon``, ``lat``, ``capacity``, e.g. from
        :func:`gaps.supply.suitable_supply`; only the rows of ``category`` are used.
    category
        The service category.
    catchment_m
        The catchment radius in metres (coverage and E2SFCA).
    decay
        E2SFCA distance decay, see :func:`gaps.accessibility.decay_function`.
    nearest, pairs
        How distances are measured: geodesic metres by default; walking metres over a
        street network with the functions of :mod:`gaps.network` (``catchment_m`` is then
        a walking distance, and the E2SFCA costs are walking metres).

    Returns
    -------
    pandas.DataFrame
        One row per grid cell, in the grid's order: the columns of :data:`MEASURE_COLUMNS`.

    Examples
    --------
    >>> grid = pd.DataFrame({"cell": [1, 2], "lon": [113.3245, 113.3245],
    ...                      "lat": [23.1064, 23.1264], "district": ["海珠区", "海珠区"]})
    >>> demand = pd.DataFrame({"cell": [1, 2], "residents": [500.0, 800.0]})
    >>> supply = pd.DataFrame({"category": ["nursing"], "id": ["st-1"], "lon": [113.3245],
    ...                        "lat": [23.1100], "capacity": [12.0]})
    >>> m = cell_measures(grid, demand, supply, Category.NURSING)
    >>> m[["nearest_m", "providers_within", "covered", "gap"]].round(1).values.tolist()
    [[398.7, 1, True, False], [1816.2, 0, False, True]]
    """
    if catchment_m <= 0:
        raise ValueError("catchment_m must be positive")
    lon = grid["lon"].to_numpy(np.float64)
    lat = grid["lat"].to_numpy(np.float64)
    residents = _category_demand(grid, demand, category)
    rows = supply.loc[supply["category"].astype(object) == category.value]
    p_lon = rows["lon"].to_numpy(np.float64)
    p_lat = rows["lat"].to_numpy(np.float64)
    capacity = rows["capacity"].to_numpy(np.float64)
    ids = rows["id"].astype(object).to_numpy()

    nearest_pos, nearest_m = nearest(lon, lat, p_lon, p_lat)
    i, j, metres = pairs(lon, lat, p_lon, p_lat, catchment_m)
    n = lon.size
    covered = nearest_m <= catchment_m
    return pd.DataFrame(
        {
            "category": pd.Series([category.value] * n, dtype=object),
            "cell": grid["cell"].to_numpy(),
            "lon": lon,
            "lat": lat,
            "district": grid["district"].astype(object).to_numpy(),
            "street": (
                grid["street"].astype(object).to_numpy()
                if "street" in grid.columns
                else np.full(n, None, dtype=object)
            ),
            "residents": residents,
            "nearest_m": nearest_m,
            # A trailing None, so that position -1 (no provider at all) reads as None.
            "nearest_id": np.concatenate([ids, np.array([None], object)])[nearest_pos],
            "providers_within": np.bincount(i, minlength=n).astype(np.int64),
            "capacity_within": np.bincount(i, weights=capacity[j], minlength=n),
            "accessibility": e2sfca(
                residents, capacity, i, j, metres, catchment_m=catchment_m, decay=decay
            ),
            "covered": covered,
            "gap": ~covered & (residents > 0),
        }
    )


def coverage_measures(
    grid: pd.DataFrame,
    demand: pd.DataFrame,
    supply: pd.DataFrame,
    categories: Sequence[Category] = tuple(Category),
    *,
    catchment_m: float = DEFAULT_CATCHMENT_M,
    decay: Decay = "step",
    nearest: NearestFn = nearest_geodesic,
    pairs: PairsFn = pairs_within,
) -> pd.DataFrame:
    """:func:`cell_measures` for several categories, stacked (category, then grid order).

    A category with no suitable provider still gets its rows: every populated cell is a
    gap there.

    Parameters
    ----------
    grid, demand, supply, catchment_m, decay, nearest, pairs
        As for :func:`cell_measures`.
    categories
        The categories to measure, default all four.

    Returns
    -------
    pandas.DataFrame
        ``len(categories) × len(grid)`` rows with the columns of :data:`MEASURE_COLUMNS`.
    """
    parts = [
        cell_measures(
            grid,
            demand,
            supply,
            c,
            catchment_m=catchment_m,
            decay=decay,
            nearest=nearest,
            pairs=pairs,
        )
        for c in categories
    ]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in MEASURE_COLUMNS})
    return pd.concat(parts, ignore_index=True)


def _category_demand(
    grid: pd.DataFrame, demand: pd.DataFrame, category: Category
) -> npt.NDArray[np.float64]:
    column = category.value if category.value in demand.columns else RESIDENTS
    per_cell = pd.Series(demand[column].to_numpy(np.float64), index=demand["cell"].to_numpy())
    if not per_cell.index.is_unique:
        raise ValueError("demand has more than one row for a cell")
    values = per_cell.reindex(grid["cell"].to_numpy()).fillna(0.0).to_numpy(np.float64)
    return np.asarray(values, dtype=np.float64)

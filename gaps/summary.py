"""Summaries for district (and street) offices: coverage shares, supply per 10,000 residents,
accessibility quantiles, and the worst cells.

Providers are counted in the area their point lies in. Use :func:`locate_supply` to set
their ``district``/``street`` from the same polygons as the grid; otherwise the
``district``/``street`` a record carries is taken as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from gaps.grid import locate_points

Area = Literal["district", "street"]
DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
PER_RESIDENTS = 10_000


# The figures of every area, in the order tables show them; accessibility quantile columns
# (``accessibility_q10`` …, one per requested quantile) follow.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "cells",
    "cells_covered",
    "share_cells_covered",
    "residents",
    "residents_covered",
    "share_residents_covered",
    "gap_cells",
    "residents_in_gaps",
    "providers",
    "practitioners",
    "providers_per_10k",
    "practitioners_per_10k",
)


def locate_supply(
    supply: pd.DataFrame,
    districts: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """``supply`` with ``district`` (and ``street``) set from the polygons each point lies in.

    A point on a shared edge goes to the first polygon (lowest row) that covers it, as in
    :func:`gaps.grid.city_grid`, so it is counted in exactly one area. Points outside
    every polygon get ``None``; ``street`` is ``None`` when no street layer is given.

    Parameters
    ----------
    supply
        A table with ``lon`` and ``lat`` (WGS-84), e.g. from
        :func:`gaps.supply.suitable_supply`.
    districts, streets
        Polygons with a ``name`` column.

    Returns
    -------
    pandas.DataFrame
        A copy of ``supply`` with ``district`` and ``street`` replaced.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> two = gpd.GeoDataFrame({"name": ["西区", "东区"]}, crs="EPSG:4326",
    ...     geometry=[box(113.30, 23.10, 113.31, 23.11), box(113.31, 23.10, 113.32, 23.11)])
    >>> points = pd.DataFrame({"lon": [113.305, 113.31, 113.5], "lat": [23.105, 23.105, 23.105]})
    >>> locate_supply(points, two)["district"].tolist()  # the middle one is on the shared edge
    ['西区', '西区', None]
    """
    out = supply.copy()
    lon = out["lon"].to_numpy(np.float64)
    lat = out["lat"].to_numpy(np.float64)
    # object dtype keeps None (pandas would turn it into NaN in a string column).
    out["district"] = pd.Series(_names_at(districts, lon, lat), index=out.index, dtype=object)
    out["street"] = pd.Series(
        _names_at(streets, lon, lat) if streets is not None else None,
        index=out.index,
        dtype=object,
    )
    return out


def area_summary(
    measures: pd.DataFrame,
    supply: pd.DataFrame,
    by: Area = "district",
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> pd.DataFrame:
    """Coverage, supply and accessibility per area and category.

    Parameters
    ----------
    measures
        Per-cell measures, e.g. from :func:`gaps.measures.coverage_measures`.
    supply
        Suitable supply per category (``category``, ``practitioners`` and the ``by``
        column), e.g. :func:`gaps.supply.suitable_supply` then :func:`locate_supply`.
    by
        ``"district"`` or ``"street"``.
    quantiles
        Accessibility quantiles to report, over the area's populated cells.

    Returns
    -------
    pandas.DataFrame
        One row per (category, area) present in ``measures``, sorted by both: ``cells``,
        ``cells_covered``, ``share_cells_covered``, ``residents``, ``residents_covered``,
        ``share_residents_covered``, ``gap_cells``, ``residents_in_gaps``, ``providers``,
        ``practitioners``, ``providers_per_10k``, ``practitioners_per_10k`` (NaN for an
        area without residents) and ``accessibility_q10`` … (NaN without populated cells).

    Examples
    --------
    >>> m = pd.DataFrame({"category": ["nursing"] * 3, "district": ["甲区", "甲区", "乙区"],
    ...     "residents": [3000.0, 1000.0, 5000.0], "covered": [True, False, False],
    ...     "gap": [False, True, True], "accessibility": [0.004, 0.0, 0.0]})
    >>> s = pd.DataFrame({"category": ["nursing"], "district": ["甲区"], "practitioners": [12]})
    >>> area_summary(m, s)[["district", "share_cells_covered", "share_residents_covered",
    ...     "providers_per_10k"]].values.tolist()
    [['乙区', 0.0, 0.0, 0.0], ['甲区', 0.5, 0.75, 2.5]]
    """
    keys = ["category", by]
    cells = measures.assign(
        _covered_residents=measures["residents"] * measures["covered"],
        _gap_residents=measures["residents"] * measures["gap"],
        _populated_access=measures["accessibility"].where(measures["residents"] > 0),
    )
    grouped = cells.groupby(keys, sort=True, dropna=False)
    table = grouped.agg(
        cells=("residents", "size"),
        cells_covered=("covered", "sum"),
        residents=("residents", "sum"),
        residents_covered=("_covered_residents", "sum"),
        gap_cells=("gap", "sum"),
        residents_in_gaps=("_gap_residents", "sum"),
    )
    table["share_cells_covered"] = table["cells_covered"] / table["cells"]
    table["share_residents_covered"] = _ratio(table["residents_covered"], table["residents"])

    counts = supply.groupby(keys, sort=False, dropna=False).agg(
        providers=("category", "size"), practitioners=("practitioners", "sum")
    )
    table = table.join(counts, how="left")
    table[["providers", "practitioners"]] = (
        table[["providers", "practitioners"]].fillna(0).astype(np.int64)
    )
    table["providers_per_10k"] = _ratio(table["providers"] * PER_RESIDENTS, table["residents"])
    table["practitioners_per_10k"] = _ratio(
        table["practitioners"] * PER_RESIDENTS, table["residents"]
    )
    if quantiles:
        access_q = grouped["_populated_access"].quantile(np.asarray(quantiles)).unstack()
        access_q.columns = [f"accessibility_q{round(q * 100):02d}" for q in quantiles]
        table = table.join(access_q)
    order = list(SUMMARY_COLUMNS)
    rest = [c for c in table.columns if c not in order]
    table = table[order + rest]
    table[["cells_covered", "gap_cells"]] = table[["cells_covered", "gap_cells"]].astype(np.int64)
    return table.reset_index()


def worst_cells(measures: pd.DataFrame, n: int = 10, by: Area = "district") -> pd.DataFrame:
    """The ``n`` worst-served populated cells of each area and category.

    Worst first: uncovered cells (gaps) before covered ones, then the lowest
    accessibility, the most residents, the farthest nearest provider, the cell id.

    Parameters
    ----------
    measures
        Per-cell measures, e.g. from :func:`gaps.measures.coverage_measures`.
    n
        How many per (category, area).
    by
        ``"district"`` or ``"street"``.

    Returns
    -------
    pandas.DataFrame
        The measure rows with a ``rank`` (1 = worst) per (category, area).

    Examples
    --------
    >>> m = pd.DataFrame({"category": ["nursing"] * 3, "district": ["甲区"] * 3,
    ...     "cell": [1, 2, 3], "residents": [10.0, 900.0, 50.0], "covered": [False, True, False],
    ...     "accessibility": [0.0, 0.01, 0.0], "nearest_m": [1500.0, 300.0, 2500.0]})
    >>> worst_cells(m, n=2)[["cell", "rank"]].to_dict("list")
    {'cell': [3, 1], 'rank': [1, 2]}
    """
    populated = measures.loc[measures["residents"] > 0]
    ordered = populated.assign(
        _access=populated["accessibility"].fillna(np.inf),
        _minus_residents=-populated["residents"],
        _minus_nearest=-populated["nearest_m"],
    ).sort_values(
        ["category", by, "covered", "_access", "_minus_residents", "_minus_nearest", "cell"],
        kind="stable",
    )
    ordered["rank"] = ordered.groupby(["category", by], dropna=False).cumcount() + 1
    top = ordered.loc[ordered["rank"] <= n]
    return top.drop(columns=["_access", "_minus_residents", "_minus_nearest"]).reset_index(
        drop=True
    )


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return (numerator / denominator.where(denominator > 0)).astype(np.float64)


def _names_at(
    polygons: gpd.GeoDataFrame, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
) -> npt.NDArray[np.object_]:
    layer = polygons.to_crs("EPSG:4326").reset_index(drop=True)
    # A trailing None, so that row -1 (outside every polygon) reads as None.
    names = np.concatenate([layer["name"].to_numpy(dtype=object), np.array([None], object)])
    return np.asarray(names[locate_points(layer, lon, lat)], dtype=object)

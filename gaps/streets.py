"""Streets (街道/镇) for any point, and the per-street tables a district office plans by.

A point gets its street in one of two ways, and every answer says which:

* **from the street polygons** the operator loads (``JZMAP_STREETS_LAYER``): the polygon
  whose area holds the point (a spatial-index containment query; a point on a shared edge
  goes to the first polygon, as districts do in :func:`gaps.grid.city_grid`);
  ``street_inferred`` is ``False``;
* **inferred**, where no polygon holds the point (no layer, or a point outside every
  polygon): the street of the nearest point whose street is known in the same district
  (providers whose registry address names their street, geocoded by the gazetteer);
  ``street_inferred`` is ``True``. Outside every known street it stays missing.

Street names become the gazetteer's names where they match (the Ministry of Civil Affairs
list with 9-digit codes, ``data/guangzhou/streets.csv``), and carry its code.

Life circles are the residential planning standard's (GB 50180-2018): 5, 10 and 15
minutes' walk. Without a walking network, a life circle is measured as the straight-line
(crow-fly) distance a resident walks in its minutes at the chosen speed
(:func:`crow_equivalent_m`): an upper bound on who is inside, since real paths are longer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from gaps.demand import AGED_60_PLUS
from gaps.distances import nearest_geodesic
from gaps.grid import locate_points

# GB 50180-2018 life circles, in minutes' walk.
LIFE_CIRCLES_MIN: tuple[int, ...] = (5, 10, 15)
# Walking speeds, m/s: an adult's pace and an older resident's (GB 50180 plans by the
# adult's; older residents walk about two thirds as fast).
WALK_SPEEDS_M_S: dict[str, float] = {"adult": 1.2, "elderly": 0.8}


class WalkSpeed(StrEnum):
    """Whose pace a life circle is measured at (:data:`WALK_SPEEDS_M_S`)."""

    ADULT = "adult"
    ELDERLY = "elderly"


STREET_COLUMNS: tuple[str, ...] = ("street", "street_code", "street_inferred")

# Column names a streets layer may use, first match wins (OSM-derived, Chinese, GIS).
_NAME_COLUMNS = ("name", "street", "street_name", "街道", "名称", "NAME", "jdmc")
_CODE_COLUMNS = ("code", "street_code", "adcode", "代码", "xzqhdm", "CODE")
_DISTRICT_COLUMNS = ("district", "district_name", "区", "区县", "DISTRICT")


def crow_equivalent_m(minutes: float, speed_m_s: float) -> float:
    """The straight-line radius of a life circle: how far a resident walks in ``minutes``
    at ``speed_m_s``.

    Examples
    --------
    >>> crow_equivalent_m(10, WALK_SPEEDS_M_S["elderly"]), crow_equivalent_m(15, 1.2)
    (480.0, 1080.0)
    """
    if minutes <= 0 or speed_m_s <= 0:
        raise ValueError("minutes and speed must be positive")
    return float(minutes) * 60.0 * float(speed_m_s)


def read_streets_layer(path: Path | str, *, what: str = "streets layer") -> gpd.GeoDataFrame:
    """A street (or community) polygon layer as ``name``, ``code``, ``district`` and
    ``geometry`` in WGS-84, from any file GDAL reads (GeoJSON, GeoPackage, Shapefile).

    Raises
    ------
    ValueError
        The file has no name column, or no polygons.
    """
    layer = gpd.read_file(path)
    if layer.crs is None:
        raise ValueError(f"{what} {path}: no CRS; save it with one (EPSG:4326 for lon/lat)")
    name = _first(layer, _NAME_COLUMNS)
    if name is None:
        raise ValueError(
            f"{what} {path}: no name column (one of {', '.join(_NAME_COLUMNS)}); columns: "
            f"{', '.join(map(str, layer.columns))}"
        )
    polygons = layer.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if not polygons.any():
        raise ValueError(f"{what} {path}: no polygons")
    code = _first(layer, _CODE_COLUMNS)
    district = _first(layer, _DISTRICT_COLUMNS)
    kept = layer.loc[polygons]
    return gpd.GeoDataFrame(
        {
            "name": kept[name].astype(str).str.strip().to_numpy(dtype=object),
            "code": (
                kept[code].astype(str).to_numpy(dtype=object)
                if code
                else np.full(len(kept), None, object)
            ),
            "district": (
                kept[district].astype(str).to_numpy(dtype=object)
                if district
                else np.full(len(kept), None, object)
            ),
        },
        geometry=kept.geometry.to_numpy(),
        crs=layer.crs,
    ).to_crs("EPSG:4326")


def _first(layer: pd.DataFrame, names: Sequence[str]) -> str | None:
    return next((n for n in names if n in layer.columns), None)


def assign_streets(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    district: npt.ArrayLike | None = None,
    *,
    layer: gpd.GeoDataFrame | None = None,
    known: pd.DataFrame | None = None,
    gazetteer: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The street of each point, and whether it was inferred.

    Parameters
    ----------
    lon, lat
        WGS-84 points.
    district
        Each point's district (to keep an inferred street in the point's own district);
        ``None``: any.
    layer
        Street polygons, e.g. from :func:`read_streets_layer`.
    known
        Points whose street is known: ``lon``, ``lat``, ``street`` and optionally
        ``district`` (e.g. the providers' registry addresses); empty streets are skipped.
    gazetteer
        The official list: ``code``, ``name`` and ``district_name`` (e.g.
        :func:`geo.boundaries.load_streets`), to name and code the streets found.

    Returns
    -------
    pandas.DataFrame
        One row per point, in order: the columns of :data:`STREET_COLUMNS` (``street`` and
        ``street_code`` ``None`` when unknown; ``street_inferred`` ``False`` for those too).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> streets = gpd.GeoDataFrame({"name": ["赤岗街道"], "code": ["440105008"]},
    ...     geometry=[box(113.32, 23.09, 113.34, 23.11)], crs="EPSG:4326")
    >>> known = pd.DataFrame({"lon": [113.40], "lat": [23.12], "street": ["新港街道"]})
    >>> assign_streets([113.33, 113.39], [23.10, 23.12], layer=streets,
    ...                known=known).values.tolist()
    [['赤岗街道', '440105008', False], ['新港街道', None, True]]
    """
    x = np.atleast_1d(np.asarray(lon, np.float64))
    y = np.atleast_1d(np.asarray(lat, np.float64))
    n = x.size
    names = np.full(n, None, dtype=object)
    codes = np.full(n, None, dtype=object)
    inferred = np.zeros(n, dtype=bool)
    if layer is not None and len(layer):
        rows = locate_points(layer, x, y)
        inside = rows >= 0
        names[inside] = layer["name"].to_numpy(dtype=object)[rows[inside]]
        if "code" in layer.columns:
            codes[inside] = layer["code"].to_numpy(dtype=object)[rows[inside]]
    if known is not None and len(known):
        sources = known.loc[known["street"].fillna("").astype(str).str.len() > 0]
        missing = np.flatnonzero(pd.isna(names))
        area = (
            np.full(n, None, object)
            if district is None
            else np.atleast_1d(np.asarray(district, dtype=object))
        )
        source_area = (
            sources["district"].astype(object).to_numpy()
            if district is not None and "district" in sources.columns
            else np.full(len(sources), None, object)
        )
        # One nearest-neighbour search per district: an inferred street never crosses into
        # another district's.
        for key in pd.unique(area[missing]):
            here = missing[area[missing] == key] if key is not None else missing
            pool = (
                np.flatnonzero(source_area == key) if key is not None else np.arange(len(sources))
            )
            if pool.size == 0 or here.size == 0:
                continue
            pos, _ = nearest_geodesic(
                x[here],
                y[here],
                sources["lon"].to_numpy(np.float64)[pool],
                sources["lat"].to_numpy(np.float64)[pool],
            )
            found = pos >= 0
            names[here[found]] = sources["street"].astype(object).to_numpy()[pool[pos[found]]]
            inferred[here[found]] = True
    if gazetteer is not None and len(gazetteer):
        official = _official_codes(gazetteer)
        for i in np.flatnonzero(pd.notna(names) & pd.isna(codes)):
            codes[i] = official.get(str(names[i]))
    # Object columns keep None for "unknown" (pandas would infer a string dtype with NaN).
    return pd.DataFrame(
        {
            "street": pd.Series(names, dtype=object),
            "street_code": pd.Series(codes, dtype=object),
            "street_inferred": inferred,
        }
    )


def _official_codes(gazetteer: pd.DataFrame) -> Mapping[str, str]:
    """Street name to its 9-digit code; names shared by two districts are left out (the
    name alone cannot say which)."""
    counts = gazetteer["name"].value_counts()
    unique = gazetteer.loc[gazetteer["name"].map(counts) == 1]
    return dict(zip(unique["name"].astype(str), unique["code"].astype(str), strict=True))


def street_points(layer: gpd.GeoDataFrame | None, known: pd.DataFrame | None) -> pd.DataFrame:
    """One label point per street: a point inside its polygon when the layer is given,
    else the mean position of the known points of that street (providers).

    Returns
    -------
    pandas.DataFrame
        ``street``, ``district``, ``lon``, ``lat``, sorted by district then street.

    Examples
    --------
    >>> known = pd.DataFrame({"street": ["甲街道", "甲街道", ""], "district": ["区"] * 3,
    ...                       "lon": [113.0, 113.2, 114.0], "lat": [23.0, 23.2, 24.0]})
    >>> street_points(None, known).round(3).values.tolist()
    [['甲街道', '区', 113.1, 23.1]]
    """
    if layer is not None and len(layer):
        points = layer.geometry.representative_point()
        table = pd.DataFrame(
            {
                "street": layer["name"].to_numpy(dtype=object),
                "district": layer["district"].to_numpy(dtype=object)
                if "district" in layer.columns
                else None,
                "lon": points.x.to_numpy(),
                "lat": points.y.to_numpy(),
            }
        ).drop_duplicates("street")
    elif known is not None and len(known):
        named = known.loc[known["street"].fillna("").astype(str).str.len() > 0]
        table = (
            named.groupby(["district", "street"], sort=False, dropna=False)[["lon", "lat"]]
            .mean()
            .reset_index()[["street", "district", "lon", "lat"]]
        )
    else:
        table = pd.DataFrame(columns=["street", "district", "lon", "lat"])
    return table.sort_values(["district", "street"], kind="stable").reset_index(drop=True)


# The per-street table's columns, in order; one ``residents_within_<m>m`` per life circle
# follows ``residents_60plus``.
STREET_TABLE_COLUMNS: tuple[str, ...] = (
    "category",
    "district",
    "street",
    "street_code",
    "street_inferred",
    "cells",
    "residents",
    "demand",
    "residents_60plus",
    "residents_covered",
    "share_covered",
    "residents_in_gaps",
    "gap_cells",
    "providers",
    "practitioners",
    "lon",
    "lat",
)


def street_table(
    measures: pd.DataFrame,
    supply: pd.DataFrame,
    *,
    circles_m: Mapping[str, float] | None = None,
    reach_column: str = "nearest_m",
) -> pd.DataFrame:
    """Per (category, district, street): residents, residents aged 60+, the category's
    demand within each life circle and in the gaps, supply.

    Parameters
    ----------
    measures
        Per-cell measures (:func:`gaps.measures.coverage_measures`) with ``district``,
        ``street``, ``residents`` (the category's demand), ``covered``, ``gap`` and
        ``reach_column``; optionally ``all_residents``, ``aged_60_plus``,
        ``street_code``, ``street_inferred``.
    supply
        Suitable supply (``category``, ``district``, ``street``, ``practitioners``).
    circles_m
        Life circles: a column suffix to a reach, e.g. ``{"5min": 360.0, "10min": 720.0}``
        gives ``within_5min`` and ``within_10min`` (demand with the nearest provider
        within that reach).
    reach_column
        The per-cell distance (or time) compared with ``circles_m``.

    Returns
    -------
    pandas.DataFrame
        :data:`STREET_TABLE_COLUMNS` then ``within_<circle>`` columns, sorted by category,
        district, street (unknown streets last in their district); ``residents_60plus`` NaN
        where the source has no ages; ``street_inferred`` is true when any of the street's
        cells got its street by inference; ``lon``/``lat`` the mean of its cell centres.

    Examples
    --------
    >>> m = pd.DataFrame({"category": ["nursing"] * 3, "district": ["甲区"] * 3,
    ...     "street": ["东街道", "东街道", "西街道"], "residents": [100.0, 50.0, 80.0],
    ...     "covered": [True, False, False], "gap": [False, True, True],
    ...     "nearest_m": [300.0, 900.0, 2000.0]})
    >>> s = pd.DataFrame({"category": ["nursing"], "district": ["甲区"], "street": ["东街道"],
    ...     "practitioners": [5]})
    >>> t = street_table(m, s, circles_m={"5min": 400.0})
    >>> t[["street", "residents_covered", "residents_in_gaps", "within_5min", "providers"]
    ...   ].values.tolist()
    [['东街道', 100.0, 50.0, 100.0, 1], ['西街道', 0.0, 80.0, 0.0, 0]]
    """
    circles = dict(circles_m or {})
    reach = measures[reach_column].to_numpy(np.float64)
    demand = measures["residents"].to_numpy(np.float64)
    cells = pd.DataFrame(
        {
            "category": measures["category"].astype(object).to_numpy(),
            "district": measures["district"].astype(object).to_numpy(),
            "street": measures["street"].astype(object).to_numpy(),
            "street_code": _column(measures, "street_code", None),
            "street_inferred": _column(measures, "street_inferred", False).astype(bool),
            "residents": _column(measures, "all_residents", np.nan).astype(np.float64),
            "demand": demand,
            "residents_60plus": _column(measures, AGED_60_PLUS, np.nan).astype(np.float64),
            "residents_covered": demand * measures["covered"].to_numpy(bool),
            "residents_in_gaps": demand * measures["gap"].to_numpy(bool),
            "gap_cells": measures["gap"].to_numpy(bool).astype(np.int64),
            **{f"within_{name}": demand * (reach <= limit) for name, limit in circles.items()},
        }
    )
    if cells["residents"].isna().all():
        cells["residents"] = demand
    keys = ["category", "district", "street"]
    grouped = cells.groupby(keys, sort=False, dropna=False)
    sums = [c for c in cells.columns if c not in (*keys, "street_code", "street_inferred")]
    table = grouped[sums].sum(min_count=1)
    # A label point: the mean of the street's cell centres (inside or near the street).
    centres = pd.DataFrame(
        {
            **{k: cells[k] for k in keys},
            "lon": _column(measures, "lon", np.nan).astype(np.float64),
            "lat": _column(measures, "lat", np.nan).astype(np.float64),
        }
    ).groupby(keys, sort=False, dropna=False)[["lon", "lat"]]
    table[["lon", "lat"]] = centres.mean()
    table["cells"] = grouped.size()
    table["street_code"] = grouped["street_code"].first()
    table["street_inferred"] = grouped["street_inferred"].any()
    table[["residents_covered", "residents_in_gaps", "demand"]] = table[
        ["residents_covered", "residents_in_gaps", "demand"]
    ].fillna(0.0)
    table["share_covered"] = (
        table["residents_covered"] / table["demand"].where(table["demand"] > 0)
    ).astype(np.float64)
    table["gap_cells"] = table["gap_cells"].fillna(0).astype(np.int64)
    counts = supply.groupby(keys, sort=False, dropna=False).agg(
        providers=("category", "size"), practitioners=("practitioners", "sum")
    )
    table = table.join(counts, how="left")
    table[["providers", "practitioners"]] = (
        table[["providers", "practitioners"]].fillna(0).astype(np.int64)
    )
    table = table.reset_index()
    for column in ("district", "street", "street_code"):
        # Missing as None (JSON null), not the NaN groupby leaves in an object column.
        values = table[column].astype(object)
        table[column] = values.where(values.notna(), None)
    table["_unknown"] = table["street"].isna()
    table = table.sort_values(
        ["category", "district", "_unknown", "street"], kind="stable", na_position="last"
    ).drop(columns="_unknown")
    within = [f"within_{name}" for name in circles]
    return table[[*STREET_TABLE_COLUMNS, *within]].reset_index(drop=True)


def _column(table: pd.DataFrame, name: str, default: object) -> npt.NDArray[np.generic]:
    if name in table.columns:
        return np.asarray(table[name].to_numpy())
    return np.full(len(table), default, dtype=object if default is None else None)

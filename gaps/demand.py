"""Demand: how many residents of each cell may need each service category.

Three sources, each returning the same table (one row per grid cell):

* :func:`demand_from_polygons` — a polygon layer with counts (census tracts, communities),
  shared out by **areal weighting**: a polygon's count goes to the cells in proportion to
  the area of the polygon each covers, measured in an equal-area projection;
* :func:`demand_from_raster` — a GeoTIFF population grid (e.g. WorldPop), read with
  rasterio: each pixel's count goes to the cell containing the pixel's centre;
* :func:`demand_from_census` — **the default when the operator has no population layer**:
  each district's census population spread over the district's cells, evenly ("均匀分配 /
  uniform": it then knows nothing about where people live inside a district, and says so
  in ``demand_source``) or in proportion to a weight per cell from the operator's weight
  layer (``JZMAP_POPULATION_WEIGHTS``): building footprints (:func:`footprint_weights`,
  floor area on the ground) or a population raster (:func:`raster_weights`).

Demand is category-specific when the source has a column (or band) for it: residents
aged 60+ for ``elderly_care`` (census column ``aged_60_plus``), women aged 15–49 or births
for ``maternal_infant`` (``women_15_49``, else ``births``); categories without one use all
residents (:data:`AGE_COLUMNS`, :func:`demand_basis`). ``aged_60_plus`` is kept as its own
column (NaN where the source has no ages) for the per-street tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import rasterio
import rasterio.features
import rasterio.windows
import shapely

from providers.model import Category

RESIDENTS = "residents"
AGED_60_PLUS = "aged_60_plus"
DEMAND_COLUMNS: tuple[str, ...] = (
    "cell",
    RESIDENTS,
    *(c.value for c in Category),
    AGED_60_PLUS,
    "demand_source",
)

# Which census columns (of the districts table) count a category's residents, first found
# wins; a category without one counts all residents. Elderly care serves the 60+ (China's
# statistical "older people"), maternal care the women of child-bearing age (15–49, the
# census's own band), or the births where only those are published.
AGE_COLUMNS: dict[Category, tuple[str, ...]] = {
    Category.ELDERLY_CARE: (AGED_60_PLUS,),
    Category.MATERNAL_INFANT: ("women_15_49", "births"),
}

UNIFORM = "均匀分配 / uniform"
CENSUS_EVEN_SOURCE = (
    f"default: 2020 census population of each district spread evenly over its cells "
    f"({UNIFORM}: no population layer loaded; says nothing about where people live within "
    "a district)"
)


def demand_from_census(
    grid: pd.DataFrame,
    districts: pd.DataFrame,
    *,
    population_column: str = "population",
    weights: npt.ArrayLike | None = None,
    weights_source: str | None = None,
) -> pd.DataFrame:
    """Each district's population spread over its cells: evenly (the labelled default) or
    in proportion to ``weights``.

    Parameters
    ----------
    grid
        Cells with ``cell`` and ``district``, e.g. from :func:`gaps.grid.city_grid`.
    districts
        ``name`` and a population column, e.g. :func:`geo.boundaries.load_districts` (whose
        ``population`` is the 7th census, 2020; see ``data/guangzhou/SOURCES.md`` for which
        figures are checked against the bulletin), and optionally the age columns of
        :data:`AGE_COLUMNS` (``aged_60_plus``, ``women_15_49``, ``births``).
    population_column
        The column holding each district's residents.
    weights
        One non-negative weight per grid cell (building floor area, a raster's count):
        a district's figures go to its cells in proportion. A district whose cells weigh
        nothing falls back to the even spread. ``None``: every cell alike.
    weights_source
        What the weights are, for ``demand_source``.

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`DEMAND_COLUMNS`, one row per grid cell in the grid's order;
        each category gets its age column's figures where the districts have one, else all
        residents; ``demand_source`` is :data:`CENSUS_EVEN_SOURCE` without weights, followed
        by what the age figures are where the districts say (``<column>_source``).
        A district with no cells (smaller than one cell's centre spacing) contributes
        nothing.

    Examples
    --------
    >>> grid = pd.DataFrame({"cell": [1, 2, 3], "district": ["甲区", "甲区", "乙区"]})
    >>> counts = pd.DataFrame({"name": ["甲区", "乙区"], "population": [1000, 600]})
    >>> demand_from_census(grid, counts)["residents"].tolist()
    [500.0, 500.0, 600.0]
    >>> demand_from_census(grid, counts, weights=[3.0, 1.0, 0.0])["residents"].tolist()
    [750.0, 250.0, 600.0]
    """
    district = grid["district"].astype(object).to_numpy()
    n = len(grid)
    weight = (
        np.ones(n, dtype=np.float64)
        if weights is None
        else np.asarray(weights, dtype=np.float64).ravel()
    )
    if weight.size != n:
        raise ValueError(f"weights: {weight.size} values for {n} cells")
    weight = np.where(np.isfinite(weight) & (weight > 0), weight, 0.0)
    frame = pd.DataFrame({"district": district, "w": weight, "one": 1.0})
    totals = frame.groupby("district", sort=False)[["w", "one"]].transform("sum")
    # A district whose cells weigh nothing (no buildings mapped) keeps the even spread.
    weighted = totals["w"].to_numpy() > 0
    share = np.where(
        weighted,
        weight / np.where(weighted, totals["w"].to_numpy(), 1.0),
        1.0 / totals["one"].to_numpy(),
    )

    def spread(column: str) -> npt.NDArray[np.float64]:
        figures = pd.Series(
            districts[column].to_numpy(np.float64),
            index=districts["name"].astype(object).to_numpy(),
        )
        per_district = pd.Series(district).map(figures).to_numpy(np.float64)
        return np.asarray(np.nan_to_num(per_district, nan=0.0) * share, dtype=np.float64)

    values = {RESIDENTS: spread(population_column)}
    for category, column in demand_basis(districts).items():
        if column != RESIDENTS:
            values[category.value] = spread(column)
    if AGED_60_PLUS in districts.columns:
        values[AGED_60_PLUS] = spread(AGED_60_PLUS)
    if weights is None:
        source = CENSUS_EVEN_SOURCE
    else:
        uniform = sorted({str(d) for d in district[~weighted]})
        source = (
            f"2020 census population of each district spread over its cells by "
            f"{weights_source or 'a weight layer'}"
            + (f" ({UNIFORM} in {', '.join(uniform)}: no weight there)" if uniform else "")
        )
    return _demand_table(grid, values, source + _age_sources(districts))


def _age_sources(districts: pd.DataFrame) -> str:
    """What the districts' age figures are, from their ``<column>_source`` columns: a
    planner reading "60+" must see at once when it is a city-wide share, not a count.

    >>> _age_sources(pd.DataFrame({"aged_60_plus": [1], "aged_60_plus_source": ["share"]}))
    '; aged_60_plus: share'
    >>> _age_sources(pd.DataFrame({"aged_60_plus": [1]}))
    ''
    """
    notes = []
    for column in sorted({c for columns in AGE_COLUMNS.values() for c in columns} | {AGED_60_PLUS}):
        label = f"{column}_source"
        if column in districts.columns and label in districts.columns:
            seen = sorted({str(v) for v in districts[label].dropna()})
            if seen:
                notes.append(f"{column}: {' / '.join(seen)}")
    return "".join(f"; {note}" for note in notes)


def demand_basis(table: pd.DataFrame | None) -> dict[Category, str]:
    """Which column of a districts (or population) table counts each category's residents.

    Examples
    --------
    >>> basis = demand_basis(pd.DataFrame(columns=["name", "population", "aged_60_plus"]))
    >>> basis[Category.ELDERLY_CARE], basis[Category.NURSING]
    ('aged_60_plus', 'residents')
    """
    columns = set() if table is None else set(map(str, table.columns))
    basis: dict[Category, str] = {}
    for category in Category:
        found = [c for c in AGE_COLUMNS.get(category, ()) if c in columns]
        basis[category] = found[0] if found else RESIDENTS
    return basis


def demand_column(table: pd.DataFrame, category: Category) -> str:
    """Which population column a demand table's (:data:`DEMAND_COLUMNS`) ``category``
    counts: the age column it was spread from when it has one of its own (``aged_60_plus``
    for elderly care; :data:`AGE_COLUMNS`), ``residents`` when it is all residents (the
    category's column then holds a copy of them), else the category's own column (an
    operator's layer mapped it, or an age band the table keeps no copy of).

    The planner reads it as "newly covered residents aged 60+" against "newly covered
    residents": the same figure, two meanings.

    Examples
    --------
    >>> table = pd.DataFrame({"cell": [1, 2], "residents": [100.0, 50.0],
    ...     "elderly_care": [12.0, 6.0], "nursing": [100.0, 50.0],
    ...     "maternal_infant": [30.0, 9.0], "aged_60_plus": [12.0, 6.0]})
    >>> [demand_column(table, c) for c in
    ...     (Category.ELDERLY_CARE, Category.NURSING, Category.MATERNAL_INFANT)]
    ['aged_60_plus', 'residents', 'maternal_infant']
    >>> demand_column(table.drop(columns=["elderly_care"]), Category.ELDERLY_CARE)
    'residents'
    """
    if category.value not in table.columns:
        return RESIDENTS
    own = table[category.value].to_numpy(np.float64)
    if np.array_equal(own, table[RESIDENTS].to_numpy(np.float64), equal_nan=True):
        return RESIDENTS
    for column in AGE_COLUMNS.get(category, ()):
        if column in table.columns and np.array_equal(
            own, table[column].to_numpy(np.float64), equal_nan=True
        ):
            return column
    return category.value


def footprint_weights(
    grid: gpd.GeoDataFrame, footprints: gpd.GeoDataFrame
) -> npt.NDArray[np.float64]:
    """Building footprint area (m², equal-area projection) inside each cell: where people
    live, when no population grid is at hand.

    A footprint across a cell edge counts in each cell by the part inside it. A
    ``floors`` (or ``levels``) column, when present, multiplies each building's area.

    Examples
    --------
    >>> from gaps.grid import city_grid
    >>> from shapely.geometry import box
    >>> area = gpd.GeoDataFrame({"name": ["示例区"]}, crs="EPSG:4326",
    ...                         geometry=[box(113.30, 23.10, 113.32, 23.12)])
    >>> grid = city_grid(area, resolution=8)
    >>> one = gpd.GeoDataFrame(geometry=[grid.geometry.iloc[0].centroid.buffer(0.0005)],
    ...                        crs="EPSG:4326")
    >>> w = footprint_weights(grid, one)
    >>> bool(w[0] > 0), float(w[1:].sum())
    (True, 0.0)
    """
    shares = demand_from_polygons(
        grid,
        _with_floor_area(grid, footprints),
        {RESIDENTS: "_floor_area"},
        source="footprints",
    )
    return np.asarray(shares[RESIDENTS].to_numpy(np.float64), dtype=np.float64)


def _with_floor_area(grid: gpd.GeoDataFrame, footprints: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    centre = shapely.centroid(shapely.union_all(grid.geometry.to_numpy()).envelope)
    equal_area = f"+proj=laea +lat_0={centre.y} +lon_0={centre.x} +datum=WGS84 +units=m"
    layer = footprints.to_crs(equal_area).reset_index(drop=True)
    floors = next((c for c in ("floors", "levels") if c in layer.columns), None)
    count = (
        pd.to_numeric(layer[floors], errors="coerce").fillna(1.0).clip(lower=1.0).to_numpy()
        if floors
        else 1.0
    )
    return layer.assign(_floor_area=shapely.area(layer.geometry.to_numpy()) * count)


def raster_weights(grid: gpd.GeoDataFrame, path: Path | str) -> npt.NDArray[np.float64]:
    """A population raster's count (band 1) per cell, as weights (see
    :func:`demand_from_raster` for the pixel-centre rule)."""
    counts = demand_from_raster(grid, path, {RESIDENTS: 1})
    return np.asarray(counts[RESIDENTS].to_numpy(np.float64), dtype=np.float64)


def demand_from_polygons(
    grid: gpd.GeoDataFrame,
    layer: gpd.GeoDataFrame,
    columns: Mapping[str, str],
    *,
    source: str = "polygon layer, areal weighting",
) -> pd.DataFrame:
    """Counts of a polygon layer shared out over the cells by area (areal weighting).

    A polygon's count goes to the cells in proportion to how much of the polygon's area
    each covers, so a count is conserved when the polygon lies inside the grid; the share
    of a polygon outside every cell (beyond the city) is dropped. Areas are measured in a
    Lambert azimuthal equal-area projection centred on the grid.

    Parameters
    ----------
    grid
        Cells with ``cell`` and hexagon geometries, e.g. from :func:`gaps.grid.city_grid`.
    layer
        Polygons (any CRS) with count columns.
    columns
        Which layer column holds each demand: ``"residents"`` (required) and optionally a
        category value, e.g. ``{"residents": "pop", "elderly_care": "pop_60plus"}``.
    source
        What ``demand_source`` says.

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`DEMAND_COLUMNS`, one row per grid cell in the grid's order.

    Examples
    --------
    >>> from gaps.grid import city_grid
    >>> from shapely.geometry import box
    >>> area = gpd.GeoDataFrame({"name": ["示例区"]}, crs="EPSG:4326",
    ...                         geometry=[box(113.30, 23.10, 113.32, 23.12)])
    >>> grid = city_grid(area, resolution=8)
    >>> one_cell = gpd.GeoDataFrame({"pop": [700]}, geometry=[grid.geometry.iloc[0]],
    ...                             crs="EPSG:4326")
    >>> shared = demand_from_polygons(grid, one_cell, {"residents": "pop"})
    >>> shared["residents"].round(6).tolist()[:2]
    [700.0, 0.0]
    """
    if RESIDENTS not in columns:
        raise ValueError("columns must say which layer column holds 'residents'")
    centre = shapely.centroid(shapely.union_all(grid.geometry.to_numpy()).envelope)
    equal_area = f"+proj=laea +lat_0={centre.y} +lon_0={centre.x} +datum=WGS84 +units=m"
    cells = grid.to_crs(equal_area).geometry.to_numpy()
    polygons = layer.to_crs(equal_area).reset_index(drop=True)
    shapes = polygons.geometry.to_numpy()
    poly_area = shapely.area(shapes)
    cell_idx, poly_idx = _cell_polygon_pairs(cells, shapes)
    overlap = shapely.area(shapely.intersection(shapes[poly_idx], cells[cell_idx]))
    share = np.divide(
        overlap, poly_area[poly_idx], out=np.zeros_like(overlap), where=poly_area[poly_idx] > 0
    )
    values = {
        name: np.bincount(
            cell_idx,
            weights=share * polygons[column].to_numpy(np.float64)[poly_idx],
            minlength=len(cells),
        ).astype(np.float64)
        for name, column in columns.items()
    }
    return _demand_table(grid, values, source)


def demand_from_raster(
    grid: gpd.GeoDataFrame,
    path: Path | str,
    bands: Mapping[str, int] | None = None,
    *,
    source: str | None = None,
) -> pd.DataFrame:
    """Residents per cell from a population GeoTIFF: each pixel goes to the cell holding
    its centre.

    The cells are burned into the raster's own grid (GDAL's rasterizer, pixel-centre rule),
    then the pixel counts are summed per cell in one pass; only the window covering the
    grid is read. Use pixels finer than the cells (100 m pixels for resolution 9 cells):
    with coarser pixels whole pixels land in single cells. Missing values (the band's
    nodata, NaN, negative counts) count as nobody.

    Parameters
    ----------
    grid
        Cells with ``cell`` and hexagon geometries, e.g. from :func:`gaps.grid.city_grid`.
    path
        A GeoTIFF (any CRS) of counts per pixel.
    bands
        Which band (1-based) holds each demand: ``"residents"`` and optionally category
        values; default ``{"residents": 1}``.
    source
        What ``demand_source`` says (default: the file name).

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`DEMAND_COLUMNS`, one row per grid cell in the grid's order.
    """
    bands = dict(bands or {RESIDENTS: 1})
    if RESIDENTS not in bands:
        raise ValueError("bands must say which band holds 'residents'")
    n = len(grid)
    with rasterio.open(path) as raster:
        cells = grid.to_crs(raster.crs)
        left, bottom, right, top = cells.total_bounds
        window = (
            rasterio.windows.from_bounds(left, bottom, right, top, transform=raster.transform)
            .round_offsets(op="floor")
            .round_lengths(op="ceil")
            .intersection(rasterio.windows.Window(0, 0, raster.width, raster.height))
        )
        transform = raster.window_transform(window)
        shape = (int(window.height), int(window.width))
        # Label 0 is "no cell"; cell i is burned as i + 1.
        labels = rasterio.features.rasterize(
            zip(cells.geometry.to_numpy(), range(1, n + 1), strict=True),
            out_shape=shape,
            transform=transform,
            fill=0,
            all_touched=False,
            dtype="int32",
        ).ravel()
        values: dict[str, npt.NDArray[np.float64]] = {}
        for name, band in bands.items():
            counts = raster.read(band, window=window, masked=True).astype(np.float64)
            flat = np.ma.filled(counts, 0.0).ravel()
            flat = np.where(np.isfinite(flat) & (flat > 0), flat, 0.0)
            values[name] = np.bincount(labels, weights=flat, minlength=n + 1)[1:].astype(np.float64)
    return _demand_table(grid, values, source or f"population grid {Path(path).name}")


def _cell_polygon_pairs(
    cells: npt.NDArray[np.object_], shapes: npt.NDArray[np.object_]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    tree = shapely.STRtree(cells)
    poly_idx, cell_idx = tree.query(shapes, predicate="intersects")
    return np.asarray(cell_idx, dtype=np.int64), np.asarray(poly_idx, dtype=np.int64)


def _demand_table(
    grid: pd.DataFrame, values: Mapping[str, npt.NDArray[np.float64]], source: str
) -> pd.DataFrame:
    unknown = set(values) - {RESIDENTS, AGED_60_PLUS, *(c.value for c in Category)}
    if unknown:
        raise ValueError(
            f"unknown demand columns {sorted(unknown)}: use 'residents', {AGED_60_PLUS!r} or a "
            f"category ({', '.join(c.value for c in Category)})"
        )
    residents = np.asarray(values[RESIDENTS], dtype=np.float64)
    table = pd.DataFrame({"cell": grid["cell"].to_numpy(np.int64), RESIDENTS: residents})
    for category in Category:
        table[category.value] = np.asarray(values.get(category.value, residents), np.float64)
    # Residents aged 60+ where the source counts them: its own figure, else elderly care's
    # own column; unknown (NaN) when the source has no ages at all.
    older = values.get(AGED_60_PLUS, values.get(Category.ELDERLY_CARE.value))
    table[AGED_60_PLUS] = (
        np.full(len(table), np.nan) if older is None else np.asarray(older, np.float64)
    )
    table["demand_source"] = pd.Series([source] * len(table), dtype="category")
    return table

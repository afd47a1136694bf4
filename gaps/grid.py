"""The analysis grid: H3 cells covering the city, each assigned to its district and street.

A cell belongs to the city, and to a district, when its **centre** lies in the district's
polygon (H3's own polygon fill rule). That makes the cells a partition: every cell has one
district, the cells of a district tile it up to half a cell along its edge, and residents
spread over a district's cells are neither lost nor counted twice. Streets (街道/镇) are
assigned the same way when the operator loads street polygons; the shipped reference data
has none, and then ``street`` is missing (``None``).

Cell ids are signed 64-bit integers, as in :mod:`geo.h3cells` and the PostGIS columns.
"""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from h3.api import numpy_int as h3_numpy

DEFAULT_RESOLUTION = 8
RESOLUTIONS: tuple[int, ...] = (8, 9)

GRID_COLUMNS: tuple[str, ...] = ("cell", "lon", "lat", "district", "street", "area_km2")


def city_grid(
    districts: gpd.GeoDataFrame,
    resolution: int = DEFAULT_RESOLUTION,
    streets: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """H3 cells whose centres lie in the districts, with district, street and area.

    Parameters
    ----------
    districts
        District polygons (any CRS) with a ``name`` column, e.g. from
        :func:`geo.boundaries.load_districts`. Where two polygons share an edge, a cell
        whose centre is on it goes to the first.
    resolution
        H3 resolution: 8 (~0.74 km² cells, the default) or 9 (~0.11 km²).
    streets
        Optional street/town polygons with a ``name`` column; a cell gets the street its
        centre lies in (``None`` outside every street, and when no layer is given).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cell, sorted by cell id, in EPSG:4326: ``cell`` (int64 H3 index),
        ``lon``/``lat`` (the cell centre), ``district``, ``street``, ``area_km2`` and the
        hexagon as ``geometry``.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> square = gpd.GeoDataFrame({"name": ["示例区"]}, crs="EPSG:4326",
    ...                           geometry=[box(113.30, 23.10, 113.32, 23.12)])
    >>> grid = city_grid(square, resolution=8)
    >>> len(grid), grid["district"].unique().tolist(), grid["street"].isna().all()
    (7, ['示例区'], np.True_)
    >>> first = grid.iloc[0]
    >>> bool(first.geometry.contains(shapely.Point(first["lon"], first["lat"])))
    True
    """
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution}")
    polygons = districts.to_crs("EPSG:4326").reset_index(drop=True)
    # One polygon-to-cells call per district (a C fill over the whole polygon), not one
    # point-to-cell call per candidate point.
    per_district = [
        h3_numpy.geo_to_cells(geometry, resolution).view(np.int64) for geometry in polygons.geometry
    ]
    cells = np.concatenate([np.empty(0, np.int64), *per_district])
    owner = np.repeat(np.arange(len(polygons)), [part.size for part in per_district])
    # A centre exactly on a shared edge can be filled by both: the first district keeps it.
    cells, first = np.unique(cells, return_index=True)
    owner = owner[first]

    lat, lon = _centres(cells)
    names = polygons["name"].astype(object).to_numpy()
    return gpd.GeoDataFrame(
        {
            "cell": cells,
            "lon": lon,
            "lat": lat,
            "district": pd.Series(names[owner], dtype=object),
            "street": pd.Series(_street_names(streets, lon, lat), dtype=object),
            "area_km2": _areas_km2(cells),
        },
        geometry=cell_polygons(cells),
        crs="EPSG:4326",
    )


def cell_polygons(cells: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """The hexagon (or pentagon) of each H3 cell as shapely polygons, lon/lat.

    Examples
    --------
    >>> polygon = cell_polygons([h3.str_to_int("88411d4d25fffff")])[0]
    >>> len(polygon.exterior.coords)  # six corners and the closing point
    7
    """
    ids = np.asarray(cells, dtype=np.int64).ravel().tolist()
    to_boundary = h3.api.basic_int.cell_to_boundary
    # h3-py has no vectorised boundary call; each is C and ~3 µs. Corners come (lat, lon).
    rings = [to_boundary(c) for c in ids]
    counts = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    if not rings:
        return np.empty(0, dtype=object)
    coords = np.array([corner for ring in rings for corner in ring], dtype=np.float64)
    ring_index = np.repeat(np.arange(len(rings)), counts)
    linear = shapely.linearrings(coords[:, ::-1], indices=ring_index)
    return np.asarray(shapely.polygons(linear), dtype=object)


def _centres(cells: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.float64], ...]:
    to_latlng = h3.api.basic_int.cell_to_latlng
    # Per-cell C calls (~1 µs): h3-py v4 offers no array version.
    flat = np.fromiter(
        (v for c in cells.tolist() for v in to_latlng(c)), dtype=np.float64, count=2 * cells.size
    )
    return flat[0::2], flat[1::2]


def _areas_km2(cells: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    area = h3.api.basic_int.cell_area
    return np.fromiter((area(c, "km^2") for c in cells.tolist()), np.float64, count=cells.size)


def _street_names(
    streets: gpd.GeoDataFrame | None,
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
) -> npt.NDArray[np.object_]:
    if streets is None:
        return np.full(lon.size, None, dtype=object)
    layer = streets.to_crs("EPSG:4326").reset_index(drop=True)
    rows = locate_points(layer, lon, lat)
    # A trailing None, so that row -1 (outside every street) reads as None.
    names = np.concatenate([layer["name"].to_numpy(dtype=object), np.array([None], object)])
    return np.asarray(names[rows], dtype=object)


def locate_points(
    polygons: gpd.GeoDataFrame, lon: npt.ArrayLike, lat: npt.ArrayLike
) -> npt.NDArray[np.int64]:
    """The row of the first polygon (lowest row) covering each point, or -1 for none.

    The same tie rule as the grid's district fill, so that a provider on a shared edge is
    counted in the district whose cells its side of the edge would join. (The spatial
    index returns candidates in tree order, not row order, hence the explicit minimum.)

    Examples
    --------
    >>> from shapely.geometry import box
    >>> two = gpd.GeoDataFrame({"name": ["东区", "西区"]}, crs="EPSG:4326",
    ...     geometry=[box(113.30, 23.10, 113.34, 23.14), box(113.26, 23.10, 113.30, 23.14)])
    >>> locate_points(two, [113.30, 113.28, 113.5], [23.12, 23.12, 23.12]).tolist()
    [0, 1, -1]
    """
    layer = polygons.to_crs("EPSG:4326") if polygons.crs is not None else polygons
    x = np.atleast_1d(np.asarray(lon, np.float64))
    points = np.asarray(shapely.points(x, np.atleast_1d(np.asarray(lat, np.float64))), object)
    point_idx, polygon_idx = layer.sindex.query(points, predicate="covered_by")
    result = np.full(points.size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(result, point_idx, polygon_idx.astype(np.int64))
    result[result == np.iinfo(np.int64).max] = -1
    return result

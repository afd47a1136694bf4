"""Administrative boundaries: loading polygon layers and locating points in them."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd


def load_districts(reference_dir: Path) -> gpd.GeoDataFrame:
    """The district polygons (WGS-84) with ``adcode``, ``name`` and ``population``.

    Parameters
    ----------
    reference_dir
        A directory with ``districts.geojson`` (polygons, properties ``adcode``, ``name``)
        and ``districts.csv`` (``adcode``, ``population``), e.g. ``data/guangzhou``.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per district, in EPSG:4326, sorted by adcode.
    """
    polygons = gpd.read_file(reference_dir / "districts.geojson").to_crs("EPSG:4326")
    table = pd.read_csv(reference_dir / "districts.csv", dtype={"adcode": str})
    merged = polygons.merge(table[["adcode", "population"]], on="adcode", how="left")
    return merged.sort_values("adcode").reset_index(drop=True)


def load_streets(reference_dir: Path) -> pd.DataFrame:
    """The street/town names (``code``, ``name``, ``district_code``, ``district_name``)."""
    return pd.read_csv(reference_dir / "streets.csv", dtype=str)


def locate(
    polygons: gpd.GeoDataFrame, lon: npt.ArrayLike, lat: npt.ArrayLike
) -> npt.NDArray[np.int64]:
    """The row position in ``polygons`` containing each point, or -1 for none.

    Vectorised through the layer's spatial index; a point on a shared edge goes to the
    first polygon that covers it.

    Examples
    --------
    >>> from jzmap.settings import REFERENCE_DIR
    >>> districts = load_districts(REFERENCE_DIR)
    >>> rows = locate(districts, [113.3245, 0.0], [23.1064, 0.0])  # Canton Tower, off Africa
    >>> [districts["name"].iloc[rows[0]], int(rows[1])]
    ['海珠区', -1]
    """
    points = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    point_idx, polygon_idx = polygons.sindex.query(points, predicate="covered_by")
    result = np.full(len(points), -1, dtype=np.int64)
    # Reverse so the first polygon wins where a point lies on a shared edge.
    result[point_idx[::-1]] = polygon_idx[::-1]
    return result

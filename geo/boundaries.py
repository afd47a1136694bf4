"""Administrative boundaries: loading polygon layers and locating points in them."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely


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


class CityBoundary:
    """A city's outline and districts, for checking where points fall.

    Parameters
    ----------
    districts
        Polygons (any CRS) with a ``name`` column, e.g. from :func:`load_districts`.

    Examples
    --------
    >>> from jzmap.settings import REFERENCE_DIR
    >>> city = CityBoundary(load_districts(REFERENCE_DIR))
    >>> city.contains([113.3245, 113.1], [23.1064, 24.5]).tolist()
    [True, False]
    >>> city.district_names([113.3245], [23.1064])
    ['海珠区']
    """

    def __init__(self, districts: gpd.GeoDataFrame) -> None:
        self.districts = districts.to_crs("EPSG:4326").reset_index(drop=True)
        self.outline = shapely.union_all(self.districts.geometry.to_numpy())
        shapely.prepare(self.outline)
        # Distances to the outline are measured in the UTM zone the city lies in: metres,
        # with well under 0.1% scale error across a city.
        self._metric_crs = self.districts.estimate_utm_crs()
        self._outline_metric = shapely.union_all(
            self.districts.to_crs(self._metric_crs).geometry.to_numpy()
        )
        self._to_metric = pyproj.Transformer.from_crs("EPSG:4326", self._metric_crs, always_xy=True)

    def contains(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Whether each point lies inside (or on the edge of) the city."""
        x, y = np.asarray(lon, np.float64), np.asarray(lat, np.float64)
        return np.asarray(shapely.intersects_xy(self.outline, x, y), dtype=np.bool_)

    def district_names(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> list[str | None]:
        rows = locate(self.districts, lon, lat)
        names = self.districts["name"].tolist()
        return [names[r] if r >= 0 else None for r in rows.tolist()]

    def distance_m(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Metres from each point to the city (0 inside)."""
        x, y = self._to_metric.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(shapely.distance(self._outline_metric, shapely.points(x, y)), np.float64)

"""Administrative boundaries: loading polygon layers and locating points in them."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely

from geo.geodesy import FloatArray, geodesic_distance_m


def load_districts(reference_dir: Path) -> gpd.GeoDataFrame:
    """The district polygons (WGS-84) with ``adcode``, ``name``, ``population`` and the
    table's other figures (e.g. ``aged_60_plus`` and its ``aged_60_plus_source``).

    Parameters
    ----------
    reference_dir
        A directory with ``districts.geojson`` (polygons, properties ``adcode``, ``name``)
        and ``districts.csv`` (``adcode``, ``population``, ...), e.g. ``data/guangzhou``.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per district, in EPSG:4326, sorted by adcode.

    Examples
    --------
    >>> from geo.package_data import REFERENCE_DIR
    >>> row = load_districts(REFERENCE_DIR).set_index("name").loc["越秀区"]
    >>> int(row["population"]), int(row["aged_60_plus"])
    (1038643, 118487)
    """
    polygons = gpd.read_file(reference_dir / "districts.geojson").to_crs("EPSG:4326")
    table = pd.read_csv(reference_dir / "districts.csv", dtype={"adcode": str})
    # The polygons name the districts; the table's own name column would only duplicate it.
    figures = table.drop(columns=[c for c in ("name",) if c in table.columns])
    merged = polygons.merge(figures, on="adcode", how="left")
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
    >>> from geo.package_data import REFERENCE_DIR
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
    >>> from geo.package_data import REFERENCE_DIR
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
        self.metric_crs = self.districts.estimate_utm_crs()
        self.outline_metric = shapely.union_all(
            self.districts.to_crs(self.metric_crs).geometry.to_numpy()
        )
        self._to_metric = pyproj.Transformer.from_crs("EPSG:4326", self.metric_crs, always_xy=True)

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
        return np.asarray(shapely.distance(self.outline_metric, shapely.points(x, y)), np.float64)


class ServedArea:
    """Where a query point may be: the city and ``max_distance_m`` around it.

    Deciding is cheap whatever the point, as a refusal must be: the city buffered a
    little less and a little more than ``max_distance_m`` (in its UTM zone, where a
    buffer is off by under 0.1%) settles almost every point with one point-in-polygon
    test; a point refused that way is measured to a coarse outline (every vertex of the
    outline simplified to 250 m: metres off at the distances it measures). Only a point
    in the thin ring between the two buffers is measured exactly, by the geodesic distance
    to the outline's vertices spaced at most 200 m apart (a few centimetres off there).

    Parameters
    ----------
    city
        The city's outline.
    max_distance_m
        How far outside the city a query point may be, in metres.

    Examples
    --------
    >>> from geo.package_data import REFERENCE_DIR
    >>> area = ServedArea(CityBoundary(load_districts(REFERENCE_DIR)), 50_000)
    >>> area.distance_beyond_m(113.3245, 23.1064) is None     # Canton Tower
    True
    >>> round(area.distance_beyond_m(-170.0, -45.0) / 1000)   # the South Pacific
    10734
    """

    def __init__(self, city: CityBoundary, max_distance_m: float) -> None:
        self.city = city
        self.max_distance_m = max_distance_m
        margin_m = 0.01 * max_distance_m + 100.0
        to_wgs84 = pyproj.Transformer.from_crs(city.metric_crs, "EPSG:4326", always_xy=True)

        def in_wgs84(geometry: shapely.Geometry) -> shapely.Geometry:
            return shapely.transform(
                geometry, lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1]))
            )

        def vertices(geometry: shapely.Geometry) -> tuple[FloatArray, FloatArray]:
            x, y = to_wgs84.transform(*shapely.get_coordinates(geometry).T)
            return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

        outline = city.outline_metric
        self._surely_inside = in_wgs84(outline.buffer(max(0.0, max_distance_m - margin_m)))
        self._maybe_inside = in_wgs84(outline.buffer(max_distance_m + margin_m))
        shapely.prepare(self._surely_inside)
        shapely.prepare(self._maybe_inside)
        # Simplifying keeps a subset of the vertices, so the coarse distance is never
        # shorter than the true one: a refused point is never reported as nearer the city
        # than it is.
        self._coarse = vertices(shapely.simplify(shapely.boundary(outline), 250.0))
        self._fine = vertices(shapely.segmentize(shapely.boundary(outline), 200.0))

    def distance_beyond_m(self, lon: float, lat: float) -> float | None:
        """``None`` when the point is served, else its geodesic distance to the city in
        metres (more than ``max_distance_m``)."""
        if shapely.intersects_xy(self._surely_inside, lon, lat):
            return None
        if not shapely.intersects_xy(self._maybe_inside, lon, lat):
            return self._distance_m(lon, lat, *self._coarse)
        distance_m = self.distance_to_city_m(lon, lat)
        return None if distance_m <= self.max_distance_m else distance_m

    def distance_to_city_m(self, lon: float, lat: float) -> float:
        """Geodesic metres from the point to the city's outline (0 inside), to a few
        centimetres."""
        if self.city.contains(lon, lat):
            return 0.0
        return self._distance_m(lon, lat, *self._fine)

    @staticmethod
    def _distance_m(
        lon: float, lat: float, vertex_lon: FloatArray, vertex_lat: FloatArray
    ) -> float:
        return float(geodesic_distance_m(lon, lat, vertex_lon, vertex_lat).min())

"""Coordinates and space: CRS conversions, geodesic distances, H3 cells, spatial index.

``geo.boundaries`` (polygon layers, needs geopandas) is imported on its own so that the
service's hot modules do not pay for geopandas at start-up.
"""

from geo.crs import CRS, from_wgs84, gcj02_to_wgs84, to_wgs84, wgs84_to_gcj02
from geo.geodesy import ecef_xyz, geodesic_distance_m
from geo.h3cells import STORED_RESOLUTIONS, h3_cells, stored_cells
from geo.spatial_index import GeodesicKNN

__all__ = [
    "CRS",
    "STORED_RESOLUTIONS",
    "GeodesicKNN",
    "ecef_xyz",
    "from_wgs84",
    "gcj02_to_wgs84",
    "geodesic_distance_m",
    "h3_cells",
    "stored_cells",
    "to_wgs84",
    "wgs84_to_gcj02",
]

"""Web-Mercator tiles (the "WebMercatorQuad" tile matrix set of OGC, the XYZ scheme of
OpenStreetMap, MapLibre and Leaflet): tile addresses, their bounds, and the positions
inside a vector tile.

Spherical Mercator (EPSG:3857) is what every web map and PostGIS' ``ST_TileEnvelope``
use: x east and y north in metres on a sphere of the WGS-84 semi-major axis, over
longitude and latitude taken as WGS-84 (not a conformal projection of the ellipsoid;
that is the standard's choice, not ours). Tile ``y`` counts from the north edge.

Examples
--------
>>> t = Tile.containing(113.3245, 23.1064, 12)
>>> t
Tile(z=12, x=3337, y=1777)
>>> box = t.bounds_wgs84()
>>> box[0] <= 113.3245 <= box[2] and box[1] <= 23.1064 <= box[3]
True
>>> [round(v, 6) for v in t.to_lonlat(*t.to_tile_units(113.3245, 23.1064, 4096), 4096)]
[113.3245, 23.1064]
>>> Tile(1, 1, 1).bounds_wgs84()[2]
180.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_378_137.0
"""The sphere of EPSG:3857: WGS-84's semi-major axis, metres."""
HALF_WORLD_M = math.pi * EARTH_RADIUS_M
"""Half the width of the Web-Mercator world, metres (20,037,508.34)."""
MAX_LATITUDE = math.degrees(2 * math.atan(math.exp(math.pi)) - math.pi / 2)
"""The latitude of the square world's north edge (85.0511°)."""
MAX_ZOOM = 24


def mercator_xy(lon: float, lat: float) -> tuple[float, float]:
    """WGS-84 degrees to EPSG:3857 metres (latitude clamped to the square world).

    Examples
    --------
    >>> [round(v, 2) + 0.0 for v in mercator_xy(180.0, 0.0)]
    [20037508.34, 0.0]
    """
    lat = max(-MAX_LATITUDE, min(MAX_LATITUDE, lat))
    x = math.radians(lon) * EARTH_RADIUS_M
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * EARTH_RADIUS_M
    return x, y


def mercator_lonlat(x: float, y: float) -> tuple[float, float]:
    """EPSG:3857 metres to WGS-84 degrees (the inverse of :func:`mercator_xy`)."""
    lon = math.degrees(x / EARTH_RADIUS_M)
    lat = math.degrees(2 * math.atan(math.exp(y / EARTH_RADIUS_M)) - math.pi / 2)
    return lon, lat


@dataclass(frozen=True, slots=True)
class Tile:
    """One tile of the Web-Mercator quad: zoom ``z``, column ``x`` from the west, row ``y``
    from the north.

    Raises :class:`ValueError` for an address that does not exist (``z`` outside
    0..:data:`MAX_ZOOM`, ``x`` or ``y`` outside 0..2**z - 1).
    """

    z: int
    x: int
    y: int

    def __post_init__(self) -> None:
        if not 0 <= self.z <= MAX_ZOOM:
            raise ValueError(f"zoom {self.z} is outside 0..{MAX_ZOOM}")
        last = 2**self.z - 1
        if not (0 <= self.x <= last and 0 <= self.y <= last):
            raise ValueError(
                f"tile {self.x}/{self.y} does not exist at zoom {self.z}: x and y run 0..{last}"
            )

    @classmethod
    def containing(cls, lon: float, lat: float, z: int) -> Tile:
        """The tile at zoom ``z`` holding the WGS-84 point (a point on an edge: the tile
        east or south of it)."""
        n = 2**z
        mx, my = mercator_xy(lon, lat)
        x = int((mx + HALF_WORLD_M) / (2 * HALF_WORLD_M) * n)
        y = int((HALF_WORLD_M - my) / (2 * HALF_WORLD_M) * n)
        return cls(z, min(max(x, 0), n - 1), min(max(y, 0), n - 1))

    @property
    def size_m(self) -> float:
        """The tile's width (and height) in EPSG:3857 metres."""
        return 2 * HALF_WORLD_M / (1 << self.z)

    def bounds_mercator(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in EPSG:3857 metres, as ``ST_TileEnvelope`` gives."""
        size = self.size_m
        west = -HALF_WORLD_M + self.x * size
        north = HALF_WORLD_M - self.y * size
        return west, north - size, west + size, north

    def bounds_wgs84(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in WGS-84 degrees. Mercator keeps meridians and
        parallels straight, so this box holds exactly the points of the tile."""
        west, south, east, north = self.bounds_mercator()
        lon_w, lat_s = mercator_lonlat(west, south)
        lon_e, lat_n = mercator_lonlat(east, north)
        # The world's edges come back a rounding error past ±180° (e.g. 180.00000000000003).
        return max(lon_w, -180.0), lat_s, min(lon_e, 180.0), lat_n

    def to_tile_units(self, lon: float, lat: float, extent: int) -> tuple[float, float]:
        """A WGS-84 point in the tile's own grid of ``extent`` units a side (x east, y
        south from the north-west corner, as vector tiles store positions), unrounded."""
        west, _, _, north = self.bounds_mercator()
        mx, my = mercator_xy(lon, lat)
        scale = extent / self.size_m
        return (mx - west) * scale, (north - my) * scale

    def to_lonlat(self, u: float, v: float, extent: int) -> tuple[float, float]:
        """A position in the tile's grid (:meth:`to_tile_units`) back to WGS-84 degrees."""
        west, _, _, north = self.bounds_mercator()
        scale = self.size_m / extent
        return mercator_lonlat(west + u * scale, north - v * scale)

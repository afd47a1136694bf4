"""Places a resident can type: suggestions for a search box (issue 16, "find by words").

The same chain the imports geocode with, asked the other way round: the offline gazetteer
(district polygons always; street polygons when the city gives a streets layer) answers
names that *contain* what was typed, as she types; AMap, when a key is set, answers the
whole text as an address (a 小区, a landmark, a street number), which no offline list holds.

Every suggestion is a WGS-84 point with the name to show, what kind of place it is and
which geocoder found it.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> districts = gpd.GeoDataFrame(
...     {"name": ["天河区", "海珠区"]},
...     geometry=[box(113.3, 23.1, 113.4, 23.2), box(113.3, 23.0, 113.4, 23.1)],
...     crs="EPSG:4326",
... )
>>> [p.name for p in PlaceIndex(districts).suggest("天河")]
['天河区']
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

import geopandas as gpd

from geo.geocoding import AddressQuery, Geocoder, GeocoderUnavailableError
from geo.precision import Precision

MAX_QUERY_CHARS = 50
"""The longest text asked about: longer than any address, far shorter than an abuse."""
MAX_SUGGESTIONS = 10
"""The most suggestions one answer holds: a list a thumb can still scroll."""


class PlaceKind(StrEnum):
    DISTRICT = "district"
    STREET = "street"
    ADDRESS = "address"


@dataclass(frozen=True, slots=True)
class Place:
    """A suggestion: ``name`` to show, its WGS-84 point, its kind and its geocoder."""

    name: str
    district: str
    kind: PlaceKind
    lon: float
    lat: float
    source: str


# A typed address is a street number, a building or a landmark at exact precision; the
# coarser answers of AMap (a road, a town) are still places she may mean.
_ADDRESS_KINDS = {
    Precision.EXACT: PlaceKind.ADDRESS,
    Precision.STREET: PlaceKind.STREET,
    Precision.DISTRICT: PlaceKind.DISTRICT,
}


def normalise(text: str) -> str:
    """What matching compares: NFKC (full-width digits and letters folded), no spaces,
    case-folded.

    >>> normalise(" 天河路３８５号 ")
    '天河路385号'
    """
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


class PlaceIndex:
    """The offline names: districts, and streets when a layer is given.

    Parameters
    ----------
    districts
        Polygons with a ``name`` column.
    streets
        Optional polygons with ``name`` and ``district`` columns.
    """

    def __init__(self, districts: gpd.GeoDataFrame, streets: gpd.GeoDataFrame | None = None):
        places: list[Place] = []
        for layer, kind in ((districts, PlaceKind.DISTRICT), (streets, PlaceKind.STREET)):
            if layer is None:
                continue
            wgs = layer.to_crs("EPSG:4326")
            points = wgs.geometry.representative_point()
            district = wgs["district"] if "district" in wgs else wgs["name"]
            for name, in_district, point in zip(wgs["name"], district, points, strict=True):
                places.append(
                    Place(str(name), str(in_district), kind, point.x, point.y, "gazetteer")
                )
        self.places = places
        self._keys = [normalise(p.name) for p in places]

    def suggest(self, q: str, limit: int = MAX_SUGGESTIONS) -> list[Place]:
        """Places whose name contains ``q`` (or is contained in it: "天河区体育西路"
        finds 天河区), names starting with it first, then the shorter (the more
        specific to what was typed)."""
        wanted = normalise(q)
        if not wanted:
            return []
        ranked: list[tuple[int, int, int, Place]] = []
        for i, (key, place) in enumerate(zip(self._keys, self.places, strict=True)):
            if key.startswith(wanted):
                how = 0
            elif wanted in key:
                how = 1
            elif key in wanted:
                how = 2
            else:
                continue
            # Within a kind of match, a street (more precise) before its district.
            ranked.append((how, 0 if place.kind is PlaceKind.STREET else 1, len(key) + i, place))
        ranked.sort(key=lambda r: r[:3])
        return [r[3] for r in ranked[:limit]]


class PlaceFinder:
    """Suggestions from the offline index, and from an online geocoder when one is set.

    Parameters
    ----------
    index
        The offline names.
    online
        A geocoder asked about the whole text (AMap); ``None`` offline. Its failures
        leave the offline suggestions standing: a search box never fails for them.
    """

    def __init__(self, index: PlaceIndex, online: Geocoder | None = None) -> None:
        self.index = index
        self.online = online

    def suggest(self, q: str, limit: int = MAX_SUGGESTIONS) -> tuple[list[Place], list[str]]:
        """Up to ``limit`` places for ``q``, and the geocoders that could not answer."""
        q = q.strip()[:MAX_QUERY_CHARS]
        limit = max(1, min(limit, MAX_SUGGESTIONS))
        offline = self.index.suggest(q, limit)
        unavailable: list[str] = []
        found = None
        # One character names nothing an address geocoder could place ("天" is a city's
        # worth of answers): the online geocoder is asked from two on.
        if self.online is not None and len(normalise(q)) >= 2:
            try:
                found = self.online.geocode(AddressQuery(address=q))
            except GeocoderUnavailableError:
                unavailable.append(self.online.name)
        if found is None:
            return offline, unavailable
        online = Place(q, "", _ADDRESS_KINDS[found.precision], found.lon, found.lat, found.geocoder)
        exact = [p for p in offline if normalise(p.name) == normalise(q)]
        if exact:
            # She typed a name the gazetteer holds: that area, not a geocoder's guess at it.
            return offline, unavailable
        # A whole address (exact) first: that is what she typed; a coarser answer after
        # the names that contain her text.
        if found.precision is Precision.EXACT:
            return [online, *offline][:limit], unavailable
        return [*offline[: limit - 1], online], unavailable

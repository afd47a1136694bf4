"""Wiring: the objects settings describe (city, served area, geocoders, ingester), built
once.

The CLI and the API both build what they need here, so the two cannot drift apart. The
backend (provider store, grade book, registry) is :func:`providers.stores.open_backend`
of ``settings.database``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geo.boundaries import CityBoundary, ServedArea
from geo.geocoding import (
    AmapGeocoder,
    AmapReverseGeocoder,
    GazetteerGeocoder,
    Geocoder,
    GeocoderChain,
)
from geo.places import PlaceFinder, PlaceIndex
from ingest import Ingester
from jzmap.settings import CitySettings, Settings
from providers.errors import InvalidParameterError


@functools.cache
def _districts(path: Path) -> Any:  # a GeoDataFrame; geopandas has no type hints
    import geopandas as gpd

    return gpd.read_file(path)


def districts_layer(city: CitySettings) -> Any:
    """The district polygons of the city (a GeoDataFrame), read once."""
    return _city(city.districts_layer).districts


def city_boundary(city: CitySettings) -> CityBoundary:
    return _city(city.districts_layer)


@functools.cache
def _city(path: Path) -> CityBoundary:
    # Built once per layer: the outline's union and projection take tens of milliseconds,
    # too much to repeat for every admin upload.
    return CityBoundary(_districts(path))


def served_area(city: CitySettings) -> ServedArea:
    """Where nearest-match query points may be: the city and the configured margin."""
    return _served_area(city.districts_layer, city.max_query_distance_km)


@functools.cache
def _served_area(path: Path, max_distance_km: float) -> ServedArea:
    return ServedArea(_city(path), max_distance_km * 1000.0)


def district_points(city: CitySettings) -> dict[str, tuple[float, float]]:
    """Each district's label point (WGS-84), a point inside it, in the layer's order."""
    return _district_points(city.districts_layer)


@functools.cache
def _district_points(path: Path) -> dict[str, tuple[float, float]]:
    districts = _city(path).districts
    points = districts.geometry.representative_point()
    return {
        str(name): (float(pt.x), float(pt.y))
        for name, pt in zip(districts["name"], points, strict=True)
    }


def geocoder_chain(settings: Settings) -> GeocoderChain:
    """The configured geocoders, in order; AMap only when a key is set."""
    import geopandas as gpd

    geocoding, city = settings.geocoding, settings.city
    chosen: list[Geocoder] = []
    for name in (n.strip() for n in geocoding.geocoders.split(",") if n.strip()):
        if name == "gazetteer":
            streets = gpd.read_file(city.streets_layer) if city.streets_layer else None
            chosen.append(GazetteerGeocoder(_districts(city.districts_layer), streets))
        elif name == "amap":
            if geocoding.amap_key is None:
                continue
            cache = geocoding.geocode_cache or settings.database.data_dir / "geocode-cache.sqlite"
            chosen.append(
                AmapGeocoder(
                    geocoding.amap_key.get_secret_value(),
                    url=geocoding.amap_url,
                    cache_path=cache,
                    timeout_s=geocoding.amap_timeout_s,
                    retries=geocoding.amap_retries,
                    max_per_second=geocoding.amap_max_per_second,
                )
            )
        else:
            raise ValueError(f"JZMAP_GEOCODERS: unknown geocoder {name!r}; known: gazetteer, amap")
    return GeocoderChain(chosen)


def reverse_geocoder(settings: Settings) -> AmapReverseGeocoder | None:
    """The addresses of proposed sites: AMap's reverse geocoding when the chain names amap
    and a key is set (``None`` otherwise), sharing the forward geocoder's key, timeout,
    rate limit and cache file."""
    geocoding = settings.geocoding
    names = {n.strip() for n in geocoding.geocoders.split(",")}
    if "amap" not in names or geocoding.amap_key is None:
        return None
    return AmapReverseGeocoder(
        geocoding.amap_key.get_secret_value(),
        url=geocoding.amap_regeo_url,
        cache_path=geocoding.geocode_cache or settings.database.data_dir / "geocode-cache.sqlite",
        timeout_s=geocoding.amap_timeout_s,
        retries=geocoding.amap_retries,
        max_per_second=geocoding.amap_max_per_second,
    )


def place_finder(settings: Settings) -> PlaceFinder:
    """The search box's suggestions (issue 16): the gazetteer's names, and AMap when a key
    is set and the chain names it. AMap is asked once, not retried: a resident is typing,
    and the offline names answer meanwhile."""
    import geopandas as gpd

    city, geocoding = settings.city, settings.geocoding
    streets = gpd.read_file(city.streets_layer) if city.streets_layer else None
    index = PlaceIndex(_districts(city.districts_layer), streets)
    names = {n.strip() for n in geocoding.geocoders.split(",")}
    online = None
    if "amap" in names and geocoding.amap_key is not None:
        online = AmapGeocoder(
            geocoding.amap_key.get_secret_value(),
            url=geocoding.amap_url,
            cache_path=geocoding.geocode_cache
            or settings.database.data_dir / "geocode-cache.sqlite",
            timeout_s=geocoding.amap_timeout_s,
            retries=0,
            max_per_second=geocoding.amap_max_per_second,
        )
    return PlaceFinder(index, online)


def ingester(settings: Settings, on_progress: Callable[[int, int], None] | None = None) -> Ingester:
    """The importer of provider files: the city's boundary and the geocoder chain."""
    return Ingester(city_boundary(settings.city), geocoder_chain(settings), on_progress)


def district_name(city: CitySettings, name_or_code: str) -> str:
    """The district a name (天河区) or an administrative code (440106) names.

    Raises
    ------
    providers.errors.InvalidParameterError
        Neither a district's name nor its code (the message lists both).
    """
    districts = _city(city.districts_layer).districts
    given = name_or_code.strip()
    names = [str(n) for n in districts["name"]]
    if given in names:
        return given
    if "adcode" in districts.columns:
        codes = {
            str(c): str(n) for c, n in zip(districts["adcode"], districts["name"], strict=True)
        }
        if given in codes:
            return codes[given]
        known = ", ".join(f"{n} ({c})" for c, n in codes.items())
    else:
        known = ", ".join(names)
    raise InvalidParameterError.of(
        "district", f"unknown district {given!r}", got=given, allowed=known
    )


def district_point(city: CitySettings, name_or_code: str) -> tuple[float, float]:
    """A point inside the district a name or code names (WGS-84 lon, lat)."""
    return district_points(city)[district_name(city, name_or_code)]

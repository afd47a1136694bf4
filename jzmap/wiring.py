"""Wiring: the objects settings describe (store, city, geocoders, ingester), built once.

The CLI and the API both build what they need here, so the two cannot drift apart.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geo.boundaries import CityBoundary, ServedArea
from geo.geocoding import AmapGeocoder, GazetteerGeocoder, Geocoder, GeocoderChain
from ingest import Ingester
from jzmap.settings import Settings
from providers.gradebook import GradeBook
from providers.registry import PractitionerRegistry
from providers.store import ProviderStore
from providers.stores import open_store


def open_store_from(settings: Settings) -> ProviderStore:
    return open_store(
        settings.database_url,
        settings.data_dir,
        pool_size=settings.db_pool_size,
        connect_timeout_s=settings.db_connect_timeout_s,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        write_timeout_ms=settings.db_write_timeout_s * 1000,
    )


def open_gradebook_from(settings: Settings) -> GradeBook:
    """The grade book beside the provider store: PostGIS tables when ``DATABASE_URL`` is
    set (migration 0003, checked at start-up with the providers' schema), else
    ``grades.sqlite`` in the embedded data directory."""
    if settings.database_url:
        from providers.stores.gradebook_postgis import PostgisGradeBook

        return PostgisGradeBook.open(
            settings.database_url,
            connect_timeout_s=settings.db_connect_timeout_s,
            statement_timeout_ms=settings.db_statement_timeout_ms,
        )
    from providers.stores.gradebook_embedded import EmbeddedGradeBook

    return EmbeddedGradeBook(settings.data_dir)


def open_registry_from(settings: Settings) -> PractitionerRegistry:
    """The practitioners registry beside the grade book: PostGIS table ``practitioners``
    when ``DATABASE_URL`` is set (migration 0004), else ``practitioners.sqlite`` in the
    embedded data directory."""
    if settings.database_url:
        from providers.stores.registry_postgis import PostgisRegistry

        return PostgisRegistry.open(
            settings.database_url,
            connect_timeout_s=settings.db_connect_timeout_s,
            statement_timeout_ms=settings.db_statement_timeout_ms,
        )
    from providers.stores.registry_embedded import EmbeddedRegistry

    return EmbeddedRegistry(settings.data_dir)


@functools.cache
def _districts(path: Path) -> Any:  # a GeoDataFrame; geopandas has no type hints
    import geopandas as gpd

    return gpd.read_file(path)


def districts_layer(settings: Settings) -> Any:
    """The district polygons of the settings (a GeoDataFrame), read once."""
    return _city(settings.districts_layer).districts


def city_boundary(settings: Settings) -> CityBoundary:
    return _city(settings.districts_layer)


@functools.cache
def _city(path: Path) -> CityBoundary:
    # Built once per layer: the outline's union and projection take tens of milliseconds,
    # too much to repeat for every admin upload.
    return CityBoundary(_districts(path))


def served_area(settings: Settings) -> ServedArea:
    """Where nearest-match query points may be: the city and the configured margin."""
    return _served_area(settings.districts_layer, settings.max_query_distance_km)


@functools.cache
def _served_area(path: Path, max_distance_km: float) -> ServedArea:
    return ServedArea(_city(path), max_distance_km * 1000.0)


def district_points(settings: Settings) -> dict[str, tuple[float, float]]:
    """Each district's label point (WGS-84), a point inside it, in the layer's order."""
    return _district_points(settings.districts_layer)


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

    chosen: list[Geocoder] = []
    for name in (n.strip() for n in settings.geocoders.split(",") if n.strip()):
        if name == "gazetteer":
            streets = gpd.read_file(settings.streets_layer) if settings.streets_layer else None
            chosen.append(GazetteerGeocoder(_districts(settings.districts_layer), streets))
        elif name == "amap":
            if settings.amap_key is None:
                continue
            chosen.append(
                AmapGeocoder(
                    settings.amap_key.get_secret_value(),
                    url=settings.amap_url,
                    cache_path=settings.geocode_cache or settings.data_dir / "geocode-cache.sqlite",
                    timeout_s=settings.amap_timeout_s,
                    retries=settings.amap_retries,
                    max_per_second=settings.amap_max_per_second,
                )
            )
        else:
            raise ValueError(f"JZMAP_GEOCODERS: unknown geocoder {name!r}; known: gazetteer, amap")
    return GeocoderChain(chosen)


def ingester(settings: Settings, on_progress: Callable[[int, int], None] | None = None) -> Ingester:
    return Ingester(city_boundary(settings), geocoder_chain(settings), on_progress)

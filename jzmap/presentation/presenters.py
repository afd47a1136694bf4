"""Domain objects to public response bodies: the only place that decides what is public."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import h3
import numpy as np
import numpy.typing as npt
import shapely
import shapely.geometry
from pydantic import TypeAdapter

from geo.crs import CRS, from_wgs84
from jzmap.presentation.links import navigate_links_for, tel_uri
from jzmap.presentation.schemas import (
    FeatureOut,
    LayerOut,
    MatchOut,
    NearestQueryOut,
    ProviderOut,
    WeightsOut,
)
from providers.hours import CITY_TZ, calendar_years, open_state, schedule_of
from providers.model import Precision, Provider, mask_phone
from providers.ranking import Match, NearestQuery
from providers.viewport import Layer, LayerMode

# Map coordinates to 6 decimals (~0.1 m): finer only weighs the page down.
_MAP_DECIMALS = 6

SYNTHETIC_DATASETS = frozenset({"demo-synthetic"})

# The same providers come back request after request: mask each phone once.
_masked_phone = functools.lru_cache(maxsize=65_536)(mask_phone)


class PublicPhones(StrEnum):
    """How a company's or station's registered business phone is shown
    (``JZMAP_PUBLIC_PHONES``): in full with a ``tel:`` link, or masked where a city's
    rules require. Practitioners' phones are never shown either way."""

    FULL = "full"
    MASKED = "masked"


def _now() -> dt.datetime:
    return dt.datetime.now(CITY_TZ).replace(tzinfo=None, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class PublicView:
    """What a public answer shows beyond the provider itself: the phone policy, and the
    local time (Asia/Shanghai, naive) opening hours are judged at (now when not given)."""

    phones: PublicPhones = PublicPhones.FULL
    at: dt.datetime = field(default_factory=_now)

    @classmethod
    def of(cls, public_phones: str) -> PublicView:
        """The view under the operator's phone rule (``JZMAP_PUBLIC_PHONES``), now: what
        the API's dependency and the CLI both build, so the two cannot differ."""
        return cls(PublicPhones(public_phones))


def phone_fields(phone: str, phones: PublicPhones) -> dict[str, str | None]:
    """``phone`` and ``tel`` of a public answer under the phone policy."""
    if phones is PublicPhones.MASKED:
        return {"phone": _masked_phone(phone), "tel": None}
    return {"phone": phone, "tel": tel_uri(phone)}


def hours_fields(text: str, at: dt.datetime) -> dict[str, Any]:
    """The opening hours' state at ``at`` and that day's intervals."""
    state, today = _hours_at(text, at)
    return {"state": state, "today": today, "at": at}


@functools.lru_cache(maxsize=4_096)
def _hours_at(text: str, at: dt.datetime) -> tuple[str, str | None]:
    # Cached: ``at`` is a whole minute (:class:`PublicView`), so within a minute every answer
    # asks about the same few hundred texts at the same time.
    schedule = schedule_of(text)
    return open_state(text, at).value, None if schedule is None else schedule.today_text(at)


def _coordinates(providers: Sequence[Provider], crs: CRS) -> list[tuple[float, float]]:
    """(lon, lat) of each provider in ``crs``, converted in one vectorised call."""
    lon = np.fromiter((p.lon for p in providers), np.float64, len(providers))
    lat = np.fromiter((p.lat for p in providers), np.float64, len(providers))
    if crs is not CRS.WGS84:
        lon, lat = from_wgs84(lon, lat, crs)
    return list(zip(lon.tolist(), lat.tolist(), strict=True))


def _fields(  # noqa: PLR0917 -- the row's parts, each named at the one call site
    p: Provider,
    lon: float,
    lat: float,
    crs: CRS,
    view: PublicView,
    navigate: dict[str, dict[str, str]] | None,
) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "kind": p.kind,
        "categories": sorted(p.categories),
        "credit_grade": p.credit_grade,
        "lat": lat,
        "lon": lon,
        "crs": crs,
        "address": p.address,
        "district": p.district,
        "street": p.street,
        "community": p.community,
        **phone_fields(p.phone, view.phones),
        "opening_hours": p.opening_hours,
        "hours": hours_fields(p.opening_hours, view.at),
        "navigate": navigate,
        "practitioners": p.practitioners,
        "certified_practitioners": p.certified_practitioners,
        "geocode_precision": p.geocode_precision,
        "approximate": p.geocode_precision is not Precision.EXACT,
        "synthetic": p.extra.get("dataset") in SYNTHETIC_DATASETS,
        "verified_at": p.verified_at,
    }


def provider_out(p: Provider, crs: CRS, view: PublicView | None = None) -> ProviderOut:
    (lon, lat) = _coordinates([p], crs)[0]
    view = view or PublicView()
    return ProviderOut(**_fields(p, lon, lat, crs, view, navigate_links_for([p])[0]))


def match_outs(
    matches: Sequence[Match], crs: CRS, view: PublicView | None = None, *, navigate: bool = False
) -> list[MatchOut]:
    """The ranked results, ``rank`` from 1, coordinates in ``crs``; each result's navigate
    links only when ``navigate`` asks for them.

    The links are six long URLs a result (about 2 KB, most of an answer's bytes): built,
    encoded and compressed for every result of every search they cost more than the ranking
    (measured 2026-12-03), so only a client that shows them (the map, the widget) asks.

    Validated as one list in one pass (pydantic's core, in Rust): building forty small
    models one by one cost a fifth of a ``sort=distance`` request, and building them
    unvalidated (``model_construct``, pure Python) cost more still (measured).
    """
    providers = [m.provider for m in matches]
    coordinates = _coordinates(providers, crs)
    links_of = navigate_links_for(providers) if navigate else [None] * len(providers)
    view = view or PublicView()
    return _MATCHES.validate_python(
        [
            {
                **_fields(m.provider, lon, lat, crs, view, links),
                "rank": rank,
                "distance_m": round(m.distance_m, 2),
                "score": round(m.score, 6),
                "score_parts": {
                    name: {
                        "weight": round(part.weight, 6),
                        "value": round(part.value, 6),
                        "points": round(part.points, 6),
                    }
                    for name, part in m.score_parts.items()
                },
            }
            for rank, (m, (lon, lat), links) in enumerate(
                zip(matches, coordinates, links_of, strict=True), start=1
            )
        ]
    )


_MATCHES = TypeAdapter(list[MatchOut])


def query_out(q: NearestQuery, lon: float, lat: float, crs: CRS) -> NearestQueryOut:
    weights = q.weights.normalised()
    return NearestQueryOut(
        lat=lat,
        lon=lon,
        crs=crs,
        category=q.filters.category,
        min_grade=q.filters.min_grade,
        kind=q.filters.kind,
        certified_only=q.filters.certified_only,
        include_approximate=q.filters.include_approximate,
        radius_m=q.filters.radius_m,
        limit=q.limit,
        sort=q.sort.value,
        weights=WeightsOut(
            distance=round(weights.distance, 6),
            grade=round(weights.grade, 6),
            certified=round(weights.certified, 6),
        ),
        half_distance_m=q.half_distance_m,
        open_at=q.filters.open_at,
        include_unknown_hours=q.filters.include_unknown_hours,
        holiday_calendar=holiday_calendar_out(q.filters.open_at),
    )


def holiday_calendar_out(at: dt.datetime | None) -> dict[str, Any]:
    """Which years the public-holiday calendar knows, and whether it knows ``at``'s."""
    first, last = calendar_years()
    return {
        "source": "chinese-calendar",
        "first_year": first,
        "last_year": last,
        "knows_date": None if at is None else first <= at.year <= last,
    }


def geojson_feature(m: MatchOut) -> FeatureOut:
    return FeatureOut(
        id=m.id,
        geometry={"type": "Point", "coordinates": [m.lon, m.lat]},
        properties=m.model_dump(mode="json", exclude={"lat", "lon"}),
    )


def coordinates_in(
    lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], crs: CRS
) -> tuple[list[float], list[float]]:
    if crs is not CRS.WGS84:
        lon, lat = from_wgs84(lon, lat, crs)
    return np.round(lon, _MAP_DECIMALS).tolist(), np.round(lat, _MAP_DECIMALS).tolist()


def _point_summary(p: Provider) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "kind": p.kind.value,
        "categories": sorted(c.value for c in p.categories),
        "credit_grade": None if p.credit_grade is None else p.credit_grade.value,
        "certified_practitioners": p.certified_practitioners,
        "geocode_precision": p.geocode_precision.value,
        "approximate": p.geocode_precision is not Precision.EXACT,
    }


def area_layer_out(layer: Layer, crs: CRS, areas: Any) -> LayerOut:
    """A street or community layer as GeoJSON in ``crs``: each area of ``areas`` (a table
    with ``name``, ``district`` and WGS-84 shapely ``geometry``, polygons or points) with
    its count; areas nobody is counted in are listed too (count 0), counted names the
    areas do not have are left out of the features but stay in ``total``."""
    features: list[FeatureOut] = []
    for name, district, geometry in zip(
        areas["name"].tolist(), areas["district"].tolist(), list(areas["geometry"]), strict=True
    ):
        shifted = shapely.transform(
            geometry, lambda xy: np.column_stack(coordinates_in(xy[:, 0], xy[:, 1], crs))
        )
        shifted = shapely.set_precision(shifted, 1e-6)
        features.append(
            FeatureOut(
                id=str(name),
                geometry=shapely.geometry.mapping(shifted),
                properties={
                    "name": str(name),
                    "district": None if district is None else str(district),
                    "count": layer.counts.get(str(name), 0),
                },
            )
        )
    return LayerOut(
        mode=layer.mode.value, total=layer.total, resolution=None, crs=crs, features=features
    )


def layer_out(layer: Layer, crs: CRS, district_points: dict[str, tuple[float, float]]) -> LayerOut:
    """A viewport layer as GeoJSON in ``crs``; every district appears, counted or not.

    ``district_points`` gives each district's label point (WGS-84): listing all of them,
    in a fixed order, keeps the city-zoom answer the same size whatever the data.
    """
    features: list[FeatureOut] = []
    if layer.mode is LayerMode.DISTRICTS:
        names = list(district_points)
        lon, lat = coordinates_in(
            np.array([district_points[n][0] for n in names]),
            np.array([district_points[n][1] for n in names]),
            crs,
        )
        features = [
            FeatureOut(
                id=name,
                geometry={"type": "Point", "coordinates": [x, y]},
                properties={"name": name, "count": layer.counts.get(name, 0)},
            )
            for name, x, y in zip(names, lon, lat, strict=True)
        ]
    elif layer.mode is LayerMode.CELLS:
        cells = sorted(layer.counts)
        rings = [h3.cell_to_boundary(cell) for cell in cells]  # (lat, lng) pairs
        sizes = [len(ring) for ring in rings]
        flat = np.array([vertex for ring in rings for vertex in ring], dtype=np.float64)
        flat = flat.reshape(-1, 2)
        lon, lat = coordinates_in(flat[:, 1], flat[:, 0], crs)
        start = 0
        for cell, size in zip(cells, sizes, strict=True):
            end = start + size
            ring = [[x, y] for x, y in zip(lon[start:end], lat[start:end], strict=True)]
            start = end
            features.append(
                FeatureOut(
                    id=cell,
                    geometry={"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                    properties={"cell": cell, "count": layer.counts[cell]},
                )
            )
    else:
        lon, lat = coordinates_in(
            np.array([p.lon for p in layer.providers], dtype=np.float64),
            np.array([p.lat for p in layer.providers], dtype=np.float64),
            crs,
        )
        features = [
            FeatureOut(
                id=p.id,
                geometry={"type": "Point", "coordinates": [x, y]},
                properties=_point_summary(p),
            )
            for p, x, y in zip(layer.providers, lon, lat, strict=True)
        ]
    return LayerOut(
        mode=layer.mode.value,
        total=layer.total,
        resolution=layer.resolution,
        crs=crs,
        features=features,
    )


def public_properties(p: Provider, view: PublicView | None = None) -> dict[str, Any]:
    """The public fields of ``p`` as plain JSON values, without its point: what OGC API
    Features items and the open-data files carry, by the same rule as :class:`ProviderOut`
    (one rule for every output, so a field made public or private changes them all).

    Files and feature pages outlive the moment they are read, so they carry the opening
    hours' text but not the open/closed state at one time, nor navigate links (a client
    builds them from the point)."""
    fields = _fields(p, p.lon, p.lat, CRS.WGS84, view or PublicView(), {})
    for key in ("lat", "lon", "crs", "hours", "navigate"):
        del fields[key]
    fields["categories"] = [str(c) for c in fields["categories"]]
    verified = fields["verified_at"]
    fields["verified_at"] = None if verified is None else verified.isoformat()
    return {
        key: str(value) if isinstance(value, StrEnum) else value for key, value in fields.items()
    }

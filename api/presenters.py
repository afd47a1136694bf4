"""Domain objects to public response bodies: the only place that decides what is public."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from api.schemas import FeatureOut, MatchOut, NearestQueryOut, ProviderOut, ScorePartOut, WeightsOut
from geo.crs import CRS, from_wgs84
from providers.model import Precision, Provider, mask_phone
from providers.ranking import Match, NearestQuery

SYNTHETIC_DATASETS = frozenset({"demo-synthetic"})


def _coordinates(providers: Sequence[Provider], crs: CRS) -> list[tuple[float, float]]:
    """(lon, lat) of each provider in ``crs``, converted in one vectorised call."""
    lon = np.fromiter((p.lon for p in providers), np.float64, len(providers))
    lat = np.fromiter((p.lat for p in providers), np.float64, len(providers))
    if crs is not CRS.WGS84:
        lon, lat = from_wgs84(lon, lat, crs)
    return list(zip(lon.tolist(), lat.tolist(), strict=True))


def _fields(p: Provider, lon: float, lat: float, crs: CRS) -> dict[str, Any]:
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
        "phone": mask_phone(p.phone),
        "opening_hours": p.opening_hours,
        "practitioners": p.practitioners,
        "certified_practitioners": p.certified_practitioners,
        "geocode_precision": p.geocode_precision,
        "approximate": p.geocode_precision is not Precision.EXACT,
        "synthetic": p.extra.get("dataset") in SYNTHETIC_DATASETS,
    }


def provider_out(p: Provider, crs: CRS) -> ProviderOut:
    (lon, lat) = _coordinates([p], crs)[0]
    return ProviderOut(**_fields(p, lon, lat, crs))


def match_outs(matches: Sequence[Match], crs: CRS) -> list[MatchOut]:
    """The ranked results, ``rank`` from 1, coordinates in ``crs``."""
    coordinates = _coordinates([m.provider for m in matches], crs)
    return [
        MatchOut(
            **_fields(m.provider, lon, lat, crs),
            rank=rank,
            distance_m=round(m.distance_m, 2),
            score=round(m.score, 6),
            score_parts={
                name: ScorePartOut(
                    weight=round(part.weight, 6),
                    value=round(part.value, 6),
                    points=round(part.points, 6),
                )
                for name, part in m.score_parts.items()
            },
        )
        for rank, (m, (lon, lat)) in enumerate(zip(matches, coordinates, strict=True), start=1)
    ]


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
    )


def geojson_feature(m: MatchOut) -> FeatureOut:
    return FeatureOut(
        id=m.id,
        geometry={"type": "Point", "coordinates": [m.lon, m.lat]},
        properties=m.model_dump(mode="json", exclude={"lat", "lon"}),
    )

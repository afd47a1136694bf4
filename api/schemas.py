"""Response bodies of the public API (also the OpenAPI schema clients generate from)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from geo.crs import CRS
from providers.model import Category, Grade, Kind, Precision


class ScorePartOut(BaseModel):
    weight: float = Field(description="normalised weight of this term")
    value: float = Field(description="the term's value in [0, 1]")
    points: float = Field(description="weight x value; the parts' points sum to the score")


class ProviderOut(BaseModel):
    """What the public may see of a provider (phone masked, no private extras)."""

    id: str
    name: str
    kind: Kind
    categories: list[Category]
    credit_grade: Grade | None = Field(description="5A..A for companies; null for stations")
    lat: float = Field(description="latitude in the response's crs")
    lon: float = Field(description="longitude in the response's crs")
    crs: CRS
    address: str
    district: str
    street: str
    community: str
    phone: str = Field(description="masked: middle digits hidden")
    opening_hours: str
    practitioners: int
    certified_practitioners: int = Field(description="holders of the 安心服务证")
    geocode_precision: Precision
    approximate: bool = Field(description="true when the point is a street or district stand-in")
    synthetic: bool = Field(description="true for generated demo data")


class MatchOut(ProviderOut):
    rank: int = Field(ge=1)
    distance_m: float = Field(description="geodesic metres on the WGS-84 ellipsoid")
    score: float
    score_parts: dict[str, ScorePartOut]


class WeightsOut(BaseModel):
    distance: float
    grade: float
    certified: float


class NearestQueryOut(BaseModel):
    """The query as understood: defaults filled in, weights normalised."""

    lat: float
    lon: float
    crs: CRS
    category: Category | None
    min_grade: Grade | None
    kind: Kind | None
    certified_only: bool
    include_approximate: bool
    radius_m: float | None
    limit: int
    sort: str
    weights: WeightsOut
    half_distance_m: float
    distance_model: Literal["geodesic on the WGS-84 ellipsoid"] = "geodesic on the WGS-84 ellipsoid"


class NearestOut(BaseModel):
    query: NearestQueryOut
    results: list[MatchOut]


class FeatureOut(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any]
    properties: dict[str, Any]


class NearestGeoJSONOut(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    query: NearestQueryOut
    features: list[FeatureOut]


class CategoryOut(BaseModel):
    id: Category
    label_zh: str
    label_en: str


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    store: Literal["embedded", "postgis"]
    providers: int | None = None
    data_version: int | None = None
    reason: str | None = None


class ErrorDetail(BaseModel):
    parameter: str
    message: str
    allowed: str | None = None
    got: Any = None


class ErrorOut(BaseModel):
    error: str = Field(description="machine-readable kind: invalid_parameter, not_found, ...")
    message: str = Field(description="what went wrong and how to fix it, for a person")
    details: list[ErrorDetail] = []


class LayerOut(BaseModel):
    """A map viewport's data (GeoJSON FeatureCollection): see ``mode``.

    * ``districts``: one Point per district (label point) with ``name`` and ``count``;
    * ``cells``: one Polygon per H3 cell with ``cell`` (hex id) and ``count``;
    * ``points``: one Point per provider with its public summary
      (``/v1/providers/{id}`` has the rest).
    """

    type: Literal["FeatureCollection"] = "FeatureCollection"
    mode: Literal["districts", "cells", "points"]
    total: int = Field(description="providers passing the filters in the box (city: districts)")
    resolution: int | None = Field(description="H3 resolution of the cells, in cells mode")
    crs: CRS
    features: list[FeatureOut]

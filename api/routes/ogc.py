"""``/ogc``: OGC API – Features (Part 1 Core, GeoJSON, HTML, OpenAPI 3.0; Part 3 CQL2
text filters), so GIS desks (QGIS, GDAL/ogr2ogr, ArcGIS) read the directory by URL.

Collections: ``providers`` (every listed provider, public fields only), ``stations``
(grassroots service stations only), ``districts`` (the city's districts with how many
providers each holds) and ``coverage-<category>`` (H3 cells, resolution 8, with the
coverage measures of ``/v1/coverage/cells``). Pages of providers are keyset pages read
by :func:`jzmap.application.feature_pages.provider_page`; the documents are
:mod:`jzmap.presentation.ogc`'s. This module only reads parameters and picks JSON or HTML.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic_core import to_json

from api.dependencies import CoverageDep, FiltersDep, PublicViewDep, SettingsDep, StoreDep
from api.params import ALLOWED
from geo.crs import CRS
from jzmap.application.coverage import CoverageQuery, CoverageService
from jzmap.application.feature_pages import MatchCounts, provider_page
from jzmap.presentation import ogc
from jzmap.presentation.coverage import cell_features
from jzmap.presentation.cql2 import MAX_FILTER_CHARS, compile_filter
from jzmap.presentation.presenters import public_properties
from jzmap.presentation.schemas import ErrorOut
from jzmap.settings import CitySettings
from jzmap.wiring import districts_layer
from providers.errors import InvalidFilterError, InvalidParameterError, NotFoundError
from providers.model import Category, Kind, Provider
from providers.store import BBox, Filters, ProviderStore, TallyBy

router = APIRouter(prefix="/ogc", tags=["ogc"])

_CELL_RESOLUTION = 8
_PROVIDER_INTRO = (
    "public fields only: name, kind, categories, credit grade, business address and phone, "
    "opening hours, practitioner counts; WGS-84 points"
)
COLLECTIONS: dict[str, ogc.Collection] = {
    c.id: c
    for c in [
        ogc.Collection(
            "providers",
            "Domestic-service providers (家政服务机构)",
            f"Every listed company and grassroots service station: {_PROVIDER_INTRO}.",
            ogc.PROVIDER_QUERYABLES,
        ),
        ogc.Collection(
            "stations",
            "Grassroots service stations (基层服务站)",
            f"The grassroots service stations only: {_PROVIDER_INTRO}.",
            ogc.PROVIDER_QUERYABLES,
            kind=Kind.STATION,
        ),
        ogc.Collection(
            "districts",
            "Districts (区)",
            "The city's districts, with how many listed providers each holds.",
            {"adcode": "string", "name": "string", "providers": "integer"},
            providers=False,
        ),
        *(
            ogc.Collection(
                f"coverage-{category.value}",
                f"Coverage of {category.label_en.lower()} ({category.label_zh}) per H3 cell",
                f"H3 cells (resolution {_CELL_RESOLUTION}) with the residents, the metres to "
                "the nearest suitable provider, accessibility (E2SFCA), whether a provider "
                "is within reach and whether the cell is a gap; as /v1/coverage/cells.",
                {
                    "cell": "string",
                    "district": "string",
                    "street": "string",
                    "residents": "number",
                    "nearest_m": "number",
                    "nearest_id": "string",
                    "providers_within": "integer",
                    "accessibility": "number",
                    "covered": "boolean",
                    "gap": "boolean",
                },
                providers=False,
                extra={"category": category},
            )
            for category in Category
        ),
    ]
}


_FAILURES: dict[int | str, dict[str, Any]] = {422: {"model": ErrorOut}, 503: {"model": ErrorOut}}
_DOCUMENT: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/json": {}, "text/html": {}},
        "description": "JSON, or HTML with f=html",
    },
    **_FAILURES,
}
_FEATURES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/geo+json": {}, "text/html": {}},
        "description": "GeoJSON, or HTML with f=html",
    },
    **_FAILURES,
}


# Ids and cursors are printable text (PostgreSQL refuses a NUL in text: a 422, not a 500).
_NO_CONTROLS = r"^[^\x00-\x1f\x7f]*$"


class OgcFormat(StrEnum):
    """``json`` (GeoJSON for features) or ``html``."""

    JSON = "json"
    HTML = "html"


_F_DESCRIPTION = "json (GeoJSON for features) or html; default: html when the Accept header "
"prefers it, else json"

Format = Annotated[OgcFormat | None, Query(description=_F_DESCRIPTION)]


def _wants_html(request: Request, f: OgcFormat | None) -> bool:
    if f is not None:
        return f is OgcFormat.HTML
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _answer(
    request: Request, f: OgcFormat | None, title: str, doc: dict[str, Any], media: str
) -> Response:
    if _wants_html(request, f):
        return HTMLResponse(
            ogc.html_page(title, doc),
            headers={"Content-Security-Policy": "default-src 'none'; base-uri 'none'"},
        )
    return Response(bytes(to_json(doc)), media_type=media)


def _collection(collection_id: str) -> ogc.Collection:
    try:
        return COLLECTIONS[collection_id]
    except KeyError:
        known = ", ".join(COLLECTIONS)
        raise NotFoundError(f"no collection {collection_id!r}; collections: {known}") from None


def get_collection(collection_id: str) -> ogc.Collection:
    """The collection ``collection_id`` names, or a 404 listing them."""
    return _collection(collection_id)


CollectionDep = Annotated[ogc.Collection, Depends(get_collection)]


@router.get("", summary="OGC API – Features landing page", response_model=None, responses=_DOCUMENT)
def landing(request: Request, f: Format = None) -> Response:
    title = "Jiazheng Map (家政地图): OGC API – Features"
    doc = ogc.landing(
        _base(request),
        title,
        "Guangzhou's domestic-service providers, districts and coverage cells, for GIS.",
    )
    return _answer(request, f, title, doc, ogc.JSON)


@router.get(
    "/conformance",
    summary="OGC API conformance classes",
    response_model=None,
    responses=_DOCUMENT,
)
def conformance(request: Request, f: Format = None) -> Response:
    return _answer(request, f, "Conformance", ogc.conformance(), ogc.JSON)


@router.get("/collections", summary="OGC API collections", response_model=None, responses=_DOCUMENT)
def collections(request: Request, f: Format = None) -> Response:
    doc = ogc.collections_doc(_base(request), list(COLLECTIONS.values()))
    return _answer(request, f, "Collections", doc, ogc.JSON)


@router.get(
    "/collections/{collection_id}",
    summary="One OGC API collection",
    response_model=None,
    responses={**_DOCUMENT, 404: {"model": ErrorOut}},
)
def collection(request: Request, c: CollectionDep, f: Format = None) -> Response:
    return _answer(request, f, c.title, ogc.collection_doc(_base(request), c), ogc.JSON)


@router.get(
    "/collections/{collection_id}/queryables",
    summary="What a CQL2 filter of a collection may name (JSON Schema)",
    responses={
        200: {"content": {"application/schema+json": {}}, "description": "JSON Schema"},
        404: {"model": ErrorOut},
        **_FAILURES,
    },
    response_model=None,
)
def queryables(request: Request, c: CollectionDep) -> Response:
    return Response(
        bytes(to_json(ogc.queryables_doc(_base(request), c))),
        media_type="application/schema+json",
    )


def _bbox(text: str | None) -> BBox | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
        if len(values) == 6:  # west, south, min height, east, north, max height
            values = [values[0], values[1], values[3], values[4]]
        if len(values) != 4:
            raise ValueError(f"four numbers are needed, got {len(values)}")
        west, south, east, north = values
        return BBox(max(west, -180.0), max(south, -90.0), min(east, 180.0), min(north, 90.0))
    except ValueError as exc:
        raise InvalidParameterError.of(
            "bbox", str(exc), got=text, allowed=ALLOWED["bbox"] + " (CRS84)"
        ) from None


def _counts(request: Request) -> MatchCounts:
    counts: MatchCounts | None = getattr(request.app.state, "ogc_match_counts", None)
    if counts is None:
        counts = request.app.state.ogc_match_counts = MatchCounts()
    return counts


@router.get(
    "/collections/{collection_id}/items",
    summary="Features of a collection: bbox, filters, CQL2 filter, keyset pages",
    responses={**_FEATURES, 400: {"model": ErrorOut}, 404: {"model": ErrorOut}},
    response_model=None,
)
def items(
    request: Request,
    *,
    c: CollectionDep,
    store: StoreDep,
    filters: FiltersDep,
    coverage: CoverageDep,
    settings: SettingsDep,
    view: PublicViewDep,
    f: Format = None,
    bbox: Annotated[
        str | None,
        Query(
            max_length=200,
            description="west,south,east,north in CRS84 (longitude, latitude, WGS-84)",
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(
            ge=1,
            description=f"features per page; at most {ogc.MAX_LIMIT:,} (more is served as "
            f"{ogc.MAX_LIMIT:,})",
        ),
    ] = ogc.DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=_NO_CONTROLS,
            description="where a page starts: from a `next` link",
        ),
    ] = None,
    filter_: Annotated[
        str | None,
        Query(
            alias="filter",
            description=f"CQL2 text over the queryables, at most {MAX_FILTER_CHARS:,} "
            "characters, e.g. `kind = 'company' AND district = '海珠区'`",
        ),
    ] = None,
    filter_lang: Annotated[
        str | None, Query(alias="filter-lang", description="cql2-text, the only one")
    ] = None,
) -> Response:
    if filter_lang not in (None, "cql2-text"):
        raise InvalidFilterError.of(
            "filter-lang", "only cql2-text is served", got=filter_lang, allowed="cql2-text"
        )
    keep = None if filter_ is None else compile_filter(filter_, c.queryables)
    box = _bbox(bbox)
    limit = min(limit, ogc.MAX_LIMIT)
    query = {k: v for k, v in request.query_params.items() if k != "cursor"}
    if c.providers:
        store_filters = filters.filters()
        if c.kind is not None:
            # Every other filter (open_now/open_at included) stays as the request gave it.
            store_filters = dataclasses.replace(store_filters, kind=c.kind)
        page = provider_page(
            store,
            box,
            store_filters,
            limit,
            after=cursor,
            keep=None if keep is None else (lambda p: keep(public_properties(p, view))),
        )
        features = [ogc.provider_feature(p, view) for p in page.providers]
        matched = None if keep is not None else _counts(request).count(store, store_filters, box)
        next_cursor = page.next_after
    else:
        every = _other_features(c, store, coverage, settings.city)
        chosen = [
            feature
            for feature in every
            if (box is None or _touches(feature["bbox"], box))
            and (keep is None or keep(feature["properties"]))
        ]
        matched = len(chosen)
        after = [x for x in chosen if cursor is None or x["id"] > cursor]
        features = after[:limit]
        next_cursor = features[-1]["id"] if len(after) > limit else None
    page_doc = ogc.ItemsPage(c.id, query, next_cursor, matched)
    doc = ogc.items_doc(_base(request), page_doc, features)
    return _answer(request, f, c.title, doc, ogc.GEOJSON)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="One feature of a collection",
    responses={**_FEATURES, 404: {"model": ErrorOut}},
    response_model=None,
)
def item(
    request: Request,
    *,
    c: CollectionDep,
    store: StoreDep,
    coverage: CoverageDep,
    settings: SettingsDep,
    view: PublicViewDep,
    feature_id: Annotated[str, Path(min_length=1, max_length=100, pattern=_NO_CONTROLS)],
    f: Format = None,
) -> Response:
    feature: dict[str, Any] | None
    if c.providers:
        provider = store.get(feature_id)
        listed = provider is not None and _listed(provider, c)
        feature = ogc.provider_feature(provider, view) if listed and provider else None
    else:
        every = _other_features(c, store, coverage, settings.city)
        feature = next((x for x in every if x["id"] == feature_id), None)
        if feature is not None:
            feature = {k: v for k, v in feature.items() if k != "bbox"}
    if feature is None:
        raise NotFoundError(f"no feature {feature_id!r} in {c.id}; ids come from its items")
    doc = ogc.feature_doc(_base(request), c.id, feature)
    return _answer(request, f, f"{c.title}: {feature_id}", doc, ogc.GEOJSON)


def _listed(provider: Provider, c: ogc.Collection) -> bool:
    return Filters(kind=c.kind, include_approximate=True).admits(provider)


def _touches(extent: list[float], box: BBox) -> bool:
    west, south, east, north = extent
    return west <= box.east and east >= box.west and south <= box.north and north >= box.south


def _other_features(
    c: ogc.Collection, store: ProviderStore, coverage: CoverageService, city: CitySettings
) -> list[dict[str, Any]]:
    """The features of a collection that is not of providers, in id order, each with its
    ``bbox`` (for the bbox parameter)."""
    if c.id == "districts":
        counts = store.tally(Filters(), TallyBy.DISTRICT)
        features = [
            {
                **feature,
                "properties": {
                    **feature["properties"],
                    "providers": counts.get(feature["properties"]["name"], 0),
                },
            }
            for feature in _district_features(districts_layer(city))
        ]
    else:
        category: Category = c.extra["category"]
        analysis = coverage.analysis(CoverageQuery(category, _CELL_RESOLUTION))
        features = cell_features(analysis, None, CRS.WGS84)
        for feature in features:
            ring = feature["geometry"]["coordinates"][0]
            lons, lats = [x for x, _ in ring], [y for _, y in ring]
            feature["bbox"] = [min(lons), min(lats), max(lons), max(lats)]
    return sorted(features, key=_feature_id)


def _feature_id(feature: Mapping[str, Any]) -> str:
    return str(feature["id"])


def _district_features(layer: Any) -> list[dict[str, Any]]:
    """The district polygons (a GeoDataFrame with ``adcode`` and ``name``) as features."""
    return [
        {
            "type": "Feature",
            "id": str(adcode),
            "geometry": geometry.__geo_interface__,
            "bbox": [float(v) for v in geometry.bounds],
            "properties": {"adcode": str(adcode), "name": str(name)},
        }
        for adcode, name, geometry in zip(
            layer["adcode"], layer["name"], layer.geometry, strict=True
        )
    ]

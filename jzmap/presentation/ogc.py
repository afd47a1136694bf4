"""OGC API – Features documents: the landing page, conformance, collections, features,
queryables, as JSON (GeoJSON for features) and as plain HTML for browsers.

What a provider feature carries is :func:`jzmap.presentation.presenters.public_properties`
(the one public rule); this module only shapes the OGC documents around it. Links are
absolute, built from the base URL the API hands in, and every value in the HTML is
escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from jzmap.presentation.presenters import PublicView, public_properties
from providers.model import Kind, Provider

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
"""The largest page served; a larger ``limit`` is served as this (the standard asks for
that rather than an error)."""

# Public provider properties a CQL2 filter may name, with their JSON types: every scalar
# of public_properties (categories, a list, is filtered with the category parameter).
PROVIDER_QUERYABLES: dict[str, str] = {
    "id": "string",
    "name": "string",
    "kind": "string",
    "credit_grade": "string",
    "address": "string",
    "district": "string",
    "street": "string",
    "community": "string",
    "phone": "string",
    "opening_hours": "string",
    "practitioners": "integer",
    "certified_practitioners": "integer",
    "geocode_precision": "string",
    "approximate": "boolean",
    "synthetic": "boolean",
    # ISO dates compare as text in date order: `verified_at >= '2026-11-01'` works.
    "verified_at": "string",
}


@dataclass(frozen=True)
class Collection:
    """One collection: its id, title, description and the properties a filter may use."""

    id: str
    title: str
    description: str
    queryables: Mapping[str, str]
    kind: Kind | None = None  # provider collections: all providers, or one kind
    providers: bool = True
    extent: tuple[float, float, float, float] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def landing(base: str, title: str, description: str) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "links": [
            _link(f"{base}/ogc", "self", JSON, "this document"),
            _link(f"{base}/ogc?f=html", "alternate", HTML, "this document as HTML"),
            _link(
                f"{base}/openapi.json",
                "service-desc",
                "application/vnd.oai.openapi+json;version=3.0",
                "the API definition",
            ),
            _link(f"{base}/docs", "service-doc", HTML, "the API documentation"),
            _link(f"{base}/ogc/conformance", "conformance", JSON, "conformance classes"),
            _link(f"{base}/ogc/collections", "data", JSON, "the collections"),
        ],
    }


def conformance() -> dict[str, Any]:
    return {"conformsTo": CONFORMANCE}


def collection_doc(base: str, c: Collection) -> dict[str, Any]:
    url = f"{base}/ogc/collections/{c.id}"
    doc: dict[str, Any] = {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "links": [
            _link(url, "self", JSON, c.title),
            _link(f"{url}?f=html", "alternate", HTML, f"{c.title} as HTML"),
            _link(f"{url}/items", "items", GEOJSON, f"{c.title}: features"),
            _link(f"{url}/items?f=html", "items", HTML, f"{c.title}: features as HTML"),
            _link(
                f"{url}/queryables",
                "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "application/schema+json",
                "what a filter may name",
            ),
        ],
    }
    if c.extent is not None:
        doc["extent"] = {"spatial": {"bbox": [list(c.extent)], "crs": CRS84}}
    return doc


def collections_doc(base: str, collections: Sequence[Collection]) -> dict[str, Any]:
    return {
        "links": [
            _link(f"{base}/ogc/collections", "self", JSON, "the collections"),
            _link(f"{base}/ogc/collections?f=html", "alternate", HTML, "the collections as HTML"),
        ],
        "collections": [collection_doc(base, c) for c in collections],
    }


def queryables_doc(base: str, c: Collection) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/ogc/collections/{c.id}/queryables",
        "type": "object",
        "title": c.title,
        "properties": {name: {"type": kind} for name, kind in c.queryables.items()},
        "additionalProperties": False,
    }


def provider_feature(p: Provider, view: PublicView | None = None) -> dict[str, Any]:
    """A provider as a GeoJSON feature: its WGS-84 point and its public properties
    (business phones by ``view``'s rule, ``JZMAP_PUBLIC_PHONES``)."""
    return {
        "type": "Feature",
        "id": p.id,
        "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
        "properties": public_properties(p, view),
    }


def feature_doc(base: str, collection_id: str, feature: dict[str, Any]) -> dict[str, Any]:
    url = f"{base}/ogc/collections/{collection_id}/items/{feature['id']}"
    return {
        **feature,
        "links": [
            _link(url, "self", GEOJSON, "this feature"),
            _link(f"{url}?f=html", "alternate", HTML, "this feature as HTML"),
            _link(f"{base}/ogc/collections/{collection_id}", "collection", JSON, "its collection"),
        ],
    }


@dataclass(frozen=True)
class ItemsPage:
    """What an ``/items`` answer holds beside its features."""

    collection_id: str
    query: Mapping[str, str]  # the request's query parameters, to repeat in links
    next_cursor: str | None
    number_matched: int | None


def items_doc(base: str, page: ItemsPage, features: list[dict[str, Any]]) -> dict[str, Any]:
    url = f"{base}/ogc/collections/{page.collection_id}/items"
    query = {k: v for k, v in page.query.items() if k != "f"}
    links = [
        _link(_with(url, query), "self", GEOJSON, "this page"),
        _link(_with(url, {**query, "f": "html"}), "alternate", HTML, "this page as HTML"),
    ]
    if page.next_cursor is not None:
        links.append(
            _link(_with(url, {**query, "cursor": page.next_cursor}), "next", GEOJSON, "next page")
        )
    doc: dict[str, Any] = {
        "type": "FeatureCollection",
        "timeStamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "numberReturned": len(features),
        "features": features,
        "links": links,
    }
    if page.number_matched is not None:
        doc["numberMatched"] = page.number_matched
    return doc


def _with(url: str, query: Mapping[str, str]) -> str:
    return f"{url}?{urlencode(query)}" if query else url


def _link(href: str, rel: str, media_type: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": media_type, "title": title}


# -- HTML ---------------------------------------------------------------------------------


def html_page(title: str, doc: Mapping[str, Any]) -> str:
    """A plain page for a browser: the document's links, its collections or features as
    tables, every value escaped (no script, no style: the page needs neither)."""
    parts = [f"<h1>{_e(title)}</h1>"]
    if doc.get("description"):
        parts.append(f"<p>{_e(doc['description'])}</p>")
    if "conformsTo" in doc:
        parts.append(_list([_e(uri) for uri in doc["conformsTo"]]))
    if "collections" in doc:
        rows = [
            [_a(f"{c['links'][1]['href']}", c["title"]), _e(c["description"])]
            for c in doc["collections"]
        ]
        parts.append(_table(["collection", "description"], rows))
    if doc.get("type") == "FeatureCollection":
        matched = doc.get("numberMatched")
        count = f"{doc['numberReturned']:,}" + ("" if matched is None else f" of {matched:,}")
        parts.append(f"<p>{_e(count)} features</p>")
        parts.append(_features_table(doc["features"]))
    elif doc.get("type") == "Feature":
        parts.append(_features_table([doc]))
    links = doc.get("links", [])
    parts.append(_list([_a(link["href"], f"{link['rel']}: {link['title']}") for link in links]))
    return (
        '<!doctype html><html lang="zh"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title></head><body>{''.join(parts)}</body></html>"
    )


def _features_table(features: Sequence[Mapping[str, Any]]) -> str:
    names: list[str] = []
    for f in features:
        names.extend(k for k in f["properties"] if k not in names)
    rows = [
        [_e(json.dumps(f["geometry"]["coordinates"])[:120])]
        + [_e(_cell(f["properties"].get(n))) for n in names]
        for f in features
    ]
    return _table(["geometry", *names], rows)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table border="1"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'


def _list(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _a(href: str, text: str) -> str:
    return f'<a href="{_e(href)}">{_e(text)}</a>'


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)

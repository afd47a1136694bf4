"""The flat row shape both stores persist, and its conversion to and from providers.

One mapping for every backend, so a provider read back from SQLite or PostGIS is equal to
the one written.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from geo.crs import CRS
from geo.h3cells import STORED_RESOLUTIONS, stored_cells
from providers.model import Category, Grade, Kind, Precision, Provider

# Column order shared by the stores; ``h3_r*`` are derived and filled in by ``to_rows``.
CONTENT_COLUMNS: tuple[str, ...] = (
    "id",
    "kind",
    "name",
    "categories",
    "lon",
    "lat",
    "credit_code",
    "credit_grade",
    "grade_rank",
    "address",
    "district",
    "street",
    "community",
    "phone",
    "opening_hours",
    "practitioners",
    "certified_practitioners",
    "source_crs",
    "source_lon",
    "source_lat",
    "geocode_precision",
    "geocoder",
    "source",
    "active",
    "extra",
)
H3_COLUMNS: tuple[str, ...] = tuple(f"h3_r{res}" for res in STORED_RESOLUTIONS)
ALL_COLUMNS = CONTENT_COLUMNS + H3_COLUMNS


def content_row(p: Provider) -> dict[str, Any]:
    """The stored fields of ``p`` (categories as a sorted list, extra as JSON text)."""
    return {
        "id": p.id,
        "kind": p.kind.value,
        "name": p.name,
        "categories": sorted(c.value for c in p.categories),
        "lon": p.lon,
        "lat": p.lat,
        "credit_code": p.credit_code,
        "credit_grade": None if p.credit_grade is None else p.credit_grade.value,
        "grade_rank": p.grade_rank,
        "address": p.address,
        "district": p.district,
        "street": p.street,
        "community": p.community,
        "phone": p.phone,
        "opening_hours": p.opening_hours,
        "practitioners": p.practitioners,
        "certified_practitioners": p.certified_practitioners,
        "source_crs": p.source_crs.value,
        "source_lon": p.source_lon,
        "source_lat": p.source_lat,
        "geocode_precision": p.geocode_precision.value,
        "geocoder": p.geocoder,
        "source": p.source,
        "active": p.active,
        "extra": json.dumps(p.extra, ensure_ascii=False, sort_keys=True),
    }


def to_rows(providers: list[Provider]) -> list[dict[str, Any]]:
    """Rows with their H3 cells computed (once, vectorised over the batch)."""
    rows = [content_row(p) for p in providers]
    if rows:
        cells = stored_cells([r["lon"] for r in rows], [r["lat"] for r in rows])
        for res, values in cells.items():
            for row, cell in zip(rows, values.tolist(), strict=True):
                row[f"h3_r{res}"] = cell
    return rows


_KIND = {k.value: k for k in Kind}
_CATEGORY = {c.value: c for c in Category}
_GRADE = {g.value: g for g in Grade}
_CRS = {c.value: c for c in CRS}
_PRECISION = {p.value: p for p in Precision}


@functools.cache
def _category_set(values: tuple[str, ...]) -> frozenset[Category]:
    # Fifteen possible sets: share them rather than build one per provider.
    return frozenset(_CATEGORY[c] for c in values if c)


def _categories(value: str | list[str]) -> frozenset[Category]:
    return _category_set(tuple(value.split(",") if isinstance(value, str) else value))


def from_row(row: Sequence[Any]) -> Provider:
    """The provider a stored row describes.

    ``row`` holds the content columns in :data:`CONTENT_COLUMNS` order, by position (a
    tuple, ``sqlite3.Row``, a psycopg row); extra trailing columns are ignored.
    ``categories`` may come as a list (PostGIS) or comma-separated text (SQLite); numbers
    come typed from both drivers. Rows were validated when written, so this skips
    re-validation: it is on the hot path.
    """
    (
        id_, kind, name, categories, lon, lat, credit_code, grade, _rank, address, district,
        street, community, phone, hours, practitioners, certified, source_crs, source_lon,
        source_lat, precision, geocoder, source, active, extra,
    ) = row[: len(CONTENT_COLUMNS)]  # fmt: skip
    return Provider.trusted(
        id_,
        _KIND[kind],
        name,
        _categories(categories),
        lon,
        lat,
        credit_code,
        None if grade is None else _GRADE[grade],
        address,
        district,
        street,
        community,
        phone,
        hours,
        practitioners,
        certified,
        _CRS[source_crs],
        source_lon,
        source_lat,
        _PRECISION[precision],
        geocoder,
        source,
        bool(active),
        json.loads(extra) if isinstance(extra, str) else dict(extra or {}),
    )

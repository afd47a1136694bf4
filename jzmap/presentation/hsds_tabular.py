"""HSDS's tabular form: one CSV file per object type and a ``datapackage.json``.

The rows are the HSDS objects of :mod:`jzmap.presentation.hsds`, the very ones the JSON
export and the API give, taken apart: each nested list or object (a service's phones,
schedules, service areas, languages and attributes; a service at location's location and
its addresses; an attribute's taxonomy term) becomes rows of its own table, linked by the
ids the objects already carry (``service_id``, ``location_id``, …). An object reached
twice (a provider's phone, linked to its organization, its service and its service at
location; a taxonomy term shared by many services) is one row holding every link.

Each table's columns are the scalar properties of its object in the official compiled
schemas, in their order, so a column the schemas do not have cannot be written
(:class:`ValueError`), and the ``datapackage.json`` (Frictionless Data Package v1,
``tabular-data-package``) declares them with the schemas' types. HSDS marks
``opens_at``/``closes_at`` as times; they are declared as strings here, since they carry
the city's UTC offset (``09:00+08:00``) as HSDS asks, which a Table Schema ``time`` does
not allow.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jzmap.presentation.hsds import HSDS_VERSION, organization, schema_of, service
from jzmap.presentation.presenters import PublicView
from providers.model import Provider

# Which table a nested property's objects go to, and where each table's object schema is
# in the compiled schemas: (schema, path of properties down to the object).
_CHILD_TABLES = {
    "phones": "phones",
    "schedules": "schedules",
    "service_areas": "service_areas",
    "languages": "languages",
    "attributes": "attributes",
    "taxonomy_term": "taxonomy_terms",
    "service_at_locations": "service_at_locations",
    "location": "locations",
    "addresses": "addresses",
}
_TABLE_SCHEMAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "organizations": ("organization", ()),
    "services": ("service", ()),
    "phones": ("service", ("phones",)),
    "schedules": ("service", ("schedules",)),
    "service_areas": ("service", ("service_areas",)),
    "languages": ("service", ("languages",)),
    "attributes": ("service", ("attributes",)),
    "taxonomy_terms": ("service", ("attributes", "taxonomy_term")),
    "service_at_locations": ("service", ("service_at_locations",)),
    "locations": ("service", ("service_at_locations", "location")),
    "addresses": ("service", ("service_at_locations", "location", "addresses")),
}
TABLES = tuple(_TABLE_SCHEMAS)
_SCALARS = frozenset({"string", "number", "integer", "boolean"})
_TIMES_AS_TEXT = frozenset({"opens_at", "closes_at"})


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return schema["items"] if schema.get("type") == "array" else schema


@functools.cache
def table_fields(table: str) -> tuple[dict[str, str], ...]:
    """The Table Schema fields of ``table``: the scalar properties of its object in the
    official compiled schema, in the schema's order."""
    name, path = _TABLE_SCHEMAS[table]
    node = schema_of(name)
    for step in path:
        node = _object_schema(node["properties"][step])
    fields = []
    for prop, spec in node["properties"].items():
        kind = spec.get("type")
        if kind not in _SCALARS:
            continue
        field = {"name": prop, "type": str(kind)}
        declared = spec.get("datapackage_type")
        if declared in ("date", "datetime") and prop not in _TIMES_AS_TEXT:
            field["type"] = str(declared)
        elif spec.get("format") == "uuid":
            field["format"] = "uuid"
        fields.append(field)
    return tuple(fields)


def columns(table: str) -> list[str]:
    return [f["name"] for f in table_fields(table)]


def rows_of(table: str, obj: dict[str, Any], into: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Take ``obj`` (an object of ``table``) apart into ``into`` (table -> id -> row):
    its scalars are its row, its nested objects rows of their tables; an id seen before
    adds its links to the row already there.

    Raises
    ------
    ValueError
        A scalar the table has no column for (the schemas do not have it).
    """
    allowed = set(columns(table))
    row: dict[str, Any] = {}
    for key, value in obj.items():
        if key in _CHILD_TABLES and isinstance(value, (list, dict)):
            for child in value if isinstance(value, list) else [value]:
                rows_of(_CHILD_TABLES[key], child, into)
        elif key not in allowed:
            raise ValueError(f"{table}: {key!r} is not a column of HSDS's {table} table")
        else:
            row[key] = value
    kept = into.setdefault(table, {}).setdefault(str(obj["id"]), {})
    for key, value in row.items():
        if kept.get(key) not in (None, "", value):
            raise ValueError(f"{table} {obj['id']}: two values for {key!r}")
        kept[key] = value


def datapackage(counts: dict[str, int]) -> dict[str, Any]:
    """The ``datapackage.json`` of the tables (``counts``: rows of each, for its notes)."""
    return {
        "profile": "tabular-data-package",
        "name": "jzmap-hsds",
        "title": "Jiazheng Map (家政地图): domestic-service providers in HSDS 3.x, tabular",
        "version": HSDS_VERSION,
        "licenses": [
            {
                "name": "CC-BY-SA-4.0",
                "path": "https://creativecommons.org/licenses/by-sa/4.0/",
                "title": "HSDS schemas: Open Referral, CC BY-SA 4.0",
            }
        ],
        "resources": [
            {
                "profile": "tabular-data-resource",
                "name": table,
                "path": f"{table}.csv",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "description": f"{counts.get(table, 0):,} rows",
                "schema": {"fields": list(table_fields(table)), "primaryKey": ["id"]},
            }
            for table in TABLES
        ],
    }


def write_tabular(
    providers: Iterable[Provider], out_dir: Path, city: str, view: PublicView | None = None
) -> dict[str, int]:
    """Write ``<table>.csv`` for every table of :data:`TABLES` and ``datapackage.json``
    into ``out_dir``; how many rows each table holds. Files are written under temporary
    names and renamed once all are complete."""
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = {t: out_dir / f".{t}.csv.partial" for t in TABLES}
    files = {t: partial[t].open("w", encoding="utf-8", newline="") for t in TABLES}
    counts = dict.fromkeys(TABLES, 0)
    shared: set[str] = set()  # taxonomy terms: the same four for every provider
    try:
        writers = {t: csv.DictWriter(files[t], columns(t), lineterminator="\n") for t in TABLES}
        for writer in writers.values():
            writer.writeheader()
        for p in providers:
            into: dict[str, dict[str, dict[str, Any]]] = {}
            rows_of("organizations", organization(p, view), into)
            rows_of("services", service(p, city, view), into)
            for table, rows in into.items():
                for row_id, row in rows.items():
                    if table == "taxonomy_terms":
                        if row_id in shared:
                            continue
                        shared.add(row_id)
                    writers[table].writerow({k: _cell(v) for k, v in row.items()})
                    counts[table] += 1
    finally:
        for f in files.values():
            f.close()
    for table in TABLES:
        partial[table].replace(out_dir / f"{table}.csv")
    (out_dir / "datapackage.json").write_text(
        json.dumps(datapackage(counts), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return counts


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value

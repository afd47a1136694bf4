"""The providers in Open Referral's Human Services Data Specification (HSDS 3.x).

Each active provider is one ``organization`` (the company or station), one ``service``
(its domestic services, tagged with the four categories as taxonomy terms), one
``location`` and one ``service_at_location`` tying them together. What is public follows
the presenters (:func:`~jzmap.presentation.presenters.provider_out`): the same phone rule,
no practitioner, no private columns. Objects pass the official compiled schemas in the
strict form the specification checks with (:func:`strict_validator`).

Schedules come from the opening hours as the import parsed them (:func:`schedules`),
``assured_date`` from the record's ``verified_at`` (the last import that held it). Not
given because the registry does not hold them: ``last_modified``, postal codes (an
address's ``postal_code`` is empty).

Ids are UUIDs (HSDS requires them), derived from the provider id alone, so they stay the
same while a provider moves or changes: those a route looks up (services, services at
locations) and their siblings are of version 8 (RFC 9562, custom) and carry the id's
digest (:func:`~providers.store.id_digest`), so ``/hsds/services/{id}`` finds the
provider by an index on either store without a table of HSDS ids (a version 5 UUID cannot
be inverted, nor computed by PostgreSQL without an extension); schedules' ids are version
5 UUIDs of the provider id (:func:`stable_id`).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from geo.crs import CRS
from jzmap.presentation.presenters import PublicView, provider_out
from providers.hours import DAY_MINUTES, Schedule, schedule_of
from providers.model import Category, Kind, Precision, Provider
from providers.store import BBox, Filters, ProviderStore, TallyBy, id_digest

HSDS_VERSION = "3.0"
TAXONOMY = "jzmap-categories"
"""The taxonomy of the four service categories (养老, 居家, 母婴, 护理)."""
_NAMESPACE = uuid.UUID("6f1d3c1e-8a47-5b8e-9c55-3a7e0c2d9b41")


class ObjectType(IntEnum):
    """The HSDS object an id names (4 bits of it)."""

    ORGANIZATION = 1
    SERVICE = 2
    LOCATION = 3
    SERVICE_AT_LOCATION = 4
    PHONE = 5
    ADDRESS = 6
    SERVICE_AREA = 7
    LANGUAGE = 8
    ATTRIBUTE = 9


def _tail54(kind: ObjectType, provider_id: str, extra: int) -> int:
    text = f"{int(kind)}:{extra}:{provider_id}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:7]) >> 2


def _pack(payload: int) -> str:
    """A 122-bit payload as a UUID of version 8 (RFC 9562: custom)."""
    value = (
        ((payload >> 74) << 80)
        | (8 << 76)
        | (((payload >> 62) & 0xFFF) << 64)
        | (0b10 << 62)
        | (payload & (2**62 - 1))
    )
    return str(uuid.UUID(int=value))


def hsds_id(kind: ObjectType, p: Provider, extra: int = 0) -> str:
    """The HSDS id (a UUIDv8) of ``p``'s object of type ``kind``; ``extra`` tells apart
    several objects of one type (a service's attributes, one per category).

    Derived from the provider id alone, so it stays the same while the provider moves or
    its record changes: the object type (4 bits), the id's digest
    (:func:`~providers.store.id_digest`, 64 bits: what a lookup finds the provider by) and
    54 bits of a SHA-256 of the type, ``extra`` and the id.

    Examples
    --------
    >>> p = Provider(id="st-1", kind=Kind.STATION, name="站", lon=113.3245, lat=23.1064,
    ...              categories=frozenset({Category.NURSING}))
    >>> u = uuid.UUID(hsds_id(ObjectType.SERVICE, p))
    >>> u.version, u.variant == uuid.RFC_4122
    (8, True)
    >>> decode_id(str(u)) == (ObjectType.SERVICE, id_digest("st-1"))
    True
    >>> import dataclasses
    >>> hsds_id(ObjectType.SERVICE, dataclasses.replace(p, lon=113.5)) == str(u)
    True
    """
    digest = int(id_digest(p.id), 16)
    payload = (int(kind) << 118) | (digest << 54) | _tail54(kind, p.id, extra)
    return _pack(payload)


def decode_id(text: str) -> tuple[ObjectType, str] | None:
    """(type, provider id digest) of an id :func:`hsds_id` made; ``None`` for any other."""
    try:
        u = uuid.UUID(text)
    except ValueError:
        return None
    if u.version != 8 or u.variant != uuid.RFC_4122:
        return None
    value = u.int
    payload = ((value >> 80) << 74) | (((value >> 64) & 0xFFF) << 62) | (value & (2**62 - 1))
    try:
        kind = ObjectType(payload >> 118)
    except ValueError:
        return None
    return kind, f"{(payload >> 54) & (2**64 - 1):016x}"


def find_provider(store: ProviderStore, kind: ObjectType, object_id: str) -> Provider | None:
    """The active provider whose ``kind`` object has the HSDS id ``object_id``, or ``None``:
    found by the id's digest (an index on either store), then checked whole."""
    decoded = decode_id(object_id)
    if decoded is None or decoded[0] is not kind:
        return None
    found = store.with_id_digest(decoded[1])
    return next((p for p in found if hsds_id(kind, p) == object_id), None)


def stable_id(kind: str, p: Provider, part: str = "") -> str:
    """A UUID (version 5) of ``p``'s object of kind ``kind`` (and ``part``, telling apart
    several of one kind): derived from the provider id alone over a fixed namespace, so it
    stays the same while the provider moves or changes. For the objects no route looks up
    by id (schedules)."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{p.id}:{part}"))


@functools.cache
def _term(category: Category) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(_NAMESPACE, f"category:{category.value}")),
        "code": category.value,
        "name": category.label_zh,
        "description": f"{category.label_en} ({category.label_zh}), one of the four service "
        "categories of the city's domestic-services platform",
        "taxonomy": TAXONOMY,
        "language": "zh",
    }


def taxonomy_term_id(category: Category) -> str:
    """The HSDS taxonomy term id of a category (constant)."""
    return str(_term(category)["id"])


def category_of_term(term_id: str) -> Category | None:
    return next((c for c in Category if taxonomy_term_id(c) == term_id), None)


def _description(p: Provider) -> str:
    labels = "、".join(c.label_zh for c in sorted(p.categories))
    if p.kind is Kind.STATION:
        return f"基层服务站 (grassroots service station): {labels}"
    grade = "" if p.credit_grade is None else f", 信用等级 credit grade {p.credit_grade.value}"
    return f"家政服务企业 (domestic-service company{grade}): {labels}"


def _phones(p: Provider, link: dict[str, str], view: PublicView) -> list[dict[str, Any]]:
    number = provider_out(p, CRS.WGS84, view).phone  # the presenters' rule
    if not number:
        return []
    return [{"id": hsds_id(ObjectType.PHONE, p), "number": number, "type": "voice", **link}]


def organization(p: Provider, view: PublicView | None = None) -> dict[str, Any]:
    """The HSDS ``organization`` of ``p``."""
    org_id = hsds_id(ObjectType.ORGANIZATION, p)
    return {
        "id": org_id,
        "name": p.name,
        "description": _description(p),
        "phones": _phones(p, {"organization_id": org_id}, view or PublicView()),
    }


def location(p: Provider, city: str) -> dict[str, Any]:
    """The HSDS ``location`` of ``p``: WGS-84 coordinates unless it is located only to its
    district (then a stand-in point, not given)."""
    location_id = hsds_id(ObjectType.LOCATION, p)
    out: dict[str, Any] = {
        "id": location_id,
        "location_type": "physical",
        "organization_id": hsds_id(ObjectType.ORGANIZATION, p),
        "name": p.name,
    }
    if p.geocode_precision is not Precision.DISTRICT:
        out["latitude"] = round(p.lat, 7)
        out["longitude"] = round(p.lon, 7)
    if p.address:
        out["addresses"] = [
            {
                "id": hsds_id(ObjectType.ADDRESS, p),
                "location_id": location_id,
                "address_1": p.address,
                "city": city,
                "region": p.district,
                "state_province": "",
                "postal_code": "",
                "country": "CN",
                "address_type": "physical",
            }
        ]
    return out


def service_at_location(p: Provider, city: str, view: PublicView | None = None) -> dict[str, Any]:
    """The HSDS ``service_at_location`` of ``p``, its location inside."""
    sal_id = hsds_id(ObjectType.SERVICE_AT_LOCATION, p)
    return {
        "id": sal_id,
        "service_id": hsds_id(ObjectType.SERVICE, p),
        "location_id": hsds_id(ObjectType.LOCATION, p),
        "phones": _phones(p, {"service_at_location_id": sal_id}, view or PublicView()),
        "schedules": schedules(p, {"service_at_location_id": sal_id}),
        "location": location(p, city),
    }


_BYDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_CITY_OFFSET = "+08:00"  # Asia/Shanghai: one zone, no daylight saving time
_CITY_OFFSET_H = 8


def _clock(minute: int) -> str:
    """HH:MM with the city's offset, as HSDS asks (``opens_at``/``closes_at``)."""
    minute %= DAY_MINUTES
    return f"{minute // 60:02d}:{minute % 60:02d}{_CITY_OFFSET}"


def _holiday_note(s: Schedule) -> str | None:
    """What the weekly rule cannot say: how public holidays and make-up working days go."""
    if not s.follows_calendar:
        return None
    if s.holiday is None:
        on_holidays = "open as on that weekday"
    elif not s.holiday:
        on_holidays = "closed"
    else:
        on_holidays = ", ".join(f"{_clock(a)[:5]}–{_clock(b)[:5]}" for a, b in s.holiday)
    return (
        "Follows China's official public-holiday calendar (国家法定节假日): on public "
        f"holidays {on_holidays}; make-up working days (调休) keep Monday's hours."
    )


def schedules(p: Provider, link: dict[str, str]) -> list[dict[str, Any]]:
    """HSDS ``schedule`` objects of ``p``'s opening hours (:mod:`providers.hours`), each
    linked by ``link`` (``{"service_id": …}`` or ``{"service_at_location_id": …}``).

    One weekly schedule (``freq`` WEEKLY, ``byday``) per distinct interval, times in the
    city's offset (+08:00); an interval past midnight closes the next day (``closes_at``
    earlier than ``opens_at``); a whole day is 00:00–23:59. The registry's text is the
    ``description`` of each. Hours the parser could not read give one schedule with the
    text as its ``description`` only: never a guessed time. No hours, no schedules.
    """
    text = p.opening_hours.strip()
    if not text:
        return []
    link_name = next(iter(link))
    parsed = schedule_of(text)
    if parsed is None:
        return [{"id": stable_id(f"{link_name}-schedule", p), **link, "description": text}]
    days: dict[tuple[int, int], list[int]] = {}
    for weekday, intervals in enumerate(parsed.week):
        for interval in intervals:
            days.setdefault(interval, []).append(weekday)
    note = _holiday_note(parsed)
    out = []
    for (start, end), weekdays in sorted(days.items(), key=lambda item: (item[1], item[0])):
        whole_day = (start, end) == (0, DAY_MINUTES)
        out.append(
            {
                "id": stable_id(f"{link_name}-schedule", p, f"{start}-{end}"),
                **link,
                "freq": "WEEKLY",
                "wkst": "MO",
                "byday": ",".join(_BYDAY[d] for d in weekdays),
                "opens_at": _clock(start),
                "closes_at": f"23:59{_CITY_OFFSET}" if whole_day else _clock(end),
                "timezone": _CITY_OFFSET_H,
                "description": text,
                **({"notes": note} if note else {}),
            }
        )
    return out


def service(p: Provider, city: str, view: PublicView | None = None) -> dict[str, Any]:
    """The HSDS ``service`` of ``p``: categories as taxonomy attributes, its district as
    service area, Chinese as its language, its opening hours as schedules, its last
    verification as ``assured_date``, its service at location inside."""
    service_id = hsds_id(ObjectType.SERVICE, p)
    return {
        "id": service_id,
        "organization_id": hsds_id(ObjectType.ORGANIZATION, p),
        "name": p.name,
        "description": _description(p),
        "status": "active" if p.active else "inactive",
        **({"assured_date": p.verified_at.isoformat()} if p.verified_at else {}),
        "phones": _phones(p, {"service_id": service_id}, view or PublicView()),
        "schedules": schedules(p, {"service_id": service_id}),
        "service_areas": [
            {
                "id": hsds_id(ObjectType.SERVICE_AREA, p),
                "service_id": service_id,
                "name": p.district or city,
                "description": f"{city} {p.district}".strip(),
            }
        ],
        "languages": [
            {
                "id": hsds_id(ObjectType.LANGUAGE, p),
                "service_id": service_id,
                "name": "中文 Chinese",
                "code": "zh",
            }
        ],
        "attributes": [
            {
                "id": hsds_id(ObjectType.ATTRIBUTE, p, extra=j),
                "link_id": service_id,
                "taxonomy_term_id": taxonomy_term_id(category),
                "link_type": "category",
                "link_entity": "service",
                "value": category.value,
                "taxonomy_term": _term(category),
            }
            for j, category in enumerate(sorted(p.categories))
        ],
        "service_at_locations": [service_at_location(p, city, view)],
    }


# -- the official schemas, strict ----------------------------------------------------------

SCHEMAS = ("organization", "service", "service_at_location")


def _strict(node: Any) -> Any:
    """``additionalProperties: false`` on every object schema, as
    ``compiletojsonschema --set-additional-properties-false-everywhere`` does."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                # A map of names to schemas: each schema, never the map itself, is one.
                out[key] = {name: _strict(schema) for name, schema in value.items()}
                out["additionalProperties"] = False
            else:
                out[key] = _strict(value)
        return out
    if isinstance(node, list):
        return [_strict(value) for value in node]
    return node


@functools.cache
def schema_of(name: str) -> dict[str, Any]:
    """The official compiled HSDS schema ``name`` (one of :data:`SCHEMAS`), as shipped."""
    if name not in SCHEMAS:
        raise ValueError(f"no HSDS schema {name!r}; one of {', '.join(SCHEMAS)}")
    packed = resources.files("jzmap.presentation").joinpath(f"hsds_schemas/{name}.json.gz")
    schema: dict[str, Any] = json.loads(gzip.decompress(packed.read_bytes()))
    return schema


@functools.cache
def strict_validator(name: str) -> Draft202012Validator:
    """A validator of the official compiled HSDS schema ``name`` (one of
    :data:`SCHEMAS`), strict, checking formats (uuid, date, uri, ...) too."""
    schema = _strict(schema_of(name))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_problems(name: str, obj: dict[str, Any]) -> list[str]:
    """What makes ``obj`` fail the strict schema ``name`` (empty when it passes)."""
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}"
        for error in strict_validator(name).iter_errors(obj)
    ]


# -- the export ----------------------------------------------------------------------------

_WORLD = BBox(-180.0, -90.0, 180.0, 90.0)


def listed_providers(store: ProviderStore, limit: int) -> list[Provider]:
    """Every active provider, approximate ones too, first ``limit`` by id."""
    return store.within(_WORLD, Filters(include_approximate=True), limit)


def export_hsds(
    store: ProviderStore,
    out_dir: Path,
    city: str,
    *,
    validate: bool = False,
    view: PublicView | None = None,
) -> dict[str, int]:
    """Write ``organizations.json``, ``services.json`` and ``service_at_locations.json``
    (JSON arrays of HSDS objects) into ``out_dir``; how many objects each holds.

    With ``validate``, every object is checked against its strict schema first and a
    :class:`ValueError` names the first that fails (nothing is left half-written: the
    files are written under temporary names and renamed at the end).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    providers = listed_providers(store, 2**62)
    files: dict[str, tuple[str, Callable[[Provider], dict[str, Any]]]] = {
        "organizations.json": ("organization", lambda p: organization(p, view)),
        "services.json": ("service", lambda p: service(p, city, view)),
        "service_at_locations.json": (
            "service_at_location",
            lambda p: service_at_location(p, city, view),
        ),
    }
    counts: dict[str, int] = {}
    written: list[tuple[Path, Path]] = []
    for filename, (schema, build) in files.items():
        final = out_dir / filename
        partial = out_dir / f".{filename}.partial"
        with partial.open("w", encoding="utf-8") as f:
            counts[filename] = _write_array(f, (build(p) for p in providers), schema, validate)
        written.append((partial, final))
    for partial, final in written:
        partial.replace(final)
    return counts


def _write_array(f: Any, objects: Iterator[dict[str, Any]], schema: str, validate: bool) -> int:
    n = 0
    f.write("[")
    for obj in objects:
        if validate and (problems := schema_problems(schema, obj)):
            raise ValueError(f"{schema} {obj['id']} fails the HSDS schema: {problems[0]}")
        f.write(",\n" if n else "\n")
        f.write(json.dumps(obj, ensure_ascii=False))
        n += 1
    f.write("\n]\n")
    return n


# -- pages of the HSDS API -----------------------------------------------------------------

MAX_WINDOW = 10_000
"""The deepest result a page may reach (``page`` x ``per_page``): deeper, the export."""


@dataclass(frozen=True)
class Near:
    """A proximity search: within ``radius_m`` metres (geodesic, WGS-84 ellipsoid) of a
    WGS-84 point, nearest first."""

    lon: float
    lat: float
    radius_m: float


@dataclass(frozen=True)
class PageQuery:
    """One page of services or services at locations: ``page`` from 1."""

    page: int
    per_page: int
    category: Category | None = None
    near: Near | None = None


def hsds_page(
    store: ProviderStore, q: PageQuery, build: Callable[[Provider], dict[str, Any]]
) -> dict[str, Any]:
    """An HSDS API page (its ``Page`` fields and ``contents``) of the objects ``build``
    makes: by id, or nearest first for a proximity search (which leaves out providers
    located only to their district: their point is a stand-in). ``total_items`` is given
    when known without reading every match (not for a proximity search)."""
    upto = q.page * q.per_page
    total: int | None = None
    if q.near is not None:
        near = q.near
        filters = Filters(category=q.category, radius_m=near.radius_m)
        found = [c.provider for c in store.nearest(near.lon, near.lat, filters, upto + 1)]
    else:
        filters = Filters(category=q.category, include_approximate=True)
        found = store.within(_WORLD, filters, upto + 1)
        total = sum(store.tally(filters, TallyBy.DISTRICT).values())
    contents = [build(p) for p in found[upto - q.per_page : upto]]
    page: dict[str, Any] = {
        "page_number": q.page,
        "size": len(contents),
        "first_page": q.page == 1,
        "last_page": len(found) <= upto,
        "empty": not contents,
    }
    if total is not None:
        page["total_items"] = total
        page["total_pages"] = max(1, -(-total // q.per_page))
    return {**page, "contents": contents}


def api_meta(openapi_url: str) -> dict[str, str]:
    """The HSDS API's ``/`` answer."""
    return {
        "version": HSDS_VERSION,
        "profile": "https://docs.openreferral.org/en/latest/hsds/",
        "openapi_url": openapi_url,
    }

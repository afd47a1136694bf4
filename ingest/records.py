"""Source rows to providers: every failing field gives its own reason, all at once."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TypeVar

from geo.crs import CRS, to_wgs84
from providers.credit_code import credit_code_problem
from providers.identity import company_id, station_id
from providers.model import Category, Grade, InvalidProviderError, Kind, Precision, Provider

KNOWN_COLUMNS = frozenset(
    {
        "name", "kind", "credit_code", "credit_grade", "categories", "address", "district",
        "street", "community", "phone", "opening_hours", "practitioners",
        "certified_practitioners", "lon", "lat", "crs", "station_code", "geocode_precision",
    }
)  # fmt: skip
CATEGORY_SEPARATORS = ("、", ",", "，", ";", "；", "/", " ")


@dataclass(frozen=True, slots=True)
class Problem:
    column: str
    reason: str


@dataclass(slots=True)
class _Parsed:
    problems: list[Problem] = field(default_factory=list)

    def fail(self, column: str, reason: str) -> None:
        self.problems.append(Problem(column, reason))


def row_to_provider(
    cells: dict[str, str], default_crs: CRS | None = None
) -> Provider | list[Problem]:
    """The provider a row describes, or every problem that keeps it from being one."""
    get = {k.strip().lower(): v.strip() for k, v in cells.items()}
    parsed = _Parsed()

    kind = _enum(parsed, Kind, "kind", get.get("kind", ""))
    name = get.get("name", "")
    if not name:
        parsed.fail("name", "name is empty")
    categories = _categories(parsed, get.get("categories", ""))
    grade_text = get.get("credit_grade", "")
    grade = _enum(parsed, Grade, "credit_grade", grade_text.upper()) if grade_text else None
    credit_code = get.get("credit_code", "").upper() or None
    if kind is Kind.COMPANY:
        if credit_code is None:
            parsed.fail("credit_code", "a company needs its unified social credit code")
        elif problem := credit_code_problem(credit_code):
            parsed.fail("credit_code", problem)
        if grade is None and not grade_text:
            parsed.fail("credit_grade", "a company needs a credit grade (5A, 4A, 3A, 2A or A)")
    practitioners = _count(parsed, "practitioners", get.get("practitioners", ""))
    certified = _count(parsed, "certified_practitioners", get.get("certified_practitioners", ""))
    crs_text = get.get("crs", "")
    crs = _enum(parsed, CRS, "crs", crs_text.lower()) if crs_text else (default_crs or CRS.WGS84)
    lon = _number(parsed, "lon", get.get("lon", ""))
    lat = _number(parsed, "lat", get.get("lat", ""))
    precision_text = get.get("geocode_precision", "")
    precision = (
        _enum(parsed, Precision, "geocode_precision", precision_text.lower())
        if precision_text
        else Precision.EXACT
    )
    if parsed.problems or kind is None or crs is None or lon is None or lat is None:
        return parsed.problems or [Problem("row", "incomplete record")]

    wgs_lon, wgs_lat = to_wgs84(lon, lat, crs)
    district, street = get.get("district", ""), get.get("street", "")
    provider_id = (
        company_id(credit_code or "")
        if kind is Kind.COMPANY
        else station_id(
            station_code=get.get("station_code") or None,
            district=district,
            street=street,
            name=name,
        )
    )
    try:
        return Provider(
            id=provider_id,
            kind=kind,
            name=name,
            categories=categories,
            lon=wgs_lon,
            lat=wgs_lat,
            credit_code=credit_code if kind is Kind.COMPANY else None,
            credit_grade=grade,
            address=get.get("address", ""),
            district=district,
            street=street,
            community=get.get("community", ""),
            phone=get.get("phone", ""),
            opening_hours=get.get("opening_hours", ""),
            practitioners=practitioners or 0,
            certified_practitioners=certified or 0,
            source_crs=crs,
            source_lon=lon,
            source_lat=lat,
            geocode_precision=precision or Precision.EXACT,
            extra={k: v for k, v in cells.items() if k.strip().lower() not in KNOWN_COLUMNS},
        )
    except InvalidProviderError as exc:
        return [Problem("row", str(exc))]


E = TypeVar("E", Kind, Grade, CRS, Precision)


def _enum(parsed: _Parsed, enum: type[E], column: str, text: str) -> E | None:
    try:
        return enum(text)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        parsed.fail(column, f"{column} {text!r} is not one of: {allowed}")
        return None


def _categories(parsed: _Parsed, text: str) -> frozenset[Category]:
    for sep in CATEGORY_SEPARATORS[1:]:
        text = text.replace(sep, CATEGORY_SEPARATORS[0])
    values = [v for v in text.split(CATEGORY_SEPARATORS[0]) if v]
    if not values:
        parsed.fail("categories", "at least one category is required")
    found: set[Category] = set()
    for value in values:
        try:
            found.add(Category(value.lower()))
        except ValueError:
            allowed = ", ".join(c.value for c in Category)
            parsed.fail("categories", f"unknown category {value!r}; allowed: {allowed}")
    return frozenset(found)


def _number(parsed: _Parsed, column: str, text: str) -> float | None:
    if not text:
        parsed.fail(column, f"{column} is missing; this importer needs coordinates")
        return None
    try:
        value = float(text)
    except ValueError:
        parsed.fail(column, f"{column} {text!r} is not a number")
        return None
    if not math.isfinite(value):
        parsed.fail(column, f"{column} {text!r} is not a finite number")
        return None
    return value


def _count(parsed: _Parsed, column: str, text: str) -> int | None:
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        parsed.fail(column, f"{column} {text!r} is not a whole number")
        return None
    if value < 0:
        parsed.fail(column, f"{column} {value} is negative")
        return None
    return value

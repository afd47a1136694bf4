"""The provider model: companies and grassroots service stations.

Pure Python on purpose: the ranking, the stores, the API and the notebooks all share these
types, and none of them should need a web framework or a database driver to use them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from geo.crs import CRS
from geo.precision import Precision as Precision  # re-exported: part of the model
from providers.credit_code import credit_code_problem


class Kind(StrEnum):
    """What a provider is: a registered company or a grassroots service station (基层服务站)."""

    COMPANY = "company"
    STATION = "station"


class Category(StrEnum):
    """The four service categories of Guangzhou's domestic-services platform."""

    ELDERLY_CARE = "elderly_care"
    HOUSEKEEPING = "housekeeping"
    MATERNAL_INFANT = "maternal_infant"
    NURSING = "nursing"

    @property
    def label_zh(self) -> str:
        return _CATEGORY_LABELS_ZH[self]

    @property
    def label_en(self) -> str:
        return self.value.replace("_", " ").capitalize()


_CATEGORY_LABELS_ZH = {
    Category.ELDERLY_CARE: "养老",
    Category.HOUSEKEEPING: "居家",
    Category.MATERNAL_INFANT: "母婴",
    Category.NURSING: "护理",
}


class Grade(StrEnum):
    """Company credit grade under Guangzhou's local credit standard, best first."""

    A5 = "5A"
    A4 = "4A"
    A3 = "3A"
    A2 = "2A"
    A1 = "A"

    @property
    def rank(self) -> int:
        """5 for 5A down to 1 for A, so that ``>=`` means "at least as good"."""
        return _GRADE_RANKS[self]


_GRADE_RANKS = {Grade.A5: 5, Grade.A4: 4, Grade.A3: 3, Grade.A2: 2, Grade.A1: 1}


_PHONE_CHARS = re.compile(r"^[0-9+\-() ]*$")


class InvalidProviderError(ValueError):
    """A provider record breaks an invariant of the model; the message says which."""


@dataclass(frozen=True, slots=True)
class Provider:
    """One domestic-service provider as the public sees it.

    Coordinates are WGS-84 (EPSG:4326), longitude first. ``source_crs`` and
    ``source_lon``/``source_lat`` keep what the record came in with, so a conversion can
    always be audited.
    """

    id: str
    kind: Kind
    name: str
    categories: frozenset[Category]
    lon: float
    lat: float
    credit_code: str | None = None
    credit_grade: Grade | None = None
    address: str = ""
    district: str = ""
    street: str = ""
    community: str = ""
    phone: str = ""
    opening_hours: str = ""
    practitioners: int = 0
    certified_practitioners: int = 0
    source_crs: CRS = CRS.WGS84
    source_lon: float | None = None
    source_lat: float | None = None
    geocode_precision: Precision = Precision.EXACT
    # How the point was obtained: "record" (coordinates came with the record),
    # "gazetteer" (a boundary layer's stand-in point), "amap" (AMap's geocoder), ...
    geocoder: str = "record"
    # The dataset the record was imported from; a snapshot import of that dataset
    # deactivates its providers missing from the new file.
    source: str = ""
    active: bool = True
    # Unknown source columns, kept but never shown publicly; compared, not hashed.
    extra: dict[str, str] = field(default_factory=dict, hash=False)
    # The day the record was last verified: the date of the last import that held it
    # (inserted, updated or found unchanged). Not compared: it says when the content was
    # confirmed, not what it is, so a record re-imported unchanged stays equal (and the
    # stores count it unchanged) while its date moves on.
    verified_at: dt.date | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        problems = provider_problems(self)
        if problems:
            raise InvalidProviderError(f"provider {self.id!r}: " + "; ".join(problems))

    @classmethod
    def trusted(cls, *values: Any) -> Provider:
        """Build from every field's value, in declaration order, without re-checking the
        invariants: for records a store checked when they were written.

        Reading ten providers back for every nearest-match answer is on the hot path, and
        validating them again there would cost more than the spatial search itself.
        """
        provider = object.__new__(cls)
        setattr_ = object.__setattr__
        for name, value in zip(_FIELD_NAMES, values, strict=True):
            setattr_(provider, name, value)
        return provider

    @property
    def certified_share(self) -> float:
        """Share of practitioners holding the 安心服务证, 0 when there are none."""
        if self.practitioners <= 0:
            return 0.0
        return min(1.0, self.certified_practitioners / self.practitioners)

    @property
    def grade_rank(self) -> int | None:
        return None if self.credit_grade is None else self.credit_grade.rank


_FIELD_NAMES = tuple(f.name for f in fields(Provider))


def provider_problems(p: Provider) -> list[str]:
    """Every invariant ``p`` breaks, as messages a person can act on (empty when valid)."""
    problems: list[str] = []
    if not p.id:
        problems.append("id is empty")
    if not p.name.strip():
        problems.append("name is empty")
    if not p.categories:
        problems.append("at least one category is required")
    if not (math.isfinite(p.lon) and -180.0 <= p.lon <= 180.0):
        problems.append(f"lon {p.lon} is outside -180..180")
    if not (math.isfinite(p.lat) and -90.0 <= p.lat <= 90.0):
        problems.append(f"lat {p.lat} is outside -90..90")
    if p.kind is Kind.COMPANY:
        if p.credit_code is None:
            problems.append("a company needs its 18-character unified social credit code")
        else:
            code_problem = credit_code_problem(p.credit_code)
            if code_problem:
                problems.append(code_problem)
        if p.credit_grade is None:
            problems.append("a company needs a credit grade (5A, 4A, 3A, 2A or A)")
    elif p.credit_grade is not None:
        problems.append("grassroots service stations are not graded")
    if p.practitioners < 0 or p.certified_practitioners < 0:
        problems.append("practitioner counts cannot be negative")
    if p.certified_practitioners > p.practitioners:
        problems.append(
            f"certified practitioners ({p.certified_practitioners}) exceed "
            f"practitioners ({p.practitioners})"
        )
    if not _PHONE_CHARS.match(p.phone):
        problems.append(f"phone {p.phone!r} has characters other than digits, +, -, ( ) and spaces")
    return problems


def mask_phone(phone: str) -> str:
    """Hide the middle digits of a phone number for public responses.

    Keeps the area code of a landline or the first three digits of a mobile, and the
    last four digits, so a resident can still recognise a number they were given.

    Examples
    --------
    >>> mask_phone("13812345678")
    '138****5678'
    >>> mask_phone("020-83334567")
    '020-****4567'
    >>> mask_phone("")
    ''
    """
    digits = [i for i, ch in enumerate(phone) if ch.isdigit()]
    if len(digits) <= 4:
        return "*" * len(phone)
    keep_tail = set(digits[-4:])
    if "-" in phone:
        head_end = phone.index("-")
        keep_head = {i for i in digits if i < head_end}
    else:
        keep_head = set(digits[:3])
    return "".join(
        ch if (not ch.isdigit() or i in keep_head or i in keep_tail) else "*"
        for i, ch in enumerate(phone)
    )

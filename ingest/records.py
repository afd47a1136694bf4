"""One source row to a draft provider: every failing field gives its own reason, all at once.

Location checks (city boundary, swapped coordinates, district agreement) and geocoding need
many rows at a time to be fast, so they happen in the pipeline; this module reads cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from geo.crs import CRS
from ingest.headers import HeaderMap
from ingest.values import (
    fold,
    parse_categories,
    parse_coordinate,
    parse_count,
    parse_crs,
    parse_grade,
    parse_kind,
    parse_phone,
    split_phones,
)
from providers.credit_code import credit_code_problem
from providers.model import Kind


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong (or, for a warning, worth a look) in which column."""

    column: str
    reason: str


@dataclass(frozen=True, slots=True)
class RowDefaults:
    """What the command line says for rows that do not say it themselves."""

    kind: Kind | None = None
    crs: CRS | None = None


@dataclass(slots=True)
class Draft:
    """A row on its way to becoming a provider."""

    line: int
    cells: dict[str, str]  # the original cells by header, for rejects and extras
    fields: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def fail(self, column: str, reason: str) -> None:
        self.problems.append(Problem(column, reason))

    @property
    def has_coordinates(self) -> bool:
        return self.fields.get("lon") is not None and self.fields.get("lat") is not None


def draft_row(
    line: int, headers: list[str], values: list[str], header: HeaderMap, defaults: RowDefaults
) -> Draft:
    """Parse every understood cell of a row; keep the others as extras."""
    draft = Draft(line=line, cells=dict(zip(headers, values, strict=True)))
    raws = {name: values[position].strip() for name, position in header.fields.items()}

    def raw(name: str) -> str:
        return raws.get(name, "")

    def column(name: str) -> str:
        position = header.fields.get(name)
        return name if position is None else headers[position]

    def take(name: str, parsed: tuple[object, str | None]) -> Any:
        value, problem = parsed
        if problem:
            draft.fail(column(name), problem)
        return value

    f = draft.fields
    f["name"] = raw("name")
    if not f["name"]:
        draft.fail(column("name"), "name is empty")
    kind = take("kind", parse_kind(raw("kind"))) or defaults.kind
    if kind is None and not any(p.column == column("kind") for p in draft.problems):
        draft.fail(column("kind"), "kind unknown: add a 类型 column or use --kind")
    f["kind"] = kind
    code = fold(raw("credit_code")).upper() or None
    if code is not None and (problem := credit_code_problem(code)):
        draft.fail(column("credit_code"), problem)
    if kind is Kind.COMPANY and code is None:
        draft.fail(column("credit_code"), "a company needs its 18-character credit code")
    f["credit_code"] = code
    grade = take("credit_grade", parse_grade(raw("credit_grade")))
    if kind is Kind.COMPANY and grade is None and not raw("credit_grade"):
        draft.fail(column("credit_grade"), "a company needs a credit grade (5A … A)")
    if kind is Kind.STATION and grade is not None:
        draft.fail(column("credit_grade"), "grassroots service stations are not graded")
    f["credit_grade"] = grade
    f["categories"] = take("categories", parse_categories(raw("categories")))
    phones = split_phones(raw("phone"))
    f["phone"] = take("phone", parse_phone(phones[0] if phones else "")) or ""
    if f["phone"] and len(phones) > 1:
        draft.warnings.append(Problem(column("phone"), "several numbers: the first is shown"))
    practitioners = take(
        "practitioners", parse_count(raw("practitioners"), column("practitioners"))
    )
    certified = take(
        "certified_practitioners",
        parse_count(raw("certified_practitioners"), column("certified_practitioners")),
    )
    if practitioners is not None and certified is not None and certified > practitioners:
        draft.fail(
            column("certified_practitioners"),
            f"{certified} certified holders but only {practitioners} practitioners",
        )
    f["practitioners"], f["certified_practitioners"] = practitioners or 0, certified or 0
    f["crs"] = take("crs", parse_crs(raw("crs"))) or defaults.crs or CRS.WGS84
    lon = take("lon", parse_coordinate(raw("lon"), column("lon")))
    lat = take("lat", parse_coordinate(raw("lat"), column("lat")))
    if bool(raw("lon")) != bool(raw("lat")):
        missing = "lat" if not raw("lat") else "lon"
        draft.fail(column(missing), f"{column(missing)} is missing while the other is given")
    f["lon"], f["lat"] = lon, lat
    for name in ("address", "district", "street", "community", "opening_hours", "station_code"):
        f[name] = raw(name)
    f["extra"] = {h: values[i].strip() for h, i in header.extras.items() if values[i].strip()}
    return draft

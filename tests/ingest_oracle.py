"""The row-by-row importer, kept as the oracle for the batch one (ingest/).

This is the importer as it was before validation went column by column: each row parsed
on its own by the parsers of :mod:`ingest.values`, located, built as a provider (the
model checking it) and counted, one at a time. Slow and plain on purpose: it says what
the batch importer must produce, row for row and reason for reason.

Differences from the original, each one on purpose: a count cell of digits that are not
decimal (``፩``) is a reason here as in the batch importer, where it used to crash the
import; a geocoded point outside every district leaves the district empty; and a cell over
its length limit, or holding a NUL, rejects its row unparsed (:mod:`ingest.limits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import ingest.pipeline
from geo.boundaries import CityBoundary
from geo.crs import CRS, to_wgs84
from geo.geocoding import AddressQuery, GeocoderChain
from geo.precision import Precision
from ingest import IngestOptions, IngestReport, RowWarning
from ingest.headers import HeaderMap, map_headers
from ingest.limits import PROVIDER_CHARS, column_limits, shortened
from ingest.pipeline import Reject
from ingest.readers import cells_of, read_table
from ingest.records import Problem, RowDefaults
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
from providers.hours import parse_hours
from providers.identity import company_id, station_id
from providers.model import InvalidProviderError, Kind, Provider


@dataclass(slots=True)
class Draft:
    line: int
    cells: dict[str, str]
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
    draft = Draft(line=line, cells=cells_of(headers, values))
    if _refuse_unstorable(draft, headers, values, header):
        return draft
    row = _Row(draft, headers, values, header)
    # Field by field, in the order a reader of the row meets them (so are its reasons).
    _identity(row, defaults)
    _offer(row)
    _place(row, defaults)
    return draft


def _refuse_unstorable(
    draft: Draft, headers: list[str], values: list[str], header: HeaderMap
) -> bool:
    """A cell over its limit, or holding what no store keeps, rejects the row unparsed."""
    limits = column_limits(len(headers), header, PROVIDER_CHARS)
    for j, cell in enumerate(values):
        label = headers[j].strip() or f"column {j + 1}"
        if len(cell) > limits[j]:
            draft.fail(
                label, f"{label} has {len(cell):,} characters; at most {limits[j]:,} are allowed"
            )
            continue
        for ch in cell:
            if ch == "\x00" or "\ud800" <= ch <= "\udfff":
                what = "a NUL character" if ch == "\x00" else "a lone surrogate"
                draft.fail(label, f"{label} holds {what} ({ch!a}), which cannot be stored")
                break
    if draft.problems:
        draft.cells = cells_of(headers, shortened(values, limits))
    return bool(draft.problems)


class _Row:
    """One row's stripped cells by field, and its draft to fill."""

    def __init__(
        self, draft: Draft, headers: list[str], values: list[str], header: HeaderMap
    ) -> None:
        self.draft, self.headers, self.values, self.header = draft, headers, values, header
        self.raws = {name: values[position].strip() for name, position in header.fields.items()}

    def raw(self, name: str) -> str:
        return self.raws.get(name, "")

    def column(self, name: str) -> str:
        position = self.header.fields.get(name)
        return name if position is None else self.headers[position]

    def fail(self, name: str, reason: str) -> None:
        self.draft.fail(self.column(name), reason)

    def take(self, name: str, parsed: tuple[object, str | None]) -> Any:
        value, problem = parsed
        if problem:
            self.fail(name, problem)
        return value


def _identity(row: _Row, defaults: RowDefaults) -> None:
    """Name, kind, credit code and grade (which the kind decides are required)."""
    f, raw = row.draft.fields, row.raw
    f["name"] = raw("name")
    if not f["name"]:
        row.fail("name", "name is empty")
    kind = row.take("kind", parse_kind(raw("kind"))) or defaults.kind
    if kind is None and not any(p.column == row.column("kind") for p in row.draft.problems):
        row.fail("kind", "kind unknown: add a 类型 column or use --kind")
    f["kind"] = kind
    code = fold(raw("credit_code")).upper() or None
    if code is not None and (problem := credit_code_problem(code)):
        row.fail("credit_code", problem)
    if kind is Kind.COMPANY and code is None:
        row.fail("credit_code", "a company needs its 18-character credit code")
    f["credit_code"] = code
    grade = row.take("credit_grade", parse_grade(raw("credit_grade")))
    if kind is Kind.COMPANY and grade is None and not raw("credit_grade"):
        row.fail("credit_grade", "a company needs a credit grade (5A … A)")
    if kind is Kind.STATION and grade is not None:
        row.fail("credit_grade", "grassroots service stations are not graded")
    f["credit_grade"] = grade


def _offer(row: _Row) -> None:
    """Categories, phone and practitioner counts."""
    f, raw = row.draft.fields, row.raw
    f["categories"] = row.take("categories", parse_categories(raw("categories")))
    phones = split_phones(raw("phone"))
    f["phone"] = row.take("phone", parse_phone(phones[0] if phones else "")) or ""
    if f["phone"] and len(phones) > 1:
        row.draft.warnings.append(
            Problem(row.column("phone"), "several numbers: the first is shown")
        )
    practitioners = row.take(
        "practitioners", parse_count(raw("practitioners"), row.column("practitioners"))
    )
    certified = row.take(
        "certified_practitioners",
        parse_count(raw("certified_practitioners"), row.column("certified_practitioners")),
    )
    if practitioners is not None and certified is not None and certified > practitioners:
        row.fail(
            "certified_practitioners",
            f"{certified} certified holders but only {practitioners} practitioners",
        )
    f["practitioners"], f["certified_practitioners"] = practitioners or 0, certified or 0


def _place(row: _Row, defaults: RowDefaults) -> None:
    """CRS, coordinates, the address fields and the unknown columns."""
    f, raw = row.draft.fields, row.raw
    f["crs"] = row.take("crs", parse_crs(raw("crs"))) or defaults.crs or CRS.WGS84
    lon = row.take("lon", parse_coordinate(raw("lon"), row.column("lon")))
    lat = row.take("lat", parse_coordinate(raw("lat"), row.column("lat")))
    if bool(raw("lon")) != bool(raw("lat")):
        missing = "lat" if not raw("lat") else "lon"
        row.fail(missing, f"{row.column(missing)} is missing while the other is given")
    f["lon"], f["lat"] = lon, lat
    for name in ("address", "district", "street", "community", "opening_hours", "station_code"):
        f[name] = raw(name)
    hours = parse_hours(f["opening_hours"]) if f["opening_hours"] else None
    if hours is not None and hours.schedule is None:
        row.draft.warnings.append(
            Problem(row.column("opening_hours"), f"opening hours kept as written, {hours.problem}")
        )
    values = row.values
    f["extra"] = {h: values[i].strip() for h, i in row.header.extras.items() if values[i].strip()}


def oracle_import(
    paths: Sequence[Path],
    city: CityBoundary,
    geocoders: GeocoderChain | None,
    options: IngestOptions,
) -> tuple[IngestReport, list[Provider]]:
    """What an import of ``paths`` reports and stores, row by row (a dry run)."""
    report = IngestReport(files=[str(p) for p in paths], mode=options.mode, dry_run=True)
    defaults = RowDefaults(kind=options.kind, crs=options.crs)
    seen: dict[str, tuple[str, int]] = {}
    stored: list[Provider] = []
    for path in paths:
        table = read_table(path, encoding=options.encoding, sheet=options.sheet)
        header = map_headers(table.headers)
        if table.encoding:
            report.encodings[path.name] = table.encoding
        source = options.source or path.stem
        drafts = [
            draft_row(line, table.headers, values, header, defaults)
            for line, values in zip(table.lines, table.records, strict=True)
        ]
        # In batches, as the importer always went: a converted point's last bits depend
        # on the points converted with it (geo.crs iterates until all have converged).
        for start in range(0, len(drafts), ingest.pipeline.BATCH_ROWS):
            batch = drafts[start : start + ingest.pipeline.BATCH_ROWS]
            located = [d for d in batch if not d.problems and d.has_coordinates]
            if located:
                _check_points(city, located)
            for draft in batch:
                if not draft.problems and not draft.has_coordinates:
                    _geocode(city, geocoders, draft)
        for draft in drafts:
            report.rows_read += 1
            provider = _finish(draft, source) if not draft.problems else None
            if provider is not None and provider.id in seen:
                first_file, first_line = seen[provider.id]
                draft.fail(
                    "row",
                    f"same provider as line {first_line} of {first_file} "
                    f"({provider.credit_code or provider.id}); keep one of them",
                )
                provider = None
            for w in draft.warnings:
                report.warnings.append(RowWarning(path.name, draft.line, w.column, w.reason))
            if provider is None:
                report.rejects.append(
                    Reject(path.name, draft.line, tuple(draft.problems), draft.cells)
                )
                report.rejected += 1
                continue
            seen[provider.id] = (path.name, draft.line)
            report.accepted += 1
            report.precision[provider.geocode_precision.value] += 1
            report.geocoder[provider.geocoder] += 1
            report.by_district[provider.district or "?"] += 1
            for c in provider.categories:
                report.by_category[c.value] += 1
            stored.append(provider)
    return report, stored


def _geocode(city: CityBoundary, geocoders: GeocoderChain | None, draft: Draft) -> None:
    f = draft.fields
    if geocoders is None or not geocoders.geocoders:
        draft.fail("lon", "no coordinates, and no geocoder is configured to find the address")
        return
    query = AddressQuery(address=f["address"], district=f["district"], street=f["street"])
    found, failures = geocoders.geocode(query)
    if found is None:
        why = "; ".join(failures) or "no geocoder found it"
        draft.fail("address", f"no coordinates and the address was not found ({why})")
        return
    f["lon"], f["lat"], f["crs"] = found.lon, found.lat, CRS.WGS84
    f["source_lon"] = f["source_lat"] = None
    f["wgs_lon"], f["wgs_lat"] = found.lon, found.lat
    f["precision"], f["geocoder"] = found.precision, found.geocoder
    if not f["district"]:
        (f["district"],) = city.district_names([found.lon], [found.lat])
        f["district"] = f["district"] or ""


def _check_points(city: CityBoundary, drafts: list[Draft]) -> None:
    lon = np.array([d.fields["lon"] for d in drafts], dtype=np.float64)
    lat = np.array([d.fields["lat"] for d in drafts], dtype=np.float64)
    wlon, wlat = np.empty_like(lon), np.empty_like(lat)
    slon, slat = np.empty_like(lon), np.empty_like(lat)
    crs = [d.fields["crs"] for d in drafts]
    for system in set(crs):
        mask = np.array([c is system for c in crs])
        wlon[mask], wlat[mask] = to_wgs84(lon[mask], lat[mask], system)
        slon[mask], slat[mask] = to_wgs84(lat[mask], lon[mask], system)
    plausible = (np.abs(wlat) <= 90) & (np.abs(wlon) <= 180)
    inside = plausible & city.contains(np.where(plausible, wlon, 0), np.where(plausible, wlat, 0))
    swapped = ~inside & (np.abs(slat) <= 90) & city.contains(slon, np.clip(slat, -90, 90))
    outside = ~inside & ~swapped
    distance = np.zeros_like(lon)
    if outside.any():
        distance[outside] = city.distance_m(
            np.clip(wlon[outside], -180, 180), np.clip(wlat[outside], -89.9, 89.9)
        )
    districts = city.district_names(np.where(inside, wlon, 0), np.where(inside, wlat, 0))
    for i, draft in enumerate(drafts):
        f = draft.fields
        if swapped[i]:
            draft.fail("lat", "latitude and longitude look swapped")
        elif outside[i]:
            km = distance[i] / 1000
            draft.fail(
                "lon",
                f"point ({f['lon']}, {f['lat']}, {f['crs']}) is {km:,.1f} km outside the city",
            )
        else:
            f["wgs_lon"], f["wgs_lat"] = float(wlon[i]), float(wlat[i])
            f["source_lon"], f["source_lat"] = f["lon"], f["lat"]
            f["precision"], f["geocoder"] = Precision.EXACT, "record"
            found = districts[i]
            given = f["district"]
            if found is None:
                continue
            if not given:
                f["district"] = found
            elif not (given in found or found.startswith(given.removesuffix("区"))):
                draft.warnings.append(
                    Problem("district", f"the row says {given} but its point lies in {found}")
                )


def _finish(draft: Draft, source: str) -> Provider | None:
    f = draft.fields
    kind: Kind = f["kind"]
    provider_id = (
        company_id(f["credit_code"])
        if kind is Kind.COMPANY
        else station_id(
            station_code=f["station_code"] or None,
            district=f["district"],
            street=f["street"],
            name=f["name"],
        )
    )
    try:
        return Provider(
            id=provider_id,
            kind=kind,
            name=f["name"],
            categories=f["categories"],
            lon=f["wgs_lon"],
            lat=f["wgs_lat"],
            credit_code=f["credit_code"],
            credit_grade=f["credit_grade"],
            address=f["address"],
            district=f["district"],
            street=f["street"],
            community=f["community"],
            phone=f["phone"],
            opening_hours=f["opening_hours"],
            practitioners=f["practitioners"],
            certified_practitioners=f["certified_practitioners"],
            source_crs=f["crs"],
            source_lon=f["source_lon"],
            source_lat=f["source_lat"],
            geocode_precision=f["precision"],
            geocoder=f["geocoder"],
            source=source,
            extra=f["extra"],
        )
    except InvalidProviderError as exc:
        draft.fail("row", str(exc))
        return None

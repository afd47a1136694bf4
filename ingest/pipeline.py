"""Load registry files into a store: every row ends up stored or in the rejects report.

Files are read and their headers checked before anything is written, so a file that cannot
be processed at all changes nothing. Rows are then validated in batches (coordinates are
checked against the city for a whole batch at once), geocoded when they have no
coordinates, and streamed into one store transaction: an import lands whole or not at all,
and loading the same file again changes nothing.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from geo.boundaries import CityBoundary
from geo.crs import CRS, to_wgs84
from geo.geocoding import AddressQuery, GeocoderChain
from geo.precision import Precision
from ingest.headers import REPORT_COLUMNS, HeaderError, HeaderMap, map_headers
from ingest.readers import FORMULA_START, Table, UnreadableFileError, read_table
from ingest.records import Draft, Problem, RowDefaults, draft_row
from providers.identity import company_id, station_id
from providers.model import InvalidProviderError, Kind, Provider
from providers.store import ProviderStore

BATCH_ROWS = 5_000
Mode = Literal["append", "snapshot"]


@dataclass(frozen=True)
class IngestOptions:
    kind: Kind | None = None
    crs: CRS | None = None
    encoding: str | None = None
    sheet: str | None = None
    mode: Mode = "append"
    source: str | None = None  # default: the file's name without extension
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class Reject:
    file: str
    line: int
    problems: tuple[Problem, ...]
    cells: dict[str, str]


@dataclass(frozen=True, slots=True)
class RowWarning:
    file: str
    line: int
    column: str
    message: str


@dataclass
class IngestReport:
    """What an import did. ``rows_read == stored + rejected`` always holds."""

    files: list[str] = field(default_factory=list)
    encodings: dict[str, str] = field(default_factory=dict)
    mode: Mode = "append"
    dry_run: bool = False
    rows_read: int = 0
    accepted: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    rejected: int = 0
    precision: Counter[str] = field(default_factory=Counter)
    geocoder: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    by_district: Counter[str] = field(default_factory=Counter)
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[RowWarning] = field(default_factory=list)

    @property
    def stored(self) -> int:
        """Rows stored (or, in a dry run, that would be)."""
        return self.accepted

    @property
    def changed_nothing(self) -> bool:
        return not self.dry_run and self.inserted + self.updated + self.deactivated == 0

    def to_dict(self, *, with_cells: bool = False) -> dict[str, object]:
        """The summary with every reject (line, problems; and cells when asked) and
        warning: the JSON report of ``--report`` and of the admin API."""
        data = self.summary()
        data["rejects"] = [
            {
                "file": r.file,
                "line": r.line,
                "problems": [{"column": p.column, "reason": p.reason} for p in r.problems],
                **({"cells": r.cells} if with_cells else {}),
            }
            for r in self.rejects
        ]
        data["warning_list"] = [
            {"file": w.file, "line": w.line, "column": w.column, "message": w.message}
            for w in self.warnings
        ]
        return data

    def summary(self) -> dict[str, object]:
        return {
            "files": self.files,
            "encodings": self.encodings,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "rows_read": self.rows_read,
            "stored": self.stored,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deactivated": self.deactivated,
            "rejected": self.rejected,
            "warnings": len(self.warnings),
            "precision": dict(self.precision),
            "geocoder": dict(self.geocoder),
            "by_category": dict(self.by_category),
            "by_district": dict(self.by_district),
        }


class Ingester:
    """Validates, locates and stores registry rows.

    Parameters
    ----------
    city
        Where providers may be: points outside are rejected with their distance.
    geocoders
        For rows without coordinates; ``None`` rejects such rows.
    on_progress
        Called with (rows done, rows in all files) after every batch.
    """

    def __init__(
        self,
        city: CityBoundary,
        geocoders: GeocoderChain | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.city = city
        self.geocoders = geocoders
        self.on_progress = on_progress

    def run(
        self, paths: Sequence[Path], store: ProviderStore | None, options: IngestOptions
    ) -> IngestReport:
        """Import ``paths`` into ``store`` (or only validate, with ``dry_run``).

        Raises
        ------
        UnreadableFileError
            When a file cannot be processed at all; nothing is written then.
        """
        if options.mode == "snapshot" and len(paths) > 1 and not options.source:
            raise UnreadableFileError(
                "a snapshot of several files needs --source NAME (whose providers it replaces)"
            )
        report = IngestReport(
            files=[str(p) for p in paths], mode=options.mode, dry_run=options.dry_run
        )
        loaded: list[tuple[Path, Table, HeaderMap]] = []
        for path in paths:
            table = read_table(path, encoding=options.encoding, sheet=options.sheet)
            try:
                loaded.append((path, table, map_headers(table.headers)))
            except HeaderError as exc:
                raise UnreadableFileError(f"{path.name}: {exc}") from exc
            if table.encoding:
                report.encodings[path.name] = table.encoding
        providers = self._providers(loaded, options, report)
        if options.dry_run or store is None:
            for _ in providers:
                pass
            return report
        replace = (options.source or paths[0].stem) if options.mode == "snapshot" else None
        counts = store.upsert(providers, replace_source=replace)
        report.inserted, report.updated = counts.inserted, counts.updated
        report.unchanged, report.deactivated = counts.unchanged, counts.deactivated
        return report

    def _providers(
        self,
        loaded: list[tuple[Path, Table, HeaderMap]],
        options: IngestOptions,
        report: IngestReport,
    ) -> Iterator[Provider]:
        defaults = RowDefaults(kind=options.kind, crs=options.crs)
        seen: dict[str, tuple[str, int]] = {}
        total = sum(len(table.rows) for _, table, _ in loaded)
        for path, table, header in loaded:
            source = options.source or path.stem
            for start in range(0, len(table.rows), BATCH_ROWS):
                batch = table.rows[start : start + BATCH_ROWS]
                drafts = [
                    draft_row(r.line, table.headers, r.values, header, defaults) for r in batch
                ]
                self._locate(drafts)
                for draft in drafts:
                    report.rows_read += 1
                    provider = _finish(draft, source) if not draft.problems else None
                    if provider is not None and provider.id in seen:
                        first_file, first_line = seen[provider.id]
                        draft.fail(
                            "row", f"same provider as line {first_line} of {first_file} "
                            f"({provider.credit_code or provider.id}); keep one of them"
                        )  # fmt: skip
                        provider = None
                    for w in draft.warnings:
                        report.warnings.append(
                            RowWarning(path.name, draft.line, w.column, w.reason)
                        )
                    if provider is None:
                        report.rejects.append(
                            Reject(path.name, draft.line, tuple(draft.problems), draft.cells)
                        )
                        report.rejected += 1
                        continue
                    seen[provider.id] = (path.name, draft.line)
                    _count(report, provider)
                    yield provider
                if self.on_progress is not None:
                    self.on_progress(report.rows_read, total)

    def _locate(self, drafts: list[Draft]) -> None:
        """Check given points against the city (a whole batch at once); geocode the rest."""
        located = [d for d in drafts if not d.problems and d.has_coordinates]
        if located:
            _check_points(self.city, located)
        for draft in drafts:
            if draft.problems or draft.has_coordinates:
                continue
            self._geocode(draft)

    def _geocode(self, draft: Draft) -> None:
        f = draft.fields
        if self.geocoders is None or not self.geocoders.geocoders:
            draft.fail("lon", "no coordinates, and no geocoder is configured to find the address")
            return
        query = AddressQuery(address=f["address"], district=f["district"], street=f["street"])
        found, failures = self.geocoders.geocode(query)
        if found is None:
            why = "; ".join(failures) or "no geocoder found it"
            draft.fail("address", f"no coordinates and the address was not found ({why})")
            return
        f["lon"], f["lat"], f["crs"] = found.lon, found.lat, CRS.WGS84
        f["source_lon"] = f["source_lat"] = None
        f["wgs_lon"], f["wgs_lat"] = found.lon, found.lat
        f["precision"], f["geocoder"] = found.precision, found.geocoder
        if not f["district"]:
            (f["district"],) = self.city.district_names([found.lon], [found.lat])


def _check_points(city: CityBoundary, drafts: list[Draft]) -> None:
    lon = np.array([d.fields["lon"] for d in drafts], dtype=np.float64)
    lat = np.array([d.fields["lat"] for d in drafts], dtype=np.float64)
    wlon, wlat = np.empty_like(lon), np.empty_like(lat)
    slon, slat = np.empty_like(lon), np.empty_like(lat)  # as if lat/lon were swapped
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
            _check_district(draft, districts[i])


def _check_district(draft: Draft, found: str | None) -> None:
    given = draft.fields["district"]
    if found is None:
        return
    if not given:
        draft.fields["district"] = found
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
        # The row parsers check every invariant first; this is the model's last word.
        draft.fail("row", str(exc))
        return None


def _count(report: IngestReport, p: Provider) -> None:
    report.accepted += 1
    report.precision[p.geocode_precision.value] += 1
    report.geocoder[p.geocoder] += 1
    report.by_district[p.district or "?"] += 1
    for c in p.categories:
        report.by_category[c.value] += 1


def _safe(cell: str) -> str:
    """A cell Excel will show as text: a leading apostrophe keeps ``=cmd|…`` inert."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def write_rejects(report: IngestReport, path: Path) -> None:
    """Rejected rows as CSV, UTF-8 with BOM (so Excel opens it right): the original cells,
    then ``_file``, ``_line``, ``_columns`` and ``_reasons``. Fix the cells and load the
    file back as it is; the report columns are ignored on the way in."""
    columns: list[str] = []
    for reject in report.rejects:
        columns.extend(c for c in reject.cells if c not in columns and c not in REPORT_COLUMNS)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([*columns, *REPORT_COLUMNS[:4]])
        for reject in report.rejects:
            writer.writerow(
                [
                    *(_safe(reject.cells.get(c, "")) for c in columns),
                    reject.file,
                    reject.line,
                    " | ".join(p.column for p in reject.problems),
                    _safe(" | ".join(p.reason for p in reject.problems)),
                ]
            )


def write_report(report: IngestReport, path: Path) -> None:
    path.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")

"""Load registry files into a store: every row ends up stored or in the rejects report.

Files are opened and their headers checked before anything is written, so a file that
cannot be processed at all changes nothing. Rows are then read and validated a batch at a
time (the file streams: an import holds a batch, not the file), cells over their length
limit rejected first (ingest.limits), the rest column by column (ingest.records), their
points checked against the city for the whole batch,
geocoded when they have none, and handed to the store as columns (``RowBatch``), never as
an object per row. The store pulls batch after batch into one transaction, writing one
while the next is validated: an import lands whole or not at all, and loading the same
file again changes nothing.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gc
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import compress
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from geo.boundaries import CityBoundary
from geo.crs import CRS, to_wgs84
from geo.geocoding import AddressQuery, GeocoderChain
from geo.precision import Precision
from ingest.headers import REPORT_COLUMNS, HeaderError, HeaderMap, map_headers
from ingest.limits import PROVIDER_CHARS, cell_problems, clean_rows, column_limits, shortened
from ingest.overlay import ImportOverlay
from ingest.readers import FORMULA_START, TableStream, UnreadableFileError, cells_of, open_table
from ingest.records import (
    FloatArray,
    IntArray,
    ParsedBatch,
    Problem,
    RowDefaults,
    parse_batch,
    take_rows,
)
from ingest.values import ascii_mask
from providers.history import Change, ImportRecord
from providers.hours import CITY_TZ
from providers.identity import station_id
from providers.model import Grade, InvalidProviderError, Kind, Provider
from providers.store import ProviderStore, UpsertCounts
from providers.stores.rows import ProviderBatches, RowBatch, categories_text

# Rows validated together: enough for array operations to pay (their fixed cost is a
# few milliseconds a batch), few enough to keep the store streaming. Also what a point's
# WGS-84 value may depend on in its last bits: geo.crs iterates an array until all of
# it has converged, so the batch stays the size it always was, and a re-import after
# an upgrade finds GCJ-02/BD-09 points unchanged.
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
    # The day the records were verified (Provider.verified_at): the registries' exports
    # carry no verification date per row, so it is the import's, for every row it holds
    # (inserted, updated or found unchanged). Default: today in Asia/Shanghai.
    verified_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    file: str
    line: int
    problems: tuple[Problem, ...]
    cells: dict[str, str]


@dataclass(frozen=True, slots=True)
class KeptRow:
    """A snapshot row rejected whose provider is known (a valid credit code, a station's
    key): its last good version stays active (providers.history)."""

    id: str
    file: str
    line: int
    reason: str


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
    # With an overlay (see ingest.overlay): rows that kept the grade book's dynamic grade
    # or took the registry's counts instead of the file's; companies stored with a new
    # official grade (id -> (grade, file name)), and how many of them the grade book took
    # as their new baseline after the import (set by jzmap.application.imports).
    grades_kept: int = 0
    counts_derived: int = 0
    official_grades: dict[str, tuple[Grade, str]] = field(default_factory=dict)
    rebaselined: int = 0
    # Snapshots (providers.history): rejected rows whose provider stays active, the
    # import's id in the history, the guard's bound and, for a dry run, the changes.
    kept: list[KeptRow] = field(default_factory=list)
    compared: bool = False  # a dry run compared with the store: the counts are its diff
    import_id: int | None = None
    changes: list[dict[str, object]] = field(default_factory=list)

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
        data["kept_list"] = [
            {"id": k.id, "file": k.file, "line": k.line, "reason": k.reason} for k in self.kept
        ]
        if self.dry_run:
            data["changes"] = self.changes
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
            "grades_kept": self.grades_kept,
            "counts_derived": self.counts_derived,
            "rebaselined": self.rebaselined,
            "kept": len(self.kept),
            "import_id": self.import_id,
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
        self._districts = _Districts(city)
        self.geocoders = geocoders
        self.on_progress = on_progress

    def run(
        self,
        paths: Sequence[Path],
        store: ProviderStore | None,
        options: IngestOptions,
        *,
        overlay: ImportOverlay | None = None,
        record: ImportRecord | None = None,
    ) -> IngestReport:
        """Import ``paths`` into ``store`` (or only validate, with ``dry_run``).

        With ``record`` the import is recorded in the store's history
        (:meth:`~providers.store.ProviderStore.record_import`): guarded, and a dry run then
        also reports the changes it would make (``report.changes``).

        ``overlay`` holds the dynamic grades and derived counts the stored rows keep
        instead of the file's (see :mod:`ingest.overlay`); it is an argument of the run,
        not of the ingester, because it is read from the grade book and the registry just
        before each import, while one ingester (city, geocoders) serves many imports.
        ``jzmap.application.imports.run_provider_import`` builds it and rebaselines the companies
        reported in ``official_grades`` afterwards.

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
        if record is not None and record.summary is None:
            record = dataclasses.replace(
                record,
                summary=lambda: {
                    "rows_read": report.rows_read,
                    "rejected": report.rejected,
                    "warnings": len(report.warnings),
                },
            )
        with ExitStack() as opened:
            loaded: list[tuple[Path, TableStream, HeaderMap]] = []
            for path in paths:
                table = opened.enter_context(
                    open_table(path, encoding=options.encoding, sheet=options.sheet)
                )
                try:
                    loaded.append((path, table, map_headers(table.headers)))
                except HeaderError as exc:
                    raise UnreadableFileError(f"{path.name}: {exc}") from exc
                if table.encoding:
                    report.encodings[path.name] = table.encoding
            batches = self._batches(loaded, options, report, overlay or None)
            with _kept_from_collector():
                if store is None or (options.dry_run and record is None):
                    for _ in batches:
                        pass
                    report.kept.clear()  # nothing to keep without a store
                    return report
                replace = (options.source or paths[0].stem) if options.mode == "snapshot" else None
                # The store pulls the batches: each is read and validated while the store
                # writes the one before it (PostGIS merges on the server meanwhile), in one
                # transaction; a file found broken half-way fails it whole.
                if record is None:
                    counts = store.upsert(ProviderBatches(batches), replace_source=replace)
                else:
                    outcome = store.record_import(
                        ProviderBatches(batches), record, replace_source=replace
                    )
                    counts = UpsertCounts(
                        outcome.inserted, outcome.updated, outcome.unchanged, outcome.deactivated
                    )
                    report.import_id = outcome.import_id
                    stayed = set(outcome.kept)
                    report.kept = [k for k in report.kept if k.id in stayed]
                    report.changes = [_change_dict(c) for c in outcome.changes]
                    report.compared = options.dry_run
        report.inserted, report.updated = counts.inserted, counts.updated
        report.unchanged, report.deactivated = counts.unchanged, counts.deactivated
        return report

    def _batches(
        self,
        loaded: list[tuple[Path, TableStream, HeaderMap]],
        options: IngestOptions,
        report: IngestReport,
        overlay: ImportOverlay | None,
    ) -> Iterator[RowBatch]:
        defaults = RowDefaults(kind=options.kind, crs=options.crs)
        verified_on = (options.verified_on or dt.datetime.now(CITY_TZ).date()).isoformat()
        seen = _Seen()
        for done_files, (path, table, header) in enumerate(loaded):
            source = options.source or path.stem
            headers = table.headers
            limits = column_limits(len(headers), header, PROVIDER_CHARS)
            for chunk in table.batches(BATCH_ROWS):
                report.rows_read += len(chunk.records)
                rejects: list[Reject] = []
                # Cells too long to read, or that no store can keep: their rows are
                # rejected before any parsing (a parse would quote or split them).
                unreadable = cell_problems(headers, limits, chunk.records)
                for i, problems in unreadable.items():
                    cells = cells_of(headers, shortened(chunk.records[i], limits))
                    rejects.append(Reject(path.name, chunk.lines[i], tuple(problems), cells))
                keep = clean_rows(unreadable, len(chunk.records))
                records = [chunk.records[i] for i in keep] if unreadable else chunk.records
                lines = [chunk.lines[i] for i in keep] if unreadable else chunk.lines
                batch = parse_batch(headers, records, header, defaults)
                self._locate(batch)
                rows, ids = _identify(batch)
                rows, ids = _model_check(batch, rows, ids, source)
                rows, ids = _first_of_each(batch, rows, ids, seen, file=path.name, lines=lines)
                for i in sorted(batch.warnings):
                    report.warnings.extend(
                        RowWarning(path.name, lines[i], w.column, w.reason)
                        for w in batch.warnings[i]
                    )
                for i in sorted(batch.problems):
                    cells = cells_of(headers, records[i])
                    rejects.append(Reject(path.name, lines[i], tuple(batch.problems[i]), cells))
                if options.mode == "snapshot" and batch.problems:
                    kept = _known_rejects(
                        batch, seen, _key_columns(headers, header), path.name, lines
                    )
                    report.kept.extend(kept)
                    kept_ids = [k.id for k in kept]
                else:
                    kept_ids = []
                if unreadable:
                    rejects.sort(key=lambda r: r.line)
                report.rejects.extend(rejects)
                report.rejected += len(rejects)
                stored = _stored(batch, rows, ids, source, verified_on)
                if overlay is not None:
                    _overlay(overlay, stored, path.name, report)
                _count(report, batch, rows, stored)
                stored.kept.extend(kept_ids)
                if len(stored) or kept_ids:
                    yield stored
                if self.on_progress is not None:
                    # The total is not known before the files are read: estimated from
                    # the share of the files read so far.
                    share = (done_files + table.share_read()) / len(loaded)
                    total = max(report.rows_read, round(report.rows_read / max(share, 1e-9)))
                    self.on_progress(report.rows_read, total)
        if self.on_progress is not None:
            self.on_progress(report.rows_read, report.rows_read)

    def _locate(self, batch: ParsedBatch) -> None:
        """Check given points against the city (a whole batch at once); geocode the rest."""
        ok = batch.ok()
        located = np.flatnonzero(ok & batch.has_coordinates)
        if located.size:
            _check_points(self.city, self._districts, batch, located)
        for i in np.flatnonzero(ok & ~batch.has_coordinates).tolist():
            self._geocode(batch, i)

    def _geocode(self, batch: ParsedBatch, i: int) -> None:
        if self.geocoders is None or not self.geocoders.geocoders:
            batch.fail(
                (i,), "lon", "no coordinates, and no geocoder is configured to find the address"
            )
            return
        district, street = batch.text["district"][i], batch.text["street"][i]
        query = AddressQuery(address=batch.text["address"][i], district=district, street=street)
        found, failures = self.geocoders.geocode(query)
        if found is None:
            why = "; ".join(failures) or "no geocoder found it"
            batch.fail((i,), "address", f"no coordinates and the address was not found ({why})")
            return
        batch.crs[i] = CRS.WGS84
        batch.wgs_lon[i], batch.wgs_lat[i] = found.lon, found.lat
        batch.precision[i], batch.geocoder[i] = found.precision, found.geocoder
        if not district:
            # A point off every district leaves it empty (rather than storing no text).
            (located,) = self._districts.names(np.array([found.lon]), np.array([found.lat]))
            batch.text["district"][i] = located or ""


@contextmanager
def _kept_from_collector() -> Iterator[None]:
    """Keep the cyclic garbage collector off the objects alive now (the files' records).

    A million records are a million lists that live until the import ends and can never
    form a cycle; left in the collector's oldest generation, every full collection walks
    them all again (measured: a quarter of the validation time of a million-row file).
    Frozen, they are skipped; reference counting frees them as usual. Freezing is
    process-wide, so a concurrent import may unfreeze them early: slower, never wrong.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _Districts:
    """Which of the city's districts holds each point: the first in the layer's order
    that covers it (a point on a shared edge belongs to the first).

    One prepared-polygon test per district over the points not yet placed: for a batch
    an order of magnitude faster than building point geometries for a spatial-index
    query (CityBoundary.district_names), with the same answer.
    """

    def __init__(self, city: CityBoundary) -> None:
        self._names = _object_array([*city.districts["name"].tolist(), None])
        self._shapes = city.districts.geometry.to_numpy().copy()
        shapely.prepare(self._shapes)

    def names(self, lon: FloatArray, lat: FloatArray) -> list[str | None]:
        found = np.full(lon.size, -1, dtype=np.intp)  # -1: the None at the end
        for district, shape in enumerate(self._shapes):
            todo = np.flatnonzero(found < 0)
            if not todo.size:
                break
            found[todo[shapely.intersects_xy(shape, lon[todo], lat[todo])]] = district
        return list(self._names[found].tolist())


def _object_array(values: list[Any]) -> npt.NDArray[np.object_]:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _check_points(
    city: CityBoundary, districts: _Districts, batch: ParsedBatch, rows: IntArray
) -> None:
    lon, lat = batch.lon[rows], batch.lat[rows]
    wlon, wlat = np.empty_like(lon), np.empty_like(lat)
    crs = batch.crs[rows]
    systems = set(crs.tolist())
    for system in systems:
        mask = crs == system
        wlon[mask], wlat[mask] = to_wgs84(lon[mask], lat[mask], system)
    plausible = (np.abs(wlat) <= 90) & (np.abs(wlon) <= 180)
    inside = plausible & city.contains(np.where(plausible, wlon, 0), np.where(plausible, wlat, 0))
    # Would the point fit with lat/lon exchanged? Asked only of the points that do not.
    slon, slat = np.zeros_like(lon), np.zeros_like(lat)
    for system in systems:
        mask = ~inside & (crs == system)
        slon[mask], slat[mask] = to_wgs84(lat[mask], lon[mask], system)
    swapped = ~inside & (np.abs(slat) <= 90) & city.contains(slon, np.clip(slat, -90, 90))
    outside = ~inside & ~swapped
    distance = np.zeros_like(lon)
    if outside.any():
        distance[outside] = city.distance_m(
            np.clip(wlon[outside], -180, 180), np.clip(wlat[outside], -89.9, 89.9)
        )
    batch.fail(rows[swapped].tolist(), "lat", "latitude and longitude look swapped")
    for j in np.flatnonzero(outside).tolist():
        km = distance[j] / 1000
        point = f"({float(lon[j])}, {float(lat[j])}, {crs[j]})"
        batch.fail((int(rows[j]),), "lon", f"point {point} is {km:,.1f} km outside the city")
    placed = rows[inside]
    batch.wgs_lon[placed], batch.wgs_lat[placed] = wlon[inside], wlat[inside]
    batch.source_lon[placed], batch.source_lat[placed] = lon[inside], lat[inside]
    found = districts.names(wlon[inside], wlat[inside])
    _check_districts(batch, placed, found)


def _check_districts(batch: ParsedBatch, rows: IntArray, found: list[str | None]) -> None:
    """Fill an empty district from the point; warn where the row names another one.

    Judged once per distinct (given, found) pair: a file names few districts.
    """
    districts = batch.text["district"]
    given = [districts[i] for i in rows.tolist()]
    given_codes, given_names = pd.factorize(np.asarray(given, dtype=object))
    found_codes, found_names = pd.factorize(np.asarray(found, dtype=object))  # None: -1
    pairs = given_codes.astype(np.int64) * (len(found_names) + 1) + found_codes + 1
    distinct, which = np.unique(pairs, return_inverse=True)
    for k, pair in enumerate(distinct.tolist()):
        name = str(given_names[pair // (len(found_names) + 1)])
        f = pair % (len(found_names) + 1) - 1
        if f < 0:
            continue
        located = str(found_names[f])
        holders = rows[which == k].tolist()
        if not name:
            for i in holders:
                districts[i] = located
        elif not (name in located or located.startswith(name.removesuffix("区"))):
            batch.warn(holders, "district", f"the row says {name} but its point lies in {located}")


def _identify(batch: ParsedBatch) -> tuple[IntArray, list[str]]:
    """The rows still accepted and their provider ids: a company is its credit code, a
    station its station code or district, street and name."""
    rows = np.flatnonzero(batch.ok())
    ids = list(map("co-".__add__, map(str, take_rows(batch.credit_code, rows))))
    for j in np.flatnonzero(batch.kind[rows] == Kind.STATION).tolist():
        i = int(rows[j])
        ids[j] = station_id(
            station_code=batch.text["station_code"][i] or None,
            district=batch.text["district"][i],
            street=batch.text["street"][i],
            name=batch.name[i],
        )
    return rows, ids


# Columns a provider's identity is made of: a row with a problem in one of them is not
# known well enough to keep its provider active.
_COMPANY_KEY = frozenset({"kind", "credit_code"})
_STATION_KEY = frozenset({"kind", "station_code", "district", "street", "name"})


def _key_columns(
    headers: Sequence[str], header: HeaderMap
) -> tuple[frozenset[str], frozenset[str]]:
    """The names problems give the key fields of a company and of a station in this file
    (a problem names a field by its header, or by the field's name when the file has no
    such column)."""

    def named(fields: frozenset[str]) -> frozenset[str]:
        return frozenset(headers[header.fields[f]] if f in header.fields else f for f in fields)

    return named(_COMPANY_KEY), named(_STATION_KEY)


def _known_rejects(
    batch: ParsedBatch,
    seen: _Seen,
    keys: tuple[frozenset[str], frozenset[str]],
    file: str,
    lines: list[int],
) -> list[KeptRow]:
    """The batch's rejected rows whose provider is still known (a valid credit code, or a
    station's key), but not one a stored row of this import already stands for."""
    company_key, station_key = keys
    kept: list[KeptRow] = []
    for i, problems in batch.problems.items():
        columns = {p.column for p in problems}
        kind = batch.kind[i]
        code = batch.credit_code[i]
        if kind is Kind.COMPANY and code and not columns & company_key:
            provider_id = f"co-{code}"
        elif kind is Kind.STATION and not columns & station_key:
            provider_id = station_id(
                station_code=batch.text["station_code"][i] or None,
                district=batch.text["district"][i],
                street=batch.text["street"][i],
                name=batch.name[i],
            )
        else:
            continue
        if seen.contains([provider_id])[0]:
            continue  # a duplicate of a stored row: that row is the provider's version
        reason = "; ".join(f"{p.column}: {p.reason}" for p in problems)
        kept.append(KeptRow(provider_id, file, lines[i], reason))
    return kept


def _change_dict(change: Change) -> dict[str, object]:
    return {"id": change.provider_id, "action": str(change.action), "fields": list(change.fields)}


def _model_check(
    batch: ParsedBatch, rows: IntArray, ids: list[str], source: str
) -> tuple[IntArray, list[str]]:
    """The model's last word, on the rows it could refuse.

    The field checks enforce the model's invariants but three: a grade cell that means
    nothing (``级``) leaves a company ungraded, a phone can hold non-ASCII digits, and a
    geocoder can answer a point off the globe. Those rows (found with array operations)
    are built as providers, and a provider the model refuses is a reject with its reason.
    """
    graded = ~pd.isna(batch.credit_grade[rows])
    company = batch.kind[rows] == Kind.COMPANY
    lon, lat = batch.wgs_lon[rows], batch.wgs_lat[rows]
    with np.errstate(invalid="ignore"):
        on_globe = (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    suspects = (company != graded) | ~on_globe | ~ascii_mask(take_rows(batch.phone, rows))
    refused = []
    for j in np.flatnonzero(suspects).tolist():
        try:
            _provider(batch, int(rows[j]), ids[j], source)
        except InvalidProviderError as exc:
            batch.fail((int(rows[j]),), "row", str(exc))
            refused.append(j)
    if not refused:
        return rows, ids
    keep = np.ones(len(rows), dtype=np.bool_)
    keep[refused] = False
    return rows[keep], list(compress(ids, keep))


def _provider(batch: ParsedBatch, i: int, provider_id: str, source: str) -> Provider:
    """Row ``i`` as a provider, checked by the model."""
    text = batch.text
    return Provider(
        id=provider_id,
        kind=batch.kind[i],
        name=batch.name[i],
        categories=batch.categories[i],
        lon=float(batch.wgs_lon[i]),
        lat=float(batch.wgs_lat[i]),
        credit_code=batch.credit_code[i],
        credit_grade=batch.credit_grade[i],
        address=text["address"][i],
        district=text["district"][i],
        street=text["street"][i],
        community=text["community"][i],
        phone=batch.phone[i],
        opening_hours=text["opening_hours"][i],
        practitioners=int(batch.practitioners[i]),
        certified_practitioners=int(batch.certified_practitioners[i]),
        source_crs=batch.crs[i],
        source_lon=None if np.isnan(batch.source_lon[i]) else float(batch.source_lon[i]),
        source_lat=None if np.isnan(batch.source_lat[i]) else float(batch.source_lat[i]),
        geocode_precision=batch.precision[i],
        geocoder=batch.geocoder[i],
        source=source,
        extra=json.loads(batch.extra[i]),
    )


class _Seen:
    """Which provider ids an import has taken, and the file and line of each.

    An id is kept as a 128-bit hash (two independent 64-bit hashes of pandas' vectorised
    ``hash_array``) with its place packed in one more 64-bit word: 24 bytes an id, in
    sorted numpy arrays, where a dict of strings took ~140 and held a million-row import's
    ids many times over one batch. Two different ids sharing 128 bits is a chance of about
    one in 10^26 for a million ids.

    Sorted runs are appended per batch and merged when there are many (as a log-structured
    merge does), so a lookup searches a few sorted arrays.
    """

    _LINES = 1 << 40
    _RUNS = 8
    _KEYS = ("jzmap-seen-ids-1", "jzmap-seen-ids-2")  # 16 characters each, as pandas wants

    def __init__(self) -> None:
        self.files: list[str] = []
        # Sorted runs of (first hash, second hash, packed file and line).
        self._runs: list[tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], IntArray]] = []

    def _hashes(self, ids: Sequence[str]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        values = np.asarray(ids, dtype=object)
        return (
            pd.util.hash_array(values, hash_key=self._KEYS[0]),
            pd.util.hash_array(values, hash_key=self._KEYS[1]),
        )

    def _where(self, ids: Sequence[str]) -> IntArray:
        """The packed place of each id, or -1 for an id not seen."""
        first, second = self._hashes(ids)
        found = np.full(len(ids), -1, dtype=np.int64)
        for run_first, run_second, run_where in self._runs:
            at = np.searchsorted(run_first, first)
            at_ok = at < run_first.size
            at = np.where(at_ok, at, 0)
            # Equal first hashes are next to each other: walk them (nearly always one).
            while True:
                hit = at_ok & (run_first[at] == first) & (found < 0)
                if not hit.any():
                    break
                match = hit & (run_second[at] == second)
                found[match] = run_where[at[match]]
                at_ok = hit & ~match & (at + 1 < run_first.size)
                at = np.where(at_ok, at + 1, 0)
        return found

    def contains(self, ids: Sequence[str]) -> npt.NDArray[np.bool_]:
        return self._where(ids) >= 0

    def add(self, ids: Sequence[str], file: str, lines: list[int]) -> None:
        if not self.files or self.files[-1] != file:
            self.files.append(file)
        if not len(ids):
            return
        base = (len(self.files) - 1) * self._LINES
        first, second = self._hashes(ids)
        where = base + np.asarray(lines, dtype=np.int64)
        self._runs.append(_sorted_run(first, second, where))
        if len(self._runs) > self._RUNS:
            self._runs = [
                _sorted_run(*(np.concatenate(part) for part in zip(*self._runs, strict=True)))
            ]

    def first(self, provider_id: str) -> tuple[str, int]:
        where = int(self._where([provider_id])[0])
        file, line = divmod(where, self._LINES)
        return self.files[file], line


def _sorted_run(
    first: npt.NDArray[np.uint64], second: npt.NDArray[np.uint64], where: IntArray
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], IntArray]:
    order = np.argsort(first, kind="stable")
    return first[order], second[order], where[order]


def _first_of_each(
    batch: ParsedBatch,
    rows: IntArray,
    ids: list[str],
    seen: _Seen,
    *,
    file: str,
    lines: list[int],
) -> tuple[IntArray, list[str]]:
    """Keep the first row of each provider (in this import); refuse the later ones,
    naming the line they repeat."""
    again = pd.Index(ids).duplicated(keep="first")
    again |= seen.contains(ids)
    first = ~again
    seen.add(list(compress(ids, first)), file, take_rows(lines, rows[first]))
    for j in np.flatnonzero(again).tolist():
        first_file, first_line = seen.first(ids[j])
        i = int(rows[j])
        batch.fail(
            (i,),
            "row",
            f"same provider as line {first_line} of {first_file} "
            f"({batch.credit_code[i] or ids[j]}); keep one of them",
        )
    return rows[first], list(compress(ids, first))


# Stored text of the enum members, looked up by a C-level map (an enum's ``.value`` is a
# Python-level descriptor: a microsecond a row for a million rows).
_GRADE_TEXT: dict[Grade | None, str | None] = {None: None, **{g: g.value for g in Grade}}
_GRADE_RANK: dict[Grade | None, int | None] = {None: None, **{g: g.rank for g in Grade}}
_TEXT: dict[StrEnum, str] = {m: m.value for e in (Kind, CRS, Precision) for m in e}
_value = _TEXT.__getitem__


def _stored(
    batch: ParsedBatch, rows: IntArray, ids: list[str], source: str, verified_on: str
) -> RowBatch:
    """The accepted rows as the stores keep them, column by column, verified on
    ``verified_on`` (ISO date)."""
    n = len(rows)
    grades = take_rows(batch.credit_grade, rows)
    text = {name: take_rows(values, rows) for name, values in batch.text.items()}
    columns: dict[str, list[Any]] = {
        "id": ids,
        "kind": list(map(_value, take_rows(batch.kind, rows))),
        "name": take_rows(batch.name, rows),
        "categories": list(map(categories_text, take_rows(batch.categories, rows))),
        "lon": batch.wgs_lon[rows].tolist(),
        "lat": batch.wgs_lat[rows].tolist(),
        "credit_code": take_rows(batch.credit_code, rows),
        "credit_grade": list(map(_GRADE_TEXT.__getitem__, grades)),
        "grade_rank": list(map(_GRADE_RANK.__getitem__, grades)),
        "address": text["address"],
        "district": text["district"],
        "street": text["street"],
        "community": text["community"],
        "phone": take_rows(batch.phone, rows),
        "opening_hours": text["opening_hours"],
        "practitioners": batch.practitioners[rows].tolist(),
        "certified_practitioners": batch.certified_practitioners[rows].tolist(),
        "source_crs": list(map(_value, take_rows(batch.crs, rows))),
        "source_lon": batch.source_lon[rows].tolist(),
        "source_lat": batch.source_lat[rows].tolist(),
        "geocode_precision": list(map(_value, take_rows(batch.precision, rows))),
        "geocoder": take_rows(batch.geocoder, rows),
        "source": [source] * n,
        "active": [True] * n,
        "extra": take_rows(batch.extra, rows),
        "verified_at": [verified_on] * n,
    }
    for j in np.flatnonzero(np.isnan(batch.source_lon[rows])).tolist():
        columns["source_lon"][j] = columns["source_lat"][j] = None  # geocoded: none given
    return RowBatch(columns)


def _overlay(overlay: ImportOverlay, stored: RowBatch, file: str, report: IngestReport) -> None:
    done = overlay.apply(stored)
    report.grades_kept += done.grades_kept
    report.counts_derived += done.counts_derived
    report.official_grades.update((cid, (g, file)) for cid, g in done.official.items())


def _count(report: IngestReport, batch: ParsedBatch, rows: IntArray, stored: RowBatch) -> None:
    """Add the stored rows to the report's tallies: one count per distinct value, keys in
    the order the values first appear (as counting row by row would leave them)."""
    report.accepted += len(stored)
    columns = stored.columns
    _tally(report.precision, columns["geocode_precision"])
    _tally(report.geocoder, columns["geocoder"])
    _tally(report.by_district, columns["district"], lambda district: district or "?")
    codes, sets = pd.factorize(np.asarray(take_rows(batch.categories, rows), dtype=object))
    for categories, count in zip(sets.tolist(), np.bincount(codes).tolist(), strict=False):
        for c in categories:
            report.by_category[c.value] += count


def _tally(counter: Counter[str], values: list[str], key: Callable[[str], str] = str) -> None:
    codes, distinct = pd.factorize(np.asarray(values, dtype=object))
    for value, count in zip(distinct.tolist(), np.bincount(codes).tolist(), strict=False):
        counter[key(value)] += count


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
        # Header cells come from the uploaded file too: a header ``=HYPERLINK(…)`` would
        # run in Excel as surely as a cell would.
        writer.writerow([*map(_safe, columns), *REPORT_COLUMNS[:4]])
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

"""Source rows to provider fields, a batch at a time: every failing field gives its own
reason, all reasons of a row at once.

A batch is parsed column by column, not row by row. Columns whose values repeat down the
file (kinds, grades, categories, CRS names, counts) are parsed once per distinct cell and
the results spread over the rows by index; columns unique per row (credit codes, phones,
coordinates) take array operations for the common case and the per-cell parser of
:mod:`ingest.values` for the rest. What a row gets is what parsing it alone would give:
tests/ingest_oracle.py is that row-by-row parser and a property test holds the two
together.

Location checks (city boundary, swapped coordinates, district agreement) and geocoding
happen in the pipeline, on the rows that pass these checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import compress
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo.crs import CRS
from geo.precision import Precision
from ingest.headers import HeaderMap
from ingest.values import (
    ascii_mask,
    canonical_phones,
    credit_codes_valid,
    fold,
    lengths,
    parse_categories,
    parse_coordinates,
    parse_count,
    parse_crs,
    parse_grade,
    parse_kind,
    parse_phone,
    split_phones,
)
from providers.credit_code import credit_code_problem
from providers.hours import parse_hours
from providers.model import Kind

T = TypeVar("T")
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]
TEXT_FIELDS = ("address", "district", "street", "community", "opening_hours", "station_code")


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


@dataclass(eq=False)
class ParsedBatch:
    """The rows of one batch, parsed: one array (or list) per field, indexed by the row's
    position in the batch, and what is wrong with which row.

    Rows with an entry in ``problems`` are rejected; the pipeline adds location problems
    and fills the location fields (``wgs_*``, ``source_*``, ``precision``, ``geocoder``)
    of the rows it places.
    """

    size: int
    name: list[str]
    kind: ObjectArray  # Kind | None
    credit_code: list[str | None]
    credit_grade: ObjectArray  # Grade | None
    categories: ObjectArray  # frozenset[Category] | None
    phone: list[str]
    practitioners: npt.NDArray[np.int64]
    certified_practitioners: npt.NDArray[np.int64]
    crs: ObjectArray  # CRS
    lon: FloatArray  # NaN: no value
    lat: FloatArray
    text: dict[str, list[str]]  # TEXT_FIELDS, stripped
    extra: list[str]  # the unknown columns' cells as stored: JSON text, sorted keys
    problems: dict[int, list[Problem]] = field(default_factory=dict)
    warnings: dict[int, list[Problem]] = field(default_factory=dict)
    wgs_lon: FloatArray = field(init=False)
    wgs_lat: FloatArray = field(init=False)
    source_lon: FloatArray = field(init=False)  # NaN: none (geocoded)
    source_lat: FloatArray = field(init=False)
    precision: ObjectArray = field(init=False)  # Precision
    geocoder: ObjectArray = field(init=False)  # str

    def __post_init__(self) -> None:
        self.wgs_lon, self.wgs_lat = np.full(self.size, np.nan), np.full(self.size, np.nan)
        self.source_lon, self.source_lat = np.full(self.size, np.nan), np.full(self.size, np.nan)
        # (np.full would turn the enum member into a plain str.)
        self.precision = np.empty(self.size, dtype=object)
        self.precision.fill(Precision.EXACT)
        self.geocoder = np.empty(self.size, dtype=object)
        self.geocoder.fill("record")

    def fail(self, rows: Iterable[int], column: str, reason: str) -> None:
        _note(self.problems, rows, Problem(column, reason))

    def warn(self, rows: Iterable[int], column: str, reason: str) -> None:
        _note(self.warnings, rows, Problem(column, reason))

    def ok(self) -> BoolArray:
        """Rows with no problem so far."""
        mask = np.ones(self.size, dtype=np.bool_)
        mask[list(self.problems)] = False
        return mask

    @property
    def has_coordinates(self) -> BoolArray:
        return ~np.isnan(self.lon) & ~np.isnan(self.lat)


def _note(notes: dict[int, list[Problem]], rows: Iterable[int], problem: Problem) -> None:
    # One (immutable) Problem shared by every row it applies to: a district warning can
    # apply to most rows of a file.
    for i in rows:
        notes.setdefault(i, []).append(problem)


def _objects(values: Sequence[Any]) -> ObjectArray:
    """A 1-d object array of ``values`` (np.array would unpack tuples and sequences)."""
    array = np.empty(len(values), dtype=object)
    array[:] = list(values) if values else []
    return array


def _distinct(cells: Sequence[str], parse: Callable[[str], T]) -> tuple[IntArray, list[T]]:
    """``parse`` of each distinct (stripped) cell, and which of them each row holds.

    Registries repeat these values on nearly every row: one hash pass over the column
    (pandas' factorize) and a parse per distinct value replace a parse per row.
    """
    codes, uniques = pd.factorize(np.asarray(cells, dtype=object))
    return codes.astype(np.intp), [parse(u.strip()) for u in uniques.tolist()]


def _spread(codes: IntArray, per_value: Sequence[T]) -> ObjectArray:
    return _objects(per_value)[codes]


class _Cells:
    """One batch's cells, column by column, and the problems found in them so far (named
    by the column as the file spells it, or the field's name when the file has none)."""

    __slots__ = ("_blank", "_header", "_headers", "columns", "n", "problems")

    def __init__(self, headers: list[str], records: Sequence[list[str]], header: HeaderMap):
        self.n = len(records)
        # (A batch can be empty: every row of it rejected for its cells' lengths.)
        self.columns: list[tuple[str, ...]] = (
            list(zip(*records, strict=True)) if self.n else [()] * len(headers)
        )
        self._blank: tuple[str, ...] = ("",) * self.n
        self._headers = headers
        self._header = header
        self.problems: dict[int, list[Problem]] = {}

    def cells(self, name: str) -> Sequence[str]:
        position = self._header.fields.get(name)
        return self._blank if position is None else self.columns[position]

    def stripped(self, name: str) -> list[str]:
        return list(map(str.strip, self.cells(name)))

    def column(self, name: str) -> str:
        position = self._header.fields.get(name)
        return name if position is None else self._headers[position]

    def fail(self, rows: Iterable[int], name: str, reason: str) -> None:
        _note(self.problems, rows, Problem(self.column(name), reason))

    def fail_distinct(self, name: str, codes: IntArray, reasons: Sequence[str | None]) -> None:
        """Record the reason of each distinct value on the rows that hold it."""
        bad = np.array([r is not None for r in reasons], dtype=np.bool_)
        if self.n and bad.any():
            for i in np.flatnonzero(bad[codes]).tolist():
                reason = reasons[codes[i]]
                assert reason is not None
                self.fail((i,), name, reason)


def parse_batch(
    headers: list[str],
    records: Sequence[list[str]],
    header: HeaderMap,
    defaults: RowDefaults,
) -> ParsedBatch:
    """Parse every understood cell of every record; keep the other cells as extras.

    Problems are recorded field by field in the order a reader of the row would meet
    them (name, kind, credit code, grade, categories, phone, counts, CRS, coordinates),
    so each row's reasons come in that order: the steps below run in that order.
    """
    cells = _Cells(headers, records, header)
    names = cells.stripped("name")
    cells.fail(np.flatnonzero(lengths(names) == 0).tolist(), "name", "name is empty")
    kind, company, station = _kinds(cells, defaults.kind)
    codes = _credit_codes(cells, company)
    grade = _grades(cells, company, station)
    category_codes, categories = _distinct(cells.cells("categories"), parse_categories)
    cells.fail_distinct("categories", category_codes, [p for _, p in categories])
    phones, warnings = _phones(cells)
    practitioners, certified = _counts(cells)
    crs_codes, crs_parsed = _distinct(cells.cells("crs"), parse_crs)
    cells.fail_distinct("crs", crs_codes, [p for _, p in crs_parsed])
    crs = _spread(crs_codes, [c or defaults.crs or CRS.WGS84 for c, _ in crs_parsed])
    lon, lat = _coordinates(cells)

    batch = ParsedBatch(
        size=cells.n,
        name=names,
        kind=kind,
        credit_code=[c or None for c in codes],
        credit_grade=grade,
        categories=_spread(category_codes, [c for c, _ in categories]),
        phone=phones,
        practitioners=np.maximum(practitioners, 0),
        certified_practitioners=np.maximum(certified, 0),
        crs=crs,
        lon=lon,
        lat=lat,
        text={name: cells.stripped(name) for name in TEXT_FIELDS},
        extra=_extras(cells.columns, header, cells.n),
    )
    # Problems in row order, each row's in field order (dicts keep insertion order).
    batch.problems = {i: cells.problems[i] for i in sorted(cells.problems)}
    batch.warnings = warnings
    _hours_warnings(batch, cells.column("opening_hours"))
    return batch


def _hours_warnings(batch: ParsedBatch, column: str) -> None:
    """Warn where opening hours are given but not understood: the text is kept as written
    (and shown), never guessed at; open-now filters count the provider's hours unknown."""
    texts = batch.text["opening_hours"]
    problems: dict[str, str | None] = {}
    for i, text in enumerate(texts):
        if not text:
            continue
        if text not in problems:
            parsed = parse_hours(text)
            problems[text] = None if parsed.schedule is not None else parsed.problem
        reason = problems[text]
        if reason:
            batch.warn((i,), column, f"opening hours kept as written, {reason}")


def _kinds(cells: _Cells, default: Kind | None) -> tuple[ObjectArray, BoolArray, BoolArray]:
    """Each row's kind, and which rows are companies and which stations.

    The cell, else ``--kind``; a bad cell is its own reason (and ``--kind`` still applies).
    """
    kind_codes, kinds = _distinct(cells.cells("kind"), parse_kind)
    kind_values = [value or default for value, _ in kinds]
    kind_unknown = "kind unknown: add a 类型 column or use --kind"
    cells.fail_distinct(
        "kind",
        kind_codes,
        [
            p or (kind_unknown if k is None else None)
            for (_, p), k in zip(kinds, kind_values, strict=True)
        ],
    )
    kind = _spread(kind_codes, kind_values)
    company = _spread(kind_codes, [k is Kind.COMPANY for k in kind_values]).astype(np.bool_)
    station = _spread(kind_codes, [k is Kind.STATION for k in kind_values]).astype(np.bool_)
    return kind, company, station


def _credit_codes(cells: _Cells, company: BoolArray) -> list[str]:
    """Each row's credit code, folded to upper-case ASCII ("" for none)."""
    raw_codes = cells.stripped("credit_code")
    codes = list(map(str.upper, raw_codes))  # fold() is strip() for ASCII cells
    for i in np.flatnonzero(~ascii_mask(raw_codes)).tolist():
        codes[i] = fold(raw_codes[i]).upper()
    has_code = lengths(codes) > 0
    for i in np.flatnonzero(has_code & ~credit_codes_valid(codes)).tolist():
        cells.fail((i,), "credit_code", credit_code_problem(codes[i]) or "")
    cells.fail(
        np.flatnonzero(company & ~has_code).tolist(),
        "credit_code",
        "a company needs its 18-character credit code",
    )
    return codes


def _grades(cells: _Cells, company: BoolArray, station: BoolArray) -> ObjectArray:
    """Each row's credit grade (None for none): companies need one, stations have none."""
    grade_codes, grades = _distinct(
        cells.cells("credit_grade"), lambda u: (parse_grade(u), bool(u))
    )
    cells.fail_distinct("credit_grade", grade_codes, [p for (_, p), _ in grades])
    grade = _spread(grade_codes, [g for (g, _), _ in grades])
    graded = _spread(grade_codes, [g is not None for (g, _), _ in grades]).astype(np.bool_)
    grade_given = _spread(grade_codes, [given for _, given in grades]).astype(np.bool_)
    cells.fail(
        np.flatnonzero(company & ~graded & ~grade_given).tolist(),
        "credit_grade",
        "a company needs a credit grade (5A … A)",
    )
    cells.fail(
        np.flatnonzero(station & graded).tolist(),
        "credit_grade",
        "grassroots service stations are not graded",
    )
    return grade


def _phones(cells: _Cells) -> tuple[list[str], dict[int, list[Problem]]]:
    """Each row's phone number ("" for none), and a warning where a cell holds several.

    Cells already in normal form are their own value; the rest are parsed.
    """
    phones = cells.stripped("phone")
    warnings: dict[int, list[Problem]] = {}
    for i in np.flatnonzero(~canonical_phones(phones)).tolist():
        numbers = split_phones(phones[i])
        value, problem = parse_phone(numbers[0] if numbers else "")
        if problem:
            cells.fail((i,), "phone", problem)
        phones[i] = str(value or "")
        if phones[i] and len(numbers) > 1:
            warnings[i] = [Problem(cells.column("phone"), "several numbers: the first is shown")]
    return phones, warnings


def _counts(cells: _Cells) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each row's practitioners and certified practitioners; -1 where the cell was refused
    (a count is never negative)."""
    counts: dict[str, npt.NDArray[np.int64]] = {}
    for name in ("practitioners", "certified_practitioners"):
        count_codes, parsed = _distinct(
            cells.cells(name), partial(_count, column=cells.column(name))
        )
        cells.fail_distinct(name, count_codes, [p for _, p in parsed])
        counts[name] = np.array([-1 if v is None else v for v, _ in parsed], np.int64)[count_codes]
    practitioners, certified = counts["practitioners"], counts["certified_practitioners"]
    for i in np.flatnonzero((practitioners >= 0) & (certified > practitioners)).tolist():
        cells.fail(
            (i,),
            "certified_practitioners",
            f"{certified[i]} certified holders but only {practitioners[i]} practitioners",
        )
    return practitioners, certified


def _coordinates(cells: _Cells) -> tuple[FloatArray, FloatArray]:
    """Each row's longitude and latitude as given (NaN: none); one without the other is
    refused."""
    coordinates: dict[str, FloatArray] = {}
    for name in ("lon", "lat"):
        values, refused = parse_coordinates(cells.stripped(name), cells.column(name))
        for i, reason in refused.items():
            cells.fail((i,), name, reason)
        coordinates[name] = values
    given_lon = lengths(cells.stripped("lon")) > 0
    given_lat = lengths(cells.stripped("lat")) > 0
    for name, missing in (("lat", given_lon & ~given_lat), ("lon", given_lat & ~given_lon)):
        cells.fail(
            np.flatnonzero(missing).tolist(),
            name,
            f"{cells.column(name)} is missing while the other is given",
        )
    return coordinates["lon"], coordinates["lat"]


def _count(text: str, column: str) -> tuple[int | None, str | None]:
    value, problem = parse_count(text, column)
    return (value if isinstance(value, int) else None), problem


def _extras(columns: Sequence[tuple[str, ...]], header: HeaderMap, n: int) -> list[str]:
    """The unknown columns' non-empty cells of each row as JSON text with sorted keys
    (what ``json.dumps(cells, ensure_ascii=False, sort_keys=True)`` gives), built from
    one encoded ``"key": value`` piece per distinct cell of each column."""
    if not header.extras:
        return ["{}"] * n
    pieces: list[list[str]] = []
    for key, position in sorted(header.extras.items()):
        codes, encoded = _distinct(columns[position], partial(_extra_piece, key))
        pieces.append(np.asarray(encoded, dtype=object)[codes].tolist())
    joined = map(", ".join, map(partial(filter, None), zip(*pieces, strict=True)))
    return list(map("{{{}}}".format, joined))


def _extra_piece(key: str, value: str) -> str:
    if not value:
        return ""
    return f"{json.dumps(key, ensure_ascii=False)}: {json.dumps(value, ensure_ascii=False)}"


def take_rows(values: Sequence[Any] | npt.NDArray[Any], rows: IntArray) -> list[Any]:
    """``values`` at (increasing) ``rows``, as a list."""
    if isinstance(values, np.ndarray):
        return list(values[rows].tolist())
    mask = np.zeros(len(values), dtype=np.bool_)
    mask[rows] = True
    # compress keeps the order of values; rows are increasing.
    return list(compress(values, mask))

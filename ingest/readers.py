"""Registry files in: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030), XLSX, GeoJSON.

Every reader gives the header row and the records, each with the line it came from (the
spreadsheet row for XLSX, the feature's position for GeoJSON), so a reject can always be
traced back to the cell an operator must fix.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import compress, repeat
from pathlib import Path
from typing import Any

# A leading apostrophe is how our rejects file keeps Excel from running a cell as a
# formula; loading that file back must give the original text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Table:
    """The header row and the records: ``records[i]`` holds its cells as text, aligned
    with ``headers``, and starts on line ``lines[i]`` of the file.

    Two parallel lists rather than an object per record: a million-row file would pay a
    few hundred milliseconds just to build and walk those objects.
    """

    headers: list[str]
    lines: list[int]
    records: list[list[str]]
    encoding: str | None  # how a CSV was decoded; None for XLSX and GeoJSON


class UnreadableFileError(ValueError):
    """The file cannot be processed at all (format, encoding, sheet, broken content)."""


def read_table(path: Path, *, encoding: str | None = None, sheet: str | None = None) -> Table:
    """Read a registry file.

    Parameters
    ----------
    path
        ``.csv``, ``.xlsx`` or ``.geojson``/``.json``.
    encoding
        For CSV: force an encoding; by default UTF-8 (with or without BOM) is tried, then
        GB18030 (a superset of GBK and GB2312, what Chinese office software writes).
    sheet
        For XLSX: a sheet name or 1-based number; by default the first sheet.

    Raises
    ------
    UnreadableFileError
        With a message saying what is wrong and how to fix it.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, encoding)
    if suffix == ".xlsx":
        return _read_xlsx(path, sheet)
    if suffix in (".geojson", ".json"):
        return _read_geojson(path)
    raise UnreadableFileError(
        f"{path.name}: unsupported file type {suffix!r}; use .csv, .xlsx or .geojson"
    )


def _unquote(cell: str) -> str:
    if cell.startswith("'") and cell[1:2] in FORMULA_START:
        return cell[1:]
    return cell


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """The text and the encoding it was read with."""
    if encoding:
        try:
            return data.decode(encoding), encoding
        except LookupError as exc:
            raise UnreadableFileError(f"unknown encoding {encoding!r}") from exc
        except UnicodeDecodeError as exc:
            raise UnreadableFileError(
                f"not {encoding} text (byte {exc.start}: {exc.reason}); try another --encoding"
            ) from exc
    for candidate in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    raise UnreadableFileError("neither UTF-8 nor GB18030 text; name the encoding with --encoding")


def _read_csv(path: Path, encoding: str | None) -> Table:
    try:
        text, used = decode(path.read_bytes(), encoding)
    except UnreadableFileError as exc:
        raise UnreadableFileError(f"{path.name}: {exc}") from exc
    if "\x00" in text:
        raise UnreadableFileError(f"{path.name}: contains NUL bytes; is it really a CSV file?")
    try:
        with _no_cycle_collection():
            lines, records = _records(text)
    except csv.Error as exc:
        raise UnreadableFileError(f"{path.name}: {exc}") from exc
    if not records:
        raise UnreadableFileError(f"{path.name}: empty file, no header row")
    headers = [h.strip() for h in records[0]]
    width = len(headers)
    del lines[0], records[0]
    if any(len(values) > width for values in records):
        # Cells beyond the header are kept, joined, in one extra column: never dropped.
        headers.append("_overflow")
    total = len(headers)
    records = [v if len(v) == total else _fit(v, width, total) for v in records]
    return Table(headers, lines, records, used)


def _records(text: str) -> tuple[list[int], list[list[str]]]:
    """The non-blank records of CSV text and the line each starts on.

    Most files have one record per line: then the records come in one C-level pass and
    their lines are their positions. A file with line breaks inside cells is read again,
    record by record, following the reader's line count.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        everything = list(reader)
    except csv.Error as exc:
        raise csv.Error(f"line {reader.line_num}: {exc}") from exc
    if reader.line_num != len(everything):
        return _records_by_line(text)
    joined = list(map("".join, everything))
    # A record has a non-blank cell exactly when its cells joined have a non-blank
    # character; blank lines carry nothing.
    keep = list(map(bool, map(str.strip, joined)))
    lines = list(compress(range(1, len(everything) + 1), keep))
    if not any(map(str.__contains__, joined, repeat("'"))):
        return lines, list(compress(everything, keep))
    # Only a record holding an apostrophe can hold a quoted formula.
    return lines, [
        [_unquote(c) for c in record] if "'" in "".join(record) else record
        for record in compress(everything, keep)
    ]


def _records_by_line(text: str) -> tuple[list[int], list[list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    lines: list[int] = []
    records: list[list[str]] = []
    line_end = 0
    try:
        for record in reader:
            line = line_end + 1
            line_end = reader.line_num
            joined = "".join(record)
            if joined.strip():
                lines.append(line)
                records.append([_unquote(c) for c in record] if "'" in joined else record)
    except csv.Error as exc:
        raise csv.Error(f"line {reader.line_num}: {exc}") from exc
    return lines, records


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file's records pile up.

    A million records are a million lists that can never form a cycle, yet every few
    hundred allocations the collector would walk the young ones and now and then all of
    them: measured, about a third of reading a large file. Reference counting still
    frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fit(values: list[str], width: int, total: int) -> list[str]:
    if len(values) > width:
        values = [*values[:width], ",".join(values[width:])]
    return values + [""] * (total - len(values))


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _read_xlsx(path: Path, sheet: str | None) -> Table:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise UnreadableFileError(f"{path.name}: not a readable XLSX workbook ({exc})") from exc
    try:
        names = workbook.sheetnames
        if sheet is None:
            chosen = names[0]
        elif sheet in names:
            chosen = sheet
        elif sheet.isdigit() and 1 <= int(sheet) <= len(names):
            chosen = names[int(sheet) - 1]
        else:
            raise UnreadableFileError(
                f"{path.name}: no sheet {sheet!r}; sheets: {', '.join(names)}"
            )
        headers: list[str] | None = None
        lines: list[int] = []
        records: list[list[str]] = []
        for number, record in enumerate(workbook[chosen].iter_rows(values_only=True), start=1):
            values = [_cell_text(v) for v in record]
            if not any(v.strip() for v in values):
                continue
            if headers is None:
                headers = [h.strip() for h in values]
                continue
            values = [_unquote(v) for v in values[: len(headers)]]
            lines.append(number)
            records.append(values + [""] * (len(headers) - len(values)))
    finally:
        workbook.close()
    if headers is None:
        raise UnreadableFileError(f"{path.name}: sheet {chosen!r} is empty")
    return Table(headers, lines, records, None)


def _read_geojson(path: Path) -> Table:
    try:
        data = json.loads(decode(path.read_bytes())[0])
    except (UnreadableFileError, json.JSONDecodeError) as exc:
        raise UnreadableFileError(f"{path.name}: not valid GeoJSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise UnreadableFileError(f"{path.name}: expected a GeoJSON FeatureCollection")
    features = [f if isinstance(f, dict) else {} for f in data.get("features") or []]
    headers: list[str] = []
    for feature in features:
        for key in feature.get("properties") or {}:
            if str(key) not in headers:
                headers.append(str(key))
    headers = [h for h in headers if h not in ("lon", "lat")] + ["lon", "lat"]
    records = []
    for feature in features:
        cells = {str(k): _cell_text(v) for k, v in (feature.get("properties") or {}).items()}
        geometry = feature.get("geometry") or {}
        coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
        if (
            geometry.get("type") == "Point"
            and isinstance(coordinates, list)
            and len(coordinates) >= 2
        ):
            cells["lon"], cells["lat"] = _cell_text(coordinates[0]), _cell_text(coordinates[1])
        records.append([cells.get(h, "") for h in headers])
    return Table(headers, list(range(1, len(records) + 1)), records, None)

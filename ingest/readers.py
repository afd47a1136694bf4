"""Registry files in: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030), XLSX, GeoJSON.

Every reader gives the header row and the records, each with the line it came from (the
spreadsheet row for XLSX, the feature's position for GeoJSON), so a reject can always be
traced back to the cell an operator must fix.

Files are read as a stream (:func:`open_table`): the header row at once, the records a
batch at a time, so an import holds one batch of a file, not the file (a 5 MB CSV once
peaked at 650 MB). CSV and XLSX stream from disk; a GeoJSON file is one JSON document and
is parsed whole. :func:`read_table` reads all the records, for the feeds that need them
together (:mod:`ingest.feeds`).

What is refused before a single row is read: a file in no encoding we know, an XLSX that
is not a workbook or whose XML has a DTD or an entity (an XLSX never needs one; they are
how XML bombs and file disclosures work), XML that would unpack beyond
:data:`MAX_XLSX_XML_BYTES`, GeoJSON nested deeper than :data:`MAX_JSON_DEPTH`, a header
cell over :data:`ingest.limits.HEADER_CHARS`. A single bad cell (too long, a NUL byte) is
the pipeline's business: its row is rejected (:mod:`ingest.limits`), the file goes on.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from pyexpat import ExpatError, ParserCreate
from typing import Any

import numpy as np

from ingest.limits import HEADER_CHARS
from providers.errors import InvalidRequestError

# A leading apostrophe is how our rejects file keeps Excel from running a cell as a
# formula; loading that file back must give the original text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# The column a CSV record's cells beyond the header go to, joined by commas: never dropped.
OVERFLOW_COLUMN = "_overflow"
# Bytes read at a time when checking an encoding or scanning XLSX XML.
READ_CHUNK_BYTES = 1 << 20
# The csv module refuses a field over 131,072 characters, and with it the whole file; the
# importer wants such a cell to reject its row (ingest.limits), so it reads any field.
CSV_FIELD_CHARS = 2**31 - 1
# XLSX parts are zipped XML; a few kilobytes can unpack to gigabytes. More XML than this
# (declared in the zip directory, which the reader holds each part to) is refused.
MAX_XLSX_XML_BYTES = 2 << 30
# GeoJSON features are a few levels deep; a document nested deeper is not one (and
# 100,000 levels once crashed the reader).
MAX_JSON_DEPTH = 64


@dataclass(frozen=True)
class Records:
    """A batch of records: ``records[i]`` holds its cells as text, aligned with the
    table's headers, and starts on line ``lines[i]`` of the file."""

    lines: list[int]
    records: list[list[str]]


@dataclass(frozen=True)
class Table:
    """The header row and all the records: ``records[i]`` holds its cells as text, aligned
    with ``headers``, and starts on line ``lines[i]`` of the file.

    Two parallel lists rather than an object per record: a million-row file would pay a
    few hundred milliseconds just to build and walk those objects.
    """

    headers: list[str]
    lines: list[int]
    records: list[list[str]]
    encoding: str | None  # how a CSV was decoded; None for XLSX and GeoJSON


class UnreadableFileError(InvalidRequestError, ValueError):
    """The file cannot be processed at all (format, encoding, sheet, broken content): the
    message says which file and why, for the person who sent it."""


class TableStream:
    """An open registry file: its header row now, its records batch by batch.

    Use it as a context manager (or call :meth:`close`): it holds the file open until its
    records are read.
    """

    def __init__(
        self,
        name: str,
        headers: list[str],
        encoding: str | None,
        *,
        rows: Iterator[tuple[int, list[str]]],
        position: Callable[[], float],
        closer: ExitStack,
    ) -> None:
        self.name = name
        self.headers = headers
        self.encoding = encoding  # how a CSV was decoded; None for XLSX and GeoJSON
        self._rows = rows
        self._position = position
        self._closer = closer

    def batches(self, size: int) -> Iterator[Records]:
        """The records, ``size`` at a time, in file order.

        Raises
        ------
        UnreadableFileError
            When the file turns out broken past its header (a malformed sheet): the
            import it is part of fails whole.
        """
        while chunk := list(islice(self._rows, size)):
            yield Records([line for line, _ in chunk], [record for _, record in chunk])

    def share_read(self) -> float:
        """How much of the file has been read, from 0 to 1 (for progress bars)."""
        return self._position()

    def close(self) -> None:
        self._closer.close()

    def __enter__(self) -> TableStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_table(path: Path, *, encoding: str | None = None, sheet: str | None = None) -> TableStream:
    """Open a registry file: check it, read its header row, stream its records.

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
        return _open_csv(path, encoding)
    if suffix == ".xlsx":
        return _open_xlsx(path, sheet)
    if suffix in (".geojson", ".json"):
        return _open_geojson(path)
    raise UnreadableFileError(
        f"{path.name}: unsupported file type {suffix!r}; use .csv, .xlsx or .geojson"
    )


def read_table(path: Path, *, encoding: str | None = None, sheet: str | None = None) -> Table:
    """Read a registry file whole (see :func:`open_table`)."""
    with open_table(path, encoding=encoding, sheet=sheet) as stream:
        lines: list[int] = []
        records: list[list[str]] = []
        for batch in stream.batches(10_000):
            lines.extend(batch.lines)
            records.extend(batch.records)
        return Table(stream.headers, lines, records, stream.encoding)


def cells_of(headers: list[str], record: list[str]) -> dict[str, str]:
    """A record's cells by header, for a reject (an empty overflow column left out)."""
    cells = dict(zip(headers, record, strict=True))
    if not cells.get(OVERFLOW_COLUMN, "x"):
        del cells[OVERFLOW_COLUMN]
    return cells


def _unquote(cell: str) -> str:
    if cell.startswith("'") and cell[1:2] in FORMULA_START:
        return cell[1:]
    return cell


def _header(name: str, cells: list[str]) -> list[str]:
    headers = [h.strip() for h in cells]
    for number, header in enumerate(headers, start=1):
        if len(header) > HEADER_CHARS:
            raise UnreadableFileError(
                f"{name}: the header of column {number} has {len(header):,} characters (at "
                f"most {HEADER_CHARS}); is the first row really the header row?"
            )
    if any("\x00" in h for h in headers):
        raise UnreadableFileError(
            f"{name}: the header row holds NUL bytes; is it UTF-16 text? Save it as CSV "
            "UTF-8 (or GBK)"
        )
    return headers


# -- CSV ----------------------------------------------------------------------------------


def detect_encoding(path: Path, encoding: str | None = None) -> str:
    """The encoding to read ``path`` with: ``encoding`` when given (checked), else UTF-8
    (BOM or not), else GB18030; the file is decoded a chunk at a time to find out.

    Raises
    ------
    UnreadableFileError
        When the file is not text in ``encoding``, or in neither default.
    """
    candidates = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    try:
        decoders = {c: codecs.getincrementaldecoder(c)() for c in candidates}
    except LookupError as exc:
        raise UnreadableFileError(f"unknown encoding {encoding!r}") from exc
    failed: dict[str, tuple[int, str]] = {}  # encoding -> (byte offset, reason)
    offset = 0
    with path.open("rb") as f:
        while decoders:
            chunk = f.read(READ_CHUNK_BYTES)
            for name, decoder in list(decoders.items()):
                try:
                    decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    failed[name] = (offset + exc.start, exc.reason)
                    del decoders[name]
            if not chunk:
                break
            offset += len(chunk)
    for name in candidates:
        if name not in failed:
            return name
    if encoding:
        start, reason = failed[encoding]
        raise UnreadableFileError(
            f"not {encoding} text (byte {start}: {reason}); try another --encoding"
        )
    raise UnreadableFileError("neither UTF-8 nor GB18030 text; name the encoding with --encoding")


def _open_csv(path: Path, encoding: str | None) -> TableStream:
    try:
        used = detect_encoding(path, encoding)
    except UnreadableFileError as exc:
        raise UnreadableFileError(f"{path.name}: {exc}") from exc
    if csv.field_size_limit() < CSV_FIELD_CHARS:
        csv.field_size_limit(CSV_FIELD_CHARS)  # process-wide; only ever raised
    closer = ExitStack()
    raw = closer.enter_context(path.open("rb"))
    text = io.TextIOWrapper(raw, encoding=used, newline="")
    size = max(path.stat().st_size, 1)
    rows = _csv_rows(path.name, csv.reader(text))
    try:
        first = next(rows, None)
        if first is None:
            raise UnreadableFileError(f"{path.name}: empty file, no header row")
        headers = _header(path.name, first[1])
    except BaseException:
        closer.close()
        raise
    return TableStream(
        path.name,
        [*headers, OVERFLOW_COLUMN],
        used,
        rows=_fitted(rows, len(headers)),
        # Read to the end, the text layer is gone and has closed the file with it.
        position=lambda: 1.0 if raw.closed else min(raw.tell() / size, 1.0),
        closer=closer,
    )


def _fitted(rows: Iterator[tuple[int, list[str]]], width: int) -> Iterator[tuple[int, list[str]]]:
    """Each record as ``width`` cells and the overflow cell: cells beyond the header
    joined into it (never dropped), missing ones empty."""
    for line, record in rows:
        if len(record) == width:
            record.append("")
        elif len(record) > width:
            record = [*record[:width], ",".join(record[width:])]
        else:
            record += [""] * (width + 1 - len(record))
        yield line, record


def _csv_rows(name: str, reader: Any) -> Iterator[tuple[int, list[str]]]:
    """The non-blank records of a CSV reader and the line each starts on."""
    line_end = 0
    try:
        for record in reader:
            line = line_end + 1
            line_end = reader.line_num
            joined = "".join(record)
            if joined.strip():
                yield line, [_unquote(c) for c in record] if "'" in joined else record
    except csv.Error as exc:
        raise UnreadableFileError(f"{name}: line {reader.line_num}: {exc}") from exc


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


# -- XLSX ---------------------------------------------------------------------------------


def check_xlsx_xml(path: Path) -> None:
    """Refuse a workbook whose XML declares a DTD or uses an entity it does not define, or
    that would unpack to more than :data:`MAX_XLSX_XML_BYTES`.

    Office Open XML never uses a DTD; entity declarations are how "billion laughs" bombs
    and external-file disclosures work. Every XML part is scanned by expat, a chunk at a
    time and building nothing, before openpyxl reads any (openpyxl's own parser is
    defusedxml's, which refuses entities as well).

    Raises
    ------
    UnreadableFileError
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFileError(f"{path.name}: not a readable XLSX workbook ({exc})") from exc
    with archive:
        parts = [i for i in archive.infolist() if i.filename.endswith((".xml", ".rels"))]
        unpacked = sum(i.file_size for i in parts)
        if unpacked > MAX_XLSX_XML_BYTES:
            raise UnreadableFileError(
                f"{path.name}: its XML would unpack to {unpacked:,} bytes (at most "
                f"{MAX_XLSX_XML_BYTES:,}); is it really a registry workbook?"
            )
        for info in parts:
            try:
                with archive.open(info) as part:
                    _scan_xml(part)
            except _ForbiddenXMLError as exc:
                raise UnreadableFileError(
                    f"{path.name}: {info.filename} {exc}; an XLSX never needs one, so the "
                    "file is refused (save it again from the spreadsheet program)"
                ) from None
            except (ExpatError, zipfile.BadZipFile, OSError, EOFError) as exc:
                raise UnreadableFileError(
                    f"{path.name}: {info.filename} is not well-formed XML ({exc})"
                ) from None


class _ForbiddenXMLError(Exception):
    """An XML construct an XLSX never has."""


def _scan_xml(part: Any) -> None:
    parser = ParserCreate()

    def doctype(*_: object) -> None:
        raise _ForbiddenXMLError("declares a DTD (<!DOCTYPE …>)")

    def entity(*_: object) -> None:
        raise _ForbiddenXMLError("declares an XML entity")

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    while chunk := part.read(READ_CHUNK_BYTES):
        parser.Parse(chunk, False)
    parser.Parse(b"", True)


def _open_xlsx(path: Path, sheet: str | None) -> TableStream:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    check_xlsx_xml(path)
    closer = ExitStack()
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise UnreadableFileError(f"{path.name}: not a readable XLSX workbook ({exc})") from exc
    closer.callback(workbook.close)
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
        worksheet = workbook[chosen]
        rows = _xlsx_rows(path.name, worksheet.iter_rows(values_only=True))
        first = next(rows, None)
        if first is None:
            raise UnreadableFileError(f"{path.name}: sheet {chosen!r} is empty")
        headers = _header(path.name, first[1])
    except BaseException:
        closer.close()
        raise
    width = len(headers)
    total = max(int(getattr(worksheet, "max_row", 0) or 0), 1)
    done = [0]

    def fitted() -> Iterator[tuple[int, list[str]]]:
        for line, values in rows:
            done[0] = line
            values = [_unquote(v) for v in values[:width]]
            yield line, values + [""] * (width - len(values))

    return TableStream(
        path.name,
        headers,
        None,
        rows=fitted(),
        position=lambda: min(done[0] / total, 1.0),
        closer=closer,
    )


def _xlsx_rows(name: str, rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows of a sheet, as text, with their row numbers."""
    number = 0
    try:
        for number, record in enumerate(rows, start=1):
            values = [_cell_text(v) for v in record]
            if any(v.strip() for v in values):
                yield number, values
    except UnreadableFileError:
        raise
    except Exception as exc:  # openpyxl raises what its parser raises; none is ours
        raise UnreadableFileError(
            f"{name}: the sheet cannot be read past row {number} ({type(exc).__name__}: {exc})"
        ) from exc


# -- GeoJSON ------------------------------------------------------------------------------

# A JSON string (with its escapes), then the brackets: what nesting is made of.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """How deeply the JSON ``text`` nests arrays and objects (0 for a scalar).

    Strings are dropped first (a bracket in a name is not nesting), then the brackets'
    running count is taken with numpy: C speed, no recursion, whatever the depth.
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if not brackets:
        return 0
    codes = np.frombuffer(brackets.encode("ascii"), np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max())


def _open_geojson(path: Path) -> TableStream:
    try:
        text = path.read_bytes().decode(detect_encoding(path))
    except UnreadableFileError as exc:
        raise UnreadableFileError(f"{path.name}: not valid GeoJSON ({exc})") from exc
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise UnreadableFileError(
            f"{path.name}: JSON nested {depth:,} levels deep (at most {MAX_JSON_DEPTH}); "
            "GeoJSON features need a few"
        )
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise UnreadableFileError(f"{path.name}: not valid GeoJSON ({exc})") from exc
    del text
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise UnreadableFileError(f"{path.name}: expected a GeoJSON FeatureCollection")
    features = data.get("features")
    if not isinstance(features, list):
        features = []
    features = [f if isinstance(f, dict) else {} for f in features]
    headers: dict[str, None] = {}
    for feature in features:
        properties = feature.get("properties")
        if isinstance(properties, dict):
            headers.update(dict.fromkeys(map(str, properties)))
    names = [h for h in headers if h not in ("lon", "lat")]
    names = [*_header(path.name, names), "lon", "lat"]
    done = [0]

    def rows() -> Iterator[tuple[int, list[str]]]:
        for number, feature in enumerate(features, start=1):
            done[0] = number
            yield number, _feature_cells(feature, names)

    return TableStream(
        path.name,
        names,
        None,
        rows=rows(),
        position=lambda: done[0] / max(len(features), 1),
        closer=ExitStack(),
    )


def _feature_cells(feature: dict[str, Any], headers: list[str]) -> list[str]:
    properties = feature.get("properties")
    cells = (
        {str(k): _cell_text(v) for k, v in properties.items()}
        if isinstance(properties, dict)
        else {}
    )
    geometry = feature.get("geometry")
    if isinstance(geometry, dict):
        coordinates = geometry.get("coordinates")
        if (
            geometry.get("type") == "Point"
            and isinstance(coordinates, list)
            and len(coordinates) >= 2
        ):
            cells["lon"], cells["lat"] = _cell_text(coordinates[0]), _cell_text(coordinates[1])
    return [cells.get(h, "") for h in headers]

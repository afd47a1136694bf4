"""Registry file readers: each yields source rows with the line they came from."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One record as read: ``line`` is the 1-based line in the file (features: 1-based
    position in the collection), ``cells`` the raw text of every column."""

    line: int
    cells: dict[str, str]


class UnreadableFileError(ValueError):
    """The file cannot be processed at all (unknown format, broken encoding, bad JSON)."""


def read_rows(path: Path) -> Iterator[SourceRow]:
    """Rows of a CSV (UTF-8, with or without BOM) or GeoJSON file.

    Raises
    ------
    UnreadableFileError
        For any other format, or content that is not what the extension promises.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".geojson", ".json"):
        return _read_geojson(path)
    raise UnreadableFileError(
        f"{path.name}: unsupported file type {suffix!r}; use .csv or .geojson"
    )


def _read_csv(path: Path) -> Iterator[SourceRow]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(f"{path.name}: not UTF-8 text ({exc.reason})") from exc
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank lines carry nothing to store or reject
        cells = {name: (record[i] if i < len(record) else "") for i, name in enumerate(header)}
        if len(record) > len(header):
            cells["_overflow"] = ",".join(record[len(header) :])
        yield SourceRow(line=line, cells=cells)


def _read_geojson(path: Path) -> Iterator[SourceRow]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableFileError(f"{path.name}: not valid GeoJSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise UnreadableFileError(f"{path.name}: expected a GeoJSON FeatureCollection")
    for position, feature in enumerate(data.get("features") or [], start=1):
        properties = (feature or {}).get("properties") or {}
        cells = {str(k): "" if v is None else str(v) for k, v in properties.items()}
        geometry = (feature or {}).get("geometry") or {}
        coordinates = geometry.get("coordinates")
        if (
            geometry.get("type") == "Point"
            and isinstance(coordinates, list)
            and len(coordinates) >= 2
        ):
            cells["lon"], cells["lat"] = str(coordinates[0]), str(coordinates[1])
        yield SourceRow(line=position, cells=cells)

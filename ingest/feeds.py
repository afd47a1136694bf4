"""Practitioner and evaluation files: what the two feeds share with provider imports.

A practitioners register or an evaluations log arrives as the same kind of file as a
provider registry — CSV (UTF-8, BOM, GBK), XLSX — so it is read by the same reader
(:func:`ingest.readers.read_table`), its headers matched after the same normalisation
(:func:`ingest.headers.map_headers` with each feed's own synonyms), and its rejected rows
end up in the same :class:`~ingest.pipeline.Reject` records, rejects file and JSON report.
Rows become domain objects in :mod:`ingest.practitioners` and :mod:`ingest.evaluations`
(pure); :mod:`jzmap.application.feeds` stores them.

GeoJSON is refused: its features are points, and neither a practitioner's record nor an
evaluation is one.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Generic, TypeVar

from ingest.headers import HeaderError, HeaderMap, map_headers
from ingest.pipeline import IngestReport, Reject
from ingest.readers import OVERFLOW_COLUMN, Table, UnreadableFileError, read_table
from ingest.readers import cells_of as record_cells
from ingest.values import fold
from providers.credit_code import credit_code_problem
from providers.identity import company_id
from providers.model import Kind
from providers.practitioners import Stars

T = TypeVar("T")
# Rows parsed between two progress calls: a progress bar moves, and costs nothing.
PROGRESS_ROWS = 5_000


class FeedKind(StrEnum):
    """Files that are not provider registries."""

    PRACTITIONERS = "practitioners"
    EVALUATIONS = "evaluations"


class ImportKind(StrEnum):
    """What a file import holds: provider rows of one kind (``company``, ``station``: the
    kind of rows without a 类型 column), or one of the feeds."""

    COMPANY = "company"
    STATION = "station"
    PRACTITIONERS = "practitioners"
    EVALUATIONS = "evaluations"

    @property
    def provider_kind(self) -> Kind | None:
        """The provider kind, for a provider import."""
        return None if self.feed is not None else Kind(self.value)

    @property
    def feed(self) -> FeedKind | None:
        """The feed, for a practitioner or evaluation import."""
        return FeedKind(self.value) if self.value in _FEEDS else None


_FEEDS = frozenset(k.value for k in FeedKind)


@dataclass
class FeedRows(Generic[T]):
    """One file's rows: the domain objects built (with the line and record each came
    from, in file order) and the rejected rows with their problems."""

    items: list[T] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)  # of the items' records in the table
    rejects: list[Reject] = field(default_factory=list)


class Row:
    """One record's cells by field (``""`` for a field the file has no column for), and
    each field's column as the file names it, for reasons an operator can find."""

    __slots__ = ("labels", "positions", "record")

    def __init__(self, positions: Mapping[str, int], labels: Mapping[str, str]) -> None:
        self.positions = positions
        self.labels = labels
        self.record: Sequence[str] = ()

    def __call__(self, name: str) -> str:
        position = self.positions.get(name)
        return self.record[position] if position is not None else ""

    def label(self, name: str) -> str:
        return self.labels[name]


def row_reader(table: Table, header: HeaderMap, synonyms: Mapping[str, Sequence[str]]) -> Row:
    """A :class:`Row` for ``table``: a field is labelled by its column's header, or by its
    first (Chinese) synonym when the file has no such column."""
    labels = {name: words[0] for name, words in synonyms.items()}
    labels.update({name: table.headers[i].strip() for name, i in header.fields.items()})
    return Row(header.fields, labels)


def read_feed(
    path: Path,
    kind: FeedKind,
    synonyms: Mapping[str, Sequence[str]],
    required: Sequence[str],
    *,
    encoding: str | None = None,
    sheet: str | None = None,
) -> tuple[Table, HeaderMap]:
    """Read a feed file and match its headers.

    Raises
    ------
    UnreadableFileError
        For GeoJSON, an unreadable file, or a header row without a required column (or
        with two columns meaning one field): then nothing of any file is stored.
    """
    if path.suffix.lower() in (".geojson", ".json"):
        raise UnreadableFileError(
            f"{path.name}: {kind} come as CSV or XLSX; GeoJSON holds provider points only"
        )
    table = read_table(path, encoding=encoding, sheet=sheet)
    try:
        header = map_headers(table.headers, synonyms=synonyms, required=required)
    except HeaderError as exc:
        raise UnreadableFileError(f"{path.name}: {exc}") from exc
    # A CSV's overflow column (cells beyond the header) is no column of the file's: the
    # feeds ignore its cells, and it is not listed among the ignored columns.
    extras = {h: i for h, i in header.extras.items() if h != OVERFLOW_COLUMN}
    return table, HeaderMap(header.fields, extras)


def cells_of(table: Table, index: int) -> dict[str, str]:
    """Record ``index``'s original cells by header, for the rejects file."""
    return record_cells(table.headers, table.records[index])


ProgressCallback = Callable[[int], None]


class Seen:
    """Where each key (an id, a certificate code) was first seen in an import: its file
    and line, to name in the rejection of a row that repeats it."""

    def __init__(self) -> None:
        self._where: dict[str, tuple[str, int]] = {}
        self.values: dict[str, object] = {}

    def first(self, key: str) -> str | None:
        """``line N of FILE`` for a key seen before, else ``None``."""
        where = self._where.get(key)
        return None if where is None else f"line {where[1]} of {where[0]}"

    def add(self, key: str, file: str, line: int, value: object = None) -> None:
        self._where.setdefault(key, (file, line))
        if value is not None:
            self.values.setdefault(key, value)


@dataclass
class FeedReport(IngestReport):
    """What a practitioner or evaluation import did: the provider import's report (rows
    read, stored = inserted + updated + unchanged, rejected with file, line, column and
    reason; ``rows_read == stored + rejected``) and what the feed changed besides.

    For practitioners, ``inserted``/``updated``/``unchanged`` are registry records and
    ``rebaselined`` counts the evaluated practitioners whose new official stars the grade
    book took as their baseline (:mod:`jzmap.application.practitioners`); for evaluations,
    ``inserted`` counts rows recorded (new ids, and complaint resolutions) and
    ``unchanged`` rows already recorded as sent.

    A practitioners report never carries rejected rows' cells (they are personal data);
    the rejects file, written where the operator asks, does.
    """

    kind: FeedKind = FeedKind.PRACTITIONERS
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    by_type: Counter[str] = field(default_factory=Counter)
    providers_updated: list[str] = field(default_factory=list)
    counted_on: date | None = None
    grade_changes: list[dict[str, object]] = field(default_factory=list)
    blacklisted: list[str] = field(default_factory=list)

    def to_dict(self, *, with_cells: bool = False) -> dict[str, object]:
        return super().to_dict(with_cells=with_cells and self.kind is FeedKind.EVALUATIONS)

    def summary(self) -> dict[str, object]:
        data: dict[str, object] = {
            "kind": self.kind.value,
            "files": self.files,
            "encodings": self.encodings,
            "dry_run": self.dry_run,
            "rows_read": self.rows_read,
            "stored": self.stored,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "warnings": len(self.warnings),
            "ignored_columns": self.ignored_columns,
            "providers_updated": self.providers_updated,
        }
        if self.kind is FeedKind.PRACTITIONERS:
            data["counted_on"] = None if self.counted_on is None else self.counted_on.isoformat()
            data["rebaselined"] = self.rebaselined
        else:
            data["by_type"] = dict(self.by_type)
            data["grade_changes"] = self.grade_changes
            data["blacklisted"] = self.blacklisted
        return data


# -- cells both feeds have ------------------------------------------------------------

_STAR_NUMERALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_STARS = re.compile(r"([1-5一二两三四五])(?:\.0+)?(?:星级?|stars?)?")


@functools.lru_cache(maxsize=1024)
def parse_stars(text: str) -> tuple[Stars | None, str | None]:
    """A star rating: ``5``, ``５``, ``5星``, ``五星级``, ``★★★★★``, ``★★★☆☆``; blank: none.

    Examples
    --------
    >>> [int(parse_stars(t)[0]) for t in ("5", "４星", "三星级", "★★★☆☆")]
    [5, 4, 3, 3]
    >>> parse_stars("6")[1]
    'is not a star rating from 1 to 5 (5, ５, 5星, 五星, ★★★★★)'
    """
    key = "".join(fold(text).lower().split())
    if not key:
        return None, None
    stars = 0
    if set(key) <= {"★", "☆"} and len(key) <= 5:
        stars = key.count("★")
    elif found := _STARS.fullmatch(key):
        digit = found.group(1)
        stars = _STAR_NUMERALS.get(digit) or int(digit)
    if not 1 <= stars <= 5:
        return None, "is not a star rating from 1 to 5 (5, ５, 5星, 五星, ★★★★★)"
    return Stars(stars), None


@functools.lru_cache(maxsize=65_536)
def parse_company(text: str) -> tuple[str | None, str | None]:
    """A company's provider id from its credit code or its id ``co-…``; blank is
    ``(None, None)``. A station id (``st-…``) is passed on as it is, for the store check
    to say what it is (stations have no practitioners and no grade). Reasons may quote
    the code: a company's credit code is public.

    Examples
    --------
    >>> parse_company("９１４４０３００１９２２０３８２１６")
    ('co-914403001922038216', None)
    >>> parse_company("CO-914403001922038216"), parse_company("st-440105004")
    (('co-914403001922038216', None), ('st-440105004', None))
    """
    key = "".join(fold(text).split())
    if not key:
        return None, None
    if key.lower().startswith("st-"):
        return "st-" + key[3:], None
    code = key[3:] if key.lower().startswith("co-") else key
    problem = credit_code_problem(code.upper())
    if problem is not None:
        return None, f"is neither a company's credit code nor its id co-…: {problem}"
    return company_id(code), None

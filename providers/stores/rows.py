"""The flat row shape both stores persist, and its conversion to and from providers.

One mapping for every backend, so a provider read back from SQLite or PostGIS is equal to
the one written. Writes travel column by column (:class:`RowBatch`): an import of a
million rows cannot afford an object, a dict and a conversion call per row and field.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import numpy as np

from geo.crs import CRS
from geo.h3cells import STORED_RESOLUTIONS, stored_cells
from providers.model import Category, Grade, Kind, Precision, Provider

# Column order shared by the stores; ``h3_r*`` are derived from the point (RowBatch.h3).
CONTENT_COLUMNS: tuple[str, ...] = (
    "id",
    "kind",
    "name",
    "categories",
    "lon",
    "lat",
    "credit_code",
    "credit_grade",
    "grade_rank",
    "address",
    "district",
    "street",
    "community",
    "phone",
    "opening_hours",
    "practitioners",
    "certified_practitioners",
    "source_crs",
    "source_lon",
    "source_lat",
    "geocode_precision",
    "geocoder",
    "source",
    "active",
    "extra",
)
# When the record was last verified (ISO date text, or None): stored beside the content
# but not part of it, so it is neither compared (a re-import that only verifies a record
# again leaves it unchanged) nor kept in the import history's versions.
VERIFIED_COLUMN = "verified_at"
READ_COLUMNS: tuple[str, ...] = (*CONTENT_COLUMNS, VERIFIED_COLUMN)
H3_COLUMNS: tuple[str, ...] = tuple(f"h3_r{res}" for res in STORED_RESOLUTIONS)
ALL_COLUMNS = READ_COLUMNS + H3_COLUMNS


@dataclass(frozen=True, eq=False)
class RowBatch:
    """Providers column by column, each value as the stores keep it.

    ``columns`` has one list per name in :data:`READ_COLUMNS`, all of one length:
    enums as their values, ``categories`` as the sorted values joined by commas, ``extra``
    as JSON text with sorted keys (so equal dicts give equal text), ``verified_at`` as ISO
    date text, missing values as ``None`` (a ``verified_at`` of ``None`` keeps the stored
    date). Ids are unique within a batch (an upsert counts the records it was given,
    ``received``). The H3 cells are derived once per batch.
    """

    columns: dict[str, list[Any]]
    duplicates: int = 0  # records left out because a later one had the same id
    # Ids of a snapshot's rejected rows whose provider is known: not to be deactivated
    # (providers.history; the rows themselves are not written).
    kept: list[str] = field(default_factory=list)
    _h3: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.columns["id"])

    @property
    def received(self) -> int:
        return len(self) + self.duplicates

    def h3(self) -> dict[str, list[int]]:
        """The ``h3_r*`` columns, computed on first use."""
        if not self._h3 and len(self):
            cells = stored_cells(
                np.asarray(self.columns["lon"], np.float64),
                np.asarray(self.columns["lat"], np.float64),
            )
            self._h3.update({f"h3_r{res}": cells[res].tolist() for res in STORED_RESOLUTIONS})
        return self._h3

    def column(self, name: str) -> list[Any]:
        """A content or H3 column by name."""
        return self.h3()[name] if name in H3_COLUMNS else self.columns[name]

    def rows(self, names: Sequence[str] = ALL_COLUMNS) -> Iterator[tuple[Any, ...]]:
        """The rows as tuples of the named columns."""
        return zip(*(self.column(n) for n in names), strict=True)

    def providers(self) -> Iterator[Provider]:
        """The batch as providers (for code that wants objects; the stores do not)."""
        return map(from_row, self.rows(READ_COLUMNS))

    @classmethod
    def of(cls, providers: Sequence[Provider]) -> RowBatch:
        """The batch of ``providers``; when an id comes twice, its last record wins."""
        latest = list({p.id: p for p in providers}.values())
        columns = {name: list(map(attrgetter(name), latest)) for name in READ_COLUMNS}
        for name in ("kind", "source_crs", "geocode_precision"):
            columns[name] = [member.value for member in columns[name]]
        columns["credit_grade"] = [None if g is None else g.value for g in columns["credit_grade"]]
        columns["categories"] = list(map(categories_text, columns["categories"]))
        columns["extra"] = list(map(extra_text, columns["extra"]))
        columns[VERIFIED_COLUMN] = [
            None if day is None else day.isoformat() for day in columns[VERIFIED_COLUMN]
        ]
        return cls(columns, duplicates=len(providers) - len(latest))


@functools.cache
def categories_text(categories: frozenset[Category]) -> str:
    """How a set of categories is stored: sorted values joined by commas."""
    return ",".join(sorted(c.value for c in categories))


def extra_text(extra: dict[str, str]) -> str:
    """How ``extra`` is stored: JSON with sorted keys, so equal dicts give equal text."""
    return json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else "{}"


class ProviderBatches(Iterable[Provider]):
    """Providers that arrive as :class:`RowBatch` es: an importer's validated columns.

    A store's ``upsert`` takes any iterable of providers (the contract); given one of
    these it writes the columns as they are, without building a provider per row. Like
    a generator it can be consumed once.
    """

    def __init__(self, batches: Iterable[RowBatch]) -> None:
        self._batches = iter(batches)

    def batches(self) -> Iterator[RowBatch]:
        return self._batches

    def __iter__(self) -> Iterator[Provider]:
        return itertools.chain.from_iterable(b.providers() for b in self._batches)


def row_batches(providers: Iterable[Provider], size: int) -> Iterator[RowBatch]:
    """``providers`` as batches of about ``size`` rows (or the batches they come in)."""
    if isinstance(providers, ProviderBatches):
        yield from providers.batches()
        return
    iterator = iter(providers)
    # (itertools.batched arrives with Python 3.12; the project supports 3.11.)
    while chunk := list(itertools.islice(iterator, size)):
        yield RowBatch.of(chunk)


_KIND = {k.value: k for k in Kind}
_CATEGORY = {c.value: c for c in Category}
_GRADE = {g.value: g for g in Grade}
_CRS = {c.value: c for c in CRS}
_PRECISION = {p.value: p for p in Precision}


@functools.cache
def _category_set(values: tuple[str, ...]) -> frozenset[Category]:
    # Fifteen possible sets: share them rather than build one per provider.
    return frozenset(_CATEGORY[c] for c in values if c)


def _categories(value: str | list[str]) -> frozenset[Category]:
    return _category_set(tuple(value.split(",") if isinstance(value, str) else value))


def from_row(row: Sequence[Any]) -> Provider:
    """The provider a stored row describes.

    ``row`` holds the columns in :data:`READ_COLUMNS` order, by position (a tuple,
    ``sqlite3.Row``, a psycopg row); extra trailing columns are ignored. ``verified_at``
    may come as a date (PostGIS) or ISO text (SQLite).
    ``categories`` may come as a list (PostGIS) or comma-separated text (SQLite); numbers
    come typed from both drivers. Rows were validated when written, so this skips
    re-validation: it is on the hot path.
    """
    (
        id_, kind, name, categories, lon, lat, credit_code, grade, _rank, address, district,
        street, community, phone, hours, practitioners, certified, source_crs, source_lon,
        source_lat, precision, geocoder, source, active, extra, verified,
    ) = row[: len(READ_COLUMNS)]  # fmt: skip
    return Provider.trusted(
        id_,
        _KIND[kind],
        name,
        _categories(categories),
        lon,
        lat,
        credit_code,
        None if grade is None else _GRADE[grade],
        address,
        district,
        street,
        community,
        phone,
        hours,
        practitioners,
        certified,
        _CRS[source_crs],
        source_lon,
        source_lat,
        _PRECISION[precision],
        geocoder,
        source,
        bool(active),
        json.loads(extra) if isinstance(extra, str) else dict(extra or {}),
        _date(verified),
    )


@functools.lru_cache(maxsize=4096)
def _date_of(text: str) -> dt.date:
    # Few distinct days (one per import): parse each once, not once per provider.
    return dt.date.fromisoformat(text)


def _date(value: str | dt.date | None) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return _date_of(value)

"""The store contract every backend implements (embedded and PostGIS).

Kept small on purpose: the ranking needs "the k nearest providers that pass these filters,
in true metres", the API needs "this provider by id", ingest needs "upsert these". One
contract test suite (tests/test_store_contract.py) runs unchanged against every store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from geo.tiles import Tile
from providers.errors import UnavailableError
from providers.history import Change, ImportEntry, ImportOutcome, ImportRecord
from providers.hours import admits_hours
from providers.model import Category, Grade, Kind, Precision, Provider
from providers.scoring import ScoreSpec


def id_digest(provider_id: str) -> str:
    """The first 16 hex digits of the MD5 of ``provider_id`` (UTF-8): a fixed-width key of
    a provider id that an outside id can carry and both stores look up by index
    (PostgreSQL computes the same ``md5`` in SQL, so its index is on an expression, not a
    column). Not a secret and not a security measure: provider ids are public.

    Examples
    --------
    >>> id_digest("st-440103001")
    '344d387d664f1049'
    """
    return hashlib.md5(provider_id.encode(), usedforsecurity=False).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Filters:
    """Hard filters: a provider that fails any of them is never returned.

    ``min_grade`` applies to companies only: stations are ungraded and stay in the answer
    unless ``kind`` asks for companies. ``certified_only`` keeps providers with at least one
    安心服务证 holder. Providers located only to their district are left out unless
    ``include_approximate``. With ``open_at`` (naive: Asia/Shanghai local time), only
    providers whose opening hours (:mod:`providers.hours`) say they are open then pass;
    those whose hours are unknown pass too when ``include_unknown_hours``.
    """

    category: Category | None = None
    min_grade: Grade | None = None
    kind: Kind | None = None
    certified_only: bool = False
    radius_m: float | None = None
    include_approximate: bool = False
    open_at: dt.datetime | None = None
    include_unknown_hours: bool = False

    def admits(self, p: Provider) -> bool:
        """Whether ``p`` passes every filter but the radius (which needs a query point)."""
        return (
            p.active
            and (self.category is None or self.category in p.categories)
            and (self.kind is None or p.kind is self.kind)
            and (
                self.min_grade is None
                or p.credit_grade is None
                or p.credit_grade.rank >= self.min_grade.rank
            )
            and (not self.certified_only or p.certified_practitioners > 0)
            and (self.include_approximate or p.geocode_precision is not Precision.DISTRICT)
            and (
                self.open_at is None
                or admits_hours(p.opening_hours, self.open_at, self.include_unknown_hours)
            )
        )


@dataclass(frozen=True, slots=True)
class BBox:
    """A WGS-84 longitude/latitude box (a map viewport), edges included.

    Examples
    --------
    >>> BBox(113.2, 23.0, 113.4, 23.2).contains(113.3245, 23.1064)
    True
    >>> BBox(113.4, 23.0, 113.2, 23.2)
    Traceback (most recent call last):
    ...
    ValueError: a bounding box needs west < east and south < north, got (113.4, 23.0, 113.2, 23.2)
    """

    west: float
    south: float
    east: float
    north: float

    def __post_init__(self) -> None:
        values = (self.west, self.south, self.east, self.north)
        if not (-180 <= self.west < self.east <= 180 and -90 <= self.south < self.north <= 90):
            raise ValueError(f"a bounding box needs west < east and south < north, got {values}")

    def contains(self, lon: float, lat: float) -> bool:
        return self.west <= lon <= self.east and self.south <= lat <= self.north


class TallyBy(StrEnum):
    """What :meth:`ProviderStore.tally` groups providers by: district name, street name (the
    street the provider's address names; "" when none) or H3 cell. Vector tiles group by
    district or cell only."""

    DISTRICT = "district"
    STREET = "street"
    H3_R7 = "h3_r7"
    H3_R8 = "h3_r8"
    H3_R9 = "h3_r9"


TILE_GROUPINGS = (TallyBy.DISTRICT, TallyBy.H3_R7, TallyBy.H3_R8, TallyBy.H3_R9)
"""What :meth:`ProviderStore.tile` groups by (a street has no point of its own in a tile)."""


def check_tile_grouping(by: TallyBy | None) -> None:
    """Refuse a grouping :meth:`ProviderStore.tile` does not draw, in both stores alike."""
    if by is not None and by not in TILE_GROUPINGS:
        raise ValueError(f"vector tiles group by district or H3 cell, not by {by.value}")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A provider and its geodesic distance (WGS-84 ellipsoid, metres) from the query."""

    provider: Provider
    distance_m: float


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What an upsert did; ``unchanged`` rows were identical to what was stored, and of
    them ``reverified`` got a new verification date (``Provider.verified_at``)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    reverified: int = 0

    @property
    def changed(self) -> bool:
        """Whether anything a reader sees changed (the data version moves on)."""
        return self.inserted + self.updated + self.deactivated + self.reverified > 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.deactivated + other.deactivated,
            self.reverified + other.reverified,
        )


TILE_LAYER = "providers"
"""The one layer of the providers' vector tiles."""
TILE_EXTENT = 4096
"""Positions in a vector tile run 0..4096 a side (MVT's customary grid)."""


@dataclass(frozen=True, slots=True)
class VectorTile:
    """One encoded Mapbox Vector Tile (MVT 2.1, protobuf) and how many features its
    :data:`TILE_LAYER` layer holds (a tile with none holds no layer at all)."""

    data: bytes
    features: int


class StoreUnavailableError(UnavailableError, RuntimeError):
    """The store cannot answer now (database down, file unreadable); retrying may help.

    The message names the store's file or database host and the driver's words: for the
    log, never for the client (``public_message``).
    """

    public_message = "the provider store cannot answer now; retry in {retry_after_s} s"


@runtime_checkable
class ProviderStore(Protocol):
    """What the ranking, the API and ingest need from a store."""

    def upsert(
        self, providers: Iterable[Provider], *, replace_source: str | None = None
    ) -> UpsertCounts:
        """Insert or update by ``id`` in one transaction; identical rows are left alone.

        With ``replace_source``, the same transaction also deactivates (never deletes) the
        active providers of that source whose ids were not in ``providers``: a snapshot.
        When the same id comes twice, the last record wins.
        """
        ...

    def record_import(
        self,
        providers: Iterable[Provider],
        record: ImportRecord,
        *,
        replace_source: str | None = None,
    ) -> ImportOutcome:
        """:meth:`upsert` as a recorded import (:mod:`providers.history`), in one transaction:
        an entry in the import history, and per provider inserted, updated, deactivated
        or deleted (``record.delete``) its version before. A snapshot deactivating more
        than ``record.guard`` allows raises
        :class:`~providers.history.TooManyDeactivationsError` and writes nothing. Ids in
        the batches' ``kept`` (rejected rows of known identity) are not deactivated; those
        that name an active provider of the source are recorded as kept. With
        ``record.dry_run`` the changes come back and nothing is written.
        """
        ...

    def imports(self, limit: int = 100) -> list[ImportEntry]:
        """The recorded imports, newest first (at most ``limit``)."""
        ...

    def import_entry(self, import_id: int) -> ImportEntry | None:
        """One recorded import, or ``None``."""
        ...

    def import_changes(self, import_id: int) -> list[Change]:
        """What the import did, provider by provider (by id)."""
        ...

    def later_imports(self, import_id: int) -> list[int]:
        """Imports after ``import_id`` (neither undone nor undos themselves) that touched a
        provider it touched: what an undo of it would overwrite, oldest first."""
        ...

    def get(self, provider_id: str) -> Provider | None:
        """The provider with this id (active or not), or ``None``."""
        ...

    def with_id_digest(self, digest: str) -> list[Provider]:
        """The active providers whose :func:`id_digest` is ``digest``, by id (almost
        always one or none): how an outside id that carries the digest (an HSDS UUID)
        finds its provider, by index, with no table of outside ids."""
        ...

    def nearest(self, lon: float, lat: float, filters: Filters, k: int) -> list[Candidate]:
        """The ``k`` nearest active providers passing ``filters``, nearest first.

        Distances are geodesic on the WGS-84 ellipsoid. Ties are broken by id so that every
        store returns the same list. Fewer than ``k`` come back only when no more pass.
        """
        ...

    def best_by_score(
        self, lon: float, lat: float, filters: Filters, k: int, spec: ScoreSpec
    ) -> list[Candidate]:
        """The ``k`` active providers passing ``filters`` with the highest score under
        ``spec`` (:mod:`providers.scoring`), best first; ties by metres, then id.

        Exact: the same answer as scoring every provider that passes. Distances are
        geodesic on the WGS-84 ellipsoid. Fewer than ``k`` come back only when no more pass.
        """
        ...

    def within(
        self, bbox: BBox | None, filters: Filters, limit: int, *, after: str | None = None
    ) -> list[Provider]:
        """Active providers passing ``filters`` inside ``bbox`` (anywhere for ``None``):
        the first ``limit`` by id, in code-point order, and only ids after ``after`` when
        given.

        ``filters.radius_m`` does not apply (there is no query point). A caller that must
        know whether the box held more asks for one more than it will show. ``after`` makes
        keyset pages: the next page starts after the last id of this one, so pages stay
        stable while providers are added or removed (an offset would skip or repeat them).
        Code-point order is byte order of UTF-8, the same in every store.
        """
        ...

    def tally(self, filters: Filters, by: TallyBy, bbox: BBox | None = None) -> dict[str, int]:
        """How many active providers pass ``filters``, grouped ``by`` district or H3 cell.

        Keys are district names, or H3 cells as their hex strings; groups with no provider
        are absent. ``bbox`` restricts the count to providers inside it.
        """
        ...

    def tile(
        self, tile: Tile, filters: Filters, *, by: TallyBy | None = None, limit: int = 0
    ) -> VectorTile:
        """The :data:`TILE_LAYER` layer of one Web-Mercator vector tile, of the active
        providers passing ``filters`` (but ``radius_m``) inside the tile's WGS-84 bounds.

        With ``by=None``: the first ``limit`` of them by id, one point each, with the
        properties ``mode`` = ``"points"``, ``id``, ``name``, ``kind``, ``categories``
        (sorted, comma-separated), ``credit_grade`` (companies only),
        ``certified_practitioners`` and ``approximate`` (located to less than the
        address). A caller that must know whether the tile held more asks for one more.

        Grouped ``by`` district or H3 cell: one point per group, at the mean longitude
        and latitude of the group's providers inside the tile (so it lies in the tile,
        and every provider is counted in the tile it is in), with ``mode`` =
        ``"districts"`` and ``district`` (its name) or ``mode`` = ``"cells"`` and
        ``cell`` (the H3 cell as hex), and ``count``.

        Positions are in the tile's grid of :data:`TILE_EXTENT` units, rounded.
        """
        ...

    def count(self) -> int:
        """How many providers are stored (active or not)."""
        ...

    def delete_all(self) -> int:
        """Remove every provider, and the import history, in one transaction (demo
        rebuilds, tests); returns how many providers there were."""
        ...

    def data_version(self) -> int:
        """A number that changes whenever a write changes what is stored (for caches)."""
        ...

    def check(self) -> None:
        """Raise :class:`StoreUnavailableError` with a reason when the store cannot answer."""
        ...

    def warm(self) -> None:
        """Build the in-memory read indexes now rather than on the first read that needs
        them (at a million providers that first read would take seconds)."""
        ...

    def close(self) -> None: ...

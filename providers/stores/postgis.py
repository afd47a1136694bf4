"""The PostGIS store's reads: psycopg 3 directly, prepared, on the backend's one pool
(:class:`~providers.stores.pg_database.Database`); its writes are
:mod:`providers.stores.bulk_load`.

Nearest-match is one statement: a KNN walk of a planar GiST index on ``geom`` (partial:
all active providers, one per category, one for stations) ordered by ``geom <-> point``,
the distance in plain lon/lat degrees. Answers must be geodesic metres on the WGS-84
ellipsoid, so the statement also returns ``ST_Distance(geography)`` and the rows are
re-ranked in Python. The fetch is exact, not hopeful: every row not fetched is at least
as far in degrees as the last one, and :func:`geo.geodesy.geodesic_lower_bound_m` turns
that into metres it cannot be closer than; once the k-th geodesic distance is within
that bound nothing unseen can enter the top k. Otherwise the fetch grows fourfold and
the query runs again. (Planar indexes rather than geography ones: the same cost per
inserted row, but a sorted build seven times faster, which bulk imports use; see
migration 0005.)

Every statement is constant text built from enums and booleans (category, which filters
are in use, a LIMIT bucket); request values travel only as bound parameters.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, LiteralString, NamedTuple, TypeVar

import h3
import numpy as np
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo.geodesy import degree_box, geodesic_lower_bound_m
from geo.tiles import Tile
from providers.history import Change, ImportEntry, ImportOutcome, ImportRecord
from providers.hours import HoursIndex
from providers.model import Category, Kind, Provider
from providers.score_index import ScoreIndex
from providers.scoring import ScoreSpec
from providers.store import (
    TILE_EXTENT,
    TILE_LAYER,
    BBox,
    Candidate,
    Filters,
    StoreUnavailableError,
    TallyBy,
    UpsertCounts,
    VectorTile,
    check_tile_grouping,
)
from providers.stores import history_sql as hs
from providers.stores.bulk_load import BUMP_DATA_VERSION, load_providers, record_providers
from providers.stores.pg_database import Database
from providers.stores.replicas import Replica
from providers.stores.rows import READ_COLUMNS, from_row

T = TypeVar("T")

_POINT = "ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)"
# The radius filter's planar prefilter (geo.geodesy.degree_box), which the index serves.
_RADIUS_BOX = "geom && ST_MakeEnvelope(%(r_west)s, %(r_south)s, %(r_east)s, %(r_north)s, 4326)"
# ``extra`` travels as text: parsing jsonb for every fetched row measured slower than
# json.loads on the rows kept.
_READ_COLUMNS = ", ".join(
    {"lon": "ST_X(geom) AS lon, ST_Y(geom) AS lat", "extra": "extra::text AS extra"}.get(c, c)
    for c in READ_COLUMNS
    if c != "lat"
)


def _fetch_size(rows: int) -> int:
    """``rows`` rounded up to a power of 2 (at least 16), so few distinct statements get
    prepared."""
    size = 16
    while size < rows:
        size *= 2
    return size


class _Shape(NamedTuple):
    """Which filters a nearest statement applies: each shape is its own constant text."""

    category: Category | None
    radius: bool
    kind: Kind | None
    min_grade: bool
    certified_only: bool
    include_approximate: bool
    open_at: bool = False

    @classmethod
    def of(cls, f: Filters) -> _Shape:
        return cls(
            f.category,
            f.radius_m is not None,
            f.kind,
            f.min_grade is not None,
            f.certified_only,
            f.include_approximate,
            f.open_at is not None,
        )


def _filter_clauses(shape: _Shape) -> list[str]:
    """The WHERE clauses of a filter shape but its radius (which needs a query point)."""
    clauses = ["active"]
    if shape.category is not None:
        # Literal, so the planner matches the category's partial index.
        clauses.append(f"categories @> ARRAY['{shape.category.value}']::text[]")
    if shape.kind is not None:
        # Literal, so that stations are found through their own partial index.
        clauses.append(f"kind = '{shape.kind.value}'")
    if shape.min_grade:
        clauses.append("(grade_rank IS NULL OR grade_rank >= %(min_rank)s)")
    if shape.certified_only:
        clauses.append("certified_practitioners > 0")
    if not shape.include_approximate:
        clauses.append("geocode_precision <> 'district'")
    if shape.open_at:
        # The texts open at the time, decided in Python (holidays, 调休): few distinct ones.
        clauses.append("opening_hours = ANY(%(open_hours)s::text[])")
    return clauses


def _filter_params(f: Filters) -> dict[str, Any]:
    return {
        "radius_m": f.radius_m,
        "min_rank": None if f.min_grade is None else f.min_grade.rank,
    }


_ENVELOPE = "geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)"


@functools.cache
def _within_sql(shape: _Shape, in_bbox: bool, after: bool) -> str:
    """Providers in a box, in id order: the planar GiST index finds them in a small box,
    and the filters thin them; in a large one (or none) the B-tree on ``id COLLATE "C"``
    (migration 0007) is walked from ``after`` until the page is full.

    ``COLLATE "C"``: code-point order, the embedded store's, whatever the database's
    collation (a language's would order ids differently).
    """
    clauses = _filter_clauses(shape)
    if in_bbox:
        clauses.append(_ENVELOPE)
    if after:
        clauses.append('id COLLATE "C" > %(after)s')
    where = " AND ".join(clauses)
    return (
        f"SELECT {_READ_COLUMNS} FROM providers WHERE {where} "
        'ORDER BY id COLLATE "C" LIMIT %(limit)s'
    )


@functools.cache
def _tally_sql(shape: _Shape, by: TallyBy, in_bbox: bool) -> str:
    """Counts per district, street or H3 cell; ``by`` is an enum, so its column name is
    constant."""
    clauses = _filter_clauses(shape)
    if in_bbox:
        clauses.append(_ENVELOPE)
    return (
        f"SELECT {by.value}, count(*) FROM providers WHERE {' AND '.join(clauses)} "
        f"GROUP BY {by.value}"
    )


def _mvt_point(point: str) -> str:
    """A WGS-84 point expression in the tile's grid (``ST_AsMVTGeom``: y down, rounded)."""
    return (
        f"ST_AsMVTGeom(ST_Transform({point}, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), "
        f"{TILE_EXTENT}, 0, false)"
    )


@functools.cache
def _tile_sql(shape: _Shape, by: TallyBy | None) -> str:
    """One vector tile by ``ST_AsMVT`` and its feature count, in one statement: the
    providers in the tile's WGS-84 box (the planar GiST index finds them) as points, or
    one point per group at the group's mean lon/lat. ``by`` is an enum, so its column name
    is constant; the properties are the embedded store's, one for one."""
    where = " AND ".join([*_filter_clauses(shape), _ENVELOPE])
    if by is None:
        rows = f"""
            SELECT {_mvt_point("geom")} AS geom, 'points'::text AS mode, id, name, kind,
                   array_to_string(ARRAY(SELECT c FROM unnest(categories) c ORDER BY c), ',')
                       AS categories,
                   credit_grade, certified_practitioners,
                   geocode_precision <> 'exact' AS approximate
            FROM providers WHERE {where} ORDER BY id LIMIT %(limit)s"""
    else:
        mean = "ST_SetSRID(ST_MakePoint(avg(ST_X(geom)), avg(ST_Y(geom))), 4326)"
        key = (
            "'districts'::text AS mode, district"
            if by is TallyBy.DISTRICT
            else f"'cells'::text AS mode, to_hex({by.value}) AS cell"
        )
        rows = f"""
            SELECT {_mvt_point(mean)} AS geom, {key}, count(*)::int AS count
            FROM providers WHERE {where} GROUP BY {by.value}"""
    return (
        f"SELECT coalesce(ST_AsMVT(t, '{TILE_LAYER}', {TILE_EXTENT}, 'geom'), ''::bytea), "
        f"count(*) FROM ({rows}) t"
    )


@functools.cache
def _nearest_sql(shape: _Shape, limit: int) -> str:
    """The nearest statement for a filter shape and a LIMIT bucket, in psycopg's
    placeholders; only the filters in use appear, their values bound as parameters.

    The hot path runs it on the driver directly, prepared, skipping SQLAlchemy's result
    machinery (which costs as much as the query at these latencies). The LIMIT is a literal
    because a parameter LIMIT measured 15% slower (generic plan); :func:`_fetch_size` and
    the few shapes in use keep the number of prepared statements small.
    """
    clauses = _filter_clauses(shape)
    if shape.radius:
        clauses.append(_RADIUS_BOX)
        clauses.append(f"ST_DWithin(geom::geography, {_POINT}::geography, %(radius_m)s)")
    return f"""
        SELECT {_READ_COLUMNS},
               ST_Distance(geom::geography, {_POINT}::geography) AS distance_m,
               geom <-> {_POINT} AS planar_deg,
               xmin::text AS row_version
        FROM providers
        WHERE {" AND ".join(clauses)}
        ORDER BY geom <-> {_POINT}
        LIMIT {int(limit)}
        """


# Positions of the two distances and the row version after the content columns.
_DISTANCE = len(READ_COLUMNS)
_PLANAR = _DISTANCE + 1
_VERSION = _DISTANCE + 2
# Providers built from rows, kept by id with the row version (xmin) they were built from.
_PROVIDER_CACHE_SIZE = 100_000

# What the score index needs of every active provider, with the data version it is at, in
# one statement (one snapshot); the LEFT JOIN still gives the version of an empty table.
_SCORE_COLUMNS_SQL = f"""
    SELECT m.value, p.* FROM jzmap_meta m LEFT JOIN (
        SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat,
               CASE WHEN kind = 'company' THEN grade_rank ELSE 0 END AS grade_class,
               practitioners, certified_practitioners,
               geocode_precision = 'district' AS approximate,
               {", ".join(f"categories @> ARRAY['{c.value}']" for c in Category)},
               opening_hours
        FROM providers WHERE active
    ) p ON true
    WHERE m.key = 'data_version'
"""
# The winners of a score search, with the data version the index must still be at. One
# primary-key probe per id (LATERAL ... LIMIT 1): with ``id = ANY(...)`` the generic plan
# scanned a small table whole, comparing every id with every wanted one.
_WINNERS_SQL = f"""
    SELECT m.value, p.* FROM jzmap_meta m LEFT JOIN (
        SELECT found.* FROM unnest(%(ids)s::text[]) AS wanted(id) CROSS JOIN LATERAL (
            SELECT {_READ_COLUMNS}, xmin::text AS row_version FROM providers
            WHERE providers.id = wanted.id LIMIT 1
        ) found
    ) p ON true
    WHERE m.key = 'data_version'
"""
# A search re-runs on a fresh index when the data moved under it; past this many times in
# a row, the request is answered 503 rather than chasing a store that never settles.
_SCORE_ATTEMPTS = 3


class PostgisStore:
    """Providers in PostgreSQL + PostGIS.

    Reads run in autocommit on pooled connections (no BEGIN/ROLLBACK round trips around a
    one-statement read) and are retried once on a fresh connection when the pooled one
    turns out dead (a database restart): :meth:`Database.read
    <providers.stores.pg_database.Database.read>`. Writes run in one transaction each,
    with the database's write timeout (:mod:`providers.stores.bulk_load`).

    Parameters
    ----------
    db
        The backend's database, shared with its grade book and registry; closed by the
        backend (:class:`~providers.stores.backend.Backend`), not by the store.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._providers: dict[str, tuple[str, Provider]] = {}
        self._scores: _ScoreSnapshot | None = None
        self._scores_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The engine of the backend's one pool."""
        return self._db.engine

    def upsert(
        self, providers: Iterable[Provider], *, replace_source: str | None = None
    ) -> UpsertCounts:
        """COPY and merge, or a bulk load into an empty table:
        :func:`providers.stores.bulk_load.load_providers`."""
        counts = load_providers(self._db, providers, replace_source)
        self._db.settle_replicas()  # a bulk load commits outside Database.transaction
        return counts

    def record_import(
        self,
        providers: Iterable[Provider],
        record: ImportRecord,
        *,
        replace_source: str | None = None,
    ) -> ImportOutcome:
        """:func:`providers.stores.bulk_load.record_providers`."""
        outcome = record_providers(self._db, providers, record, replace_source)
        self._db.settle_replicas()  # a recorded bulk load commits outside Database.transaction
        return outcome

    def imports(self, limit: int = 100) -> list[ImportEntry]:
        rows = self._read(lambda conn: conn.execute(hs.pg(hs.LIST_SQL), (limit,)).fetchall())
        return [hs.entry(r) for r in rows]

    def import_entry(self, import_id: int) -> ImportEntry | None:
        row = self._read(lambda conn: conn.execute(hs.pg(hs.ENTRY_SQL), (import_id,)).fetchone())
        return None if row is None else hs.entry(row)

    def import_changes(self, import_id: int) -> list[Change]:
        sql = hs.pg(hs.CHANGES_SQL)
        return hs.changes(self._read(lambda conn: conn.execute(sql, (import_id,)).fetchall()))

    def later_imports(self, import_id: int) -> list[int]:
        sql = hs.pg(hs.LATER_SQL)
        rows = self._read(lambda conn: conn.execute(sql, (import_id,)).fetchall())
        return [int(r[0]) for r in rows]

    def get(self, provider_id: str) -> Provider | None:
        sql = f"SELECT {_READ_COLUMNS} FROM providers WHERE id = %s"
        row = self._read(lambda conn: conn.execute(sql, (provider_id,)).fetchone())
        return None if row is None else from_row(row)

    def with_id_digest(self, digest: str) -> list[Provider]:
        # The expression of the index providers_id_digest (migration 0012).
        sql = (
            f"SELECT {_READ_COLUMNS} FROM providers "
            'WHERE substr(md5(id), 1, 16) = %s AND active ORDER BY id COLLATE "C"'
        )
        rows = self._read(lambda conn: conn.execute(sql, (digest,)).fetchall())
        return [from_row(row) for row in rows]

    def nearest(self, lon: float, lat: float, filters: Filters, k: int) -> list[Candidate]:
        if k <= 0:
            return []
        shape = _Shape.of(filters)
        params: dict[str, Any] = {"lon": lon, "lat": lat, **self._params(filters)}
        if filters.radius_m is not None:
            box = degree_box(lon, lat, filters.radius_m)
            params.update(zip(("r_west", "r_south", "r_east", "r_north"), box, strict=True))

        def search(conn: psycopg.Connection[Any]) -> list[Candidate]:
            # Over k: the rows beyond k bound the rest, and the walk's degrees are not
            # metres (a degree east is 8% shorter than a degree north here). For k = 10,
            # 16 rows settled every query of a uniform city in one fetch, 12 rows 76%:
            # a refetch doubles the latency.
            fetch = _fetch_size(k + max(4, k // 2))
            while True:
                sql = _nearest_sql(shape, fetch)
                # Binary results: no text parsing of numbers and arrays (~8% of the query).
                rows = conn.execute(sql, params, prepare=True, binary=True).fetchall()
                ranked = sorted(rows, key=lambda r: (r[_DISTANCE], r[0]))
                # Rows come in planar order: every row not fetched is at least as far in
                # degrees as the last one, hence at least the bound away in metres.
                if len(rows) < fetch or (
                    len(ranked) >= k
                    and ranked[k - 1][_DISTANCE]
                    <= geodesic_lower_bound_m(rows[-1][_PLANAR], lat, ranked[k - 1][_DISTANCE])
                ):
                    return [
                        Candidate(self._provider(r, r[_VERSION]), float(r[_DISTANCE]))
                        for r in ranked[:k]
                    ]
                fetch = _fetch_size(4 * fetch)

        return self._read(search)

    def best_by_score(
        self, lon: float, lat: float, filters: Filters, k: int, spec: ScoreSpec
    ) -> list[Candidate]:
        """The search runs on an in-memory :class:`~providers.score_index.ScoreIndex` of the
        active providers; one statement then reads the winners and the data version, and
        the answer stands only if the index was built at that version. So the answer is
        exact for the snapshot that statement saw, and a search costs one round trip.

        With read replicas the index is built from the primary, so it only ever moves
        forward, and the winners are read where the request's reads go. A replica still
        replaying an older version than the index's sends the winners' read to the
        primary; a newer version than the index's (on either) has the index built again
        from the primary. So replicas at different versions never make the index flip
        back and forth: while they catch up, the few searches they cannot answer at the
        index's version cost one more round trip, to the primary."""
        if k <= 0:
            return []
        stale: int | None = None
        on = self._db.route()
        for _ in range(_SCORE_ATTEMPTS):
            snapshot = self._score_snapshot(stale)
            allowed = (
                None
                if filters.open_at is None
                else snapshot.hours.mask(
                    filters.open_at, include_unknown=filters.include_unknown_hours
                )
            )
            positions, distances = snapshot.index.best(lon, lat, filters, k, spec, allowed=allowed)
            ids = [snapshot.ids[i] for i in positions.tolist()]
            rows = self._winners(ids, on)
            version = int(rows[0][0]) if rows else None
            if version == snapshot.data_version:
                by_id = {row[1]: row for row in rows if row[1] is not None}
                return [
                    Candidate(self._provider(by_id[i][1:], by_id[i][-1]), d)
                    for i, d in zip(ids, distances.tolist(), strict=True)
                ]
            if version is None or version > snapshot.data_version:
                stale = snapshot.data_version
            on = None  # the primary is at least as new as the index and any replica
        raise StoreUnavailableError("providers are being rewritten; try again in a moment")

    def warm(self) -> None:
        self._score_snapshot(None)

    def _params(self, f: Filters) -> dict[str, Any]:
        """A filter's bound parameters; for an open-at filter, the opening-hours texts open
        then, from the hours of the score snapshot at the store's current data version."""
        params = _filter_params(f)
        if f.open_at is not None:
            snapshot = self._score_snapshot(None)
            if snapshot.data_version != self.data_version():
                snapshot = self._score_snapshot(snapshot.data_version)
            params["open_hours"] = snapshot.hours.open_texts(
                f.open_at, include_unknown=f.include_unknown_hours
            )
        return params

    def _winners(self, ids: list[str], on: Replica | None) -> list[Any]:
        """The data version, then each of ``ids``' rows (content, row version), read on
        ``on`` (``None``: the primary)."""

        def read(conn: psycopg.Connection[Any]) -> list[Any]:
            return conn.execute(_WINNERS_SQL, {"ids": ids}, prepare=True, binary=True).fetchall()

        return self._db.read(read, on=on)

    def _score_snapshot(self, stale: int | None) -> _ScoreSnapshot:
        """The score index, built on first use and again when a search found the data
        version past ``stale``, the version it was built at."""
        snapshot = self._scores
        if snapshot is not None and snapshot.data_version != stale:
            return snapshot
        with self._scores_lock:
            snapshot = self._scores  # another thread may have rebuilt it meanwhile
            if snapshot is None or snapshot.data_version == stale:
                # From the primary: the newest data, so the index never moves backwards.
                rows = self._db.read(
                    lambda conn: conn.execute(_SCORE_COLUMNS_SQL, binary=True).fetchall(),
                    on=None,
                )
                snapshot = _score_snapshot(rows)
                self._scores = snapshot
            return snapshot

    def _provider(self, row: Any, version: str) -> Provider:
        """The provider of a row (content columns first), rebuilt only when its row
        version changed.

        PostgreSQL gives every row version its own ``xmin``: an update or a re-insert
        always changes it, so a cached provider with the same ``xmin`` is the row as read.
        Building providers is most of the Python time of a nearest query.
        """
        key = row[0]
        cached = self._providers.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        provider = from_row(row)
        if len(self._providers) >= _PROVIDER_CACHE_SIZE:
            self._providers.clear()  # crude but O(1) amortised; hits refill it
        self._providers[key] = (version, provider)
        return provider

    def within(
        self, bbox: BBox | None, filters: Filters, limit: int, *, after: str | None = None
    ) -> list[Provider]:
        if limit <= 0:
            return []
        shape = _Shape.of(replace(filters, radius_m=None))
        sql = _within_sql(shape, bbox is not None, after is not None)
        params: dict[str, Any] = {**self._params(filters), "limit": limit, "after": after}
        if bbox is not None:
            params.update(_box(bbox))
        rows = self._read(lambda conn: conn.execute(sql, params, binary=True).fetchall())
        return [from_row(row) for row in rows]

    def tally(self, filters: Filters, by: TallyBy, bbox: BBox | None = None) -> dict[str, int]:
        sql = _tally_sql(_Shape.of(replace(filters, radius_m=None)), by, bbox is not None)
        params = {**self._params(filters), **({} if bbox is None else _box(bbox))}
        rows = self._read(lambda conn: conn.execute(sql, params).fetchall())
        if by in (TallyBy.DISTRICT, TallyBy.STREET):
            return {str(key): int(n) for key, n in rows}
        return {h3.int_to_str(int(key)): int(n) for key, n in rows}

    def tile(
        self, tile: Tile, filters: Filters, *, by: TallyBy | None = None, limit: int = 0
    ) -> VectorTile:
        """Encoded by PostGIS' ``ST_AsMVT``."""
        check_tile_grouping(by)
        if by is None and limit <= 0:
            return VectorTile(b"", 0)
        sql = _tile_sql(_Shape.of(replace(filters, radius_m=None)), by)
        params = {
            **self._params(filters),
            **_box(BBox(*tile.bounds_wgs84())),
            "z": tile.z,
            "x": tile.x,
            "y": tile.y,
            "limit": limit,
        }
        row = self._read(lambda conn: conn.execute(sql, params).fetchone())
        assert row is not None  # an aggregate always answers one row
        features = int(row[1])
        return VectorTile(bytes(row[0]) if features else b"", features)

    def count(self) -> int:
        return int(self._scalar("SELECT count(*) FROM providers"))

    def delete_all(self) -> int:
        with self._db.transaction() as conn:
            removed = conn.execute(sa.text("DELETE FROM providers")).rowcount
            # The history of providers no longer stored could only mislead an undo.
            conn.execute(sa.text("DELETE FROM provider_versions"))
            conn.execute(sa.text("DELETE FROM provider_imports"))
            if removed:
                conn.execute(sa.text(BUMP_DATA_VERSION))
        return int(removed)

    def data_version(self) -> int:
        return int(self._scalar("SELECT value FROM jzmap_meta WHERE key = 'data_version'"))

    def check(self) -> None:
        self._db.check("providers")

    def close(self) -> None:
        """Forget the cached providers; the pool is the backend's to close."""
        self._providers = {}
        self._scores = None

    def _read(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        return self._db.read(work)

    def _scalar(self, sql: LiteralString) -> Any:
        row = self._read(lambda conn: conn.execute(sql).fetchone())
        assert row is not None
        return row[0]


def _box(bbox: BBox) -> dict[str, float]:
    return {"west": bbox.west, "south": bbox.south, "east": bbox.east, "north": bbox.north}


@dataclass(frozen=True)
class _ScoreSnapshot:
    """The score index of the active providers at one data version."""

    data_version: int
    ids: list[str]
    index: ScoreIndex
    hours: HoursIndex


def _score_snapshot(rows: list[Any]) -> _ScoreSnapshot:
    """Build the score index from the rows of :data:`_SCORE_COLUMNS_SQL`."""
    version = int(rows[0][0])
    rows = [row for row in rows if row[1] is not None]
    n = len(rows)

    def column(j: int, dtype: type) -> Any:
        return np.fromiter((row[j] for row in rows), dtype, n)

    first_category = 8
    ids = [row[1] for row in rows]
    return _ScoreSnapshot(
        data_version=version,
        ids=ids,
        hours=HoursIndex([row[first_category + len(Category)] for row in rows]),
        index=ScoreIndex(
            ids=ids,
            lon=column(2, np.float64),
            lat=column(3, np.float64),
            grade_class=column(4, np.int64),
            practitioners=column(5, np.int64),
            certified_practitioners=column(6, np.int64),
            approximate=column(7, np.bool_),
            categories={
                category: column(first_category + j, np.bool_)
                for j, category in enumerate(Category)
            },
        ),
    )

"""The PostGIS store: SQLAlchemy 2 for the engine, pools and transactions, Alembic for the
schema, psycopg 3 directly on the read path.

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
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, LiteralString, NamedTuple, TypeVar

import h3
import numpy as np
import psycopg
import shapely
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg import sql as pg_sql
from sqlalchemy.engine import Connection, Engine

from geo.geodesy import degree_box, geodesic_lower_bound_m
from geo.package_data import package_path
from providers.model import Category, Kind, Provider
from providers.score_index import ScoreIndex
from providers.scoring import ScoreSpec
from providers.store import (
    BBox,
    Candidate,
    Filters,
    StoreUnavailableError,
    TallyBy,
    UpsertCounts,
)
from providers.stores.rows import (
    ALL_COLUMNS,
    CONTENT_COLUMNS,
    H3_COLUMNS,
    RowBatch,
    from_row,
    row_batches,
)

T = TypeVar("T")
MIGRATIONS_DIR = package_path("providers.stores", "migrations")
_BUMP_DATA_VERSION = sa.text("UPDATE jzmap_meta SET value = value + 1 WHERE key = 'data_version'")

_POINT = "ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)"
# The radius filter's planar prefilter (geo.geodesy.degree_box), which the index serves.
_RADIUS_BOX = "geom && ST_MakeEnvelope(%(r_west)s, %(r_south)s, %(r_east)s, %(r_north)s, 4326)"
# ``extra`` travels as text: parsing jsonb for every fetched row measured slower than
# json.loads on the rows kept.
_READ_COLUMNS = ", ".join(
    {"lon": "ST_X(geom) AS lon, ST_Y(geom) AS lat", "extra": "extra::text AS extra"}.get(c, c)
    for c in CONTENT_COLUMNS
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

    @classmethod
    def of(cls, f: Filters) -> _Shape:
        return cls(
            f.category,
            f.radius_m is not None,
            f.kind,
            f.min_grade is not None,
            f.certified_only,
            f.include_approximate,
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
    return clauses


def _filter_params(f: Filters) -> dict[str, Any]:
    return {
        "radius_m": f.radius_m,
        "min_rank": None if f.min_grade is None else f.min_grade.rank,
    }


_ENVELOPE = "geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)"


@functools.cache
def _within_sql(shape: _Shape) -> str:
    """Providers in a box: the planar GiST index finds them, the filters thin them."""
    where = " AND ".join([*_filter_clauses(shape), _ENVELOPE])
    return f"SELECT {_READ_COLUMNS} FROM providers WHERE {where} ORDER BY id LIMIT %(limit)s"


@functools.cache
def _tally_sql(shape: _Shape, by: TallyBy, in_bbox: bool) -> str:
    """Counts per district or H3 cell; ``by`` is an enum, so its column name is constant."""
    clauses = _filter_clauses(shape)
    if in_bbox:
        clauses.append(_ENVELOPE)
    return (
        f"SELECT {by.value}, count(*) FROM providers WHERE {' AND '.join(clauses)} "
        f"GROUP BY {by.value}"
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
_DISTANCE = len(CONTENT_COLUMNS)
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
               {", ".join(f"categories @> ARRAY['{c.value}']" for c in Category)}
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

# Staged rows carry lon/lat; the table keeps them as the point geometry.
_STORED = [c for c in ALL_COLUMNS if c not in ("id", "lon", "lat")]
_COMPARED = [c for c in CONTENT_COLUMNS if c not in ("id", "lon", "lat")]


def _merge_sql(target: str, source: str, point: str) -> str:
    """Merge ``source``'s rows into ``target`` by id, counting inserts and real changes;
    ``point`` is the source's point expression. A source holds each id once (RowBatch),
    as an INSERT may touch a row only once; counts come back as one row, not a row per
    provider."""
    return f"""
    WITH merged AS (
        INSERT INTO {target} AS p (id, geom, {", ".join(_STORED)})
        SELECT id, {point}, {", ".join(_STORED)}
        FROM {source}
        ON CONFLICT (id) DO UPDATE SET
            geom = EXCLUDED.geom,
            {", ".join(f"{c} = EXCLUDED.{c}" for c in _STORED)},
            updated_at = now()
        WHERE ({", ".join(f"p.{c}" for c in _COMPARED)}, ST_AsBinary(p.geom))
              IS DISTINCT FROM
              ({", ".join(f"EXCLUDED.{c}" for c in _COMPARED)}, ST_AsBinary(EXCLUDED.geom))
        RETURNING (xmax = 0) AS inserted
    )
    SELECT count(*) FILTER (WHERE inserted), count(*) FROM merged
    """


_STAGED_POINT = "ST_SetSRID(ST_MakePoint(lon, lat), 4326)"
_MERGE_SQL = _merge_sql("providers", "incoming", _STAGED_POINT)
# A bulk load builds the new table beside the live one (see PostgisStore.upsert).
_BULK_TABLE = "providers_bulk"
_BULK_MERGE_SQL = _merge_sql(_BULK_TABLE, "incoming", _STAGED_POINT)
_BULK_INTO_LIVE_SQL = _merge_sql("providers", _BULK_TABLE, "geom")
_DEACTIVATE_SQL = sa.text(
    """
    UPDATE providers SET active = false, updated_at = now()
    WHERE source = :source AND active
      AND NOT EXISTS (SELECT 1 FROM received WHERE received.id = providers.id)
    """
)
_BATCH_ROWS = 20_000
# ``incoming`` holds one batch at a time; ``received`` every id of a snapshot import.
_STAGE_DDL = """
CREATE TEMP TABLE incoming (
    id text, kind text, name text, categories text[], lon float8, lat float8,
    credit_code text, credit_grade text, grade_rank smallint, address text, district text,
    street text, community text, phone text, opening_hours text, practitioners int,
    certified_practitioners int, source_crs text, source_lon float8, source_lat float8,
    geocode_precision text, geocoder text, source text, active boolean, extra jsonb,
    h3_r7 bigint, h3_r8 bigint, h3_r9 bigint
) ON COMMIT DROP;
CREATE TEMP TABLE received (id text) ON COMMIT DROP
"""
_COPY_SQL = f"COPY incoming ({', '.join(ALL_COLUMNS)}) FROM STDIN"
_BULK_COPY_SQL = f"COPY {_BULK_TABLE} (id, geom, {', '.join(_STORED)}) FROM STDIN"


def sqlalchemy_url(database_url: str) -> str:
    """``postgresql://…`` as users write it, with the psycopg 3 driver SQLAlchemy needs."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    raise ValueError(f"DATABASE_URL must start with postgresql://, got {database_url[:20]!r}…")


def make_engine(
    database_url: str,
    *,
    pool_size: int = 5,
    connect_timeout_s: int = 5,
    statement_timeout_ms: int = 10_000,
    autocommit: bool = False,
) -> Engine:
    """An engine whose sessions run with JIT off, generic plans and a statement timeout.

    * JIT costs 0.5-0.8 s on the first plans of PostGIS queries and buys nothing on
      millisecond lookups.
    * Prepared nearest-match statements have one right plan whatever the parameters (walk
      the KNN index); PostgreSQL's default would re-plan them on every call because the
      optional filters make the generic plan *look* costlier (measured: +15% latency).
    * ``autocommit`` engines serve one-statement reads: no BEGIN/ROLLBACK round trips and
      no reset when a connection goes back to the pool.
    """
    options = (
        f"-c jit=off -c plan_cache_mode=force_generic_plan "
        f"-c statement_timeout={int(statement_timeout_ms)}"
    )
    extra: dict[str, Any] = (
        {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None} if autocommit else {}
    )
    return sa.create_engine(
        sqlalchemy_url(database_url),
        pool_size=pool_size,
        # No overflow: SQLAlchemy closes an overflow connection as soon as it is returned,
        # so under load (more request threads than pooled connections) every request paid
        # for a new PostgreSQL backend — measured at 32 clients, most of the CPU went to
        # connecting. Requests beyond the pool wait for a connection instead.
        max_overflow=0,
        # No pre-ping: it costs a round trip per request; reads retry once instead.
        pool_pre_ping=False,
        connect_args={"connect_timeout": connect_timeout_s, "options": options},
        **extra,
    )


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade_schema(engine: Engine, revision: str = "head") -> str:
    """Bring the database to ``revision`` (idempotent); returns the revision reached."""
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)
        return _current_revision(conn) or ""


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


class PostgisStore:
    """Providers in PostgreSQL + PostGIS.

    Reads run in autocommit on pooled connections (no BEGIN/ROLLBACK round trips around a
    one-statement read) and are retried once on a fresh connection when the pooled one
    turns out dead (a database restart); writes run in one transaction each.

    Parameters
    ----------
    engine
        For writes, from :func:`make_engine`.
    read_engine
        For reads, from ``make_engine(..., autocommit=True)``; by default ``engine`` in
        autocommit mode (correct, a little slower). The store disposes of both on ``close``.
    """

    def __init__(self, engine: Engine, read_engine: Engine | None = None) -> None:
        self.engine = engine
        self._reads = read_engine or engine.execution_options(isolation_level="AUTOCOMMIT")
        self._providers: dict[str, tuple[str, Provider]] = {}
        self._scores: _ScoreSnapshot | None = None
        self._scores_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        database_url: str,
        *,
        pool_size: int = 5,
        connect_timeout_s: int = 5,
        statement_timeout_ms: int = 10_000,
        write_timeout_ms: int = 1_800_000,
    ) -> PostgisStore:
        """A store with its own write and read pools for ``database_url``.

        Reads get the short ``statement_timeout_ms`` a request must not outlive; writes
        get ``write_timeout_ms``, as an import streams for as long as its file takes.
        """
        options: dict[str, Any] = {"pool_size": pool_size, "connect_timeout_s": connect_timeout_s}
        return cls(
            make_engine(database_url, statement_timeout_ms=write_timeout_ms, **options),
            make_engine(
                database_url, autocommit=True, statement_timeout_ms=statement_timeout_ms, **options
            ),
        )

    def ensure_schema(self) -> None:
        """Raise a clear error when the database is not at the newest schema."""
        try:
            with self._reads.connect() as conn:
                current = _current_revision(conn)
        except sa.exc.DBAPIError as exc:
            raise _unavailable(exc) from exc
        head = _head_revision()
        if current != head:
            raise StoreUnavailableError(
                f"database schema is at revision {current or 'none'}, the code needs {head}: "
                "run `jzmap db upgrade`"
            )

    def upsert(
        self, providers: Iterable[Provider], *, replace_source: str | None = None
    ) -> UpsertCounts:
        """Stream the providers in batches: each is COPYed into a staging table and merged
        by one statement, all in one transaction, so memory stays flat on large imports
        and a failure (or a kill) leaves nothing behind.

        The server merges a batch while this process prepares the next one: the COPY and
        the merge run on a writer thread, which waits on the server without the GIL. For
        an import, preparing a batch includes validating it (``ProviderBatches`` are
        validated as they are pulled), so validation and the database's work overlap.

        Into an empty table (a new city, or after ``delete_all``) it is a bulk load
        instead: see :meth:`_bulk_load`.
        """
        bulk = self._bulk_load(providers, replace_source)
        if bulk is not None:
            return bulk
        counts = UpsertCounts()
        with self._transaction() as conn:
            raw = conn.connection.driver_connection
            assert isinstance(raw, psycopg.Connection)
            raw.execute(_STAGE_DDL)
            snapshot = replace_source is not None
            counts += _stream(raw, providers, _merge, keep_ids=snapshot)
            if snapshot:
                deactivated = conn.execute(_DEACTIVATE_SQL, {"source": replace_source}).rowcount
                counts += UpsertCounts(deactivated=deactivated)
            if counts.changed:
                conn.execute(_BUMP_DATA_VERSION)
        return counts

    def _bulk_load(
        self, providers: Iterable[Provider], replace_source: str | None
    ) -> UpsertCounts | None:
        """Load into an empty ``providers`` by building a new table beside it and swapping
        the two; ``None`` (nothing consumed, nothing done) when the table is not empty or
        another bulk load is running.

        Why: maintaining the indexes row by row costs several times building them over
        the loaded rows, and the builds can run on both cores at once, which one
        transaction cannot do. So the rows are COPYed straight into ``providers_bulk``
        (a copy of the table's columns, constraints and keys) in one transaction, its
        secondary indexes are built from the live table's own definitions two at a time
        and it is analysed, then one short transaction locks ``providers``, drops it and
        renames the new table and its indexes and keys into place. Readers see the empty
        table until then, never a half-loaded one, and are not blocked meanwhile.

        A failure or a kill before the swap leaves ``providers`` exactly as it was (a
        stray ``providers_bulk`` is dropped by the next bulk load). If an ordinary import
        filled ``providers`` meanwhile, the new table is merged into it instead of
        replacing it. Privileges granted on ``providers`` do not carry over to the new
        table: grant them again after a first load.
        """
        with self.engine.connect() as sa_conn:
            raw = sa_conn.connection.driver_connection
            assert isinstance(raw, psycopg.Connection)
            try:
                # One round trip for the common case, a table that holds providers.
                started = raw.execute(_BULK_START).fetchone()
                raw.commit()
                if started is None or not started[0]:
                    return None
                try:
                    return _bulk_load(self.engine, raw, providers, replace_source)
                finally:
                    if not raw.closed:
                        raw.rollback()
                        raw.execute(f"SELECT pg_advisory_unlock({_BULK_LOCK_KEY})")
                        raw.commit()
            except (psycopg.Error, sa.exc.DBAPIError) as exc:
                raise _unavailable(exc) from exc

    def get(self, provider_id: str) -> Provider | None:
        sql = f"SELECT {_READ_COLUMNS} FROM providers WHERE id = %s"
        row = self._read(lambda conn: conn.execute(sql, (provider_id,)).fetchone())
        return None if row is None else from_row(row)

    def nearest(self, lon: float, lat: float, filters: Filters, k: int) -> list[Candidate]:
        if k <= 0:
            return []
        shape = _Shape.of(filters)
        params: dict[str, Any] = {"lon": lon, "lat": lat, **_filter_params(filters)}
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
        the answer stands only if the index was built at that version (else it is built
        again and the search re-run). So the answer is exact for the snapshot that
        statement saw, and a search costs one round trip."""
        if k <= 0:
            return []
        stale: int | None = None
        for _ in range(_SCORE_ATTEMPTS):
            snapshot = self._score_snapshot(stale)
            positions, distances = snapshot.index.best(lon, lat, filters, k, spec)
            ids = [snapshot.ids[i] for i in positions.tolist()]
            rows = self._winners(ids)
            if rows and rows[0][0] == snapshot.data_version:
                by_id = {row[1]: row for row in rows if row[1] is not None}
                return [
                    Candidate(self._provider(by_id[i][1:], by_id[i][-1]), d)
                    for i, d in zip(ids, distances.tolist(), strict=True)
                ]
            stale = snapshot.data_version
        raise StoreUnavailableError("providers are being rewritten; try again in a moment")

    def _winners(self, ids: list[str]) -> list[Any]:
        """The data version, then each of ``ids``' rows (content, row version)."""

        def read(conn: psycopg.Connection[Any]) -> list[Any]:
            return conn.execute(_WINNERS_SQL, {"ids": ids}, prepare=True, binary=True).fetchall()

        return self._read(read)

    def _score_snapshot(self, stale: int | None) -> _ScoreSnapshot:
        """The score index, built on first use and again when a search found the data
        version past ``stale``, the version it was built at."""
        snapshot = self._scores
        if snapshot is not None and snapshot.data_version != stale:
            return snapshot
        with self._scores_lock:
            snapshot = self._scores  # another thread may have rebuilt it meanwhile
            if snapshot is None or snapshot.data_version == stale:
                rows = self._read(
                    lambda conn: conn.execute(_SCORE_COLUMNS_SQL, binary=True).fetchall()
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

    def within(self, bbox: BBox, filters: Filters, limit: int) -> list[Provider]:
        if limit <= 0:
            return []
        sql = _within_sql(_Shape.of(replace(filters, radius_m=None)))
        params = {**_filter_params(filters), **_box(bbox), "limit": limit}
        rows = self._read(lambda conn: conn.execute(sql, params, binary=True).fetchall())
        return [from_row(row) for row in rows]

    def tally(self, filters: Filters, by: TallyBy, bbox: BBox | None = None) -> dict[str, int]:
        sql = _tally_sql(_Shape.of(replace(filters, radius_m=None)), by, bbox is not None)
        params = {**_filter_params(filters), **({} if bbox is None else _box(bbox))}
        rows = self._read(lambda conn: conn.execute(sql, params).fetchall())
        if by is TallyBy.DISTRICT:
            return {str(key): int(n) for key, n in rows}
        return {h3.int_to_str(int(key)): int(n) for key, n in rows}

    def count(self) -> int:
        return int(self._scalar("SELECT count(*) FROM providers"))

    def delete_all(self) -> int:
        with self._transaction() as conn:
            removed = conn.execute(sa.text("DELETE FROM providers")).rowcount
            if removed:
                conn.execute(_BUMP_DATA_VERSION)
        return int(removed)

    def data_version(self) -> int:
        return int(self._scalar("SELECT value FROM jzmap_meta WHERE key = 'data_version'"))

    def check(self) -> None:
        self._read(lambda conn: conn.execute("SELECT 1 FROM providers LIMIT 1").fetchall())

    def close(self) -> None:
        self.engine.dispose()
        self._reads.engine.dispose()

    def _read(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run ``work`` on a pooled autocommit driver connection; once more on a fresh one
        if the pooled connection turns out dead (the database restarted meanwhile).

        Reads go straight to psycopg: SQLAlchemy's statement and result layers cost as
        much as a nearest-match query itself.
        """
        for attempt in (1, 2):
            try:
                pooled = self._reads.raw_connection()
            except (sa.exc.DBAPIError, psycopg.OperationalError) as exc:
                # raw_connection() hands over the driver's own error when the pool cannot
                # connect (server down, shutting down, refusing): not wrapped by SQLAlchemy.
                raise _unavailable(exc) from exc
            conn = pooled.driver_connection
            assert isinstance(conn, psycopg.Connection)
            try:
                return work(conn)
            except psycopg.OperationalError as exc:
                broken = conn.broken or conn.closed
                pooled.invalidate(exc)
                if broken and attempt == 1:
                    continue
                raise StoreUnavailableError(f"database unavailable: {_reason(exc)}") from exc
            finally:
                pooled.close()
        raise AssertionError("unreachable")

    def _scalar(self, sql: LiteralString) -> Any:
        row = self._read(lambda conn: conn.execute(sql).fetchone())
        assert row is not None
        return row[0]

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except (sa.exc.DBAPIError, psycopg.OperationalError) as exc:
            # COPY runs on the driver directly, so its failures arrive unwrapped.
            raise _unavailable(exc) from exc


def _unavailable(exc: Exception) -> Exception:
    """Database failures as :class:`StoreUnavailableError`; anything else unchanged."""
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | psycopg.OperationalError):
        return StoreUnavailableError(f"database unavailable: {_reason(exc)}")
    return exc


def _box(bbox: BBox) -> dict[str, float]:
    return {"west": bbox.west, "south": bbox.south, "east": bbox.east, "north": bbox.north}


# The indexes of ``providers`` that no constraint owns, and its key constraints.
_SECONDARY_INDEXES = """
    SELECT i.relname, pg_get_indexdef(i.oid), a.amname
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am a ON a.oid = i.relam
    WHERE x.indrelid = 'providers'::regclass
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
    ORDER BY a.amname = 'gist' DESC, i.relname
"""
_KEY_CONSTRAINTS = """
    SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
    WHERE conrelid = 'providers'::regclass AND contype IN ('p', 'u', 'x') ORDER BY conname
"""
_EMPTY = "SELECT NOT EXISTS (SELECT 1 FROM providers)"
# Held by the session that runs a bulk load, so that two never share providers_bulk.
_BULK_LOCK_KEY = 0x6A7A6D6170  # "jzmap"
_SUFFIX = "__bulk"
# The lock is asked for only when the table is empty (CASE evaluates lazily).
_BULK_START = (
    f"SELECT CASE WHEN ({_EMPTY}) THEN pg_try_advisory_lock({_BULK_LOCK_KEY}) ELSE false END"
)


def _stream(
    raw: psycopg.Connection[Any],
    providers: Iterable[Provider],
    write: Callable[[psycopg.Connection[Any], str, RowBatch, bool], UpsertCounts],
    *,
    keep_ids: bool = False,
    geometry: bool = False,
) -> UpsertCounts:
    """Write the providers batch by batch on a writer thread, one batch in flight."""
    counts = UpsertCounts()
    with ThreadPoolExecutor(1, thread_name_prefix="jzmap-upsert") as writer:
        writing: Future[UpsertCounts] | None = None
        for batch in row_batches(providers, _BATCH_ROWS):
            text = _copy_text(batch, geometry=geometry)
            if writing is not None:
                counts += writing.result()  # in order
            writing = writer.submit(write, raw, text, batch, keep_ids)
        if writing is not None:
            counts += writing.result()
    return counts


def _bulk_load(
    engine: Engine,
    raw: psycopg.Connection[Any],
    providers: Iterable[Provider],
    replace_source: str | None,
) -> UpsertCounts:
    """:meth:`PostgisStore._bulk_load` on the session ``raw``, which holds the bulk
    advisory lock (its caller takes and releases it)."""
    indexes = [(str(n), str(d), str(am)) for n, d, am in raw.execute(_SECONDARY_INDEXES)]
    keys = [(str(n), str(d)) for n, d in raw.execute(_KEY_CONSTRAINTS)]
    raw.execute(f"DROP TABLE IF EXISTS {_BULK_TABLE}")
    raw.execute(
        f"CREATE TABLE {_BULK_TABLE} (LIKE providers INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    for name, definition in keys:
        raw.execute(
            pg_sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                pg_sql.Identifier(_BULK_TABLE), pg_sql.Identifier(name + _SUFFIX)
            )
            + pg_sql.SQL(definition)  # the server's own text
        )
    raw.execute(_STAGE_DDL)
    counts = _stream(raw, providers, _insert, geometry=True)
    raw.commit()

    statements = [_retarget(name, definition) for name, definition, _ in indexes]
    statements.append(f"ANALYZE {_BULK_TABLE}")
    with ThreadPoolExecutor(2, thread_name_prefix="jzmap-index") as builders:
        for done in [builders.submit(_run_alone, engine, sql) for sql in statements]:
            done.result()

    raw.execute("LOCK TABLE providers IN ACCESS EXCLUSIVE MODE")
    still_empty = raw.execute(_EMPTY).fetchone()
    if still_empty is not None and still_empty[0]:
        raw.execute("DROP TABLE providers")
        raw.execute(f"ALTER TABLE {_BULK_TABLE} RENAME TO providers")
        for name, _, _ in indexes:
            raw.execute(
                pg_sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                    pg_sql.Identifier(name + _SUFFIX), pg_sql.Identifier(name)
                )
            )
        for name, _ in keys:
            raw.execute(
                pg_sql.SQL("ALTER TABLE providers RENAME CONSTRAINT {} TO {}").format(
                    pg_sql.Identifier(name + _SUFFIX), pg_sql.Identifier(name)
                )
            )
    else:  # an ordinary import got there first: merge into what it wrote
        found = raw.execute(_BULK_INTO_LIVE_SQL).fetchone()
        assert found is not None
        inserted, changed = int(found[0]), int(found[1])
        loaded = counts.inserted
        counts = UpsertCounts(
            inserted=inserted,
            updated=changed - inserted,
            unchanged=counts.unchanged + loaded - changed,
        )
        if replace_source is not None:
            deactivated = raw.execute(
                f"UPDATE providers SET active = false, updated_at = now() "
                f"WHERE source = %s AND active AND NOT EXISTS "
                f"(SELECT 1 FROM {_BULK_TABLE} b WHERE b.id = providers.id)",
                (replace_source,),
            ).rowcount
            counts += UpsertCounts(deactivated=deactivated)
        raw.execute(f"DROP TABLE {_BULK_TABLE}")
    if counts.changed:
        raw.execute(str(_BUMP_DATA_VERSION))
    raw.commit()
    return counts


_INDEX_TARGET = re.compile(r" ON (public\.)?providers USING ")


def _retarget(name: str, definition: str) -> str:
    """A live index's definition, renamed and pointed at the bulk table."""
    head = f"INDEX {name} ON "
    if head not in definition or not _INDEX_TARGET.search(definition):
        raise RuntimeError(f"unexpected index definition: {definition}")
    renamed = definition.replace(head, f"INDEX {name}{_SUFFIX} ON ", 1)
    return _INDEX_TARGET.sub(f" ON {_BULK_TABLE} USING ", renamed, count=1)


def _run_alone(engine: Engine, statement: str) -> None:
    """One statement in its own transaction on its own pooled connection."""
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        raw.execute("SET LOCAL maintenance_work_mem = '256MB'")
        raw.execute(statement)
        raw.commit()


def _merge(
    conn: psycopg.Connection[Any],
    text: str,
    batch: RowBatch,
    keep_ids: bool,
    merge_sql: str = _MERGE_SQL,
) -> UpsertCounts:
    """COPY one batch into ``incoming`` and merge it (into ``providers`` by default); the
    batch's ``received`` counts the records it stands for (duplicates included)."""
    conn.execute("TRUNCATE incoming")
    with conn.cursor() as cur:
        with cur.copy(_COPY_SQL) as copy:
            copy.write(text)
        found = cur.execute(merge_sql).fetchone()
        if keep_ids:
            cur.execute("INSERT INTO received SELECT id FROM incoming")
    assert found is not None
    inserted, changed = int(found[0]), int(found[1])
    return UpsertCounts(
        inserted=inserted, updated=changed - inserted, unchanged=batch.received - changed
    )


def _insert(
    conn: psycopg.Connection[Any], text: str, batch: RowBatch, keep_ids: bool
) -> UpsertCounts:
    """COPY one batch of a bulk load straight into the bulk table (the point as hex EWKB):
    no staging table, no merge. An id the load already wrote (a caller may repeat one
    across batches; an import never does) fails the COPY; the batch is then taken back to
    its savepoint and merged instead."""
    try:
        with conn.transaction(), conn.cursor() as cur, cur.copy(_BULK_COPY_SQL) as copy:
            copy.write(text)
    except psycopg.errors.UniqueViolation:
        return _merge(conn, _copy_text(batch), batch, keep_ids, _BULK_MERGE_SQL)
    return UpsertCounts(inserted=len(batch), unchanged=batch.received - len(batch))


# COPY's text format: a tab between columns, \N for NULL, and a backslash escape for the
# four characters that would otherwise end a value or a row.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_FLOAT_COLUMNS = frozenset({"lon", "lat", "source_lon", "source_lat"})
_INT_COLUMNS = frozenset({"grade_rank", "practitioners", "certified_practitioners", *H3_COLUMNS})
_BOOLEAN = {True: "t", False: "f"}


def _copy_text(batch: RowBatch, *, geometry: bool = False) -> str:
    """The batch as COPY text, built column by column: each value is converted by a
    C-level map over its column, never by Python code per row and field. ``geometry``:
    the columns of ``providers`` (id, the point as hex EWKB, the rest), else those of
    ``incoming`` (lon and lat as numbers)."""
    if geometry:
        points = _hex_ewkb_points(batch.column("lon"), batch.column("lat"))
        columns = [batch.column("id"), points]
        columns += [_copy_column(name, batch.column(name)) for name in _STORED]
    else:
        columns = [_copy_column(name, batch.column(name)) for name in ALL_COLUMNS]
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"


def _hex_ewkb_points(lon: list[float], lat: list[float]) -> list[str]:
    """Points in SRID 4326 as hex EWKB, the text ``geometry`` reads back exactly, for the
    whole column at once (shapely, in C).

    Examples
    --------
    >>> _hex_ewkb_points([113.3245], [23.1064])
    ['0101000020E610000054E3A59BC4545C405E4BC8073D1B3740']
    """
    points = shapely.set_srid(shapely.points(np.asarray(lon), np.asarray(lat)), 4326)
    wkb = shapely.to_wkb(points, hex=True, include_srid=True, byte_order=1)
    hexes: list[str] = np.asarray(wkb).tolist()
    return hexes


def _copy_column(name: str, values: list[Any]) -> list[str]:
    if name in _FLOAT_COLUMNS:
        return _formatted(repr, values)  # repr: the shortest text that reads back exactly
    if name in _INT_COLUMNS:
        return _formatted(str, values)
    if name == "active":
        return list(map(_BOOLEAN.__getitem__, values))
    if name == "categories":
        return _formatted(_array_literal, values)
    # Text: escaped only when some value needs it (rare), else as it is.
    joined = "".join(filter(None, values))
    if any(ch in joined for ch in "\\\t\n\r"):
        return _formatted(lambda v: str(v).translate(_COPY_ESCAPES), values)
    return _formatted(str, values) if None in values else values


def _formatted(format: Callable[[Any], str], values: list[Any]) -> list[str]:
    if None in values:
        return ["\\N" if v is None else format(v) for v in values]
    return list(map(format, values))


@functools.cache
def _array_literal(categories: str) -> str:
    # Category values are bare words: no quoting needed inside the braces.
    return "{" + categories + "}"


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", exc) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


__all__ = ["PostgisStore", "make_engine", "sqlalchemy_url", "upgrade_schema"]


@dataclass(frozen=True)
class _ScoreSnapshot:
    """The score index of the active providers at one data version."""

    data_version: int
    ids: list[str]
    index: ScoreIndex


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

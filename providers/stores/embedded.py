"""The embedded store: SQLite on disk, the active providers and a geodesic index in memory.

No server to run. Writes go to ``<data_dir>/providers.sqlite`` in one transaction each.
Reads are served from an immutable in-memory snapshot (the active providers, their filter
columns as arrays, one R-tree per category) rebuilt when the file's data version changes,
including after writes from other processes (``jzmap ingest`` while ``jzmap serve`` runs).
Holding the providers in memory keeps reading ten of them back off the hot path; the cost
is memory in proportion to the data (about 1.5 KB per provider).
"""

from __future__ import annotations

import bisect
import dataclasses
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h3
import mapbox_vector_tile
import numpy as np
import numpy.typing as npt
import shapely

from geo.spatial_index import Acceptor, GeodesicKNN, IntArray
from geo.tiles import Tile
from providers.history import (
    FIRST_IDS,
    Action,
    Change,
    ImportEntry,
    ImportOutcome,
    ImportRecord,
    TooManyDeactivationsError,
)
from providers.hours import HoursIndex
from providers.model import Category, Kind, Precision, Provider
from providers.score_index import ScoreIndex
from providers.scoring import ScoreSpec
from providers.store import (
    TILE_EXTENT,
    TILE_LAYER,
    BBox,
    Candidate,
    Filters,
    TallyBy,
    UpsertCounts,
    VectorTile,
    check_tile_grouping,
    id_digest,
)
from providers.stores import history_sql as hs
from providers.stores.rows import (
    ALL_COLUMNS,
    CONTENT_COLUMNS,
    H3_COLUMNS,
    READ_COLUMNS,
    VERIFIED_COLUMN,
    RowBatch,
    from_row,
    row_batches,
)
from providers.stores.sqlite_file import SQLiteFile

DB_FILENAME = "providers.sqlite"
# Bump when _SCHEMA changes: a file of another version is refused, never half-read.
_SCHEMA_VERSION = 5
_BATCH = 5_000
_BUMP_DATA_VERSION = "UPDATE meta SET value = value + 1 WHERE key = 'data_version'"

# The import history (providers.history, providers.stores.history_sql): schema version 4.
_HISTORY_SCHEMA = """
CREATE TABLE IF NOT EXISTS provider_imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    mode TEXT NOT NULL,
    source TEXT,
    files TEXT NOT NULL,
    counts TEXT NOT NULL,
    undo_of INTEGER
);
CREATE INDEX IF NOT EXISTS provider_imports_undo_of ON provider_imports (undo_of);
CREATE TABLE IF NOT EXISTS provider_versions (
    import_id INTEGER NOT NULL,
    provider_id TEXT NOT NULL,
    action TEXT NOT NULL,
    fields TEXT NOT NULL,
    before TEXT,
    PRIMARY KEY (import_id, provider_id)
);
CREATE INDEX IF NOT EXISTS provider_versions_provider ON provider_versions (provider_id, import_id);
"""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS providers (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('company', 'station')),
    name TEXT NOT NULL,
    categories TEXT NOT NULL,
    lon REAL NOT NULL,
    lat REAL NOT NULL,
    credit_code TEXT UNIQUE,
    credit_grade TEXT,
    grade_rank INTEGER,
    address TEXT NOT NULL,
    district TEXT NOT NULL,
    street TEXT NOT NULL,
    community TEXT NOT NULL,
    phone TEXT NOT NULL,
    opening_hours TEXT NOT NULL,
    practitioners INTEGER NOT NULL,
    certified_practitioners INTEGER NOT NULL,
    source_crs TEXT NOT NULL,
    source_lon REAL,
    source_lat REAL,
    geocode_precision TEXT NOT NULL,
    geocoder TEXT NOT NULL,
    source TEXT NOT NULL,
    active INTEGER NOT NULL,
    extra TEXT NOT NULL,
    verified_at TEXT,
    h3_r7 INTEGER NOT NULL,
    h3_r8 INTEGER NOT NULL,
    h3_r9 INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS providers_source ON providers (source);
CREATE INDEX IF NOT EXISTS providers_h3_r7 ON providers (h3_r7);
CREATE INDEX IF NOT EXISTS providers_h3_r8 ON providers (h3_r8);
CREATE INDEX IF NOT EXISTS providers_h3_r9 ON providers (h3_r9);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
{_HISTORY_SCHEMA}
INSERT OR IGNORE INTO meta VALUES ('schema_version', {_SCHEMA_VERSION}), ('data_version', 0);
"""

_INSERT = (
    f"INSERT INTO providers ({', '.join(ALL_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in ALL_COLUMNS)}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(
        # A record without a verification date (a plain upsert, an undo) keeps the stored one.
        f"{c} = coalesce(excluded.{c}, providers.{c})"
        if c == VERIFIED_COLUMN
        else f"{c} = excluded.{c}"
        for c in ALL_COLUMNS
        if c != "id"
    )
)
# Rows an import found unchanged were still verified by it: their date moves on.
_REVERIFY = "UPDATE providers SET verified_at = ? WHERE id = ?"


@dataclass(frozen=True)
class _Snapshot:
    """Immutable view of the active providers at one data version."""

    data_version: int
    providers: list[Provider]  # active providers in id order; positions index everything
    is_company: npt.NDArray[np.bool_]
    grade_rank: npt.NDArray[np.int8]
    has_certified: npt.NDArray[np.bool_]
    approximate: npt.NDArray[np.bool_]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    in_category: dict[Category, npt.NDArray[np.bool_]]
    # Group keys for tallies: district codes into ``district_names``, H3 cells by column.
    district_code: npt.NDArray[np.intp]
    district_names: list[str]
    street_code: npt.NDArray[np.intp]
    street_names: list[str]
    cells: dict[TallyBy, npt.NDArray[np.int64]]
    index_all: GeodesicKNN
    index_by_category: dict[Category, GeodesicKNN]
    scores: ScoreIndex
    hours: HoursIndex


class EmbeddedStore:
    """SQLite-backed store with an in-process geodesic spatial index.

    Parameters
    ----------
    data_dir
        Directory holding ``providers.sqlite``; created when missing.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._db = SQLiteFile(
            self.data_dir / DB_FILENAME,
            _SCHEMA,
            _SCHEMA_VERSION,
            "the embedded store",
            refusal_hint=": move the file away (or set JZMAP_DATA_DIR to a new directory) "
            "and load the data again, e.g. with `jzmap demo`",
            upgrades={3: _add_history, 4: _add_verified_at},
        )
        self.path = self._db.path
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        # id digests of a snapshot's providers, sorted, and their positions: built on the
        # first lookup by digest (HSDS ids) of each snapshot, 16 bytes a provider.
        self._digests: tuple[_Snapshot, npt.NDArray[np.uint64], IntArray] | None = None

    # -- contract ----------------------------------------------------------------------

    def upsert(
        self, providers: Iterable[Provider], *, replace_source: str | None = None
    ) -> UpsertCounts:
        """Write the providers batch by batch in one transaction, leaving rows equal to
        the stored ones alone; rows travel as tuples, never as providers."""
        with self._db.transaction() as conn:
            totals, _ = self._write(conn, providers, replace_source, None)
            if totals.changed:
                conn.execute(_BUMP_DATA_VERSION)
        return totals

    def record_import(
        self,
        providers: Iterable[Provider],
        record: ImportRecord,
        *,
        replace_source: str | None = None,
    ) -> ImportOutcome:
        try:
            with self._db.transaction() as conn:
                import_id = conn.execute(hs.INSERT_IMPORT_SQL, hs.import_params(record)).lastrowid
                assert import_id is not None
                totals, kept = self._write(conn, providers, replace_source, (import_id, record))
                deleted = _delete(conn, record.delete, import_id)
                outcome = ImportOutcome(
                    None if record.dry_run else import_id,
                    totals.inserted,
                    totals.updated,
                    totals.unchanged,
                    totals.deactivated,
                    deleted,
                    kept,
                )
                if record.dry_run:
                    changes = _changes(conn, import_id)
                    raise hs.RollBack(dataclasses.replace(outcome, changes=tuple(changes)))
                conn.execute(
                    hs.FINISH_IMPORT_SQL, (hs.counts_text(outcome.counts(), record), import_id)
                )
                if totals.changed or deleted:
                    conn.execute(_BUMP_DATA_VERSION)
        except hs.RollBack as done:
            return done.outcome
        return outcome

    def _write(
        self,
        conn: sqlite3.Connection,
        providers: Iterable[Provider],
        replace_source: str | None,
        recording: tuple[int, ImportRecord] | None,
    ) -> tuple[UpsertCounts, tuple[str, ...]]:
        """Upsert (and deactivate, for a snapshot) inside ``conn``'s transaction; with
        ``recording`` (import id, record) keep every version before and guard the
        snapshot. Returns the counts and the kept ids."""
        totals = UpsertCounts()
        snapshot = replace_source is not None
        import_id = None if recording is None else recording[0]
        active_before = 0
        if snapshot:
            # The ids a snapshot holds go to a temporary table, not to a Python set:
            # a million-row snapshot would hold them all in memory.
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS received (id TEXT PRIMARY KEY)")
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS kept (id TEXT PRIMARY KEY)")
            conn.execute("DELETE FROM received")
            conn.execute("DELETE FROM kept")
            active_before = int(
                conn.execute(
                    "SELECT count(*) FROM providers WHERE source = ? AND active", (replace_source,)
                ).fetchone()[0]
            )
        for batch in row_batches(providers, _BATCH):
            if snapshot:
                conn.executemany(
                    "INSERT OR IGNORE INTO received VALUES (?)",
                    ((i,) for i in batch.columns["id"]),
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO kept VALUES (?)", ((i,) for i in batch.kept)
                )
            totals += self._upsert_batch(conn, batch, import_id)
        kept: tuple[str, ...] = ()
        if replace_source is not None:
            if recording is not None and recording[1].guard is not None:
                _guard(conn, replace_source, recording[1].guard.bound(active_before))
            totals += UpsertCounts(deactivated=_deactivate(conn, replace_source, import_id))
            if import_id is not None:
                kept = _record_kept(conn, replace_source, import_id)
        return totals, kept

    @staticmethod
    def _upsert_batch(
        conn: sqlite3.Connection, batch: RowBatch, import_id: int | None = None
    ) -> UpsertCounts:
        if not len(batch):
            return UpsertCounts()
        ids = batch.columns["id"]
        existing: dict[str, tuple[object, ...]] = {}
        for start in range(0, len(ids), _BATCH):  # within SQLite's limit of bound values
            part = ids[start : start + _BATCH]
            existing.update(
                (row[0], tuple(row))
                for row in conn.execute(
                    f"SELECT {', '.join(READ_COLUMNS)} FROM providers "
                    f"WHERE id IN ({','.join('?' * len(part))})",
                    part,
                )
            )
        # A stored row equals the provider it came from exactly when the stored values
        # are equal (the row shape is one-to-one), so compare rows, not providers.
        width = len(CONTENT_COLUMNS)
        changed = [
            row
            for row in batch.rows()
            if row[0] not in existing or existing[row[0]][:width] != row[:width]
        ]
        if import_id is not None:
            conn.executemany(hs.INSERT_VERSION_SQL, _versions(import_id, changed, existing))
        conn.executemany(_INSERT, changed)
        inserted = sum(1 for row in changed if row[0] not in existing) if existing else len(changed)
        # ``changed`` rows took their date with the insert; the others are updated here
        # when the batch brings a newer (any other) date than the stored one.
        reverify = [
            (verified, id_)
            for id_, verified in zip(ids, batch.columns[VERIFIED_COLUMN], strict=True)
            if verified is not None and id_ in existing and existing[id_][width] != verified
        ]
        taken = {row[0] for row in changed}
        reverify = [(v, i) for v, i in reverify if i not in taken]
        conn.executemany(_REVERIFY, reverify)
        return UpsertCounts(
            inserted=inserted,
            updated=len(changed) - inserted,
            unchanged=batch.received - len(changed),
            reverified=len(reverify),
        )

    def imports(self, limit: int = 100) -> list[ImportEntry]:
        return [hs.entry(r) for r in self._db.conn().execute(hs.LIST_SQL, (limit,))]

    def import_entry(self, import_id: int) -> ImportEntry | None:
        row = self._db.conn().execute(hs.ENTRY_SQL, (import_id,)).fetchone()
        return None if row is None else hs.entry(row)

    def import_changes(self, import_id: int) -> list[Change]:
        return _changes(self._db.conn(), import_id)

    def later_imports(self, import_id: int) -> list[int]:
        return [int(r[0]) for r in self._db.conn().execute(hs.LATER_SQL, (import_id,))]

    def get(self, provider_id: str) -> Provider | None:
        row = (
            self._db.conn()
            .execute(
                f"SELECT {', '.join(READ_COLUMNS)} FROM providers WHERE id = ?", (provider_id,)
            )
            .fetchone()
        )
        return None if row is None else from_row(row)

    def nearest(self, lon: float, lat: float, filters: Filters, k: int) -> list[Candidate]:
        snap = self._current_snapshot()
        index = (
            snap.index_all if filters.category is None else snap.index_by_category[filters.category]
        )
        accept = _acceptor(snap, filters)
        positions, distances = index.nearest(
            lon, lat, k, accept=accept, max_distance_m=filters.radius_m
        )
        return [
            Candidate(provider=snap.providers[i], distance_m=d)
            for i, d in zip(positions.tolist(), distances.tolist(), strict=True)
        ]

    def best_by_score(
        self, lon: float, lat: float, filters: Filters, k: int, spec: ScoreSpec
    ) -> list[Candidate]:
        snap = self._current_snapshot()
        positions, distances = snap.scores.best(
            lon, lat, filters, k, spec, allowed=_open_mask(snap, filters)
        )
        return [
            Candidate(provider=snap.providers[i], distance_m=d)
            for i, d in zip(positions.tolist(), distances.tolist(), strict=True)
        ]

    def with_id_digest(self, digest: str) -> list[Provider]:
        try:
            key = int(digest, 16) if len(digest) == 16 else -1
        except ValueError:
            return []
        if key < 0:
            return []
        snap = self._current_snapshot()
        with self._lock:
            built = self._digests
            if built is None or built[0] is not snap:
                keys = np.fromiter(
                    (int(id_digest(p.id), 16) for p in snap.providers),
                    np.uint64,
                    len(snap.providers),
                )
                order = np.argsort(keys, kind="stable")
                built = self._digests = (snap, keys[order], order)
        _, keys, order = built
        wanted = np.uint64(key)
        first, last = np.searchsorted(keys, wanted, "left"), np.searchsorted(keys, wanted, "right")
        return [snap.providers[i] for i in order[first:last].tolist()]

    def within(
        self, bbox: BBox | None, filters: Filters, limit: int, *, after: str | None = None
    ) -> list[Provider]:
        snap = self._current_snapshot()
        if limit <= 0:
            return []
        # Positions are in id order (SQLite's binary order: code points), so a keyset
        # page starts at the first position past ``after``, found by bisection.
        start = 0 if after is None else bisect.bisect_right(snap.providers, after, key=_id)
        mask = _mask(snap, filters, bbox)
        positions = start + np.flatnonzero(mask[start:])[:limit]
        return [snap.providers[i] for i in positions.tolist()]

    def tally(self, filters: Filters, by: TallyBy, bbox: BBox | None = None) -> dict[str, int]:
        snap = self._current_snapshot()
        mask = _mask(snap, filters, bbox)
        if by is TallyBy.DISTRICT:
            counts = np.bincount(snap.district_code[mask], minlength=len(snap.district_names))
            return {snap.district_names[i]: int(n) for i, n in enumerate(counts.tolist()) if n}
        if by is TallyBy.STREET:
            counts = np.bincount(snap.street_code[mask], minlength=len(snap.street_names))
            return {snap.street_names[i]: int(n) for i, n in enumerate(counts.tolist()) if n}
        cells, counts = np.unique(snap.cells[by][mask], return_counts=True)
        return {
            h3.int_to_str(cell): int(n)
            for cell, n in zip(cells.tolist(), counts.tolist(), strict=True)
        }

    def tile(
        self, tile: Tile, filters: Filters, *, by: TallyBy | None = None, limit: int = 0
    ) -> VectorTile:
        """Encoded by ``mapbox-vector-tile`` from the snapshot's arrays."""
        check_tile_grouping(by)
        snap = self._current_snapshot()
        box = BBox(*tile.bounds_wgs84())
        positions = np.flatnonzero(_mask(snap, filters, box))
        if by is None:
            chosen = [snap.providers[i] for i in positions[: max(limit, 0)].tolist()]
            features = [_point_feature(p) for p in chosen]
            points = [(p.lon, p.lat) for p in chosen]
        else:
            features, points = _group_features(snap, positions, by)
        if not features:
            return VectorTile(b"", 0)
        for feature, (lon, lat) in zip(features, points, strict=True):
            feature["geometry"] = shapely.Point(tile.to_tile_units(lon, lat, TILE_EXTENT))
        data = mapbox_vector_tile.encode(
            [{"name": TILE_LAYER, "features": features}],
            # Positions are already in the tile's grid, y down: only rounding is left.
            default_options={"extents": TILE_EXTENT, "y_coord_down": True},
        )
        return VectorTile(bytes(data), len(features))

    def count(self) -> int:
        return int(self._db.conn().execute("SELECT count(*) FROM providers").fetchone()[0])

    def delete_all(self) -> int:
        with self._db.transaction() as conn:
            removed = conn.execute("DELETE FROM providers").rowcount
            # The history of providers no longer stored could only mislead an undo.
            conn.execute("DELETE FROM provider_versions")
            conn.execute("DELETE FROM provider_imports")
            if removed:
                conn.execute(_BUMP_DATA_VERSION)
        return int(removed)

    def data_version(self) -> int:
        conn = self._db.conn()
        return int(conn.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()[0])

    def check(self) -> None:
        self._db.check("providers")

    def warm(self) -> None:
        self._current_snapshot()

    def close(self) -> None:
        self._db.close()

    # -- snapshot ----------------------------------------------------------------------

    def _current_snapshot(self) -> _Snapshot:
        version = self.data_version()
        snap = self._snapshot
        if snap is not None and snap.data_version == version:
            return snap
        with self._lock:
            snap = self._snapshot
            if snap is None or snap.data_version != version:
                snap = self._build_snapshot()
                self._snapshot = snap
            return snap

    def _build_snapshot(self) -> _Snapshot:
        conn = self._db.conn()
        # Read the version inside the same read transaction as the rows it describes.
        conn.execute("BEGIN")
        try:
            version = int(
                conn.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()[0]
            )
            rows = conn.execute(
                f"SELECT {', '.join(READ_COLUMNS + H3_COLUMNS)} FROM providers WHERE active "
                # Positions in id order make the index's tie-break (by position) an id order.
                "ORDER BY id"
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        providers = [from_row(row) for row in rows]
        n = len(providers)
        lon = np.fromiter((p.lon for p in providers), np.float64, n)
        lat = np.fromiter((p.lat for p in providers), np.float64, n)
        first_cell = len(READ_COLUMNS)
        cells = {
            TallyBy(column): np.fromiter((row[first_cell + j] for row in rows), np.int64, n)
            for j, column in enumerate(H3_COLUMNS)
        }
        district_names, district_code = np.unique(
            np.array([p.district for p in providers], dtype=object), return_inverse=True
        )
        street_names, street_code = np.unique(
            np.array([p.street for p in providers], dtype=object), return_inverse=True
        )
        in_category = {
            cat: np.fromiter((cat in p.categories for p in providers), bool, n) for cat in Category
        }
        by_category = {
            cat: GeodesicKNN(lon, lat, np.flatnonzero(mask)) for cat, mask in in_category.items()
        }
        is_company = np.array([p.kind is Kind.COMPANY for p in providers], dtype=bool)
        grade_rank = np.array([p.grade_rank or 0 for p in providers], dtype=np.int8)
        approximate = np.array(
            [p.geocode_precision is Precision.DISTRICT for p in providers], dtype=bool
        )
        scores = ScoreIndex(
            ids=[p.id for p in providers],
            lon=lon,
            lat=lat,
            grade_class=np.where(is_company, grade_rank, 0),
            practitioners=np.fromiter((p.practitioners for p in providers), np.int64, n),
            certified_practitioners=np.fromiter(
                (p.certified_practitioners for p in providers), np.int64, n
            ),
            categories=in_category,
            approximate=approximate,
        )
        return _Snapshot(
            data_version=version,
            providers=providers,
            is_company=is_company,
            grade_rank=grade_rank,
            has_certified=np.array([p.certified_practitioners > 0 for p in providers], dtype=bool),
            approximate=approximate,
            lon=lon,
            lat=lat,
            in_category=in_category,
            district_code=district_code.astype(np.intp),
            district_names=[str(name) for name in district_names],
            street_code=street_code.astype(np.intp),
            street_names=[str(name) for name in street_names],
            cells=cells,
            index_all=GeodesicKNN(lon, lat),
            index_by_category=by_category,
            scores=scores,
            hours=HoursIndex([p.opening_hours for p in providers]),
        )


# The active providers of a source (bound first) that a snapshot neither held nor kept.
_GONE = (
    "WHERE source = ? AND active AND id NOT IN (SELECT id FROM received) "
    "AND id NOT IN (SELECT id FROM kept)"
)


def _add_verified_at(conn: sqlite3.Connection) -> None:
    """Schema version 4 -> 5: when each record was last verified (unknown for the rows
    already stored: their next import dates them)."""
    conn.execute("ALTER TABLE providers ADD COLUMN verified_at TEXT")


def _add_history(conn: sqlite3.Connection) -> None:
    """Schema version 3 -> 4: the import history's tables (statement by statement:
    ``executescript`` would commit the upgrade's transaction half-way)."""
    for statement in filter(str.strip, _HISTORY_SCHEMA.split(";")):
        conn.execute(statement)


def _deactivate(conn: sqlite3.Connection, source: str, import_id: int | None) -> int:
    """Deactivate the active providers of ``source`` the snapshot did not hold (nor
    kept), keeping their versions before when recording."""
    if import_id is not None:
        rows = conn.execute(
            f"SELECT {', '.join(CONTENT_COLUMNS)} FROM providers {_GONE}", (source,)
        )
        conn.executemany(
            hs.INSERT_VERSION_SQL,
            (
                (import_id, row[0], Action.DEACTIVATED, "active", hs.before_text(row))
                for row in rows
            ),
        )
    cursor = conn.execute(f"UPDATE providers SET active = 0 {_GONE}", (source,))
    return int(cursor.rowcount)


def _guard(conn: sqlite3.Connection, source: str, bound: int) -> None:
    """Refuse (roll back) a snapshot that would deactivate more than ``bound``."""
    count = int(conn.execute(f"SELECT count(*) FROM providers {_GONE}", (source,)).fetchone()[0])
    if count > bound:
        first = conn.execute(
            f"SELECT id FROM providers {_GONE} ORDER BY id LIMIT {FIRST_IDS}", (source,)
        )
        raise TooManyDeactivationsError(source, count, bound, [r[0] for r in first])


def _record_kept(conn: sqlite3.Connection, source: str, import_id: int) -> tuple[str, ...]:
    """Record the kept ids that name an active provider of ``source`` the snapshot did
    not otherwise hold; returns them."""
    ids = [
        str(r[0])
        for r in conn.execute(
            "SELECT id FROM providers WHERE source = ? AND active AND id IN (SELECT id FROM kept) "
            "AND id NOT IN (SELECT id FROM received) ORDER BY id",
            (source,),
        )
    ]
    conn.executemany(hs.INSERT_VERSION_SQL, ((import_id, i, Action.KEPT, "", None) for i in ids))
    return tuple(ids)


def _delete(conn: sqlite3.Connection, ids: Sequence[str], import_id: int) -> int:
    """Delete providers by id, keeping their versions before; returns how many."""
    deleted = 0
    for start in range(0, len(ids), _BATCH):
        part = list(ids[start : start + _BATCH])
        marks = ",".join("?" * len(part))
        rows = conn.execute(
            f"SELECT {', '.join(CONTENT_COLUMNS)} FROM providers WHERE id IN ({marks})", part
        ).fetchall()
        conn.executemany(
            hs.INSERT_VERSION_SQL,
            ((import_id, r[0], Action.DELETED, "", hs.before_text(r)) for r in rows),
        )
        deleted += conn.execute(f"DELETE FROM providers WHERE id IN ({marks})", part).rowcount
    return deleted


def _versions(
    import_id: int, changed: list[tuple[object, ...]], existing: dict[str, tuple[object, ...]]
) -> Iterable[tuple[object, ...]]:
    """The version rows of a batch's changed rows: inserted, or updated with the fields
    that changed and the row before."""
    for row in changed:
        before = existing.get(str(row[0]))
        if before is None:
            yield (import_id, row[0], Action.INSERTED, "", None)
        else:
            yield (
                import_id,
                row[0],
                Action.UPDATED,
                hs.fields_of(before, row),
                hs.before_text(before),
            )


def _changes(conn: sqlite3.Connection, import_id: int) -> list[Change]:
    return hs.changes(conn.execute(hs.CHANGES_SQL, (import_id,)))


def _id(p: Provider) -> str:
    return p.id


def _mask(snap: _Snapshot, f: Filters, bbox: BBox | None) -> npt.NDArray[np.bool_]:
    """Which snapshot positions pass ``f`` (but its radius) and lie in ``bbox``."""
    everyone = np.arange(len(snap.providers))
    accept = _acceptor(snap, f)
    mask = np.ones(everyone.size, dtype=bool) if accept is None else accept(everyone)
    if f.category is not None:
        mask &= snap.in_category[f.category]
    if bbox is not None:
        mask &= (snap.lon >= bbox.west) & (snap.lon <= bbox.east)
        mask &= (snap.lat >= bbox.south) & (snap.lat <= bbox.north)
    return mask


def _open_mask(snap: _Snapshot, f: Filters) -> npt.NDArray[np.bool_] | None:
    """By position, who passes the open-at filter; ``None`` when there is none."""
    if f.open_at is None:
        return None
    return snap.hours.mask(f.open_at, include_unknown=f.include_unknown_hours)


def _point_feature(p: Provider) -> dict[str, object]:
    """A provider's vector-tile properties (the PostGIS store's, property for property)."""
    properties: dict[str, object] = {
        "mode": "points",
        "id": p.id,
        "name": p.name,
        "kind": p.kind.value,
        "categories": ",".join(sorted(c.value for c in p.categories)),
        "certified_practitioners": p.certified_practitioners,
        "approximate": p.geocode_precision is not Precision.EXACT,
    }
    if p.credit_grade is not None:
        properties["credit_grade"] = p.credit_grade.value
    return {"properties": properties}


def _group_features(
    snap: _Snapshot, positions: IntArray, by: TallyBy
) -> tuple[list[dict[str, object]], list[tuple[float, float]]]:
    """One feature per group of ``positions``, at the mean lon/lat of its providers."""
    keys = snap.district_code[positions] if by is TallyBy.DISTRICT else snap.cells[by][positions]
    groups, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    lon = np.bincount(inverse, weights=snap.lon[positions], minlength=groups.size) / counts
    lat = np.bincount(inverse, weights=snap.lat[positions], minlength=groups.size) / counts
    features: list[dict[str, object]] = []
    for key, n in zip(groups.tolist(), counts.tolist(), strict=True):
        if by is TallyBy.DISTRICT:
            group = {"mode": "districts", "district": snap.district_names[key]}
        else:
            group = {"mode": "cells", "cell": h3.int_to_str(key)}
        features.append({"properties": {**group, "count": int(n)}})
    return features, list(zip(lon.tolist(), lat.tolist(), strict=True))


def _acceptor(snap: _Snapshot, f: Filters) -> Acceptor | None:
    """The hard filters (but category and radius, which the index applies) as a mask."""
    if (
        f.kind is None
        and f.min_grade is None
        and not f.certified_only
        and f.include_approximate
        and f.open_at is None
    ):
        return None
    open_mask = _open_mask(snap, f)
    want_company = None if f.kind is None else f.kind is Kind.COMPANY
    min_rank = None if f.min_grade is None else f.min_grade.rank

    def accept(pos: IntArray) -> npt.NDArray[np.bool_]:
        ok = np.ones(pos.size, dtype=bool)
        company = snap.is_company[pos]
        if want_company is not None:
            ok &= company == want_company
        if min_rank is not None:
            ok &= ~company | (snap.grade_rank[pos] >= min_rank)
        if f.certified_only:
            ok &= snap.has_certified[pos]
        if not f.include_approximate:
            ok &= ~snap.approximate[pos]
        if open_mask is not None:
            ok &= open_mask[pos]
        return ok

    return accept

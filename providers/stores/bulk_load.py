"""Writing providers into PostGIS: COPY, staging and merging, and the bulk load into an
empty table (:func:`load_providers`, which :meth:`PostgisStore.upsert
<providers.stores.postgis.PostgisStore.upsert>` is).

Rows travel as COPY text built column by column, never as one Python object per field;
the server merges a batch while this process prepares the next one.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import psycopg
import shapely
import sqlalchemy as sa
from psycopg import sql as pg_sql

from providers.history import (
    FIRST_IDS,
    ImportOutcome,
    ImportRecord,
    TooManyDeactivationsError,
)
from providers.model import Provider
from providers.store import UpsertCounts
from providers.stores import history_sql as hs
from providers.stores.engine import set_local_timeout, unavailable
from providers.stores.pg_database import Database
from providers.stores.rows import (
    ALL_COLUMNS,
    CONTENT_COLUMNS,
    H3_COLUMNS,
    VERIFIED_COLUMN,
    RowBatch,
    row_batches,
)

BUMP_DATA_VERSION = "UPDATE jzmap_meta SET value = value + 1 WHERE key = 'data_version'"


def load_providers(
    db: Database, providers: Iterable[Provider], replace_source: str | None
) -> UpsertCounts:
    """Stream the providers in batches: each is COPYed into a staging table and merged
    by one statement, all in one transaction, so memory stays flat on large imports
    and a failure (or a kill) leaves nothing behind.

    The server merges a batch while this process prepares the next one: the COPY and
    the merge run on a writer thread, which waits on the server without the GIL. For
    an import, preparing a batch includes validating it (``ProviderBatches`` are
    validated as they are pulled), so validation and the database's work overlap.

    Into an empty table (a new city, or after ``delete_all``) it is a bulk load
    instead: see :func:`bulk_load`. Writes run with the database's write timeout.
    """
    bulk = bulk_load(db, providers, replace_source)
    if bulk is not None:
        return bulk
    counts = UpsertCounts()
    with db.transaction(long=True) as conn:
        raw = db.driver(conn)
        raw.execute(_STAGE_DDL)
        snapshot = replace_source is not None
        counts += _stream(raw, providers, _merge, keep_ids=snapshot)
        if snapshot:
            deactivated = conn.execute(_DEACTIVATE_SQL, {"source": replace_source}).rowcount
            counts += UpsertCounts(deactivated=deactivated)
        if counts.changed:
            conn.execute(sa.text(BUMP_DATA_VERSION))
    return counts


def record_providers(
    db: Database,
    providers: Iterable[Provider],
    record: ImportRecord,
    replace_source: str | None,
) -> ImportOutcome:
    """:func:`load_providers` as a recorded import (:meth:`~providers.store.ProviderStore.
    record_import`): the import's entry and every version before, written by the same
    statements as the providers (:func:`_merge_sql` with ``history``). Into an empty
    table it is a bulk load that records every provider as inserted."""
    if not record.dry_run and not record.delete:
        bulk = _bulk_load_started(db, providers, replace_source, record)
        if bulk is not None:
            counts, import_id = bulk
            return _outcome(import_id, counts, 0, ())
    try:
        with db.transaction(long=True) as conn:
            raw = db.driver(conn)
            import_id = _begin_import(raw, record)
            raw.execute(_STAGE_DDL)
            snapshot = replace_source is not None
            active_before = 0
            if snapshot:
                found = raw.execute(_ACTIVE_OF_SOURCE, (replace_source,)).fetchone()
                active_before = int(found[0]) if found else 0
            counts = _stream(raw, providers, _merge_recorded, keep_ids=snapshot)
            deleted = _delete(raw, record.delete, import_id)
            kept: tuple[str, ...] = ()
            if replace_source is not None:
                if record.guard is not None:
                    _guard(raw, replace_source, record.guard.bound(active_before))
                deactivated = raw.execute(
                    _DEACTIVATE_RECORDED, {"import": import_id, "source": replace_source}
                )
                counts += UpsertCounts(deactivated=deactivated.rowcount)
                kept = _record_kept(raw, replace_source, import_id)
            outcome = _outcome(None if record.dry_run else import_id, counts, deleted, kept)
            if record.dry_run:
                changes = hs.changes(raw.execute(hs.pg(hs.CHANGES_SQL), (import_id,)))
                raise hs.RollBack(dataclasses.replace(outcome, changes=tuple(changes)))
            raw.execute(
                hs.pg(hs.FINISH_IMPORT_SQL), (hs.counts_text(outcome.counts(), record), import_id)
            )
            if counts.changed or deleted:
                conn.execute(sa.text(BUMP_DATA_VERSION))
    except hs.RollBack as done:
        return done.outcome
    return outcome


def _outcome(
    import_id: int | None, counts: UpsertCounts, deleted: int, kept: tuple[str, ...]
) -> ImportOutcome:
    return ImportOutcome(
        import_id,
        counts.inserted,
        counts.updated,
        counts.unchanged,
        counts.deactivated,
        deleted,
        kept,
    )


def _begin_import(raw: psycopg.Connection[Any], record: ImportRecord) -> int:
    """Insert the import's entry; its id is then the transaction's ``jzmap.import_id``,
    which the recording merge reads."""
    found = raw.execute(
        hs.pg(hs.INSERT_IMPORT_SQL) + " RETURNING id", hs.import_params(record)
    ).fetchone()
    assert found is not None
    import_id = int(found[0])
    raw.execute("SELECT set_config('jzmap.import_id', %s, true)", (str(import_id),))
    return import_id


def _finish_import(
    raw: psycopg.Connection[Any], record: ImportRecord, import_id: int, counts: UpsertCounts
) -> None:
    text = hs.counts_text(_outcome(import_id, counts, 0, ()).counts(), record)
    raw.execute(hs.pg(hs.FINISH_IMPORT_SQL), (text, import_id))


def _guard(raw: psycopg.Connection[Any], source: str, bound: int) -> None:
    """Refuse (roll back) a snapshot that would deactivate more than ``bound``."""
    found = raw.execute(f"SELECT count(*) FROM providers p {_GONE}", (source,)).fetchone()
    count = int(found[0]) if found else 0
    if count > bound:
        first = raw.execute(
            f"SELECT id FROM providers p {_GONE} ORDER BY id LIMIT {FIRST_IDS}", (source,)
        )
        raise TooManyDeactivationsError(source, count, bound, [str(r[0]) for r in first])


def _record_kept(raw: psycopg.Connection[Any], source: str, import_id: int) -> tuple[str, ...]:
    """Record the kept ids naming an active provider of ``source`` that the snapshot did
    not otherwise hold; returns them."""
    rows = raw.execute(
        "INSERT INTO provider_versions (import_id, provider_id, action, fields) "
        "SELECT %s, p.id, 'kept', '' FROM providers p WHERE p.source = %s AND p.active "
        "AND EXISTS (SELECT 1 FROM kept k WHERE k.id = p.id) "
        "AND NOT EXISTS (SELECT 1 FROM received r WHERE r.id = p.id) "
        "ON CONFLICT DO NOTHING RETURNING provider_id",
        (import_id, source),
    ).fetchall()
    return tuple(sorted(str(r[0]) for r in rows))


def _delete(raw: psycopg.Connection[Any], ids: tuple[str, ...], import_id: int) -> int:
    """Delete providers by id, keeping their versions before; returns how many."""
    if not ids:
        return 0
    raw.execute(
        f"INSERT INTO provider_versions (import_id, provider_id, action, fields, before) "
        f"SELECT %s, p.id, 'deleted', '', {_BEFORE} FROM providers p WHERE p.id = ANY(%s) "
        "ON CONFLICT DO NOTHING",
        (import_id, list(ids)),
    )
    return raw.execute("DELETE FROM providers WHERE id = ANY(%s)", (list(ids),)).rowcount


def bulk_load(
    db: Database, providers: Iterable[Provider], replace_source: str | None
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
    done = _bulk_load_started(db, providers, replace_source, None)
    return None if done is None else done[0]


def _bulk_load_started(
    db: Database,
    providers: Iterable[Provider],
    replace_source: str | None,
    record: ImportRecord | None,
) -> tuple[UpsertCounts, int] | None:
    """:func:`bulk_load` (recorded with ``record``): the counts and the import's id (0
    unrecorded), or ``None`` when no bulk load started."""
    with db.engine.connect() as sa_conn:
        raw = db.driver(sa_conn)
        try:
            # One round trip for the common case, a table that holds providers.
            started = raw.execute(_BULK_START).fetchone()
            raw.commit()
            if started is None or not started[0]:
                return None
            try:
                counts, import_id = _bulk_load(db, raw, providers, replace_source, record)
                return counts, import_id or 0
            finally:
                if not raw.closed:
                    raw.rollback()
                    raw.execute(f"SELECT pg_advisory_unlock({_BULK_LOCK_KEY})")
                    raw.commit()
        except (psycopg.Error, sa.exc.DBAPIError) as exc:
            raise unavailable(exc) from exc


# Staged rows carry lon/lat; the table keeps them as the point geometry.
_STORED = [c for c in ALL_COLUMNS if c not in ("id", "lon", "lat")]
_COMPARED = [c for c in CONTENT_COLUMNS if c not in ("id", "lon", "lat")]


# A stored provider's version as history_sql keeps it: its content columns, a JSON array.
_BEFORE = (
    "json_build_array("
    + ", ".join(
        {"lon": "ST_X(p.geom)", "lat": "ST_Y(p.geom)", "extra": "p.extra::text"}.get(c, f"p.{c}")
        for c in CONTENT_COLUMNS
    )
    + ")::text"
)


def _history_sql(point: tuple[str, str]) -> str:
    """The CTEs that keep, per merged row, its version before (``old``, read in the
    statement's snapshot: before the merge) and the columns that changed; ``point`` is
    the source's point as ``i.``-qualified expressions of lon and lat."""
    new_lon, new_lat = point
    fields = ", ".join(
        f"CASE WHEN {old} IS DISTINCT FROM {new} THEN '{c}' END"
        for c in CONTENT_COLUMNS
        if c != "id"
        for old, new in [
            {
                "lon": ("ST_X(o.geom)", new_lon),
                "lat": ("ST_Y(o.geom)", new_lat),
            }.get(c, (f"o.{c}", f"i.{c}"))
        ]
    )
    return f"""
    history AS (
        INSERT INTO provider_versions (import_id, provider_id, action, fields, before)
        SELECT current_setting('jzmap.import_id')::bigint, m.id,
               CASE WHEN o.id IS NULL THEN 'inserted' ELSE 'updated' END,
               CASE WHEN o.id IS NULL THEN '' ELSE array_to_string(ARRAY[{fields}], ',') END,
               o.before
        FROM merged m JOIN {{source}} i ON i.id = m.id LEFT JOIN old o ON o.id = m.id
        ON CONFLICT DO NOTHING
    ),"""


def _merge_sql(target: str, source: str, point: str, history: tuple[str, str] | None = None) -> str:
    """Merge ``source``'s rows into ``target`` by id, counting inserts and real changes;
    ``point`` is the source's point expression. A source holds each id once (RowBatch),
    as an INSERT may touch a row only once; counts come back as one row, not a row per
    provider. With ``history`` (the source's lon and lat expressions) each merged row's
    version before goes to ``provider_versions`` (:func:`_history_sql`)."""
    old = (
        ""
        if history is None
        else f"old AS (SELECT p.*, {_BEFORE} AS before FROM {target} p "
        f"WHERE p.id IN (SELECT id FROM {source})),"
    )
    return f"""
    WITH {old} merged AS (
        INSERT INTO {target} AS p (id, geom, {", ".join(_STORED)})
        SELECT id, {point}, {", ".join(_STORED)}
        FROM {source}
        ON CONFLICT (id) DO UPDATE SET
            geom = EXCLUDED.geom,
            {", ".join(_SET.get(c, f"{c} = EXCLUDED.{c}") for c in _STORED)},
            updated_at = now()
        WHERE ({", ".join(f"p.{c}" for c in _COMPARED)}, ST_AsBinary(p.geom))
              IS DISTINCT FROM
              ({", ".join(f"EXCLUDED.{c}" for c in _COMPARED)}, ST_AsBinary(EXCLUDED.geom))
        RETURNING p.id, (xmax = 0) AS inserted
    ){"" if history is None else "," + _history_sql(history).format(source=source)[:-1]}
    SELECT count(*) FILTER (WHERE inserted), count(*) FROM merged
    """


# A record without a verification date (a plain upsert, an undo) keeps the stored one.
_V = VERIFIED_COLUMN
_SET = {_V: f"{_V} = coalesce(EXCLUDED.{_V}, p.{_V})"}


def _reverify_sql(target: str, source: str) -> str:
    """Date the rows of ``target`` that ``source`` holds unchanged (the merge left them
    alone) with the verification date ``source`` brings; the merged rows already have it."""
    return f"""
    UPDATE {target} p SET {VERIFIED_COLUMN} = i.{VERIFIED_COLUMN} FROM {source} i
    WHERE i.id = p.id AND i.{VERIFIED_COLUMN} IS NOT NULL
      AND p.{VERIFIED_COLUMN} IS DISTINCT FROM i.{VERIFIED_COLUMN}
    """


_STAGED_POINT = "ST_SetSRID(ST_MakePoint(lon, lat), 4326)"
_MERGE_SQL = _merge_sql("providers", "incoming", _STAGED_POINT)
# A bulk load builds the new table beside the live one (see bulk_load).
_BULK_TABLE = "providers_bulk"
_BULK_MERGE_SQL = _merge_sql(_BULK_TABLE, "incoming", _STAGED_POINT)
_BULK_INTO_LIVE_SQL = _merge_sql("providers", _BULK_TABLE, "geom")
_MERGE_RECORDED_SQL = _merge_sql("providers", "incoming", _STAGED_POINT, ("i.lon", "i.lat"))
_BULK_INTO_LIVE_RECORDED_SQL = _merge_sql(
    "providers", _BULK_TABLE, "geom", ("ST_X(i.geom)", "ST_Y(i.geom)")
)
# After each merge, by the merge's target and source.
_REVERIFY_SQL = {
    _MERGE_SQL: _reverify_sql("providers", "incoming"),
    _MERGE_RECORDED_SQL: _reverify_sql("providers", "incoming"),
    _BULK_MERGE_SQL: _reverify_sql(_BULK_TABLE, "incoming"),
}
_BULK_INTO_LIVE_REVERIFY_SQL = _reverify_sql("providers", _BULK_TABLE)
# The active providers of a source (bound first) that a snapshot neither held nor kept.
_GONE = """
    WHERE p.source = %s AND p.active
      AND NOT EXISTS (SELECT 1 FROM received r WHERE r.id = p.id)
      AND NOT EXISTS (SELECT 1 FROM kept k WHERE k.id = p.id)
"""
_DEACTIVATE_SQL = sa.text(
    """
    UPDATE providers SET active = false, updated_at = now()
    WHERE source = :source AND active
      AND NOT EXISTS (SELECT 1 FROM received WHERE received.id = providers.id)
      AND NOT EXISTS (SELECT 1 FROM kept WHERE kept.id = providers.id)
    """
)
_GONE_NAMED = _GONE.replace("%s", "%(source)s")
_DEACTIVATE_RECORDED = f"""
    WITH gone AS (SELECT p.id, {_BEFORE} AS before FROM providers p {_GONE_NAMED}),
    history AS (
        INSERT INTO provider_versions (import_id, provider_id, action, fields, before)
        SELECT %(import)s, id, 'deactivated', 'active', before FROM gone
        ON CONFLICT DO NOTHING
    )
    UPDATE providers SET active = false, updated_at = now()
    WHERE id IN (SELECT id FROM gone)
"""
_ACTIVE_OF_SOURCE = "SELECT count(*) FROM providers WHERE source = %s AND active"
_BATCH_ROWS = 20_000
# ``incoming`` holds one batch at a time; ``received`` every id of a snapshot import.
_STAGE_DDL = """
CREATE TEMP TABLE incoming (
    id text, kind text, name text, categories text[], lon float8, lat float8,
    credit_code text, credit_grade text, grade_rank smallint, address text, district text,
    street text, community text, phone text, opening_hours text, practitioners int,
    certified_practitioners int, source_crs text, source_lon float8, source_lat float8,
    geocode_precision text, geocoder text, source text, active boolean, extra jsonb,
    verified_at date, h3_r7 bigint, h3_r8 bigint, h3_r9 bigint
) ON COMMIT DROP;
CREATE TEMP TABLE received (id text) ON COMMIT DROP;
CREATE TEMP TABLE kept (id text) ON COMMIT DROP
"""
_COPY_SQL = f"COPY incoming ({', '.join(ALL_COLUMNS)}) FROM STDIN"
_BULK_COPY_SQL = f"COPY {_BULK_TABLE} (id, geom, {', '.join(_STORED)}) FROM STDIN"

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
    db: Database,
    raw: psycopg.Connection[Any],
    providers: Iterable[Provider],
    replace_source: str | None,
    record: ImportRecord | None = None,
) -> tuple[UpsertCounts, int | None]:
    """:func:`bulk_load` on the session ``raw``, which holds the bulk advisory lock (its
    caller takes and releases it). Each of its transactions runs with the write timeout.
    With ``record``, the swap's transaction also writes the import's entry and its
    versions (every provider inserted; or, merged into a live table, as a merge keeps
    them)."""
    set_local_timeout(raw, db.write_timeout_ms)
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
    # Two builds at once on connections of their own, as many as the pool spares beside
    # this session's; none spare (a pool of one), they run on this session in turn.
    spare = min(2, db.pool_size - 1)
    if spare < 1:
        for sql in statements:
            _build(raw, db.write_timeout_ms, sql)
    else:
        with ThreadPoolExecutor(spare, thread_name_prefix="jzmap-index") as builders:
            for done in [builders.submit(_run_alone, db, sql) for sql in statements]:
                done.result()

    set_local_timeout(raw, db.write_timeout_ms)
    raw.execute("LOCK TABLE providers IN ACCESS EXCLUSIVE MODE")
    import_id = None if record is None else _begin_import(raw, record)
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
        if import_id is not None:
            raw.execute(
                "INSERT INTO provider_versions (import_id, provider_id, action, fields) "
                "SELECT %s, id, 'inserted', '' FROM providers",
                (import_id,),
            )
    else:  # an ordinary import got there first: merge into what it wrote
        merge = _BULK_INTO_LIVE_SQL if import_id is None else _BULK_INTO_LIVE_RECORDED_SQL
        found = raw.execute(merge).fetchone()
        assert found is not None
        inserted, changed = int(found[0]), int(found[1])
        reverified = raw.execute(_BULK_INTO_LIVE_REVERIFY_SQL).rowcount
        loaded = counts.inserted
        counts = UpsertCounts(
            inserted=inserted,
            updated=changed - inserted,
            unchanged=counts.unchanged + loaded - changed,
            reverified=reverified,
        )
        if replace_source is not None:
            if import_id is not None:
                raw.execute(
                    f"INSERT INTO provider_versions (import_id, provider_id, action, fields, "
                    f"before) SELECT %s, p.id, 'deactivated', 'active', {_BEFORE} "
                    f"FROM providers p WHERE p.source = %s AND p.active AND NOT EXISTS "
                    f"(SELECT 1 FROM {_BULK_TABLE} b WHERE b.id = p.id) ON CONFLICT DO NOTHING",
                    (import_id, replace_source),
                )
            deactivated = raw.execute(
                f"UPDATE providers SET active = false, updated_at = now() "
                f"WHERE source = %s AND active AND NOT EXISTS "
                f"(SELECT 1 FROM {_BULK_TABLE} b WHERE b.id = providers.id)",
                (replace_source,),
            ).rowcount
            counts += UpsertCounts(deactivated=deactivated)
        raw.execute(f"DROP TABLE {_BULK_TABLE}")
    if import_id is not None and record is not None:
        _finish_import(raw, record, import_id, counts)
    if counts.changed:
        raw.execute(BUMP_DATA_VERSION)
    raw.commit()
    return counts, import_id


_INDEX_TARGET = re.compile(r" ON (public\.)?providers USING ")


def _retarget(name: str, definition: str) -> str:
    """A live index's definition, renamed and pointed at the bulk table."""
    head = f"INDEX {name} ON "
    if head not in definition or not _INDEX_TARGET.search(definition):
        raise RuntimeError(f"unexpected index definition: {definition}")
    renamed = definition.replace(head, f"INDEX {name}{_SUFFIX} ON ", 1)
    return _INDEX_TARGET.sub(f" ON {_BULK_TABLE} USING ", renamed, count=1)


def _run_alone(db: Database, statement: str) -> None:
    """One index build in its own transaction on its own pooled connection."""
    with db.engine.connect() as conn:
        _build(db.driver(conn), db.write_timeout_ms, statement)


def _build(raw: psycopg.Connection[Any], timeout_ms: int, statement: str) -> None:
    """One index build (or ANALYZE) in a transaction of its own on ``raw``."""
    set_local_timeout(raw, timeout_ms)
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
    if keep_ids and batch.kept:
        conn.execute("INSERT INTO kept SELECT unnest(%s::text[])", (batch.kept,))
    if not len(batch):
        return UpsertCounts(unchanged=batch.received)
    conn.execute("TRUNCATE incoming")
    with conn.cursor() as cur:
        with cur.copy(_COPY_SQL) as copy:
            copy.write(text)
        found = cur.execute(merge_sql).fetchone()
        reverified = cur.execute(_REVERIFY_SQL[merge_sql]).rowcount
        if keep_ids:
            cur.execute("INSERT INTO received SELECT id FROM incoming")
    assert found is not None
    inserted, changed = int(found[0]), int(found[1])
    return UpsertCounts(
        inserted=inserted,
        updated=changed - inserted,
        unchanged=batch.received - changed,
        reverified=reverified,
    )


def _merge_recorded(
    conn: psycopg.Connection[Any], text: str, batch: RowBatch, keep_ids: bool
) -> UpsertCounts:
    """:func:`_merge`, keeping each merged row's version before."""
    return _merge(conn, text, batch, keep_ids, _MERGE_RECORDED_SQL)


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
    if not len(batch):
        return ""
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

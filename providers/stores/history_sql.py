"""The import history's tables and reads, shared by both stores (:mod:`providers.history`).

Two ordinary tables beside ``providers`` (in the same SQLite file or database, so that a
backup of either holds them): ``provider_imports``, one row per recorded import, and
``provider_versions``, one row per provider an import touched with the action, the
changed columns (comma-separated) and the version before as a JSON array of the content
columns (:data:`~providers.stores.rows.CONTENT_COLUMNS` order, as
:func:`~providers.stores.rows.from_row` reads it back). The reads below are plain SQL
with ``?`` placeholders; :func:`pg` turns them into psycopg's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from providers.history import (
    Action,
    Change,
    ImportEntry,
    ImportFile,
    ImportOutcome,
    ImportRecord,
)
from providers.stores.rows import CONTENT_COLUMNS, from_row

LIST_SQL = (
    "SELECT i.id, i.at, i.mode, i.source, i.files, i.counts, i.undo_of, "
    "(SELECT min(u.id) FROM provider_imports u WHERE u.undo_of = i.id) "
    "FROM provider_imports i ORDER BY i.id DESC LIMIT ?"
)
ENTRY_SQL = (
    "SELECT i.id, i.at, i.mode, i.source, i.files, i.counts, i.undo_of, "
    "(SELECT min(u.id) FROM provider_imports u WHERE u.undo_of = i.id) "
    "FROM provider_imports i WHERE i.id = ?"
)
CHANGES_SQL = (
    "SELECT provider_id, action, fields, before FROM provider_versions "
    "WHERE import_id = ? ORDER BY provider_id"
)
# Later imports that touched what this one touched, unless they were undone or are
# undos themselves (an undo of a later import restored what this one left).
LATER_SQL = """
    SELECT DISTINCT v2.import_id FROM provider_versions v1
    JOIN provider_versions v2 ON v2.provider_id = v1.provider_id AND v2.import_id > v1.import_id
    JOIN provider_imports i ON i.id = v2.import_id
    WHERE v1.import_id = ? AND v1.action <> 'kept' AND v2.action <> 'kept'
      AND i.undo_of IS NULL
      AND NOT EXISTS (SELECT 1 FROM provider_imports u WHERE u.undo_of = i.id)
    ORDER BY v2.import_id
"""
INSERT_IMPORT_SQL = (
    "INSERT INTO provider_imports (at, mode, source, files, counts, undo_of) "
    "VALUES (?, ?, ?, ?, '{}', ?)"
)
FINISH_IMPORT_SQL = "UPDATE provider_imports SET counts = ? WHERE id = ?"
INSERT_VERSION_SQL = (
    "INSERT INTO provider_versions (import_id, provider_id, action, fields, before) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


def pg(sql: str) -> str:
    """A statement with ``?`` placeholders in psycopg's ``%s`` style."""
    return sql.replace("%", "%%").replace("?", "%s")


def import_params(record: ImportRecord) -> tuple[Any, ...]:
    """The values of :data:`INSERT_IMPORT_SQL` for ``record``."""
    files = json.dumps([[f.name, f.sha256] for f in record.files], ensure_ascii=False)
    return (record.at.isoformat(), record.mode, record.source, files, record.undo_of)


def counts_text(store_counts: Mapping[str, int], record: ImportRecord) -> str:
    """The counts an entry keeps: the store's, then the importer's summary."""
    counts: dict[str, object] = dict(store_counts)
    if record.summary is not None:
        counts.update((k, v) for k, v in record.summary().items() if k not in counts)
    return json.dumps(counts, ensure_ascii=False, sort_keys=True)


def before_text(row: Sequence[Any]) -> str:
    """A stored row's content columns as the JSON array a version keeps (floats exact)."""
    return json.dumps(list(row[: len(CONTENT_COLUMNS)]), ensure_ascii=False)


def fields_of(before: Sequence[Any], after: Sequence[Any]) -> str:
    """The content columns that differ between two stored rows, comma-separated."""
    return ",".join(c for c, b, a in zip(CONTENT_COLUMNS, before, after, strict=False) if b != a)


def entry(row: Sequence[Any]) -> ImportEntry:
    """An :class:`ImportEntry` from a row of :data:`LIST_SQL` / :data:`ENTRY_SQL`."""
    id_, at, mode, source, files, counts, undo_of, undone_by = row
    return ImportEntry(
        id=int(id_),
        at=at if isinstance(at, datetime) else datetime.fromisoformat(at),
        mode=mode,
        source=source,
        files=tuple(ImportFile(name, sha) for name, sha in _json(files)),
        counts=_json(counts),
        undo_of=None if undo_of is None else int(undo_of),
        undone_by=None if undone_by is None else int(undone_by),
    )


def changes(rows: Iterable[Sequence[Any]]) -> list[Change]:
    """:class:`Change` s from rows of :data:`CHANGES_SQL`."""
    return [
        Change(
            provider_id=pid,
            action=Action(action),
            fields=tuple(f for f in fields.split(",") if f),
            # A version keeps the content only: no verification date (None keeps the stored one).
            before=None if before is None else from_row([*_json(before), None]),
        )
        for pid, action, fields, before in rows
    ]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class RollBack(Exception):  # noqa: N818 (not an error: a dry run's way out)
    """Raised inside a dry run's transaction to roll it back, carrying its outcome."""

    def __init__(self, outcome: ImportOutcome) -> None:
        super().__init__("dry run")
        self.outcome = outcome

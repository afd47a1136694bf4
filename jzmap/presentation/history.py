"""The import history as JSON (``/v1/admin/imports``): entries and their changes."""

from __future__ import annotations

from enum import Enum
from typing import Any

from jzmap.application.history import ImportDetail
from providers.history import Change, ImportEntry, ImportOutcome


def entry_json(entry: ImportEntry) -> dict[str, Any]:
    """One recorded import: id, time (ISO 8601), mode, source, files, counts, undo links."""
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "mode": entry.mode,
        "source": entry.source,
        "files": [{"name": f.name, "sha256": f.sha256} for f in entry.files],
        "counts": dict(entry.counts),
        "undo_of": entry.undo_of,
        "undone_by": entry.undone_by,
    }


def change_json(change: Change) -> dict[str, Any]:
    """What an import did to one provider; ``before`` holds the changed fields' values
    before it (for an update or a deactivation), or the whole version a delete removed."""
    before: dict[str, Any] | None = None
    if change.before is not None:
        names = change.fields or tuple(
            n for n in change.before.__dataclass_fields__ if not n.startswith("_")
        )
        before = {n: _value(getattr(change.before, n, None)) for n in names}
    return {
        "id": change.provider_id,
        "action": change.action.value,
        "fields": list(change.fields),
        "before": before,
    }


def detail_json(detail: ImportDetail, offset: int) -> dict[str, Any]:
    return {
        **entry_json(detail.entry),
        "changes": [change_json(c) for c in detail.changes],
        "changes_total": detail.total,
        "changes_offset": offset,
    }


def undo_json(entry: ImportEntry, outcome: ImportOutcome) -> dict[str, Any]:
    return {**entry_json(entry), "outcome": outcome.counts()}


def _value(value: object) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset | set):
        return sorted(_value(v) for v in value)
    return value

"""Import history, wired: list the recorded imports, show what one changed, undo it.

The store keeps, per import, each provider's version before it (:mod:`providers.history`).
:func:`undo_import` writes those versions back as a new import of mode ``undo`` (so it is
in the list too, and says which import it undid) and removes the providers the import
inserted. It refuses, writing nothing, when

* the import was undone already, or is itself an undo (import the file again instead);
* later imports changed providers it changed (undo those first: it names them);
* the grade book contradicts it: a company blacklisted since the import, a company
  whose official baseline the grade book took from this import (or a later one), or a
  company the import inserted that has been evaluated since.

The grade book and the practitioners registry keep their own audit: a restored company
carries the book's current dynamic grade and the registry's current counts, as an import
would (:mod:`jzmap.application.imports`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ingest.overlay import ImportOverlay
from jzmap.application.imports import build_overlay
from providers.errors import ConflictError, NotFoundError
from providers.evaluations import CHINA_TZ, SubjectKind
from providers.gradebook import SubjectGrade
from providers.history import Action, Change, ImportEntry, ImportOutcome, ImportRecord
from providers.model import Grade
from providers.stores import Backend
from providers.stores.rows import ProviderBatches, RowBatch


@dataclass(frozen=True, slots=True)
class ImportDetail:
    """One import and what it did, provider by provider (a page of them)."""

    entry: ImportEntry
    changes: list[Change]
    total: int


def list_imports(backend: Backend, limit: int = 100) -> list[ImportEntry]:
    """The recorded imports, newest first."""
    return backend.store.imports(limit)


def show_import(
    backend: Backend, import_id: int, *, offset: int = 0, limit: int = 100
) -> ImportDetail:
    """One import and a page of its changes (by provider id).

    Raises
    ------
    providers.errors.NotFoundError
        No import has this id.
    """
    entry = _entry(backend, import_id)
    changes = backend.store.import_changes(import_id)
    return ImportDetail(entry, changes[offset : offset + limit], len(changes))


def undo_import(
    backend: Backend, import_id: int, *, now: datetime | None = None
) -> tuple[ImportEntry, ImportOutcome]:
    """Restore every provider ``import_id`` touched to its version before it, as a new
    import (mode ``undo``); returns its entry and what it did. See the module for when
    it refuses.

    Raises
    ------
    providers.errors.NotFoundError
        No import has this id.
    providers.errors.ConflictError
        The undo is refused; the message says why and what to do.
    """
    store = backend.store
    entry = _entry(backend, import_id)
    if entry.undone_by is not None:
        raise ConflictError(f"import {import_id} was undone already, by import {entry.undone_by}")
    if entry.undo_of is not None:
        raise ConflictError(
            f"import {import_id} is the undo of import {entry.undo_of}: an undo is not undone; "
            "import the file again instead"
        )
    later = store.later_imports(import_id)
    if later:
        names = ", ".join(map(str, later))
        raise ConflictError(
            f"import {import_id} cannot be undone: later imports changed providers it "
            f"changed ({names}); undo those first, newest first"
        )
    changes = [c for c in store.import_changes(import_id) if c.action is not Action.KEPT]
    companies = [c.provider_id for c in changes if c.provider_id.startswith("co-")]
    grades = backend.gradebook.subject_grades(SubjectKind.COMPANY, companies)
    _refuse_contradictions(entry, changes, grades)
    at = (now or datetime.now(CHINA_TZ)).astimezone(CHINA_TZ)
    restored = [c.before for c in changes if c.before is not None]
    batch = RowBatch.of(restored)
    overlay = build_overlay(backend.gradebook, backend.registry, at.date())
    # The book's current grade for every restored company it knows (as baseline too, so
    # that the overlay takes it rather than reporting a new official grade).
    keep = {
        pid: (_grade(grades[pid]), _grade(grades[pid]))
        for pid, text in zip(batch.columns["id"], batch.columns["credit_grade"], strict=True)
        if pid in grades and text is not None
    }
    ImportOverlay(grades=keep, counts=overlay.counts).apply(_as_baseline(batch, keep))
    record = ImportRecord(
        mode="undo",
        at=at,
        source=entry.source,
        files=entry.files,
        undo_of=import_id,
        delete=tuple(c.provider_id for c in changes if c.action is Action.INSERTED),
    )
    outcome = store.record_import(ProviderBatches([batch]), record)
    assert outcome.import_id is not None
    undo = store.import_entry(outcome.import_id)
    assert undo is not None
    return undo, outcome


def _entry(backend: Backend, import_id: int) -> ImportEntry:
    entry = backend.store.import_entry(import_id)
    if entry is None:
        raise NotFoundError(f"no import with id {import_id}: `jzmap imports list` lists them")
    return entry


def _grade(state: SubjectGrade) -> Grade:
    assert isinstance(state.grade, Grade)  # a company's grade
    return state.grade


def _as_baseline(batch: RowBatch, keep: dict[str, tuple[Grade, Grade]]) -> RowBatch:
    """Set the kept companies' grade column to the book's grade, so that the overlay
    reads it as a repeat of the baseline (and writes the current grade and its rank)."""
    ids, grades = batch.columns["id"], batch.columns["credit_grade"]
    for j, pid in enumerate(ids):
        if pid in keep:
            grades[j] = keep[pid][0].value
    return batch


def _refuse_contradictions(
    entry: ImportEntry, changes: list[Change], grades: dict[str, SubjectGrade]
) -> None:
    """Refuse an undo the grade book contradicts (see the module)."""
    reasons: list[str] = []
    for change in changes:
        state = grades.get(change.provider_id)
        if state is None:
            continue
        pid = change.provider_id
        if state.blacklisted_at is not None and state.blacklisted_at >= entry.at:
            cause = f" ({state.blacklist_cause})" if state.blacklist_cause else ""
            when = state.blacklisted_at.date().isoformat()
            reasons.append(f"{pid} was blacklisted on {when}{cause}, after this import")
        elif change.action is Action.INSERTED:
            reasons.append(f"{pid}, which this import added, has been evaluated since")
        elif state.baseline.since >= entry.at:
            reasons.append(
                f"{pid}: the grade book took its official grade {_grade_text(state)} as the "
                "baseline from this import or a later one"
            )
    if reasons:
        shown = "; ".join(reasons[:5]) + (
            f"; and {len(reasons) - 5} more" if len(reasons) > 5 else ""
        )
        raise ConflictError(
            f"import {entry.id} cannot be undone: it would contradict the grade book: {shown}"
        )


def _grade_text(state: SubjectGrade) -> str:
    grade = state.baseline.grade
    return grade.value if isinstance(grade, Grade) else str(grade)

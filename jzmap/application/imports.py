"""Provider imports, wired: a registry file in without undoing the platform's own values.

:func:`run_provider_import` is what ``jzmap ingest`` and ``POST /v1/admin/imports`` run.
A registry file carries each company's official 信用等级 and its own 持证人数; the platform
holds the dynamic grade (:mod:`jzmap.application.grades`) and the counts derived from the
practitioners registry (:mod:`jzmap.application.practitioners`). Three steps keep both:

1. **Overlay.** Before the import, read every evaluated company's (baseline, current)
   grade from the grade book and every company's practitioner counts from the registry at
   today's date in China (:func:`build_overlay`; two queries).
2. **Import.** The ingester applies the overlay to the validated rows
   (:mod:`ingest.overlay`): a company whose file grade equals its baseline keeps its
   dynamic grade, a company with registered practitioners keeps the derived counts. So
   importing the same file again stores nothing new and says ``unchanged``.
3. **New official assessments.** A company whose file grade differs from its baseline was
   re-assessed: the file's grade is stored and, once the import has committed, the grade
   book takes it as the company's new baseline from the import's time
   (:meth:`providers.gradebook.GradeBook.rebaseline`, cause ``"official:<file>"``, shown
   in ``GET /v1/providers/{id}/grade-history``). Evaluations that took effect before it
   no longer count (the engine's rule for a baseline's ``since``); later ones move the
   grade from there. ``rebaselined`` in the report counts them.

*Re-runnable.* The provider store, the grade book and the registry are separate stores:
there is no transaction across them. If the process dies after the import committed but
before every rebaseline, the book still holds the old baseline, so running the same
import again finds the same companies re-assessed, stores nothing new and rebaselines
them. Evaluations or practitioner loads that land while a long import runs are not lost
either: after the import, every company whose book grade or registry counts moved since
the overlay was read is republished with the current values.

Every import is *recorded* (:mod:`providers.history`): the store keeps each provider's
version before it with the import's files (name and SHA-256), mode, time and counts, so
that ``jzmap imports show`` can say what it changed and ``jzmap imports undo`` take it
back (:mod:`jzmap.application.history`). A snapshot is *guarded*: a rejected row whose
provider is known keeps that provider active ("kept"), and a snapshot that would
deactivate more than ``guard`` allows writes nothing.

A dry run against a store does everything but commit: its report lists the changes the
import would make (inserted, updated with the fields, deactivated, kept). Without a store
it only validates.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from ingest import Ingester, IngestOptions, IngestReport
from ingest.overlay import ImportOverlay
from jzmap.application.practitioners import publish_counts
from providers.evaluations import CHINA_TZ, Subject
from providers.gradebook import Baseline, GradeBook
from providers.history import DeactivationGuard, ImportFile, ImportRecord
from providers.model import Kind, Provider
from providers.registry import PractitionerRegistry
from providers.store import ProviderStore
from providers.stores import Backend

OFFICIAL_CAUSE = "official:{file}"


def run_provider_import(
    ingester: Ingester,
    backend: Backend | None,
    paths: Sequence[Path],
    options: IngestOptions,
    *,
    now: datetime | None = None,
    guard: DeactivationGuard | None = None,
) -> IngestReport:
    """Import provider registry files into the backend's store keeping dynamic grades and
    derived counts, then rebaseline the companies the files re-assessed (see the module).
    The import is recorded in the store's history; a snapshot is held to ``guard``.

    Parameters
    ----------
    ingester
        The city's importer (:func:`jzmap.wiring.ingester`).
    backend
        Its store, grade book and registry; ``None`` only for a dry run
        (``options.dry_run``), which then only validates.
    guard
        How many providers a snapshot may deactivate (default: no bound).
    now
        When the import happens (default: now): the day the counts are derived at and the
        ``since`` of new official baselines.

    Raises
    ------
    ingest.UnreadableFileError
        A file cannot be processed at all; nothing was written.
    providers.store.StoreUnavailableError
        The store, the grade book or the registry cannot answer.
    providers.history.TooManyDeactivationsError
        A snapshot would deactivate more than ``guard`` allows; nothing was written.
    """
    if backend is None:
        return ingester.run(paths, None, options)
    at = (now or datetime.now(CHINA_TZ)).astimezone(CHINA_TZ)
    store, gradebook, registry = backend.store, backend.gradebook, backend.registry
    overlay = build_overlay(gradebook, registry, at.date())
    record = ImportRecord(
        mode=options.mode,
        at=at,
        source=options.source or (paths[0].stem if len(paths) == 1 else None),
        files=tuple(ImportFile(p.name, file_sha256(p)) for p in paths),
        guard=guard if options.mode == "snapshot" else None,
        dry_run=options.dry_run,
    )
    report = ingester.run(paths, store, options, overlay=overlay, record=record)
    if options.dry_run:
        return report
    report.rebaselined = rebaseline_official_grades(gradebook, report, at)
    _catch_up(gradebook, registry, store, overlay, report, on=at.date())
    return report


def file_sha256(path: Path) -> str:
    """The file's SHA-256 (hex), read a megabyte at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def build_overlay(gradebook: GradeBook, registry: PractitionerRegistry, on: date) -> ImportOverlay:
    """What an import must keep: the book's company grades and the registry's counts."""
    return ImportOverlay(grades=gradebook.company_grades(), counts=registry.company_counts(on))


def rebaseline_official_grades(gradebook: GradeBook, report: IngestReport, at: datetime) -> int:
    """Take each new official grade the import stored as its company's baseline from
    ``at``; returns how many the grade book rebaselined."""
    done = 0
    for company_id, (grade, file) in sorted(report.official_grades.items()):
        change = gradebook.rebaseline(
            Subject.company(company_id), Baseline(grade, at), OFFICIAL_CAUSE.format(file=file)
        )
        done += change is not None
    return done


def _catch_up(
    gradebook: GradeBook,
    registry: PractitionerRegistry,
    store: ProviderStore,
    overlay: ImportOverlay,
    report: IngestReport,
    *,
    on: date,
) -> None:
    """Republish companies whose grade or counts moved while the import ran (a batch of
    evaluations or practitioners landing meanwhile), and the rebaselined ones whose
    replayed grade is not the file's. Usually nothing: two reads, no write."""
    grades = gradebook.company_grades()
    stale = [
        cid
        for cid, (_, current) in grades.items()
        if cid in report.official_grades or overlay.grades.get(cid, (None, None))[1] != current
    ]
    republish: list[Provider] = []
    for company_id in stale:
        provider = store.get(company_id)
        current = grades[company_id][1]
        if (
            provider is not None
            and provider.kind is Kind.COMPANY
            and provider.credit_grade != current
        ):
            republish.append(dataclasses.replace(provider, credit_grade=current))
    if republish:
        store.upsert(republish)
    counts = registry.company_counts(on)
    moved = {
        c for c in counts.keys() | overlay.counts.keys() if counts.get(c) != overlay.counts.get(c)
    }
    publish_counts(registry, store, moved, on)

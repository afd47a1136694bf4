"""The re-grading migration: stored evaluations re-read under the five-level severity
scale, and the grade engine run again for every subject.

Before the five-level scale, 较重 was read as ``serious`` and blacklisted a practitioner
for three years; 轻微 was read as ``minor``. What a stored complaint's source actually said
cannot be told from the stored value, so the migration re-reads it where it can: the
evaluation files given (the logs the complaints were imported from) are parsed with
today's words, and each stored complaint whose file row now reads as another severity is
corrected (only its severity; everything else must match). Every subject is then replayed
under the current grading model (:meth:`providers.gradebook.GradeBook.regrade`): a grade,
score or blacklisting that differs is stored with an audit record whose cause is
:data:`REGRADE_CAUSE`, companies' public grades follow, and blacklistings that no longer
stand are lifted in the registry (the certificate is valid again when its checks hold).

Re-running is harmless: a second run finds nothing to correct and nothing that differs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ingest.evaluations import REQUIRED, SYNONYMS, parse_evaluations
from ingest.feeds import FeedKind, Seen, read_feed
from ingest.pipeline import Reject
from jzmap.application.grades import sync_registry
from jzmap.application.practitioners import china_today, publish_counts
from providers.evaluations import Complaint, Severity, Subject, SubjectKind
from providers.gradebook import GradeBook
from providers.grading import DEFAULT_MODEL, GradeChange, GradeState, GradingModel, apply
from providers.grading import initial_state as engine_start
from providers.model import Grade, Provider
from providers.practitioners import Practitioner
from providers.registry import PractitionerRegistry
from providers.store import ProviderStore

REGRADE_CAUSE = "regrade:severity-scale-5"


@dataclass
class RegradeReport:
    """What the migration did: complaints re-read, audit records appended, providers
    republished, practitioners whose registry blacklisting was lifted, rows it could not
    read."""

    complaints_read: int = 0
    changes: list[GradeChange] = field(default_factory=list)
    providers_updated: list[str] = field(default_factory=list)
    lifted: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


def read_severities(paths: Sequence[Path]) -> tuple[dict[str, Severity], list[Reject]]:
    """Each complaint id in the evaluation files -> its severity under today's words, and
    the rows that could not be read (an unknown word is named with the accepted ones)."""
    severities: dict[str, Severity] = {}
    rejects: list[Reject] = []
    seen = Seen()
    for path in paths:
        table, header = read_feed(path, FeedKind.EVALUATIONS, SYNONYMS, REQUIRED)
        rows = parse_evaluations(table, header, path.name, seen)
        rejects.extend(rows.rejects)
        for item in rows.items:
            if isinstance(item, Complaint):
                severities[item.id] = item.severity
    return severities, rejects


def regrade(
    gradebook: GradeBook,
    providers: ProviderStore,
    registry: PractitionerRegistry | None,
    *,
    files: Sequence[Path] = (),
    at: datetime,
    model: GradingModel = DEFAULT_MODEL,
) -> RegradeReport:
    """Run the migration over every subject of the grade book (see the module)."""
    report = RegradeReport()
    corrections, report.rejects = read_severities(files)
    report.complaints_read = len(corrections)
    republish: list[Provider] = []
    to_sync: list[tuple[Practitioner, GradeState]] = []
    for kind in SubjectKind:
        for subject_id in gradebook.subject_grades(kind):
            subject = Subject(kind, subject_id)
            change = gradebook.regrade(subject, corrections, at, REGRADE_CAUSE, model)
            if change is None:
                continue
            report.changes.append(change)
            if kind is SubjectKind.COMPANY:
                provider = providers.get(subject_id)
                grade = change.grade_after
                if (
                    isinstance(grade, Grade)
                    and provider is not None
                    and provider.credit_grade != grade
                ):
                    republish.append(dataclasses.replace(provider, credit_grade=grade))
            elif registry is not None:
                practitioner = registry.get(subject_id)
                if practitioner is not None:
                    to_sync.append((practitioner, _state(gradebook, subject, model)))
    if republish:
        providers.upsert(republish)
    report.providers_updated = [p.id for p in republish]
    if registry is not None and to_sync:
        companies, report.lifted = sync_registry(registry, to_sync, model)
        report.providers_updated.extend(
            publish_counts(registry, providers, companies, china_today())
        )
    return report


def _state(gradebook: GradeBook, subject: Subject, model: GradingModel) -> GradeState:
    """The subject's full engine state, replayed from the grade book."""
    current = gradebook.current(subject)
    assert current is not None  # regrade returned a change: the subject is stored
    start = engine_start(subject, current.baseline.grade, current.baseline.since, model)
    state, _ = apply(start, gradebook.events(subject), model)
    return state

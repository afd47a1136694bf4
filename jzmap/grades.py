"""Dynamic grades, wired: evaluations in, grade book and provider store updated.

:func:`apply_evaluations` is what ``POST /v1/admin/evaluations`` runs. It checks each
evaluation's subject, records each subject's evaluations in the grade book (one
transaction per subject: the book replays and applies the engine, see
:mod:`providers.gradebook`), and writes every company whose grade now differs from its
provider record into the provider store, so the very next nearest-match ranks with it.

*Partial batches.* An evaluation that cannot be recorded (an unknown company, a station,
an id already used with other content) is reported with its reasons and does not hold
back the others: a feed collects evidence from many sources, one bad record should not
delay the rest, and because recording is idempotent by id the sender may simply send the
corrected batch again (what was accepted comes back as duplicates).

*Re-runnable.* The grade book and the provider store are two stores, so there is no
transaction across both. The provider write therefore does not depend on what *this*
batch changed: every company evaluated in a batch is brought to the grade book's current
grade. If a batch fails after the grade book committed, sending it again repairs the
provider record. (The same rule means a registry re-import that resets a company's grade is
corrected at the company's next evaluation: there is no path for new official
assessments — new baselines — yet.)
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from jzmap.services import open_gradebook_from
from jzmap.settings import Settings
from providers.evaluations import Evaluation, Subject, SubjectKind
from providers.gradebook import Baseline, GradeBook, Outcome
from providers.grading import DEFAULT_MODEL, GradeChange, GradingModel
from providers.model import Kind, Provider
from providers.practitioners import Stars
from providers.store import ProviderStore

# Practitioners have no registry yet, hence no official stars to start from: they start
# in the middle of the scale. Once the registry exists its stars are the baseline.
PRACTITIONER_BASELINE = Stars.THREE


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What became of the evaluation at ``index`` in the batch."""

    index: int
    id: str
    outcome: Outcome
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """The outcome of a batch: one :class:`ItemResult` per evaluation, in order, the
    audit records appended, the providers rewritten and the practitioners blacklisted."""

    items: tuple[ItemResult, ...]
    changes: tuple[GradeChange, ...]
    providers_updated: tuple[str, ...]
    blacklisted: tuple[str, ...]

    def ids(self, outcome: Outcome) -> list[str]:
        return [item.id for item in self.items if item.outcome is outcome]


def apply_evaluations(
    gradebook: GradeBook,
    providers: ProviderStore,
    evaluations: Sequence[Evaluation],
    *,
    baseline_since: datetime,
    model: GradingModel = DEFAULT_MODEL,
) -> EvaluationReport:
    """Record a batch of evaluations and publish the companies' new grades.

    ``baseline_since`` is when the official grades a subject starts from were assigned
    (``JZMAP_GRADES_BASELINE_SINCE``); it is used only the first time a subject is
    evaluated.
    """
    results: dict[int, ItemResult] = {}
    by_subject: dict[Subject, list[int]] = {}
    for index, evaluation in enumerate(evaluations):
        by_subject.setdefault(evaluation.subject, []).append(index)

    changes: list[GradeChange] = []
    republish: list[Provider] = []
    blacklisted: list[str] = []
    for subject in sorted(by_subject):
        indexes = by_subject[subject]
        baseline: Baseline
        provider: Provider | None = None
        if subject.kind is SubjectKind.COMPANY:
            provider = providers.get(subject.id)
            if provider is None or provider.kind is not Kind.COMPANY or not provider.credit_grade:
                problem = _company_problem(subject, provider)
                for i in indexes:
                    results[i] = ItemResult(i, evaluations[i].id, Outcome.REJECTED, (problem,))
                continue
            baseline = Baseline(provider.credit_grade, baseline_since)
        else:
            baseline = Baseline(PRACTITIONER_BASELINE, baseline_since)
        recording = gradebook.record(subject, baseline, [evaluations[i] for i in indexes], model)
        for i, outcome in zip(indexes, recording.outcomes, strict=True):
            reasons = (outcome.reason,) if outcome.reason else ()
            results[i] = ItemResult(i, evaluations[i].id, outcome.outcome, reasons)
        changes.extend(recording.changes)
        if provider is not None and provider.credit_grade != recording.state.grade:
            republish.append(
                dataclasses.replace(provider, credit_grade=recording.state.company_grade)
            )
        if any(c.blacklisted for c in recording.changes):
            blacklisted.append(subject.id)

    if republish:
        providers.upsert(republish)
    return EvaluationReport(
        items=tuple(results[i] for i in range(len(evaluations))),
        changes=tuple(sorted(changes, key=lambda c: (c.at, c.subject))),
        providers_updated=tuple(p.id for p in republish),
        blacklisted=tuple(blacklisted),
    )


def _company_problem(subject: Subject, provider: Provider | None) -> str:
    if provider is None:
        return f"no company provider with id {subject.id!r}"
    if provider.kind is not Kind.COMPANY:
        return f"{subject.id!r} is a grassroots service station; stations are not graded"
    return f"company {subject.id!r} has no official credit grade to start from"


class GradeBookSlot:
    """The app's grade book, opened on first use unless one is handed in.

    An app built around a store its caller opened (tests, another app) must not need a
    grade book until a grade route is called; the app that opens its own store opens this
    at start-up too (:meth:`get`), so a bad data directory fails there. Thread-safe: routes
    run on a thread pool.
    """

    def __init__(self, settings: Settings, gradebook: GradeBook | None = None) -> None:
        self._settings = settings
        self._gradebook = gradebook
        self._owned = gradebook is None
        self._lock = threading.Lock()

    def get(self) -> GradeBook:
        if self._gradebook is None:
            with self._lock:
                if self._gradebook is None:
                    self._gradebook = open_gradebook_from(self._settings)
        return self._gradebook

    def close(self) -> None:
        with self._lock:
            if self._owned and self._gradebook is not None:
                self._gradebook.close()
                self._gradebook = None

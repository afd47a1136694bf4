"""Dynamic grades, wired: evaluations in, grade book, registry and provider store updated.

:func:`apply_evaluations` is what ``POST /v1/admin/evaluations`` runs. It checks each
evaluation's subject, records each subject's evaluations in the grade book (one
transaction per subject: the book replays and applies the engine, see
:mod:`providers.gradebook`), and writes every company whose grade now differs from its
provider record into the provider store, so the very next nearest-match ranks with it.

*Subjects and baselines.* A company must be a graded company provider; its official
grade (the provider's ``credit_grade`` when the book first sees it) is its baseline. A
practitioner must be in the practitioners registry; their baseline is the registry's
officially assigned ``stars``, or :data:`DEFAULT_PRACTITIONER_STARS` (3, the middle of the
scale) for a registered practitioner not yet rated. Baselines are fixed at a subject's
first evaluation; a later official assessment rebaselines the subject — a company's in a
provider import whose grade changed (:mod:`jzmap.application.imports`), a practitioner's in
a registry load whose stars changed (:mod:`jzmap.application.practitioners`, JSON or file):
evaluations that took effect before it no longer count, as :mod:`providers.grading` rules.

*Blacklisting.* When the engine blacklists a practitioner (a verified serious or grave
complaint), the registry record is blacklisted too
(:func:`providers.practitioners.blacklist`: certificate revoked, re-application barred for
3 years) on the China-time date the engine blacklisted them, with the complaint's id as
the cause, and the company's public certified count is recounted at once
(:func:`jzmap.application.practitioners.publish_counts`).

*Partial batches.* An evaluation that cannot be recorded (an unknown company or
practitioner, a station, an id already used with other content) is reported with its
reasons and does not hold back the others: a feed collects evidence from many sources,
one bad record should not delay the rest, and because recording is idempotent by id the
sender may simply send the corrected batch again (what was accepted comes back as
duplicates).

*Re-runnable.* The grade book, the registry and the provider store are separate stores,
so there is no transaction across them. The writes after the grade book's therefore do
not depend on what *this* batch changed: every company evaluated in a batch is brought to
the grade book's current grade, and every practitioner of the batch whom the book holds
blacklisted is blacklisted in the registry (a no-op when already recorded) and their
company recounted. If a batch fails after the grade book committed, sending it again
repairs the registry and the provider records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from jzmap.application.practitioners import china_today, publish_counts
from providers.evaluations import CHINA_TZ, GradeEvent, Subject, SubjectKind
from providers.gradebook import Baseline, GradeBook, Outcome
from providers.grading import DEFAULT_MODEL, GradeChange, GradeState, GradingModel
from providers.model import Kind, Provider
from providers.practitioners import Practitioner, Stars, blacklist, lift_blacklisting
from providers.registry import PractitionerRegistry
from providers.store import ProviderStore

# The baseline of a registered practitioner the register has not rated yet (and of every
# practitioner when no registry is given): the middle of the scale, so evidence can move
# them either way. A rating assigned later rebaselines them (jzmap.application.practitioners),
# unless it is this very value.
DEFAULT_PRACTITIONER_STARS = Stars.THREE
BLACKLIST_REASON = "严重投诉属实 (a verified serious or grave complaint; the grade engine)"


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
    lifted: tuple[str, ...] = ()

    def ids(self, outcome: Outcome) -> list[str]:
        return [item.id for item in self.items if item.outcome is outcome]


def apply_evaluations(
    gradebook: GradeBook,
    providers: ProviderStore,
    evaluations: Sequence[GradeEvent],
    *,
    baseline_since: datetime,
    model: GradingModel = DEFAULT_MODEL,
    registry: PractitionerRegistry | None = None,
) -> EvaluationReport:
    """Record a batch of evaluations and publish the companies' new grades.

    ``baseline_since`` is when the official grades a subject starts from were assigned
    (``JZMAP_GRADES_BASELINE_SINCE``); it is used only the first time a subject is
    evaluated. ``registry`` is the practitioners registry: practitioner subjects must be
    in it, their stars are their baseline (at their first evaluation; stars changed later
    rebaseline them when the registry is loaded, :mod:`jzmap.application.practitioners`) and
    blacklistings are written back to it. Pass it (the API does); without it practitioners
    are neither checked nor written back and start from :data:`DEFAULT_PRACTITIONER_STARS`
    (the behaviour before the registry).
    """
    results: dict[int, ItemResult] = {}
    by_subject: dict[Subject, list[int]] = {}
    for index, evaluation in enumerate(evaluations):
        by_subject.setdefault(evaluation.subject, []).append(index)

    changes: list[GradeChange] = []
    republish: list[Provider] = []
    blacklisted: list[str] = []
    blacklisted_now: list[tuple[Practitioner, GradeState]] = []
    for subject in sorted(by_subject):
        indexes = by_subject[subject]
        baseline: Baseline
        provider: Provider | None = None
        practitioner: Practitioner | None = None
        problem: str | None = None
        if subject.kind is SubjectKind.COMPANY:
            provider = providers.get(subject.id)
            if provider is None or provider.kind is not Kind.COMPANY or not provider.credit_grade:
                problem = _company_problem(subject, provider)
            else:
                baseline = Baseline(provider.credit_grade, baseline_since)
        elif registry is None:
            baseline = Baseline(DEFAULT_PRACTITIONER_STARS, baseline_since)
        else:
            practitioner = registry.get(subject.id)
            if practitioner is None:
                problem = (
                    f"no practitioner with id {subject.id!r} in the registry; load them first "
                    "(POST /v1/admin/practitioners)"
                )
            else:
                stars = practitioner.stars or DEFAULT_PRACTITIONER_STARS
                baseline = Baseline(stars, baseline_since)
        if problem is not None:
            for i in indexes:
                results[i] = ItemResult(i, evaluations[i].id, Outcome.REJECTED, (problem,))
            continue
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
        if practitioner is not None and (
            recording.state.blacklisted or practitioner.blacklisting is not None
        ):
            blacklisted_now.append((practitioner, recording.state))

    if republish:
        providers.upsert(republish)
    updated = [p.id for p in republish]
    lifted: list[str] = []
    if registry is not None and blacklisted_now:
        companies, lifted = sync_registry(registry, blacklisted_now, model)
        updated.extend(publish_counts(registry, providers, companies, china_today()))
    return EvaluationReport(
        items=tuple(results[i] for i in range(len(evaluations))),
        changes=tuple(sorted(changes, key=lambda c: (c.at, c.subject))),
        providers_updated=tuple(dict.fromkeys(updated)),
        blacklisted=tuple(blacklisted),
        lifted=tuple(lifted),
    )


def sync_registry(
    registry: PractitionerRegistry,
    blacklisted: list[tuple[Practitioner, GradeState]],
    model: GradingModel = DEFAULT_MODEL,
) -> tuple[list[str], list[str]]:
    """Blacklist in the registry the practitioners the grade book holds blacklisted, and
    lift the blacklistings upheld appeals reversed; returns the companies to recount
    (sorted) and the practitioners lifted.

    An upheld appeal can move a blacklisting to a later standing case (the bar then runs
    from that decision: :func:`~providers.practitioners.blacklist` takes the later date) or
    leave none (:func:`~providers.practitioners.lift_blacklisting`, which keeps a
    blacklisting entered without a cause).

    The date is the engine's (the earliest verified serious case's resolution, in China
    time) rather than the audit record's: they differ only for a case that arrived late,
    which the engine applies at its latest time, and only the state's date is one a
    re-sent batch reproduces. :func:`~providers.practitioners.blacklist` keeps an existing
    blacklisting of that date or later, so writing back again changes nothing.
    """
    updates: list[Practitioner] = []
    lifted: list[str] = []
    for practitioner, state in blacklisted:
        if state.blacklisted_at is None:
            # Causes that no longer blacklist: reversed by an appeal, or (after a re-grading)
            # of a severity that does not blacklist.
            gone = [id_ for id_, _ in state.reversals] + [
                id_ for id_, sev, _ in state.complaints if sev not in model.blacklist_severities
            ]
            updated = lift_blacklisting(practitioner, gone)
            if updated != practitioner:
                lifted.append(practitioner.id)
        else:
            on = state.blacklisted_at.astimezone(CHINA_TZ).date()
            cause = () if state.blacklist_cause is None else (state.blacklist_cause,)
            updated = blacklist(practitioner, on, BLACKLIST_REASON, cause)
        if updated != practitioner:
            updates.append(updated)
    if updates:
        registry.upsert(updates, lift=lifted)
    companies = sorted({p.company_id for p, _ in blacklisted if p.company_id is not None})
    return companies, lifted


def _company_problem(subject: Subject, provider: Provider | None) -> str:
    if provider is None:
        return f"no company provider with id {subject.id!r}"
    if provider.kind is not Kind.COMPANY:
        return f"{subject.id!r} is a grassroots service station; stations are not graded"
    return f"company {subject.id!r} has no official credit grade to start from"

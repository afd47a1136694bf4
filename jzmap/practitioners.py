"""The practitioners registry, wired: records in, public per-company counts out.

:func:`load_practitioners` is what ``POST /v1/admin/practitioners`` runs. It checks each
record's company, upserts the valid ones into the registry (one transaction, see
:mod:`providers.registry`) and then recounts every company the batch touched: a company's
public ``certified_practitioners`` becomes the number of its registered practitioners
holding a valid 安心服务证 **today** (China time), and its ``practitioners`` is raised to at
least the number registered. Only companies whose counts change are rewritten in the
provider store, so the very next nearest-match ranks with them.

*Partial batches*, as for evaluations: a bad record is reported with its reasons (which
never quote personal values) and does not hold back the others; the upsert is idempotent,
so the corrected batch can simply be sent again.

*Two stores.* The registry and the provider store are separate, so there is no
transaction across both; the recount does not depend on what *this* batch changed (every
company named in it is recounted), so re-sending a batch repairs the provider records.

*One rule, three callers.* :func:`publish_counts` is the recount: a practitioners load
runs it for the companies the batch touched, the evaluations feed for the company of a
practitioner it blacklists (:mod:`jzmap.grades`), and a provider import applies the same
counts to the rows it stores (:mod:`jzmap.imports`), so an import no longer overwrites them
with the file's own 持证人数.

*New official ratings.* A practitioner's ``stars`` are the official rating their dynamic
grade starts from (:mod:`jzmap.grades`). Given the grade book, a load compares the stars of
every practitioner it stored — inserted, updated or unchanged — with the baselines of
those already evaluated (one query, :meth:`~providers.gradebook.GradeBook.subject_grades`).
Stars that differ are a new official rating: the grade book takes them as the
practitioner's baseline from the load's time
(:meth:`~providers.gradebook.GradeBook.rebaseline`; cause ``"official:registry"`` for the
JSON API, ``"official:<file>"`` for a file import: :data:`OFFICIAL_CAUSE`), with an audit
record in their grade history.
Evaluations that took effect before it no longer count, later ones move the grade from
there: the rule for companies' new official grades (:mod:`jzmap.imports`). ``rebaselined``
in the report lists them. Left alone:

* practitioners never evaluated: a load creates no grade-book entry; their first
  evaluation takes the registry's stars then;
* records without stars: an unrated practitioner keeps the baseline they were evaluated
  from (a rating withdrawn is not a new one);
* stars equal to the baseline, so loading the same register again changes nothing. A
  practitioner evaluated while unrated (from the default 3 stars) and then rated 3 stars
  cannot be told apart from a repeat: their grade carries on;
* a practitioner the grade book holds blacklisted, while the blacklisting's re-application
  bar lasts (:data:`~providers.practitioners.REAPPLY_BAR_YEARS` years): a new baseline
  would drop the verified case that blacklisted them (it predates the rating) and lift the
  engine's blacklisting. A load after the bar has ended takes the rating.

*Re-runnable.* Unchanged records are compared too: the registry and the grade book are
separate stores, so if a load fails after the registry committed, sending it again finds
the records unchanged but the baselines old, and rebaselines them.

*Known limitation.* Counts are derived when one of those runs: a certificate that expires
later lowers its company's count only at the company's next load, blacklisting or import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from providers.evaluations import CHINA_TZ, Subject, SubjectKind
from providers.gradebook import Baseline, GradeBook, SubjectGrade
from providers.model import Kind, Provider
from providers.practitioners import Blacklisting, Practitioner, Stars, public_counts
from providers.registry import PractitionerRegistry, UpsertOutcome
from providers.store import ProviderStore

# The audit cause of a new official rating, as for companies' new official grades
# (jzmap.imports): the file it came in, or REGISTRY_SOURCE for the JSON API.
OFFICIAL_CAUSE = "official:{source}"
REGISTRY_SOURCE = "registry"


@dataclass(frozen=True, slots=True)
class LoadItem:
    """What became of the practitioner at ``index`` in the batch."""

    index: int
    id: str
    outcome: UpsertOutcome
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoadReport:
    """The outcome of a load: one :class:`LoadItem` per practitioner, in order, the
    companies whose public counts were rewritten, and the practitioners whose new official
    stars the grade book took as their baseline (ids, sorted)."""

    items: tuple[LoadItem, ...]
    providers_updated: tuple[str, ...]
    counted_on: date
    rebaselined: tuple[str, ...] = ()

    def ids(self, *outcomes: UpsertOutcome) -> list[str]:
        return [item.id for item in self.items if item.outcome in outcomes]


def china_today() -> date:
    """Today's date in Guangzhou."""
    return datetime.now(CHINA_TZ).date()


def load_practitioners(
    registry: PractitionerRegistry,
    providers: ProviderStore,
    practitioners: Sequence[Practitioner],
    *,
    on: date | None = None,
    gradebook: GradeBook | None = None,
    now: datetime | None = None,
    sources: Sequence[str] | None = None,
) -> LoadReport:
    """Store a batch of (already valid) practitioners, rebaseline those whose official
    stars changed and republish their companies' counts (see the module).

    Parameters
    ----------
    on
        The day the counts are derived at (default: ``now``'s date in China).
    gradebook
        When given, evaluated practitioners whose stars differ from their baseline are
        rebaselined; without it the grade book is not read (the behaviour before).
    now
        When the load happens (default: now; with a time zone): the ``since`` of new
        official baselines.
    sources
        Where each practitioner came from (a file name), position by position, for the
        audit cause ``"official:<source>"``; default :data:`REGISTRY_SOURCE` for all.
    """
    if now is not None and now.utcoffset() is None:
        raise ValueError(f"now {now.isoformat()} has no time zone; attach one (e.g. +08:00)")
    if sources is not None and len(sources) != len(practitioners):
        raise ValueError("sources must name one source per practitioner")
    at = (now or datetime.now(CHINA_TZ)).astimezone(CHINA_TZ)
    on = on or at.date()
    results: dict[int, LoadItem] = {}
    companies: dict[str, Provider] = {}
    storable: list[int] = []
    for index, p in enumerate(practitioners):
        problem = None
        if p.company_id is not None:
            provider = companies.get(p.company_id) or providers.get(p.company_id)
            problem = _company_problem(p.company_id, provider)
            if provider is not None and problem is None:
                companies[p.company_id] = provider
        if problem:
            results[index] = LoadItem(index, p.id, UpsertOutcome.REJECTED, (problem,))
        else:
            storable.append(index)
    plan = registry.upsert([practitioners[i] for i in storable])
    for index, item in zip(storable, plan.items, strict=True):
        reasons = (item.reason,) if item.reason else ()
        results[index] = LoadItem(index, item.id, item.outcome, reasons)

    rebaselined: tuple[str, ...] = ()
    if gradebook is not None:
        rated: dict[str, tuple[Stars, str]] = {}
        for index, item in zip(storable, plan.items, strict=True):
            stars = practitioners[index].stars
            if item.outcome is not UpsertOutcome.REJECTED and stars is not None:
                source = REGISTRY_SOURCE if sources is None else sources[index]
                rated[item.id] = (stars, source)
        rebaselined = rebaseline_official_stars(gradebook, rated, at)

    updated = publish_counts(registry, providers, plan.companies, on, known=companies)
    return LoadReport(
        items=tuple(results[i] for i in range(len(practitioners))),
        providers_updated=updated,
        counted_on=on,
        rebaselined=rebaselined,
    )


def rebaseline_official_stars(
    gradebook: GradeBook, rated: Mapping[str, tuple[Stars, str]], at: datetime
) -> tuple[str, ...]:
    """Take each evaluated practitioner's official stars in ``rated`` (id -> (stars,
    source)) as their baseline from ``at`` where they differ from it (see the module);
    returns the ids the grade book rebaselined, sorted."""
    if not rated:
        return ()
    done: list[str] = []
    for practitioner_id, current in gradebook.subject_grades(
        SubjectKind.PRACTITIONER, rated
    ).items():
        stars, source = rated[practitioner_id]
        if current.baseline.grade == stars or _barred(current, at.date()):
            continue
        change = gradebook.rebaseline(
            Subject.practitioner(practitioner_id),
            Baseline(stars, at),
            OFFICIAL_CAUSE.format(source=source),
        )
        if change is not None:
            done.append(practitioner_id)
    return tuple(sorted(done))


def _barred(current: SubjectGrade, on: date) -> bool:
    """Whether the grade book holds the practitioner blacklisted and the blacklisting's
    re-application bar still runs on ``on``."""
    if current.blacklisted_at is None:
        return False
    blacklisted_on = current.blacklisted_at.astimezone(CHINA_TZ).date()
    return on < Blacklisting(blacklisted_on, "grade engine").barred_until


def publish_counts(
    registry: PractitionerRegistry,
    providers: ProviderStore,
    company_ids: Iterable[str],
    on: date,
    *,
    known: Mapping[str, Provider] | None = None,
) -> tuple[str, ...]:
    """Recount ``company_ids`` from the registry at ``on`` and rewrite those whose public
    counts change; returns their ids (sorted).

    Ids that are no company in the store (a company someone left, since removed) are
    skipped. ``known`` may hold providers already read, to save a store read each.
    """
    wanted = sorted(set(company_ids))
    if not wanted:
        return ()
    counts = registry.company_counts(on, wanted)
    republish: list[Provider] = []
    for company_id in wanted:
        provider = (known or {}).get(company_id) or providers.get(company_id)
        if provider is None or provider.kind is not Kind.COMPANY:
            continue
        total, certified = public_counts(provider.practitioners, counts.get(company_id))
        if (provider.practitioners, provider.certified_practitioners) != (total, certified):
            republish.append(
                dataclasses.replace(
                    provider, certified_practitioners=certified, practitioners=total
                )
            )
    if republish:
        providers.upsert(republish)
    return tuple(p.id for p in republish)


def _company_problem(company_id: str, provider: Provider | None) -> str | None:
    if provider is None:
        return f"company_id: no company provider with id {company_id!r}"
    if provider.kind is not Kind.COMPANY:
        return f"company_id: {company_id!r} is a grassroots service station, not a company"
    return None

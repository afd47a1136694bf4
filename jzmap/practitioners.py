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

*Known limitation.* The counts are derived at load time. A later provider import
(``jzmap ingest`` or ``POST /v1/admin/imports``) overwrites them with the file's own
持证人数, and a certificate that expires or is blacklisted later lowers the count only at
the company's next practitioners load.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from jzmap.services import open_registry_from
from jzmap.settings import Settings
from providers.evaluations import CHINA_TZ
from providers.model import Kind, Provider
from providers.practitioners import Practitioner, certified_count
from providers.registry import PractitionerRegistry, UpsertOutcome
from providers.store import ProviderStore


@dataclass(frozen=True, slots=True)
class LoadItem:
    """What became of the practitioner at ``index`` in the batch."""

    index: int
    id: str
    outcome: UpsertOutcome
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoadReport:
    items: tuple[LoadItem, ...]
    providers_updated: tuple[str, ...]
    counted_on: date

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
) -> LoadReport:
    """Store a batch of (already valid) practitioners and republish their companies' counts
    at ``on`` (default: today in China)."""
    on = on or china_today()
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

    republish: list[Provider] = []
    for company_id in sorted(plan.companies):
        provider = companies.get(company_id) or providers.get(company_id)
        if provider is None or provider.kind is not Kind.COMPANY:
            continue  # a company someone left, since removed: nothing to publish
        registered = registry.by_company(company_id)
        certified = certified_count(registered, company_id, on)
        total = max(provider.practitioners, len(registered))
        if (provider.certified_practitioners, provider.practitioners) != (certified, total):
            republish.append(
                dataclasses.replace(
                    provider, certified_practitioners=certified, practitioners=total
                )
            )
    if republish:
        providers.upsert(republish)
    return LoadReport(
        items=tuple(results[i] for i in range(len(practitioners))),
        providers_updated=tuple(p.id for p in republish),
        counted_on=on,
    )


def _company_problem(company_id: str, provider: Provider | None) -> str | None:
    if provider is None:
        return f"company_id: no company provider with id {company_id!r}"
    if provider.kind is not Kind.COMPANY:
        return f"company_id: {company_id!r} is a grassroots service station, not a company"
    return None


class RegistrySlot:
    """The app's practitioners registry, opened on first use unless one is handed in
    (like :class:`jzmap.grades.GradeBookSlot`). Thread-safe."""

    def __init__(self, settings: Settings, registry: PractitionerRegistry | None = None) -> None:
        self._settings = settings
        self._registry = registry
        self._owned = registry is None
        self._lock = threading.Lock()

    def get(self) -> PractitionerRegistry:
        if self._registry is None:
            with self._lock:
                if self._registry is None:
                    self._registry = open_registry_from(self._settings)
        return self._registry

    def close(self) -> None:
        with self._lock:
            if self._owned and self._registry is not None:
                self._registry.close()
                self._registry = None

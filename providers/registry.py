"""The practitioners registry: private records of practitioners, stored beside the grade book.

:mod:`providers.practitioners` is pure: a :class:`~providers.practitioners.Practitioner`
and what follows from it at a date. A :class:`PractitionerRegistry` keeps the records
between calls. Two backends implement it (``providers.stores.registry_embedded``, a
``practitioners.sqlite`` of its own in the embedded data directory, and
``providers.stores.registry_postgis``, table ``practitioners`` of migration 0004); both
do their I/O around :func:`plan_upsert`, so the rules below are written once.

Upsert rules
------------
*Idempotent by id.* A practitioner is keyed by their registry id. Sending a record equal
to the stored one is **unchanged**; a different one **replaces** it (the registry is a
copy of the official register, which is the source of truth); a new id is **inserted**.

*Certificate codes are unique.* A household looks a code up, so one code must name one
practitioner: a record carrying a code another practitioner holds is **rejected**, and so
is a second record with the same id or code in one batch (the first one counts). A code
moves to another practitioner only once its holder's record without it is stored (an
earlier batch): codes are checked against what is stored, not swapped inside a batch.

*Transactions.* One :meth:`PractitionerRegistry.upsert` is one transaction.

*Counts in the store.* Beside each record the backends keep its
:func:`~providers.practitioners.certified_period` (the one run of days its certificate is
valid), written with the record. :meth:`PractitionerRegistry.company_counts` is then a
grouped range test the database runs, not a quarter of a million records parsed in Python:
a provider import asks for every company's counts before it starts. The result equals
:func:`providers.practitioners.company_counts` over the stored records.

Everything stored is private: only :func:`providers.practitioners.public_certificate` and
per-company counts leave the registry for the public.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from providers.practitioners import (
    Blacklisting,
    Check,
    CheckRecord,
    CheckStatus,
    CompanyCounts,
    InvalidPractitionerError,
    Practitioner,
    Stars,
    blacklist,
    certified_period,
)


class UpsertOutcome(StrEnum):
    INSERTED = "inserted"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class UpsertItem:
    """What became of one record; ``reason`` only for a rejection (never personal)."""

    id: str
    outcome: UpsertOutcome
    reason: str = ""


@dataclass(frozen=True, slots=True)
class UpsertPlan:
    """What one :meth:`PractitionerRegistry.upsert` did (or, from :func:`plan_upsert`,
    will do): one item per record sent, in order, and the records to write.

    ``companies`` are the company ids of the records sent and of the stored records they
    replace (a practitioner who changed company counts for both), for recounting.
    """

    items: tuple[UpsertItem, ...]
    writes: tuple[Practitioner, ...]
    companies: frozenset[str]


@runtime_checkable
class PractitionerRegistry(Protocol):
    """Storage for practitioners; see the module's upsert rules."""

    def upsert(
        self, practitioners: Sequence[Practitioner], *, lift: Collection[str] = ()
    ) -> UpsertPlan:
        """Insert or replace ``practitioners`` in one transaction; ``lift`` names those
        whose stored blacklisting the record sent may end (see :func:`plan_upsert`)."""
        ...

    def get(self, practitioner_id: str) -> Practitioner | None: ...

    def by_certificate(self, code: str) -> Practitioner | None:
        """The practitioner holding certificate ``code`` (exact match), or ``None``."""
        ...

    def by_company(self, company_id: str) -> list[Practitioner]:
        """The company's practitioners, by id."""
        ...

    def company_counts(
        self, on: date, companies: Collection[str] | None = None
    ) -> dict[str, CompanyCounts]:
        """Per company id (sorted): registered practitioners and valid certificate holders
        on ``on`` — :func:`providers.practitioners.company_counts` of the stored records.

        Only companies with at least one registered practitioner appear; ``companies``
        restricts the answer to those ids.
        """
        ...

    def delete_all(self) -> int:
        """Remove every record in one transaction (a demo rebuild); returns how many."""
        ...

    def check(self) -> None:
        """Raise :class:`~providers.store.StoreUnavailableError` when it cannot answer."""
        ...

    def close(self) -> None: ...


def plan_upsert(
    incoming: Sequence[Practitioner],
    stored: Mapping[str, Practitioner],
    holders: Mapping[str, str],
    *,
    lift: Collection[str] = (),
) -> UpsertPlan:
    """Decide what upserting ``incoming`` means (pure).

    Parameters
    ----------
    stored
        The stored records whose ids are among ``incoming``'s.
    holders
        Certificate code -> id of the stored practitioner holding it, for the codes among
        ``incoming``'s.

    A stored blacklisting stays when a record comes back without it (or with an earlier
    one): it ends only with its 3-year bar, never by a routine re-load of the official
    register, which does not know the platform's blacklist. A record that is then invalid
    (a certificate issued inside the bar) is rejected. The one exception is ``lift``: the
    ids of practitioners whose blacklisting the grade engine no longer holds (an upheld
    appeal, a re-grading), whose record is then written as sent.
    """
    items: list[UpsertItem] = []
    writes: dict[str, Practitioner] = {}
    seen_ids: dict[str, int] = {}
    seen_codes: dict[str, int] = {}
    companies: set[str] = set()
    for index, p in enumerate(incoming):
        reason = ""
        code = p.certificate_code
        if p.id in seen_ids:
            reason = f"id {p.id!r} is already in this batch at index {seen_ids[p.id]}"
        elif code is not None and code in seen_codes:
            reason = (
                f"certificate code {code!r} is already in this batch at index {seen_codes[code]}"
            )
        elif code is not None and holders.get(code, p.id) != p.id:
            reason = f"certificate code {code!r} is held by practitioner {holders[code]!r}"
        if reason:
            items.append(UpsertItem(p.id, UpsertOutcome.REJECTED, reason))
            continue
        seen_ids[p.id] = index
        if code is not None:
            seen_codes[code] = index
        before = stored.get(p.id)
        if before is not None and before.blacklisting is not None and p.id not in lift:
            # Official registers do not know the platform's blacklist: a load that leaves
            # the blacklisting out (or carries an earlier one) must not lift it.
            kept = before.blacklisting
            try:
                p = blacklist(p, kept.on, kept.reason, kept.cause)
            except InvalidPractitionerError as exc:
                items.append(UpsertItem(p.id, UpsertOutcome.REJECTED, _own_reason(p.id, exc)))
                continue
        for record in (p, before):
            if record is not None and record.company_id is not None:
                companies.add(record.company_id)
        if before is None:
            outcome = UpsertOutcome.INSERTED
        elif practitioner_to_json(before) == practitioner_to_json(p):
            outcome = UpsertOutcome.UNCHANGED
        else:
            outcome = UpsertOutcome.UPDATED
        items.append(UpsertItem(p.id, outcome))
        if outcome is not UpsertOutcome.UNCHANGED:
            writes[p.id] = p
    return UpsertPlan(tuple(items), tuple(writes.values()), frozenset(companies))


def _own_reason(practitioner_id: str, exc: InvalidPractitionerError) -> str:
    """The exception's message without its ``practitioner 'id': `` prefix."""
    text = str(exc)
    prefix = f"practitioner {practitioner_id!r}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


# -- codec shared by the backends -------------------------------------------------------


def certified_columns(p: Practitioner) -> tuple[date | None, date | None]:
    """The first and last day (``None``: open-ended) of ``p``'s certified period, as the
    backends store it beside the record; both ``None`` when it is never valid."""
    period = certified_period(p)
    return (None, None) if period is None else (period.start, period.end)


def _day(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def _parse_day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def practitioner_to_json(p: Practitioner) -> str:
    """The whole record (personal fields included) as JSON text, keys sorted."""
    body: dict[str, Any] = {
        "id": p.id,
        "name": p.name,
        "id_number": p.id_number,
        "phone": p.phone,
        "company_id": p.company_id,
        "stars": None if p.stars is None else int(p.stars),
        "checks": {
            check.value: {
                "status": r.status.value,
                "evidenced_on": _day(r.evidenced_on),
                "expires_on": _day(r.expires_on),
            }
            for check, r in p.checks.items()
        },
        "certificate_code": p.certificate_code,
        "certificate_issued_on": _day(p.certificate_issued_on),
        "certificate_revoked_on": _day(p.certificate_revoked_on),
        "blacklisting": None
        if p.blacklisting is None
        else {
            "on": p.blacklisting.on.isoformat(),
            "reason": p.blacklisting.reason,
            "cause": list(p.blacklisting.cause),
        },
        "home_address": p.home_address,
        "home_lon": p.home_lon,
        "home_lat": p.home_lat,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def practitioner_from_json(text: str | Mapping[str, Any]) -> Practitioner:
    body = json.loads(text) if isinstance(text, str) else text

    def check(c: Check) -> CheckRecord:
        r = body["checks"][c.value]
        return CheckRecord(
            CheckStatus(r["status"]), _parse_day(r["evidenced_on"]), _parse_day(r["expires_on"])
        )

    b = body["blacklisting"]
    return Practitioner(
        id=body["id"],
        name=body["name"],
        id_number=body["id_number"],
        phone=body["phone"],
        company_id=body["company_id"],
        stars=None if body["stars"] is None else Stars(body["stars"]),
        certificate_code=body["certificate_code"],
        certificate_issued_on=_parse_day(body["certificate_issued_on"]),
        certificate_revoked_on=_parse_day(body["certificate_revoked_on"]),
        blacklisting=None
        if b is None
        else Blacklisting(date.fromisoformat(b["on"]), b["reason"], tuple(b["cause"])),
        home_address=body["home_address"],
        home_lon=body["home_lon"],
        home_lat=body["home_lat"],
        real_name=check(Check.REAL_NAME),
        pre_job_training=check(Check.PRE_JOB_TRAINING),
        no_criminal_record=check(Check.NO_CRIMINAL_RECORD),
        health_certificate=check(Check.HEALTH_CERTIFICATE),
        vocational_certificate=check(Check.VOCATIONAL_CERTIFICATE),
    )


__all__ = [
    "PractitionerRegistry",
    "UpsertItem",
    "UpsertOutcome",
    "UpsertPlan",
    "certified_columns",
    "plan_upsert",
    "practitioner_from_json",
    "practitioner_to_json",
]

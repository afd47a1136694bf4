"""The practitioners registry contract, run unchanged against both backends."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import date
from pathlib import Path

from providers.practitioners import (
    Blacklisting,
    CheckRecord,
    CheckStatus,
    CompanyCounts,
    Practitioner,
    Stars,
    company_counts,
    id_number_check_char,
)
from providers.registry import PractitionerRegistry, UpsertPlan, practitioner_to_json
from providers.stores.registry_embedded import EmbeddedRegistry

OK = CheckRecord(CheckStatus.PASSED, date(2025, 1, 6))
HEALTH = CheckRecord(CheckStatus.PASSED, date(2025, 1, 6), date(2026, 1, 5))
HEALTH_2027 = CheckRecord(CheckStatus.PASSED, date(2025, 1, 6), date(2027, 1, 5))


def id_number(n: int) -> str:
    first17 = f"44010519850101{n:03d}"
    return first17 + id_number_check_char(first17)


def person(
    n: int, company: str | None = "co-1", code: str | None = None, **extra: object
) -> Practitioner:
    fields: dict[str, object] = {
        "name": "张三华",
        "id_number": id_number(n),
        "phone": "138-0000-0000",
        "company_id": company,
        "stars": Stars.FOUR,
        "real_name": OK,
        "pre_job_training": OK,
        "no_criminal_record": OK,
        "health_certificate": HEALTH,
        "vocational_certificate": OK,
        "certificate_code": code if code is not None else f"GZ-2025-{n:06d}",
        "certificate_issued_on": date(2025, 1, 10),
        "home_address": "海珠区某路1号",
        "home_lon": 113.3,
        "home_lat": 23.1,
    }
    fields.update(extra)
    return Practitioner(f"pr-{n}", **fields)  # type: ignore[arg-type]


def outcomes(plan: UpsertPlan) -> list[str]:
    return [item.outcome.value for item in plan.items]


def test_upsert_is_idempotent_by_id_and_round_trips_every_field(
    registry: PractitionerRegistry,
) -> None:
    full = person(
        1,
        blacklisting=Blacklisting(date(2024, 6, 1), "严重投诉属实", ("cp-1", "cp-2")),
        certificate_issued_on=date(2024, 1, 10),
        certificate_revoked_on=date(2024, 7, 1),
        stars=Stars.ONE,
    )
    free = person(
        2,
        company=None,
        certificate_code=None,
        certificate_issued_on=None,
        stars=None,
        home_lon=None,
        home_lat=None,
    )
    plan = registry.upsert([full, free])
    assert outcomes(plan) == ["inserted", "inserted"]
    assert plan.companies == frozenset({"co-1"})
    assert registry.get("pr-1") == full and registry.get("pr-2") == free
    assert registry.get("pr-9") is None

    again = registry.upsert([full, free])
    assert outcomes(again) == ["unchanged", "unchanged"] and again.writes == ()

    moved = dataclasses.replace(full, company_id="co-2", phone="139-0000-0000")
    plan = registry.upsert([moved])
    assert outcomes(plan) == ["updated"]
    # Both the old and the new company must be recounted.
    assert plan.companies == frozenset({"co-1", "co-2"})
    assert registry.get("pr-1") == moved
    assert registry.by_company("co-1") == [] and registry.by_company("co-2") == [moved]


def test_lookups_by_certificate_code_and_company(registry: PractitionerRegistry) -> None:
    people = [person(3), person(1), person(2, company="co-2")]
    registry.upsert(people)
    found = registry.by_certificate("GZ-2025-000002")
    assert found is not None and found.id == "pr-2"
    assert registry.by_certificate("GZ-2025-999999") is None
    assert registry.by_certificate("gz-2025-000002") is None  # exact: callers normalise
    assert [p.id for p in registry.by_company("co-1")] == ["pr-1", "pr-3"]
    assert registry.by_company("co-9") == []


def test_a_certificate_code_names_one_practitioner(registry: PractitionerRegistry) -> None:
    registry.upsert([person(1)])
    taken = person(2, code="GZ-2025-000001")
    plan = registry.upsert([taken, person(3), person(3), person(4, code="GZ-2025-000003")])
    assert outcomes(plan) == ["rejected", "inserted", "rejected", "rejected"]
    reasons = [item.reason for item in plan.items]
    assert "held by practitioner 'pr-1'" in reasons[0]
    assert "already in this batch at index 1" in reasons[2]
    assert "already in this batch at index 1" in reasons[3]
    assert registry.get("pr-2") is None and registry.get("pr-4") is None
    # Nothing personal in any reason.
    for reason in reasons:
        assert "张三华" not in reason and id_number(2) not in reason and "138" not in reason

    # Once its holder gives it up, a code may move.
    registry.upsert([person(1, code="GZ-2025-000101")])
    assert outcomes(registry.upsert([taken])) == ["inserted"]
    holder = registry.by_certificate("GZ-2025-000001")
    assert holder is not None and holder.id == "pr-2"


def test_the_embedded_registry_survives_reopening(tmp_path: Path) -> None:
    first = EmbeddedRegistry(tmp_path)
    first.upsert([person(1)])
    first.close()
    second = EmbeddedRegistry(tmp_path)
    assert second.get("pr-1") == person(1)
    second.check()
    second.close()
    assert (tmp_path / "practitioners.sqlite").exists()


def test_company_counts_match_the_pure_rule_at_every_date(registry: PractitionerRegistry) -> None:
    people = [
        person(1),  # valid 2025-01-10 .. 2026-01-05 (health certificate)
        person(2, certificate_revoked_on=date(2025, 6, 1)),
        person(3, blacklisting=Blacklisting(date(2025, 3, 1), "严重投诉属实", ("cp-1",))),
        person(4, pre_job_training=CheckRecord()),  # never valid
        person(5, company="co-2", certificate_issued_on=None),
        person(6, company="co-2", certificate_code=None, certificate_issued_on=None),
        person(7, company=None),  # a freelancer counts nowhere
    ]
    registry.upsert(people)
    for on in (date(2024, 1, 1), date(2025, 1, 10), date(2025, 4, 1), date(2025, 12, 31)):
        assert registry.company_counts(on) == company_counts(people, on), on
    assert registry.company_counts(date(2025, 4, 1)) == {
        "co-1": CompanyCounts(4, 2),
        "co-2": CompanyCounts(2, 1),
    }
    assert registry.company_counts(date(2025, 4, 1), ["co-2", "co-9"]) == {
        "co-2": CompanyCounts(2, 1)
    }
    assert registry.company_counts(date(2025, 4, 1), []) == {}

    # A replaced record replaces its period too.
    registry.upsert([person(1, health_certificate=HEALTH_2027)])
    assert registry.company_counts(date(2026, 6, 1))["co-1"] == CompanyCounts(4, 1)


def test_delete_all_empties_the_registry(registry: PractitionerRegistry) -> None:
    registry.upsert([person(1), person(2)])
    assert registry.delete_all() == 2
    assert registry.get("pr-1") is None and registry.company_counts(date(2025, 4, 1)) == {}
    assert registry.by_certificate("GZ-2025-000001") is None and registry.delete_all() == 0


def test_a_version_1_embedded_registry_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "practitioners.sqlite"
    people = [person(1), person(2, company="co-2", certificate_revoked_on=date(2025, 6, 1))]
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE practitioners (id TEXT PRIMARY KEY, company_id TEXT,
            certificate_code TEXT UNIQUE, body TEXT NOT NULL);
        CREATE INDEX practitioners_company ON practitioners (company_id);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO meta VALUES ('schema_version', 1);
        """
    )
    conn.executemany(
        "INSERT INTO practitioners VALUES (?, ?, ?, ?)",
        [(p.id, p.company_id, p.certificate_code, practitioner_to_json(p)) for p in people],
    )
    conn.commit()
    conn.close()
    registry = EmbeddedRegistry(tmp_path)
    try:
        on = date(2025, 7, 1)
        assert registry.company_counts(on) == company_counts(people, on)
        assert registry.get("pr-2") == people[1]
    finally:
        registry.close()
    again = EmbeddedRegistry(tmp_path)  # already upgraded: opens as it is
    again.close()


def test_a_reload_without_the_blacklisting_does_not_lift_it(
    registry: PractitionerRegistry,
) -> None:
    # The grade engine blacklists on the platform; the official register re-sent later
    # does not know it, and must not make a revoked certificate valid again.
    barred = Blacklisting(date(2026, 4, 1), "严重投诉属实", ("cp-9",))
    registry.upsert([person(1, blacklisting=barred)])
    plan = registry.upsert([person(1)])
    assert [item.outcome.value for item in plan.items] == ["unchanged"]
    stored = registry.get("pr-1")
    assert stored is not None and stored.blacklisting == barred
    # An earlier blacklisting in the load does not replace the later stored one either.
    registry.upsert([person(1, blacklisting=Blacklisting(date(2026, 1, 1), "旧记录"))])
    stored = registry.get("pr-1")
    assert stored is not None and stored.blacklisting == barred
    # A new certificate issued inside the 3-year bar is refused, not stored.
    plan = registry.upsert(
        [person(1, code="GZ-2027-000001", certificate_issued_on=date(2027, 1, 1))]
    )
    assert plan.items[0].outcome.value == "rejected"
    assert "while re-application was barred" in plan.items[0].reason
    assert "张三华" not in plan.items[0].reason
    stored = registry.get("pr-1")
    assert stored is not None and stored.certificate_code == "GZ-2025-000001"

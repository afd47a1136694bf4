"""Provider imports that keep the platform's own values, on both stores: a re-import
leaves dynamic grades and registry-derived counts alone (and says unchanged), a new
official grade becomes the grade book's new baseline, and a demo rebuild clears the
grade book and the registry with the providers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from ingest import IngestOptions, IngestReport
from jzmap.application.demo import clear_city
from jzmap.application.grades import apply_evaluations
from jzmap.application.imports import run_provider_import
from jzmap.application.practitioners import load_practitioners
from jzmap.presentation.schemas import PractitionerIn
from jzmap.settings import Settings
from jzmap.wiring import ingester
from providers.evaluations import CHINA_TZ, Complaint, ComplaintStatus, Severity, Subject
from providers.gradebook import Baseline, GradeBook
from providers.identity import company_id
from providers.model import Grade
from providers.registry import PractitionerRegistry
from providers.store import ProviderStore
from providers.stores import Backend
from tests.helpers import credit_code
from tests.test_ingest import row, write_csv
from tests.test_practitioners_api import PASSED, person

A = company_id(credit_code(1))  # row(1): 4A in the file, 20 practitioners, 5 certified
B = company_id(credit_code(2))
NOW = datetime(2026, 6, 1, 12, tzinfo=CHINA_TZ)
SOURCE = IngestOptions(source="海珠区")  # one dataset whatever the file is called


@dataclass
class World:
    settings: Settings
    backend: Backend
    folder: Path

    @property
    def store(self) -> ProviderStore:
        return self.backend.store

    @property
    def gradebook(self) -> GradeBook:
        return self.backend.gradebook

    @property
    def registry(self) -> PractitionerRegistry:
        return self.backend.registry

    def file(self, name: str, *rows: list[str]) -> Path:
        return write_csv(self.folder / name, list(rows))

    def run(
        self, path: Path, *, now: datetime | None = None, backend: Backend | None = None
    ) -> IngestReport:
        report = run_provider_import(
            ingester(self.settings), backend or self.backend, [path], SOURCE, now=now
        )
        assert report.rows_read == report.stored + report.rejected
        return report

    def grade(self, provider_id: str = A) -> Grade | None:
        provider = self.store.get(provider_id)
        assert provider is not None
        return provider.credit_grade

    def counts(self, provider_id: str = A) -> tuple[int, int]:
        provider = self.store.get(provider_id)
        assert provider is not None
        return provider.practitioners, provider.certified_practitioners


@pytest.fixture
def world(backend: Backend, tmp_path: Path) -> World:
    """Each backend kind, with settings for the app and the importer."""
    return World(Settings(admin_token=SecretStr("t")), backend, tmp_path)


def verified(id_: str, subject: str = A, day: int = 20) -> Complaint:
    filed = datetime(2026, 4, day - 5, 9, tzinfo=CHINA_TZ)
    return Complaint(
        id_,
        Subject.company(subject),
        Severity.SERIOUS,
        filed,
        ComplaintStatus.VERIFIED,
        datetime(2026, 4, day, 15, tzinfo=CHINA_TZ),
    )


def evaluate(world: World, *complaints: Complaint) -> None:
    apply_evaluations(
        world.gradebook,
        world.store,
        complaints,
        baseline_since=world.settings.grades.baseline_since,
        registry=world.registry,
    )


def test_a_reimport_keeps_the_dynamic_grade_and_changes_nothing(world: World) -> None:
    path = world.file("海珠区.csv", row(1), row(2))
    first = world.run(path)
    assert (first.inserted, first.grades_kept, first.rebaselined) == (2, 0, 0)
    evaluate(world, verified("cp-1"), verified("cp-2", day=21))  # 85 - 9 - 9 = 67: 2A
    assert world.grade() is Grade.A2

    again = world.run(path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert again.changed_nothing and again.grades_kept == 1 and again.rebaselined == 0
    assert again.summary()["grades_kept"] == 1
    assert world.grade() is Grade.A2 and world.grade(B) is Grade.A4
    assert [c.cause for c in world.gradebook.history(Subject.company(A))] == [
        ("cp-1",),
        ("cp-2",),
    ]


def test_a_new_official_grade_is_stored_and_becomes_the_baseline(world: World) -> None:
    world.run(world.file("海珠区.csv", row(1), row(2)))
    evaluate(world, verified("cp-1"), verified("cp-2", day=21))
    assert world.grade() is Grade.A2

    assessed = world.file("海珠区-2026.csv", row(1, 信用等级="AAAAA"), row(2))
    report = world.run(assessed, now=NOW)
    assert (report.updated, report.unchanged, report.rebaselined) == (1, 1, 1)
    assert report.summary()["rebaselined"] == 1
    assert world.grade() is Grade.A5
    current = world.gradebook.current(Subject.company(A))
    assert current is not None
    assert (current.baseline, current.grade, current.score) == (
        Baseline(Grade.A5, NOW),
        Grade.A5,
        95.0,
    )

    # The public trail shows the assessment after the complaints, with its cause.
    app = create_app(world.settings, backend=world.backend)
    with TestClient(app) as client:
        history = client.get(f"/v1/providers/{A}/grade-history").json()
    assert (history["credit_grade"], history["baseline"]) == ("5A", "5A")
    assert history["baseline_since"] == "2026-06-01T12:00:00+08:00"
    last = history["changes"][-1]
    assert last == {
        "at": "2026-06-01T12:00:00+08:00",
        "cause": ["official:海珠区-2026.csv"],
        "grade_before": "2A",
        "grade_after": "5A",
        "score_before": 67.0,
        "score_after": 95.0,
    }
    assert len(history["changes"]) == 3

    # Running it again is a no-op; evidence dated before the assessment no longer counts,
    # evidence after it does.
    again = world.run(assessed, now=NOW)
    assert again.changed_nothing and (again.unchanged, again.rebaselined) == (2, 0)
    evaluate(world, verified("cp-3", day=22))
    assert world.grade() is Grade.A5
    late = verified("cp-4", day=22)
    after = Complaint(
        "cp-4",
        late.subject,
        late.severity,
        datetime(2026, 6, 2, tzinfo=CHINA_TZ),
        ComplaintStatus.VERIFIED,
        datetime(2026, 6, 5, tzinfo=CHINA_TZ),
    )
    evaluate(world, after)
    assert world.grade() is Grade.A4  # 95 - 9 = 86


def test_a_reimport_keeps_the_registry_derived_counts(world: World) -> None:
    path = world.file("海珠区.csv", row(1), row(2))
    world.run(path)
    expired = person(2, health_certificate={**PASSED, "expires_on": "2021-03-01"})
    people = [PractitionerIn.model_validate(p).to_domain() for p in (person(1), expired)]
    load_practitioners(world.registry, world.store, people)
    assert world.counts() == (20, 1)  # the file said 5 certified; the registry knows 1

    again = world.run(path)
    assert again.changed_nothing and (again.unchanged, again.counts_derived) == (2, 1)
    assert world.counts() == (20, 1) and world.counts(B) == (20, 5)

    # A file listing fewer practitioners than are registered still counts them all.
    smaller = world.run(world.file("海珠区-2.csv", row(1, 从业人员数="1"), row(2)))
    assert (smaller.updated, smaller.unchanged) == (0, 2)
    assert world.counts() == (20, 1)


def test_grades_that_move_during_an_import_are_republished(world: World) -> None:
    world.run(world.file("海珠区.csv", row(1)))
    evaluate(world, verified("cp-1"), verified("cp-2", day=21))

    class Stale:
        """The grade book as the import found it: A not evaluated yet."""

        calls = 0

        def company_grades(self) -> dict[str, tuple[Grade, Grade]]:
            Stale.calls += 1
            return {} if Stale.calls == 1 else world.gradebook.company_grades()

        def __getattr__(self, name: str) -> object:
            return getattr(world.gradebook, name)

    path = world.file("海珠区-2.csv", row(1, 联系电话="020-8333 9999"))
    stale = dataclasses.replace(world.backend, gradebook=cast(GradeBook, Stale()))
    report = world.run(path, backend=stale)
    assert report.updated == 1  # the phone; the file's 4A was written meanwhile
    assert world.grade() is Grade.A2  # and put right once the import committed


def test_a_dry_run_writes_to_neither_book_nor_registry(world: World) -> None:
    class ReadOnly:
        """The real part, refusing every write a dry run must not make."""

        def __init__(self, part: object) -> None:
            self.part = part

        def __getattr__(self, name: str) -> object:
            if name in ("record", "rebaseline", "upsert", "delete_all", "load"):
                raise AssertionError(f"a dry run called {name}")
            return getattr(self.part, name)

    read_only = dataclasses.replace(
        world.backend,
        gradebook=cast(GradeBook, ReadOnly(world.gradebook)),
        registry=cast(PractitionerRegistry, ReadOnly(world.registry)),
    )
    path = world.file("海珠区.csv", row(1))
    for backend in (None, read_only):
        report = run_provider_import(
            ingester(world.settings), backend, [path], IngestOptions(dry_run=True, source="海珠区")
        )
        assert report.dry_run and report.stored == 1
    # Against the store, the dry run says what it would change.
    assert report.compared and report.changes == [{"id": A, "action": "inserted", "fields": []}]
    assert world.store.count() == 0 and world.store.imports() == []


def test_clear_city_empties_the_store_the_grade_book_and_the_registry(world: World) -> None:
    world.run(world.file("海珠区.csv", row(1), row(2)))
    evaluate(world, verified("cp-1"))
    world.registry.upsert([PractitionerIn.model_validate(person(1)).to_domain()])

    cleared = clear_city(world.backend)
    assert (cleared.providers, cleared.graded_subjects, cleared.practitioners) == (2, 1, 1)
    assert world.store.count() == 0
    assert world.gradebook.company_grades() == {} and world.registry.get("pr-1") is None
    assert world.gradebook.history(Subject.company(A)) == []

    # The rebuilt city starts from its own official grades and nobody blacklisted.
    world.run(world.file("海珠区.csv", row(1), row(2)))
    evaluate(world, verified("cp-1"))  # the id is free again, and counts from 4A
    assert world.grade() is Grade.A3

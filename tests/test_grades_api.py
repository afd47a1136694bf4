"""Dynamic grades over HTTP, on both stores: the evaluations feed, the public grade
history, and the next nearest-match ranking with the new grade."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from jzmap.settings import Settings
from providers.evaluations import Subject
from providers.gradebook import GradeBook
from providers.model import Grade
from providers.practitioners import Stars
from providers.store import ProviderStore, StoreUnavailableError
from providers.stores import Backend
from tests.helpers import CANTON_TOWER, company, station
from tests.test_practitioners_api import person

TOKEN = "grades-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LON, LAT = CANTON_TOWER
# X, a 3A company, is ~300 m away; Y, a 4A company, ~320 m: Y ranks first on its grade.
X = company(1, LON, LAT + 0.0027, grade=Grade.A3)
Y = company(2, LON, LAT + 0.0029, grade=Grade.A4)
ST = station(3, LON, LAT + 0.0040)
NEAREST = f"/v1/providers/nearest?lat={LAT}&lon={LON}&kind=company&limit=5"
PRIVATE_TEXT = "阿姨很细心，电话13812345678"


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    """An app on each backend kind (its grade book embedded beside the providers' file,
    on PostGIS in the same database)."""
    backend.store.upsert([X, Y, ST])
    settings = Settings(admin_token=SecretStr(TOKEN), max_evaluations_per_batch=50)
    with TestClient(create_app(settings, backend=backend)) as c:
        yield c


def review(id_: str, subject: str, at: str, stars: int = 5, **extra: Any) -> dict[str, Any]:
    return {
        "type": "review",
        "id": id_,
        "subject": {"kind": "company", "id": subject},
        "at": at,
        "stars": stars,
        "text": PRIVATE_TEXT,
        **extra,
    }


def good_reviews(subject: str = X.id) -> list[dict[str, Any]]:
    # Four five-star reviews a month for three months: +2 points a month (the cap), so
    # 75 (3A's baseline) -> 81, 4A.
    return [
        review(f"rv-{subject[-4:]}-{m}-{d}", subject, f"2026-0{m}-0{d}T10:00:00+08:00")
        for m in (2, 3, 4)
        for d in (1, 2, 3, 4)
    ]


def complaint(status: str = "filed", resolved_at: str | None = None) -> dict[str, Any]:
    return {
        "type": "complaint",
        "id": "cp-1",
        "subject": {"kind": "company", "id": X.id},
        "severity": "serious",
        "filed_at": "2026-04-10T09:00:00+08:00",
        "status": status,
        "resolved_at": resolved_at,
        "text": PRIVATE_TEXT,
    }


def post(client: TestClient, items: list[Any]) -> dict[str, Any]:
    r = client.post("/v1/admin/evaluations", json={"evaluations": items}, headers=AUTH)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def load(client: TestClient, practitioners: list[dict[str, Any]]) -> dict[str, Any]:
    r = client.post("/v1/admin/practitioners", json={"practitioners": practitioners}, headers=AUTH)
    assert r.status_code == 200 and not r.json()["rejected"], r.text
    body: dict[str, Any] = r.json()
    return body


def grade_book(client: TestClient) -> GradeBook:
    """The app's own grade book (practitioners' grades have no public route)."""
    app: Any = client.app
    book: GradeBook = app.state.backend.gradebook
    return book


def counts(client: TestClient, provider_id: str = X.id) -> tuple[int, int]:
    """(practitioners, certified_practitioners) as the public sees them, in both answers."""
    one = client.get(f"/v1/providers/{provider_id}").json()
    near = next(m for m in client.get(NEAREST).json()["results"] if m["id"] == provider_id)
    assert (one["practitioners"], one["certified_practitioners"]) == (
        near["practitioners"],
        near["certified_practitioners"],
    )
    return one["practitioners"], one["certified_practitioners"]


def ranked(client: TestClient) -> list[tuple[str, str, float]]:
    results = client.get(NEAREST).json()["results"]
    return [(m["id"], m["credit_grade"], m["score_parts"]["grade"]["value"]) for m in results]


def test_reviews_then_a_verified_complaint_move_the_grade_and_the_ranking(
    client: TestClient, store: ProviderStore
) -> None:
    assert ranked(client) == [(Y.id, "4A", 0.8), (X.id, "3A", 0.6)]

    report = post(client, good_reviews())
    assert report["received"] == 12 and len(report["accepted"]) == 12
    assert report["duplicates"] == [] and report["rejected"] == []
    assert report["providers_updated"] == [X.id]
    moves = [(c["grade_before"], c["grade_after"]) for c in report["grade_changes"]]
    assert moves.count(("3A", "4A")) == 1 and moves[-1] == ("4A", "4A")
    # The very next answer ranks X with its new grade: nearer and now as good, it leads.
    assert ranked(client) == [(X.id, "4A", 0.8), (Y.id, "4A", 0.8)]

    filed = post(client, [complaint()])
    assert filed["accepted"] == ["cp-1"] and filed["grade_changes"] == []
    version = store.data_version()
    verified = post(client, [complaint("verified", "2026-04-20T15:00:00+08:00")])
    assert verified["accepted"] == ["cp-1"]
    [change] = verified["grade_changes"]
    assert change["cause"] == ["cp-1"]
    assert (change["grade_before"], change["grade_after"]) == ("4A", "3A")
    assert (change["score_before"], change["score_after"]) == (81.0, 72.0)
    assert store.data_version() > version
    assert ranked(client) == [(Y.id, "4A", 0.8), (X.id, "3A", 0.6)]
    assert client.get(f"/v1/providers/{X.id}").json()["credit_grade"] == "3A"

    r = client.get(f"/v1/providers/{X.id}/grade-history")
    assert r.status_code == 200
    history = r.json()
    assert (history["credit_grade"], history["baseline"], history["score"]) == ("3A", "3A", 72.0)
    steps = [
        (c["cause"], c["grade_before"], c["grade_after"], c["score_before"], c["score_after"])
        for c in history["changes"]
    ]
    rv = f"rv-{X.id[-4:]}"
    # Two reviews a month move it (the third and fourth meet the month's +2 cap); 80 is
    # 4A's floor.
    assert steps == [
        ([f"{rv}-2-1"], "3A", "3A", 75.0, 76.0),
        ([f"{rv}-2-2"], "3A", "3A", 76.0, 77.0),
        ([f"{rv}-3-1"], "3A", "3A", 77.0, 78.0),
        ([f"{rv}-3-2"], "3A", "3A", 78.0, 79.0),
        ([f"{rv}-4-1"], "3A", "4A", 79.0, 80.0),
        ([f"{rv}-4-2"], "4A", "4A", 80.0, 81.0),
        (["cp-1"], "4A", "3A", 81.0, 72.0),
    ]
    assert history["changes"][-1]["at"] == "2026-04-20T15:00:00+08:00"
    # Nothing personal: review and complaint texts stay in the grade book.
    assert "阿姨" not in r.text and "13812345678" not in r.text
    assert set(history["changes"][0]) == {
        "at",
        "cause",
        "grade_before",
        "grade_after",
        "score_before",
        "score_after",
        "explanation_zh",
        "explanation_en",
        "appealed",
    }
    # The last entry in plain words: the complaint's level, points and dimensions.
    assert history["changes"][-1]["explanation_en"] == (
        "2026-04-20 verified complaint (serious): −3 points management, −6 points public "
        "credit; grade 4A → 3A, score 81 → 72."
    )


def test_reposting_a_batch_changes_nothing(client: TestClient, store: ProviderStore) -> None:
    batch = [*good_reviews(), complaint("verified", "2026-04-20T15:00:00+08:00")]
    first = post(client, batch)
    assert len(first["accepted"]) == 13 and first["providers_updated"] == []  # 3A -> 4A -> 3A
    history = client.get(f"/v1/providers/{X.id}/grade-history").json()
    version = store.data_version()

    again = post(client, batch)
    assert again["accepted"] == [] and len(again["duplicates"]) == 13
    assert again["grade_changes"] == [] and again["providers_updated"] == []
    assert store.data_version() == version
    assert client.get(f"/v1/providers/{X.id}/grade-history").json() == history


def test_invalid_items_are_reported_one_by_one_and_do_not_block_valid_ones(
    client: TestClient,
) -> None:
    naive = review("rv-naive", Y.id, "2026-02-01T10:00:00")
    items = [
        review("rv-ok", Y.id, "2026-02-01T10:00:00+08:00", stars=1),
        review("rv-stars", Y.id, "2026-02-01T10:00:00+08:00", stars=6),
        review("rv-ghost", "co-914401019999999999", "2026-02-01T10:00:00+08:00"),
        review("rv-station", ST.id, "2026-02-01T10:00:00+08:00"),
        {"id": "no-type", "subject": {"id": Y.id}},
        "not an object",
        naive,
        complaint("verified", "2026-04-01T00:00:00+08:00"),  # resolved before it was filed
        visit("fv-pr", "pr-1"),
        visit("fv-stranger", "pr-404"),  # not in the registry
    ]
    load(client, [person(1)])
    report = post(client, items)
    assert report["received"] == 10
    assert report["accepted"] == ["rv-ok", "fv-pr"]
    rejected = {r["index"]: r for r in report["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4, 5, 6, 7, 9]
    assert rejected[9]["id"] == "fv-stranger"
    assert "no practitioner with id 'pr-404' in the registry" in rejected[9]["reasons"][0]
    assert "stars" in rejected[1]["reasons"][0]
    assert "no company provider" in rejected[2]["reasons"][0] and rejected[2]["id"] == "rv-ghost"
    assert "stations are not graded" in rejected[3]["reasons"][0]
    assert rejected[4]["id"] == "no-type" and "type" in rejected[4]["reasons"][0]
    assert rejected[5]["id"] is None and rejected[5]["reasons"]
    assert "at" in rejected[6]["reasons"][0] and "timezone" in rejected[6]["reasons"][0]
    assert "before" in rejected[7]["reasons"][0]
    # The valid review counted (a 1-star review: -1 point).
    history = client.get(f"/v1/providers/{Y.id}/grade-history").json()
    assert [c["cause"] for c in history["changes"]] == [["rv-ok"]]
    assert history["score"] == 84.0


def visit(id_: str, practitioner: str, outcome: str = "satisfied") -> dict[str, Any]:
    return {
        "type": "visit",
        "id": id_,
        "subject": {"kind": "practitioner", "id": practitioner},
        "at": "2026-02-03T10:00:00+08:00",
        "outcome": outcome,
    }


def test_practitioners_start_from_their_official_stars(client: TestClient) -> None:
    load(client, [person(1, stars=5), person(2, stars=None)])
    report = post(client, [visit("fv-1", "pr-1", "dissatisfied"), visit("fv-2", "pr-2")])
    moves = {
        c["subject"]["id"]: (c["grade_before"], c["score_before"]) for c in report["grade_changes"]
    }
    # 5 stars start at 95 points; a practitioner not yet rated at 3 stars' 75.
    assert moves == {"pr-1": ("5", 95.0), "pr-2": ("3", 75.0)}


def practitioner_review(id_: str, practitioner: str, at: str, stars: int = 5) -> dict[str, Any]:
    return review(id_, "", at, stars) | {"subject": {"kind": "practitioner", "id": practitioner}}


def test_a_new_official_rating_rebaselines_an_evaluated_practitioner(client: TestClient) -> None:
    load(client, [person(1, stars=3), person(2, stars=3)])
    post(client, [practitioner_review("rv-pr-1", "pr-1", "2026-02-01T10:00:00+08:00")])
    book, rated, unrated = (
        grade_book(client),
        Subject.practitioner("pr-1"),
        Subject.practitioner("pr-2"),
    )
    before = book.current(rated)
    assert before is not None and before.baseline.grade is Stars.THREE
    trail = book.history(rated)
    assert [c.cause for c in trail] == [("rv-pr-1",)] and trail[0].score_after == 76.0

    # The register rates both again, 5 stars: only the evaluated one has a baseline to move.
    report = load(client, [person(1, stars=5), person(2, stars=5)])
    assert report["accepted"] == ["pr-1", "pr-2"] and report["rebaselined"] == ["pr-1"]
    current = book.current(rated)
    assert current is not None and current.baseline.grade is Stars.FIVE
    # The review predates the rating (it is in it): the grade starts afresh at 5 stars' 95.
    assert (current.grade, current.score) == (Stars.FIVE, 95.0)
    official = book.history(rated)[-1]
    assert book.history(rated) == [*trail, official]
    assert official.cause == ("official:registry",) and official.at == current.baseline.since
    assert (official.grade_before, official.score_before) == (Stars.THREE, 76.0)
    assert (official.grade_after, official.score_after) == (Stars.FIVE, 95.0)
    # Never evaluated: no grade-book entry is made; the first evaluation takes the stars.
    assert book.current(unrated) is None and book.history(unrated) == []

    # The same register again: the baselines already are the stars, nothing happens.
    again = load(client, [person(1, stars=5), person(2, stars=5)])
    assert again["unchanged"] == ["pr-1", "pr-2"] and again["rebaselined"] == []
    assert book.history(rated) == [*trail, official] and book.current(rated) == current
    assert book.current(unrated) is None

    # A record without stars (a rating withdrawn) leaves the baseline alone.
    assert load(client, [person(1, stars=None)])["rebaselined"] == []
    assert book.current(rated) == current


def test_resending_a_load_repairs_a_failed_rebaseline(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(client, [person(1, stars=3)])
    post(client, [practitioner_review("rv-pr-1", "pr-1", "2026-02-01T10:00:00+08:00")])
    book = grade_book(client)

    def down(*_: object, **__: object) -> object:
        raise StoreUnavailableError("database restarting")

    monkeypatch.setattr(book, "rebaseline", down)
    r = client.post("/v1/admin/practitioners", json={"practitioners": [person(1)]}, headers=AUTH)
    assert r.status_code == 503
    monkeypatch.undo()
    # The registry committed the 4 stars; the grade book still starts from 3.
    current = book.current(Subject.practitioner("pr-1"))
    assert current is not None and current.baseline.grade is Stars.THREE
    again = load(client, [person(1)])
    assert again["unchanged"] == ["pr-1"] and again["rebaselined"] == ["pr-1"]
    current = book.current(Subject.practitioner("pr-1"))
    assert current is not None and current.baseline.grade is Stars.FOUR


def test_a_blacklisted_practitioner_keeps_the_baseline_while_barred(client: TestClient) -> None:
    load(client, [person(7)])
    case = complaint("verified", "2026-04-20T15:00:00+08:00")
    case |= {"id": "cp-pr", "subject": {"kind": "practitioner", "id": "pr-7"}}
    assert post(client, [case])["blacklisted"] == ["pr-7"]
    book, subject = grade_book(client), Subject.practitioner("pr-7")
    blacklisted = book.current(subject)
    assert blacklisted is not None and blacklisted.grade is Stars.ONE

    # A new rating would drop the case (it predates the rating) and lift the blacklisting.
    report = load(client, [person(7, stars=5)])
    assert report["accepted"] == ["pr-7"] and report["rebaselined"] == []
    assert book.current(subject) == blacklisted


def test_a_serious_case_blacklists_the_practitioner_in_the_registry(client: TestClient) -> None:
    load(client, [person(7), person(8)])  # both certified, 4 stars, with X
    assert counts(client) == (10, 2)
    case = complaint("verified", "2026-04-20T15:00:00+08:00")
    case |= {"id": "cp-pr", "subject": {"kind": "practitioner", "id": "pr-7"}}
    before = client.get("/v1/certificates/GZ-2020-000007").json()
    assert before["status"] == "valid"

    report = post(client, [case])
    assert report["blacklisted"] == ["pr-7"]
    [change] = report["grade_changes"]
    assert change["subject"] == {"kind": "practitioner", "id": "pr-7"}
    assert (change["grade_before"], change["grade_after"], change["blacklisted"]) == (
        "4",
        "1",
        True,
    )
    # The certificate is revoked at once and the company's public count follows.
    assert report["providers_updated"] == [X.id]
    after = client.get("/v1/certificates/GZ-2020-000007").json()
    assert (after["status"], after["valid"]) == ("revoked", False)
    assert client.get("/v1/certificates/GZ-2020-000008").json()["status"] == "valid"
    assert counts(client) == (10, 1)

    # Re-sending the batch is harmless: nothing new is recorded, written or recounted.
    again = post(client, [case])
    assert again["duplicates"] == ["cp-pr"] and again["accepted"] == []
    assert again["grade_changes"] == [] and again["blacklisted"] == []
    assert again["providers_updated"] == []
    assert client.get("/v1/certificates/GZ-2020-000007").json() == after
    assert counts(client) == (10, 1)


def test_resending_repairs_a_failed_blacklisting_write_back(
    client: TestClient, store: ProviderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(client, [person(7)])
    case = complaint("verified", "2026-04-20T15:00:00+08:00")
    case |= {"id": "cp-pr", "subject": {"kind": "practitioner", "id": "pr-7"}}

    def down(*_: object, **__: object) -> object:
        raise StoreUnavailableError("database restarting")

    monkeypatch.setattr(store, "upsert", down)
    r = client.post("/v1/admin/evaluations", json={"evaluations": [case]}, headers=AUTH)
    assert r.status_code == 503
    monkeypatch.undo()
    # The grade book and the registry committed; the company's count did not follow.
    assert counts(client) == (10, 1)
    again = post(client, [case])
    assert again["duplicates"] == ["cp-pr"] and again["providers_updated"] == [X.id]
    assert counts(client) == (10, 0)


def test_resending_after_a_failed_provider_write_repairs_the_provider(
    client: TestClient, store: ProviderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_: object, **__: object) -> object:
        raise StoreUnavailableError("database restarting")

    monkeypatch.setattr(store, "upsert", down)
    r = client.post("/v1/admin/evaluations", json={"evaluations": good_reviews()}, headers=AUTH)
    assert r.status_code == 503
    monkeypatch.undo()
    # The grade book committed; the provider record still says 3A.
    assert ranked(client)[1] == (X.id, "3A", 0.6)
    again = post(client, good_reviews())
    assert len(again["duplicates"]) == 12 and again["grade_changes"] == []
    assert again["providers_updated"] == [X.id]
    assert ranked(client)[0] == (X.id, "4A", 0.8)


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}"])
def test_admin_refuses_missing_and_wrong_tokens(client: TestClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    r = client.post("/v1/admin/evaluations", json={"evaluations": good_reviews()}, headers=headers)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert client.get(f"/v1/providers/{X.id}/grade-history").json()["changes"] == []


def test_admin_is_forbidden_without_a_configured_token(backend: Backend) -> None:
    backend.store.upsert([X])
    app = create_app(Settings(), backend=backend)
    with TestClient(app) as client:
        r = client.post("/v1/admin/evaluations", json={"evaluations": []}, headers=AUTH)
    assert r.status_code == 403


def test_a_batch_over_the_limit_is_refused_whole(client: TestClient) -> None:
    items = good_reviews() * 5  # 60 > 50
    r = client.post("/v1/admin/evaluations", json={"evaluations": items}, headers=AUTH)
    assert r.status_code == 413 and "JZMAP_MAX_EVALUATIONS_PER_BATCH" in r.json()["message"]
    assert client.get(f"/v1/providers/{X.id}/grade-history").json()["changes"] == []


def test_grade_history_of_unknown_providers_and_stations(client: TestClient) -> None:
    r = client.get("/v1/providers/co-missing/grade-history")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    station_history = client.get(f"/v1/providers/{ST.id}/grade-history").json()
    assert station_history["credit_grade"] is None and station_history["changes"] == []
    # The provider route itself is unaffected by the longer path.
    assert client.get(f"/v1/providers/{X.id}").json()["id"] == X.id
    fresh = client.get(f"/v1/providers/{Y.id}/grade-history").json()
    assert (fresh["credit_grade"], fresh["baseline"], fresh["changes"]) == ("4A", None, [])

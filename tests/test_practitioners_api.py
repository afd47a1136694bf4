"""The practitioners registry over HTTP, on both stores: the admin load (per-item reasons,
no personal values echoed, derived company counts in the next nearest-match) and the
public certificate check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from jzmap.settings import Settings
from providers.practitioners import id_number_check_char
from providers.stores import Backend
from tests.helpers import CANTON_TOWER, company, station

TOKEN = "practitioners-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LON, LAT = CANTON_TOWER
X = company(1, LON, LAT + 0.002, practitioners=2, certified_practitioners=0)
ST = station(3, LON, LAT + 0.004)
PASSED = {"status": "passed", "evidenced_on": "2020-03-01"}
NEAREST = f"/v1/providers/nearest?lat={LAT}&lon={LON}&kind=company"


def id_number(n: int) -> str:
    first17 = f"44010519870423{n:03d}"
    return first17 + id_number_check_char(first17)


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"pr-{n}",
        "name": "张三华",
        "id_number": id_number(n),
        "phone": "13924681357",
        "company_id": X.id,
        "stars": 4,
        "real_name": PASSED,
        "pre_job_training": PASSED,
        "no_criminal_record": PASSED,
        "health_certificate": {**PASSED, "expires_on": "2099-12-31"},
        "vocational_certificate": PASSED,
        "certificate_code": f"GZ-2020-{n:06d}",
        "certificate_issued_on": "2020-03-10",
        "home_address": "海珠区新港西路135号",
        "home_lon": 113.33,
        "home_lat": 23.09,
        **extra,
    }


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    backend.store.upsert([X, ST])
    settings = Settings(admin_token=SecretStr(TOKEN), max_practitioners_per_batch=20)
    with TestClient(create_app(settings, backend=backend)) as c:
        yield c


def load(client: TestClient, items: list[Any]) -> dict[str, Any]:
    r = client.post("/v1/admin/practitioners", json={"practitioners": items}, headers=AUTH)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def certified(client: TestClient) -> tuple[int, int]:
    match = next(m for m in client.get(NEAREST).json()["results"] if m["id"] == X.id)
    return match["certified_practitioners"], match["practitioners"]


def test_a_load_stores_valid_items_reports_the_rest_and_updates_the_counts(
    client: TestClient,
) -> None:
    assert certified(client) == (0, 2)
    expired = person(2, health_certificate={**PASSED, "expires_on": "2021-03-01"})
    bad_id = person(4, id_number=id_number(4)[:-1] + "0")  # wrong check character
    bad_fields = person(5, stars=9, health_certificate={"status": "passed"}, extra="x")
    stranger = person(6, company_id="co-nobody")
    at_station = person(7, company_id=ST.id)
    id_is_personal = person(8, id=id_number(8))
    items: list[Any] = [person(1), expired, person(3), bad_id, bad_fields, stranger, at_station]
    items += [id_is_personal, "not an object"]
    report = load(client, items)
    assert report["received"] == 9
    assert report["accepted"] == ["pr-1", "pr-2", "pr-3"] and report["unchanged"] == []
    rejected = {r["index"]: r for r in report["rejected"]}
    assert sorted(rejected) == [3, 4, 5, 6, 7, 8]
    assert rejected[3]["reasons"] == [
        "ID number: the check character does not match the first 17 digits"
    ]
    assert rejected[4]["id"] == "pr-5" and len(rejected[4]["reasons"]) == 2
    assert "unknown field" in " ".join(rejected[4]["reasons"])
    assert "no company provider" in rejected[5]["reasons"][0]
    assert "station" in rejected[6]["reasons"][0]
    assert rejected[7]["id"] is None and "must not contain" in rejected[7]["reasons"][0]
    assert rejected[8]["id"] is None
    for personal in ("张三华", "13924681357", "新港西路", id_number(4), id_number(8)):
        assert personal not in str(report)

    # Two valid certificates today (one health certificate expired): 2 of 3 registered.
    assert report["providers_updated"] == [X.id]
    assert report["rebaselined"] == []  # nobody evaluated: the grade book is not written
    assert certified(client) == (2, 3)

    again = load(client, [person(1), expired, person(3)])
    assert again["accepted"] == [] and again["unchanged"] == ["pr-1", "pr-2", "pr-3"]
    assert again["providers_updated"] == []

    # A revocation lowers the count at once.
    revoked = load(client, [person(3, certificate_revoked_on="2021-01-01")])
    assert revoked["accepted"] == ["pr-3"] and revoked["providers_updated"] == [X.id]
    assert certified(client) == (1, 3)


def test_a_taken_certificate_code_is_refused(client: TestClient) -> None:
    load(client, [person(1)])
    report = load(client, [person(2, certificate_code="GZ-2020-000001")])
    assert report["accepted"] == []
    assert report["rejected"][0]["reasons"] == [
        "certificate code 'GZ-2020-000001' is held by practitioner 'pr-1'"
    ]


def test_a_batch_over_the_limit_is_refused_whole(client: TestClient) -> None:
    r = client.post(
        "/v1/admin/practitioners",
        json={"practitioners": [person(n) for n in range(21)]},
        headers=AUTH,
    )
    assert r.status_code == 413


def test_the_certificate_check_answers_the_same_shape_for_every_status(
    client: TestClient,
) -> None:
    load(
        client,
        [
            person(1, name="欧阳娜娜"),
            person(2, health_certificate={**PASSED, "expires_on": "2021-03-01"}),
            person(3, certificate_revoked_on="2021-01-01"),
            person(4, pre_job_training={"status": "missing"}),
            person(
                5,
                blacklisting={"on": "2022-05-01", "reason": "严重投诉属实", "cause": ["cp-1"]},
            ),
            person(6, company_id=None),
        ],
    )
    answers = {n: client.get(f"/v1/certificates/GZ-2020-{n:06d}") for n in range(1, 7)}
    assert all(r.status_code == 200 for r in answers.values())
    bodies = {n: r.json() for n, r in answers.items()}
    assert {n: b["status"] for n, b in bodies.items()} == {
        1: "valid",
        2: "expired",
        3: "revoked",
        4: "incomplete",
        5: "revoked",
        6: "valid",
    }
    assert [b["valid"] for b in bodies.values()] == [True, False, False, False, False, True]
    assert {tuple(sorted(b)) for b in bodies.values()} == {
        ("checked_on", "code", "company", "masked_name", "status", "valid")
    }
    assert bodies[1]["masked_name"] == "欧阳*娜" and bodies[2]["masked_name"] == "张*华"
    assert bodies[1]["company"] == {"id": X.id, "name": X.name}
    assert bodies[6]["company"] is None
    for r in answers.values():
        for personal in ("张三华", "欧阳娜娜", "13924681357", "新港西路", "严重投诉", "4401051987"):
            assert personal not in r.text

    # Typed by hand: lower case, full-width, spaces.
    typed = client.get("/v1/certificates/ gz-２０２０-000001 ")
    assert typed.status_code == 200 and typed.json()["code"] == "GZ-2020-000001"

    unknown = client.get("/v1/certificates/GZ-2020-999999")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "not_found"

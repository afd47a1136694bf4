"""The API's plumbing: one family of errors answered by one set of handlers, and one group of
filter parameters shared by every route that filters providers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

import api.deadline
import ingest.readers
import jzmap.application.coverage
import providers.store
from api.app import create_app
from api.dependencies import FilterParams
from api.errors import RETRY_AFTER_S
from jzmap.settings import Settings
from providers.errors import (
    STATUS,
    InvalidParameterError,
    JzmapError,
    NotFoundError,
    TooLargeError,
    UnavailableError,
)
from tests.helpers import CANTON_TOWER, company, embedded_backend_at

LON, LAT = CANTON_TOWER
# Modules that define members of the family; imported above so that their classes exist.
FAMILY_MODULES = (api.deadline, ingest.readers, jzmap.application.coverage, providers.store)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("plumbing")
    backend = embedded_backend_at(folder / "data")
    backend.store.upsert([company(i, LON + i * 1e-3, LAT) for i in range(20)])
    settings = Settings(database_url=None, data_dir=folder / "data", rate_limit_per_minute=0)
    app = create_app(settings, backend=backend)

    class _SecretUnavailableError(UnavailableError):
        public_message = "the test backend cannot answer now; retry in {retry_after_s} s"

    def raises(kind: str) -> None:
        errors: dict[str, JzmapError] = {
            "not_found": NotFoundError("no such thing; list them at /v1/things"),
            "too_large": TooLargeError("3 things in one batch; at most 2 (JZMAP_MAX_THINGS)"),
            "invalid": InvalidParameterError.of("k", "too many", got=99, allowed="1 to 20"),
            "private": _SecretUnavailableError("cannot open /var/lib/jzmap/secret.sqlite"),
        }
        raise errors[kind]

    # A route of this test's own, raising each kind as any layer would.
    app.add_api_route("/v1/raises/{kind}", raises)
    with TestClient(app) as c:
        yield c
    backend.close()


def _family() -> list[type[JzmapError]]:
    found: list[type[JzmapError]] = []
    todo: list[type[JzmapError]] = [JzmapError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_of_the_family_has_a_status() -> None:
    names = {cls.__name__ for cls in _family()}
    assert {
        "StoreUnavailableError",
        "UnreadableFileError",
        "UnknownDistrictError",
        "DeadlineExceededError",
    } <= names
    for cls in _family():
        assert cls.code in STATUS, cls
        assert 400 <= STATUS[cls.code] < 600 or cls is JzmapError, cls


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("not_found", 404, "not_found"), ("too_large", 413, "too_large")],
)
def test_an_error_is_answered_with_its_status_code_and_message(
    client: TestClient, kind: str, status: int, code: str
) -> None:
    r = client.get(f"/v1/raises/{kind}")
    assert r.status_code == status
    body = r.json()
    assert body["error"] == code and body["details"] == []
    assert body["request_id"] == r.headers["x-request-id"]
    assert body["message"].startswith(("no such thing", "3 things"))
    assert "retry-after" not in r.headers


def test_an_invalid_parameter_names_it_in_the_details(client: TestClient) -> None:
    r = client.get("/v1/raises/invalid")
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_parameter"
    assert body["message"] == "k: too many; allowed: 1 to 20"
    assert body["details"] == [
        {"parameter": "k", "message": body["message"], "allowed": "1 to 20", "got": 99}
    ]


def test_a_private_message_is_logged_and_the_client_told_when_to_retry(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="jzmap.api"):
        r = client.get("/v1/raises/private")
    assert r.status_code == 503 and r.headers["retry-after"] == str(RETRY_AFTER_S)
    body = r.json()
    assert body["error"] == "unavailable"
    assert body["message"] == f"the test backend cannot answer now; retry in {RETRY_AFTER_S} s"
    assert "secret" not in r.text
    logged = [m.getMessage() for m in caplog.records if body["request_id"] in m.getMessage()]
    assert logged and "/var/lib/jzmap/secret.sqlite" in logged[0]


# -- the filter group ------------------------------------------------------------------------

FILTERING_ROUTES: dict[str, dict[str, str | float]] = {
    "/v1/providers/nearest": {"lat": LAT, "lon": LON},
    "/v1/map/layer": {"bbox": "113.30,23.09,113.35,23.12", "zoom": 15},
}
GOOD = {
    "category": "housekeeping",
    "min_grade": "3A",
    "kind": "company",
    "certified_only": "true",
    "include_approximate": "true",
    "open_now": "true",
    "open_at": "2026-10-10T10:00",
    "include_unknown_hours": "true",
}
BAD = {
    "category": "plumbing",
    "min_grade": "7A",
    "kind": "agency",
    "certified_only": "maybe",
    "include_approximate": "sometimes",
    "open_now": "perhaps",
    "open_at": "tomorrow at ten",
    "include_unknown_hours": "sometimes",
}


def _parameters(client: TestClient, path: str) -> dict[str, dict[str, Any]]:
    operation = client.get("/openapi.json").json()["paths"][path]["get"]
    return {p["name"]: p for p in operation["parameters"]}


def test_every_route_that_filters_documents_the_whole_filter_group(client: TestClient) -> None:
    documented = [_parameters(client, path) for path in FILTERING_ROUTES]
    for name, field in FilterParams.model_fields.items():
        for parameters in documented:
            assert name in parameters
            assert parameters[name].get("description") == field.description


@pytest.mark.parametrize("name", list(GOOD))
def test_every_route_that_filters_takes_and_refuses_the_same_filters(
    client: TestClient, name: str
) -> None:
    refusals = []
    for path, required in FILTERING_ROUTES.items():
        assert client.get(path, params={**required, name: GOOD[name]}).status_code == 200
        r = client.get(path, params={**required, name: BAD[name]})
        assert r.status_code == 422
        refusals.append(r.json()["details"])
    assert refusals[0] == refusals[1]
    assert [d["parameter"] for d in refusals[0]] == [name]


def test_the_map_layer_applies_the_filters(client: TestClient) -> None:
    path, required = "/v1/map/layer", FILTERING_ROUTES["/v1/map/layer"]
    every = client.get(path, params=required).json()["total"]
    stations = client.get(path, params={**required, "kind": "station"}).json()["total"]
    assert every == 20 and stations == 0

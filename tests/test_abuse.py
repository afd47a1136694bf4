"""Abuse protections: per-client rate limits, security headers, bound parameters only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from jzmap.settings import Settings
from providers.stores import Backend
from tests.helpers import CANTON_TOWER, company, station

LON, LAT = CANTON_TOWER
NEAREST = "/v1/providers/nearest"


@pytest.fixture
def small(embedded_backend: Backend) -> Backend:
    embedded_backend.store.upsert([company(1, LON, LAT), station(2, LON + 0.001, LAT)])
    return embedded_backend


def _client(backend: Backend, address: str, **settings: Any) -> TestClient:
    app = create_app(Settings(data_dir=Path("/nonexistent"), **settings), backend=backend)
    return TestClient(app, client=(address, 40_000))


def test_a_client_over_its_budget_gets_429_json_with_retry_after(
    small: Backend,
) -> None:
    limited = Settings(data_dir=Path("/nonexistent"), rate_limit_per_minute=60, rate_limit_burst=3)
    app = create_app(limited, backend=small)
    with (
        TestClient(app, client=("203.0.113.5", 1)) as greedy,
        TestClient(app, client=("203.0.113.6", 1)) as other,
    ):
        params = {"lat": LAT, "lon": LON}
        assert [greedy.get(NEAREST, params=params).status_code for _ in range(3)] == [200] * 3
        refused = greedy.get(NEAREST, params=params)
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert "retry in" in refused.json()["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 1
        assert refused.headers["x-content-type-options"] == "nosniff"
        # Pages count too; health checks and static files never do.
        assert greedy.get("/map").status_code == 429
        assert greedy.get("/healthz").status_code == 200
        assert greedy.get("/static/jzmap.css").status_code == 200
        # Another address has its own budget.
        assert other.get(NEAREST, params=params).status_code == 200


def test_no_limit_when_switched_off(small: Backend) -> None:
    with _client(small, "203.0.113.7", rate_limit_per_minute=0) as c:
        codes = {c.get(NEAREST, params={"lat": LAT, "lon": LON}).status_code for _ in range(50)}
    assert codes == {200}


def test_every_response_says_nosniff_and_a_referrer_policy(small: Backend) -> None:
    with _client(small, "203.0.113.8") as c:
        for path in ("/healthz", NEAREST + f"?lat={LAT}&lon={LON}", "/v2/none", "/openapi.json"):
            r = c.get(path)
            assert r.headers["x-content-type-options"] == "nosniff", path
            assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin", path

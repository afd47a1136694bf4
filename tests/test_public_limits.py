"""Bounded public work, over a real server: the per-request deadline, the gate in front of
coverage computations, rate-limit costs by route, map boxes capped by zoom, and site
plans that are refused city-wide at res 9 and otherwise solved within a time limit.

Nothing here times the server: each test asserts what was answered and in which order
(e.g. the 503 arrived while the route was still held).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest

from api.app import create_app, request_cost
from api.deadline import remaining_s
from api.routes.viewport import MAX_VIEWPORT_PX, viewport_px
from jzmap.coverage import CoverageService
from jzmap.settings import Settings
from providers.model import Category
from providers.store import BBox
from providers.stores import Backend
from tests.browser import serve_app
from tests.helpers import CANTON_TOWER, company, embedded_backend_at, station

LON, LAT = CANTON_TOWER
HANG_GUARD_S = 120  # a request not answered by then is a hang, not a slow answer


def _get(url: str, **params: Any) -> tuple[int, dict[str, str], Any]:
    full = f"{url}?{urlencode(params)}" if params else url
    try:
        with urlopen(full, timeout=HANG_GUARD_S) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, json.load(r)
    except HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, json.loads(e.read())


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with embedded_backend_at(tmp_path_factory.mktemp("limits")) as backend:
        backend.store.upsert(
            [
                company(1, LON, LAT, categories=[Category.NURSING, Category.ELDERLY_CARE]),
                station(2, LON + 0.001, LAT, categories=[Category.NURSING, Category.ELDERLY_CARE]),
            ]
        )
        yield backend


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"rate_limit_per_minute": 0}
    values.update(overrides)
    return Settings(**values)


def test_a_request_past_its_deadline_gets_503_while_the_work_is_still_running(
    small: Backend,
) -> None:
    app = create_app(_settings(request_timeout_s=0.5), backend=small)
    release = threading.Event()
    seen: list[float | None] = []

    def held() -> dict[str, str]:
        seen.append(remaining_s())
        release.wait(HANG_GUARD_S)
        return {"status": "done"}

    # A route of this test's own that runs until the test lets it go.
    app.add_api_route("/v1/held", held)
    with serve_app(app) as base:
        try:
            status, headers, body = _get(f"{base}/v1/held")
            still_running = not release.is_set()
        finally:
            release.set()
        assert still_running  # the answer did not wait for the work
        assert status == 503 and int(headers["retry-after"]) >= 1
        assert body["error"] == "timeout" and "JZMAP_REQUEST_TIMEOUT_S" in body["message"]
        assert body["request_id"] == headers["x-request-id"]
        # The route saw its deadline (cooperating code can stop in time).
        assert seen and seen[0] is not None and seen[0] <= 0.5
        # The app serves on.
        assert _get(f"{base}/livez")[0] == 200


def test_admin_routes_have_no_deadline(small: Backend) -> None:
    app = create_app(_settings(request_timeout_s=0.5), backend=small)
    seen: list[float | None] = []

    def admin_like() -> dict[str, str]:
        seen.append(remaining_s())
        return {}

    app.add_api_route("/v1/admin/like", admin_like)
    with serve_app(app) as base:
        _get(f"{base}/v1/admin/like")  # refused (no token), before any deadline matters
    assert seen == []


def test_coverage_work_waits_for_a_slot_and_gives_up_at_the_deadline(
    small: Backend,
) -> None:
    app = create_app(_settings(request_timeout_s=1.0), backend=small)
    with serve_app(app) as base:
        service: CoverageService = app.state.coverage
        params = {"category": "nursing", "res": 8}
        with service.gate():  # every slot taken (JZMAP_COVERAGE_CONCURRENCY=1)
            status, headers, body = _get(f"{base}/v1/coverage/districts", **params)
        assert status == 503 and "retry-after" in headers
        assert body["error"] in ("busy", "timeout")
        # It gave up without computing anything (a miss that raised stores nothing).
        assert len(service.analysis_cache) == 0
        # With the slot free, the work runs; if it outlasts the deadline the answer is a
        # 503 again but the analysis finishes and is cached for the retry the 503 asks for.
        status, _, _ = _get(f"{base}/v1/coverage/districts", **params)
        waited = 0.0
        while len(service.analysis_cache) == 0 and waited < HANG_GUARD_S:
            time.sleep(0.1)
            waited += 0.1
        status, _, body = _get(f"{base}/v1/coverage/districts", **params)
        assert status == 200 and body["districts"]
        assert len(service.analysis_cache) == 1


def _spend_until_refused(base: str, path: str, params: dict[str, Any], most: int) -> int:
    """How many requests for ``path`` are served (any status but 429) before a 429."""
    for served in range(most + 1):
        if _get(f"{base}{path}", **params)[0] == 429:
            return served
    return most + 1


@pytest.mark.parametrize(
    ("path", "params", "cost"),
    [
        ("/v1/categories", {}, 1),
        ("/v1/map/layer", {"bbox": "113.32,23.10,113.33,23.11", "zoom": 15}, 3),
        # 422 (no category), and spent all the same: the cost is the route's, not the answer's.
        ("/v1/coverage/cells", {}, 10),
        ("/v1/coverage/candidates", {}, 20),
    ],
)
def test_expensive_routes_spend_more_tokens(
    small: Backend, path: str, params: dict[str, Any], cost: int
) -> None:
    assert request_cost(path) == cost
    burst = 60
    limited = _settings(rate_limit_per_minute=1, rate_limit_burst=burst)
    with serve_app(create_app(limited, backend=small)) as base:
        served = _spend_until_refused(base, path, params, burst)
    assert served == burst // cost


def test_a_site_plan_costs_a_whole_small_burst(small: Backend) -> None:
    # A cost above the burst is capped at it: the route stays reachable, once per burst.
    limited = _settings(rate_limit_per_minute=1, rate_limit_burst=5)
    with serve_app(create_app(limited, backend=small)) as base:
        assert _get(f"{base}/v1/coverage/candidates")[0] == 422
        status, _, body = _get(f"{base}/v1/categories")
    assert status == 429 and body["error"] == "rate_limited" and body["request_id"]


def test_map_boxes_are_capped_by_zoom(small: Backend) -> None:
    with serve_app(create_app(_settings(), backend=small)) as base:
        status, _, body = _get(f"{base}/v1/map/layer", bbox="-180,-90,180,90", zoom=13)
        assert status == 422
        assert body["details"][0]["parameter"] == "bbox" and "zoom 13" in body["message"]
        # A screen's box at that zoom passes; the whole world at city zoom gets districts.
        west, east = LON - 0.05, LON + 0.05
        screen = BBox(west, LAT - 0.02, east, LAT + 0.02)
        assert max(viewport_px(screen, 13)) <= MAX_VIEWPORT_PX
        box = f"{screen.west},{screen.south},{screen.east},{screen.north}"
        status, _, _ = _get(f"{base}/v1/map/layer", bbox=box, zoom=13)
        assert status == 200
        status, _, body = _get(f"{base}/v1/map/layer", bbox="-180,-90,180,90", zoom=9)
        assert status == 200 and body["mode"] == "districts"


def test_city_wide_site_plans_at_res_9_are_refused_with_what_to_narrow(
    small: Backend,
) -> None:
    with serve_app(create_app(_settings(), backend=small)) as base:
        status, _, body = _get(f"{base}/v1/coverage/candidates", category="nursing", res=9, k=20)
    assert status == 422
    assert body["details"][0]["parameter"] == "res"
    assert "district" in body["message"] and "res=8" in body["message"]


def test_a_site_plan_says_its_time_limit_and_the_gap_it_reached(
    small: Backend,
) -> None:
    settings = _settings(solver_time_limit_s=5.0)
    with serve_app(create_app(settings, backend=small)) as base:
        status, _, body = _get(
            f"{base}/v1/coverage/candidates", category="nursing", res=8, k=3, district="海珠区"
        )
    assert status == 200, body
    plan = body["plan"]
    assert plan["time_limit_s"] == 5.0
    if plan["status"] == "Optimal":
        assert plan["optimality_gap"] == 0.0
    else:  # a loaded machine may stop the search: the answer then says how good it is
        assert plan["status"].startswith("Time limit reached")
        assert plan["optimality_gap"] is None or 0.0 <= plan["optimality_gap"] <= 1.0
    assert plan["sites"] == 3

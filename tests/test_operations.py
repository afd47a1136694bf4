"""The operator's view: ``/metrics`` (parsed by prometheus-client's own text-format parser),
one JSON log line per request, ``X-Request-ID``, ``/livez``, ``/readyz`` and ``/healthz``.

Metrics live in the process, and every app of the test session adds to them: each test
compares the values before and after what it does.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from api.app import create_app
from api.logs import JsonFormatter
from jzmap.settings import Settings
from providers.stores import Backend
from providers.stores.engine import head_revision
from providers.stores.metrics import observe_replica_lag
from tests.browser import free_port, serve_process
from tests.helpers import CANTON_TOWER, company, station
from tests.test_practitioners_api import person

METRICS_TOKEN = "scraper-token"
SCRAPE = {"Authorization": f"Bearer {METRICS_TOKEN}"}
ADMIN = {"Authorization": "Bearer ops-admin-token"}
LON, LAT = CANTON_TOWER
X = company(1, LON, LAT + 0.002, practitioners=2, certified_practitioners=0)
NEAREST = f"/v1/providers/nearest?lat={LAT}&lon={LON}&category=nursing"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def settings(**extra: object) -> Settings:
    return Settings(
        metrics_token=SecretStr(METRICS_TOKEN),
        admin_token=SecretStr("ops-admin-token"),
        **extra,
    )


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    backend.store.upsert([X, station(3, LON, LAT + 0.004)])
    with TestClient(create_app(settings(), backend=backend)) as c:
        yield c


def parse(text: str) -> Samples:
    """Every sample of a scrape, by name and labels (a parse error fails the test)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: TestClient) -> Samples:
    r = client.get("/metrics", headers=SCRAPE)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    return parse(r.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_and_timed_by_route_template_and_status(client: TestClient) -> None:
    before = scrape(client)
    for _ in range(3):
        assert client.get(NEAREST).status_code == 200
    assert client.get(f"/v1/providers/{X.id}").status_code == 200
    assert client.get("/v1/providers/co-nobody").status_code == 404
    assert client.get("/no/such/route/12345").status_code == 404
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "jzmap_http_requests_total"
    nearest = {"route": "/v1/providers/nearest", "method": "GET", "status": "200"}
    assert delta(requests, **nearest) == 3
    assert delta("jzmap_http_request_duration_seconds_count", **nearest) == 3
    assert delta("jzmap_http_request_duration_seconds_bucket", **nearest, le="+Inf") == 3
    by_id = {"route": "/v1/providers/{provider_id}", "method": "GET"}
    assert delta(requests, **by_id, status="200") == 1
    assert delta(requests, **by_id, status="404") == 1
    assert delta(requests, route="unmatched", method="GET", status="404") == 1
    assert delta("jzmap_http_refused_total", reason="not_found") == 2
    # Bounded: no label holds an id, a coordinate or a raw path.
    labels = {v for (_, pairs) in after for (_, v) in pairs}
    assert not any(X.id in v or "co-nobody" in v or str(LAT) in v or "12345" in v for v in labels)
    # The store's calls are timed per operation.
    assert delta("jzmap_store_query_duration_seconds_count", part="store", operation="get") >= 2


def test_refused_and_rate_limited_requests_are_counted(backend: Backend) -> None:
    limited = settings(rate_limit_per_minute=1, rate_limit_burst=2)
    with TestClient(create_app(limited, backend=backend)) as c:
        before = scrape(c)  # /metrics is not rate limited
        assert c.post("/v1/admin/imports").status_code == 401  # one token spent
        statuses = [c.get("/v1/categories").status_code for _ in range(3)]
        assert statuses == [200, 429, 429]
        after = scrape(c)
    for reason, count in (("rate_limited", 2), ("unauthorized", 1)):
        name = "jzmap_http_refused_total"
        assert value(after, name, reason=reason) - value(before, name, reason=reason) == count
    name, labels = "jzmap_http_requests_total", {"method": "GET", "status": "429"}
    grew = value(after, name, route="/v1/categories", **labels) - value(
        before, name, route="/v1/categories", **labels
    )
    assert grew == 2  # refused before routing, still counted under its route's template


def test_imports_are_counted_by_outcome(client: TestClient, tmp_path: Path) -> None:
    rows = "name,kind,credit_code,credit_grade,categories,lon,lat\n"
    rows += "海珠安心家政有限公司,company,914403001922038216,5A,housekeeping,113.33,23.10\n"
    rows += ",company,914403001922038217,6A,gardening,113.33,23.10\n"
    before = scrape(client)
    r = client.post(
        "/v1/admin/imports",
        files={"file": ("registry.csv", rows.encode(), "text/csv")},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("jzmap_imports_total", kind="providers", outcome="stored") == 1
    assert delta("jzmap_import_rows_total", kind="providers", outcome="inserted") == 1
    assert delta("jzmap_import_rows_total", kind="providers", outcome="rejected") == 1


def test_the_replica_lag_hook_shows_in_the_scrape(client: TestClient) -> None:
    observe_replica_lag("replica-1:5433", 0.25)
    assert value(scrape(client), "jzmap_replica_lag_seconds", replica="replica-1:5433") == 0.25
    observe_replica_lag("replica-1:5433", None)
    lag = value(scrape(client), "jzmap_replica_lag_seconds", replica="replica-1:5433")
    assert lag != lag  # NaN: not measurable


def test_metrics_need_their_own_token(backend: Backend) -> None:
    with TestClient(create_app(Settings(admin_token=SecretStr("x")), backend=backend)) as c:
        r = c.get("/metrics", headers={"Authorization": "Bearer x"})
        assert r.status_code == 403 and "JZMAP_METRICS_TOKEN" in r.json()["message"]
    with TestClient(create_app(settings(), backend=backend)) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers=ADMIN).status_code == 401  # not the admin token
        assert c.get("/metrics", headers=SCRAPE).status_code == 200


def test_metrics_carry_no_personal_data(client: TestClient) -> None:
    r = client.post("/v1/admin/practitioners", json={"practitioners": [person(1)]}, headers=ADMIN)
    assert r.status_code == 200, r.text
    client.get(NEAREST)
    client.get("/v1/certificates/GZ-2020-000001")
    text = client.get("/metrics", headers=SCRAPE).text
    for private in ("张三华", person(1)["id_number"], "13924681357", "新港西路", str(LAT)):
        assert private not in text


def test_one_json_log_line_per_request_without_query_or_address(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="jzmap.access"):
        r = client.get(NEAREST, headers={"X-Request-ID": "edge-4f2a"})
        assert r.status_code == 200
    lines = [rec for rec in caplog.records if rec.name == "jzmap.access"]
    assert len(lines) == 1
    line = json.loads(JsonFormatter().format(lines[0]))
    assert line["route"] == "/v1/providers/nearest" and line["status"] == 200
    assert line["method"] == "GET" and line["request_id"] == "edge-4f2a"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert set(line) == {
        "time", "level", "logger", "message", "request_id", "method", "route", "status",
        "duration_ms",
    }  # fmt: skip
    text = json.dumps(line)
    assert str(LAT) not in text and "testclient" not in text and "nursing" not in text


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("edge-4f2a", True),
        ("3f1c2b9e-8d7a-4c1b-9e2f-0a1b2c3d4e5f", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("<script>alert(1)</script>", False),
        ("two words", False),
        ("line\\nbreak", False),
    ],
)
def test_a_request_id_is_accepted_when_plain_else_generated(
    client: TestClient, sent: str, kept: bool
) -> None:
    r = client.get("/v1/providers/co-nobody", headers={"X-Request-ID": sent})
    echoed = r.headers["x-request-id"]
    assert r.json()["request_id"] == echoed
    if kept:
        assert echoed == sent
    else:
        assert echoed != sent and len(echoed) == 16


def test_livez_readyz_and_healthz(client: TestClient) -> None:
    assert client.get("/livez").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"] == {
        "providers": "ok",
        "gradebook": "ok",
        "registry": "ok",
        "schema": "ok",
    }
    assert client.get("/healthz").json()["status"] == "ok"


def test_readyz_fails_on_an_embedded_file_of_another_schema(tmp_path: Path) -> None:
    from tests.helpers import embedded_backend_at

    with (
        embedded_backend_at(tmp_path / "data") as backend,
        TestClient(create_app(settings(), backend=backend)) as c,
    ):
        assert c.get("/readyz").status_code == 200
        # A grade book from another program version put in place under the server.
        with closing(sqlite3.connect(tmp_path / "data" / "grades.sqlite")) as conn:
            conn.execute("UPDATE meta SET value = 99 WHERE key = 'schema_version'")
            conn.commit()
        r = c.get("/readyz")
        assert r.status_code == 503 and r.headers["retry-after"]
        body = r.json()
        assert body["checks"]["schema"] == "failed" and body["checks"]["providers"] == "ok"
        assert body["request_id"] == r.headers["x-request-id"]
        assert "grades.sqlite" not in r.text and str(tmp_path) not in r.text
        # Liveness is the process's: it stays up.
        assert c.get("/livez").status_code == 200


@pytest.mark.postgis
def test_readyz_fails_when_the_schema_is_behind(postgis_backend: Backend) -> None:
    assert postgis_backend.database is not None
    with TestClient(create_app(settings(), backend=postgis_backend)) as c:
        assert c.get("/readyz").status_code == 200
        set_revision = "UPDATE alembic_version SET version_num = %(revision)s"
        with postgis_backend.database.transaction() as conn:
            conn.exec_driver_sql(set_revision, {"revision": "0005"})
        try:
            r = c.get("/readyz")
            assert r.status_code == 503 and r.json()["checks"]["schema"] == "failed"
        finally:
            with postgis_backend.database.transaction() as conn:
                conn.exec_driver_sql(set_revision, {"revision": head_revision()})
        assert c.get("/readyz").status_code == 200


JZMAP = str(Path(sys.executable).with_name("jzmap"))


def test_served_with_two_workers_one_scrape_counts_them_all(tmp_path: Path) -> None:
    """``jzmap serve --workers 2``: whichever worker answers the scrape, it counts the
    requests every worker served (multiprocess mode), and every log line is JSON."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")
    }
    env |= {"JZMAP_DATA_DIR": str(tmp_path / "data"), "JZMAP_METRICS_TOKEN": METRICS_TOKEN}
    port = free_port()
    command = [JZMAP, "serve", "--port", str(port), "--workers", "2"]
    requests = 40
    with serve_process(command, env, port=port) as served:
        for _ in range(requests):
            with urllib.request.urlopen(f"{served.url}/v1/categories", timeout=30) as r:
                assert r.status == 200
        counted = []
        for _ in range(6):  # scrapes land on either worker: each must see all
            scrape_request = urllib.request.Request(f"{served.url}/metrics", headers=SCRAPE)
            with urllib.request.urlopen(scrape_request, timeout=30) as r:
                samples = parse(r.read().decode())
            counted.append(
                value(
                    samples,
                    "jzmap_http_requests_total",
                    route="/v1/categories",
                    method="GET",
                    status="200",
                )
            )
        assert counted == [requests] * 6
    lines = [line for line in served.output.splitlines() if line.startswith("{")]
    access = [json.loads(line) for line in lines if '"jzmap.access"' in line]
    assert len([a for a in access if a["route"] == "/v1/categories"]) == requests
    assert all(set(a) >= {"request_id", "route", "status", "duration_ms"} for a in access)
    # uvicorn's own access line (client address, full path) is off.
    assert not [line for line in served.output.splitlines() if "GET /v1/categories HTTP" in line]

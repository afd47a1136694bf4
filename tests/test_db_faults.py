"""A database outage under load: the API says 503 (JSON, Retry-After) while PostGIS is down,
never hangs, and serves again once it is back, without a restart.

The test runs its own throwaway cluster (scripts/pg-throwaway), stops it with requests in
flight, and starts it again. Figures are printed (run with -s), not asserted against the
clock: how long recovery took is a measurement, not a pass mark.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from api.app import create_app
from jzmap.settings import Settings
from providers.stores.engine import make_engine, upgrade_schema
from tests.browser import serve_app
from tests.helpers import CANTON_TOWER, company, postgis_backend_at

PG_THROWAWAY = Path(__file__).resolve().parents[1] / "scripts" / "pg-throwaway"
LON, LAT = CANTON_TOWER
CONNECT_TIMEOUT_S = 1
# A request that has not come back after this long is a hang (the settings allow ~1 s).
HANG_S = 30


@dataclass
class Cluster:
    url: str
    directory: str

    def down(self) -> None:
        subprocess.run([PG_THROWAWAY, "down", self.directory], check=True, timeout=120)

    def up(self) -> None:
        subprocess.run([PG_THROWAWAY, "up", self.directory], check=True, timeout=120)


@dataclass
class Outcome:
    started: float
    elapsed: float
    status: int
    body: dict[str, object]
    retry_after: str | None


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    out = subprocess.run(
        [PG_THROWAWAY, "start"], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    env = dict(re.findall(r"export (\w+)=(\S+)", out))
    c = Cluster(env["DATABASE_URL"], env["JZMAP_PG_THROWAWAY_DIR"])
    try:
        yield c
    finally:
        subprocess.run([PG_THROWAWAY, "stop", c.directory], check=False, timeout=120)


def _get(url: str) -> Outcome:
    started = time.monotonic()
    try:
        with urlopen(url, timeout=HANG_S) as r:
            status, raw, retry = r.status, r.read(), r.headers.get("Retry-After")
    except HTTPError as e:
        status, raw, retry = e.code, e.read(), e.headers.get("Retry-After")
    return Outcome(started, time.monotonic() - started, status, json.loads(raw), retry)


@pytest.mark.postgis
def test_an_outage_is_503_with_retry_after_and_the_api_recovers_by_itself(
    cluster: Cluster,
) -> None:
    engine = make_engine(cluster.url)
    upgrade_schema(engine)
    engine.dispose()
    backend = postgis_backend_at(
        cluster.url, pool_size=4, connect_timeout_s=CONNECT_TIMEOUT_S, statement_timeout_ms=2000
    )
    store = backend.store
    providers = [company(i, LON + i * 1e-4, LAT) for i in range(200)]
    store.upsert(providers)
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    # Each answer is recorded under this condition, so the test waits for the answers it
    # needs (served before the outage, refused during it, served after) rather than for a
    # time it hopes is long enough: a loaded machine only makes the test slower.
    answered = threading.Condition()

    def wait_for(what: str, predicate: Callable[[], bool]) -> None:
        with answered:
            # The bound only turns a hang into a failure; it is no pass mark.
            assert answered.wait_for(predicate, timeout=HANG_S * 4), f"never got {what}"

    with serve_app(create_app(Settings(), backend=backend)) as base:
        url = f"{base}/v1/providers/nearest?lat={LAT}&lon={LON}&limit=5"

        def client() -> None:
            while not stop.is_set():
                try:
                    outcome = _get(url)
                except BaseException as exc:  # a timeout here is a hang
                    with answered:
                        errors.append(exc)
                        answered.notify_all()
                    return
                with answered:
                    outcomes.append(outcome)
                    answered.notify_all()

        def finished_between(start: float, end: float) -> list[Outcome]:
            return [o for o in outcomes if o.started >= start and o.started + o.elapsed < end]

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            wait_for("answers before the outage", lambda: len(outcomes) >= 8 or bool(errors))
            stopping = time.monotonic()
            cluster.down()
            went_down = time.monotonic()
            wait_for(
                "answers while the database was down",
                lambda: len(finished_between(went_down, math.inf)) >= 8 or bool(errors),
            )
            health = _get(f"{base}/healthz")
            starting = time.monotonic()
            cluster.up()
            came_back = time.monotonic()
            wait_for(
                "a 200 after the database came back",
                lambda: (
                    bool(errors)
                    or any(o.status == 200 and o.started >= came_back for o in outcomes)
                ),
            )
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=HANG_S + 5)

    try:
        assert errors == [], errors[:3]
        before = [o for o in outcomes if o.started + o.elapsed < stopping]
        # Started and answered while it was down (one answered after the start may be either).
        during = finished_between(went_down, starting)
        # While it stops and starts, a request may be answered either way; never otherwise.
        assert {o.status for o in outcomes} <= {200, 503}
        after = [o for o in outcomes if o.started >= came_back]
        assert before and all(o.status == 200 for o in before)
        assert during, "no request was made while the database was down"
        assert {o.status for o in during} == {503}
        for o in during:
            assert o.body["error"] == "unavailable"
            assert "store cannot answer" in str(o.body["message"])
            # What the driver said (host, port, "Connection refused") is logged, not sent.
            assert "127.0.0.1" not in str(o.body) and "refused" not in str(o.body)
            assert o.body["request_id"]
            assert o.retry_after is not None and int(o.retry_after) > 0
        assert health.status == 503 and health.body["status"] == "unavailable"
        assert health.retry_after is not None and health.body["reason"]
        served = [o for o in after if o.status == 200]
        assert served, "the API did not serve again after the database came back"
        recovered_s = min(o.started + o.elapsed for o in served) - came_back
        assert store.count() == len(providers), "rows lost across the outage"
        print(
            f"\noutage: {len(during)} requests answered 503 while down, slowest "
            f"{max(o.elapsed for o in during):.3f} s (connect timeout {CONNECT_TIMEOUT_S} s); "
            f"first 200 {recovered_s:.2f} s after the database was back; "
            f"{len(outcomes)} requests in all, 0 hung"
        )
    finally:
        backend.close()

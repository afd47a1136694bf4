"""Read replicas on PostgreSQL's own streaming replication, against real hot standbys.

The suite starts its own primary and two hot standbys (``scripts/pg-throwaway start`` and
``start-replica``, i.e. ``pg_basebackup -R``), once per session, and stops them at the
end. Tests that pause a standby's replay or stop one put it back before they end.

Nothing here waits on the clock for an outcome: a test that needs a replica behind waits
until it *is* behind (its replay paused, the primary written meanwhile), and a test that
needs it back waits until it has replayed; the caps on those waits only turn a hang into
a failure.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from jzmap.settings import Settings
from providers.scoring import ScoreSpec, Weights
from providers.store import Filters
from providers.stores import Backend, open_backend
from providers.stores.engine import make_engine, upgrade_schema
from providers.stores.replicas import (
    Replica,
    ReplicaSet,
    parse_lsn,
    replica_lag_seconds,
    replica_reads,
)
from tests.browser import serve_app
from tests.helpers import CANTON_TOWER, BackendConfig, company, postgis_backend_at
from tests.test_admin_api import TOKEN, _csv
from tests.test_ingest import row

pytestmark = pytest.mark.postgis

PG_THROWAWAY = Path(__file__).resolve().parents[1] / "scripts" / "pg-throwaway"
LON, LAT = CANTON_TOWER
# A wait for the standbys that has not ended after this long is a hang, not slowness.
HANG_S = 120


@dataclass(frozen=True)
class Standby:
    url: str
    directory: str

    def sql(self, statement: str) -> object:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(statement).fetchone()
            return None if row is None else row[0]

    def replayed(self) -> int:
        return parse_lsn(str(self.sql("SELECT pg_last_wal_replay_lsn()::text")))


@dataclass(frozen=True)
class Cluster:
    url: str
    directory: str
    standbys: tuple[Standby, Standby]

    def position(self) -> int:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
            assert row is not None
            return parse_lsn(row[0])

    def caught_up(self, *standbys: Standby) -> None:
        """Wait until ``standbys`` (default: both) have replayed the primary's WAL."""
        target = self.position()
        _until(lambda: all(s.replayed() >= target for s in standbys or self.standbys))


def _until(done: Callable[[], bool], then: Callable[[], object] | None = None) -> None:
    """Poll ``done`` (running ``then`` between polls) until it holds; fail on a hang."""
    give_up = time.monotonic() + HANG_S
    while not done():
        assert time.monotonic() < give_up, "waited too long: something hangs"
        if then is not None:
            then()
        time.sleep(0.02)


def _throwaway(*args: str) -> dict[str, str]:
    out = subprocess.run(
        [PG_THROWAWAY, *args], check=True, capture_output=True, text=True, timeout=HANG_S
    ).stdout
    return dict(re.findall(r"export (\w+)=(\S+)", out))


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A primary with two hot standbys, migrated, for the whole session."""
    primary = _throwaway("start")
    directory = primary["JZMAP_PG_THROWAWAY_DIR"]
    try:
        standbys = []
        for _ in range(2):
            found = _throwaway("start-replica", directory)
            standbys.append(Standby(found["JZMAP_REPLICA_URL"], found["JZMAP_REPLICA_DIR"]))
        c = Cluster(primary["DATABASE_URL"], directory, (standbys[0], standbys[1]))
        engine = make_engine(c.url)
        upgrade_schema(engine)
        engine.dispose()
        c.caught_up()
        yield c
    finally:
        subprocess.run([PG_THROWAWAY, "stop", directory], check=False, timeout=HANG_S)


def _open(cluster: Cluster, *standbys: Standby, max_lag_s: float = 30.0) -> Backend:
    """A backend on the cluster's primary reading from ``standbys``, emptied."""
    config = BackendConfig(
        cluster.url,
        read_url_list=tuple(s.url for s in standbys),
        replica_max_lag_s=max_lag_s,
    )
    backend = open_backend(config)
    backend.store.delete_all()
    _replicas(backend).check()
    return backend


def _replicas(backend: Backend) -> ReplicaSet:
    assert backend.database is not None and backend.database.replicas is not None
    return backend.database.replicas


def _replica(backend: Backend, standby: Standby) -> Replica:
    return next(r for r in _replicas(backend).replicas if r.url == standby.url)


@contextmanager
def paused(standby: Standby) -> Iterator[None]:
    """``standby`` receives the primary's WAL but replays none of it meanwhile."""
    standby.sql("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        standby.sql("SELECT pg_wal_replay_resume()")


def _checked_until(replicas: ReplicaSet, done: Callable[[], bool]) -> None:
    """Run the replicas' health check until ``done`` holds after one."""

    def check_then_test() -> bool:
        replicas.check()
        return done()

    _until(check_then_test)


NEAREST = f"/v1/providers/nearest?lat={LAT}&lon={LON}&limit=5"


def test_public_reads_take_turns_over_the_replicas_and_other_reads_go_to_the_primary(
    cluster: Cluster,
) -> None:
    with _open(cluster, *cluster.standbys) as backend:
        store = backend.store
        store.upsert([company(i, LON + i * 1e-4, LAT) for i in range(20)])
        a, b = (_replica(backend, s) for s in cluster.standbys)
        before = (a.reads, b.reads)
        on_primary = store.nearest(LON, LAT, Filters(), 5)
        spec = ScoreSpec.of(Weights(), 2_000.0)
        best_on_primary = store.best_by_score(LON, LAT, Filters(), 5, spec)
        assert (a.reads, b.reads) == before, "a read outside replica_reads() left the primary"
        with replica_reads():
            answers = [store.nearest(LON, LAT, Filters(), 5) for _ in range(6)]
            best = [store.best_by_score(LON, LAT, Filters(), 5, spec) for _ in range(2)]
        assert (a.reads - before[0], b.reads - before[1]) == (4, 4)
        # The upsert waited for both replicas to replay it: they answer as the primary.
        assert all(answer == on_primary for answer in answers) and len(on_primary) == 5
        assert all(answer == best_on_primary for answer in best)

        with TestClient(create_app(Settings(), backend=backend)) as client:
            served = a.reads + b.reads
            assert client.get(NEAREST).status_code == 200
            assert client.get(f"{NEAREST}&sort=distance").status_code == 200
            assert a.reads + b.reads == served + 2


def test_admin_and_coverage_requests_read_the_primary_other_public_ones_replicas() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from api.replica_reads import ReplicaReadsMiddleware
    from providers.stores.replicas import replica_reads_allowed

    def where(request: Request) -> JSONResponse:  # a sync route: runs on a worker thread
        return JSONResponse({"replica": replica_reads_allowed()})

    app = Starlette(routes=[Route("/{path:path}", where, methods=["GET", "POST"])])
    with TestClient(ReplicaReadsMiddleware(app)) as client:
        assert client.get("/v1/providers/nearest").json() == {"replica": True}
        assert client.get("/map").json() == {"replica": True}
        assert client.get("/v1/coverage/districts").json() == {"replica": False}
        assert client.post("/v1/admin/imports").json() == {"replica": False}
        assert client.get("/v1/admin").json() == {"replica": False}
    assert not replica_reads_allowed()


def test_a_replica_lagging_beyond_the_bound_is_skipped_until_it_catches_up(
    cluster: Cluster,
) -> None:
    first, second = cluster.standbys
    with (
        _open(cluster, *cluster.standbys, max_lag_s=0.5) as backend,
        postgis_backend_at(cluster.url) as other_process,
    ):
        replicas, store = _replicas(backend), backend.store
        lagging, fine = _replica(backend, first), _replica(backend, second)
        newcomer = company(1, LON, LAT)
        with paused(first):
            # Written by another process: this one's read-your-writes floor does not move,
            # so only the lag can take the paused replica out.
            other_process.store.upsert([newcomer])
            cluster.caught_up(second)
            _checked_until(replicas, lambda: lagging.lag_s > 0.5 and fine.lag_s == 0)
            assert replica_lag_seconds()[lagging.name] > 0.5
            assert replica_lag_seconds()[fine.name] == 0
            skipped = lagging.reads
            with replica_reads():
                found = [store.get(newcomer.id) for _ in range(4)]
            assert found == [newcomer] * 4, "a read went to the replica that lacks the row"
            assert lagging.reads == skipped
        cluster.caught_up(first)
        _checked_until(replicas, lambda: lagging.lag_s == 0)
        with replica_reads():
            found = [store.get(newcomer.id) for _ in range(4)]
        assert found == [newcomer] * 4
        assert lagging.reads == skipped + 2, "the replica did not come back once caught up"


def test_best_by_score_stays_exact_while_a_replica_replays_an_older_version(
    cluster: Cluster,
) -> None:
    first = cluster.standbys[0]
    spec = ScoreSpec.of(Weights(), 2_000.0)
    with (
        _open(cluster, first, max_lag_s=3600) as backend,
        postgis_backend_at(cluster.url) as other_process,
    ):
        store, replica = backend.store, _replica(backend, first)
        store.upsert([company(i, LON + 0.01 + i * 1e-3, LAT) for i in range(10)])
        with replica_reads():
            old = store.best_by_score(LON, LAT, Filters(), 3, spec)
        newcomer = company(99, LON, LAT)  # at the query point: the new best
        with paused(first):
            other_process.store.upsert([newcomer])
            _replicas(backend).check()
            assert replica.up and replica.lag_s <= 3600  # behind, but within the bound
            with replica_reads():
                # Stale within the bound: the replica answers at its version, coherently.
                assert store.best_by_score(LON, LAT, Filters(), 3, spec) == old
            # A search on the primary moves the index to the new version ...
            new = store.best_by_score(LON, LAT, Filters(), 3, spec)
            assert new[0].provider == newcomer
            asked = replica.reads
            with replica_reads():
                # ... which the replica has not replayed: its winners come from the primary.
                assert store.best_by_score(LON, LAT, Filters(), 3, spec) == new
            assert replica.reads == asked + 1
            assert other_process.store.best_by_score(LON, LAT, Filters(), 3, spec) == new
        cluster.caught_up(first)
        with replica_reads():
            assert store.best_by_score(LON, LAT, Filters(), 3, spec) == new


# Longer than an import into a table that holds providers takes, so that without the wait
# after the write the paused replica would still be within the bound, and picked, when
# the import returns.
IMPORT_LAG_S = 5.0


def test_after_an_import_over_http_the_next_public_reads_see_it(cluster: Cluster) -> None:
    first, second = cluster.standbys
    auth = {"Authorization": f"Bearer {TOKEN}"}
    names = ["海珠安心家政服务有限公司1", "海珠安心家政服务有限公司2"]

    def post(n: int) -> None:
        files = {"file": ("海珠区.csv", _csv([row(n)]))}
        r = client.post("/v1/admin/imports", files=files, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["inserted"] == 1

    with _open(cluster, *cluster.standbys, max_lag_s=IMPORT_LAG_S) as backend:
        paused_one, caught_up = _replica(backend, first), _replica(backend, second)
        app = create_app(Settings(admin_token=SecretStr(TOKEN)), backend=backend)
        with TestClient(app) as client:
            post(1)
            with paused(first):
                t0 = time.monotonic()
                post(2)
                print("DEBUG", time.monotonic() - t0, paused_one, _replicas(backend)._samples)
                before = (paused_one.reads, caught_up.reads)
                for url in (NEAREST, f"{NEAREST}&sort=distance") * 2:
                    results = client.get(url).json()["results"]
                    assert sorted(p["name"] for p in results) == names
                # The import waited (at most the lag bound) for the replicas to replay it;
                # the paused one could not and is skipped until it has, the other serves.
                assert (paused_one.reads, caught_up.reads) == (before[0], before[1] + 4)
        cluster.caught_up(first)
        replicas = _replicas(backend)
        _checked_until(replicas, lambda: paused_one.usable(replicas.floor_lsn, IMPORT_LAG_S))
        with replica_reads():
            for _ in range(2):
                assert len(backend.store.nearest(LON, LAT, Filters(), 5)) == 2
        assert paused_one.reads == before[0] + 1, "the replica did not come back once caught up"


def test_with_no_replica_answering_reads_go_to_the_primary(cluster: Cluster) -> None:
    from tests.browser import free_port

    port = free_port()
    nowhere = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    config = BackendConfig(cluster.url, read_url_list=(nowhere,), connect_timeout_s=1)
    with open_backend(config) as backend:
        backend.store.delete_all()
        backend.store.upsert([company(1, LON, LAT)])
        _replicas(backend).check()
        (replica,) = _replicas(backend).replicas
        assert not replica.up and replica.reason
        assert replica.name == f"127.0.0.1:{port}/postgres"
        assert replica_lag_seconds()[replica.name] == math.inf
        with TestClient(create_app(Settings(), backend=backend)) as client:
            r = client.get(NEAREST)
        assert r.status_code == 200 and len(r.json()["results"]) == 1
        assert replica.reads == 0


@dataclass
class Outcome:
    status: int
    body: object


def _get(url: str) -> Outcome:
    try:
        with urlopen(url, timeout=HANG_S) as r:
            return Outcome(r.status, json.loads(r.read()))
    except HTTPError as e:
        return Outcome(e.code, json.loads(e.read()))


def test_a_replica_stopped_under_load_costs_no_request_an_error(cluster: Cluster) -> None:
    first = cluster.standbys[0]
    with _open(cluster, *cluster.standbys) as backend:
        backend.store.upsert([company(i, LON + i * 1e-4, LAT) for i in range(200)])
        lost = _replica(backend, first)
        outcomes: list[Outcome] = []
        errors: list[BaseException] = []
        stop = threading.Event()
        with serve_app(create_app(Settings(), backend=backend)) as base:

            def client(url: str) -> None:
                while not stop.is_set():
                    try:
                        outcomes.append(_get(url))
                    except BaseException as exc:  # a timeout here is a hang
                        errors.append(exc)

            urls = (f"{base}{NEAREST}", f"{base}{NEAREST}&sort=distance")
            threads = [threading.Thread(target=client, args=(urls[i % 2],)) for i in range(4)]
            for t in threads:
                t.start()
            down = False
            try:
                _until(lambda: lost.reads >= 20)
                subprocess.run([PG_THROWAWAY, "down", first.directory], check=True, timeout=HANG_S)
                down = True
                _until(lambda: not lost.up)
                assert replica_lag_seconds()[lost.name] == math.inf
                served = len(outcomes)
                _until(lambda: len(outcomes) >= served + 50)
                subprocess.run([PG_THROWAWAY, "up", first.directory], check=True, timeout=HANG_S)
                down = False
                back = lost.reads
                _until(lambda: lost.reads >= back + 20)
            finally:
                stop.set()
                for t in threads:
                    t.join(timeout=HANG_S)
                if down:
                    subprocess.run([PG_THROWAWAY, "up", first.directory], check=False)
        assert errors == [], errors[:3]
        statuses = [o.status for o in outcomes]
        assert set(statuses) == {200}, [o.body for o in outcomes if o.status != 200][:3]
        print(f"\nreplica stopped under load: {len(statuses)} requests, all 200")

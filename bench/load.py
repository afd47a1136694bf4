"""Throughput and latency under concurrent load, next to a no-op endpoint of the same app.

Run with ``make bench-load`` (or ``scripts/bench-load [--sizes demo,10000,1000000]
[--duration 10] [--workers 2]``). For each city size — the demo city (what ``make demo``
builds: 531 companies and 177 stations), 10,000 and 1,000,000 providers — and each backend
(PostGIS, then the embedded store), the city is built (or reused: see below), ``jzmap
serve`` runs with ``--workers`` uvicorn workers and the rate limiter off
(``JZMAP_RATE_LIMIT_PER_MINUTE=0``), and wrk drives it at 1, 8 and 32 concurrent clients
(keep-alive connections, each with one request in flight), for ``--duration`` seconds per
endpoint and concurrency:

* **default mix**: ``GET /v1/providers/nearest`` as residents send it, ranked by the
  default ``sort=score``, with seeded random queries: a point inside Guangzhou (uniform
  over the city's area, so half of them in its sparse north), a random category (90 %),
  and random filters: minimum grade (40 %), ``kind=company`` (15 %), certified only (20 %),
  a radius (20 %) — a fixed list of ``--paths`` URLs that the connections walk through;
* **sort=distance**: the same queries with ``sort=distance``, a plain k-nearest: the
  reference the default mix is measured against;
* **far away**: the default mix from points 5-45 km outside the city (served: within
  ``JZMAP_MAX_QUERY_DISTANCE_KM``), where nothing is near and the best scores are found
  by standing alone;
* **far, refused**: points 60-600 km outside the city, which get a 422;
* ``GET /livez``, a no-op endpoint of the same app (it touches no store), right before the
  others at the same concurrency: the reference for throughput. The ratio of the
  throughputs (nearest / no-op) is what to compare across machines.

A run in which one worker did more than 80 % of the server's work is repeated (up to twice,
and said so on the console): wrk opens all its connections at once, and uvicorn's workers
accept from one shared socket, so the worker that wakes first can take every connection.

Each row prints its p50 and p99 as ratios to ``sort=distance`` at the same concurrency and
its throughput as a ratio to ``/livez``; a summary at the end gives the figures the
ranking's targets are about. The table also counts the workers uvicorn's supervisor
replaced during each run (a worker that does not answer its health-check ping within 5 s
is killed and restarted; with the embedded store the new worker then rebuilds its
in-memory index).

The load generator is wrk (C, epoll, one thread, keep-alive), in its own process, so that
it takes a few percent of a core while the server takes the rest; its CPU time (from
``getrusage``) is reported next to the server's, PostgreSQL's and everything else's
(from ``/proc``), in cores busy over the run. Latencies are wrk's (request written to
response read, per connection; no coordinated-omission correction: this is a closed loop).

Reuse: the PostGIS city lives in the database ``jzmap_bench_load_<size>`` of the server
``DATABASE_URL`` names and is reused when its count and data version match what an earlier
run recorded (in the database's comment); the embedded city likewise in
``<tmp>/jzmap-bench-load-<size>/`` (a marker file). ``--rebuild`` rebuilds them.
``scripts/bench-load`` starts a throwaway cluster when ``DATABASE_URL`` is unset, so there
the PostGIS cities are always built (6-7 minutes at 1M on a busy 2-core machine).

Nothing here is a test: the figures depend on the machine (and, on a shared machine, on
what else runs: see the "other" CPU column).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import sqlalchemy as sa

from bench.nearest import fill, free_port, query_points
from geo.boundaries import CityBoundary, ServedArea, load_districts
from geo.package_data import REFERENCE_DIR
from jzmap.application.demo import DEFAULT_COMPANIES, DEFAULT_SEED, generate_demo
from providers.store import ProviderStore
from providers.stores.embedded import EmbeddedStore
from providers.stores.engine import make_engine, sqlalchemy_url, upgrade_schema
from providers.stores.pg_database import Database
from providers.stores.postgis import PostgisStore

CLK_TCK = os.sysconf("SC_CLK_TCK")
GRADES = ["5A", "4A", "3A", "2A", "A"]
LIVEZ = "GET /livez"
DEFAULT = "default mix (score)"
DISTANCE = "sort=distance"
FAR = "far away (served)"
REFUSED = "far, refused (422)"
ENDPOINTS = (LIVEZ, DEFAULT, DISTANCE, FAR, REFUSED)
DEMO = "demo"

# wrk script: walk a fixed list of paths (one offset per connection), report as JSON.
WRK_LUA = """
local paths = {%(paths)s}
local n = #paths
local counter = 0

function setup(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
end

function init(args)
  i = offset
end

function request()
  i = i + 1
  return wrk.format("GET", paths[(i %% n) + 1])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "max_us": %%d, ' ..
    '"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass
class Run:
    size: str  # the city: "demo" or a number of providers
    backend: str
    endpoint: str
    clients: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors and timeouts
    non_2xx: int  # answers with another status (the refused mix expects only 422s)
    client_cores: float  # wrk's CPU over the run, in cores
    server_cores: float  # uvicorn (supervisor and workers)
    postgres_cores: float | None  # the PostgreSQL cluster, when on this host
    other_cores: float  # everything else busy on the machine meanwhile
    restarts: int  # workers uvicorn's supervisor found hung (no health-check answer) and replaced

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


# -- CPU accounting from /proc ---------------------------------------------------------------


def _procs() -> dict[int, tuple[int, float]]:
    """pid -> (ppid, CPU seconds used so far) for every live process."""
    out: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:  # noqa: PTH123
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        out[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


def tree_cpu(
    before: dict[int, tuple[int, float]], after: dict[int, tuple[int, float]], root: int | None
) -> float:
    """CPU seconds used between two snapshots by ``root`` and its descendants alive at the
    second (a process that ended in between is not counted)."""
    if root is None or root not in after:
        return 0.0
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in after.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += after[pid][1] - (before[pid][1] if pid in before else 0.0)
        todo += children.get(pid, [])
    return total


def settle(root: int, timeout: float = 60) -> None:
    """Wait until ``root``'s process tree is nearly idle (requests a finished load run left
    in flight are done), so that they do not slow the next run."""
    deadline = time.monotonic() + timeout
    before = _procs()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        after = _procs()
        if tree_cpu(before, after, root) < 0.05:
            return
        before = after


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores; not idle, not iowait)."""
    with open("/proc/stat") as f:  # noqa: PTH123
        values = [int(v) for v in f.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK


def postmaster_pid(db_url: str) -> int | None:
    """The local postmaster serving ``db_url`` (parent of a backend), or None if remote."""
    engine = sa.create_engine(sqlalchemy_url(db_url))
    try:
        with engine.connect() as c:
            backend = int(c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
            procs = _procs()
    finally:
        engine.dispose()
    return procs[backend][0] if backend in procs else None


# -- the cities ------------------------------------------------------------------------------


def city_providers(size: str) -> int:
    """How many providers a city of this size label holds."""
    return DEFAULT_COMPANIES + 177 if size == DEMO else int(size)


def fill_city(store: ProviderStore, size: str) -> None:
    """The demo city exactly as ``make demo`` builds it, or a synthetic city of ``size``."""
    if size == DEMO:
        store.delete_all()
        store.upsert(chain.from_iterable(generate_demo(REFERENCE_DIR, seed=DEFAULT_SEED)))
    else:
        fill(store, int(size))


def postgis_city(server_url: str, size: str, rebuild: bool) -> str:
    """The URL of a database holding the city, built if needed."""
    db_name = f"jzmap_bench_load_{size}"
    admin = sa.create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    db_url = (
        sa.make_url(sqlalchemy_url(server_url))
        .set(database=db_name)
        .render_as_string(hide_password=False)
    )
    expected = city_providers(size)
    try:
        with admin.connect() as c:
            comment = c.execute(
                sa.text(
                    "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                    "WHERE datname = :name"
                ),
                {"name": db_name},
            ).first()
        if comment is not None and comment[0] and not rebuild:
            engine = make_engine(db_url)
            upgrade_schema(engine)  # the code may have moved on (new tables) since that run
            engine.dispose()
            db = Database.open(db_url)
            try:
                pg = PostgisStore(db)
                marker = f"jzmap bench-load city: {pg.count()} providers, v{pg.data_version()}"
            finally:
                db.close()
            if comment[0] == marker and marker.startswith(f"jzmap bench-load city: {expected} "):
                print(f"   reusing PostGIS city in {db_name}", file=sys.stderr)
                return db_url
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            c.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
        engine = make_engine(db_url)
        upgrade_schema(engine)
        engine.dispose()
        started = time.perf_counter()
        db = Database.open(db_url)
        try:
            pg = PostgisStore(db)
            fill_city(pg, size)
            with pg.engine.begin() as conn:
                conn.execute(sa.text("ANALYZE providers"))
            marker = f"jzmap bench-load city: {pg.count()} providers, v{pg.data_version()}"
        finally:
            db.close()
        with admin.connect() as c:
            c.execute(sa.text(f"COMMENT ON DATABASE \"{db_name}\" IS '{marker}'"))
        print(f"   PostGIS city built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        return db_url
    finally:
        admin.dispose()


def embedded_city(size: str, rebuild: bool) -> Path:
    """A data directory holding the city, built if needed."""
    where = Path(tempfile.gettempdir()) / f"jzmap-bench-load-{size}"
    marker_file = where / "bench-load.json"
    if where.exists() and marker_file.exists() and not rebuild:
        store = EmbeddedStore(where)
        try:
            now = {"count": store.count(), "data_version": store.data_version()}
        finally:
            store.close()
        recorded = json.loads(marker_file.read_text())
        if recorded == now and now["count"] == city_providers(size):
            print(f"   reusing embedded city in {where}", file=sys.stderr)
            return where
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    started = time.perf_counter()
    store = EmbeddedStore(where)
    try:
        fill_city(store, size)
        now = {"count": store.count(), "data_version": store.data_version()}
    finally:
        store.close()
    marker_file.write_text(json.dumps(now))
    print(f"   embedded city built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return where


# -- the queries -----------------------------------------------------------------------------


def nearest_paths(n: int, seed: int) -> list[dict[str, str]]:
    """``n`` seeded random queries of the default mix: a point in the city, a category,
    filters, the default sort."""
    rng = np.random.default_rng(seed)
    out = []
    for lon, lat, category in query_points(n, seed):
        out.append(_with_filters(rng, {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}"}, category.value))
    return out


def _with_filters(
    rng: np.random.Generator, params: dict[str, str], category: str
) -> dict[str, str]:
    if rng.random() < 0.9:
        params["category"] = category
    if rng.random() < 0.4:
        params["min_grade"] = GRADES[int(rng.integers(0, len(GRADES)))]
    # Not kind=station: 177 stations among 1M companies make a plain k-nearest walk most
    # of a category's index (seconds at 1M; see docs/performance.md).
    if rng.random() < 0.15:
        params["kind"] = "company"
    if rng.random() < 0.2:
        params["certified_only"] = "true"
    if rng.random() < 0.2:
        params["radius_m"] = str(int(rng.choice([1_000, 3_000, 10_000])))
    return params


def far_paths(n: int, seed: int, low_km: float, high_km: float) -> list[dict[str, str]]:
    """``n`` seeded default-mix queries from points ``low_km``-``high_km`` (geodesic) from
    the city's edge."""
    rng = np.random.default_rng(seed)
    area = ServedArea(CityBoundary(load_districts(REFERENCE_DIR)), high_km * 1000)
    west, south, east, north = area.city.outline.bounds
    pad = high_km / 100  # degrees: a little more than high_km
    categories = ["elderly_care", "housekeeping", "maternal_infant", "nursing"]
    out: list[dict[str, str]] = []
    while len(out) < n:
        lon = float(rng.uniform(west - pad, east + pad))
        lat = float(rng.uniform(south - pad, north + pad))
        if low_km * 1000 <= area.distance_to_city_m(lon, lat) <= high_km * 1000:
            params = {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}"}
            out.append(_with_filters(rng, params, categories[int(rng.integers(0, 4))]))
    return out


def url(params: dict[str, str]) -> str:
    return "/v1/providers/nearest?" + urlencode(params)


# -- the server and the load -----------------------------------------------------------------


@contextmanager
def served(
    env: dict[str, str], workers: int
) -> Iterator[tuple[int, subprocess.Popen[bytes], Path]]:
    """``jzmap serve`` on a free port with ``workers`` workers, until healthy; stopped after."""
    port = free_port()
    jzmap = str(Path(sys.executable).with_name("jzmap"))
    log = tempfile.NamedTemporaryFile(prefix="jzmap-bench-load-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [jzmap, "serve", "--port", str(port), "--workers", str(workers)],
        env={**os.environ, "JZMAP_RATE_LIMIT_PER_MINUTE": "0", **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the workers are stopped with it
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jzmap serve exited: see {log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield port, proc, Path(log.name)
    except BaseException:
        print(f"   jzmap serve's log: {log.name}", file=sys.stderr)
        raise
    else:
        Path(log.name).unlink()
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def warm_workers(port: int, paths: list[str], workers: int) -> None:
    """Send rounds of concurrent requests on fresh connections (which the kernel spreads
    over the workers) until two rounds in a row are fast: every worker has opened its pool
    or built its in-memory index (a minute at 1M for the embedded store)."""

    def one(path: str, times: list[float], failures: list[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
        t0 = time.perf_counter()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            # A worker replaced by uvicorn's supervisor drops its connections.
            failures.append(f"{type(exc).__name__}: {exc}")
            return
        finally:
            conn.close()
        times.append(time.perf_counter() - t0)
        if response.status != 200:
            failures.append(f"HTTP {response.status}")

    fast_rounds, started, i = 0, time.monotonic(), 0
    while fast_rounds < 2:
        times: list[float] = []
        failures: list[str] = []
        threads = []
        for _ in range(4 * workers):
            i += 1
            path = paths[i % len(paths)]
            threads.append(threading.Thread(target=one, args=(path, times, failures)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            print(f"   warm-up: {len(failures)} failed ({failures[0]}); again", file=sys.stderr)
            if time.monotonic() - started > 900:
                raise RuntimeError("the workers did not get warm in 15 minutes")
        fast_rounds = fast_rounds + 1 if not failures and max(times) < 0.5 else 0
    print(f"   workers warm after {time.monotonic() - started:.1f} s", file=sys.stderr)


def wrk(
    port: int, script: Path, clients: int, duration: float, *, server_pid: int, pg_pid: int | None
) -> tuple[dict[str, int], float, float, float | None, float, float]:
    """One wrk run: its JSON summary and the cores used by wrk, the server, PostgreSQL,
    and everything else over the run, and the busiest worker's share of the server's."""
    cmd = [
        "wrk",
        "-t1",
        f"-c{clients}",
        f"-d{duration:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    before_child = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = _procs()
    busy0, t0 = machine_busy(), time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    busy1, t1 = machine_busy(), time.monotonic()
    after = _procs()
    after_child = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = t1 - t0
    client = (
        after_child.ru_utime + after_child.ru_stime - before_child.ru_utime - before_child.ru_stime
    )
    server = tree_cpu(before, after, server_pid)
    workers = [pid for pid, (ppid, _) in after.items() if ppid == server_pid]
    busiest = max((tree_cpu(before, after, pid) for pid in workers), default=server)
    postgres = None if pg_pid is None else tree_cpu(before, after, pg_pid)
    other = (busy1 - busy0) - client - server - (postgres or 0.0)
    summary = json.loads(out.strip().splitlines()[-1])
    settle(server_pid)
    return (
        summary,
        client / wall,
        server / wall,
        None if postgres is None else postgres / wall,
        max(other, 0.0) / wall,
        busiest / server if server > 0 else 1.0,
    )


# A run whose busiest worker did more than this share of the server's work is repeated:
# wrk opens all its connections at once and uvicorn's workers accept from one shared
# socket, so the worker that wakes first can take every connection and leave the others
# idle for the whole run (measured: now and then, one of two workers served all 32).
_LOPSIDED = 0.8
_REPEATS = 2


def bench_backend(
    size: str,
    backend: str,
    env: dict[str, str],
    *,
    workers: int,
    clients_levels: list[int],
    duration: float,
    mixes: dict[str, list[str]],
    pg_pid: int | None,
    runs: list[Run],
) -> None:
    """Append each run's figures to ``runs`` as it completes; ``mixes`` gives each
    endpoint's paths."""
    tmp = Path(tempfile.mkdtemp(prefix="jzmap-bench-load-wrk-"))
    try:
        scripts: dict[str, Path] = {}
        for endpoint in ENDPOINTS:
            script = tmp / f"{len(scripts)}.lua"
            paths = ",".join(json.dumps(p) for p in mixes[endpoint])
            script.write_text(WRK_LUA % {"paths": paths})
            scripts[endpoint] = script
        with served(env, workers) as (port, proc, log):
            warm_workers(port, mixes[DEFAULT], workers)
            # A short run at the highest concurrency warms PostgreSQL's buffers, the page
            # cache and every worker's thread pool before anything is measured.
            for endpoint in (DEFAULT, DISTANCE, FAR):
                wrk(
                    port,
                    scripts[endpoint],
                    max(clients_levels),
                    2,
                    server_pid=proc.pid,
                    pg_pid=pg_pid,
                )
            for clients in clients_levels:
                for endpoint in ENDPOINTS:
                    died = log.read_text(errors="replace").count("] died")
                    for _ in range(_REPEATS + 1):
                        s, client, server, postgres, other, busiest = wrk(
                            port,
                            scripts[endpoint],
                            clients,
                            duration,
                            server_pid=proc.pid,
                            pg_pid=pg_pid,
                        )
                        if clients < 2 * workers or workers < 2 or busiest <= _LOPSIDED:
                            break
                        print(
                            f"   {endpoint} at {clients} clients: one worker did "
                            f"{busiest:.0%} of the work; again",
                            file=sys.stderr,
                        )
                    restarts = log.read_text(errors="replace").count("] died") - died
                    run = Run(
                        size,
                        backend,
                        endpoint,
                        clients,
                        s["requests"],
                        s["duration_us"] / 1e6,
                        s["p50_us"] / 1000,
                        s["p99_us"] / 1000,
                        sum(s[k] for k in ("connect", "read", "write", "timeout")),
                        s["status"],
                        client,
                        server,
                        postgres,
                        other,
                        restarts,
                    )
                    runs.append(run)
                    print("   " + report([run], header=False), file=sys.stderr)
                    if run.requests == 0:
                        raise RuntimeError(f"{endpoint} at {clients} clients: no answer at all")
    finally:
        shutil.rmtree(tmp)


def _same_run(runs: list[Run], r: Run, endpoint: str) -> Run | None:
    """The run of ``endpoint`` beside ``r``: same city, backend and concurrency."""
    for other in runs:
        if (other.size, other.backend, other.clients, other.endpoint) == (
            r.size,
            r.backend,
            r.clients,
            endpoint,
        ):
            return other
    return None


def _ratio(value: float, reference: float | None) -> str:
    return "" if reference is None or reference <= 0 else f"{value / reference:.2f}x"


def report(runs: list[Run], header: bool = True) -> str:
    """One row per run: its figures, then its ratios to the same run's ``sort=distance``
    (p50, p99) and ``/livez`` (throughput)."""
    lines = []
    if header:
        lines += [
            f"{'city':>7} {'backend':<8} {'endpoint':<19} {'clients':>7} {'requests':>9} "
            f"{'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'p50/dist':>8} {'p99/dist':>8} "
            f"{'vs no-op':>8} {'errors':>6} {'non-2xx':>7} {'restarts':>8}"
            "   CPU cores: wrk server postgres other",
            "-" * 160,
        ]
    for r in runs:
        distance = _same_run(runs, r, DISTANCE) if r.endpoint not in (LIVEZ, DISTANCE) else None
        noop = _same_run(runs, r, LIVEZ) if r.endpoint != LIVEZ else None
        postgres = "-" if r.postgres_cores is None else f"{r.postgres_cores:.2f}"
        lines.append(
            f"{r.size:>7} {r.backend:<8} {r.endpoint:<19} {r.clients:>7} {r.requests:>9,} "
            f"{r.throughput:>7,.0f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} "
            f"{_ratio(r.p50_ms, distance.p50_ms if distance else None):>8} "
            f"{_ratio(r.p99_ms, distance.p99_ms if distance else None):>8} "
            f"{_ratio(r.throughput, noop.throughput if noop else None):>8} {r.errors:>6} "
            f"{r.non_2xx:>7} {r.restarts:>8}   {'':>10} {r.client_cores:>4.2f} "
            f"{r.server_cores:>6.2f} {postgres:>8} {r.other_cores:>5.2f}"
        )
    return "\n".join(lines)


def targets(runs: list[Run], low: int, high: int) -> str:
    """The figures the ranking's targets are about, per city and backend: the default mix
    against ``sort=distance`` at ``low`` clients, throughputs against ``/livez`` at
    ``high``, and the far-away mix against the default one."""
    lines = [
        f"{'city':>7} {'backend':<8} | default vs distance ({low} client): p50  p99 | "
        f"default p99 ms | vs /livez at {high}: default  distance | far vs default: p50  p99",
        "-" * 128,
    ]
    cells = sorted({(r.size, r.backend) for r in runs}, key=lambda c: (city_providers(c[0]), c[1]))
    for size, backend in cells:

        def at(endpoint: str, clients: int, size: str = size, backend: str = backend) -> Run | None:
            found = [
                r
                for r in runs
                if (r.size, r.backend, r.endpoint, r.clients) == (size, backend, endpoint, clients)
            ]
            return found[0] if found else None

        default, distance, far = at(DEFAULT, low), at(DISTANCE, low), at(FAR, low)
        busy_default, busy_distance, busy_noop = (
            at(DEFAULT, high),
            at(DISTANCE, high),
            at(LIVEZ, high),
        )

        def ratio(a: Run | None, b: Run | None, attribute: str) -> str:
            if a is None or b is None:
                return "-"
            return _ratio(getattr(a, attribute), getattr(b, attribute))

        lines.append(
            f"{size:>7} {backend:<8} | {'':>26}{ratio(default, distance, 'p50_ms'):>6} "
            f"{ratio(default, distance, 'p99_ms'):>5} | "
            f"{(f'{default.p99_ms:.1f}' if default else '-'):>14} | "
            f"{'':>14}{ratio(busy_default, busy_noop, 'throughput'):>8} "
            f"{ratio(busy_distance, busy_noop, 'throughput'):>9} | "
            f"{'':>16}{ratio(far, default, 'p50_ms'):>5} {ratio(far, default, 'p99_ms'):>5}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        default=f"{DEMO},10000,1000000",
        help=f"cities, comma-separated: '{DEMO}' (the demo city) or a number of providers",
    )
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels, comma-separated")
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured run")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("JZMAP_WORKERS") or 2),
        help="uvicorn workers (default: JZMAP_WORKERS, else 2)",
    )
    parser.add_argument("--backends", default="postgis,embedded")
    parser.add_argument("--paths", type=int, default=5000, help="distinct nearest queries")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="rebuild cities left by a run")
    parser.add_argument("--out", type=Path, help="also write the tables here")
    args = parser.parse_args()
    # Stopped with SIGTERM: unwind, so that the server started here is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed; run through `make bench-load` / scripts/bench-load")
    backends = args.backends.split(",")
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for size in sizes:
        if size != DEMO and not size.isdigit():
            sys.exit(f"--sizes: {size!r} is neither '{DEMO}' nor a number of providers")
    server_url = os.environ.get("DATABASE_URL")
    if "postgis" in backends and not server_url:
        sys.exit("DATABASE_URL is not set; run through `make bench-load` / scripts/bench-load")
    clients_levels = [int(c) for c in args.clients.split(",")]
    queries = nearest_paths(args.paths, args.seed)
    mixes = {
        LIVEZ: ["/livez"],
        DEFAULT: [url(q) for q in queries],
        DISTANCE: [url({**q, "sort": "distance"}) for q in queries],
        FAR: [url(q) for q in far_paths(max(args.paths // 5, 100), args.seed, 5, 45)],
        REFUSED: [url(q) for q in far_paths(max(args.paths // 50, 20), args.seed, 60, 600)],
    }

    runs: list[Run] = []
    for size in sizes:
        for backend in backends:
            print(
                f"\n== {backend}: {size} ({city_providers(size):,} providers), "
                f"{args.workers} workers",
                file=sys.stderr,
            )
            if backend == "postgis":
                assert server_url
                db_url = postgis_city(server_url, size, args.rebuild)
                env = {"DATABASE_URL": db_url}
                pg_pid = postmaster_pid(db_url)
            elif backend == "embedded":
                env = {"DATABASE_URL": "", "JZMAP_DATA_DIR": str(embedded_city(size, args.rebuild))}
                pg_pid = None
            else:
                sys.exit(f"--backends: unknown {backend!r} (postgis, embedded)")
            try:
                bench_backend(
                    size,
                    backend,
                    env,
                    workers=args.workers,
                    clients_levels=clients_levels,
                    duration=args.duration,
                    mixes=mixes,
                    pg_pid=pg_pid,
                    runs=runs,
                )
            except Exception as exc:  # report the other cities' figures all the same
                print(f"   {backend} at {size}: gave up: {exc}", file=sys.stderr)
    pool = os.environ.get("JZMAP_DB_POOL_SIZE", "5")
    table = (
        f"{args.workers} uvicorn workers; JZMAP_DB_POOL_SIZE={pool}; {args.duration:g} s per "
        f"run; wrk, 1 thread, keep-alive; ratios to the same run's sort=distance and /livez\n"
        + report(runs)
        + "\n\nTargets (default vs distance p50 <= 1.3x, p99 <= 2x; default p99 <= 10 ms "
        "at 1 client; at 32 clients default >= 0.3x /livez embedded, >= 0.2x PostGIS)\n"
        + targets(runs, min(clients_levels), max(clients_levels))
    )
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()

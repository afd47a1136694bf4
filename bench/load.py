"""Throughput and latency under concurrent load, next to a no-op endpoint of the same app.

Run with ``make bench-load`` (or ``scripts/bench-load [--duration 12] [--workers 2]``).
For each backend (PostGIS, then the embedded store) a city of ``--providers`` providers is
built (or reused: see below), ``jzmap serve`` runs with ``--workers`` uvicorn workers and the
rate limiter off (``JZMAP_RATE_LIMIT_PER_MINUTE=0``), and wrk drives it at 1, 8 and 32
concurrent clients (keep-alive connections, each with one request in flight), for
``--duration`` seconds per endpoint and concurrency:

* ``GET /v1/providers/nearest`` with seeded random queries: a point inside Guangzhou
  (uniform over the city's area), a random category (90 %), and random filters: minimum
  grade (40 %), ``kind=company`` (15 %), certified only (20 %), a radius (20 %),
  ``sort=distance`` (30 %; else the default, by score) — a fixed list of ``--paths``
  URLs that the connections walk through;
* the same queries with ``sort=distance`` (a plain k-nearest: what the store and the
  framework cost without the score ranking's over-fetch);
* ``GET /livez``, a no-op endpoint of the same app (it touches no store), right before it
  at the same concurrency: the reference. The ratio of the throughputs (nearest / no-op)
  is what to compare across machines.

The table also counts the workers uvicorn's supervisor replaced during each run (a worker
that does not answer its health-check ping within 5 s is killed and restarted; with the
embedded store the new worker then rebuilds its in-memory index).

The load generator is wrk (C, epoll, one thread, keep-alive), in its own process, so that
it takes a few percent of a core while the server takes the rest; its CPU time (from
``getrusage``) is reported next to the server's, PostgreSQL's and everything else's
(from ``/proc``), in cores busy over the run. Latencies are wrk's (request written to
response read, per connection; no coordinated-omission correction: this is a closed loop).

Reuse: the PostGIS city lives in the database ``jzmap_bench_load_<providers>`` of the
server ``DATABASE_URL`` names and is reused when its count and data version match what an
earlier run recorded (in the database's comment); the embedded city likewise in
``<tmp>/jzmap-bench-load-<providers>/`` (a marker file). ``--rebuild`` rebuilds both.
``scripts/bench-load`` starts a throwaway cluster when ``DATABASE_URL`` is unset, so there
the PostGIS city is always built (6-7 minutes at 1M on a busy 2-core machine).

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
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import sqlalchemy as sa

from bench.nearest import fill, free_port, query_points
from providers.stores.embedded import EmbeddedStore
from providers.stores.postgis import PostgisStore, make_engine, sqlalchemy_url, upgrade_schema

CLK_TCK = os.sysconf("SC_CLK_TCK")
GRADES = ["5A", "4A", "3A", "2A", "A"]
LIVEZ = "GET /livez"
NEAREST = "nearest (mixed)"
NEAREST_DISTANCE = "nearest (sort=distance)"
ENDPOINTS = (LIVEZ, NEAREST, NEAREST_DISTANCE)

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
    backend: str
    endpoint: str
    clients: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
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


def postgis_city(server_url: str, size: int, rebuild: bool) -> str:
    """The URL of a database holding the ``size``-provider demo city, built if needed."""
    db_name = f"jzmap_bench_load_{size}"
    admin = sa.create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    db_url = (
        sa.make_url(sqlalchemy_url(server_url))
        .set(database=db_name)
        .render_as_string(hide_password=False)
    )
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
            pg = PostgisStore.open(db_url)
            try:
                marker = f"jzmap bench-load city: {pg.count()} providers, v{pg.data_version()}"
            finally:
                pg.close()
            if comment[0] == marker and marker.startswith(f"jzmap bench-load city: {size} "):
                print(f"   reusing PostGIS city in {db_name}", file=sys.stderr)
                return db_url
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            c.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
        engine = make_engine(db_url)
        upgrade_schema(engine)
        engine.dispose()
        started = time.perf_counter()
        pg = PostgisStore.open(db_url)
        try:
            fill(pg, size)
            with pg.engine.begin() as conn:
                conn.execute(sa.text("ANALYZE providers"))
            marker = f"jzmap bench-load city: {pg.count()} providers, v{pg.data_version()}"
        finally:
            pg.close()
        with admin.connect() as c:
            c.execute(sa.text(f"COMMENT ON DATABASE \"{db_name}\" IS '{marker}'"))
        print(f"   PostGIS city built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        return db_url
    finally:
        admin.dispose()


def embedded_city(size: int, rebuild: bool) -> Path:
    """A data directory holding the ``size``-provider demo city, built if needed."""
    where = Path(tempfile.gettempdir()) / f"jzmap-bench-load-{size}"
    marker_file = where / "bench-load.json"
    if where.exists() and marker_file.exists() and not rebuild:
        store = EmbeddedStore(where)
        try:
            now = {"count": store.count(), "data_version": store.data_version()}
        finally:
            store.close()
        recorded = json.loads(marker_file.read_text())
        if recorded == now and now["count"] == size:
            print(f"   reusing embedded city in {where}", file=sys.stderr)
            return where
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    started = time.perf_counter()
    store = EmbeddedStore(where)
    try:
        fill(store, size)
        now = {"count": store.count(), "data_version": store.data_version()}
    finally:
        store.close()
    marker_file.write_text(json.dumps(now))
    print(f"   embedded city built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return where


# -- the queries -----------------------------------------------------------------------------


def nearest_paths(n: int, seed: int) -> list[dict[str, str]]:
    """``n`` seeded random nearest queries: a point in the city, a category, filters."""
    rng = np.random.default_rng(seed)
    out = []
    for lon, lat, category in query_points(n, seed):
        params: dict[str, str] = {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}"}
        if rng.random() < 0.9:
            params["category"] = category.value
        if rng.random() < 0.4:
            params["min_grade"] = GRADES[int(rng.integers(0, len(GRADES)))]
        # Not kind=station: 177 stations among 1M companies make every such query walk
        # most of a category's KNN index (seconds each at 1M; see the README).
        if rng.random() < 0.15:
            params["kind"] = "company"
        if rng.random() < 0.2:
            params["certified_only"] = "true"
        if rng.random() < 0.2:
            params["radius_m"] = str(int(rng.choice([1_000, 3_000, 10_000])))
        if rng.random() < 0.3:
            params["sort"] = "distance"
        out.append(params)
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
    port: int, script: Path, clients: int, duration: float, server_pid: int, pg_pid: int | None
) -> tuple[dict[str, int], float, float, float | None, float]:
    """One wrk run: its JSON summary and the cores used by wrk, the server, PostgreSQL,
    and everything else over the run."""
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
    )


def bench_backend(
    backend: str,
    env: dict[str, str],
    workers: int,
    clients_levels: list[int],
    duration: float,
    queries: list[dict[str, str]],
    pg_pid: int | None,
    runs: list[Run],
) -> None:
    """Append each run's figures to ``runs`` as it completes."""
    tmp = Path(tempfile.mkdtemp(prefix="jzmap-bench-load-wrk-"))
    try:
        scripts: dict[str, Path] = {}
        paths = [url(q) for q in queries]
        by_distance = [url({**q, "sort": "distance"}) for q in queries]
        for endpoint, endpoint_paths in zip(
            ENDPOINTS, (["/livez"], paths, by_distance), strict=True
        ):
            script = tmp / f"{len(scripts)}.lua"
            script.write_text(WRK_LUA % {"paths": ",".join(json.dumps(p) for p in endpoint_paths)})
            scripts[endpoint] = script
        with served(env, workers) as (port, proc, log):
            warm_workers(port, paths, workers)
            # A short run at the highest concurrency warms PostgreSQL's buffers, the page
            # cache and every worker's thread pool before anything is measured.
            wrk(port, scripts[NEAREST], max(clients_levels), 3, proc.pid, pg_pid)
            for clients in clients_levels:
                for endpoint in ENDPOINTS:
                    died = log.read_text(errors="replace").count("] died")
                    s, client, server, postgres, other = wrk(
                        port, scripts[endpoint], clients, duration, proc.pid, pg_pid
                    )
                    restarts = log.read_text(errors="replace").count("] died") - died
                    errors = sum(s[k] for k in ("connect", "read", "write", "status", "timeout"))
                    run = Run(
                        backend,
                        endpoint,
                        clients,
                        s["requests"],
                        s["duration_us"] / 1e6,
                        s["p50_us"] / 1000,
                        s["p99_us"] / 1000,
                        errors,
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


def report(runs: list[Run], header: bool = True) -> str:
    noop = {(r.backend, r.clients): r.throughput for r in runs if r.endpoint == LIVEZ}
    lines = []
    if header:
        lines += [
            f"{'backend':<9} {'endpoint':<26} {'clients':>7} {'requests':>9} {'req/s':>8} "
            f"{'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'vs no-op':>8} {'restarts':>8}"
            "   CPU cores: wrk server postgres other",
            "-" * 139,
        ]
    for r in runs:
        ratio = ""
        if r.endpoint != LIVEZ and (r.backend, r.clients) in noop:
            ratio = f"{r.throughput / noop[(r.backend, r.clients)]:.3f}x"
        postgres = "-" if r.postgres_cores is None else f"{r.postgres_cores:.2f}"
        lines.append(
            f"{r.backend:<9} {r.endpoint:<26} {r.clients:>7} {r.requests:>9,} "
            f"{r.throughput:>8,.0f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} {r.errors:>6} "
            f"{ratio:>8} {r.restarts:>8}   {'':>10} {r.client_cores:>4.2f} {r.server_cores:>6.2f} "
            f"{postgres:>8} {r.other_cores:>5.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--providers", type=int, default=1_000_000)
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels, comma-separated")
    parser.add_argument("--duration", type=float, default=12, help="seconds per measured run")
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
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    # Stopped with SIGTERM: unwind, so that the server started here is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed; run through `make bench-load` / scripts/bench-load")
    backends = args.backends.split(",")
    server_url = os.environ.get("DATABASE_URL")
    if "postgis" in backends and not server_url:
        sys.exit("DATABASE_URL is not set; run through `make bench-load` / scripts/bench-load")
    clients_levels = [int(c) for c in args.clients.split(",")]
    queries = nearest_paths(args.paths, args.seed)

    runs: list[Run] = []
    for backend in backends:
        print(
            f"\n== {backend}: {args.providers:,} providers, {args.workers} workers",
            file=sys.stderr,
        )
        if backend == "postgis":
            assert server_url
            db_url = postgis_city(server_url, args.providers, args.rebuild)
            env = {"DATABASE_URL": db_url}
            pg_pid = postmaster_pid(db_url)
        elif backend == "embedded":
            env = {
                "DATABASE_URL": "",
                "JZMAP_DATA_DIR": str(embedded_city(args.providers, args.rebuild)),
            }
            pg_pid = None
        else:
            sys.exit(f"--backends: unknown {backend!r} (postgis, embedded)")
        try:
            bench_backend(
                backend, env, args.workers, clients_levels, args.duration, queries, pg_pid, runs
            )
        except Exception as exc:  # report the other backend's figures all the same
            print(f"   {backend}: gave up: {exc}", file=sys.stderr)
    pool = os.environ.get("JZMAP_DB_POOL_SIZE", "5")
    table = (
        f"{args.providers:,} providers; {args.workers} uvicorn workers; "
        f"JZMAP_DB_POOL_SIZE={pool}; {args.duration:g} s per run; wrk, 1 thread, keep-alive\n"
        + report(runs)
    )
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()

"""Nearest-match latency through each store and over HTTP, next to references.

Run with ``make bench`` (or ``scripts/bench [--sizes 10000,1000000]``). For each size the
demo generator builds a city of that many providers into a fresh embedded store and a
fresh PostGIS database, then times the same random queries (a point inside Guangzhou, a
random category, k = 10, ``sort=distance``) through:

* ``PostgisStore.nearest`` and two raw-SQL references through psycopg (prepared, generic
  plans, binary results, the same columns): the bare planar KNN on the per-category
  partial GiST index
  (its ten rows come in lon/lat-degree order), and the best raw SQL for the store's answer
  — the same KNN fetching the store's first fetch of 16 rows, re-ordered by
  ``ST_Distance(geography)`` on the ellipsoid in an outer query;
* a naive ``ORDER BY ST_Distance(geography)`` scan (what not to do; fewer queries);
* ``EmbeddedStore.nearest`` and, as its reference, an in-process shapely STRtree over the
  category's points with a geodesic re-rank of the candidates it returns;
* HTTP ``GET /v1/providers/nearest`` against ``jzmap serve`` (one client, keep-alive) for
  both stores.
* ``best_by_score`` of both stores (the default ``sort=score``: default weights, the same
  points and categories) next to ``nearest`` of the same store and two references: scoring
  every provider of the category in numpy (no index), and the score search this project
  used before its band index (the k nearest, re-fetched four times as many until a bound
  that assumes a 5A, fully certified provider anywhere is met) — both on fewer queries,
  as they are slow where the old search walked the store.

Ratios are of p50 latencies measured in the same run. Nothing here is a test: the figures
depend on the machine; the ratios are what to compare across machines.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import psycopg
import shapely
import sqlalchemy as sa

from geo.boundaries import load_districts
from geo.geodesy import geodesic_distance_m
from geo.package_data import REFERENCE_DIR
from jzmap.application.demo import generate_demo
from providers.model import Category
from providers.scoring import DEFAULT_HALF_DISTANCE_M, GRADE_VALUES, ScoreSpec, Weights
from providers.store import Candidate, Filters, ProviderStore
from providers.stores.embedded import EmbeddedStore
from providers.stores.engine import make_engine, sqlalchemy_url, upgrade_schema
from providers.stores.pg_database import Database
from providers.stores.postgis import _READ_COLUMNS, PostgisStore

K = 10
# A nearest query through one path: (lon, lat, category) -> whatever the path returns.
QueryFn = Callable[[float, float, "Category"], object]
SPEC = ScoreSpec.of(Weights(), DEFAULT_HALF_DISTANCE_M)
EMBEDDED_SCORE = "EmbeddedStore.best_by_score"
POSTGIS_SCORE = "PostgisStore.best_by_score"
SCORE_ALL = "score: numpy over the whole category"
SCORE_REFETCH = "score: k-nearest x4 refetch (before)"
RAW_KNN = "raw SQL: planar KNN, partial GiST"
RAW_SQL = "raw SQL: KNN + ellipsoid re-rank"
STRTREE = "STRtree + geodesic re-rank"
CATEGORIES = list(Category)


@dataclass
class Row:
    size: int
    path: str
    samples: list[float]
    references: tuple[str, ...] = ()

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        return float(np.percentile(self.samples, 99))


def timed(fn: QueryFn, queries: list[tuple[float, float, Category]]) -> list[float]:
    for q in queries[:20]:  # warm caches, plans, pools
        fn(*q)
    out = []
    for q in queries:
        start = time.perf_counter()
        fn(*q)
        out.append((time.perf_counter() - start) * 1000)
    return out


def timed_together(
    paths: dict[str, QueryFn],
    queries: list[tuple[float, float, Category]],
    block: int = 50,
) -> dict[str, list[float]]:
    """Time every path on every query, in blocks of ``block`` queries taken by the paths in
    turn (in rotating order): caches shared with other processes (PostgreSQL's buffers,
    the page cache) warm up for all paths alike, while each block keeps its own CPU caches
    warm."""
    names = list(paths)
    for q in queries[:20]:
        for name in names:
            paths[name](*q)
    out: dict[str, list[float]] = {name: [] for name in names}
    for round_, start_at in enumerate(range(0, len(queries), block)):
        # Rotate which path goes first: the first to run a block meets colder caches.
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            fn = paths[name]
            for q in queries[start_at : start_at + block]:
                start = time.perf_counter()
                fn(*q)
                out[name].append((time.perf_counter() - start) * 1000)
    return out


def query_points(n: int, seed: int) -> list[tuple[float, float, Category]]:
    rng = np.random.default_rng(seed)
    districts = load_districts(REFERENCE_DIR)
    points = districts.geometry.union_all().envelope
    minx, miny, maxx, maxy = points.bounds
    city = districts.geometry.union_all()
    out: list[tuple[float, float, Category]] = []
    while len(out) < n:
        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if city.contains(shapely.Point(lon, lat)):
            out.append((float(lon), float(lat), CATEGORIES[int(rng.integers(0, 4))]))
    return out


def fill(store: ProviderStore, size: int) -> None:
    store.delete_all()
    # One upsert: into the emptied PostGIS table that is a bulk load (indexes built once).
    store.upsert(chain.from_iterable(generate_demo(REFERENCE_DIR, max(0, size - 177), seed=11)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(env: dict[str, str]) -> Iterator[http.client.HTTPConnection]:
    port = free_port()
    jzmap = str(Path(sys.executable).with_name("jzmap"))
    proc = subprocess.Popen(
        [jzmap, "serve", "--port", str(port)],
        # The rate limiter would answer most of a benchmark's queries with 429.
        env={**os.environ, "JZMAP_RATE_LIMIT_PER_MINUTE": "0", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                # Long timeout: the first query builds the embedded index (a minute at 1M).
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        yield conn
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@dataclass(frozen=True)
class Answer:
    """What one timed HTTP request got back."""

    status: int
    etag: str
    body: bytes


def http_get(
    conn: http.client.HTTPConnection,
    path: str,
    headers: dict[str, str] | None = None,
    ok: tuple[int, ...] = (200,),
) -> Answer:
    """``GET path`` on a keep-alive connection, the body read whole; a status outside
    ``ok`` raises. Every HTTP path of the benchmarks goes through here, so they all pay
    the same client costs and their ratios compare the server alone."""
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
    except (http.client.RemoteDisconnected, ConnectionError):
        # The server closes keep-alive connections left idle (while other paths are
        # being set up); open a new one, as any HTTP client would.
        conn.close()
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
    body = response.read()
    if response.status not in ok:
        raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
    return Answer(response.status, response.getheader("ETag") or "", body)


def http_nearest(conn: http.client.HTTPConnection) -> QueryFn:
    def call(lon: float, lat: float, category: Category) -> object:
        path = (
            f"/v1/providers/nearest?lat={lat}&lon={lon}&category={category.value}"
            f"&limit={K}&sort=distance"
        )
        return json.loads(http_get(conn, path).body)

    return call


def strtree_reference(store: EmbeddedStore) -> QueryFn:
    """shapely STRtree per category over lon/lat, candidates re-ranked by geodesic metres.

    STRtree has no k-nearest query; the search asks for the points within a radius that
    grows until k are found, the standard way to use it for kNN.
    """
    # The reference reads the same file directly.
    with closing(sqlite3.connect(store.path)) as conn:
        rows = conn.execute("SELECT lon, lat, categories FROM providers WHERE active").fetchall()
    lon = np.array([r[0] for r in rows])
    lat = np.array([r[1] for r in rows])
    trees = {}
    for cat in CATEGORIES:
        idx = np.array([i for i, r in enumerate(rows) if cat.value in r[2].split(",")])
        points = np.asarray(shapely.points(lon[idx], lat[idx]), dtype=object)
        trees[cat] = (idx, shapely.STRtree(points))
    density = len(rows) / 1.0  # providers per square degree, roughly (city ~ 1 deg²)

    def call(qlon: float, qlat: float, category: Category) -> object:
        idx, tree = trees[category]
        point = shapely.Point(qlon, qlat)
        radius = float(np.sqrt(4 * K / (np.pi * max(density * idx.size / len(rows), 1))))
        while True:
            hits = tree.query(point, predicate="dwithin", distance=radius)
            if hits.size >= K or hits.size == idx.size:
                break
            radius *= 2
        cand = idx[hits]
        d = geodesic_distance_m(qlon, qlat, lon[cand], lat[cand])
        return cand[np.argsort(d)[:K]]

    return call


def raw_sql_reference(url: str) -> tuple[QueryFn, QueryFn, QueryFn]:
    """The bare KNN, the KNN re-ranked on the ellipsoid, and the naive scan."""
    conn = psycopg.connect(
        url.replace("postgresql+psycopg://", "postgresql://"),
        autocommit=True,
        options="-c jit=off -c plan_cache_mode=force_generic_plan",
    )
    best = {
        cat: (
            f"SELECT {_READ_COLUMNS}, ST_Distance(geom::geography, q) AS d "
            "FROM providers, (SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography AS q) p "
            f"WHERE active AND categories @> ARRAY['{cat.value}']::text[] "
            "ORDER BY geom <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326) "
            f"LIMIT {K}"
        )
        for cat in CATEGORIES
    }
    reranked = {
        cat: f"SELECT * FROM ({best[cat].replace(f'LIMIT {K}', 'LIMIT 16')}) AS knn "
        f"ORDER BY d LIMIT {K}"
        for cat in CATEGORIES
    }
    naive = {
        cat: (
            f"SELECT {_READ_COLUMNS}, ST_Distance(geom::geography, "
            "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography) AS d "
            f"FROM providers WHERE active AND '{cat.value}' = ANY(categories) "
            f"ORDER BY d LIMIT {K}"
        )
        for cat in CATEGORIES
    }

    def run_best(lon: float, lat: float, category: Category) -> object:
        return conn.execute(
            best[category], (lon, lat, lon, lat), prepare=True, binary=True
        ).fetchall()

    def run_reranked(lon: float, lat: float, category: Category) -> object:
        return conn.execute(
            reranked[category], (lon, lat, lon, lat), prepare=True, binary=True
        ).fetchall()

    def run_naive(lon: float, lat: float, category: Category) -> object:
        return conn.execute(naive[category], (lon, lat), prepare=True, binary=True).fetchall()

    return run_best, run_reranked, run_naive


def score_everyone(store: EmbeddedStore) -> QueryFn:
    """The reference for ``sort=score``: score every provider of the category, vectorised
    (what "the whole category fits in memory" buys without an index), take the best ten."""
    snap = store._current_snapshot()  # the reference reads the store's own arrays
    grade = np.array(
        [0.6 if p.credit_grade is None else GRADE_VALUES[p.credit_grade] for p in snap.providers]
    )
    share = np.array([p.certified_share for p in snap.providers])
    members = {cat: np.flatnonzero(snap.in_category[cat]) for cat in CATEGORIES}

    def call(qlon: float, qlat: float, category: Category) -> object:
        idx = members[category]
        metres = geodesic_distance_m(qlon, qlat, snap.lon[idx], snap.lat[idx])
        scores = SPEC.scores(metres, grade[idx], share[idx])
        return idx[np.argsort(-scores)[:K]]

    return call


def refetch_search(store: ProviderStore) -> QueryFn:
    """The score search before the band index: the k nearest, scored, fetched again four
    times as many until no farther provider could beat the tenth under a bound that
    assumes a 5A, fully certified provider anywhere."""
    w = SPEC.weights

    def call(qlon: float, qlat: float, category: Category) -> object:
        fetch = max(4 * K, 32)
        while True:
            found = store.nearest(qlon, qlat, Filters(category=category), fetch)
            scores = sorted(
                (
                    SPEC.score(c.distance_m, _grade_value(c), c.provider.certified_share)
                    for c in found
                ),
                reverse=True,
            )
            unseen = (
                w.distance * 0.5 ** (found[-1].distance_m / SPEC.half_distance_m) if found else 0
            )
            if len(found) < fetch or (
                len(scores) >= K and scores[K - 1] > unseen + w.grade + w.certified
            ):
                return scores[:K]
            fetch *= 4

    return call


def _grade_value(c: Candidate) -> float:
    p = c.provider
    return 0.6 if p.credit_grade is None else GRADE_VALUES[p.credit_grade]


def bench_size(size: int, server_url: str, n_queries: int, n_naive: int) -> list[Row]:
    rows: list[Row] = []
    queries = query_points(n_queries, seed=size)
    print(f"\n== {size:,} providers: building stores …", file=sys.stderr)

    db_name = f"jzmap_bench_{size}"
    admin = sa.create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        c.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    db_url = (
        sa.make_url(sqlalchemy_url(server_url))
        .set(database=db_name)
        .render_as_string(hide_password=False)
    )
    engine = make_engine(db_url)
    upgrade_schema(engine)
    engine.dispose()
    pg_db = Database.open(db_url)
    pg = PostgisStore(pg_db)
    started = time.perf_counter()
    fill(pg, size)
    with pg.engine.begin() as c:
        c.execute(sa.text("ANALYZE providers"))
    print(f"   PostGIS filled in {time.perf_counter() - started:.0f} s", file=sys.stderr)

    tmp = Path(tempfile.mkdtemp(prefix="jzmap-bench-"))
    emb = EmbeddedStore(tmp)
    started = time.perf_counter()
    fill(emb, size)
    emb.nearest(113.3, 23.1, Filters(), 1)  # build the in-memory index
    print(
        f"   embedded filled and indexed in {time.perf_counter() - started:.0f} s", file=sys.stderr
    )

    best, reranked, naive = raw_sql_reference(db_url)
    with (
        served({"JZMAP_DATA_DIR": str(tmp), "DATABASE_URL": ""}) as http_embedded,
        served({"DATABASE_URL": db_url}) as http_postgis,
    ):
        paths: dict[str, QueryFn] = {
            RAW_KNN: best,
            RAW_SQL: reranked,
            "PostgisStore.nearest": lambda lo, la, c: pg.nearest(lo, la, Filters(category=c), K),
            STRTREE: strtree_reference(emb),
            "EmbeddedStore.nearest": lambda lo, la, c: emb.nearest(lo, la, Filters(category=c), K),
            POSTGIS_SCORE: lambda lo, la, c: pg.best_by_score(lo, la, Filters(category=c), K, SPEC),
            EMBEDDED_SCORE: lambda lo, la, c: emb.best_by_score(
                lo, la, Filters(category=c), K, SPEC
            ),
            "HTTP, embedded store": http_nearest(http_embedded),
            "HTTP, PostGIS store": http_nearest(http_postgis),
        }
        samples = timed_together(paths, queries)
    references = {
        "PostgisStore.nearest": (RAW_SQL, RAW_KNN),
        "EmbeddedStore.nearest": (STRTREE,),
        POSTGIS_SCORE: ("PostgisStore.nearest", SCORE_REFETCH),
        EMBEDDED_SCORE: ("EmbeddedStore.nearest", SCORE_ALL, SCORE_REFETCH),
        "HTTP, embedded store": ("EmbeddedStore.nearest",),
        "HTTP, PostGIS store": ("PostgisStore.nearest",),
    }
    for name, values in samples.items():
        rows.append(Row(size, name, values, references=references.get(name, ())))
    rows.append(Row(size, "raw SQL: naive ORDER BY ST_Distance", timed(naive, queries[:n_naive])))
    # The score references are slow where the old search walked the store: fewer queries.
    rows.append(Row(size, SCORE_ALL, timed(score_everyone(emb), queries[: 4 * n_naive])))
    rows.append(Row(size, SCORE_REFETCH, timed(refetch_search(emb), queries[: 4 * n_naive])))

    emb.close()
    pg.close()
    pg_db.close()
    shutil.rmtree(tmp)
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
    admin.dispose()
    return rows


def report(rows: list[Row]) -> str:
    p50 = {(r.size, r.path): r.p50 for r in rows}
    lines = [
        f"{'providers':>10}  {'path':<38} {'n':>5} {'p50 ms':>8} {'p99 ms':>8}  ratio (p50)",
        "-" * 96,
    ]
    for r in rows:
        ratio = "; ".join(f"{r.p50 / p50[(r.size, ref)]:.2f}x {ref}" for ref in r.references)
        lines.append(
            f"{r.size:>10,}  {r.path:<38} {len(r.samples):>5} {r.p50:>8.3f} {r.p99:>8.3f}  {ratio}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--naive-queries", type=int, default=50)
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        sys.exit("DATABASE_URL is not set; run through `make bench` / scripts/bench")
    rows: list[Row] = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows += bench_size(size, server_url, args.queries, args.naive_queries)
        print(report(rows), file=sys.stderr)
    table = report(rows)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()

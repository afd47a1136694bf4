"""Vector tiles over HTTP, next to the nearest-match request of the same run (not a test).

Run with ``make bench-tiles`` (``scripts/bench-tiles [--sizes 1000000] [--queries 300]``).
For each size and each store, a city of that many providers (the same cities
``make bench-load`` builds and keeps) is served by ``jzmap serve``, and one client times,
in alternating blocks over the same random points inside Guangzhou:

* ``GET /v1/providers/nearest`` (k = 10, ``sort=distance``, a random category): the
  reference;
* the tile holding the point at zoom 10, the city zoom (counts per district), at zoom 12
  (counts per H3 cell where the tile is crowded) and at zoom 15 (providers one by one, or
  cells in the densest districts), no filters, as a MapLibre map asks for them;
* the zoom-10 tile again with the ``If-None-Match`` of its first answer: a ``304``.

Ratios are of p50 latencies to the nearest-match p50 of the same store in the same run:
the figures depend on the machine, the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.load import embedded_city, postgis_city
from bench.nearest import (
    QueryFn,
    Row,
    http_get,
    http_nearest,
    query_points,
    report,
    served,
    timed_together,
)
from geo.tiles import Tile
from providers.model import Category

NEAREST = "GET /v1/providers/nearest (k=10)"
ZOOMS = {10: "tile z10 (city: districts)", 12: "tile z12 (H3 cells)", 15: "tile z15 (points)"}
REVALIDATED = "tile z10, If-None-Match: 304"


def _ready(host: str, port: int) -> http.client.HTTPConnection:
    """A connection to the server once it answers (``served`` gives up polling after a
    minute, and a loaded machine may take longer to start it)."""
    for _ in range(3000):
        conn = http.client.HTTPConnection(host, port, timeout=900)
        try:
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return conn
        except OSError:
            conn.close()
            time.sleep(0.2)
    raise RuntimeError(f"jzmap serve on port {port} never answered")


def http_tile(conn: http.client.HTTPConnection, z: int) -> QueryFn:
    def call(lon: float, lat: float, _: Category) -> object:
        t = Tile.containing(lon, lat, z)
        return http_get(conn, f"/tiles/{t.z}/{t.x}/{t.y}.mvt", {"Accept-Encoding": "gzip"})

    return call


def http_revalidated(conn: http.client.HTTPConnection, z: int) -> QueryFn:
    tags: dict[Tile, str] = {}

    def call(lon: float, lat: float, _: Category) -> object:
        t = Tile.containing(lon, lat, z)
        path = f"/tiles/{t.z}/{t.x}/{t.y}.mvt"
        if t not in tags:
            tags[t] = http_get(conn, path).etag
        status = http_get(conn, path, {"If-None-Match": tags[t]}, ok=(200, 304)).status
        if status != 304:
            raise RuntimeError(f"GET {path} with its ETag: {status}, not 304")
        return status

    return call


def bench_store(
    size: int, store: str, env: dict[str, str], queries: list[tuple[float, float, Category]]
) -> list[Row]:
    """The timings of each path against one served city, as the table's rows."""
    with served(env) as first:
        conn = _ready(first.host, first.port)
        paths: dict[str, Callable[[float, float, Category], object]] = {NEAREST: http_nearest(conn)}
        paths |= {name: http_tile(conn, z) for z, name in ZOOMS.items()}
        # Revalidation is timed on its own: the first sight of each tile is not a 304.
        times = timed_together(paths, queries)
        times[REVALIDATED] = timed_together({REVALIDATED: http_revalidated(conn, 10)}, queries)[
            REVALIDATED
        ]
    nearest = f"{NEAREST}, {store}"
    return [
        Row(size, f"{name}, {store}", samples, references=() if name == NEAREST else (nearest,))
        for name, samples in times.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rebuild", action="store_true", help="build the cities again")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        sys.exit("DATABASE_URL is not set; run through `make bench-tiles` / scripts/bench-tiles")
    queries = query_points(args.queries, seed=17)
    rows: list[Row] = []
    for size in args.sizes.split(","):
        data_dir = embedded_city(size, args.rebuild)
        embedded = {"DATABASE_URL": "", "JZMAP_DATA_DIR": str(data_dir)}
        rows += bench_store(int(size), "embedded", embedded, queries)
        db_url = postgis_city(server_url, size, args.rebuild)
        rows += bench_store(int(size), "postgis", {"DATABASE_URL": db_url}, queries)
        print(report(rows), file=sys.stderr)
    table = report(rows)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()

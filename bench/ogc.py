"""OGC API – Features: a 1,000-feature ``/items`` page next to a nearest-match request.

Run with ``make bench-ogc`` (or ``scripts/bench-ogc [--providers 1000000] [--queries 200]``).
The city is the one ``bench/load.py`` builds (the demo generator at that size, kept between
runs in a PostGIS database and an embedded data directory); ``jzmap serve`` serves each
store, and over HTTP (one client, keep-alive) the same run times, taken in turns:

* ``GET /ogc/collections/providers/items?limit=1000`` — a page of 1,000 features, the
  first or one further in (a ``cursor`` from a random provider id, as a client walking
  the pages sends), whole city or a random district-sized box (0.1°), with
  ``numberMatched`` (counted once per data version and filter, then cached);
* the same page with a CQL2 ``filter`` (``kind = 'company' AND practitioners >= 5``);
* ``GET /v1/providers/nearest`` (a random point, category, k = 10, ``sort=distance``),
  the reference.

Ratios are of p50 latencies measured in the same run. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from bench.load import embedded_city, postgis_city, served
from bench.nearest import Row, http_get, http_nearest, query_points, report, timed_together
from providers.model import Category
from providers.store import Filters
from providers.stores.embedded import EmbeddedStore

PAGE = 1_000
NEAREST = "HTTP nearest (reference)"


def _ids(data_dir: Path, n: int, seed: int) -> list[str]:
    """``n`` random provider ids (page cursors), read from the embedded city."""
    store = EmbeddedStore(data_dir)
    try:
        everyone = store.within(None, Filters(include_approximate=True), 10_000_000)
    finally:
        store.close()
    rng = np.random.default_rng(seed)
    return [everyone[int(i)].id for i in rng.integers(0, len(everyone), n)]


def _items(
    conn: http.client.HTTPConnection, cursors: list[str], *, box: bool, cql: str | None
) -> Callable[..., object]:
    calls = iter(range(10**9))

    def call(lon: float, lat: float, _: Category) -> object:
        i = next(calls)
        params = {"limit": str(PAGE)}
        if i % 2:  # every other page further in, as a client walking the pages asks
            params["cursor"] = cursors[i % len(cursors)]
        if box:
            params["bbox"] = f"{lon - 0.05},{lat - 0.05},{lon + 0.05},{lat + 0.05}"
        if cql:
            params["filter"] = cql
        return http_get(conn, f"/ogc/collections/providers/items?{urlencode(params)}")

    return call


def bench(providers: int, server_url: str | None, n_queries: int, backends: list[str]) -> list[Row]:
    size = str(providers)
    queries = query_points(n_queries, seed=providers)
    data_dir = embedded_city(size, rebuild=False)
    cursors = _ids(data_dir, 1_000, seed=7)
    envs = {"embedded": {"JZMAP_DATA_DIR": str(data_dir), "DATABASE_URL": ""}}
    if "postgis" in backends:
        if not server_url:
            sys.exit("DATABASE_URL is not set; run through `make bench-ogc` / scripts/bench-ogc")
        envs["postgis"] = {"DATABASE_URL": postgis_city(server_url, size, rebuild=False)}
    rows: list[Row] = []
    for backend in backends:
        with served(envs[backend], workers=1) as (port, _, _):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
            http_get(conn, "/v1/providers/nearest?lat=23.1&lon=113.3&sort=distance")  # warm up
            nearest = f"{NEAREST}, {backend}"
            paths = {
                nearest: http_nearest(conn),
                f"/items 1,000, city, {backend}": _items(conn, cursors, box=False, cql=None),
                f"/items 1,000, 0.1° box, {backend}": _items(conn, cursors, box=True, cql=None),
                f"/items 1,000, city, CQL2, {backend}": _items(
                    conn, cursors, box=False, cql="kind = 'company' AND practitioners >= 5"
                ),
            }
            started = time.perf_counter()
            samples = timed_together(paths, queries, block=20)
            print(f"   {backend}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
            for name, values in samples.items():
                refs = () if name == nearest else (nearest,)
                rows.append(Row(providers, name, values, references=refs))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--providers", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--backends", default="postgis,embedded")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    rows = bench(
        args.providers, os.environ.get("DATABASE_URL"), args.queries, args.backends.split(",")
    )
    table = report(rows)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()

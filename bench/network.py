"""Walking coverage on a city-size street network, next to crow-fly coverage in the same run.

Run with ``.venv/bin/python -m bench.network [--side 548] [--providers 2000] [--repeat 3]``
(``scripts/bench-network``, ``make bench-network``; not a test). The network is synthetic:
a square grid of ``side × side`` nodes (548² ≈ 300,000, Guangzhou's walkable OSM network
is of that order once clipped to the urban districts) 80 m apart, centred on 海珠区, with
``--removed`` (default 15 %) of its streets taken out at random so that walks detour.
Providers are random nodes; cells are the H3 resolution-9 cells over the grid (~20,000).

Timed, per repeat, in one loop so that caches favour neither:

* crow — :func:`gaps.measures.cell_measures` with geodesic metres (the service today):
  nearest provider, providers within the catchment, E2SFCA, gap flags;
* walk — the same with :func:`gaps.network.network_nearest` and
  :func:`gaps.network.network_pairs_within` (snaps, one multi-source Dijkstra for the
  nearest, bounded Dijkstras in batches for the pairs);
* graph — building the network's CSR matrix from its arrays (once per process);
* snap index — building the index points join the network through (once per network:
  :attr:`gaps.network.WalkNetwork.ways`), then one point's :func:`gaps.network.snap` (a
  request's) and all the cells' (an analysis's);
* isochrone — one provider's 15-minute elderly isochrone (720 m).

The catchment is 10 minutes at the adult pace, 720 m, in both modes. Printed: medians and
the ratio walk / crow; the load average is printed beside them (the machine may be shared).
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from collections.abc import Callable
from typing import TypeVar

import h3
import numpy as np
import pandas as pd
from pyproj import Geod

from gaps.measures import cell_measures
from gaps.network import WalkNetwork, isochrone, network_from_arrays, network_nearest, snap
from gaps.network import network_pairs_within as network_pairs
from providers.model import Category

T = TypeVar("T")
CENTRE = (113.32, 23.10)
SPACING_M = 80.0
CATCHMENT_M = 10 * 60 * 1.2
RESOLUTION = 9


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def synthetic_network(side: int, removed: float, seed: int) -> WalkNetwork:
    """A ``side × side`` grid of streets ``SPACING_M`` apart, ``removed`` of them taken out."""
    geod = Geod(ellps="WGS84")
    half = (side - 1) * SPACING_M / 2
    # Columns and rows laid out along the parallel and meridian through the centre.
    lon_edge, _, _ = geod.fwd(CENTRE[0], CENTRE[1], 270.0, half)
    _, lat_edge, _ = geod.fwd(CENTRE[0], CENTRE[1], 180.0, half)
    lon_step = (CENTRE[0] - lon_edge) / ((side - 1) / 2)
    lat_step = (CENTRE[1] - lat_edge) / ((side - 1) / 2)
    cols, rows = np.meshgrid(np.arange(side), np.arange(side))
    lon = (lon_edge + cols * lon_step).ravel()
    lat = (lat_edge + rows * lat_step).ravel()
    ids = np.arange(side * side).reshape(side, side)
    u = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    v = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    keep = np.random.default_rng(seed).random(u.size) >= removed
    return network_from_arrays(lon, lat, u[keep], v[keep])


def cells_over(net: WalkNetwork) -> pd.DataFrame:
    """The H3 cells whose centres lie within the grid's bounds, with one demand each."""
    box = h3.LatLngPoly(
        [
            (net.node_lat.min(), net.node_lon.min()),
            (net.node_lat.min(), net.node_lon.max()),
            (net.node_lat.max(), net.node_lon.max()),
            (net.node_lat.max(), net.node_lon.min()),
        ]
    )
    cells = sorted(h3.str_to_int(c) for c in h3.polygon_to_cells(box, RESOLUTION))
    lat, lon = np.array([h3.cell_to_latlng(h3.int_to_str(c)) for c in cells]).T
    return pd.DataFrame({"cell": cells, "lon": lon, "lat": lat, "district": "海珠区"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=548, help="nodes per side (548² ≈ 300k)")
    parser.add_argument("--removed", type=float, default=0.15, help="share of streets removed")
    parser.add_argument("--providers", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()

    net, build_s = _timed(lambda: synthetic_network(args.side, args.removed, args.seed))
    _, graph_s = _timed(lambda: net.graph)
    _, index_s = _timed(lambda: net.ways)
    grid = cells_over(net)
    rng = np.random.default_rng(args.seed)
    at = rng.choice(net.nodes, args.providers, replace=False)
    supply = pd.DataFrame(
        {
            "category": Category.ELDERLY_CARE.value,
            "id": [f"p{i}" for i in range(args.providers)],
            "lon": net.node_lon[at],
            "lat": net.node_lat[at],
            "capacity": rng.integers(1, 20, args.providers).astype(np.float64),
        }
    )
    demand = pd.DataFrame({"cell": grid["cell"], "residents": 1_000.0})
    print(
        f"network: {net.nodes:,} nodes, {net.edges:,} edges ({args.removed:.0%} of streets "
        f"removed), built in {build_s:.1f} s, CSR graph {graph_s:.2f} s, snap index "
        f"{index_s:.2f} s; "
        f"{len(grid):,} H3 r{RESOLUTION} cells; {args.providers:,} providers; "
        f"catchment {CATCHMENT_M:.0f} m (10 min at 1.2 m/s)"
    )
    walk_nearest = functools.partial(network_nearest, net=net)
    walk_pairs = functools.partial(network_pairs, net=net)
    times: dict[str, list[float]] = {
        "crow": [], "walk": [], "isochrone": [], "snap_one": [], "snap_cells": []
    }  # fmt: skip
    for _ in range(args.repeat):
        crow, t = _timed(
            lambda: cell_measures(
                grid, demand, supply, Category.ELDERLY_CARE, catchment_m=CATCHMENT_M
            )
        )
        times["crow"].append(t)
        walk, t = _timed(
            lambda: cell_measures(
                grid, demand, supply, Category.ELDERLY_CARE, catchment_m=CATCHMENT_M,
                nearest=walk_nearest, pairs=walk_pairs,
            )
        )  # fmt: skip
        times["walk"].append(t)
        _, t = _timed(lambda: isochrone(net, supply["lon"][0], supply["lat"][0], 720.0))
        times["isochrone"].append(t)
        _, t = _timed(lambda: snap(net, grid["lon"][:1], grid["lat"][:1], 300.0))
        times["snap_one"].append(t)
        _, t = _timed(lambda: snap(net, grid["lon"], grid["lat"], 300.0))
        times["snap_cells"].append(t)
    crow_s = statistics.median(times["crow"])
    walk_s = statistics.median(times["walk"])
    print(f"crow-fly measures   median {crow_s:7.2f} s   (ratio 1.00)")
    print(f"walking measures    median {walk_s:7.2f} s   (ratio {walk_s / crow_s:.2f})")
    iso_s = statistics.median(times["isochrone"])
    print(f"one isochrone       median {iso_s:7.3f} s   (ratio {iso_s / crow_s:.3f})")
    one_ms = statistics.median(times["snap_one"]) * 1_000
    cells_s = statistics.median(times["snap_cells"])
    print(f"snap one point      median {one_ms:7.2f} ms  (the index built once, above)")
    print(f"snap every cell     median {cells_s:7.3f} s   ({len(grid):,} points)")
    print(
        f"cells covered: crow-fly {int(crow['covered'].sum()):,}, walking "
        f"{int(walk['covered'].sum()):,}; median nearest crow-fly "
        f"{np.median(crow['nearest_m']):.0f} m, walking {np.median(walk['nearest_m']):.0f} m"
    )
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()

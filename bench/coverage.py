"""Coverage-gap analysis for the whole demo city, next to a bare numpy/k-d reference.

Run with ``.venv/bin/python -m bench.coverage [--companies 10000] [--repeat 3]`` (not a
test). The demo city (:func:`jzmap.application.demo.generate_demo`: the real district polygons, one
station per street and ``--companies`` synthetic companies) is analysed at H3 resolution
9 (~72,000 cells) and 8 (~10,000) for all four categories, stage by stage:

* grid — H3 cells filling the 11 districts, centres, areas and hexagons;
* demand — the census default (district population spread over its cells);
* supply — providers per category with their capacity (no filters);
* measures — per cell and category: exact geodesic nearest provider, providers within
  1,000 m, E2SFCA through PySAL ``access``, the gap flag;
* summary — per district and category;
* candidate sites — MCLP (HiGHS), 5 sites for elderly care in 白云区; and the same with
  existing providers' staff limiting what they serve (``JZMAP_RESIDENTS_PER_PRACTITIONER``
  at 200: the capacitated MCLP with them as fixed sites), as a ratio to the plain one.

The reference, timed in the same loop so that caches favour neither, is the least any
implementation must do for the measures: per category, one k-d tree over the providers'
earth-centred coordinates, the nearest by chord and the count within a 1,000 m chord ball
for every cell, in numpy — no geodesic metres, no exactness check, no E2SFCA. The ratio
says what the exact metres and the accessibility measure cost on top of it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.spatial import cKDTree

from gaps import (
    area_summary,
    candidate_sites,
    city_grid,
    coverage_measures,
    demand_from_census,
    locate_supply,
    suitable_supply,
)
from geo.boundaries import load_districts
from geo.geodesy import ecef_xyz
from geo.package_data import REFERENCE_DIR
from jzmap.application.demo import generate_demo
from providers.model import Category

T = TypeVar("T")
CATCHMENT_M = 1_000.0
# Demand one practitioner serves in the staff-limited plan (JZMAP_RESIDENTS_PER_PRACTITIONER).
RESIDENTS_PER_PRACTITIONER = 200.0
TARGETS_S = {9: 10.0, 8: 2.0}


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def reference_pass(grid: pd.DataFrame, supply: pd.DataFrame) -> list[npt.NDArray[np.float64]]:
    """Chord nearest and chord-ball counts per category, bare numpy + k-d tree."""
    cells = ecef_xyz(grid["lon"].to_numpy(), grid["lat"].to_numpy())
    out = []
    for category in Category:
        rows = supply.loc[supply["category"] == category.value]
        tree = cKDTree(ecef_xyz(rows["lon"].to_numpy(), rows["lat"].to_numpy()))
        nearest, _ = tree.query(cells, k=1)
        counts = tree.query_ball_point(cells, CATCHMENT_M, return_length=True)
        out.append(np.column_stack([nearest, counts]))
    return out


def run(companies: int, repeat: int) -> list[str]:
    districts = load_districts(REFERENCE_DIR)
    providers, build_s = _timed(
        lambda: [p for chunk in generate_demo(REFERENCE_DIR, companies=companies) for p in chunk]
    )
    lines = [
        f"demo city: {len(providers):,} providers ({companies:,} companies + one station per "
        f"street), built in {build_s:.1f} s; median of {repeat} runs; catchment "
        f"{CATCHMENT_M:,.0f} m; 4 categories",
        "",
        f"{'res':>3}  {'cells':>7}  {'stage':<52} {'seconds':>8}  note",
        "-" * 100,
    ]
    for resolution in (9, 8):
        times: dict[str, list[float]] = {}

        def note(stage: str, seconds: float, _times: dict[str, list[float]] = times) -> None:
            _times.setdefault(stage, []).append(seconds)

        cells = 0
        for _ in range(repeat):
            grid, t = _timed(partial(city_grid, districts, resolution))
            note("grid", t)
            cells = len(grid)
            demand, t = _timed(partial(demand_from_census, grid, districts))
            note("demand", t)
            supply, t = _timed(partial(suitable_supply, providers))
            note("supply", t)
            # Reference and measures back to back, alternating which goes first.
            first_ref = len(times.get("reference", [])) % 2 == 0
            if first_ref:
                _, t = _timed(partial(reference_pass, grid, supply))
                note("reference", t)
            measures, t = _timed(partial(coverage_measures, grid, demand, supply))
            note("measures", t)
            if not first_ref:
                _, t = _timed(partial(reference_pass, grid, supply))
                note("reference", t)
            located = locate_supply(supply, districts)
            _, t = _timed(partial(area_summary, measures, located))
            note("summary", t)
            sites = partial(candidate_sites, measures, Category.ELDERLY_CARE, 5, district="白云区")
            _, t = _timed(sites)
            note("sites", t)
            limited = partial(
                sites, existing=supply, residents_per_practitioner=RESIDENTS_PER_PRACTITIONER
            )
            _, t = _timed(limited)
            note("limited sites", t)

        med = {stage: statistics.median(values) for stage, values in times.items()}
        total = med["grid"] + med["demand"] + med["supply"] + med["measures"] + med["summary"]
        ratio = med["measures"] / med["reference"]
        rows = [
            ("grid: H3 fill, centres, areas, hexagons", med["grid"], ""),
            ("demand: census default", med["demand"], ""),
            ("supply: 4 categories, capacity", med["supply"], ""),
            (
                "measures: geodesic nearest, within 1 km, E2SFCA, gap",
                med["measures"],
                f"{ratio:.1f}x reference",
            ),
            ("reference: k-d chord nearest + ball counts (numpy)", med["reference"], ""),
            ("summary: per district and category", med["summary"], ""),
            (
                "total, grid to summary",
                total,
                f"target <= {TARGETS_S[resolution]:g} s: "
                + ("met" if total <= TARGETS_S[resolution] else "MISSED"),
            ),
            ("candidate sites: MCLP, k=5, 白云区, elderly care", med["sites"], "HiGHS"),
            (
                f"  staff-limited: {RESIDENTS_PER_PRACTITIONER:g} per practitioner",
                med["limited sites"],
                f"{med['limited sites'] / med['sites']:.1f}x the plain MCLP",
            ),
        ]
        for stage, seconds, remark in rows:
            lines.append(f"{resolution:>3}  {cells:>7,}  {stage:<52} {seconds:>8.3f}  {remark}")
        lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    lines = run(args.companies, args.repeat)
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

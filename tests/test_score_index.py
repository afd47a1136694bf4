"""Property: the score index returns exactly the best by score, by both of its paths.

``ScoreIndex`` answers a query by a threshold search over bands, or, when few providers
pass the filters, by scoring them all on chord distances. Both must equal scoring every
provider by its geodesic distance. The stores' own property tests
(``test_score_property.py``) use small cities, which the index scans; here ``scan_rows=0``
forces the band search on the same kinds of cities, and a larger city checks the search
against the scan at the size where a store switches from one to the other.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.geodesy import geodesic_distance_m
from providers.model import Category, Grade, Kind
from providers.score_index import SCAN_ROWS, ScoreIndex
from providers.scoring import GRADE_CLASS_VALUES, ScoreSpec, Weights, certified_share
from providers.store import Filters
from tests.strategies import filters, weights

lons = st.floats(113.0, 114.0)
lats = st.floats(22.5, 23.9)


def _city(rng: np.random.Generator, n: int, spread_deg: float) -> dict[str, Any]:
    centre = rng.uniform([113.2, 22.8], [113.8, 23.6])
    lon = centre[0] + rng.uniform(-spread_deg, spread_deg, n)
    lat = centre[1] + rng.uniform(-spread_deg, spread_deg, n)
    if n > 3:  # stacked points: ties on metres
        lon[: n // 4], lat[: n // 4] = lon[0], lat[0]
    practitioners = rng.choice([0, 1, 4, 10, 37], n)
    return {
        "ids": [f"p{i:05d}" for i in range(n)],
        "lon": lon,
        "lat": lat,
        "grade_class": rng.integers(0, 6, n),
        "practitioners": practitioners,
        "certified_practitioners": (rng.random(n) * (practitioners + 1)).astype(np.int64),
        "categories": {c: rng.random(n) < 0.6 for c in Category},
        "approximate": rng.random(n) < 0.05,
    }


def _brute_force(
    city: dict[str, Any],
    lon: float,
    lat: float,
    f: Filters,
    *,
    k: int,
    spec: ScoreSpec,
    allowed: npt.NDArray[np.bool_] | None = None,
) -> list[int]:
    """Positions of the k best, scoring everyone who passes by geodesic metres."""
    grade_class = city["grade_class"]
    station = grade_class == 0
    keep = np.ones(len(city["ids"]), dtype=bool) if allowed is None else allowed.copy()
    if f.category is not None:
        keep &= city["categories"][f.category]
    if f.kind is not None:
        keep &= station == (f.kind is Kind.STATION)
    if f.min_grade is not None:
        keep &= station | (grade_class >= f.min_grade.rank)
    if f.certified_only:
        keep &= city["certified_practitioners"] > 0
    if not f.include_approximate:
        keep &= ~city["approximate"]
    share = certified_share(city["practitioners"], city["certified_practitioners"])
    ranked = []
    for i in np.flatnonzero(keep).tolist():
        d = float(geodesic_distance_m(lon, lat, city["lon"][i], city["lat"][i]))
        if f.radius_m is None or d <= f.radius_m:
            score = spec.score(d, GRADE_CLASS_VALUES[int(grade_class[i])], float(share[i]))
            ranked.append((-score, d, city["ids"][i], i))
    return [r[3] for r in sorted(ranked)[:k]]


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    spread_deg=st.sampled_from([0.0, 0.003, 0.05, 0.5]),
    scan_rows=st.sampled_from([0, SCAN_ROWS]),
    data=st.data(),
)
def test_both_paths_match_brute_force(
    seed: int, n: int, spread_deg: float, scan_rows: int, data: st.DataObject
) -> None:
    rng = np.random.default_rng(seed)
    city = _city(rng, n, spread_deg)
    index = ScoreIndex(**city, scan_rows=scan_rows)
    for _ in range(3):
        far = data.draw(st.sampled_from([0.0, 0.0, 1.5]))
        lon, lat = data.draw(lons) + far, data.draw(lats)
        f, k = data.draw(filters), data.draw(st.integers(1, 25))
        spec = ScoreSpec.of(data.draw(weights), data.draw(st.floats(100, 50_000)))
        # A filter the bands do not cut by (opening hours at a time): none, few or most.
        share_allowed = data.draw(st.sampled_from([None, 0.02, 0.5, 0.95]))
        allowed = None if share_allowed is None else rng.random(n) < share_allowed
        positions, metres = index.best(lon, lat, f, k, spec, allowed=allowed)
        want = _brute_force(city, lon, lat, f, k=k, spec=spec, allowed=allowed)
        assert positions.tolist() == want
        for p, d in zip(positions.tolist(), metres.tolist(), strict=True):
            exact = float(geodesic_distance_m(lon, lat, city["lon"][p], city["lat"][p]))
            assert d == pytest.approx(exact, rel=1e-12, abs=1e-9)


def test_search_and_scan_agree_on_a_city_of_ten_thousand() -> None:
    """At the size where a store switches between the two paths, on many points."""
    rng = np.random.default_rng(7)
    city = _city(rng, 10_000, 0.4)
    search, scan = ScoreIndex(**city, scan_rows=0), ScoreIndex(**city, scan_rows=10**9)
    for _ in range(300):
        lon, lat = rng.uniform(113.0, 114.0), rng.uniform(22.6, 23.8)
        f = Filters(
            category=[None, *Category][int(rng.integers(0, 5))],
            min_grade=[None, *Grade][int(rng.integers(0, 6))],
            certified_only=bool(rng.random() < 0.3),
        )
        spec = ScoreSpec.of(Weights(), float(rng.choice([500.0, 2_000.0, 20_000.0])))
        a, _ = search.best(lon, lat, f, 10, spec)
        b, _ = scan.best(lon, lat, f, 10, spec)
        assert a.tolist() == b.tolist()

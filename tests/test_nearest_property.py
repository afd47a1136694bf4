"""Property: both stores' ``sort=distance`` answers equal a brute-force geodesic oracle.

Random providers and query points over Guangzhou (22.5-23.9 N, where a degree of
longitude is ~8% shorter than a degree of latitude and planar KNN over degrees goes
wrong), random filters. Ties within 0.5% may swap places.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.model import Category, Grade, Precision, Provider
from providers.store import ProviderStore
from tests.helpers import brute_force_nearest, company, station
from tests.strategies import filters, opening_hours

lons = st.floats(113.0, 114.0)
lats = st.floats(22.5, 23.9)
categories = st.frozensets(st.sampled_from(list(Category)), min_size=1)


@st.composite
def providers(draw: st.DrawFn) -> list[Provider]:
    n = draw(st.integers(1, 120))
    out: list[Provider] = []
    # Clustered or spread: clusters make near-ties and dense neighbourhoods.
    centre_lon, centre_lat = draw(lons), draw(lats)
    spread = draw(st.sampled_from([0.002, 0.02, 0.5]))
    for i in range(n):
        lon = min(114.0, max(113.0, centre_lon + draw(st.floats(-spread, spread))))
        lat = min(23.9, max(22.5, centre_lat + draw(st.floats(-spread, spread))))
        fields: dict[str, Any] = {
            "categories": draw(categories),
            "practitioners": 10,
            "certified_practitioners": draw(st.sampled_from([0, 3])),
            "geocode_precision": draw(st.sampled_from(list(Precision))),
            "opening_hours": draw(opening_hours),
        }
        if draw(st.booleans()):
            out.append(company(i, lon, lat, grade=draw(st.sampled_from(list(Grade))), **fields))
        else:
            out.append(station(i, lon, lat, **fields))
    return out


def _check(store: ProviderStore, data: st.DataObject) -> None:
    store.delete_all()
    population = data.draw(providers())
    store.upsert(population)
    for _ in range(3):
        lon, lat = data.draw(lons), data.draw(lats)
        f = data.draw(filters)
        k = data.draw(st.integers(1, 15))
        got = [(c.provider.id, c.distance_m) for c in store.nearest(lon, lat, f, k)]
        want = brute_force_nearest(population, lon, lat, f, k)
        assert len(got) == len(want)
        for (got_id, got_m), (want_id, want_m) in zip(got, want, strict=True):
            assert got_m == pytest.approx(want_m, rel=1e-6, abs=1e-3)
            if got_id != want_id:
                assert got_m == pytest.approx(want_m, rel=0.005), "only near-ties may swap"
        # Whatever swapped, the same set of providers up to the k-th distance is returned
        # (the k-th may be a tie with one left out).
        if got:
            limit = want[-1][1] * 0.995
            assert {i for i, m in want if m < limit} <= {i for i, _ in got}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_embedded_matches_brute_force(embedded_store: ProviderStore, data: st.DataObject) -> None:
    _check(embedded_store, data)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_postgis_matches_brute_force(postgis_store: ProviderStore, data: st.DataObject) -> None:
    _check(postgis_store, data)

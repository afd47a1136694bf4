"""Property: both stores' ``sort=score`` answers equal scoring every provider.

The search behind ``sort=score`` stops early, band by band (``providers.score_index``);
this checks it never stops too early, against the definition applied to everyone: random
providers of every grade, kind and certified share (none, some, all — each a band of its
own), clustered, spread or stacked on one point (ties), random filters, weights, half
distances and limits, and query points inside, at the edge of or far outside the cloud.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.model import Category, Grade, Precision, Provider
from providers.ranking import NearestQuery, find_nearest
from providers.scoring import ScoreSpec
from providers.store import ProviderStore
from tests.helpers import brute_force_best, company, station
from tests.strategies import filters, opening_hours, weights

lons = st.floats(113.0, 114.0)
lats = st.floats(22.5, 23.9)
categories = st.frozensets(st.sampled_from(list(Category)), min_size=1)


@st.composite
def providers(draw: st.DrawFn) -> list[Provider]:
    n = draw(st.integers(1, 150))
    out: list[Provider] = []
    centre_lon, centre_lat = draw(lons), draw(lats)
    # Stacked (every provider on one point: ties on metres), clustered, or spread.
    spread = draw(st.sampled_from([0.0, 0.002, 0.02, 0.5]))
    for i in range(n):
        lon = min(114.0, max(113.0, centre_lon + draw(st.floats(-spread, spread))))
        lat = min(23.9, max(22.5, centre_lat + draw(st.floats(-spread, spread))))
        practitioners = draw(st.sampled_from([0, 1, 4, 10, 37]))
        fields: dict[str, Any] = {
            "categories": draw(categories),
            "practitioners": practitioners,
            "certified_practitioners": draw(st.integers(0, practitioners)),
            "geocode_precision": draw(st.sampled_from(list(Precision))),
            "opening_hours": draw(opening_hours),
        }
        if draw(st.integers(0, 4)):
            out.append(company(i, lon, lat, grade=draw(st.sampled_from(list(Grade))), **fields))
        else:
            out.append(station(i, lon, lat, **fields))
    return out


def _check(store: ProviderStore, data: st.DataObject) -> None:
    store.delete_all()
    population = data.draw(providers())
    store.upsert(population)
    for _ in range(3):
        # Inside the cloud, or up to a degree and a half beyond it (nothing near).
        far = data.draw(st.sampled_from([0.0, 0.0, 1.5]))
        query = NearestQuery(
            lon=data.draw(lons) + far,
            lat=data.draw(lats),
            filters=data.draw(filters),
            limit=data.draw(st.integers(1, 25)),
            weights=data.draw(weights),
            half_distance_m=data.draw(st.floats(100, 50_000)),
        )
        got = find_nearest(store, query)
        spec = ScoreSpec.of(query.weights, query.half_distance_m)
        want = brute_force_best(
            population, query.lon, query.lat, query.filters, k=query.limit, spec=spec
        )
        assert [m.provider.id for m in got] == [m.provider.id for m in want]
        for g, w in zip(got, want, strict=True):
            assert g.score == w.score
            assert g.distance_m == pytest.approx(w.distance_m, rel=1e-9, abs=1e-6)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_embedded_score_ranking_matches_brute_force(
    embedded_store: ProviderStore, data: st.DataObject
) -> None:
    _check(embedded_store, data)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_postgis_score_ranking_matches_brute_force(
    postgis_store: ProviderStore, data: st.DataObject
) -> None:
    _check(postgis_store, data)

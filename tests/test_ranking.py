"""Ranking: the score formula by hand, and exact score ordering against brute force."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.geodesy import geodesic_distance_m
from providers.model import Category, Grade
from providers.ranking import NearestQuery, Sort, find_nearest, score_candidate
from providers.scoring import Weights, distance_decay
from providers.store import Candidate, Filters
from providers.stores.embedded import EmbeddedStore
from tests.helpers import CANTON_TOWER, company, station

LON, LAT = CANTON_TOWER


def test_score_by_hand() -> None:
    p = company(1, LON, LAT, grade=Grade.A4, practitioners=20, certified_practitioners=5)
    m = score_candidate(Candidate(p, 2_000.0), Weights().normalised(), half_distance_m=2_000)
    # 0.6 * 0.5 (one half-distance away) + 0.3 * 0.8 (4A) + 0.1 * 0.25 (5 of 20 certified)
    assert m.score == pytest.approx(0.3 + 0.24 + 0.025)
    assert {k: round(v.points, 6) for k, v in m.score_parts.items()} == {
        "distance": 0.3,
        "grade": 0.24,
        "certified": 0.025,
    }
    assert sum(part.points for part in m.score_parts.values()) == pytest.approx(m.score)


def test_station_scores_as_a_3a_company() -> None:
    s = station(1, LON, LAT, practitioners=10, certified_practitioners=0)
    m = score_candidate(Candidate(s, 0.0), Weights(1, 1, 1).normalised(), 2_000)
    assert m.score_parts["grade"].value == 0.6


def test_weights_are_normalised_and_bounded() -> None:
    w = Weights(2, 1, 1).normalised()
    assert (w.distance, w.grade, w.certified) == (0.5, 0.25, 0.25)
    with pytest.raises(ValueError, match=r"w_distance must be within 0\.1\.\.1"):
        NearestQuery(lon=LON, lat=LAT, weights=Weights(0.05, 1, 1))
    with pytest.raises(ValueError):
        Weights(-1, 1, 1)


def test_decay_halves_every_half_distance() -> None:
    assert distance_decay(0, 1000) == 1
    assert distance_decay(1000, 1000) == 0.5
    assert distance_decay(3000, 1000) == 0.125


def test_grade_can_beat_distance_and_weights_change_the_order(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "s")
    near_weak = company(1, LON, LAT + 0.002, grade=Grade.A1, certified_practitioners=0)
    far_strong = company(2, LON, LAT + 0.009, grade=Grade.A5, certified_practitioners=10)
    store.upsert([near_weak, far_strong])

    by_score = find_nearest(store, NearestQuery(lon=LON, lat=LAT))
    assert [m.provider.id for m in by_score] == [far_strong.id, near_weak.id]

    distance_heavy = find_nearest(store, NearestQuery(lon=LON, lat=LAT, weights=Weights(1, 0, 0)))
    assert [m.provider.id for m in distance_heavy] == [near_weak.id, far_strong.id]

    by_distance = find_nearest(store, NearestQuery(lon=LON, lat=LAT, sort=Sort.DISTANCE))
    assert [m.provider.id for m in by_distance] == [near_weak.id, far_strong.id]
    assert by_distance[0].distance_m < by_distance[1].distance_m


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_score_ranking_is_exact(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """The early-stopping search returns exactly the top ``limit`` of scoring everyone."""
    store = EmbeddedStore(tmp_path_factory.mktemp("rank"))
    n = data.draw(st.integers(1, 400))
    population = [
        company(
            i,
            LON + data.draw(st.floats(-0.1, 0.1)),
            LAT + data.draw(st.floats(-0.1, 0.1)),
            grade=data.draw(st.sampled_from(list(Grade))),
            categories=data.draw(st.frozensets(st.sampled_from(list(Category)), min_size=1)),
            practitioners=10,
            certified_practitioners=data.draw(st.integers(0, 10)),
        )
        for i in range(n)
    ]
    store.upsert(population)
    query = NearestQuery(
        lon=LON,
        lat=LAT,
        filters=Filters(category=data.draw(st.none() | st.sampled_from(list(Category)))),
        limit=data.draw(st.integers(1, 20)),
        weights=Weights(
            data.draw(st.floats(0.1, 1)), data.draw(st.floats(0, 1)), data.draw(st.floats(0, 1))
        ),
        half_distance_m=data.draw(st.floats(100, 20_000)),
    )
    got = find_nearest(store, query)

    weights = query.weights.normalised()
    everyone = []
    for p in population:
        if query.filters.admits(p):
            d = float(geodesic_distance_m(LON, LAT, p.lon, p.lat))
            everyone.append(score_candidate(Candidate(p, d), weights, query.half_distance_m))
    everyone.sort(key=lambda m: (-m.score, m.distance_m, m.provider.id))
    want = everyone[: query.limit]
    assert [m.provider.id for m in got] == [m.provider.id for m in want]
    assert all(math.isclose(a.score, b.score) for a, b in zip(got, want, strict=True))
    store.close()

"""The demo city: real places, plausible synthetic providers, reproducible."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from geo.boundaries import load_districts, load_streets, locate
from geo.crs import to_wgs84
from geo.package_data import REFERENCE_DIR
from jzmap.application.demo import DEMO_DATASET, generate_demo
from providers.credit_code import credit_code_problem
from providers.model import Category, Grade, Kind, Provider


@pytest.fixture(scope="module")
def city() -> list[Provider]:
    return [p for chunk in generate_demo(REFERENCE_DIR) for p in chunk]


def test_counts_and_labels(city: list[Provider]) -> None:
    kinds = Counter(p.kind for p in city)
    assert kinds[Kind.COMPANY] == 531 >= 500
    assert kinds[Kind.STATION] == len(load_streets(REFERENCE_DIR)) == 177
    assert len({p.id for p in city}) == len(city)
    assert all(p.extra["dataset"] == DEMO_DATASET for p in city)


def test_same_seed_same_city_other_seed_other_city(city: list[Provider]) -> None:
    again = [p for chunk in generate_demo(REFERENCE_DIR) for p in chunk]
    assert again == city
    other = [p for chunk in generate_demo(REFERENCE_DIR, seed=1) for p in chunk]
    assert [p.lon for p in other] != [p.lon for p in city]


def test_every_provider_lies_in_its_named_district(city: list[Provider]) -> None:
    districts = load_districts(REFERENCE_DIR)
    rows = locate(districts, [p.lon for p in city], [p.lat for p in city])
    assert (rows >= 0).all()
    assert [districts["name"].iloc[r] for r in rows] == [p.district for p in city]


def test_stations_one_per_street_with_the_real_names(city: list[Provider]) -> None:
    streets = load_streets(REFERENCE_DIR)
    stations = [p for p in city if p.kind is Kind.STATION]
    assert sorted(p.street for p in stations) == sorted(streets["name"])
    by_name = dict(zip(streets["name"], streets["district_name"], strict=True))
    assert all(by_name[p.street] == p.district for p in stations)


def test_company_density_follows_population(city: list[Provider]) -> None:
    districts = load_districts(REFERENCE_DIR)
    counts = Counter(p.district for p in city if p.kind is Kind.COMPANY)
    expected = districts["population"] / districts["population"].sum() * 531
    observed = np.array([counts[name] for name in districts["name"]])
    # Multinomial noise: each district within 4 standard deviations of its share.
    sd = np.sqrt(expected * (1 - expected / 531))
    assert (np.abs(observed - expected) <= 4 * sd + 1).all()
    assert counts["白云区"] == max(counts.values())  # the most populous district


def test_plausible_mix(city: list[Provider]) -> None:
    companies = [p for p in city if p.kind is Kind.COMPANY]
    assert {p.credit_grade for p in companies} == set(Grade)
    assert all(credit_code_problem(p.credit_code or "") is None for p in companies)
    assert all(
        p.credit_code and p.credit_code[2:8] in set(load_districts(REFERENCE_DIR)["adcode"])
        for p in companies
    )
    per_category = Counter(c for p in city for c in p.categories)
    assert all(per_category[c] >= 50 for c in Category)
    assert any(p.certified_practitioners == 0 for p in companies)
    assert all(0 <= p.certified_practitioners <= p.practitioners for p in city)


def test_source_coordinates_are_recorded_and_convert_back(city: list[Provider]) -> None:
    crs_seen = Counter(p.source_crs for p in city)
    assert len(crs_seen) == 3
    for p in city:
        assert p.source_lon is not None and p.source_lat is not None
        lon, lat = to_wgs84(p.source_lon, p.source_lat, p.source_crs)
        assert (lon, lat) == pytest.approx((p.lon, p.lat), abs=1e-8)

"""Viewport reads of the store contract (``within``, ``tally``), on both stores, against
answers computed from the providers directly."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

import h3
import pytest

from providers.model import Category, Grade, Kind, Precision, Provider
from providers.store import BBox, Filters, ProviderStore, TallyBy
from tests.helpers import CANTON_TOWER, company, station

LON, LAT = CANTON_TOWER
BOX = BBox(LON - 0.05, LAT - 0.05, LON + 0.05, LAT + 0.05)
FILTERS = [
    Filters(),
    Filters(category=Category.ELDERLY_CARE),
    Filters(kind=Kind.STATION),
    Filters(min_grade=Grade.A4, certified_only=True),
    Filters(category=Category.HOUSEKEEPING, include_approximate=True),
]


def _city(n: int = 240) -> list[Provider]:
    """Providers scattered over twice the box, so some fall outside; some inactive."""
    rng = random.Random(7)
    districts = ["海珠区", "天河区", "越秀区"]
    out: list[Provider] = []
    for i in range(n):
        lon = LON + rng.uniform(-0.1, 0.1)
        lat = LAT + rng.uniform(-0.1, 0.1)
        cats = rng.sample(list(Category), rng.randint(1, 3))
        fields = {
            "district": districts[i % 3],
            "certified_practitioners": i % 2,
            "geocode_precision": Precision.DISTRICT if i % 11 == 0 else Precision.EXACT,
            "active": i % 13 != 0,
        }
        if i % 4 == 0:
            out.append(station(i, lon, lat, categories=cats, **fields))
        else:
            grade = list(Grade)[i % len(Grade)]
            out.append(company(i, lon, lat, grade=grade, categories=cats, **fields))
    # One exactly on the box's corner: edges are inside.
    out.append(company(9_999, BOX.east, BOX.north, district="天河区"))
    return out


def _expected(providers: list[Provider], f: Filters, bbox: BBox | None) -> list[Provider]:
    return sorted(
        (p for p in providers if f.admits(p) and (bbox is None or bbox.contains(p.lon, p.lat))),
        key=lambda p: p.id,
    )


@pytest.mark.parametrize("filters", FILTERS, ids=repr)
def test_within_returns_the_admitted_providers_in_the_box_by_id(
    store: ProviderStore, filters: Filters
) -> None:
    city = _city()
    store.upsert(city)
    expected = _expected(city, filters, BOX)
    assert 0 < len(expected) < len(city)
    assert store.within(BOX, filters, 10_000) == expected
    assert store.within(BOX, filters, 5) == expected[:5]
    assert store.within(BOX, filters, 0) == []


@pytest.mark.parametrize("filters", FILTERS, ids=repr)
@pytest.mark.parametrize("bbox", [None, BOX], ids=["city", "box"])
def test_tally_counts_by_district_and_by_cell(
    store: ProviderStore, filters: Filters, bbox: BBox | None
) -> None:
    city = _city()
    store.upsert(city)
    admitted = _expected(city, filters, bbox)
    assert store.tally(filters, TallyBy.DISTRICT, bbox) == Counter(p.district for p in admitted)
    for by, res in ((TallyBy.H3_R7, 7), (TallyBy.H3_R8, 8), (TallyBy.H3_R9, 9)):
        expected = Counter(h3.latlng_to_cell(p.lat, p.lon, res) for p in admitted)
        assert store.tally(filters, by, bbox) == expected


def test_viewport_reads_follow_writes(store: ProviderStore) -> None:
    a = company(1, LON, LAT)
    store.upsert([a])
    assert store.tally(Filters(), TallyBy.DISTRICT) == {"海珠区": 1}
    store.upsert([dataclasses.replace(a, active=False)])
    assert store.within(BOX, Filters(), 10) == []
    assert store.tally(Filters(), TallyBy.DISTRICT) == {}

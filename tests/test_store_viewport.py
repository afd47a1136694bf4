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


# Ids whose order differs between code points and a language's collation (case, punctuation,
# Chinese): keyset pages must follow code points in both stores.
_AWKWARD_IDS = ["st-B", "st-a", "st-_z", "st-Zz", "st-中心", "st-9", "st-a-b", "st-ab", "st-A"]


@pytest.mark.parametrize("filters", FILTERS, ids=repr)
@pytest.mark.parametrize("bbox", [None, BOX], ids=["city", "box"])
def test_keyset_pages_walk_every_admitted_provider_once_in_code_point_order(
    store: ProviderStore, filters: Filters, bbox: BBox | None
) -> None:
    city = _city() + [
        dataclasses.replace(station(1, LON, LAT), id=i, name=f"站{i}") for i in _AWKWARD_IDS
    ]
    store.upsert(city)
    expected = _expected(city, filters, bbox)
    assert len(expected) > 7  # more than one page
    assert store.within(bbox, filters, 10_000) == expected
    pages: list[list[Provider]] = []
    after: str | None = None
    while True:
        page = store.within(bbox, filters, 7, after=after)
        if not page:
            break
        pages.append(page)
        after = page[-1].id
    assert [p for page in pages for p in page] == expected
    assert all(len(page) == 7 for page in pages[:-1])
    # After an id that is not stored, the page starts at the next stored one.
    middle = expected[len(expected) // 2].id
    assert (
        store.within(bbox, filters, 3, after=middle + " ")
        == expected[len(expected) // 2 + 1 : len(expected) // 2 + 4]
    )


def test_keyset_pages_stay_stable_while_providers_come_and_go(store: ProviderStore) -> None:
    city = [company(i, LON + i * 1e-4, LAT) for i in range(30)]
    store.upsert(city)
    first = store.within(None, Filters(), 10)
    # Between two pages, a provider of the first page leaves and new ones arrive before
    # and after the cursor: the next page neither repeats nor skips what was there.
    store.upsert([dataclasses.replace(first[0], active=False), company(500, LON, LAT)])
    second = store.within(None, Filters(), 10, after=first[-1].id)
    expected = sorted([*city, company(500, LON, LAT)], key=lambda p: p.id)
    expected = [p for p in expected if p.id > first[-1].id][:10]
    assert second == expected

"""gaps.supply: the same hard filters as the nearest-match API, and capacity."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gaps.supply import SUPPLY_COLUMNS, providers_frame, suitable_supply
from providers.model import Category, Grade, Kind, Precision, Provider
from providers.store import Filters
from tests.helpers import company, station


def _population() -> list[Provider]:
    rng = np.random.default_rng(11)
    out: list[Provider] = []
    grades = list(Grade)
    cats = list(Category)
    for n in range(120):
        lon, lat = 113.2 + rng.random() * 0.2, 23.0 + rng.random() * 0.2
        chosen = [c for c in cats if rng.random() < 0.5] or [cats[n % 4]]
        practitioners = int(rng.integers(0, 30))
        certified = int(rng.integers(0, practitioners + 1))
        precision = [Precision.EXACT, Precision.STREET, Precision.DISTRICT][n % 3]
        common: dict[str, Any] = {
            "categories": chosen,
            "practitioners": practitioners,
            "certified_practitioners": certified,
            "geocode_precision": precision,
            "active": n % 7 != 0,
        }
        if n % 2:
            out.append(company(n, lon, lat, grade=grades[n % 5], **common))
        else:
            out.append(station(n, lon, lat, **common))
    return out


FILTER_CASES = list(
    itertools.product(
        [None, Grade.A3, Grade.A5], [False, True], [None, Kind.COMPANY, Kind.STATION], [False, True]
    )
)


@pytest.mark.parametrize(("min_grade", "certified_only", "kind", "approx"), FILTER_CASES)
def test_same_providers_as_the_api_filters(
    min_grade: Grade | None, certified_only: bool, kind: Kind | None, approx: bool
) -> None:
    providers = _population()
    supply = suitable_supply(
        providers,
        min_grade=min_grade,
        certified_only=certified_only,
        kind=kind,
        include_approximate=approx,
    )
    assert tuple(supply.columns) == SUPPLY_COLUMNS
    for category in Category:
        oracle = Filters(
            category=category,
            min_grade=min_grade,
            kind=kind,
            certified_only=certified_only,
            include_approximate=approx,
        )
        want = [p.id for p in providers if oracle.admits(p)]
        got = supply.loc[supply["category"] == category.value, "id"].tolist()
        assert got == want


def test_the_population_exercises_every_filter() -> None:
    # Guards the test above from passing vacuously.
    providers = _population()
    everything = suitable_supply(providers, include_approximate=True)
    strict = suitable_supply(providers, min_grade=Grade.A4, certified_only=True)
    assert len(everything) > len(strict) > 0


def test_capacity_is_practitioners_at_least_one_or_a_count() -> None:
    providers = [
        station(1, 113.3, 23.1, practitioners=0, certified_practitioners=0),
        station(2, 113.3, 23.1, practitioners=25, certified_practitioners=3),
    ]
    by_staff = suitable_supply(providers, [Category.ELDERLY_CARE])
    assert by_staff["capacity"].tolist() == [1.0, 25.0]
    assert by_staff["practitioners"].tolist() == [0, 25]
    by_count = suitable_supply(providers, [Category.ELDERLY_CARE], capacity="count")
    assert by_count["capacity"].tolist() == [1.0, 1.0]


def test_a_plain_table_with_a_categories_column_works_like_provider_objects() -> None:
    providers = _population()
    frame = providers_frame(providers)
    exported = frame.drop(columns=[c.value for c in Category]).assign(
        categories=pd.Series(
            [sorted(c.value for c in p.categories) for p in providers], dtype=object
        )
    )
    pd.testing.assert_frame_equal(
        suitable_supply(exported, min_grade=Grade.A3),
        suitable_supply(providers, min_grade=Grade.A3),
    )


def test_minimal_table_defaults_to_active_exact_ungraded() -> None:
    table = pd.DataFrame(
        {"id": ["x"], "kind": ["station"], "lon": [113.3], "lat": [23.1], "nursing": [True]}
    )
    supply = suitable_supply(table, [Category.NURSING], min_grade=Grade.A5)
    assert supply["id"].tolist() == ["x"]
    assert supply["capacity"].tolist() == [1.0]


def test_providers_frame_columns() -> None:
    p = company(7, 113.3, 23.1, grade=Grade.A4, categories=[Category.NURSING])
    row = providers_frame([p, dataclasses.replace(p, active=False)]).iloc[0]
    assert row["grade_rank"] == 4.0
    assert bool(row["nursing"]) and not bool(row["housekeeping"])
    assert row["kind"] == "company"

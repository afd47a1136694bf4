"""The store contract, run unchanged against the embedded and the PostGIS store."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from providers.model import Category, Grade, Kind, Precision
from providers.scoring import ScoreSpec, Weights
from providers.store import (
    Filters,
    ProviderStore,
    StoreUnavailableError,
    UpsertCounts,
    id_digest,
)
from providers.stores.embedded import EmbeddedStore
from tests.helpers import CANTON_TOWER, company, station

LON, LAT = CANTON_TOWER
# About 111 m per 0.001 degree of latitude.
STEP = 0.001


def test_empty_store_answers_nothing(store: ProviderStore) -> None:
    assert store.count() == 0
    assert store.nearest(LON, LAT, Filters(), 5) == []
    assert store.get("co-missing") is None


def test_upsert_inserts_then_is_idempotent_then_updates(store: ProviderStore) -> None:
    a, b = company(1, LON, LAT + STEP), station(2, LON, LAT + 2 * STEP)
    assert store.upsert([a, b]) == UpsertCounts(inserted=2)
    version = store.data_version()

    assert store.upsert([a, b]) == UpsertCounts(unchanged=2)
    assert store.data_version() == version, "a no-op upsert must not invalidate caches"

    moved = dataclasses.replace(a, lat=LAT + 3 * STEP, name="改名家政公司")
    assert store.upsert([moved, b]) == UpsertCounts(updated=1, unchanged=1)
    assert store.data_version() > version
    assert store.get(a.id) == moved
    assert store.count() == 2

    noted = dataclasses.replace(b, extra={"备注": "新增"})
    assert store.upsert([noted]) == UpsertCounts(updated=1)
    got = store.get(b.id)
    assert got is not None and got.extra == {"备注": "新增"}


def test_duplicate_ids_in_one_upsert_last_wins(store: ProviderStore) -> None:
    first = company(1, LON, LAT)
    second = dataclasses.replace(first, name="后来的名字")
    counts = store.upsert([first, second])
    assert counts.inserted == 1
    assert counts.inserted + counts.updated + counts.unchanged == 2
    stored = store.get(first.id)
    assert stored is not None and stored.name == "后来的名字"


def test_round_trip_keeps_every_field(store: ProviderStore) -> None:
    p = company(
        7,
        113.123456789012,
        23.987654321098,
        grade=Grade.A5,
        categories=(Category.NURSING, Category.MATERNAL_INFANT),
        address="海珠区阅江西路222号",
        street="赤岗街道",
        community="广州塔社区",
        opening_hours="24小时",
        geocode_precision=Precision.STREET,
        extra={"原始列": "值", "dataset": "x"},
        source_lon=113.1289,
        source_lat=23.985,
    )
    store.upsert([p])
    assert store.get(p.id) == p
    got = store.get(p.id)
    assert got is not None and got.extra == p.extra


def test_nearest_orders_by_metres_and_reports_them(store: ProviderStore) -> None:
    # East-west degrees are shorter than north-south ones at 23°N (cos 23° = 0.92):
    # by degrees the north provider would come first, by metres the east one does.
    east = company(2, LON + 0.00105, LAT)  # ~107 m
    north = company(1, LON, LAT + 0.00100)  # ~111 m (and the smaller id)
    store.upsert([north, east])
    got = store.nearest(LON, LAT, Filters(), 2)
    assert [c.provider.id for c in got] == [east.id, north.id]
    assert got[0].distance_m == pytest.approx(107.6, abs=0.5)
    assert got[1].distance_m == pytest.approx(110.7, abs=0.5)


def test_ties_are_broken_by_id(store: ProviderStore) -> None:
    twins = [company(n, LON + STEP, LAT) for n in (5, 3, 9)]
    store.upsert(twins)
    got = store.nearest(LON, LAT, Filters(), 3)
    assert [c.provider.id for c in got] == sorted(p.id for p in twins)


def test_category_filter(store: ProviderStore) -> None:
    near = company(1, LON, LAT + STEP, categories=(Category.HOUSEKEEPING,))
    far = company(2, LON, LAT + 5 * STEP, categories=(Category.NURSING, Category.HOUSEKEEPING))
    store.upsert([near, far])
    got = store.nearest(LON, LAT, Filters(category=Category.NURSING), 5)
    assert [c.provider.id for c in got] == [far.id]


def test_min_grade_keeps_stations_unless_companies_are_asked_for(store: ProviderStore) -> None:
    low = company(1, LON, LAT + STEP, grade=Grade.A2)
    high = company(2, LON, LAT + 2 * STEP, grade=Grade.A4)
    top = company(3, LON, LAT + 3 * STEP, grade=Grade.A5)
    st = station(4, LON, LAT + 4 * STEP, categories=(Category.HOUSEKEEPING,))
    store.upsert([low, high, top, st])

    got = store.nearest(LON, LAT, Filters(min_grade=Grade.A4), 10)
    assert [c.provider.id for c in got] == [high.id, top.id, st.id]

    got = store.nearest(LON, LAT, Filters(min_grade=Grade.A4, kind=Kind.COMPANY), 10)
    assert [c.provider.id for c in got] == [high.id, top.id]

    got = store.nearest(LON, LAT, Filters(kind=Kind.STATION), 10)
    assert [c.provider.id for c in got] == [st.id]


def test_certified_only(store: ProviderStore) -> None:
    none = company(1, LON, LAT + STEP, certified_practitioners=0)
    some = company(2, LON, LAT + 2 * STEP, certified_practitioners=1)
    store.upsert([none, some])
    got = store.nearest(LON, LAT, Filters(certified_only=True), 10)
    assert [c.provider.id for c in got] == [some.id]


def test_radius(store: ProviderStore) -> None:
    inside = company(1, LON, LAT + 4 * STEP)  # ~443 m
    outside = company(2, LON, LAT + 6 * STEP)  # ~664 m
    store.upsert([inside, outside])
    got = store.nearest(LON, LAT, Filters(radius_m=500), 10)
    assert [c.provider.id for c in got] == [inside.id]
    assert store.nearest(LON, LAT, Filters(radius_m=100), 10) == []


def test_district_precision_is_left_out_unless_asked(store: ProviderStore) -> None:
    approx = company(1, LON, LAT + STEP, geocode_precision=Precision.DISTRICT)
    street = company(2, LON, LAT + 2 * STEP, geocode_precision=Precision.STREET)
    store.upsert([approx, street])
    assert [c.provider.id for c in store.nearest(LON, LAT, Filters(), 10)] == [street.id]
    got = store.nearest(LON, LAT, Filters(include_approximate=True), 10)
    assert [c.provider.id for c in got] == [approx.id, street.id]


def test_inactive_providers_are_never_nearest_but_still_found_by_id(
    store: ProviderStore,
) -> None:
    gone = dataclasses.replace(company(1, LON, LAT + STEP), active=False)
    here = company(2, LON, LAT + 2 * STEP)
    store.upsert([gone, here])
    assert [c.provider.id for c in store.nearest(LON, LAT, Filters(), 10)] == [here.id]
    assert store.get(gone.id) == gone


def test_selective_filter_far_from_the_query_still_finds_the_match(
    store: ProviderStore,
) -> None:
    # 300 near providers fail the filter; the only match is 20 km away. The store must
    # keep looking past the first fetch instead of answering "nothing".
    crowd = [company(n, LON + (n % 20) * STEP, LAT + (n // 20) * STEP) for n in range(300)]
    lone = company(999, LON + 0.2, LAT, grade=Grade.A5, categories=(Category.NURSING,))
    store.upsert([*crowd, lone])
    got = store.nearest(LON, LAT, Filters(category=Category.NURSING), 3)
    assert [c.provider.id for c in got] == [lone.id]
    got = store.nearest(LON, LAT, Filters(min_grade=Grade.A5, kind=Kind.COMPANY), 3)
    assert [c.provider.id for c in got] == [lone.id]
    assert got[0].distance_m == pytest.approx(20_480, rel=0.01)


def test_writes_are_seen_by_the_next_query(store: ProviderStore) -> None:
    store.upsert([company(1, LON, LAT + 5 * STEP)])
    assert len(store.nearest(LON, LAT, Filters(), 5)) == 1
    closer = company(2, LON, LAT + STEP)
    store.upsert([closer])
    assert store.nearest(LON, LAT, Filters(), 1)[0].provider.id == closer.id


def test_warming_builds_indexes_that_later_writes_still_replace(store: ProviderStore) -> None:
    """The app warms the read indexes at start-up: warm ones must not outlive a write."""
    spec = ScoreSpec.of(Weights(), 2_000.0)
    store.warm()  # an empty store warms too
    store.upsert([company(1, LON, LAT + 5 * STEP)])
    store.warm()
    assert [c.provider.id for c in store.best_by_score(LON, LAT, Filters(), 5, spec)] == [
        company(1, LON, LAT).id
    ]
    closer = company(2, LON, LAT + STEP)
    store.upsert([closer])
    best = store.best_by_score(LON, LAT, Filters(), 5, spec)
    assert [c.provider.id for c in best] == [closer.id, company(1, LON, LAT).id]
    assert [c.provider.id for c in store.nearest(LON, LAT, Filters(), 1)] == [closer.id]


def test_an_update_is_in_the_next_answer(store: ProviderStore) -> None:
    before = company(1, LON, LAT + STEP, grade=Grade.A2)
    store.upsert([before])
    assert store.nearest(LON, LAT, Filters(), 1)[0].provider == before
    after = dataclasses.replace(before, credit_grade=Grade.A5, name="升级后的公司")
    store.upsert([after])
    assert store.nearest(LON, LAT, Filters(), 1)[0].provider == after
    assert store.nearest(LON, LAT, Filters(min_grade=Grade.A5), 1)[0].provider == after
    store.upsert([before])
    assert store.nearest(LON, LAT, Filters(), 1)[0].provider == before


def test_delete_all(store: ProviderStore) -> None:
    store.upsert([company(1, LON, LAT), station(2, LON, LAT)])
    version = store.data_version()
    assert store.delete_all() == 2
    assert store.count() == 0
    assert store.data_version() > version
    assert store.nearest(LON, LAT, Filters(), 5) == []


def test_check_passes_on_a_healthy_store(store: ProviderStore) -> None:
    store.check()


def test_embedded_store_refuses_a_file_of_another_schema_version(tmp_path: Path) -> None:
    EmbeddedStore(tmp_path).close()
    with sqlite3.connect(tmp_path / "providers.sqlite") as conn:
        conn.execute("UPDATE meta SET value = 1 WHERE key = 'schema_version'")
    with pytest.raises(StoreUnavailableError, match="schema version 1, this program needs"):
        EmbeddedStore(tmp_path)


def test_snapshot_upsert_deactivates_the_sources_missing_providers(store: ProviderStore) -> None:
    a, b, c = (
        dataclasses.replace(company(n, LON, LAT + n * STEP), source="区局2026") for n in (1, 2, 3)
    )
    other = dataclasses.replace(company(4, LON, LAT), source="别的来源")
    store.upsert([a, b, c, other])
    version = store.data_version()

    counts = store.upsert([a, c], replace_source="区局2026")
    assert counts == UpsertCounts(unchanged=2, deactivated=1)
    assert store.data_version() > version
    gone = store.get(b.id)
    assert gone is not None and not gone.active  # deactivated, never deleted
    got = {cand.provider.id for cand in store.nearest(LON, LAT, Filters(), 10)}
    assert got == {a.id, c.id, other.id}

    # Re-running the same snapshot is a no-op; bringing b back reactivates it.
    assert store.upsert([a, c], replace_source="区局2026") == UpsertCounts(unchanged=2)
    assert store.upsert([a, b, c], replace_source="区局2026") == UpsertCounts(
        updated=1, unchanged=2
    )
    restored = store.get(b.id)
    assert restored is not None and restored.active


def test_open_at_filters_every_read_on_the_same_schedules(store: ProviderStore) -> None:
    """Issue 16: nearest, best-by-score, the map's box and its counts all keep exactly the
    providers open at the time asked (a public holiday, a make-up working Saturday, past
    midnight), with unknown hours left out unless asked for."""
    import datetime as dt

    from providers.store import BBox, TallyBy

    lon, lat = CANTON_TOWER
    hours = {
        "office": "周一至周五 9:00-18:00，节假日休息",
        "literal": "周一至周五 9:00-18:00",
        "night": "20:00-02:00",
        "always": "24小时",
        "unknown": "电话预约",
    }
    providers = [
        company(i, lon + 0.001 * i, lat, opening_hours=text)
        for i, text in enumerate(hours.values(), start=1)
    ]
    store.upsert(providers)
    ids = {name: p.id for name, p in zip(hours, providers, strict=True)}
    box = BBox(lon - 0.1, lat - 0.1, lon + 0.1, lat + 0.1)
    spec = ScoreSpec.of(Weights(), 2_000.0)
    cases = [
        (dt.datetime(2026, 10, 1, 10, 0), False, {"literal", "always"}),  # National Day
        (dt.datetime(2026, 10, 10, 10, 0), False, {"office", "always"}),  # 调休 Saturday
        (dt.datetime(2026, 12, 5, 1, 30), False, {"night", "always"}),  # Saturday 01:30
        (dt.datetime(2026, 12, 5, 1, 30), True, {"night", "always", "unknown"}),
        (dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.UTC), False, {"literal", "office", "always"}),
    ]
    for at, unknown, open_names in cases:
        f = Filters(open_at=at, include_unknown_hours=unknown)
        want = {ids[name] for name in open_names}
        assert {c.provider.id for c in store.nearest(lon, lat, f, 10)} == want, at
        assert {c.provider.id for c in store.best_by_score(lon, lat, f, 10, spec)} == want, at
        assert {p.id for p in store.within(box, f, 10)} == want, at
        assert sum(store.tally(f, TallyBy.DISTRICT, box).values()) == len(want), at
    # One nearest: the nearest open one, not the nearest.
    night = Filters(open_at=dt.datetime(2026, 12, 5, 1, 30))
    assert store.nearest(lon, lat, night, 1)[0].provider.id == ids["night"]


def test_verified_at_moves_on_with_every_import_that_holds_the_record(
    store: ProviderStore,
) -> None:
    first, later = dt.date(2026, 10, 9), dt.date(2026, 11, 30)
    a = dataclasses.replace(company(1, LON, LAT), verified_at=first)
    b = dataclasses.replace(station(2, LON, LAT + STEP), verified_at=first)
    assert store.upsert([a, b]) == UpsertCounts(inserted=2)
    for read in (store.get(a.id), *(c.provider for c in store.nearest(LON, LAT, Filters(), 5))):
        assert read is not None and read.verified_at == first
    assert [p.verified_at for p in store.within(None, Filters(), 10)] == [first, first]

    # The same content again, verified later: unchanged, but dated anew (and seen: the
    # data version moves on, so cached pages and open-data files are rebuilt).
    version = store.data_version()
    counts = store.upsert([dataclasses.replace(a, verified_at=later), b])
    assert counts == UpsertCounts(unchanged=2, reverified=1)
    assert store.data_version() > version
    got = store.get(a.id)
    assert got is not None and got.verified_at == later
    assert {
        c.provider.id: c.provider.verified_at for c in store.nearest(LON, LAT, Filters(), 5)
    } == {
        a.id: later,
        b.id: first,
    }

    # Neither an undated write (an operator's upsert, an undo) nor an older date it is
    # not given changes the date; a changed record takes the date it comes with.
    version = store.data_version()
    assert store.upsert([dataclasses.replace(a, verified_at=None)]) == UpsertCounts(unchanged=1)
    assert store.data_version() == version
    renamed = dataclasses.replace(b, name="改名服务站", verified_at=None)
    assert store.upsert([renamed]) == UpsertCounts(updated=1)
    kept = store.get(b.id)
    assert kept is not None and (kept.name, kept.verified_at) == ("改名服务站", first)
    moved = dataclasses.replace(renamed, lat=LAT + 2 * STEP, verified_at=later)
    assert store.upsert([moved]) == UpsertCounts(updated=1)
    dated = store.get(b.id)
    assert dated is not None and dated.verified_at == later


def test_verified_at_is_not_part_of_a_records_content() -> None:
    a = company(1, LON, LAT)
    assert dataclasses.replace(a, verified_at=dt.date(2026, 11, 30)) == a


def test_with_id_digest_finds_the_active_providers_of_a_digest(store: ProviderStore) -> None:
    a, b = company(1, LON, LAT), station(2, LON, LAT + STEP)
    gone = dataclasses.replace(station(3, LON, LAT), active=False)
    store.upsert([a, b, gone])
    assert store.with_id_digest(id_digest(a.id)) == [a]
    assert store.with_id_digest(id_digest(b.id)) == [b]
    assert store.with_id_digest(id_digest(gone.id)) == []  # not listed
    for junk in ("", "zz", "0" * 16, id_digest(a.id)[:15], id_digest(a.id) + "0"):
        assert store.with_id_digest(junk) == []
    # Still right after a write replaces the snapshot (the embedded store's index of it).
    renamed = dataclasses.replace(a, name="改名家政公司")
    store.upsert([renamed])
    found = store.with_id_digest(id_digest(a.id))
    assert [p.name for p in found] == ["改名家政公司"]

"""The import history's part of the store contract (providers.history), run unchanged
against the embedded and the PostGIS store."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from providers.history import (
    Action,
    DeactivationGuard,
    ImportFile,
    ImportRecord,
    TooManyDeactivationsError,
)
from providers.model import Provider
from providers.store import ProviderStore
from providers.stores.rows import ProviderBatches, RowBatch
from tests.helpers import CANTON_TOWER, company, station

LON, LAT = CANTON_TOWER
STEP = 0.001
AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _record(mode: str = "append", **kwargs: object) -> ImportRecord:
    return ImportRecord(
        mode=mode,
        at=AT,
        source="registry",
        files=(ImportFile("registry.csv", "ab" * 32),),
        **kwargs,  # type: ignore[arg-type]
    )


def _sourced(providers: list[Provider]) -> list[Provider]:
    return [dataclasses.replace(p, source="registry") for p in providers]


def test_an_import_is_listed_with_its_file_mode_and_counts(store: ProviderStore) -> None:
    a, b = _sourced([company(1, LON, LAT), station(2, LON, LAT + STEP)])
    outcome = store.record_import([a, b], _record(summary=lambda: {"rows_read": 2}))
    assert outcome.import_id is not None and outcome.inserted == 2

    (entry,) = store.imports()
    assert entry.id == outcome.import_id
    assert (entry.mode, entry.source, entry.at) == ("append", "registry", AT)
    assert entry.files == (ImportFile("registry.csv", "ab" * 32),)
    assert entry.counts["inserted"] == 2 and entry.counts["rows_read"] == 2
    assert entry.undo_of is None and entry.undone_by is None
    assert store.import_entry(entry.id) == entry
    assert store.import_entry(entry.id + 100) is None
    changes = store.import_changes(entry.id)
    assert [(c.provider_id, c.action, c.before) for c in changes] == [
        (a.id, Action.INSERTED, None),
        (b.id, Action.INSERTED, None),
    ]


def test_every_update_keeps_the_version_before_and_the_fields_that_changed(
    store: ProviderStore,
) -> None:
    a, b = _sourced([company(1, LON, LAT), company(2, LON, LAT + STEP)])
    first = store.record_import([a, b], _record())
    moved = dataclasses.replace(a, lat=LAT + 3 * STEP, name="改名家政公司")
    second = store.record_import([moved, b], _record())
    assert (second.updated, second.unchanged) == (1, 1)
    assert second.import_id is not None and first.import_id is not None
    (change,) = store.import_changes(second.import_id)
    assert change.action is Action.UPDATED
    assert change.before == a  # every field, exactly
    assert set(change.fields) == {"name", "lat"}
    assert store.later_imports(first.import_id) == [second.import_id]
    assert store.later_imports(second.import_id) == []


def test_a_snapshot_records_its_deactivations_and_keeps_what_it_is_told_to(
    store: ProviderStore,
) -> None:
    a, b, c = _sourced([company(1, LON, LAT), company(2, LON, LAT + STEP), station(3, LON, LAT)])
    store.record_import([a, b, c], _record("snapshot"), replace_source="registry")
    batch = RowBatch.of([a])
    batch.kept.append(b.id)  # b's row was rejected, its identity known
    outcome = store.record_import(
        ProviderBatches([batch]), _record("snapshot"), replace_source="registry"
    )
    assert (outcome.deactivated, outcome.kept) == (1, (b.id,))
    stored_b, stored_c = store.get(b.id), store.get(c.id)
    assert stored_b is not None and stored_b.active
    assert stored_c is not None and not stored_c.active
    assert outcome.import_id is not None
    changes = {ch.provider_id: ch for ch in store.import_changes(outcome.import_id)}
    assert changes[b.id].action is Action.KEPT
    assert changes[c.id].action is Action.DEACTIVATED and changes[c.id].before == c
    assert changes[c.id].fields == ("active",)


def test_a_guarded_snapshot_over_its_bound_writes_nothing(store: ProviderStore) -> None:
    many = _sourced([company(i, LON, LAT + i * STEP) for i in range(1, 11)])
    store.record_import(many, _record("snapshot"), replace_source="registry")
    version, listed = store.data_version(), store.imports()
    half = dataclasses.replace(many[0], name="新名字")
    guard = DeactivationGuard(fraction=0.05)  # 5% of 10: at least 1
    with pytest.raises(TooManyDeactivationsError) as refused:
        store.record_import(
            [half, *many[1:5]], _record("snapshot", guard=guard), replace_source="registry"
        )
    assert refused.value.count == 5 and refused.value.bound == 1
    assert refused.value.first_ids == tuple(p.id for p in many[5:])
    assert store.data_version() == version and store.imports() == listed
    stored = store.get(half.id)
    assert stored is not None and stored.name == many[0].name
    assert all(p.active for p in map(store.get, (q.id for q in many)) if p is not None)

    allowed = dataclasses.replace(guard, allow=5)
    outcome = store.record_import(
        [half, *many[1:5]], _record("snapshot", guard=allowed), replace_source="registry"
    )
    assert (outcome.updated, outcome.deactivated) == (1, 5)


def test_a_dry_run_answers_the_changes_and_writes_nothing(store: ProviderStore) -> None:
    a, b = _sourced([company(1, LON, LAT), company(2, LON, LAT + STEP)])
    store.record_import([a, b], _record("snapshot"), replace_source="registry")
    version, listed = store.data_version(), store.imports()
    renamed = dataclasses.replace(a, name="新名字")
    new = _sourced([company(3, LON, LAT)])[0]
    outcome = store.record_import(
        [renamed, new], _record("snapshot", dry_run=True), replace_source="registry"
    )
    assert outcome.import_id is None
    assert [(c.provider_id, c.action, c.fields) for c in outcome.changes] == [
        (a.id, Action.UPDATED, ("name",)),
        (b.id, Action.DEACTIVATED, ("active",)),
        (new.id, Action.INSERTED, ()),
    ]
    assert store.data_version() == version and store.imports() == listed
    assert store.get(a.id) == a and store.get(new.id) is None


def test_delete_keeps_the_version_and_later_imports_skip_undone_ones(
    store: ProviderStore,
) -> None:
    a, b = _sourced([company(1, LON, LAT), company(2, LON, LAT + STEP)])
    first = store.record_import([a], _record())
    second = store.record_import([b, dataclasses.replace(a, name="x")], _record())
    assert first.import_id is not None and second.import_id is not None
    assert store.later_imports(first.import_id) == [second.import_id]
    undo = store.record_import([a], _record("undo", undo_of=second.import_id, delete=(b.id,)))
    assert (undo.updated, undo.deleted) == (1, 1)
    assert store.get(b.id) is None and store.get(a.id) == a
    assert undo.import_id is not None
    entry = store.import_entry(second.import_id)
    assert entry is not None and entry.undone_by == undo.import_id
    assert store.later_imports(first.import_id) == []
    deleted = {c.provider_id: c for c in store.import_changes(undo.import_id)}[b.id]
    assert deleted.action is Action.DELETED and deleted.before == b
    assert [e.id for e in store.imports()] == [undo.import_id, second.import_id, first.import_id]


def test_plain_upserts_are_not_recorded(store: ProviderStore) -> None:
    store.upsert([company(1, LON, LAT)])
    assert store.imports() == []

"""Query plans on a real PostGIS: the hot path walks the right index, JIT is off.

20,000 demo providers and ANALYZE make the planner's choices the ones it makes in
production-sized tables; the plans themselves are printed (``pytest -s``) and quoted in
docs/architecture.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from psycopg import sql as pg_sql

from geo.geodesy import degree_box
from geo.package_data import REFERENCE_DIR
from jzmap.application.demo import generate_demo
from providers.model import Category, Grade, Kind
from providers.store import Filters
from providers.stores.postgis import PostgisStore, _nearest_sql, _Shape
from tests.helpers import CANTON_TOWER, postgis_store_at

LON, LAT = CANTON_TOWER


@pytest.fixture(scope="module")
def big_store(postgis_migrated: str) -> Iterator[PostgisStore]:
    with postgis_store_at(postgis_migrated) as store:
        store.delete_all()
        for chunk in generate_demo(REFERENCE_DIR, companies=20_000, seed=7):
            store.upsert(chunk)
        with store.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE providers"))
        yield store
        store.delete_all()


def _generic_plan(store: PostgisStore, filters: Filters, limit: int = 12) -> str:
    """The plan the service really runs: the statement prepared, under a generic plan."""
    sql = _nearest_sql(_Shape.of(filters), limit)
    params: dict[str, object] = {
        "lon": LON,
        "lat": LAT,
        "radius_m": filters.radius_m,
        "min_rank": 3,
    }
    if filters.radius_m is not None:
        box = degree_box(LON, LAT, filters.radius_m)
        params.update(zip(("r_west", "r_south", "r_east", "r_north"), box, strict=True))
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))
    with store.engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute(sql, params, prepare=True)
        (name,) = driver.execute(
            "SELECT name FROM pg_prepared_statements ORDER BY prepare_time DESC LIMIT 1"
        ).fetchone() or ("",)
        # EXECUTE takes its arguments as literals (a utility statement has no parameters).
        statement = pg_sql.SQL("EXPLAIN EXECUTE {}({})").format(
            pg_sql.Identifier(name),
            pg_sql.SQL(", ").join(pg_sql.Literal(params[n]) for n in names),
        )
        rows = driver.execute(statement)
        plan = "\n".join(row[0] for row in rows)
    print(plan)
    return plan


@pytest.mark.parametrize("category", list(Category))
def test_filtered_knn_walks_the_category_partial_index(
    big_store: PostgisStore, category: Category
) -> None:
    filters = Filters(category=category, min_grade=Grade.A3, certified_only=True)
    plan = _generic_plan(big_store, filters)
    assert f"Index Scan using providers_geom_{category.value} on providers" in plan
    assert "Order By: (geom <-> st_setsrid(st_makepoint($1, $2), 4326))" in plan
    assert "Seq Scan on providers" not in plan and "Sort" not in plan


def test_knn_with_radius_uses_the_index_for_both(big_store: PostgisStore) -> None:
    plan = _generic_plan(big_store, Filters(category=Category.NURSING, radius_m=3000.0))
    assert "Index Scan using providers_geom_nursing on providers" in plan
    assert "Index Cond: (geom && st_makeenvelope(" in plan
    assert "Seq Scan on providers" not in plan


def test_unfiltered_knn_walks_the_active_index(big_store: PostgisStore) -> None:
    plan = _generic_plan(big_store, Filters())
    assert "Index Scan using providers_geom_active on providers" in plan


def test_station_knn_walks_the_station_index(big_store: PostgisStore) -> None:
    # 177 stations among a million companies: walking the companies took seconds.
    plan = _generic_plan(big_store, Filters(kind=Kind.STATION))
    assert "Index Scan using providers_geom_station on providers" in plan
    assert "Seq Scan on providers" not in plan and "Sort" not in plan


@pytest.mark.parametrize(
    ("where", "index"),
    [
        ("kind = 'station'", "providers_kind"),
        ("grade_rank >= 5", "providers_grade_rank"),
        ("categories @> ARRAY['nursing']::text[]", "providers_categories"),
        ("h3_r8 = 613349287235551231", "providers_h3_r8"),
    ],
)
def test_category_grade_kind_are_indexed(big_store: PostgisStore, where: str, index: str) -> None:
    # Whether the planner prefers the index depends on selectivity; what must hold is
    # that an index serves the predicate, so a scan of the whole table is never forced.
    with big_store.engine.connect() as conn:
        conn.execute(sa.text("SET enable_seqscan = off"))
        plan = "\n".join(
            r[0] for r in conn.execute(sa.text(f"EXPLAIN SELECT id FROM providers WHERE {where}"))
        )
    print(plan)
    assert index in plan
    assert "Seq Scan" not in plan


def test_service_sessions_run_without_jit(big_store: PostgisStore) -> None:
    with big_store.engine.connect() as conn:
        assert conn.execute(sa.text("SHOW jit")).scalar_one() == "off"

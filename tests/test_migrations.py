"""Alembic migrations keep the data of a database created by an earlier revision."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from providers.store import Filters
from providers.stores.postgis import PostgisStore, make_engine, upgrade_schema


@pytest.fixture
def fresh_url(postgis_url: str) -> Iterator[str]:
    name = f"jzmap_mig_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgis_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(postgis_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_0001_data_survives_the_upgrade_to_head(fresh_url: str) -> None:
    engine = make_engine(fresh_url)
    assert upgrade_schema(engine, "0001") == "0001"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                """
                INSERT INTO providers (id, kind, name, categories, geom, grade_rank, address,
                    district, street, community, phone, opening_hours, practitioners,
                    certified_practitioners, source_crs, geocode_precision, active, extra,
                    h3_r7, h3_r8, h3_r9)
                VALUES ('st-1', 'station', '老服务站', ARRAY['elderly_care'],
                    ST_SetSRID(ST_MakePoint(113.3245, 23.1064), 4326), NULL, '', '海珠区', '',
                    '', '', '', 3, 1, 'wgs84', 'exact', true, '{}', 0, 0, 0)
                """
            )
        )
    assert upgrade_schema(engine) == "0004"
    engine.dispose()
    store = PostgisStore.open(fresh_url)
    store.ensure_schema()
    old = store.get("st-1")
    assert old is not None and (old.geocoder, old.source) == ("record", "")
    assert [c.provider.id for c in store.nearest(113.3245, 23.1064, Filters(), 1)] == ["st-1"]
    store.close()

"""Alembic migrations keep the data of a database created by an earlier revision."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from providers.store import Filters
from providers.stores.engine import make_engine, upgrade_schema
from tests.helpers import postgis_backend_at


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
    assert upgrade_schema(engine) == "0013"
    engine.dispose()
    with postgis_backend_at(fresh_url) as backend:  # which checks the schema is current
        old = backend.store.get("st-1")
        assert old is not None and (old.geocoder, old.source) == ("record", "")
        assert old.verified_at is None  # dated by its next import
        nearest = backend.store.nearest(113.3245, 23.1064, Filters(), 1)
        assert [c.provider.id for c in nearest] == ["st-1"]


def test_0004_practitioners_get_their_certified_periods(fresh_url: str) -> None:
    from datetime import date

    from providers.practitioners import (
        CertifiedPeriod,
        CheckRecord,
        CheckStatus,
        CompanyCounts,
        Practitioner,
        certified_period,
        id_number_check_char,
    )
    from providers.registry import practitioner_to_json

    ok = CheckRecord(CheckStatus.PASSED, date(2025, 1, 6))
    health = CheckRecord(CheckStatus.PASSED, date(2025, 1, 6), date(2026, 1, 5))
    first17 = "44010519850101001"
    people = [
        Practitioner(
            f"pr-{n}",
            "张三华",
            first17 + id_number_check_char(first17),
            company_id="co-1",
            real_name=ok,
            pre_job_training=ok,
            no_criminal_record=ok,
            health_certificate=health,
            vocational_certificate=ok if n == 1 else CheckRecord(),
            certificate_code=f"GZ-2025-{n:06d}",
            certificate_issued_on=date(2025, 1, 10),
        )
        for n in (1, 2)
    ]
    engine = make_engine(fresh_url)
    assert upgrade_schema(engine, "0004") == "0004"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO practitioners (id, company_id, certificate_code, body)"
                " VALUES (:id, 'co-1', :code, CAST(:body AS jsonb))"
            ),
            [
                {"id": p.id, "code": p.certificate_code, "body": practitioner_to_json(p)}
                for p in people
            ],
        )
    assert upgrade_schema(engine) == "0013"
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, certified_from, certified_until FROM practitioners ORDER BY id")
        ).all()
    engine.dispose()
    assert certified_period(people[0]) == CertifiedPeriod(date(2025, 1, 10), date(2026, 1, 5))
    assert [tuple(r) for r in rows] == [
        ("pr-1", date(2025, 1, 10), date(2026, 1, 5)),
        ("pr-2", None, None),
    ]
    with postgis_backend_at(fresh_url) as backend:
        counts = backend.registry.company_counts(date(2025, 6, 1))
    assert counts == {"co-1": CompanyCounts(2, 1)}

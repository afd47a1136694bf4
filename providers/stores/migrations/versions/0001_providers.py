"""Providers table: point geometry, H3 cells, and the indexes nearest-match needs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration must not change when the model later does.
CATEGORIES = ("elderly_care", "housekeeping", "maternal_infant", "nursing")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "providers",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("categories", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("credit_code", sa.Text, unique=True),
        sa.Column("credit_grade", sa.Text),
        sa.Column("grade_rank", sa.SmallInteger),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("district", sa.Text, nullable=False),
        sa.Column("street", sa.Text, nullable=False),
        sa.Column("community", sa.Text, nullable=False),
        sa.Column("phone", sa.Text, nullable=False),
        sa.Column("opening_hours", sa.Text, nullable=False),
        sa.Column("practitioners", sa.Integer, nullable=False),
        sa.Column("certified_practitioners", sa.Integer, nullable=False),
        sa.Column("source_crs", sa.Text, nullable=False),
        sa.Column("source_lon", sa.Float),
        sa.Column("source_lat", sa.Float),
        sa.Column("geocode_precision", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("extra", postgresql.JSONB, nullable=False),
        sa.Column("h3_r7", sa.BigInteger, nullable=False),
        sa.Column("h3_r8", sa.BigInteger, nullable=False),
        sa.Column("h3_r9", sa.BigInteger, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("kind IN ('company', 'station')", name="providers_kind_check"),
        sa.CheckConstraint(
            "(kind = 'company') = (grade_rank IS NOT NULL)", name="providers_grade_check"
        ),
        sa.CheckConstraint(
            "geocode_precision IN ('exact', 'street', 'district')",
            name="providers_precision_check",
        ),
        sa.CheckConstraint(
            "certified_practitioners BETWEEN 0 AND practitioners", name="providers_certified_check"
        ),
    )
    # Metre-true KNN: ORDER BY geom::geography <-> point walks a geography GiST index.
    # One partial index per category keeps a category-filtered KNN scan from wading
    # through providers of other categories; the plain one serves unfiltered queries.
    op.execute(
        "CREATE INDEX providers_geog_active ON providers USING gist ((geom::geography)) "
        "WHERE active"
    )
    for category in CATEGORIES:
        op.execute(
            f"CREATE INDEX providers_geog_{category} ON providers "
            f"USING gist ((geom::geography)) "
            f"WHERE active AND categories @> ARRAY['{category}']::text[]"
        )
    # Planar index for bounding-box queries (map viewports).
    op.execute("CREATE INDEX providers_geom ON providers USING gist (geom)")
    op.execute("CREATE INDEX providers_categories ON providers USING gin (categories)")
    for column in ("kind", "grade_rank", "district", "h3_r7", "h3_r8", "h3_r9"):
        op.create_index(f"providers_{column}", "providers", [column])
    op.create_table(
        "jzmap_meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO jzmap_meta VALUES ('data_version', 0)")


def downgrade() -> None:
    op.drop_table("jzmap_meta")
    op.drop_table("providers")

"""The practitioners registry: private records, one row per practitioner.

A new table only. Personal fields live in ``body`` (JSONB); the columns beside it are the
keys the registry looks up by. Certificate codes are unique (a household's lookup must
name one practitioner).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "practitioners",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("company_id", sa.Text),
        sa.Column("certificate_code", sa.Text, unique=True),
        sa.Column("body", postgresql.JSONB, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("practitioners_company", "practitioners", ["company_id"])


def downgrade() -> None:
    op.drop_table("practitioners")

"""Embed origins: the web origins an operator allowed to frame the widget and call the
API from a browser (``jzmap embed-origins add``, ``POST /v1/admin/embed-origins``), beside
the ones configured in ``JZMAP_EMBED_ORIGINS``.

A new table only; every worker re-reads it every couple of seconds.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "embed_origins",
        sa.Column("origin", sa.Text, primary_key=True),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column(
            "added_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("embed_origins")

"""Problem reports: residents' reports that a listing looks wrong (the phone, closed,
moved, other), for operators to check and resolve (``POST /v1/providers/{id}/reports``,
``GET /v1/admin/reports``, ``jzmap reports``).

A new table only. No foreign key to ``providers``: a report outlives a snapshot import
that deactivates or deletes its provider (that may be what the report was about).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "problem_reports",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("provider_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="open"),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.CheckConstraint(
            "kind IN ('wrong_phone', 'closed', 'moved', 'other')", name="problem_reports_kind"
        ),
        sa.CheckConstraint("status IN ('open', 'resolved')", name="problem_reports_status"),
    )
    op.create_index("problem_reports_provider", "problem_reports", ["provider_id", "id"])
    op.create_index("problem_reports_status", "problem_reports", ["status", "id"])


def downgrade() -> None:
    op.drop_table("problem_reports")

"""Dynamic grades: subjects' baselines and current grades, evaluations, the audit trail.

New tables only: the providers table is untouched (a company's current grade reaches it
through the ordinary provider upsert).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grade_subjects",
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("baseline", sa.Text, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grade", sa.Text, nullable=False),
        sa.Column("score_cp", sa.Integer, nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blacklisted_at", sa.DateTime(timezone=True)),
        sa.Column("blacklist_cause", sa.Text),
        sa.CheckConstraint("kind IN ('company', 'practitioner')", name="grade_subjects_kind_check"),
    )
    op.create_table(
        "grade_evaluations",
        # Ids are unique across the whole feed, whatever the subject.
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("subject_kind", sa.Text, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("body", postgresql.JSONB, nullable=False),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint(
            "type IN ('review', 'complaint', 'visit')", name="grade_evaluations_type_check"
        ),
    )
    op.create_index(
        "grade_evaluations_subject", "grade_evaluations", ["subject_kind", "subject_id"]
    )
    op.create_table(
        "grade_changes",
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("subject_kind", sa.Text, nullable=False),
        sa.Column("subject_id", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("grade_before", sa.Text, nullable=False),
        sa.Column("grade_after", sa.Text, nullable=False),
        sa.Column("score_before_cp", sa.Integer, nullable=False),
        sa.Column("score_after_cp", sa.Integer, nullable=False),
        sa.Column("blacklisted", sa.Boolean, nullable=False),
    )
    op.create_index("grade_changes_subject", "grade_changes", ["subject_kind", "subject_id", "seq"])


def downgrade() -> None:
    op.drop_table("grade_changes")
    op.drop_table("grade_evaluations")
    op.drop_table("grade_subjects")

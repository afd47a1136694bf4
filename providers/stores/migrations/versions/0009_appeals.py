"""Grade book: appeals (申诉) are stored beside the evaluations, and audit records are
found by time (the operators' notices).

An appeal is kept in ``grade_evaluations`` with ``type = 'appeal'`` (its id shares the
evaluations' id space, and the grade engine replays it with them), so the type check
admits it; an index on ``grade_changes (at)`` answers "every change since" for
``GET /v1/admin/notices`` without reading the whole trail.

The re-grading under the five-level severity scale is a data migration run by the
application (``jzmap grades regrade``), not here: it needs the grade engine, the registry
and the provider store, and it records an audit entry for every grade it changes.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("grade_evaluations_type_check", "grade_evaluations", type_="check")
    op.create_check_constraint(
        "grade_evaluations_type_check",
        "grade_evaluations",
        "type IN ('review', 'complaint', 'visit', 'appeal')",
    )
    op.create_index("grade_changes_at", "grade_changes", ["at"])


def downgrade() -> None:
    op.drop_index("grade_changes_at", table_name="grade_changes")
    op.execute("DELETE FROM grade_evaluations WHERE type = 'appeal'")
    op.drop_constraint("grade_evaluations_type_check", "grade_evaluations", type_="check")
    op.create_check_constraint(
        "grade_evaluations_type_check",
        "grade_evaluations",
        "type IN ('review', 'complaint', 'visit')",
    )

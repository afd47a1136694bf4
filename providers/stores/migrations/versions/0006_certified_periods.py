"""Practitioners: each record's certified period, for per-company counts in one query.

Two nullable date columns beside the record (``certified_from`` NULL: the certificate is
never valid; ``certified_until`` NULL: no end yet), filled here from the stored records
with the same rule the registry writes them with
(:func:`providers.practitioners.certified_period`).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BATCH = 5_000


def upgrade() -> None:
    from providers.registry import certified_columns, practitioner_from_json

    op.add_column("practitioners", sa.Column("certified_from", sa.Date))
    op.add_column("practitioners", sa.Column("certified_until", sa.Date))
    conn = op.get_bind()
    update = sa.text(
        "UPDATE practitioners SET certified_from = :start, certified_until = :end WHERE id = :id"
    )
    last = ""
    while True:
        rows = conn.execute(
            sa.text("SELECT id, body FROM practitioners WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            break
        params = []
        for row in rows:
            start, end = certified_columns(practitioner_from_json(row.body))
            params.append({"id": row.id, "start": start, "end": end})
        conn.execute(update, params)
        last = rows[-1].id


def downgrade() -> None:
    op.drop_column("practitioners", "certified_until")
    op.drop_column("practitioners", "certified_from")

"""How each point was obtained and which dataset each provider came from.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "providers",
        sa.Column("geocoder", sa.Text, nullable=False, server_default="record"),
    )
    op.add_column("providers", sa.Column("source", sa.Text, nullable=False, server_default=""))
    # Snapshot imports deactivate a source's providers missing from the new file.
    op.create_index("providers_source", "providers", ["source"])


def downgrade() -> None:
    op.drop_index("providers_source", "providers")
    op.drop_column("providers", "source")
    op.drop_column("providers", "geocoder")

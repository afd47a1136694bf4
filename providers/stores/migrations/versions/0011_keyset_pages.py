"""Pages of providers in id order, byte for byte: a B-tree on ``id COLLATE "C"``.

Why: OGC API Features pages (``/ogc/collections/providers/items``) walk the active
providers by id, each page starting after the last id of the one before (keyset paging:
stable while data changes, unlike an offset). Both stores must agree on that order, and
the embedded store's (SQLite's, Python's) is code-point order, which ``COLLATE "C"`` is
for UTF-8; the primary key's B-tree is in the database's own collation (often a
language's), so it cannot serve that order, and a page of a city-wide box would sort a
million rows. This index is walked from the last id instead.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute('CREATE INDEX providers_id_c_active ON providers (id COLLATE "C") WHERE active')


def downgrade() -> None:
    op.execute("DROP INDEX providers_id_c_active")

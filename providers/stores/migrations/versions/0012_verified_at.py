"""When each provider's record was last verified (``providers.verified_at``), and an index
to find a provider by its id's digest (``providers_id_digest``).

Why: the provider page, OGC items, the open-data files and HSDS ``assured_date`` say how
fresh a record is. The date is the day of the last import that held the record (inserted,
updated or found unchanged); it is kept beside the content, not compared with it, so an
import that only confirms a record leaves it unchanged. Rows already stored have no date
(``NULL``) until their next import.

The digest (``providers.store.id_digest``: the first 16 hex digits of ``md5(id)``) is what
HSDS ids carry so that ``/hsds/services/{id}`` finds its provider whatever its position: an
index on the expression, so no column has to be kept in step with the id.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE providers ADD COLUMN verified_at date")
    op.execute(
        "CREATE INDEX providers_id_digest ON providers (substr(md5(id), 1, 16)) WHERE active"
    )


def downgrade() -> None:
    op.execute("DROP INDEX providers_id_digest")
    op.execute("ALTER TABLE providers DROP COLUMN verified_at")

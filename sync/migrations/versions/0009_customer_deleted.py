"""customer deleted: an admin's soft delete of a customer, kept with who, when and why;
trackings indexed by their next follow-up

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 08:30:00

The seed keeps deleted records (``isDeleted``, ``deletedBy``, ``deletedAt``). A deleted
customer keeps every record and audit event; these columns say that it was deleted, by
whom, when and why (``sheetsync delete``; ``sheetsync restore`` clears them).

The master's Due by agent tab counts, per agent, the trackings whose next follow-up is
today or earlier: the index reads those alone, not every tracking.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL lock_timeout = '15s'")
    op.add_column("customers", sa.Column("deleted_at", sa.DateTime(), nullable=True))
    op.add_column("customers", sa.Column("deleted_by", sa.String(255), nullable=True))
    op.add_column("customers", sa.Column("delete_reason", sa.Text(), nullable=True))
    op.create_index("ix_trackings_next_follow_up", "trackings", ["next_follow_up"])


def downgrade() -> None:
    op.drop_index("ix_trackings_next_follow_up", table_name="trackings")
    # ALTER TABLE ... DROP COLUMN in place (SQLite 3.35 and later): a batch copy of the
    # table would be refused by the foreign keys that point at it.
    for column in ("delete_reason", "deleted_by", "deleted_at"):
        op.execute(f"ALTER TABLE customers DROP COLUMN {column}")

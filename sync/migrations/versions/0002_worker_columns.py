"""workers: agent backoff (cycles sat out, failing since) and last lease time

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 02:00:00

Safe while workers run (``sheetsync init`` during operation): the columns are added
with a server default or as nullable, so a worker still running the previous code keeps
inserting and updating agents; on PostgreSQL 11+ adding them rewrites nothing and holds
the table lock only for an instant, and a lock timeout keeps this migration from queueing
behind a long transaction (and every worker query behind it): it fails instead, and
``sheetsync init`` can be run again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL lock_timeout = '15s'")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("backoff_skipped", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("failing_since", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("leased_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("leased_at")
        batch_op.drop_column("failing_since")
        batch_op.drop_column("backoff_skipped")

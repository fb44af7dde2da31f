"""sheet states: the marker of what a sheet was last written from, in a column of its own

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 06:00:00

An idle cycle asks, for every sheet, whether its file moved (``version``) and whether
anything it shows changed in the database since it was written (``marker``). Both are
now plain columns, so the check never loads a tab's snapshot (megabytes of JSON at
2,000 rows). Additive (a nullable column): workers running the previous code are
unaffected; a sheet whose marker is empty is simply rendered once more.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL lock_timeout = '15s'")
    with op.batch_alter_table("sheet_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("marker", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sheet_states", schema=None) as batch_op:
        batch_op.drop_column("marker")

"""sheet rows: the master's rows as last written (key, position, digest, admin base)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 08:00:00

The master was re-rendered whole and read back whole to find the few rows a cycle
changed. Each of its rows now has a row here, so a cycle renders only the rows whose
customers changed and writes only the rows whose digest moved. The admin bases (shared
fields, Commission %) move here from the tabs' snapshots, row by row. Additive: a master
without rows here is rendered whole once more, as before, and then gets them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL lock_timeout = '15s'")
    op.create_table(
        "sheet_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("tab", sa.String(length=255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("base", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sheet_rows")),
    )
    op.create_index("ix_sheet_rows_tab", "sheet_rows", ["source", "tab", "position"])


def downgrade() -> None:
    op.drop_index("ix_sheet_rows_tab", table_name="sheet_rows")
    op.drop_table("sheet_rows")

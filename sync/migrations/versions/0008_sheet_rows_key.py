"""sheet rows by key: a master row's place found from what it shows

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 23:00:00

A cycle that brings the master up to date row by row looked up where each re-rendered
row is by reading the key of every row of the Customers, Tracking and Follow-ups tabs
(a few hundred thousand for a big team). It now checks that the rows above the end are
the ones written from a sum over the rows (``sync.master_update``) and finds the
changed rows' places by their keys: this index serves that lookup. The key comes first:
an index that began with (source, tab) as the positions' does was taken by PostgreSQL,
before its first ANALYZE, for the updates of rows by position (each then read every
row of its tab).
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL lock_timeout = '15s'")
    op.create_index("ix_sheet_rows_key", "sheet_rows", ["key", "source", "tab"])


def downgrade() -> None:
    op.drop_index("ix_sheet_rows_key", table_name="sheet_rows")

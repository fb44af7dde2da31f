"""folded lookups: customers indexed by the lower-cased start of their email and name

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 15:30:00

Possible duplicates (same email, or same name and date of birth, under different phones)
are looked up case-folded. No index served that lookup, so each one read the whole
customers table: a cold cycle of 50 agents read it 200 times, an edit of one row once per
edited sheet. The indexes hold the first 200 characters, lower-cased (a PostgreSQL index
row holds a few kilobytes; a text is stored whole however long). The index on the email
as typed served no query and refused an email past PostgreSQL's index row: it goes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL lock_timeout = '15s'")
    op.drop_index("ix_customers_email", table_name="customers")
    op.create_index(
        "ix_customers_email_folded", "customers", [sa.text("lower(substr(email, 1, 200))")]
    )
    op.create_index(
        "ix_customers_name_folded",
        "customers",
        [sa.text("lower(substr(name, 1, 200))"), "date_of_birth"],
    )


def downgrade() -> None:
    op.drop_index("ix_customers_name_folded", table_name="customers")
    op.drop_index("ix_customers_email_folded", table_name="customers")
    op.create_index("ix_customers_email", "customers", ["email"])

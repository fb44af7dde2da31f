"""agent rows: agents' tabs kept row by row, not as one snapshot per tab

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 11:00:00

An agent tab's snapshot held every row's last-synced values, notes and fields left to
the agent in one JSON document, loaded and rewritten whole by a cycle that touched one
row. Its rows move into ``sheet_rows`` (keyed by the row's number, with the row's place
in the sheet once a cycle has seen it: -1 here, as the snapshot did not keep it); the
snapshot keeps what concerns the whole tab (an admin's accepted removal).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PARTS = ("rows", "notes", "leave")

states = sa.table(
    "sheet_states",
    sa.column("id", sa.Integer),
    sa.column("source", sa.String),
    sa.column("tab", sa.String),
    sa.column("agent_id", sa.Integer),
    sa.column("snapshot", sa.JSON),
)
rows = sa.table(
    "sheet_rows",
    sa.column("source", sa.String),
    sa.column("tab", sa.String),
    sa.column("position", sa.Integer),
    sa.column("key", sa.String),
    sa.column("digest", sa.String),
    sa.column("base", sa.JSON),
)


def _agent_states(bind: sa.Connection) -> list[Any]:
    return list(
        bind.execute(
            sa.select(states.c.id, states.c.source, states.c.tab, states.c.snapshot).where(
                states.c.agent_id.is_not(None)
            )
        )
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("SET LOCAL lock_timeout = '15s'")
    for state_id, source, tab, snapshot in _agent_states(bind):
        snap = snapshot or {}
        if "rows" not in snap:
            continue
        values = []
        for key, row in snap["rows"].items():
            base: dict[str, Any] = {"row": row}
            for part in ("notes", "leave"):
                if snap.get(part, {}).get(key):
                    base[part] = snap[part][key]
            # An empty digest: the first cycle that writes the row stores its own.
            values.append(
                {
                    "source": source,
                    "tab": tab,
                    "position": -1,
                    "key": key,
                    "digest": "",
                    "base": base,
                }
            )
        for start in range(0, len(values), 1000):
            bind.execute(rows.insert(), values[start : start + 1000])
        rest = {k: v for k, v in snap.items() if k not in PARTS}
        bind.execute(states.update().where(states.c.id == state_id).values(snapshot=rest))


def downgrade() -> None:
    bind = op.get_bind()
    for state_id, source, tab, snapshot in _agent_states(bind):
        mine = (rows.c.source == source) & (rows.c.tab == tab)
        snap: dict[str, Any] = {**(snapshot or {}), **{part: {} for part in PARTS}}
        for key, base in bind.execute(sa.select(rows.c.key, rows.c.base).where(mine)):
            base = base or {}
            snap["rows"][key] = base.get("row", {})
            for part in ("notes", "leave"):
                if base.get(part):
                    snap[part][key] = base[part]
        bind.execute(rows.delete().where(mine))
        bind.execute(states.update().where(states.c.id == state_id).values(snapshot=snap))

"""The master workbook's layout: its tabs, their headers (times named with the zone they
are shown in), header notes, the admin's columns and what ``init`` sets up; and reading what
the admin typed in those columns. Rendering the rows is :mod:`sync.master`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sync.cells import CellValue, Grid, cell_text
from sync.dedupe import value_text
from sync.fields import AGENT_KEYS, FIELDS_BY_KEY, SHARED_KEYS
from sync.sheets import BlankHighlight

MASTER_TABS = (
    "Customers",
    "Tracking",
    "Follow-ups",
    "Conflicts",
    "Commission",
    "Sync log",
    "Deleted",
    "Due follow-ups",
    "Due by agent",
)
DUE_TAB = "Due by agent"
DUE_LIST_TAB = "Due follow-ups"
RESOLUTION = "Resolution"
RESOLUTION_NOTE = "Resolution note"
HOW_TO_RESOLVE = "How to resolve"
RESOLUTION_HELP = (
    "Type one of these words, then sync:\n"
    "keep - the current value stays\n"
    "accept - take the proposed value (a phone change: the new phone; a mass removal: "
    "apply it)\n"
    "value: TEXT - set this instead (a completion race: the agent who gets the commission)\n"
    "merge into CUS-... - one person, two customers: merge the other into this one\n"
    "dismiss - close it, change nothing\n"
    "Each row's How to resolve column lists the words it takes. Words that cannot be "
    "applied stay, with the reason in Resolution note."
)
"""The note on the Conflicts tab's Resolution header (set by ``sheetsync init``)."""
RESOLUTION_WORDS = ("keep", "accept", "dismiss", "merge")
"""The Resolution dropdown: the words that need nothing after them (``value: …`` and
``merge into CUS-…`` are typed; the dropdown only warns)."""
OPEN_CONFLICT = BlankHighlight(column=RESOLUTION, unless_column="ID")
"""A conflict's Resolution cell shaded while the admin has not typed anything in it."""
EDIT_NOTE = (
    "Yours to correct: what you type here goes to every agent who tracks this customer "
    "(audited as yours; `sheetsync undo` takes it back)."
)
COMMISSION_NOTE = (
    "Yours to set: this agent's share, in percent, of the customer's commission (the "
    "Commission tab and the agent's sheet show it)."
)
ADMIN_ACTION = "Admin action"
DELETE_NOTE = (
    "Type  delete: REASON  to delete this customer (every record is kept; it moves to the "
    "Deleted tab and agents' rows for it stop syncing), then sync."
)
RESTORE_NOTE = "Type  restore  to bring this customer back everywhere, then sync."
MASTER_NOTES = {
    "Conflicts": {RESOLUTION: RESOLUTION_HELP},
    "Customers": {
        **{FIELDS_BY_KEY[k].header: EDIT_NOTE for k in SHARED_KEYS},
        ADMIN_ACTION: DELETE_NOTE,
    },
    "Tracking": {FIELDS_BY_KEY["commission_pct"].header: COMMISSION_NOTE},
    "Deleted": {ADMIN_ACTION: RESTORE_NOTE},
}
"""The master's header notes: how to resolve, and the columns the admin may edit."""
EDITABLE_COLOR = "D9EAD3"
"""The fill (light green) of the headers of the master's columns the admin may edit: the
columns :data:`MASTER_NOTES` notes."""
TRACKING_ID = "Tracking ID"
COMMISSION_PCT = "Commission %"

CUSTOMER_HEADERS = [
    "Customer #",
    *(FIELDS_BY_KEY[k].header for k in SHARED_KEYS),
    "Agents",
    "Tracked by",
    "Closest to completion",
    "Created",
    ADMIN_ACTION,
]
TRACKING_HEADERS = [
    "Customer #",
    "Name",
    "Phone",
    "Agent",
    *(FIELDS_BY_KEY[k].header for k in AGENT_KEYS),
    COMMISSION_PCT,
    "Active",
    "Lost to colleague",
    "Tracked since",
    "Last update",
    TRACKING_ID,
]
FOLLOW_UP_HEADERS = [
    "Follow-up #",
    "Customer #",
    "Name",
    "Agent",
    "Date",
    "Type",
    "Method",
    "Notes",
    "Next action",
    "Active",
]
CONFLICT_HEADERS = [
    "ID",
    "Kind",
    "Customer #",
    "Agent",
    "Field",
    "Current value",
    "Proposed value",
    "Details",
    "Opened",
    HOW_TO_RESOLVE,
    RESOLUTION,
    RESOLUTION_NOTE,
]
COMMISSION_HEADERS = [
    "Month",
    "Agent",
    "Completed",
    "Completed customers",
    "Commission (customers)",
    "Lost to colleague",
]
DELETED_HEADERS = [
    "Customer #",
    "Name",
    "Phone",
    "Deleted by",
    "Deleted at",
    "Reason",
    ADMIN_ACTION,
]
DUE_LIST_HEADERS = [
    "Agent",
    "Customer #",
    "Name",
    "Phone",
    "Status",
    "Next follow-up",
    "Days overdue",
]
"""The Due follow-ups tab: a row per tracking that is due (next follow-up on or before
today; not Completed or Lost), the most overdue first."""
DUE_HEADERS = ["Agent", "Overdue", "Due today", "Oldest due", "Most days overdue"]
"""The Due by agent tab: per agent, the follow-ups that are due (next follow-up on or
before today; not Completed or Lost)."""
SYNC_LOG_HEADERS = [
    "Run",
    "Started",
    "Finished",
    "Status",
    "Rows read",
    "Customers created",
    "Trackings added",
    "Agent cells written",
    "Conflicts opened",
    "Agents failed",
    "Errors",
]


TIME_HEADERS = ("Created", "Tracked since", "Last update", "Opened", "Started", "Finished")
"""The master's columns of times (of day): shown in ``sync.timezone``, named with it."""
TIME_HEADERS_DELETED = ("Deleted at",)


def master_headers(zone: str) -> dict[str, list[str]]:
    """Every master tab's headers, its time columns named with the zone they are shown in
    (``Created (Africa/Cairo)``)."""
    timed = {*TIME_HEADERS, *TIME_HEADERS_DELETED}
    return {
        tab: [f"{h} ({zone})" if h in timed else h for h in headers]
        for tab, headers in MASTER_HEADERS.items()
    }


MASTER_HEADERS = {
    "Customers": CUSTOMER_HEADERS,
    "Tracking": TRACKING_HEADERS,
    "Follow-ups": FOLLOW_UP_HEADERS,
    "Conflicts": CONFLICT_HEADERS,
    "Commission": COMMISSION_HEADERS,
    "Sync log": SYNC_LOG_HEADERS,
    "Deleted": DELETED_HEADERS,
    "Due follow-ups": DUE_LIST_HEADERS,
    "Due by agent": DUE_HEADERS,
}


def master_layout(zone: str, shown: str | None = None) -> dict[str, Any]:
    """What ``init`` sets up in the master, as :meth:`Backend.ensure_layout`'s arguments:
    the tabs, the header notes, the Resolution dropdown, the open conflicts' highlight.

    Args:
        zone: the zone the master shows times in, named in their headers.
        shown: the zone the master's times are shown in now (the last cycle's): a time
            column named with it, or with none (an earlier version), is the same column,
            renamed by the next cycle's render.
    """
    headers = master_headers(zone)
    timed = {*TIME_HEADERS, *TIME_HEADERS_DELETED}
    return {
        "tabs": headers,
        "aliases": {f"{h} ({zone})": [h, *([f"{h} ({shown})"] if shown else [])] for h in timed},
        "notes": MASTER_NOTES,
        "dropdowns": {
            "Conflicts": {RESOLUTION: list(RESOLUTION_WORDS)},
            "Deleted": {ADMIN_ACTION: ["restore"]},
        },
        "highlights": {"Conflicts": [OPEN_CONFLICT]},
        "header_colors": {
            tab: dict.fromkeys(notes, EDITABLE_COLOR) for tab, notes in MASTER_NOTES.items()
        },
    }


ROW_TABS = ("Customers", "Tracking", "Follow-ups")
"""The tabs with a row per customer, tracking or follow-up: rendered row by row."""

KEY_COLUMNS = {
    "Customers": (0,),
    "Tracking": (TRACKING_HEADERS.index(TRACKING_ID),),
    "Follow-ups": (0,),
    "Conflicts": (0,),
    "Commission": (0, 1),
    "Sync log": (0,),
    "Deleted": (0,),
    "Due follow-ups": (0, 1),
    "Due by agent": (0,),
}
"""The columns that name what a row of each master tab shows."""


def row_key(tab: str, row: Sequence[CellValue]) -> str:
    """What a row of a master tab shows (a Customer #, a tracking ID...), as text."""
    return "|".join(value_text(row[i]) if i < len(row) else "" for i in KEY_COLUMNS[tab])


def read_resolutions(grid: Grid) -> dict[str, str]:
    """Conflict ID -> the admin's typed resolution, from the Conflicts tab as read."""
    return typed_in(grid, "ID", RESOLUTION)


def read_actions(grid: Grid) -> dict[str, str]:
    """Customer # -> what the admin typed in the Admin action column of a master tab."""
    return typed_in(grid, "Customer #", ADMIN_ACTION)


def typed_in(grid: Grid, key: str, column: str) -> dict[str, str]:
    """Row key -> the text typed in ``column``, for the rows of a tab as read that have
    both (nothing when the tab lacks either header)."""
    if not grid:
        return {}
    header = [cell_text(h) for h in grid[0]]
    if key not in header or column not in header:
        return {}
    i, c = header.index(key), header.index(column)
    found = {}
    for row in grid[1:]:
        name = cell_text(row[i]) if i < len(row) else ""
        text = cell_text(row[c]) if c < len(row) else ""
        if name and text:
            found[name] = text
    return found

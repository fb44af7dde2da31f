"""The master workbook's layout: its tabs, their headers (times named with the zone they
are shown in; in English or Arabic, ``[master] language``), header notes, the admin's
columns and what ``init`` sets up; and reading what the admin typed in those columns,
under headers of either language. Rendering the rows is :mod:`sync.master`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sync.cells import CellValue, Grid, cell_text
from sync.dedupe import value_text
from sync.fields import AGENT_KEYS, CUSTOMER_FIELDS, FIELDS_BY_KEY, SHARED_KEYS
from sync.sheets import BlankHighlight
from sync.words import Language, say

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
RESOLUTION_HELP = say("master_resolution_help")
"""The note on the Conflicts tab's Resolution header (set by ``sheetsync init``)."""
RESOLUTION_WORDS: dict[Language, tuple[str, ...]] = {
    "en": ("keep", "accept", "dismiss", "merge"),
    "ar": ("أبقِ", "اقبل", "تجاهل", "ادمج"),
}
"""The Resolution dropdown: the words that need nothing after them (``value: …`` and
``merge into CUS-…`` are typed; the dropdown only warns)."""
EDIT_NOTE = say("master_edit_note")
COMMISSION_NOTE = say("master_commission_note")
ADMIN_ACTION = "Admin action"
_NOTE_KEYS = {
    "Conflicts": {RESOLUTION: "master_resolution_help"},
    "Customers": {
        **{FIELDS_BY_KEY[k].header: "master_edit_note" for k in SHARED_KEYS},
        ADMIN_ACTION: "master_delete_note",
    },
    "Tracking": {FIELDS_BY_KEY["commission_pct"].header: "master_commission_note"},
    "Deleted": {ADMIN_ACTION: "master_restore_note"},
}


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


ARABIC_HEADERS = {
    **{f.header: f.arabic for f in CUSTOMER_FIELDS if f.arabic},
    "Agents": "عدد الوكلاء",
    "Tracked by": "يتابعه",
    "Closest to completion": "الأقرب إلى الإتمام",
    "Created": "أُنشئ",
    ADMIN_ACTION: "إجراء المشرف",
    "Agent": "الوكيل",
    "Active": "نشطة",
    "Lost to colleague": "ذهب لزميل",
    "Tracked since": "يتابعه منذ",
    "Last update": "آخر تحديث",
    TRACKING_ID: "معرّف المتابعة",
    "Follow-up #": "رقم المتابعة",
    "Date": "التاريخ",
    "Type": "النوع",
    "Method": "الطريقة",
    "Next action": "الإجراء التالي",
    "ID": "المعرّف",
    "Kind": "نوع التعارض",
    "Field": "الحقل",
    "Current value": "القيمة الحالية",
    "Proposed value": "القيمة المقترحة",
    "Details": "التفاصيل",
    "Opened": "فُتح",
    HOW_TO_RESOLVE: "طريقة الحل",
    RESOLUTION: "القرار",
    RESOLUTION_NOTE: "ملاحظة القرار",
    "Month": "الشهر",
    "Completed": "المكتملون",
    "Completed customers": "العملاء المكتملون",
    "Commission (customers)": "العمولة (بالعملاء)",
    "Run": "الدورة",
    "Started": "بدأت",
    "Finished": "انتهت",
    "Rows read": "الصفوف المقروءة",
    "Customers created": "عملاء أُنشئوا",
    "Trackings added": "متابعات أُضيفت",
    "Agent cells written": "خلايا الوكلاء المكتوبة",
    "Conflicts opened": "تعارضات فُتحت",
    "Agents failed": "وكلاء تعذرت مزامنتهم",
    "Errors": "الأخطاء",
    "Deleted by": "حذفه",
    "Deleted at": "وقت الحذف",
    "Reason": "السبب",
    "Days overdue": "أيام التأخير",
    "Overdue": "متأخرة",
    "Due today": "مستحقة اليوم",
    "Oldest due": "أقدم استحقاق",
    "Most days overdue": "أكثر أيام التأخير",
}
"""The master's headers in Arabic, by their English names."""


def master_look(zone: str, language: Language) -> str:
    """What the master's cells depend on besides the data: the zone its times are shown in
    and its language (one text, part of :func:`sync.marks.database_marker`)."""
    return zone if language == "en" else f"{zone} ({language})"


def header_in(header: str, language: Language) -> str:
    """A master header (by its English name) as the master in ``language`` shows it."""
    return ARABIC_HEADERS[header] if language == "ar" else header


def master_notes(language: Language = "en") -> dict[str, dict[str, str]]:
    """The master's header notes (how to resolve, the columns the admin may edit): tab ->
    header in ``language`` -> note in ``language``."""
    return {
        tab: {header_in(h, language): say(key, language) for h, key in notes.items()}
        for tab, notes in _NOTE_KEYS.items()
    }


MASTER_NOTES = master_notes()
"""The master's header notes in English."""


def master_headers(zone: str, language: Language = "en") -> dict[str, list[str]]:
    """Every master tab's headers in ``language``, its time columns named with the zone
    they are shown in (``Created (Africa/Cairo)``)."""
    timed = {*TIME_HEADERS, *TIME_HEADERS_DELETED}
    return {
        tab: [
            f"{header_in(h, language)} ({zone})" if h in timed else header_in(h, language)
            for h in headers
        ]
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


def master_layout(zone: str, shown: str | None = None, language: Language = "en") -> dict[str, Any]:
    """What ``init`` sets up in the master, as :meth:`Backend.ensure_layout`'s arguments:
    the tabs, the header notes, the Resolution dropdown, the open conflicts' highlight, in
    ``language`` (Arabic: right to left).

    Args:
        zone: the zone the master shows times in, named in their headers.
        shown: the zone the master's times are shown in now (the last cycle's): a time
            column named with it, or with none (an earlier version), is the same column,
            renamed by the next cycle's render. A column named in the other language is
            the same column too.
    """
    headers = master_headers(zone, language)
    timed = {*TIME_HEADERS, *TIME_HEADERS_DELETED}
    aliases: dict[str, list[str]] = {}
    for english in {h for names in MASTER_HEADERS.values() for h in names}:
        names = [english, ARABIC_HEADERS[english]]
        if english in timed:
            zones = [zone, *([shown] if shown else [])]
            names += [f"{name} ({z})" for name in names for z in zones]
        new = f"{header_in(english, language)} ({zone})" if english in timed else None
        new = new or header_in(english, language)
        aliases[new] = [name for name in names if name != new]
    notes = master_notes(language)
    return {
        "tabs": headers,
        "aliases": aliases,
        "notes": notes,
        "dropdowns": {
            "Conflicts": {header_in(RESOLUTION, language): list(RESOLUTION_WORDS[language])},
            "Deleted": {header_in(ADMIN_ACTION, language): [say("restore_word", language)]},
        },
        "highlights": {  # a conflict's Resolution cell shaded while nothing is typed in it
            "Conflicts": [
                BlankHighlight(
                    column=header_in(RESOLUTION, language),
                    unless_column=header_in("ID", language),
                )
            ]
        },
        "header_colors": {
            tab: dict.fromkeys(names, EDITABLE_COLOR) for tab, names in notes.items()
        },
        "right_to_left": language == "ar",
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


def column_of(grid: Grid, header: str) -> int | None:
    """The column of a master tab as read whose header is ``header`` (its English name) in
    either language; None when it has none."""
    if not grid:
        return None
    names = {header, ARABIC_HEADERS.get(header, header)}
    return next((i for i, h in enumerate(grid[0]) if cell_text(h) in names), None)


def typed_in(grid: Grid, key: str, column: str) -> dict[str, str]:
    """Row key -> the text typed in ``column``, for the rows of a tab as read that have
    both (nothing when the tab lacks either header; headers in either language)."""
    i, c = column_of(grid, key), column_of(grid, column)
    if i is None or c is None:
        return {}
    found = {}
    for row in grid[1:]:
        name = cell_text(row[i]) if i < len(row) else ""
        text = cell_text(row[c]) if c < len(row) else ""
        if name and text:
            found[name] = text
    return found

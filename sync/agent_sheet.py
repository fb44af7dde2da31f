"""What ``sheetsync init`` sets up in an agent's workbook, in the agent's language: the tabs
and their headers, text columns, dropdowns, protected columns, header notes, widths and
the due follow-ups' highlight (:meth:`sync.sheets.Backend.ensure_layout`'s arguments)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sync.fields import (
    CHECK_FIELDS_BY_KEY,
    CHECK_TAB,
    CUSTOMERS_TAB,
    DEGREES,
    FIELDS_BY_KEY,
    FOLLOW_UP_FIELDS_BY_KEY,
    FOLLOW_UP_TYPES,
    FOLLOW_UPS_TAB,
    GENDERS,
    INTERESTS,
    STATUSES,
    YES,
    Owner,
)
from sync.sheets import DueHighlight
from sync.values import choice, spellings
from sync.words import OTHER, Language, header, say


def agent_layout(language: Language = "en") -> dict[str, Any]:
    """What ``init`` sets up in an agent's workbook, as :meth:`Backend.ensure_layout`'s
    arguments: headers, text columns, dropdowns, protected columns, header notes, widths,
    the due follow-ups' highlight, all in ``language`` (an Arabic sheet is laid out right
    to left). Headers in the other language count as the same columns."""
    fields = {
        CUSTOMERS_TAB: FIELDS_BY_KEY,
        FOLLOW_UPS_TAB: FOLLOW_UP_FIELDS_BY_KEY,
        CHECK_TAB: CHECK_FIELDS_BY_KEY,
    }

    def named(tab: str, key: str) -> str:
        return header(fields[tab][key], language)

    def choices(tab: str, key: str, values: Sequence[str]) -> tuple[str, list[str]]:
        return named(tab, key), [choice(v, language) for v in values]

    protected_note = say("protected_note", language)
    return {
        "tabs": {tab: [header(f, language) for f in fs.values()] for tab, fs in fields.items()},
        "text_columns": {
            CUSTOMERS_TAB: [named(CUSTOMERS_TAB, "phone"), named(CUSTOMERS_TAB, "other_phone")],
            FOLLOW_UPS_TAB: [named(FOLLOW_UPS_TAB, "phone")],
            CHECK_TAB: [named(CHECK_TAB, "phone")],
        },
        "dropdowns": {
            CUSTOMERS_TAB: dict(
                [
                    choices(CUSTOMERS_TAB, "status", STATUSES),
                    choices(CUSTOMERS_TAB, "interest", INTERESTS),
                    choices(CUSTOMERS_TAB, "degree", DEGREES),
                    choices(CUSTOMERS_TAB, "gender", GENDERS),
                ]
            ),
            FOLLOW_UPS_TAB: dict([choices(FOLLOW_UPS_TAB, "type", FOLLOW_UP_TYPES)]),
            CHECK_TAB: {
                named(CHECK_TAB, "add"): [choice(YES, language), choice(YES, OTHER[language])]
            },
        },
        "protected": {
            tab: [header(f, language) for f in fs.values() if f.owner in (Owner.SYNC, Owner.ADMIN)]
            for tab, fs in fields.items()
        },
        "highlights": {
            CUSTOMERS_TAB: [
                DueHighlight(
                    column=named(CUSTOMERS_TAB, "next_follow_up"),
                    unless_column=named(CUSTOMERS_TAB, "status"),
                    unless=DUE_FOLLOW_UP.unless,
                )
            ]
        },
        "widths": {
            tab: {
                header(f, language): COLUMN_WIDTHS[f.header]
                for f in fs.values()
                if f.header in COLUMN_WIDTHS
            }
            for tab, fs in fields.items()
        },
        "notes": {
            tab: {
                # an Arabic sheet's protected columns say so in Arabic (English: the default)
                **(
                    {
                        header(f, language): protected_note
                        for f in fs.values()
                        if f.owner is Owner.SYNC
                    }
                    if language != "en"
                    else {}
                ),
                **{
                    header(f, language): say("shared_note", language)
                    for f in fs.values()
                    if tab == CUSTOMERS_TAB and f.owner is Owner.SHARED
                },
                **{
                    header(f, language): say("admin_note", language)
                    for f in fs.values()
                    if f.owner is Owner.ADMIN
                },
                **(
                    {
                        named(CHECK_TAB, "phone"): say("check_phone_note", language),
                        named(CHECK_TAB, "add"): say("check_add_note", language),
                    }
                    if tab == CHECK_TAB
                    else {}
                ),
            }
            for tab, fs in fields.items()
        },
        "right_to_left": language == "ar",
    }


COLUMN_WIDTHS = {
    "Customer #": 17,
    "Name": 24,
    "Phone": 18,
    "Other phone": 18,
    "Email": 28,
    "Nationality": 14,
    "Country": 14,
    "City/Region": 16,
    "Desired university": 26,
    "Desired college": 22,
    "Desired program": 22,
    "Notes": 40,
    "Technical opinion": 30,
    "Counselor notes": 36,
    "Documents": 30,
    "Also tracked by": 36,
    "Sync notes": 48,
    "Next action": 30,
    "Result": 44,
    "Tracked by": 36,
    "Add my tracking": 17,
}
"""Characters a column of an agent's tab typically needs (the header's own width otherwise):
what init sizes the columns it makes to."""

SHARED_NOTE = say("shared_note")
"""The note on the header of a shared column in an agent's Customers tab."""
ADMIN_NOTE = say("admin_note")
"""The note on the header of an admin-owned column (Commission %) in an agent's tab."""


DUE_FOLLOW_UP = DueHighlight(
    column=FIELDS_BY_KEY["next_follow_up"].header,
    unless_column=FIELDS_BY_KEY["status"].header,
    unless=(*spellings("Completed"), *spellings("Lost")),
)
"""A Next follow-up on or before today, highlighted by the agent's spreadsheet itself, unless
the customer is Completed or Lost."""

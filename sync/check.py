"""The Check tab's rules: the seed's "check phone, then add my tracking", in the sheet.

An agent types a phone (and, optionally, a name) in their Check tab. The next cycle says
whether the customer exists and who tracks them (colleagues' names and since-dates: what
*Also tracked by* shows, nothing else of theirs); checking creates nothing. ``yes`` (or
``نعم``) in *Add my tracking* makes the cycle attach the agent's tracking, creating the
customer with the typed name when new; the customer then appears in the agent's
Customers tab.

A ``yes`` acts once: the phones whose ``yes`` the sync has seen are kept (``asked``), so
a customer the agent removed from Customers afterwards is not added back by the same
``yes``. Clearing the cell and typing ``yes`` again asks again.

Pure functions over plain data: :mod:`sync.ingest.check` applies the additions and
:mod:`sync.cycle.check_tab` writes the answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sync.cells import Grid, cell_text
from sync.dedupe import value_text
from sync.fields import CHECK_FIELDS, YES
from sync.phones import parse_phone
from sync.rows import Header, ParseOptions, parse_rows
from sync.views import CoTracker, also_tracked_by, join_notes
from sync.words import Language, said_in, say

ASKED = "yes"  # the sync saw this phone's yes (nothing to add, or added by hand)
ADDED = "added"  # this phone's yes added the agent's tracking


@dataclass(frozen=True)
class CheckRow:
    """One row of a Check tab, as the agent typed it.

    Attributes:
        index: its 0-based row in the tab.
        phone_text: the Phone cell as typed (what finds the row again when writing).
        phone: the number in E.164 form; None when the cell holds none.
        name: the Name typed ('' when none).
        add: Add my tracking says yes.
        notes: what the sync could not read in the row, for its Sync notes.
        typed: the agent typed anything in it (a row of the sync's cells alone is cleared).
    """

    index: int
    phone_text: str
    phone: str | None
    name: str
    add: bool
    notes: tuple[str, ...]
    typed: bool


@dataclass(frozen=True)
class Found:
    """What an agent may learn of a customer by checking its phone.

    Attributes:
        number, name: the customer's number and name.
        mine: the agent tracks this customer (an active tracking).
        co_trackers: the colleagues who track them, by name and since-date.
        deleted: an admin deleted the customer: when and why, in words (None: not deleted).
    """

    number: str
    name: str
    mine: bool
    co_trackers: tuple[CoTracker, ...]
    deleted: str | None = None


@dataclass(frozen=True)
class Answer:
    """What the sync writes into a Check row.

    Attributes:
        result, tracked_by: the Result and Tracked by cells.
        notes: the notes that depend on the database (the rest are the row's own).
    """

    result: str
    tracked_by: str
    notes: tuple[str, ...] = ()

    def as_list(self) -> list[str]:
        """As kept in the tab's state: a change elsewhere can move every part."""
        return [self.result, self.tracked_by, *self.notes]


def read_rows(
    grid: Grid, header: Header, options: ParseOptions, region: str, language: Language = "en"
) -> list[CheckRow]:
    """The tab's rows that hold anything (the agent's cells or the sync's), in order; their
    notes in ``language``."""
    rows: list[CheckRow] = []
    for row in parse_rows(grid, header, CHECK_FIELDS, options):
        if row.blank:
            continue
        notes: list[str] = []
        problems = {issue.field: issue.message for issue in row.issues}
        phone_cell = row.raw.get("phone")
        phone_text = cell_text(phone_cell)
        phone: str | None = None
        if "phone" in problems:
            notes.append(say("check_phone_unreadable", language, problem=problems["phone"]))
        elif phone_text:
            parsed = parse_phone(phone_cell, region)
            phone = parsed.e164
            if phone is None:
                notes.append(say("not_a_phone", language, text=phone_text))
            elif parsed.warning:
                notes.append(said_in(parsed.warning, language))
        add_cell = row.raw.get("add")
        add = row.values.get("add") == YES or add_cell is True
        if "add" in problems and add_cell is not True and add_cell is not False:
            notes.append(say("add_not_understood", language, problem=problems["add"]))
        name = value_text(row.values.get("name"))
        typed = bool(phone_text or name or cell_text(add_cell))
        if typed and not phone_text:
            notes.append(say("type_a_phone", language))
        rows.append(CheckRow(row.index, phone_text, phone, name, add, tuple(notes), typed))
    return rows


def wants_adding(row: CheckRow, asked: Mapping[str, str]) -> bool:
    """Whether this row asks to add the agent's tracking now: a ``yes`` not seen before."""
    return row.add and row.phone is not None and row.phone not in asked


def next_asked(
    rows: Sequence[CheckRow], asked: Mapping[str, str], added: set[str], waiting: set[str]
) -> dict[str, str]:
    """The phones whose ``yes`` the sync has seen, after this read.

    Args:
        asked: as kept before; added: the phones whose tracking was added now;
        waiting: the phones whose ``yes`` could not be acted on yet (asked again next time).
    """
    seen: dict[str, str] = {}
    for row in rows:
        if not row.add or row.phone is None or row.phone in waiting:
            continue
        before = asked.get(row.phone)
        seen[row.phone] = ADDED if row.phone in added or before == ADDED else ASKED
    return seen


def answer(
    row: CheckRow, found: Found | None, asked: str | None, language: Language = "en"
) -> Answer:
    """What a Check row shows, in ``language``: whether the customer exists, who tracks
    them, and whether this agent does. Nothing of anyone's tracking but colleagues' names
    and since-dates.

    Args:
        asked: what the sync saw of this phone's ``yes`` (:func:`next_asked`); None for a
            ``yes`` it could not act on yet.
    """
    if not row.typed or row.phone is None:
        return Answer("", "")
    waiting = (say("waiting", language),) if row.add and asked is None else ()
    if found is None:
        return Answer(say("new_customer", language), "", waiting)
    who = f"{found.number} {found.name}".strip()
    tracked_by = also_tracked_by(found.co_trackers, language)
    if found.deleted is not None:
        notes = [found.deleted]
        if row.add:
            notes.append(say("not_added_deleted", language))
        return Answer(say("deleted", language, who=who), tracked_by, tuple(notes))
    if found.mine:
        said = "added_mine" if asked == ADDED else "already_mine"
        return Answer(say(said, language, who=who), tracked_by)
    if asked == ADDED:
        waiting = (say("removed_since", language),)
    return Answer(say("exists", language, who=who), tracked_by, waiting)


def row_values(row: CheckRow, found: Answer) -> dict[str, str | None]:
    """The sync's cells of a Check row: Result, Tracked by and Sync notes."""
    return {
        "result": found.result or None,
        "tracked_by": found.tracked_by or None,
        "sync_notes": join_notes([*row.notes, *found.notes]),
    }

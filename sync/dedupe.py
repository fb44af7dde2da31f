"""Pure rules of deduplication: phones, binding rows to customers, three-way merges.

Nothing here touches a database or a spreadsheet: callers pass plain data in
and act on the decisions that come out, which keeps the rules table-testable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sync.long_text import is_cut, whole_of
from sync.phones import PhoneResult, format_phone, normalize_phone, normalize_phones, parse_phone
from sync.words import Language, say

__all__ = [
    "Binding",
    "FieldsDecision",
    "KnownCustomer",
    "PhoneResult",
    "PrivateAction",
    "RowIdentity",
    "SharedAction",
    "as_last_synced",
    "bind_rows",
    "format_phone",
    "merge_fields",
    "merge_private",
    "merge_shared",
    "normalize_phone",
    "normalize_phones",
    "parse_phone",
    "value_text",
]


def value_text(value: object) -> str:
    """The canonical text of a parsed value, used to compare values and to store snapshots.

    >>> value_text(dt.date(2026, 1, 15)), value_text(50.0), value_text("  x "), value_text(None)
    ('2026-01-15', '50', 'x', '')
    """
    if type(value) is str:  # the common case, first
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


class SharedAction(StrEnum):
    """What to do with a shared field of a row (DESIGN.md "Ownership of fields")."""

    SAME = "same"  # the sheet shows the canonical value
    PUSH = "push"  # the agent didn't touch it; the canonical value changed elsewhere: write it
    FILL = "fill"  # the canonical value is empty: the agent's value becomes canonical
    RESTORE = "restore"  # the agent cleared a shared value: not applied, write it back
    PROPOSE = "propose"  # the agent changed a non-empty shared value: a conflict for the admin


def merge_shared(base: str | None, mine: str, canonical: str) -> SharedAction:
    """Three-way merge of one shared field.

    Args:
        base: the value the sheet held after the last cycle (None: the row is new to us).
        mine: the value in the sheet now.
        canonical: the customer's value in the database.
    """
    if mine == canonical:
        return SharedAction.SAME
    if base is not None and mine == base:
        return SharedAction.PUSH
    if canonical == "":
        return SharedAction.FILL
    if mine == "":
        # A new row that leaves the field blank shows the shared value; clearing a
        # value the sheet showed is not applied and is said so.
        return SharedAction.PUSH if base is None else SharedAction.RESTORE
    return SharedAction.PROPOSE


class PrivateAction(StrEnum):
    """What to do with an agent-owned field: the agent's sheet is its truth."""

    SAME = "same"
    TAKE = "take"  # the agent changed it (or the row is new): store it
    PUSH = "push"  # the agent didn't touch it and the database changed (import, admin): write it


def merge_private(base: str | None, mine: str, stored: str) -> PrivateAction:
    """Three-way merge of one agent-owned field (arguments as in merge_shared)."""
    if mine == stored:
        return PrivateAction.SAME
    if base is not None and mine == base:
        return PrivateAction.PUSH
    return PrivateAction.TAKE


@dataclass
class FieldsDecision:
    """What the three-way merge of one row's fields decided (plain data: the caller applies it).

    Attributes:
        take: field -> the row's value, to store.
        before, after: the texts the audit event records, for the fields taken.
        proposals: shared field -> (the shared value, the row's): a conflict for an admin.
        notes: (field, text) for the row's Sync notes, in field order.
        leave: fields the write-back must leave as the agent typed them.
    """

    take: dict[str, object] = field(default_factory=dict)
    before: dict[str, str] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)
    proposals: dict[str, tuple[str, str]] = field(default_factory=dict)
    notes: list[tuple[str, str]] = field(default_factory=list)
    leave: set[str] = field(default_factory=set)

    def note(self, key: str, text: str, *, leave: bool = True) -> None:
        self.notes.append((key, text))
        if leave:
            self.leave.add(key)


def merge_fields(
    values: Mapping[str, object],
    problems: Mapping[str, str],
    keys: Sequence[str],
    stored: Mapping[str, object],
    base: Mapping[str, str] | None,
    *,
    titles: Mapping[str, str],
    typed_titles: Mapping[str, str],
    number: str,
    shared: bool,
    proposed: Mapping[str, str] = {},  # noqa: B006 (read only)
    language: Language = "en",
) -> FieldsDecision:
    """Merge one row's fields against what is stored and what the sheet showed last.

    Args:
        values: field -> the row's parsed value, for the fields the tab has.
        problems: field -> why its cell could not be read (it is not synced).
        keys: the fields to merge, in order (the tab's columns among them only).
        stored: field -> the stored value (the customer's for shared fields, else the
            agent's tracking's or follow-up's).
        base: field -> the text the sheet showed after the last cycle (None: a new row).
        titles: field -> its name in notes; typed_titles: its header as the tab has it.
        number: the customer's number, which a note about a cut text names.
        shared: shared fields (merge_shared: a changed value is proposed) or the
            agent's own (merge_private: the sheet wins).
        proposed: shared field -> the value this agent's open proposal holds.
        language: the agent's sheet's: what the notes are written in.
    """
    decision = FieldsDecision()
    for key in keys:
        if key in problems:
            decision.note(
                key,
                say(
                    "cell_not_synced",
                    language,
                    title=titles[key],
                    problem=problems[key],
                ),
            )
            continue
        current = value_text(stored.get(key))
        base_value = base.get(key) if base is not None else None
        mine = value_text(values.get(key))
        if is_cut(mine):
            # A text the sync cut to fit the sheet reads as the whole one it was cut from.
            whole = whole_of(mine, (current, base_value))
            if whole is None:
                title = typed_titles.get(key, key)
                decision.note(key, say("cut_changed", language, title=title, number=number))
                continue
            mine = whole
        if not shared:
            if merge_private(base_value, mine, current) is PrivateAction.TAKE:
                decision.take[key] = values.get(key)
                decision.before[key], decision.after[key] = current, mine
            continue
        action = merge_shared(base_value, mine, current)
        if action is SharedAction.FILL:
            decision.take[key] = values.get(key)
            decision.before[key], decision.after[key] = current, mine
        elif action is SharedAction.RESTORE:
            note = say("shared_clear", language, title=titles[key])
            decision.note(key, note, leave=False)
        elif action is SharedAction.PROPOSE or (
            action is SharedAction.PUSH and proposed.get(key) == mine
        ):
            decision.proposals[key] = (current, mine)
            decision.note(
                key,
                say("awaits_admin", language, title=titles[key], mine=mine, current=current),
            )
    return decision


def as_last_synced(
    values: Mapping[str, object],
    problems: Mapping[str, str],
    keys: Sequence[str],
    base: Mapping[str, str] | None,
) -> bool:
    """Whether a row shows, in each of these fields, the text the sheet held after the last
    cycle, all of it readable and none of it a cut text.

    Such a row decides nothing: :func:`merge_fields` finds every field ``SAME`` or
    ``PUSH`` (the write-back's part) and notes nothing, unless the agent has an open
    proposal of one of its shared values (still shown, it stays proposed), which the
    caller checks. An edited sheet's unchanged rows are not merged.
    """
    if base is None or problems:
        return False
    for key in keys:
        was = base.get(key)
        if was is None:
            return False
        mine = value_text(values.get(key))
        if mine != was or is_cut(mine):
            return False
    return True


@dataclass(frozen=True)
class RowIdentity:
    """What identifies one row: its position, its Customer # cell and its phone."""

    index: int
    number: str
    phone_raw: str
    phone: str | None


@dataclass(frozen=True)
class KnownCustomer:
    number: str
    phone: str


@dataclass(frozen=True)
class Binding:
    """The decision for one row.

    Attributes:
        outcome: ``bound`` (an existing customer), ``new`` (create one for ``phone``),
            ``invalid_phone``, ``mismatch`` (Customer # and phone disagree) or
            ``duplicate`` (another row of this tab has the same phone).
        number: the customer bound, or the Customer # the row claims (mismatch).
        keeps: a customer number this row keeps alive (its tracking is not archived
            even though the row is not applied).
        note: a plain-words note for the row's Sync notes, or None.
    """

    index: int
    outcome: str
    phone: str | None
    number: str | None = None
    keeps: str | None = None
    note: str | None = None
    duplicate_of: int | None = None


def bind_rows(
    rows: Sequence[RowIdentity],
    by_number: Mapping[str, KnownCustomer],
    by_phone: Mapping[str, KnownCustomer],
    trusted: Collection[tuple[str, str]] = (),
    language: Language = "en",
) -> list[Binding]:
    """Bind the rows of one tab to customers (DESIGN.md promises 1 and 7).

    The phone decides the customer; the Customer # is only trusted when it agrees
    with the phone. Of several rows with one customer, the row whose Customer #
    agrees (else the first) is applied and the others are duplicates.

    Args:
        by_number: Customer # -> that customer.
        by_phone: E.164 phone -> the customer it binds to; besides customers' own
            phones, a merged customer's phone maps to the customer it was merged into
            (then the binding's phone is that customer's).
        trusted: (Customer #, phone) pairs the sync itself wrote that mean the phone's
            customer although the number is another's (after a merge was undone).
        language: the agent's sheet's: what the notes are written in.
    """
    first: list[Binding] = []
    for row in rows:
        claimed = by_number.get(row.number) if row.number else None
        owner = by_phone.get(row.phone) if row.phone else None
        if row.phone is None:
            what = (
                say("not_a_phone", language, text=row.phone_raw)
                if row.phone_raw
                else say("phone_empty", language)
            )
            first.append(
                Binding(
                    row.index,
                    "invalid_phone",
                    None,
                    row.number or None,
                    keeps=claimed.number if claimed else None,
                    note=say("row_not_synced", language, what=what),
                )
            )
            continue
        if (
            claimed is not None
            and claimed.phone != row.phone
            and not (
                owner is not None
                and (owner.number == claimed.number or (row.number, row.phone) in trusted)
            )
        ):
            first.append(
                Binding(
                    row.index,
                    "mismatch",
                    row.phone,
                    claimed.number,
                    keeps=claimed.number,
                    # The note never shows the other customer's phone: an agent could
                    # otherwise read anyone's number by typing their Customer #.
                    note=say(
                        "number_mismatch",
                        language,
                        number=claimed.number,
                        phone=format_phone(row.phone),
                    ),
                )
            )
            continue
        existing = owner
        note = None
        if row.number and claimed is None:
            note = say("number_unknown", language, number=row.number)
        if existing is None:
            first.append(Binding(row.index, "new", row.phone, None, note=note))
        else:
            first.append(
                Binding(
                    row.index,
                    "bound",
                    existing.phone,
                    existing.number,
                    keeps=existing.number,
                    note=note,
                )
            )

    primary: dict[str, int] = {}
    for pos, (row, binding) in enumerate(zip(rows, first, strict=True)):
        if binding.outcome not in ("bound", "new") or binding.phone is None:
            continue
        held = primary.get(binding.phone)
        agrees = bool(row.number) and row.number == binding.number
        if held is None or (agrees and rows[held].number != binding.number):
            primary[binding.phone] = pos
    result: list[Binding] = []
    for pos, (row, binding) in enumerate(zip(rows, first, strict=True)):
        if binding.outcome in ("bound", "new") and binding.phone is not None:
            main = primary[binding.phone]
            if main != pos:
                result.append(
                    Binding(
                        row.index,
                        "duplicate",
                        binding.phone,
                        binding.number,
                        note=say(
                            "same_phone" if row.phone == rows[main].phone else "same_customer",
                            language,
                            row=rows[main].index + 1,
                        ),
                        duplicate_of=rows[main].index,
                    )
                )
                continue
        result.append(binding)
    return result

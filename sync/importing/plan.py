"""Planning an import: pure decisions over the legacy rows and what the database holds.

``plan_import`` folds the rows, in sheet order, onto the customers, trackings and
conflicts the database already has (``Existing``), with the sync's own merge rules
(``sync.dedupe``): one customer per normalized phone, one tracking per customer and
agent, an empty shared field is filled, a different non-empty one is a ``shared_field``
conflict keyed as the sync keys it. The result, an :class:`ImportPlan`, is both what a
dry run reports and what ``apply.apply_plan`` executes, so the two cannot disagree.

Rows go to the database in chunks of whole customers (all rows of one phone in one
chunk) so that an interrupted import, rerun, picks up the customers it did not finish:
every imported row leaves its digest in the import ledger, and ledgered rows are skipped.

One module at this size because the plan is one pure fold of the rows onto what the
database holds: customers, trackings, follow-ups, conflicts, rejections and chunks are
read and written on the same plan as it goes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields

from sync.dedupe import PhoneResult, SharedAction, merge_shared, parse_phone, value_text
from sync.fields import AGENT_KEYS, FIELDS_BY_KEY, SHARED_KEYS, header_key
from sync.importing.source import FOLLOW_UP_IMPORT_FIELDS, FOLLOW_UP_IMPORT_KEYS, SourceRow
from sync.rows import CellIssue

IMPORT_SHARED = tuple(k for k in SHARED_KEYS if k != "phone")
TRACKING_KEYS = (*AGENT_KEYS, "commission_pct")
# Free-text fields: a second row's text is appended (one line each), never replaces.
NOTE_KEYS = frozenset({"notes", "counselor_notes", "technical_opinion", "documents"})
NOTES_FIRST = ("notes", *(k for k in TRACKING_KEYS if k != "notes"))
FOLLOW_UP_TITLES = {f.key: f.header for f in FOLLOW_UP_IMPORT_FIELDS}

# Why a row is not imported (codes; the messages name the cell).
AGENT_EMPTY = "agent_empty"
UNKNOWN_AGENT = "unknown_agent"
AMBIGUOUS_AGENT = "ambiguous_agent"
PHONE_EMPTY = "phone_empty"
INVALID_PHONE = "invalid_phone"
UNREADABLE_CELL = "unreadable_cell"  # a cell only: the row is imported without it
ABOVE_HEADER = "above_header"


def title_of(key: str) -> str:
    if key in FIELDS_BY_KEY:
        return FIELDS_BY_KEY[key].header
    return FOLLOW_UP_TITLES.get(key, key.replace("_", " ").capitalize())


# -- what the database already holds ---------------------------------------------------------------


@dataclass(frozen=True)
class AgentRef:
    """An agent rows can be assigned to. ``id`` is None until the agent is in the database."""

    key: str
    name: str
    email: str = ""
    id: int | None = None


@dataclass
class ExistingCustomer:
    id: int
    number: str
    phone: str
    shared: dict[str, object]


@dataclass
class ExistingTracking:
    id: int
    customer_id: int
    values: dict[str, object]
    active: bool
    import_fed: bool  # an import created or fed it before: its rows are merged in sheet order
    follow_ups: set[tuple[str, ...]]


@dataclass
class ExistingConflict:
    key: str
    status: str
    current_value: str | None
    proposed_value: str | None
    details: dict[str, object]


@dataclass
class Existing:
    """The part of the database an import can touch, loaded before planning."""

    agents: list[AgentRef] = field(default_factory=list)
    customers: dict[str, ExistingCustomer] = field(default_factory=dict)  # by phone
    trackings: dict[tuple[str, str], ExistingTracking] = field(default_factory=dict)
    conflicts: dict[str, ExistingConflict] = field(default_factory=dict)  # by key
    others: list[ExistingCustomer] = field(default_factory=list)  # same email / name elsewhere
    imported: set[str] = field(default_factory=set)  # row digests in the import ledger
    rejected: set[str] = field(default_factory=set)  # digests whose rejection is recorded


# -- the plan --------------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class CustomerPlan:
    phone: str
    order: int
    existing: ExistingCustomer | None
    shared: dict[str, object]  # the canonical values as the fold leaves them
    created_by: str  # agent key of the first row (for a new customer)
    fills: dict[str, tuple[str, object]] = field(default_factory=dict)  # existing: before, value
    rows: list[int] = field(default_factory=list)
    spellings: list[str] = field(default_factory=list)  # the phone as typed, distinct
    chunk: int = 0

    @property
    def new(self) -> bool:
        return self.existing is None


@dataclass(eq=False, slots=True)
class FollowUpPlan:
    row: int
    values: dict[str, object]  # keys of sync.fields.FOLLOW_UP_KEYS


@dataclass(eq=False, slots=True)
class RowEntry:
    """A row applied to a tracking: the import ledger's record of it."""

    row: int
    digest: str
    cells: dict[str, str]


@dataclass(eq=False, slots=True)
class TrackingPlan:
    phone: str
    agent: str
    existing: ExistingTracking | None
    values: dict[str, object]  # every tracking field as the fold leaves it
    changes: dict[str, tuple[str, object]] = field(default_factory=dict)  # before text, value
    reactivate: bool = False
    import_fed: bool = True
    since: dt.date | None = None  # earliest First contact, for a new tracking
    rows: list[RowEntry] = field(default_factory=list)
    follow_ups: list[FollowUpPlan] = field(default_factory=list)
    follow_ups_known: int = 0  # rows whose follow-up the tracking already has
    replaced: list[tuple[int, str, str, str]] = field(default_factory=list)  # row, key, old, new

    @property
    def new(self) -> bool:
        return self.existing is None

    def set(self, key: str, value: object) -> None:
        before = value_text(self.existing.values.get(key)) if self.existing else ""
        self.values[key] = value
        if self.existing is not None:
            if value_text(value) == before:
                self.changes.pop(key, None)
            else:
                self.changes[key] = (before, value)

    def note(self, text: str) -> bool:
        """Append a line to Notes unless it is there already; returns whether it was added."""
        notes = value_text(self.values.get("notes"))
        if text in notes.split("\n") or (len(text) > 20 and text in notes):
            return False
        self.set("notes", f"{notes}\n{text}" if notes else text)
        return True


@dataclass(eq=False, slots=True)
class ConflictPlan:
    """A conflict to open (or to update or reopen, when its key exists)."""

    kind: str  # shared_field or possible_duplicate
    phone: str
    agent: str | None
    field: str | None
    current: str
    proposed: str
    rows: dict[int, str]  # row -> the value that row proposed
    existing: ExistingConflict | None = None
    other_phone: str | None = None  # possible_duplicate: the second customer
    chunk: int = 0

    @property
    def opens(self) -> bool:
        return self.existing is None or self.existing.status != "open"

    @property
    def changes(self) -> bool:
        """Whether applying it writes anything (an open conflict with this very proposal
        is left alone)."""
        return self.opens or (
            self.existing is not None and self.existing.proposed_value != self.proposed
        )


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row (or a cell of a row) the import does not take, and why."""

    row: int
    column: str | None
    value: str
    code: str
    reason: str
    whole_row: bool
    digest: str | None = None
    cells: tuple[tuple[str, str], ...] = ()
    recorded: bool = False  # an earlier run already put it in the audit log


@dataclass
class ImportCounts:
    """What an import does (or, in a dry run, would do). A dry run and the real import
    of the same sheet into the same database give equal counts."""

    rows_read: int = 0
    rows_imported: int = 0
    rows_already_imported: int = 0
    rows_rejected: int = 0
    rows_merged: int = 0
    cells_not_read: int = 0
    customers_created: int = 0
    customers_updated: int = 0
    trackings_created: int = 0
    trackings_reactivated: int = 0
    trackings_updated: int = 0
    follow_ups_created: int = 0
    conflicts_opened: int = 0
    conflicts_updated: int = 0
    shared_field_conflicts: int = 0
    possible_duplicates: int = 0
    duplicate_phones: int = 0
    agents_created: int = 0
    audit_events: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def changes(self) -> int:
        """Everything written to the database, in one number (0: the import was a no-op)."""
        return self.audit_events + self.conflicts_opened + self.conflicts_updated


@dataclass
class ImportPlan:
    label: str
    customers: dict[str, CustomerPlan] = field(default_factory=dict)  # by phone, sheet order
    trackings: dict[tuple[str, str], TrackingPlan] = field(default_factory=dict)
    conflicts: list[ConflictPlan] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    new_agents: list[AgentRef] = field(default_factory=list)
    unknown_agents: Counter[str] = field(default_factory=Counter)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    rows_read: int = 0
    already_imported: int = 0
    chunks: int = 0
    _shared_index: dict[tuple[str, str, str], ConflictPlan] = field(
        default_factory=dict, repr=False
    )

    def duplicate_groups(self) -> list[CustomerPlan]:
        """Customers two or more rows of this sheet went into."""
        return [c for c in self.customers.values() if len(c.rows) > 1]

    def counts(self) -> ImportCounts:
        """The counts this plan leads to, computed the way ``apply_plan`` counts its work."""
        n = ImportCounts(rows_read=self.rows_read, rows_already_imported=self.already_imported)
        for rejection in self.rejections:
            if rejection.whole_row and rejection.code != ABOVE_HEADER:
                n.rows_rejected += 1
            if not rejection.whole_row:
                n.cells_not_read += 1
            if rejection.whole_row and not rejection.recorded:
                n.audit_events += 1  # import_reject
        n.duplicate_phones = len(self.duplicate_groups())
        n.agents_created = len(self.new_agents)
        n.audit_events += len(self.new_agents)  # create_agent
        for customer in self.customers.values():
            if customer.new:
                n.customers_created += 1
                n.audit_events += 1  # create_customer
            elif customer.fills:
                n.customers_updated += 1
                n.audit_events += 1  # update_customer
        for tracking in self.trackings.values():
            n.rows_imported += len(tracking.rows)
            n.rows_merged += len(tracking.rows) - 1 if tracking.new else len(tracking.rows)
            n.audit_events += len(tracking.rows)  # import_row (the ledger)
            if tracking.new:
                n.trackings_created += 1
                n.audit_events += 1  # add_tracking
            else:
                if tracking.reactivate:
                    n.trackings_reactivated += 1
                    n.audit_events += 1  # reactivate_tracking
                if tracking.changes:
                    n.trackings_updated += 1
                    n.audit_events += 1  # update_tracking
            n.follow_ups_created += len(tracking.follow_ups)
            n.audit_events += len(tracking.follow_ups)  # create_follow_up
        for conflict in self.conflicts:
            if conflict.opens:
                n.conflicts_opened += 1
                if conflict.kind == "shared_field":
                    n.shared_field_conflicts += 1
                else:
                    n.possible_duplicates += 1
            elif conflict.changes:
                n.conflicts_updated += 1
        return n


# -- agents ----------------------------------------------------------------------------------------

_ARABIC_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي", "ة": "ه"})


def agent_fold(text: str) -> str:
    """Agent names match case-, space- and hamza-insensitively."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_ARABIC_LETTERS)
    return " ".join(header_key(part) for part in folded.split())


class AgentDirectory:
    """Finds the agent an Agent cell names: by key, name or email."""

    def __init__(self, agents: Iterable[AgentRef]):
        self.agents = list(agents)
        self.index: dict[str, set[str]] = {}
        for agent in self.agents:
            for name in (agent.key, agent.name, agent.email):
                if name:
                    self.index.setdefault(agent_fold(name), set()).add(agent.key)

    def find(self, text: str) -> tuple[str | None, bool]:
        """(agent key or None, ambiguous)."""
        keys = self.index.get(agent_fold(text), set())
        if len(keys) == 1:
            return next(iter(keys)), False
        return None, len(keys) > 1

    def add(self, agent: AgentRef) -> None:
        self.agents.append(agent)
        for name in (agent.key, agent.name, agent.email):
            if name:
                self.index.setdefault(agent_fold(name), set()).add(agent.key)


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def new_agent(text: str, taken: set[str]) -> AgentRef:
    """An agent for an unknown Agent cell (``--create-agents``), with a key config accepts."""
    text = " ".join(text.split())[:255]
    email = text if _EMAIL.fullmatch(text) else ""
    base = email.split("@")[0] if email else text
    ascii_ = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode().lower()
    key = re.sub(r"[^a-z0-9]+", "-", ascii_).strip("-")[:48]
    if not key or not key[0].isalnum():
        key = "agent-" + hashlib.sha1(text.encode()).hexdigest()[:6]
    candidate, n = key, 2
    while candidate in taken:
        candidate, n = f"{key}-{n}", n + 1
    taken.add(candidate)
    return AgentRef(candidate, text if not email else email.split("@")[0], email)


# -- the fold --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanOptions:
    default_region: str = "EG"
    create_agents: bool = False
    chunk_rows: int = 1000


PhoneReader = Callable[[object], PhoneResult]


def phone_reader(default_region: str) -> PhoneReader:
    """``parse_phone`` with a memo for one import (its lookups and its plan share it)."""
    memo: dict[tuple[type, object], PhoneResult] = {}

    def read(raw: object) -> PhoneResult:
        key = (type(raw), raw)
        found = memo.get(key)
        if found is None:
            found = memo[key] = parse_phone(raw, default_region)
        return found

    return read


def plan_import(
    rows: Sequence[SourceRow],
    existing: Existing,
    *,
    label: str,
    options: PlanOptions = PlanOptions(),
    above_header: Sequence[tuple[int, str]] = (),
    phones: PhoneReader | None = None,
) -> ImportPlan:
    """Decide what importing ``rows`` into the database described by ``existing`` does.

    Pure: reads its arguments, returns the plan. See the module docstring for the rules.
    """
    plan = ImportPlan(label=label, rows_read=len(rows))
    phone_of = phones or phone_reader(options.default_region)
    agents = AgentDirectory(existing.agents)
    taken = {a.key for a in existing.agents}
    for number, text in above_header:
        plan.rejections.append(
            Rejection(
                number,
                None,
                text,
                ABOVE_HEADER,
                "above the header row",
                whole_row=True,
                recorded=True,
            )
        )
    for row in rows:
        if row.digest in existing.imported:
            plan.already_imported += 1
            continue
        phone_raw = row.values.get("phone")
        result = phone_of(phone_raw) if phone_raw is not None else None
        problems: list[tuple[str, str, str, str]] = []
        title_row = False
        if phone_raw is None:
            problem, title_row = _phone_missing(row)
            problems.append(problem)
        elif result is None or result.e164 is None:
            problems.append(
                (
                    INVALID_PHONE,
                    "Phone",
                    value_text(phone_raw),
                    f"'{value_text(phone_raw)}' is not a valid phone number",
                )
            )
        if title_row:
            _reject(plan, row, problems, existing)  # a title or section row: nothing else to say
            continue
        agent_key, agent_problems = _row_agent(row, agents, plan, options, taken)
        problems += agent_problems
        if problems:
            _reject(plan, row, problems, existing)
            continue
        assert agent_key is not None and result is not None and result.e164 is not None
        if result.warning:
            plan.warnings.append((row.row, result.warning))
        _apply_row(plan, existing, row, agent_key, result.e164, value_text(phone_raw))
    _possible_duplicates(plan, existing)
    _completions(plan)
    _chunk(plan, options.chunk_rows)
    return plan


def _completions(plan: ImportPlan) -> None:
    """Warn about customers several agents marked Completed: the commission rule decides."""
    done: dict[str, list[str]] = {}
    for tracking in plan.trackings.values():
        if tracking.values.get("status") == "Completed":
            done.setdefault(tracking.phone, []).append(tracking.agent)
    for phone, agents in done.items():
        if len(agents) > 1:
            plan.warnings.append(
                (
                    plan.customers[phone].rows[0],
                    f"{', '.join(agents)} all marked this customer Completed: the next sync "
                    "applies the commission rule (first_to_complete: a completion race for "
                    "the admin to decide)",
                )
            )


def _row_agent(
    row: SourceRow,
    agents: AgentDirectory,
    plan: ImportPlan,
    options: PlanOptions,
    taken: set[str],
) -> tuple[str | None, list[tuple[str, str, str, str]]]:
    text = value_text(row.values.get("agent"))
    if not text:
        return None, [(AGENT_EMPTY, "Agent", "", "Agent is empty")]
    key, ambiguous = agents.find(text)
    if key is not None:
        return key, []
    if ambiguous:
        return None, [(AMBIGUOUS_AGENT, "Agent", text, f"'{text}' names more than one agent")]
    if options.create_agents:
        agent = new_agent(text, taken)
        agents.add(agent)
        plan.new_agents.append(agent)
        return agent.key, []
    plan.unknown_agents[text] += 1
    return None, [
        (
            UNKNOWN_AGENT,
            "Agent",
            text,
            f"unknown agent '{text}' (add it to the configuration, or rerun with --create-agents)",
        )
    ]


def _phone_missing(row: SourceRow) -> tuple[tuple[str, str, str, str], bool]:
    """The problem of a row without a phone, and whether it is a title or section row."""
    data = list(row.cells.values())
    if len(data) == 1 or not any(k in row.values for k in ("name", "email", *TRACKING_KEYS)):
        shown = " | ".join(data)
        if len(shown) > 60:
            shown = shown[:59] + "…"
        return (PHONE_EMPTY, "Phone", "", f"no phone: not a customer row ('{shown}')"), True
    return (PHONE_EMPTY, "Phone", "", "Phone is empty"), False


def _reject(
    plan: ImportPlan, row: SourceRow, problems: list[tuple[str, str, str, str]], existing: Existing
) -> None:
    code = problems[0][0]
    column = problems[0][1]
    plan.rejections.append(
        Rejection(
            row.row,
            column,
            "; ".join(p[2] for p in problems if p[2]),
            code,
            "; ".join(p[3] for p in problems),
            whole_row=True,
            digest=row.digest,
            cells=tuple(row.cells.items()),
            recorded=row.digest in existing.rejected,
        )
    )


def _apply_row(
    plan: ImportPlan,
    existing: Existing,
    row: SourceRow,
    agent: str,
    phone: str,
    typed: str,
) -> None:
    customer = plan.customers.get(phone)
    if customer is None:
        found = existing.customers.get(phone)
        customer = CustomerPlan(
            phone=phone,
            order=len(plan.customers),
            existing=found,
            shared=dict(found.shared) if found else {},
            created_by=agent,
        )
        plan.customers[phone] = customer
    customer.rows.append(row.row)
    if typed not in customer.spellings:
        customer.spellings.append(typed)

    tracking = plan.trackings.get((phone, agent))
    if tracking is None:
        known = existing.trackings.get((phone, agent))
        tracking = TrackingPlan(
            phone=phone,
            agent=agent,
            existing=known,
            values=dict(known.values) if known else {},
            reactivate=known is not None and not known.active,
            import_fed=known.import_fed if known else True,
        )
        plan.trackings[(phone, agent)] = tracking
    tracking.rows.append(RowEntry(row.row, row.digest, row.cells))
    issues = {i.field: i for i in row.issues}

    for key in IMPORT_SHARED:
        if key in row.values:
            _shared(plan, existing, customer, key, row, agent)
    for key in NOTES_FIRST:  # the row's own notes, then what its values replaced
        if key in row.values:
            _private(tracking, key, row.values[key], row.row, plan.label)
    first_contact = row.values.get("first_contact")
    if tracking.new and isinstance(first_contact, dt.date):
        tracking.since = min(tracking.since or first_contact, first_contact)
    _follow_up(tracking, row, issues)
    for key, issue in issues.items():
        plan.rejections.append(
            Rejection(
                row.row,
                issue.column,
                value_text(issue.raw),
                UNREADABLE_CELL,
                f"{issue.message}; the row is imported without this cell"
                + ("" if key in FOLLOW_UP_IMPORT_KEYS else ", its text is kept in Notes"),
                whole_row=False,
            )
        )
        if key not in FOLLOW_UP_IMPORT_KEYS:
            tracking.note(f"{plan.label} row {row.row}: {issue.column}: {issue.message}")


def _shared(
    plan: ImportPlan,
    existing: Existing,
    customer: CustomerPlan,
    key: str,
    row: SourceRow,
    agent: str,
) -> None:
    value = row.values[key]
    mine, canonical = value_text(value), value_text(customer.shared.get(key))
    action = merge_shared(None, mine, canonical)
    if action is SharedAction.FILL:
        customer.shared[key] = value
        if customer.existing is not None:
            before = value_text(customer.existing.shared.get(key))
            customer.fills[key] = (before, value)
    elif action is SharedAction.PROPOSE:
        planned = plan._shared_index.get((customer.phone, key, agent))
        if planned is not None:
            planned.proposed = mine
            planned.rows[row.row] = mine
            return
        number = customer.existing.number if customer.existing else None
        found = existing.conflicts.get(f"shared_field:{number}:{key}:{agent}") if number else None
        conflict = ConflictPlan(
            "shared_field",
            customer.phone,
            agent,
            key,
            current=canonical,
            proposed=mine,
            rows={row.row: mine},
            existing=found,
        )
        plan.conflicts.append(conflict)
        plan._shared_index[(customer.phone, key, agent)] = conflict


def _private(tracking: TrackingPlan, key: str, value: object, row: int, label: str) -> None:
    mine, stored = value_text(value), value_text(tracking.values.get(key))
    if mine == stored:
        return
    if key in NOTE_KEYS:
        lines = stored.split("\n") if stored else []
        if mine in lines or (len(mine) > 20 and mine in stored):
            return
        tracking.set(key, f"{stored}\n{mine}" if stored else value)
        return
    if not stored:
        tracking.set(key, value)
        return
    if key == "first_contact":
        if mine < stored:  # ISO dates: the earliest contact is the first one
            tracking.set(key, value)
        return
    title = title_of(key)
    if tracking.import_fed:
        # Rows of one agent merge in sheet order: the later row is the newer truth; the
        # value it replaces is kept in Notes.
        tracking.set(key, value)
        tracking.replaced.append((row, key, stored, mine))
        tracking.note(f"{title} was '{stored}' before {label} row {row}")
    else:
        # The agent's own tracking (from their sheet) is their truth: keep it, note ours.
        tracking.note(f"{label} row {row}: {title} '{mine}'")


def _follow_up(tracking: TrackingPlan, row: SourceRow, issues: dict[str, CellIssue]) -> None:
    values = {
        FOLLOW_UP_IMPORT_KEYS[k]: v for k, v in row.values.items() if k in FOLLOW_UP_IMPORT_KEYS
    }
    unread = [
        f"{issue.column}: {value_text(issue.raw)}"
        for k, issue in issues.items()
        if k in FOLLOW_UP_IMPORT_KEYS
    ]
    if unread:
        notes = value_text(values.get("notes"))
        values["notes"] = "\n".join([notes, *unread] if notes else unread)
    if not values:
        return
    signature = follow_up_signature(values)
    known = tracking.existing.follow_ups if tracking.existing else set()
    if signature in known or any(
        follow_up_signature(f.values) == signature for f in tracking.follow_ups
    ):
        tracking.follow_ups_known += 1
        return
    tracking.follow_ups.append(FollowUpPlan(row.row, values))


def follow_up_signature(values: dict[str, object]) -> tuple[str, ...]:
    return tuple(
        value_text(values.get(k)) for k in ("date", "type", "method", "notes", "next_action")
    )


# -- possible duplicates (as Ingest.flag_possible_duplicates) --------------------------------------


def _possible_duplicates(plan: ImportPlan, existing: Existing) -> None:
    """Same email, or same name and date of birth, under different phones."""
    people: dict[str, tuple[dict[str, object], int | None]] = {}  # phone -> shared, id
    for elsewhere in existing.others:
        people[elsewhere.phone] = (elsewhere.shared, elsewhere.id)
    for phone, found in existing.customers.items():
        people[phone] = (found.shared, found.id)
    for phone, customer in plan.customers.items():
        people[phone] = (customer.shared, customer.existing.id if customer.existing else None)
    by_email: dict[str, list[str]] = {}
    by_name: dict[tuple[str, str], list[str]] = {}
    for phone, (shared, _id) in people.items():
        email = value_text(shared.get("email")).lower()
        if email:
            by_email.setdefault(email, []).append(phone)
        name, born = value_text(shared.get("name")).lower(), value_text(shared.get("date_of_birth"))
        if name and born:
            by_name.setdefault((name, born), []).append(phone)
    numbers = {c.phone: c.number for c in [*existing.customers.values(), *existing.others]}
    seen: set[frozenset[str]] = set()
    for phone, customer in plan.customers.items():
        if not (customer.new or customer.fills):
            continue  # untouched customers are not checked again (as in the sync)
        shared = customer.shared
        email = value_text(shared.get("email")).lower()
        name, born = value_text(shared.get("name")).lower(), value_text(shared.get("date_of_birth"))
        partners = [*(by_email.get(email, []) if email else [])]
        if name and born:
            partners += by_name.get((name, born), [])
        for other in dict.fromkeys(partners):
            pair = frozenset((phone, other))
            if other == phone or pair in seen:
                continue
            seen.add(pair)
            other_email = value_text(people[other][0].get("email")).lower()
            same = "email" if email and email == other_email else "name and date of birth"
            if phone in numbers and other in numbers:
                first, second = sorted((phone, other), key=lambda p: people[p][1] or 0)
                key = f"possible_duplicate:{numbers[first]}:{numbers[second]}"
                if key in existing.conflicts:
                    continue  # opened once, never again (as in the sync)
            plan.conflicts.append(
                ConflictPlan(
                    "possible_duplicate",
                    phone,
                    None,
                    same,
                    current="",
                    proposed="",
                    rows={r: "" for r in customer.rows},
                    other_phone=other,
                )
            )


def _chunk(plan: ImportPlan, chunk_rows: int) -> None:
    """Cut the customers, in sheet order, into chunks of about ``chunk_rows`` rows."""
    index, size = 0, 0
    for customer in plan.customers.values():
        if size >= chunk_rows:
            index, size = index + 1, 0
        customer.chunk = index
        size += len(customer.rows)
    plan.chunks = index + 1 if plan.customers else 0
    for conflict in plan.conflicts:
        chunk = plan.customers[conflict.phone].chunk
        if conflict.other_phone in plan.customers:
            chunk = max(chunk, plan.customers[conflict.other_phone].chunk)
        conflict.chunk = chunk

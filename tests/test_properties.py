"""Hypothesis properties of the promises over random multi-agent histories.

A history is a list of steps — rows added (phones in random formats), private and
shared cells edited, rows sorted, removed and duplicated — with cycles interleaved.
After every cycle the promises must hold; at the end a cycle without edits must
write nothing, and replaying the history with the agents listed in the opposite
order must give the same database.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select

from sync.cells import cell_text
from sync.dedupe import normalize_phone
from sync.model import Agent, Conflict, Customer, Tracking
from tests.world import World

AGENTS = ("ali", "sara", "mohamed")
# Five real Egyptian mobiles, as national significant numbers.
NUMBERS = ("1001234567", "1112223344", "1223334455", "1098765432", "1505556677")
PRIVATE = ("Desired university", "Status", "Notes", "Counselor notes")
STATUSES = ("Prospect", "contacted", "IN_PROGRESS", "Negotiating", "Lost")
ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def typed(number: str, style: int) -> object:
    """One phone as an agent might type it (or a spreadsheet might store it)."""
    return [
        f"+20 {number[:3]} {number[3:6]} {number[6:]}",
        f"0{number}",
        f"0020{number}",
        int(number),  # the leading 0 eaten by the spreadsheet
        f"0{number}".translate(ARABIC),
        f"(0{number[:2]}) {number[2:5]}-{number[5:]}",
        float(f"20{number}"),
    ][style % 7]


@dataclass(frozen=True)
class Add:
    agent: str
    number: int
    style: int
    name: int
    status: int


@dataclass(frozen=True)
class EditPrivate:
    agent: str
    row: int
    field: int


@dataclass(frozen=True)
class EditShared:
    agent: str
    row: int
    value: int


@dataclass(frozen=True)
class Sort:
    agent: str
    reverse: bool


@dataclass(frozen=True)
class Remove:
    agent: str
    row: int


@dataclass(frozen=True)
class Duplicate:
    agent: str
    row: int


@dataclass(frozen=True)
class Cycle:
    pass


agent = st.sampled_from(AGENTS)
small = st.integers(0, 50)
step = st.one_of(
    st.builds(Add, agent, st.integers(0, len(NUMBERS) - 1), st.integers(0, 6), small, small),
    st.builds(Add, agent, st.integers(0, len(NUMBERS) - 1), st.integers(0, 6), small, small),
    st.builds(EditPrivate, agent, small, st.integers(0, len(PRIVATE) - 1)),
    st.builds(EditShared, agent, small, small),
    st.builds(Sort, agent, st.booleans()),
    st.builds(Remove, agent, small),
    st.builds(Duplicate, agent, small),
    st.just(Cycle()),
)
histories = st.lists(step, min_size=1, max_size=14)


class Player:
    """Plays a history into a World; tokens make every private value traceable to its agent."""

    def __init__(self, world: World):
        self.world = world
        self.counter = 0

    def token(self, agent: str, what: str) -> str:
        self.counter += 1
        return f"{agent}-{what}-{self.counter}"

    def data_rows(self, agent: str) -> list[list[object]]:
        return self.world.grid(agent)[1:]

    def play(self, s: object) -> None:
        w = self.world
        if isinstance(s, Add):
            w.type_rows(
                s.agent,
                [
                    {
                        "Name": f"Customer {s.name % 7}",
                        "Phone": typed(NUMBERS[s.number], s.style),
                        "Desired university": self.token(s.agent, "uni"),
                        "Status": STATUSES[s.status % 5],
                        "Notes": self.token(s.agent, "notes"),
                    }
                ],
            )
        elif isinstance(s, EditPrivate | EditShared | Remove | Duplicate | Sort):
            grid = w.grid(s.agent)
            rows = grid[1:]
            if not rows:
                return
            header = [cell_text(h) for h in grid[0]]
            if isinstance(s, Sort):
                col = header.index("Name")
                rows.sort(
                    key=lambda r: cell_text(r[col] if col < len(r) else None), reverse=s.reverse
                )
            else:
                target = rows[s.row % len(rows)]
                if isinstance(s, EditPrivate):
                    field = PRIVATE[s.field]
                    col = header.index(field)
                    target.extend([None] * (col + 1 - len(target)))
                    target[col] = (
                        STATUSES[self.counter % 5]
                        if field == "Status"
                        else self.token(s.agent, "edit")
                    )
                elif isinstance(s, EditShared):
                    col = header.index("Email")
                    target.extend([None] * (col + 1 - len(target)))
                    target[col] = f"shared{s.value % 4}@example.com"
                elif isinstance(s, Remove):
                    rows.remove(target)
                else:
                    rows.append(list(target))
            w.backend.set_tab(w.source(s.agent), "Customers", [grid[0], *rows])
        else:
            w.cycle()


def private_cells(world: World) -> dict[str, list[tuple[str, ...]]]:
    """Every agent's private cells as a sorted multiset of rows (sorting rows doesn't change it)."""
    found = {}
    for key in AGENTS:
        grid = world.grid(key)
        header = [cell_text(h) for h in grid[0]]
        cols = [header.index(f) for f in ("Desired university", "Notes", "Counselor notes")]
        found[key] = sorted(
            tuple(cell_text(r[c]) if c < len(r) else "" for c in cols) for r in grid[1:]
        )
    return found


def check_promises(world: World) -> None:
    """Promises 1, 2 and 3 on the current sheets and database."""
    with world.session() as s:
        customers = {c.phone: c for c in s.execute(select(Customer)).scalars()}
        trackings = {
            (t.customer.phone, t.agent.key): t for t in s.execute(select(Tracking)).scalars()
        }
        proposals = {
            (c.customer_id, c.field, c.agent_id, c.proposed_value)
            for c in s.execute(select(Conflict).where(Conflict.status == "open")).scalars()
        }
        agent_ids = {a.key: a.id for a in s.execute(select(Agent)).scalars()}
    for key in AGENTS:
        grid = world.grid(key)
        header = [cell_text(h) for h in grid[0]]
        cells = [cell_text(c) for row in grid for c in row]
        # Promise 2: nothing of another agent's tracking in any cell.
        for other in AGENTS:
            if other != key:
                leaked = [c for c in cells if f"{other}-" in c]
                assert not leaked, f"{key}'s sheet shows {other}'s tracking: {leaked}"
        for row in grid[1:]:
            get = {h: cell_text(row[i]) if i < len(row) else "" for i, h in enumerate(header)}
            phone = normalize_phone(
                row[header.index("Phone")] if header.index("Phone") < len(row) else None
            )
            if phone is None:
                continue
            # Promise 1: a valid phone has exactly one customer, and the row shows its number.
            assert phone in customers, f"{key}: no customer for {phone}"
            if get["Sync notes"]:
                continue  # promise 3: kept in the sheet, with a note saying why
            customer = customers[phone]
            assert get["Customer #"] == customer.number
            tracking = trackings[(phone, key)]
            assert tracking.active
            # Promise 3: every typed private value is in the database.
            assert cell_text(tracking.desired_university) == get["Desired university"]
            assert cell_text(tracking.notes) == get["Notes"]
            assert cell_text(tracking.counselor_notes) == get["Counselor notes"]
            email = get["Email"]
            if email and email != (customer.email or ""):
                assert (customer.id, "email", agent_ids[key], email) in proposals, (
                    f"{key}'s email {email!r} for {phone} is neither canonical nor proposed"
                )


def dump(world: World) -> dict[str, object]:
    """The database content that must not depend on the order of agents."""
    with world.session() as s:
        return {
            "customers": sorted(
                (c.phone, c.number, c.name, c.email) for c in s.execute(select(Customer)).scalars()
            ),
            "trackings": sorted(
                (t.customer.phone, t.agent.key, t.active, t.status, t.desired_university, t.notes)
                for t in s.execute(select(Tracking)).scalars()
            ),
            "conflicts": sorted(
                (c.kind, c.key, c.status) for c in s.execute(select(Conflict)).scalars()
            ),
        }


PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(history=histories)
def test_promises_hold_over_random_histories(engine_factory, history):
    world = World(engine_factory(), agents=AGENTS, mass_removal_min_rows=50)
    player = Player(world)
    for s in [*history, Cycle()]:
        note(repr(s))
        typed_before = private_cells(world)
        player.play(s)
        if isinstance(s, Cycle):
            # Only agents write private fields here: the sync must never change what they typed.
            assert private_cells(world) == typed_before
            check_promises(world)

    trackings_before = world.count(Tracking)
    counts, audits = world.table_counts(), world.audit_count()
    again = world.cycle()
    assert again.cells_written == 0, "promise 4: a cycle after a cycle writes nothing"
    assert world.table_counts() == counts and world.audit_count() == audits
    assert world.count(Tracking) >= trackings_before  # archived, never deleted


@PROPERTY_SETTINGS
@given(history=histories, seed=st.integers(0, 2**16))
def test_results_do_not_depend_on_the_order_of_agents(engine_factory, history, seed):
    order = list(AGENTS)
    random.Random(seed).shuffle(order)
    note(f"second world's agent order: {order}")
    first = World(engine_factory(), agents=AGENTS, mass_removal_min_rows=50)
    second = World(engine_factory(), agents=order, mass_removal_min_rows=50)
    for world in (first, second):
        player = Player(world)
        for s in [*history, Cycle()]:
            player.play(s)
    assert dump(first) == dump(second)

"""Nothing lost at the edges: every value kept exactly (issue 10, items 1 to 3).

* No silent truncation: the database and the audit keep a long text whole; a sheet whose
  cells cannot hold it shows it cut, with a marker and a Sync note, and the cut is never
  taken back as an edit; the agent's own cell is never rewritten shorter. Past a megabyte
  a typed cell is noted and not synced.
* Formula cells are read by what they show: an error value, or a formula saved without its
  value, is never taken as data; the row (or cell) is noted and left as it is.
* A lost workbook is rebuilt, never emptied: ``init`` writes the agent's whole view back
  into it, and a Customers tab that comes back empty is quarantined whatever its size.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from sync import service
from sync.admin import commands
from sync.admin.resolve import parse_resolution
from sync.backends import xlsx as xlsx_backend
from sync.backends.memory import MemoryBackend
from sync.backends.xlsx import XlsxBackend
from sync.cells import FORMULA_ERRORS, CellWrite, ErrorCell, NotData, UncalculatedFormula
from sync.dedupe import normalize_phone
from sync.long_text import (
    MAX_CELL_CHARS,
    XLSX_CELL_CHARS,
    cut_to_fit,
    is_cut,
    shows_cut_of,
    text_units,
    whole_of,
)
from sync.model import AuditEvent, Conflict, Customer, Tracking
from sync.xlsx_parts import Unpatchable, Unreadable
from tests.properties import on_each_database
from tests.world import MemoryHarness, World, XlsxHarness

PLACEHOLDER = "@@formula@@"


def scenarios(examples: int) -> settings:
    """Hypothesis settings for examples that each run cycles on a fresh database."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def with_formula(
    path: Path, formula: str, *, saved: str | None = None, error: bool = False
) -> None:
    """Put a formula in the cell of the workbook that holds PLACEHOLDER, as a spreadsheet
    program saves it: with its value (``saved``), as an error value, or (a file written by
    openpyxl) without any value."""
    escaped = formula.replace("&", "&amp;").replace('"', "&quot;")
    if error:
        body = f' t="e"><f>{escaped}</f><v>{saved}</v></c>'
    elif saved is not None:
        body = f' t="str"><f>{escaped}</f><v>{saved}</v></c>'
    else:
        body = f"><f>{escaped}</f><v /></c>"
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    cell = re.compile(
        rb'<c r="([A-Z]+\d+)"([^>]*?) t="inlineStr"><is><t[^>]*>'
        + PLACEHOLDER.encode()
        + rb"</t></is></c>"
    )
    for name, xml in parts.items():
        if name.startswith("xl/worksheets/") and PLACEHOLDER.encode() in xml:
            parts[name] = cell.sub(
                lambda m: b'<c r="' + m.group(1) + b'"' + m.group(2) + body.encode(), xml, count=1
            )
            break
    else:
        raise AssertionError("no placeholder cell")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body_ in parts.items():
            archive.writestr(name, body_)
    path.write_bytes(out.getvalue())


@pytest.fixture(params=["calamine", "openpyxl"])
def xlsx_world(request: pytest.FixtureRequest, engine, tmp_path: Path, monkeypatch) -> World:  # type: ignore[no-untyped-def]
    """A World of .xlsx workbooks, read by python-calamine or by the openpyxl fallback."""
    if request.param == "openpyxl":

        def unreadable(_data: bytes) -> None:
            raise Unreadable("forced: the fallback is under test")

        monkeypatch.setattr(xlsx_backend, "read_values", unreadable)
    return World(engine, harness=XlsxHarness(tmp_path))


def workbook(world: World, agent: str) -> Path:
    return Path(world.source(agent))


def customers(world: World) -> dict[str, Customer]:
    with world.session() as s:
        return {c.phone: c for c in s.execute(select(Customer)).scalars()}


# -- item 1: no silent truncation -----------------------------------------------------------


def long_text(length: int, tag: str = "") -> str:
    """A text of ``length`` characters whose every part is different (a cut shows)."""
    words = (f"{tag}{i:06d} " for i in range(length // 7 + 1))
    return "".join(words)[: length - 1] + "."


def master_cells(world: World, tab: str) -> list[object]:
    return [v for row in world.backend.get_tab(world.master, tab) for v in row]


def test_a_long_note_is_kept_whole_and_shown_cut_only_where_a_cell_cannot_hold_it(xlsx_world):
    world = xlsx_world
    notes = long_text(40_000)
    world.type_rows(
        "ali", [{"Name": "Ahmed Mohamed", "Phone": "01001234567", "Counselor notes": notes}]
    )

    world.cycle()

    with world.session() as s:
        assert s.execute(select(Tracking)).scalar_one().counselor_notes == notes
        afters = [e.after or {} for e in s.execute(select(AuditEvent)).scalars()]
    assert {"counselor_notes": notes} in afters  # the audit keeps it whole
    (row,) = world.rows("ali")
    assert row["Counselor notes"] == notes  # the agent's own cell: never rewritten shorter
    number = row["Customer #"]
    assert (
        "Counselor notes has 40,000 characters, more than a cell of this sheet holds (32,767)"
        in row["Sync notes"]
    )
    assert f"sheetsync history {number}" in row["Sync notes"]
    [shown] = [v for v in master_cells(world, "Tracking") if isinstance(v, str) and len(v) > 1000]
    assert text_units(shown) <= XLSX_CELL_CHARS and shows_cut_of(shown, notes)
    assert shown.startswith(notes[:30_000])

    counts, audits = world.table_counts(), world.audit_count()
    again = world.cycle()
    assert again.cells_written == 0
    assert world.table_counts() == counts and world.audit_count() == audits


def test_a_long_shared_value_shows_cut_to_a_colleague_and_the_cut_is_never_taken_back(
    engine, tmp_path
):
    world = World(engine, harness=XlsxHarness(tmp_path))
    name = long_text(40_000, "n")
    world.type_rows("ali", [{"Name": name, "Phone": "01001234567"}])
    world.type_rows("sara", [{"Phone": "0100 123 4567", "Notes": "sara's"}])

    world.cycle()

    (sara,) = world.rows("sara")
    assert shows_cut_of(sara["Name"], name) and text_units(sara["Name"]) <= XLSX_CELL_CHARS
    assert "Name has 40,000 characters" in sara["Sync notes"]
    for _ in range(2):  # the cut read back is neither an edit nor a proposal
        assert world.cycle().cells_written == 0
        assert customers(world)["+201001234567"].name == name
        with world.session() as s:
            assert s.execute(select(Conflict)).first() is None

    edited = "Sara's edit " + sara["Name"][12:]  # the marker kept: a changed cut
    world.edit("sara", {"Notes": "sara's"}, {"Name": edited})
    world.cycle()

    assert customers(world)["+201001234567"].name == name
    (sara,) = world.rows("sara")
    assert sara["Name"] == edited  # left as she has it, and said why
    assert (
        "Name shows a text cut to fit this sheet, changed since; not synced" in sara["Sync notes"]
    )
    assert world.cycle().cells_written == 0


@pytest.mark.parametrize("writer", ["patch", "openpyxl"])
def test_both_xlsx_writers_cut_a_text_too_long_for_a_cell_with_a_marker(
    tmp_path, monkeypatch, writer
):
    backend = XlsxBackend(tmp_path)
    backend.ensure_layout("a.xlsx", {"Customers": ["Name", "Notes"]})
    if writer == "openpyxl":

        def unpatchable(*_args: object) -> bytes:
            raise Unpatchable("forced: the fallback is under test")

        monkeypatch.setattr(xlsx_backend, "patch_cells", unpatchable)
    text = long_text(40_000) + "😀" * 10
    backend.write("a.xlsx", [CellWrite("Customers", 0, "Notes", None, "", text, group="g")])
    shown = backend.read("a.xlsx").tabs["Customers"][1][1]
    assert isinstance(shown, str) and text_units(shown) <= XLSX_CELL_CHARS
    assert whole_of(shown, [text[:-1], text]) == text


def test_a_cell_over_a_megabyte_is_noted_and_not_stored(engine):
    world = World(engine)
    huge = long_text(MAX_CELL_CHARS + 1)
    world.type_rows("ali", [{"Name": "Ahmed Mohamed", "Phone": "01001234567", "Notes": huge}])

    world.cycle()

    with world.session() as s:
        tracking = s.execute(select(Tracking)).scalar_one()
        stored = [(e.before, e.after) for e in s.execute(select(AuditEvent)).scalars()]
    assert tracking.notes is None and tracking.active
    assert huge[:1000] not in repr(stored)
    (row,) = world.rows("ali")
    assert row["Customer #"] != "" and row["Notes"] == huge  # synced, but for that cell
    assert "Notes: 1,000,001 characters, more than sheetsync keeps of one cell" in row["Sync notes"]
    assert world.cycle().cells_written == 0


class SmallCells(MemoryHarness):
    """Sheets whose cells hold 120 characters: long texts without long tests."""

    def backend(self, config: object) -> MemoryBackend:
        return MemoryBackend(cell_limit=120)


TEXTS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1).map(
    lambda t: t.strip() or "x"
)
LONG = st.builds(
    lambda start, n: (start * (300 // len(start) + 1))[:n] + "!", TEXTS, st.integers(100, 260)
)


@on_each_database(
    scenarios(25),
    private=st.dictionaries(
        st.sampled_from(["Notes", "Counselor notes", "Technical opinion", "Documents"]), LONG
    ),
    name=LONG | TEXTS,
)
def test_long_texts_are_kept_whole_and_idle_cycles_write_nothing(engine_factory, private, name):
    """Promises 3 and 4 with cells that hold 120 characters: every typed text is whole in the
    database, no cell of any sheet holds more than its limit, the typing agent's own cells
    are never rewritten, and a cycle after a cycle writes nothing."""
    world = World(engine_factory(), harness=SmallCells())
    typed = {"Name": name, "Phone": "01001234567", **private}
    world.type_rows("ali", [typed])
    world.type_rows("sara", [{"Phone": "01001234567"}])
    for _ in range(2):
        world.cycle()
        with world.session() as s:
            customer = s.execute(select(Customer)).scalar_one()
            ali = next(t for t in customer.trackings if t.agent.key == "ali")
            assert customer.name == name.strip()
            for header, text in private.items():
                key = header.lower().replace(" ", "_")
                assert getattr(ali, key) == text.strip()
        assert {k: v for k, v in world.rows("ali")[0].items() if k in typed} == {
            k: str(v).strip() for k, v in typed.items()
        }
        for source in [world.source("sara"), world.master]:  # Ali's own cells: as he typed
            for tab in world.backend.sources[source].values():
                for value in (v for r in tab for v in r):
                    assert not isinstance(value, str) or text_units(value) <= 120
        with world.session() as s:
            assert s.execute(select(Conflict)).first() is None
    counts, audits = world.table_counts(), world.audit_count()
    assert world.cycle().cells_written == 0
    assert world.table_counts() == counts and world.audit_count() == audits


def test_a_cut_text_in_the_master_is_not_an_admin_edit(engine):
    world = World(engine, harness=SmallCells())
    name = long_text(300)
    world.type_rows("ali", [{"Name": name, "Phone": "01001234567"}])
    world.cycle()

    def master_row() -> dict[str, object]:
        grid = world.backend.get_tab(world.master, "Customers")
        return dict(zip(grid[0], grid[1], strict=False))

    shown = master_row()["Name"]
    assert isinstance(shown, str) and shows_cut_of(shown, name)
    grid = world.backend.get_tab(world.master, "Customers")
    grid[1][grid[0].index("Email")] = "typed@by.admin"  # the admin edits another cell
    world.backend.set_tab(world.master, "Customers", grid)
    report = world.cycle()

    assert customers(world)["+201001234567"].name == name
    assert customers(world)["+201001234567"].email == "typed@by.admin"
    assert not report.warnings
    grid = world.backend.get_tab(world.master, "Customers")
    grid[1][grid[0].index("Name")] = "Admin " + shown[6:]  # the cut, edited
    world.backend.set_tab(world.master, "Customers", grid)
    report = world.cycle()

    assert customers(world)["+201001234567"].name == name
    assert any("shows a text cut to fit the sheet" in w for w in report.warnings)
    assert master_row()["Name"] == shown  # put back


@given(text=TEXTS, extra=st.integers(1, 500), limit=st.integers(100, 400))
def test_a_cut_text_fits_and_is_known_for_its_whole_and_nothing_else(text, extra, limit):
    whole = (text * (limit // len(text) + 2))[: limit + extra]
    shown = cut_to_fit(whole, limit)
    assert text_units(shown) <= limit and is_cut(shown)
    assert whole_of(shown, [whole[:-1], whole + "x", whole]) == whole
    other_start = ("A" if whole[0] != "A" else "B") + whole[1:]
    assert whole_of(shown, [other_start, whole[:-1], whole + "x"]) is None
    assert cut_to_fit(whole[: limit // 2], limit) == whole[: limit // 2]


# -- item 2: formula cells are read by what they show --------------------------------------


def test_a_formula_phone_is_read_by_its_saved_value_and_never_by_its_text(xlsx_world):
    world = xlsx_world
    world.type_rows(
        "ali",
        [
            {"Name": "Omar Unsaved", "Phone": PLACEHOLDER, "Notes": "typed by ali"},
            {"Name": "Mona Saved", "Phone": "01112223344"},
        ],
    )
    with_formula(workbook(world, "ali"), '"0100"&"5559999"')  # openpyxl wrote it: no value
    world.edit("ali", {"Name": "Mona Saved"}, {"Phone": PLACEHOLDER})
    with_formula(workbook(world, "ali"), '"0100"&"5559999"', saved="01005559999")

    report = world.cycle()

    assert set(customers(world)) == {"+201005559999"}  # Mona's, by what Excel shows
    assert report.customers_created == 1
    omar, mona = world.rows("ali")
    assert omar["Customer #"] == "" and mona["Customer #"] != ""
    assert "Phone: is a formula saved without its value" in omar["Sync notes"]
    assert "not synced" in omar["Sync notes"]
    grid = world.grid("ali")
    phone = grid[0].index("Phone")
    assert isinstance(grid[1][phone], UncalculatedFormula)  # the cell is left as it is
    assert grid[1][phone] == '="0100"&"5559999"'
    with world.session() as s:
        assert s.execute(select(Conflict).where(Conflict.kind == "invalid_phone")).first() is None
    assert world.cycle().cells_written == 0


def test_an_error_value_never_replaces_what_is_stored(xlsx_world):
    world = xlsx_world
    world.type_rows(
        "ali",
        [
            {
                "Name": "Ahmed Mohamed",
                "Phone": "01001234567",
                "Email": "ahmed@example.com",
                "Notes": "keep me",
            }
        ],
    )
    world.cycle()
    world.edit("ali", {"Name": "Ahmed Mohamed"}, {"Notes": PLACEHOLDER})
    with_formula(workbook(world, "ali"), "VLOOKUP(A2,Old!A:B,2,FALSE)", saved="#N/A", error=True)
    world.edit("ali", {"Name": "Ahmed Mohamed"}, {"Email": PLACEHOLDER})
    with_formula(workbook(world, "ali"), "Old!C7", saved="#REF!", error=True)
    world.type_rows("ali", [{"Name": PLACEHOLDER, "Phone": "01112223344"}])
    with_formula(workbook(world, "ali"), "1/0", saved="#DIV/0!", error=True)

    world.cycle()

    found = customers(world)
    assert found["+201001234567"].email == "ahmed@example.com"
    assert found["+201112223344"].name is None  # an error is never shared data
    with world.session() as s:
        notes = {t.customer.phone: t.notes for t in s.execute(select(Tracking)).scalars()}
        assert s.execute(select(Conflict).where(Conflict.kind == "shared_field")).first() is None
    assert notes["+201001234567"] == "keep me"
    ahmed, new = world.rows("ali")
    assert "Notes: shows the formula error #N/A" in ahmed["Sync notes"]
    assert "Email: shows the formula error #REF!" in ahmed["Sync notes"]
    assert "Name: shows the formula error #DIV/0!" in new["Sync notes"]
    grid = world.grid("ali")
    header = grid[0]
    assert isinstance(grid[1][header.index("Notes")], ErrorCell)  # left as it is
    assert grid[1][header.index("Email")] == "#REF!"
    assert new["Customer #"] != ""  # the rest of the row is synced
    assert world.cycle().cells_written == 0


def test_an_error_typed_in_the_master_is_not_an_admin_edit(engine):
    world = World(engine)
    world.type_rows("ali", [{"Name": "Ahmed Mohamed", "Phone": "01001234567", "Email": "a@x.eg"}])
    world.cycle()
    grid = world.backend.get_tab(world.master, "Customers")
    grid[1][grid[0].index("Email")] = ErrorCell("#NAME?")
    world.backend.set_tab(world.master, "Customers", grid)

    report = world.cycle()

    assert customers(world)["+201001234567"].email == "a@x.eg"
    assert any("shows the formula error #NAME?" in w for w in report.warnings)
    grid = world.backend.get_tab(world.master, "Customers")
    assert grid[1][grid[0].index("Email")] == "a@x.eg"  # put back
    assert not isinstance(grid[1][grid[0].index("Email")], NotData)


TYPED = {
    "Name": "Ahmed Mohamed",
    "Email": "ahmed@example.com",
    "Nationality": "Egyptian",
    "Desired university": "Cairo University",
    "Status": "Negotiating",
    "Notes": "keep me",
    "Next follow-up": "2026-02-01",
    "Graduation year": 2020,
    "Counselor notes": "call after exams",
}
SHOWN = st.sampled_from(sorted(FORMULA_ERRORS)).map(ErrorCell) | st.sampled_from(
    ["=A1+1", '="0100"&"5559999"', "=VLOOKUP(A2,Old!A:B,2,FALSE)", "="]
).map(UncalculatedFormula)


@on_each_database(
    scenarios(30),
    cells=st.dictionaries(st.sampled_from(sorted(TYPED)), SHOWN, min_size=1, max_size=4),
)
def test_no_field_ever_takes_what_a_formula_shows_when_it_has_no_value(engine_factory, cells):
    """Promise 3: the value typed before stays in the database; the cell stays in the sheet
    with a note; and the cycle after writes nothing (promise 4)."""
    world = World(engine_factory())
    world.type_rows("ali", [{**TYPED, "Phone": "01001234567"}])
    world.cycle()
    with world.session() as s:
        before = s.execute(select(Customer)).scalar_one(), s.execute(select(Tracking)).scalar_one()
        stored = [{k: getattr(o, k) for k in vars(o) if not k.startswith("_")} for o in before]

    world.edit("ali", {"Name": "Ahmed Mohamed"}, dict(cells))
    world.cycle()

    with world.session() as s:
        after = s.execute(select(Customer)).scalar_one(), s.execute(select(Tracking)).scalar_one()
        now = [{k: getattr(o, k) for k in vars(o) if not k.startswith("_")} for o in after]
        assert s.execute(select(Conflict).where(Conflict.status == "open")).first() is None
    assert now == stored
    (row,) = world.rows("ali")
    for header, value in cells.items():
        assert f"{header}: {value.problem()}" in row["Sync notes"]
        assert row[header] == value  # left as the agent has it
    assert world.cycle().cells_written == 0


# -- item 3: a lost workbook is rebuilt, never emptied ---------------------------------------

ALI_ROWS = [
    {"Name": "Ahmed Mohamed", "Phone": "01001234567", "Status": "Negotiating", "Notes": "a1"},
    {"Name": "Fatima Ali", "Phone": "0111 222 3344", "Desired university": "Cairo University"},
    {"Name": "Omar Hassan", "Phone": "+20 122 333 4455", "Counselor notes": "call on Sunday"},
]


def trackings(world: World) -> dict[tuple[str, str], bool]:
    with world.session() as s:
        return {
            (t.agent.key, t.customer.phone): t.active for t in s.execute(select(Tracking)).scalars()
        }


def shown(world: World, agent: str, tab: str = "Customers") -> list[dict[str, str]]:
    """The rows as an agent sees them, the phone normalized (a rebuilt row shows it
    formatted), in the order of their first column."""
    rows = [
        {**r, "Phone": normalize_phone(r["Phone"]) or r["Phone"]} for r in world.rows(agent, tab)
    ]
    return sorted(rows, key=lambda r: sorted(r.items()))


def test_init_rebuilds_a_lost_workbook_from_the_database_and_nothing_is_archived(engine, tmp_path):
    world = World(engine, harness=XlsxHarness(tmp_path))
    world.type_rows("ali", ALI_ROWS)
    world.type_rows("sara", [{"Phone": "0100 123 4567", "Notes": "sara's"}])
    world.cycle()
    world.type_rows(
        "ali", [{"Phone": "01001234567", "Date": "2026-01-15", "Notes": "visit"}], "Follow-ups"
    )
    world.cycle()
    before, follow_ups = shown(world, "ali"), shown(world, "ali", "Follow-ups")
    active = trackings(world)
    workbook(world, "ali").unlink()  # lost

    report = world.cycle()
    assert "run `sheetsync init` to rebuild it from the database" in report.failures["ali"]
    changes = service.init(world.config, world.engine, world.backend).changes

    assert f"rebuilt {world.source('ali')} from the database: 3 customer(s)" in changes
    assert shown(world, "ali") == before
    assert shown(world, "ali", "Follow-ups") == follow_ups
    report = world.cycle()
    assert report.trackings_archived == 0 and report.agents_quarantined == 0
    assert trackings(world) == active
    with world.session() as s:
        assert s.execute(select(Conflict).where(Conflict.status == "open")).first() is None
    assert world.cycle().cells_written == 0
    again = service.init(world.config, world.engine, world.backend).changes
    assert not [line for line in again if "rebuilt" in line]


def test_a_customers_tab_that_comes_back_empty_is_quarantined_whatever_its_size(engine):
    world = World(engine)  # mass_removal_min_rows is 5: two rows used to be archived
    world.type_rows("ali", ALI_ROWS[:2])
    world.cycle()
    full = world.grid("ali")
    active = trackings(world)

    world.backend.set_tab(world.source("ali"), "Customers", full[:1])
    report = world.cycle()

    assert report.agents_quarantined == 1 and report.trackings_archived == 0
    assert trackings(world) == active
    with world.session() as s:
        (held,) = s.execute(select(Conflict).where(Conflict.status == "open")).scalars()
    assert (held.kind, held.details["reason"]) == ("quarantine", "mass_removal")
    assert "came back empty: all 2 rows disappeared at once" in held.details["message"]
    assert "`sheetsync init` rebuilds it from the database" in held.details["message"]

    world.backend.set_tab(world.source("ali"), "Customers", full)  # the rows come back
    world.cycle()
    with world.session() as s:
        assert s.execute(select(Conflict).where(Conflict.status == "open")).first() is None
    assert trackings(world) == active

    world.backend.set_tab(world.source("ali"), "Customers", full[:1])  # on purpose, this time
    world.cycle()
    with world.session() as s:
        (held,) = s.execute(select(Conflict).where(Conflict.status == "open")).scalars()
    commands.resolve_conflict(world.config, world.engine, f"C{held.id}", parse_resolution("accept"))
    world.cycle()
    assert set(trackings(world).values()) == {False}  # archived, never deleted


@on_each_database(
    scenarios(15),
    rows=st.lists(
        st.tuples(st.integers(0, 4), st.sampled_from(["Notes", "Counselor notes", "Status"])),
        min_size=1,
        max_size=6,
        unique_by=lambda r: r[0],
    ),
    shared=st.sets(st.integers(0, 4)),
)
def test_a_lost_sheet_comes_back_as_it_was(engine_factory, rows, shared):
    """Promise 3: after a lost workbook and init, the agent's sheet shows every customer it
    showed, with its private values; nothing is archived and the next cycle is idle."""
    phones = ["01001234567", "01112223344", "01223334455", "01098765432", "01505556677"]
    world = World(engine_factory())
    world.type_rows(
        "ali",
        [
            {"Name": f"C{n}", "Phone": phones[n], key: "Lost" if key == "Status" else f"ali {n}"}
            for n, key in rows
        ],
    )
    world.type_rows("sara", [{"Phone": phones[n], "Notes": f"sara {n}"} for n in sorted(shared)])
    world.cycle()
    before, active = shown(world, "ali"), trackings(world)
    del world.backend.sources[world.source("ali")]

    service.init(world.config, world.engine, world.backend)

    assert shown(world, "ali") == before
    report = world.cycle()
    assert report.trackings_archived == 0 and trackings(world) == active
    assert world.cycle().cells_written == 0


def test_long_emails_are_stored_whole_and_matched_whole_as_possible_duplicates(engine):
    """An email (or name) far past what an index row holds is stored whole; the lookup of
    possible duplicates finds it case-folded, and a text that only starts the same is not
    a duplicate."""
    email = long_text(40_000, "e") + "@example.com"
    twin = email[:300] + "x" + email[301:]  # the same first 300 characters
    world = World(engine)
    world.type_rows(
        "ali",
        [
            {"Name": "Ahmed", "Phone": "0100 123 4567", "Email": email},
            {"Name": "Omar", "Phone": "0122 333 4455", "Email": twin},
        ],
    )
    world.type_rows("sara", [{"Name": "Sara's", "Phone": "0111 222 3344", "Email": email.upper()}])
    world.cycle()
    stored = {c.phone: c.email for c in customers(world).values()}
    assert stored["+201001234567"] == email and stored["+201223334455"] == twin
    with world.session() as s:
        pairs = {
            tuple(c.details["phones"])
            for c in s.execute(
                select(Conflict).where(Conflict.kind == "possible_duplicate")
            ).scalars()
        }
    assert pairs == {("+201001234567", "+201112223344")}

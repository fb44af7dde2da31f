"""`sheetsync demo`: the seed's scenario on real .xlsx workbooks and SQLite.

Ahmed Mohamed is typed by Ali and by Sara in different phone formats, with different
universities and statuses; Sara works in Arabic (her sheet is laid out right to left,
what the sync writes there is in Arabic) with headers in her own column order; a few
messy rows show what the sync does with bad input; Mohamed checks two phones in his
Check tab and adds one of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import openpyxl
from rich.console import Console
from rich.table import Table

from sync import service
from sync.backends.xlsx import XlsxBackend
from sync.config import load_config

CONFIG = """\
# sheetsync demo configuration: three agents, SQLite, local workbooks.
[database]
url = "sqlite:///sheetsync.db"

[phones]
default_region = "EG"

[sync]
commission_rule = "first_to_complete"
day_first = true
timezone = "Africa/Cairo"
mass_removal_threshold = 0.5
mass_removal_min_rows = 5

[master]
workbook = "master.xlsx"

[aliases]
desired_university = ["الجامعة المرغوبة"]

[[agents]]
key = "ali"
name = "Ali Hassan"
email = "ali@company.com"
workbook = "agents/ali.xlsx"

[[agents]]
key = "sara"
name = "Sara Ahmed"
email = "sara@company.com"
workbook = "agents/sara.xlsx"
language = "ar"  # her sheet in Arabic, right to left

[[agents]]
key = "mohamed"
name = "Mohamed Sayed"
email = "mohamed@company.com"
workbook = "agents/mohamed.xlsx"
"""

ALI_CUSTOMERS: list[list[object]] = [
    [
        "Customer #",
        "Name",
        "Phone",
        "Email",
        "Nationality",
        "Desired university",
        "Desired college",
        "Desired program",
        "Status",
        "Interest",
        "Notes",
        "Next follow-up",
        "First contact",
    ],
    [
        None,
        "Ahmed Mohamed",
        "+20 100 123 4567",
        "ahmed@example.com",
        "Egyptian",
        "Cairo University",
        "Engineering",
        "Computer Science",
        "In progress",
        "High",
        "Customer interested in scholarship",
        dt.date(2026, 1, 15),  # past: the workbook shades it amber (a due follow-up)
        dt.date(2026, 1, 10),
    ],
    [
        None,
        "Fatima Ali",
        "0111 222 3344",
        None,
        "Egyptian",
        "Ain Shams University",
        "Commerce",
        "Accounting",
        "completed",
        "high",
        "Signed",
        None,
        dt.date(2026, 1, 5),
    ],
    [
        None,
        "Omar Hassan",
        "0122-333-4455",
        "omar@example.com",
        None,
        "Helwan University",
        "Arts",
        "English",
        "contacted",
        "Medium",
        '=HYPERLINK("http://example.com","x")',
        "31/31/2026",
        None,
    ],
    [
        None,
        "Broken Number",
        "12345",
        None,
        None,
        None,
        None,
        None,
        "Prospect",
        None,
        "typo in phone",
        None,
        None,
    ],
]
ALI_FOLLOW_UPS: list[list[object]] = [
    ["Follow-up #", "Customer #", "Phone", "Date", "Type", "Method", "Notes", "Next action"],
    [
        None,
        None,
        "+20 100 123 4567",
        dt.date(2026, 1, 10),
        "Call",
        "Phone",
        "Called customer, discussed Cairo University",
        "Send application requirements",
    ],
    [
        None,
        None,
        "01001234567",
        dt.date(2026, 1, 12),
        "Meeting",
        "Office",
        "Met in office, showed campus photos",
        "Customer will decide by Friday",
    ],
]
# Sara: Arabic headers, her own column order; Ahmed's phone lost its leading 0 (stored as a number).
SARA_CUSTOMERS: list[list[object]] = [
    [
        "الاسم",
        "الهاتف",
        "Email",
        "الجامعة المرغوبة",
        "الكلية",
        "Desired program",
        "الحالة",
        "Interest",
        "ملاحظات",
        "First contact",
    ],
    [
        "Ahmed Mohamed",
        1001234567,
        "ahmed.m@example.com",
        "Alexandria University",
        "Medicine",
        "General Medicine",
        "Negotiating",
        "Medium",
        "Customer also interested in medical program",
        "11/01/2026",
    ],
    [
        "Sarah Ibrahim",
        "٠١٠٩٨٧٦٥٤٣٢",
        "sarah@example.com",
        "Alexandria University",
        "Pharmacy",
        "Pharmacy",
        "Completed",
        "High",
        "Paid deposit",
        "03/01/2026",
    ],
    [
        "Sarah Ibrahim",
        "01098765432",
        None,
        None,
        None,
        None,
        "Completed",
        None,
        "typed twice",
        None,
    ],
]
SARA_FOLLOW_UPS: list[list[object]] = [
    ["Follow-up #", "Customer #", "Phone", "Date", "Type", "Method", "Notes", "Next action"],
    [
        None,
        None,
        "01001234567",
        dt.date(2026, 1, 11),
        "Email",
        "Email",
        "Sent medical program information",
        "Wait for customer response",
    ],
    [
        None,
        None,
        "01001234567",
        dt.date(2026, 1, 13),
        "WhatsApp",
        "WhatsApp",
        "Customer asked about tuition fees",
        "Send fee structure",
    ],
]
MOHAMED_CUSTOMERS: list[list[object]] = [
    ["Customer #", "Name", "Phone", "Desired university", "Status", "Notes"],
    [None, "Omar Hassan", "00201223334455", "Cairo University", "Prospect", "Met at the fair"],
]
# Mohamed checks two phones before adding them: Ahmed (Ali and Sara track him) and a new one,
# which he adds to his Customers with نعم ("yes").
MOHAMED_CHECK: list[list[object]] = [
    ["Phone", "Name", "Add my tracking"],
    ["0100 123 4567", None, None],
    ["0155 000 1111", "Laila Nabil", "نعم"],
]


def write_workbook(path: Path, tabs: dict[str, list[list[object]]]) -> None:
    """Write a workbook the way an agent's spreadsheet program would (phones may be numbers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in tabs.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
            for cell in sheet[sheet.max_row]:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # typed as text by the agent, never a formula
    book.save(path)


def run_demo(directory: Path, console: Console, command: str = "sheetsync") -> None:
    """Write the demo into ``directory``, init and sync it twice, print the views.

    Args:
        command: how the user runs sheetsync (e.g. ``.venv/bin/sheetsync``), for the
            command it suggests at the end.
    """
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "sheetsync.toml"
    config_path.write_text(CONFIG, encoding="utf-8")
    for stale in ("sheetsync.db", "sheetsync.db-wal", "sheetsync.db-shm", "master.xlsx"):
        (directory / stale).unlink(missing_ok=True)
    write_workbook(
        directory / "agents/ali.xlsx", {"Customers": ALI_CUSTOMERS, "Follow-ups": ALI_FOLLOW_UPS}
    )
    write_workbook(
        directory / "agents/sara.xlsx", {"Customers": SARA_CUSTOMERS, "Follow-ups": SARA_FOLLOW_UPS}
    )
    write_workbook(
        directory / "agents/mohamed.xlsx", {"Customers": MOHAMED_CUSTOMERS, "Check": MOHAMED_CHECK}
    )

    config = load_config(config_path)
    engine = service.open_database(config, create=True)
    backend = XlsxBackend()
    done = service.init(config, engine, backend)
    console.print(f"[bold]init[/bold]: {len(done.changes)} change(s)")
    report = service.sync_once(config, engine, backend)
    console.print(
        f"[bold]sync[/bold]: {report.customers_created} customers, {report.trackings_added} "
        f"trackings, {report.cells_written} cells written, {report.conflicts_opened} conflicts"
    )
    again = service.sync_once(config, engine, backend)
    console.print(
        f"[bold]sync again[/bold] (no edits): {again.cells_written} cells written, "
        f"{again.sources_read} sources read"
    )

    for agent in config.agents:
        snapshot = backend.read(config.agent_source(agent))
        for tab, grid in snapshot.tabs.items():
            show = _shown_columns(grid[0] if grid else [])
            table = Table(title=f"{agent.name} — {agent.workbook} — {tab}", show_lines=False)
            for _, title in show:
                table.add_column(str(title), overflow="fold", max_width=28)
            for row in grid[1:]:
                table.add_row(*(_text(row[i]) if i < len(row) else "" for i, _ in show))
            console.print(table)
    console.print(
        "a Next follow-up on or before today is shaded amber when a workbook is opened, "
        "unless the Status is Completed or Lost (a rule init set; no sync needed)"
    )
    console.print(f"master workbook: {config.master_source()}")
    console.print(f"try: {command} --config {config_path} conflicts", highlight=False)


def _shown_columns(header: Sequence[object]) -> list[tuple[int, object]]:
    wanted = {
        "customer #",
        "name",
        "phone",
        "email",
        "desired university",
        "status",
        "next follow-up",
        "also tracked by",
        "sync notes",
        "follow-up #",
        "date",
        "notes",
        "الاسم",
        "الهاتف",
        "الجامعة المرغوبة",
        "الحالة",
        "رقم العميل",
        "يتابعه أيضا",
        "ملاحظات المزامنة",
        "commission %",
        "result",
        "tracked by",
        "add my tracking",
    }
    return [(i, h) for i, h in enumerate(header) if str(h).strip().lower() in wanted]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return str(value)

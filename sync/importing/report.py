"""What an import did or would do: text for the terminal, an .xlsx workbook for people."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sync.cells import CellValue
from sync.dedupe import format_phone, value_text
from sync.errors import SyncError
from sync.importing.plan import (
    ABOVE_HEADER,
    AGENT_EMPTY,
    ConflictPlan,
    CustomerPlan,
    ImportPlan,
    TrackingPlan,
    title_of,
)
from sync.importing.run import ImportOutcome

COUNT_LABELS = {
    "rows_read": "rows read",
    "rows_imported": "rows imported",
    "rows_already_imported": "rows already imported (skipped)",
    "rows_rejected": "rows not imported",
    "rows_merged": "rows merged into a tracking",
    "cells_not_read": "cells not read (row imported)",
    "customers_created": "customers created",
    "customers_updated": "customers updated",
    "trackings_created": "trackings created",
    "trackings_reactivated": "trackings reactivated",
    "trackings_updated": "trackings updated",
    "follow_ups_created": "follow-ups created",
    "conflicts_opened": "conflicts opened",
    "shared_field_conflicts": "  shared field",
    "possible_duplicates": "  possible duplicate",
    "conflicts_updated": "conflicts updated",
    "duplicate_phones": "phones on several rows",
    "agents_created": "agents created",
    "audit_events": "audit events",
}


def phone_text(phone: str) -> str:
    try:
        return format_phone(phone)
    except ValueError:
        return phone


def agent_names(outcome: ImportOutcome) -> dict[str, str]:
    return {a.key: a.name for a in [*outcome.agents, *outcome.plan.new_agents]}


def by_phone(plan: ImportPlan) -> dict[str, list[TrackingPlan]]:
    index: dict[str, list[TrackingPlan]] = defaultdict(list)
    for tracking in plan.trackings.values():
        index[tracking.phone].append(tracking)
    return index


def merge_text(customer: CustomerPlan, trackings: list[TrackingPlan], names: dict[str, str]) -> str:
    """'new customer; Ali Hassan: rows 3, 57 merged into one tracking; Sara Ahmed: row 12'."""
    parts = []
    for tracking in trackings:
        rows = [e.row for e in tracking.rows]
        who = names.get(tracking.agent, tracking.agent)
        if len(rows) > 1:
            parts.append(f"{who}: rows {', '.join(map(str, rows))} merged into one tracking")
        else:
            parts.append(f"{who}: row {rows[0]}")
        if not tracking.new:
            parts[-1] += " (added to the existing tracking)"
    head = "new customer" if customer.new else f"existing customer {customer.existing.number}"  # type: ignore[union-attr]
    return f"{head}; " + "; ".join(parts)


def conflict_text(conflict: ConflictPlan, names: dict[str, str]) -> str:
    if conflict.kind == "possible_duplicate":
        return (
            f"possible duplicate: {phone_text(conflict.phone)} and "
            f"{phone_text(conflict.other_phone or '')} have the same {conflict.field}"
        )
    rows = sorted(conflict.rows)
    where = f"row {rows[0]}" if len(rows) == 1 else f"rows {', '.join(map(str, rows))}"
    return (
        f"{title_of(conflict.field or '')} of {phone_text(conflict.phone)}: "
        f"{names.get(conflict.agent or '', conflict.agent)} typed '{conflict.proposed}' "
        f"({where}), shared value '{conflict.current}'"
    )


def summary_lines(outcome: ImportOutcome) -> list[str]:
    """A few lines about the source: what was read and how."""
    read = outcome.read
    lines = [
        f"source: {read.where}"
        + (f" (encoding {read.encoding}" if read.encoding else "")
        + (f", delimiter {read.delimiter}" if read.encoding and read.delimiter else "")
        + (")" if read.encoding else "")
        + f", header on row {read.header_row}",
        "columns: " + ", ".join(f"{title} -> {key}" for key, title in read.columns.items()),
    ]
    if read.unmapped:
        lines.append(
            "not mapped (kept in the import log only; map with --map HEADER=field): "
            + ", ".join(read.unmapped)
        )
    if read.merged_filled or read.filled_down:
        lines.append(
            f"filled from merged cells: {read.merged_filled}; by --fill-down: {read.filled_down}"
        )
    lines.append(f"blank rows skipped: {read.blank_rows}")
    return lines


# -- the .xlsx report ------------------------------------------------------------------------------


def write_report(outcome: ImportOutcome, path: str | Path) -> Path:
    """Write the report workbook; text is always stored as text, never as a formula."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    plan, read = outcome.plan, outcome.read
    names = agent_names(outcome)
    trackings = by_phone(plan)
    conflicts: dict[str, list[ConflictPlan]] = defaultdict(list)
    for conflict in plan.conflicts:
        conflicts[conflict.phone].append(conflict)
    book = openpyxl.Workbook(write_only=True)

    def sheet(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        ws = book.create_sheet(title)
        ws.append([_cell(ws, h, WriteOnlyCell, bold=True) for h in header])
        for row in rows:
            ws.append([_cell(ws, v, WriteOnlyCell) for v in row])

    did = "What the import would do" if outcome.dry_run else "What the import did"
    sheet(
        "Summary",
        ["What", "Count" if outcome.dry_run else "Done"],
        [
            ["mode", "dry run: nothing was written" if outcome.dry_run else "import"],
            ["source", read.where],
            ["encoding", read.encoding or ""],
            ["delimiter", read.delimiter or ""],
            ["header row", read.header_row],
            *[[COUNT_LABELS.get(k, k), v] for k, v in outcome.counts.as_dict().items()],
            *[["column " + title, key] for key, title in read.columns.items()],
            *[["column " + title, "not mapped"] for title in read.unmapped],
        ],
    )
    sheet(
        "Customers",
        ["Phone", "Customer #", "Name", "Rows", "Agents", did],
        (
            [
                phone_text(c.phone),
                c.existing.number if c.existing else "(new)",
                value_text(c.shared.get("name")),
                ", ".join(map(str, c.rows)),
                ", ".join(names.get(t.agent, t.agent) for t in trackings[c.phone]),
                "create" if c.new else ("fill " + ", ".join(c.fills) if c.fills else "match"),
            ]
            for c in plan.customers.values()
        ),
    )
    sheet(
        "Duplicates",
        ["Phone", "Customer #", "Rows", "Phone as typed", "How they merge", "Conflicts"],
        (
            [
                phone_text(c.phone),
                c.existing.number if c.existing else "(new)",
                ", ".join(map(str, c.rows)),
                " | ".join(c.spellings),
                merge_text(c, trackings[c.phone], names),
                "; ".join(conflict_text(k, names) for k in conflicts[c.phone]),
            ]
            for c in plan.duplicate_groups()
        ),
    )
    sheet(
        "Trackings",
        [
            "Phone",
            "Agent",
            "Rows",
            did,
            "Follow-ups",
            "Values replaced by later rows",
        ],
        (
            [
                phone_text(t.phone),
                names.get(t.agent, t.agent),
                ", ".join(str(e.row) for e in t.rows),
                "create"
                if t.new
                else ", ".join(
                    x
                    for x in (
                        "reactivate" if t.reactivate else "",
                        "update " + ", ".join(t.changes) if t.changes else "",
                    )
                    if x
                )
                or "match",
                len(t.follow_ups),
                "; ".join(
                    f"row {r}: {title_of(k)} '{old}' -> '{new}'" for r, k, old, new in t.replaced
                ),
            ]
            for t in plan.trackings.values()
        ),
    )
    sheet(
        "Not imported",
        ["Row", "Column", "Value", "Reason", "Whole row", "Cells of the row"],
        (
            [
                r.row,
                r.column or "",
                r.value,
                r.reason,
                "yes" if r.whole_row else "no (row imported)",
                " | ".join(f"{k}: {v}" for k, v in r.cells),
            ]
            for r in sorted(plan.rejections, key=lambda r: (r.row, not r.whole_row))
        ),
    )
    sheet(
        "Conflicts",
        [
            "Kind",
            "Phone",
            "Customer #",
            "Agent",
            "Field",
            "Shared value",
            "Proposed",
            "Rows",
            did,
        ],
        (
            [
                k.kind,
                phone_text(k.phone),
                c.existing.number if (c := plan.customers[k.phone]).existing else "(new)",
                names.get(k.agent or "", k.agent or ""),
                title_of(k.field) if k.kind == "shared_field" and k.field else k.field or "",
                k.current if k.kind == "shared_field" else phone_text(k.phone),
                k.proposed if k.kind == "shared_field" else phone_text(k.other_phone or ""),
                ", ".join(map(str, sorted(k.rows))),
                "open" if k.existing is None else ("reopen" if k.opens else "update"),
            ]
            for k in plan.conflicts
            if k.changes
        ),
    )
    sheet(
        "Agents",
        ["Agent as typed", "Rows", did],
        [
            *[[text, n, "unknown: rows not imported"] for text, n in plan.unknown_agents.items()],
            *[
                [a.name, "", f"create agent '{a.key}' (add it to the configuration for a sheet)"]
                for a in plan.new_agents
            ],
        ],
    )
    sheet("Warnings", ["Row", "Warning"], plan.warnings)
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        book.save(target)
    except OSError as exc:
        raise SyncError(
            f"cannot write the report: {exc.strerror or exc}", where=str(target)
        ) from None
    return target


def _cell(ws: Any, value: object, factory: Any, *, bold: bool = False) -> Any:
    cell = factory(ws, value=_plain(value))
    if isinstance(cell.value, str):
        cell.data_type = "s"  # text typed by someone is never a formula here (promise 6)
    if bold:
        from openpyxl.styles import Font

        cell.font = Font(bold=True)
    return cell


def _plain(value: object) -> CellValue:
    if value is None or isinstance(value, int | float):
        return value
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def detail_lines(outcome: ImportOutcome, limit: int = 20) -> list[str]:
    """The first rejected rows, conflicts and merges, for the terminal."""
    plan = outcome.plan
    names = agent_names(outcome)
    lines: list[str] = []
    rejected = [r for r in plan.rejections if r.code != ABOVE_HEADER]
    for r in rejected[:limit]:
        where = f"row {r.row}" + (f", {r.column}" if r.column else "")
        # A cell that could not be read does not stop its row: say so from the start.
        lines.append(f"{'not imported' if r.whole_row else 'cell left out'}: {where}: {r.reason}")
    if len(rejected) > limit:
        lines.append(f"... and {len(rejected) - limit} more (see --report)")
    if plan.unknown_agents:
        lines.append(
            "unknown agents (rows not imported): "
            + ", ".join(
                f"'{t}' ({n} row{'' if n == 1 else 's'})"
                for t, n in plan.unknown_agents.most_common()
            )
        )
    for agent in plan.new_agents:
        lines.append(
            f"agent '{agent.name}' added as key '{agent.key}': add it to [[agents]] in the "
            "configuration (with a workbook) to give them their own sheet"
        )
    conflicts = [c for c in plan.conflicts if c.changes]
    for conflict in conflicts[:limit]:
        lines.append("conflict: " + conflict_text(conflict, names))
    if len(conflicts) > limit:
        lines.append(f"... and {len(conflicts) - limit} more conflicts (see --report)")
    if any(r.code == AGENT_EMPTY for r in plan.rejections):
        column = outcome.read.columns.get("agent", "Agent")
        lines.append(
            "rows with an empty Agent cell: if the Agent column was merged across rows in "
            f'the sheet, rerun with --fill-down "{column}"'
        )
    for row, warning in plan.warnings[:limit]:
        lines.append(f"warning: row {row}: {warning}")
    if len(plan.warnings) > limit:
        lines.append(f"... and {len(plan.warnings) - limit} more warnings (see --report)")
    groups = plan.duplicate_groups()
    trackings = by_phone(plan)
    for c in groups[: min(limit, 10)]:
        lines.append(
            f"duplicate: {phone_text(c.phone)}: {merge_text(c, trackings[c.phone], names)}"
        )
    if len(groups) > min(limit, 10):
        lines.append(f"... and {len(groups) - min(limit, 10)} more duplicates (see --report)")
    return lines

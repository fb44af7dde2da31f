"""The admin's commands, registered on the ``sheetsync`` app by :mod:`sync.cli`.

``conflicts`` (list; ``resolve``), ``merge``, ``delete``, ``restore``, ``undo``, ``history``,
and ``report``
(``commission``, ``pipeline``). Errors are :class:`~sync.admin.core.AdminError`
(exit code 2), printed by ``sync.cli.main``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sync.lazy import lazy_module

if TYPE_CHECKING:
    from sync import db, reports, service
    from sync.admin import commands, core, resolve
    from sync.config import Config
else:  # loaded when a command runs, so that `sheetsync --help` starts quickly
    db = lazy_module("sync.db")
    reports = lazy_module("sync.reports")
    service = lazy_module("sync.service")
    commands = lazy_module("sync.admin.commands")
    core = lazy_module("sync.admin.core")
    resolve = lazy_module("sync.admin.resolve")


def register(app: typer.Typer, config: Callable[[], Config], out: Console) -> None:
    """Add the admin's commands to the ``sheetsync`` app.

    Args:
        config: returns the configuration (read when a command runs).
        out: where results are printed.
    """
    conflicts = typer.Typer(
        help=(
            "The admin's queue: list open conflicts, resolve one.\n\n"
            "Example: sheetsync conflicts --kind shared_field"
        ),
        invoke_without_command=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    report = typer.Typer(
        help=(
            "Reports for admins: commission per agent and month, each agent's pipeline.\n\n"
            "Example: sheetsync report commission --month 2026-11"
        ),
        no_args_is_help=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @conflicts.callback()
    def list_conflicts(
        ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
        kind: Annotated[str | None, typer.Option(help="Only this kind, e.g. shared_field.")] = None,
    ) -> None:
        """List open conflicts (the admin's queue); `conflicts resolve` resolves one.

        Example: sheetsync conflicts --kind shared_field
        """
        if ctx.invoked_subcommand is not None:
            return
        cfg = config()
        with db.session_factory(service.open_database(cfg))() as s:
            items = service.open_conflicts(s, kind)
        if as_json:
            out.print_json(json.dumps([c.as_dict() for c in items]))
            return
        table = Table(title=f"open conflicts ({len(items)})")
        for col in ("id", "kind", "customer", "agent", "field", "current", "proposed"):
            table.add_column(col)
        for c in items:
            table.add_row(
                c.id,
                c.kind,
                c.customer or "",
                c.agent or "",
                c.field or "",
                c.current or "",
                c.proposed or "",
            )
        out.print(table)

    @conflicts.command("resolve")
    def resolve_conflict(
        conflict: Annotated[str, typer.Argument(help="The conflict's ID, e.g. C12.")],
        keep: Annotated[bool, typer.Option("--keep", help="Keep the current value.")] = False,
        accept: Annotated[
            bool, typer.Option("--accept", help="Take the proposed value (or phone, removal).")
        ] = False,
        value: Annotated[
            str | None,
            typer.Option("--value", help="Set this value instead (or, for a race, the agent)."),
        ] = None,
        merge_into: Annotated[
            str | None,
            typer.Option("--merge-into", help="Merge the other customer into this CUS-… one."),
        ] = None,
        dismiss: Annotated[
            bool, typer.Option("--dismiss", help="Close it without changing any data.")
        ] = False,
    ) -> None:
        """Resolve one conflict now, as the admin from the configuration (audited).

        The next `sheetsync sync` updates the agents' sheets and the master.

        Example: sheetsync conflicts resolve C12 --accept
        """
        chosen = [
            d
            for d, on in (
                (resolve.Decision("keep", None, "keep"), keep),
                (resolve.Decision("accept", None, "accept"), accept),
                (resolve.Decision("value", value, f"value: {value}"), value is not None),
                (
                    resolve.parse_resolution(f"merge into {merge_into}")
                    if merge_into
                    else resolve.Decision(""),
                    merge_into is not None,
                ),
                (resolve.Decision("dismiss", None, "dismiss"), dismiss),
            )
            if on
        ]
        if len(chosen) != 1:
            raise core.AdminError(
                "give exactly one of --keep, --accept, --value V, --merge-into CUS-…, --dismiss"
            )
        out.print(commands.resolve_conflict(config(), _engine(config), conflict, chosen[0]))

    app.add_typer(conflicts, name="conflicts")

    @app.command()
    def merge(
        source: Annotated[
            str, typer.Argument(help="The customer merged away, e.g. CUS-2026-00007.")
        ],
        into: Annotated[str, typer.Option("--into", help="The customer that stays.")],
    ) -> None:
        """Merge one customer into another (two customers found to be one person).

        Every agent's tracking and follow-ups are kept; `sheetsync undo ID` reverses it.

        Example: sheetsync merge CUS-2026-00007 --into CUS-2026-00002
        """
        message, event = commands.merge(config(), _engine(config), source, into)
        out.print(f"{message} (audit event {event}; `sheetsync undo {event}` reverses it)")

    @app.command()
    def delete(
        customer: Annotated[str, typer.Argument(help="The Customer #, e.g. CUS-2026-00007.")],
        reason: Annotated[str, typer.Option("--reason", help="Why (agents see it).")],
    ) -> None:
        """Delete a customer, keeping every record: it leaves the master for its Deleted tab,
        agents' rows for it are no longer synced, `sheetsync restore` brings it back.

        Example: sheetsync delete CUS-2026-00007 --reason "test entry"
        """
        out.print(commands.delete(config(), _engine(config), customer, reason))

    @app.command()
    def restore(
        customer: Annotated[str, typer.Argument(help="The Customer #, e.g. CUS-2026-00007.")],
    ) -> None:
        """Restore a deleted customer: it is back everywhere it was.

        Example: sheetsync restore CUS-2026-00007
        """
        out.print(commands.restore(config(), _engine(config), customer))

    @app.command()
    def undo(
        audit_id: Annotated[int, typer.Argument(help="The audit event's ID (see `history`).")],
    ) -> None:
        """Undo an admin action from the audit log: a merge, an admin edit, a phone change.

        Example: sheetsync undo 512
        """
        out.print(commands.undo_event(config(), _engine(config), audit_id))

    @app.command()
    def history(
        customer: Annotated[str, typer.Argument(help="The Customer #, e.g. CUS-2026-00001.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    ) -> None:
        """Every change to a customer and to each agent's tracking of it (admins only).

        Example: sheetsync history CUS-2026-00001
        """
        events = commands.history(_engine(config), customer)
        if as_json:
            out.print_json(json.dumps([e.as_dict() for e in events], default=str))
            return
        table = Table(title=f"history of {customer.upper()} ({len(events)} events)")
        for col in ("id", "when", "who", "action", "what", "before → after"):
            table.add_column(col, overflow="fold")
        for e in events:
            what = e.entity + (f" ({e.agent})" if e.agent else "")
            table.add_row(str(e.id), e.at, e.actor, e.action, what, _changes(e.changes))
        out.print(table)

    @report.command("commission")
    def commission_report(
        month: Annotated[
            str | None, typer.Option(help="One month, YYYY-MM (default: every month).")
        ] = None,
        as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
        chart: Annotated[
            Path | None,
            typer.Option(
                help="Also draw each month's commission per agent into this PNG "
                "(needs the reports extra: matplotlib and pandas)."
            ),
        ] = None,
    ) -> None:
        """Completed customers and commission per agent (by completion month).

        Example: sheetsync report commission --month 2026-01 --csv
        """
        if chart is not None:
            reports.can_chart("commission", "leave out --chart")  # before the database
        rows = commands.commission_table(_engine(config), month)
        if chart is not None:
            reports.write_commission_chart(rows, chart, f"Commission{f' {month}' if month else ''}")
        if as_json:
            out.print_json(json.dumps([r.as_dict() for r in rows]))
        elif as_csv:
            reports.write_commission_csv(rows, sys.stdout)
        else:
            table = Table(title=f"commission{f' {month}' if month else ''}")
            for col in ("month", "agent", "completed", "customers", "commission", "lost"):
                table.add_column(col, overflow="fold")
            for r in rows:
                table.add_row(
                    r.month,
                    r.name,
                    str(r.completed),
                    ", ".join(r.customers),
                    f"{r.commission:.2f}",
                    str(r.lost_to_colleague),
                )
            out.print(table)
            if chart is not None:
                out.print(f"wrote {chart}")

    @report.command("pipeline")
    def pipeline_report(
        directory: Annotated[
            Path | None,
            typer.Option("--out", help="Write pipeline.csv and pipeline.png into this folder."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    ) -> None:
        """Each agent's pipeline: counts by status, conversion, follow-ups, overdue.

        Example: sheetsync report pipeline --out reports/
        """
        cfg = config()
        if directory is not None:
            reports.can_chart()  # before the database is read or a file written
        rows = commands.pipeline_table(cfg, _engine(config))
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            reports.write_pipeline_csv(rows, directory / "pipeline.csv")
            reports.write_pipeline_chart(rows, directory / "pipeline.png", "Pipeline per agent")
        if as_json:
            out.print_json(json.dumps([r.as_dict() for r in rows]))
            return
        table = Table(title="pipeline per agent")
        for col in (
            "agent",
            "active",
            *reports.PIPELINE_STATUSES,
            "conv. %",
            "f-ups 30d",
            "overdue",
        ):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r.name,
                str(r.active),
                *(str(r.statuses[s]) for s in reports.PIPELINE_STATUSES),
                f"{r.conversion:.1f}",
                str(r.recent_follow_ups),
                str(r.overdue),
            )
        out.print(table)
        if directory is not None:
            out.print(f"wrote {directory / 'pipeline.csv'} and {directory / 'pipeline.png'}")

    app.add_typer(report, name="report")


def _engine(config: Callable[[], Config]) -> Any:
    return service.open_database(config())


def _changes(changes: list[dict[str, Any]]) -> str:
    return "; ".join(f"{c['field']}: {_short(c['before'])} → {_short(c['after'])}" for c in changes)


def _short(value: object, limit: int = 80) -> str:
    text = (
        "" if value is None else value if isinstance(value, str) else json.dumps(value, default=str)
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"

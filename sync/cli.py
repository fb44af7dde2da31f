"""The `sheetsync` command line: a thin layer over sync.service.

Exit codes: 0 ok, 1 partial (some agent sources failed this cycle),
2 bad configuration or usage.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sync import service
from sync.config import DEFAULT_CONFIG, Config, load_config
from sync.db import session_factory
from sync.errors import SyncError

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2

app = typer.Typer(
    name="sheetsync",
    help="One canonical customer per phone number from many agents' spreadsheets.\n\n"
    "Exit codes: 0 ok, 1 partial (some agent sources failed), 2 bad configuration or usage.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


class State:
    config_path: Path = Path(DEFAULT_CONFIG)

    def config(self) -> Config:
        return load_config(self.config_path)


state = State()


@app.callback()
def _main(
    config: Annotated[
        Path,
        typer.Option(
            "--config", "-c", help="Configuration file (TOML).", envvar="SHEETSYNC_CONFIG"
        ),
    ] = Path(DEFAULT_CONFIG),
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log each step to stderr.")
    ] = False,
) -> None:
    """Global options."""
    state.config_path = config
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def init() -> None:
    """Create or upgrade the database schema and create missing workbooks and tabs.

    Safe to run again: it only adds what is missing and never touches data.

    Example: sheetsync --config sheetsync.toml init
    """
    config = state.config()
    changes = service.init(config, service.open_database(config), service.make_backend(config))
    for line in changes:
        out.print(f"  {line}")
    out.print(f"init: {len(changes)} change(s); schema is up to date")


@app.command()
def sync(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with the cycle's figures.")
    ] = False,
) -> None:
    """Run one sync cycle over every agent workbook and the master.

    Example: sheetsync sync --json
    """
    config = state.config()
    engine = service.open_database(config)
    backend = service.make_backend(config)
    report = _run_with_progress(
        config, lambda progress: service.sync_once(config, engine, backend, progress), quiet=as_json
    )
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    else:
        _print_report(report)
    raise typer.Exit(EXIT_PARTIAL if report.agents_failed else EXIT_OK)


def _run_with_progress(config: Config, job: Any, quiet: bool) -> Any:
    steps = 2 * len(config.agents) + 1
    if quiet or not err.is_terminal:
        return job(None)
    with Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("sync", total=steps)

        def advance(label: str) -> None:
            bar.update(task, description=label, advance=1)

        return job(advance)


def _print_report(report: Any) -> None:
    data = report.as_dict()
    table = Table(title="sync cycle", show_header=False)
    for key in (
        "customers_created",
        "trackings_added",
        "trackings_updated",
        "trackings_archived",
        "customers_updated",
        "follow_ups_created",
        "rows_read",
        "sources_read",
        "cells_written",
        "writes_skipped",
        "conflicts_opened",
        "conflicts_closed",
        "agents_synced",
        "agents_unchanged",
        "agents_quarantined",
        "agents_failed",
    ):
        table.add_row(key.replace("_", " "), str(data[key]))
    out.print(table)
    for key, message in report.failures.items():
        err.print(f"[red]failed[/red] {key}: {message}")
    for warning in report.warnings:
        err.print(f"[yellow]warning[/yellow] {warning}")


@app.command()
def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Machine-readable output for health checks.")
    ] = False,
    limit: Annotated[int, typer.Option(help="How many recent runs to show.")] = 10,
) -> None:
    """Show recent runs, open conflicts by kind, and failing agent sources.

    Example: sheetsync status --json
    """
    config = state.config()
    data = service.status(service.open_database(config), limit)
    if as_json:
        out.print_json(json.dumps(data))
        return
    table = Table(title="recent runs")
    for col in (
        "run",
        "started",
        "status",
        "rows read",
        "cells written",
        "conflicts opened",
        "failed",
    ):
        table.add_column(col)
    for run in data["runs"]:
        st = run["stats"] or {}
        table.add_row(
            str(run["id"]),
            run["started"],
            run["status"],
            str(st.get("rows_read", "")),
            str(st.get("cells_written", "")),
            str(st.get("conflicts_opened", "")),
            str(st.get("agents_failed", "")),
        )
    out.print(table)
    out.print(
        f"customers: {data['customers']}  active trackings: {data['active_trackings']}  "
        f"last success: {data['last_success'] or 'never'}"
    )
    kinds = ", ".join(f"{k}: {v}" for k, v in sorted(data["open_conflicts"].items())) or "none"
    out.print(f"open conflicts: {kinds}")
    for agent in data["failing_agents"]:
        out.print(
            f"[red]failing[/red] {agent['agent']} ({agent['failures_in_a_row']} in a row): "
            f"{agent['last_error']}"
        )


@app.command()
def conflicts(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    kind: Annotated[str | None, typer.Option(help="Only this kind, e.g. shared_field.")] = None,
) -> None:
    """List open conflicts (the admin's queue).

    Example: sheetsync conflicts --kind shared_field
    """
    config = state.config()
    with session_factory(service.open_database(config))() as s:
        items = service.open_conflicts(s, kind)
    if as_json:
        out.print_json(json.dumps(items))
        return
    table = Table(title=f"open conflicts ({len(items)})")
    for col in ("id", "kind", "customer", "agent", "field", "current", "proposed"):
        table.add_column(col)
    for c in items:
        table.add_row(
            c["id"],
            c["kind"],
            c["customer"] or "",
            c["agent"] or "",
            c["field"] or "",
            c["current"] or "",
            c["proposed"] or "",
        )
    out.print(table)


@app.command()
def lookup(
    phone: Annotated[str, typer.Argument(help="A phone number in any format.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Does this customer exist, and who tracks them since when? (Never anyone's tracking.)

    Example: sheetsync lookup "0100 123 4567"
    """
    config = state.config()
    found = service.lookup(service.open_database(config), phone, config.phones.default_region)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "phone": found.phone,
                    "warning": found.warning,
                    "exists": found.customer is not None,
                    "customer": found.customer,
                    "tracked_by": found.tracked_by,
                }
            )
        )
        return
    if found.phone is None:
        err.print(found.warning)
        raise typer.Exit(EXIT_USAGE)
    if found.customer is None:
        out.print(f"{found.phone}: no customer yet; the first agent to type this phone creates it")
        return
    table = Table(title=f"customer {found.customer['Customer #']}", show_header=False)
    for key, value in found.customer.items():
        table.add_row(key, value or "")
    out.print(table)
    trackers = "; ".join(f"{t['agent']} (since {t['since']})" for t in found.tracked_by) or "nobody"
    out.print(f"tracked by: {trackers}")


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where to write the demo files.")] = Path(
        "demo"
    ),
) -> None:
    """Write a demo (config and agent workbooks of the seed's scenario), sync it, show the views.

    Example: sheetsync demo --dir /tmp/sheetsync-demo
    """
    from sync.demo import run_demo

    run_demo(directory, out)


def main() -> None:
    try:
        # With standalone_mode off, click returns the code of a typer.Exit instead of raising it.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else EXIT_OK)
    except SyncError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(EXIT_USAGE)
        raise

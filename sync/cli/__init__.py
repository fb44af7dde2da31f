"""The `sheetsync` command line: a thin layer over sync.service (the admin's commands are
registered from :mod:`sync.cli.admin`, the import from :mod:`sync.cli.importing`; the one
progress bar is :mod:`sync.cli.progress`).

Exit codes: 0 ok, 1 partial (some agent sources failed this cycle),
2 bad configuration or usage.

At this size because it holds the operators' commands with their printing (tables and
JSON); the admin's commands and the import have modules of their own.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from sync import DEFAULT_CONFIG, logs
from sync.cli import admin as admin_cli
from sync.cli import importing as importing_cli
from sync.cli.progress import progress_bar
from sync.counts import cells_written_text
from sync.errors import SyncError
from sync.lazy import lazy_module
from sync.logs import first_database_error, safe_error

if TYPE_CHECKING:
    from sync import config as config_module
    from sync import cycle, service
    from sync.config import Config
else:  # loaded when a command runs, so that `sheetsync --help` starts quickly
    config_module = lazy_module("sync.config")
    cycle = lazy_module("sync.cycle")
    service = lazy_module("sync.service")

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
PROBLEMS_SHOWN = 20
CELL_PARTS = ("agent_cells_written", "master_cells_written")
"""Counts the sync's table says in its cells written row."""

app = typer.Typer(
    name="sheetsync",
    help="One canonical customer per phone number from many agents' spreadsheets.\n\n"
    "Exit codes: 0 ok, 1 partial (some agent sources failed), 2 bad configuration or usage.",
    # Help rewraps docstrings to the terminal (up to 100 columns) and shows "[[agents]]"
    # as typed: rich markup mode kept the docstrings' line breaks, ate square brackets
    # and labelled every flag "<bool>".
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console()
err = Console(stderr=True)


class State:
    config_path: Path = Path(DEFAULT_CONFIG)

    def config(self) -> Config:
        config = config_module.load_config(self.config_path)
        for warning in config.warnings():
            _print_warning(warning)
        return config


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
    log_format: Annotated[
        logs.LogFormat,
        typer.Option(
            "--log-format",
            help="Logs on stderr as text or as JSON lines (one object per line).",
            envvar="SHEETSYNC_LOG_FORMAT",
        ),
    ] = logs.LogFormat.text,
) -> None:
    """Global options."""
    state.config_path = config
    logs.configure(log_format.value, verbose=verbose, stream=sys.stderr)


@app.command()
def init() -> None:
    """Create or upgrade the database schema and create missing workbooks and tabs.

    Safe to run again: it only adds what is missing and never touches data. Safe beside a
    working team: a workbook open in Excel or LibreOffice, or being written by a worker, is
    skipped with a warning (exit 0 once the schema is ready; run init again later). An
    agent workbook (or Google tab) that was lost is rebuilt from the database, and said so.

    Example: sheetsync --config sheetsync.toml init
    """
    config = state.config()
    report = service.init(
        config, service.open_database(config, create=True), service.make_backend(config)
    )
    for line in report.changes:
        out.print(f"  {line}")
    for line in report.skipped:
        _print_warning(line)
    for line in report.failed:
        _print_error(line)
    skipped = len(report.skipped) + len(report.failed)
    left = f", {skipped} workbook{'s' if skipped != 1 else ''} skipped" if skipped else ""
    out.print(f"init: {len(report.changes)} change(s){left}; schema is up to date")
    raise typer.Exit(EXIT_PARTIAL if report.failed else EXIT_OK)


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
    with progress_bar(err, "sync", 2 * len(config.agents) + 1, quiet=quiet) as bar:
        return job(bar.step if bar is not None else None)


def _print_report(report: Any) -> None:
    data = report.as_dict()
    table = Table(title="sync cycle", show_header=False)
    for key in cycle.SUMMARY_COUNTS:
        if key in CELL_PARTS:
            continue  # said in the cells written row
        shown = cells_written_text(data) if key == "cells_written" else str(data[key])
        table.add_row(key.replace("_", " "), shown)
    out.print(table)
    for key, message in report.failures.items():
        err.print(f"[red]failed[/red] {key}: {message}")
    if report.agents_leased_elsewhere:
        err.print(
            f"{report.agents_leased_elsewhere} agent source(s) were being synced by a "
            "worker and were left to it"
        )
    for warning in report.warnings:
        err.print(f"[yellow]warning[/yellow] {warning}")
    shown = report.problems[:PROBLEMS_SHOWN]
    for problem in shown:
        err.print(f"[yellow]row[/yellow] {problem}", highlight=False)
    if len(report.problems) > len(shown):
        err.print(f"... and {len(report.problems) - len(shown)} more (see Sync notes, or --json)")


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
        out.print_json(json.dumps(data.as_dict()))
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
    for run in data.runs:
        st = run.stats or {}
        table.add_row(
            str(run.id),
            run.started,
            run.status,
            str(st.get("rows_read", "")),
            cells_written_text(st) if st else "",
            str(st.get("conflicts_opened", "")),
            str(st.get("agents_failed", "")),
        )
    out.print(table)
    out.print(
        f"customers: {data.customers}  active trackings: {data.active_trackings}  "
        f"last success: {data.last_success or 'never'}"
    )
    kinds = ", ".join(f"{k}: {v}" for k, v in sorted(data.open_conflicts.items())) or "none"
    out.print(f"open conflicts: {kinds}")
    for agent in data.failing_agents:
        out.print(
            f"[red]failing[/red] {agent['agent']} ({agent['failures_in_a_row']} in a row): "
            f"{agent['last_error']}"
        )


# The admin's commands: conflicts (list, resolve), merge, undo, history, report.
admin_cli.register(app, state.config, out)


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
        out.print_json(json.dumps(found.as_dict()))
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
    if found.deleted:
        out.print(f"deleted: {found.deleted} (`sheetsync restore` brings it back)")


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

    run_demo(directory, out, command_as_invoked())


def command_as_invoked(argv0: str | None = None) -> str:
    """How to run sheetsync again, as the user just did: ``sheetsync`` when that is on
    PATH, else the script's path as typed (``.venv/bin/sheetsync``), or ``python -m sync``.
    """
    arg0 = sys.argv[0] if argv0 is None else argv0
    if Path(arg0).name == "__main__.py":
        return f"{_relative(sys.executable)} -m sync"
    on_path = shutil.which(Path(arg0).name)
    if on_path and Path(on_path).resolve() == Path(arg0).resolve():
        return Path(arg0).name
    return _relative(arg0)


def _relative(path: str) -> str:
    try:
        # abspath, not resolve: .venv/bin/python is a symlink the user did not type.
        shown = str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except ValueError:
        return path
    return shown if "/" in shown else f"./{shown}"


@app.command()
def run(
    every: Annotated[
        str, typer.Option("--every", help="Interval between cycle starts, e.g. 30s, 5m, 1h.")
    ] = "5m",
    once: Annotated[
        bool, typer.Option("--once", help="Run one cycle and exit (cron, timers, CronJobs).")
    ] = False,
    jitter: Annotated[
        str, typer.Option(help="Delay each cycle's start by a random 0..JITTER, e.g. 20s.")
    ] = "0s",
    grace: Annotated[
        str,
        typer.Option(
            help="After SIGTERM/SIGINT, let the cycle in flight run this long, then abandon "
            "it at the next source (an agent's read or write-back, or the master)."
        ),
    ] = "20s",
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="SQLite: wait for another worker to exit instead of refusing to start."
        ),
    ] = False,
    max_backoff: Annotated[
        int,
        typer.Option(
            min=1, help="A failing source sits out at most this many cycles between retries."
        ),
    ] = 12,
    worker_id: Annotated[
        str | None, typer.Option(help="Name in the logs (default: host:pid).")
    ] = None,
) -> None:
    """Run cycles on an interval until SIGTERM/SIGINT (or one cycle with --once).

    Never two cycles at once; a cycle longer than the interval delays the next one.

    A first signal lets the cycle in flight finish (after --grace it stops at the next source).

    A second signal exits at once (code 128 + signal), safely.

    PostgreSQL: several workers split the agent sources. SQLite: one worker (see --wait).

    Exit codes: 0 ok or stopped, 1 partial (--once), 2 config, lock held or schema behind.

    Example: sheetsync --log-format json run --every 5m --jitter 30s
    """
    from sync.worker import Worker, WorkerOptions, parse_duration

    try:
        options = WorkerOptions(
            interval=parse_duration(every),
            jitter=parse_duration(jitter),
            grace=parse_duration(grace),
            once=once,
            wait=wait,
            max_backoff=max_backoff,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if options.interval <= 0:
        raise typer.BadParameter("--every must be more than 0s")
    if worker_id:
        options.worker_id = worker_id
    verbose = logging.getLogger().getEffectiveLevel() <= logging.INFO
    logging.getLogger("sheetsync.worker").setLevel(logging.INFO)
    logging.getLogger("sheetsync.worker.sources").setLevel(
        logging.INFO if verbose else logging.WARNING
    )
    config = state.config()
    worker = Worker(config, service.open_database(config), service.make_backend(config), options)
    worker.install_signal_handlers()
    raise typer.Exit(worker.run())


@app.command()
def health(
    max_lag: Annotated[
        str,
        typer.Option(
            help="Unhealthy when no cycle completed for this long (e.g. 3 intervals: 15m)."
        ),
    ] = "15m",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Health check: last completed cycle, lag, last success, failing sources.

    Times are the database's clock, on which workers write their heartbeats. Exit codes: 0
    healthy, 1 unhealthy (no cycle within --max-lag, never ran, or a heartbeat in the future).

    Example: sheetsync health --max-lag 15m --json
    """
    from sync.health import health as health_of
    from sync.worker import parse_duration

    try:
        limit = parse_duration(max_lag)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    config = state.config()
    try:
        data = health_of(service.open_database(config), limit)
    except SyncError:
        raise
    except Exception as exc:  # noqa: BLE001 - a health check reports, it does not crash
        err.print(f"unhealthy: cannot read the database: {safe_error(exc)}", highlight=False)
        raise typer.Exit(EXIT_PARTIAL) from None
    if as_json:
        out.print_json(json.dumps(data.as_dict()))
    else:
        state_text = "healthy" if data.ok else "[red]unhealthy[/red]"
        lag = data.lag_seconds
        out.print(
            f"{state_text}: last cycle {data.last_cycle or 'never'}"
            + (f" ({lag:.0f}s ago, limit {limit:g}s)" if lag is not None else "")
            + f"; last success {data.last_success or 'never'}"
        )
        if data.heartbeat_ahead_seconds is not None:
            out.print(
                f"[red]a heartbeat is {data.heartbeat_ahead_seconds:.0f}s in the future[/red] "
                "of the database's clock: a worker's clock is ahead (an older sheetsync wrote "
                "it), so the lag cannot be told; upgrade that worker and fix its clock"
            )
        for src in data.failing_sources:
            flag = " [red]flagged[/red]" if src.flagged else ""
            out.print(
                f"failing {src.agent}: {src.failures_in_a_row} in a row since "
                f"{src.failing_since or '?'}{flag}: {src.last_error}"
            )
    raise typer.Exit(EXIT_OK if data.ok else EXIT_PARTIAL)


# The import of the team's old shared sheet (day one).
importing_cli.register(app, state.config, out, err)


@app.command()
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check credentials, access to every spreadsheet, layout drift and who can see each one.

    Google: every agent spreadsheet shared with anyone other than its agent, the service
    account and the admins is reported (the master: admins only), and agents sharing one
    spreadsheet (a tab per agent) are reported as not private. Nothing is changed; `init`
    repairs the layout drift. Exit code 1 when anything needs attention.

    Example: sheetsync check --json
    """
    config = state.config()
    report = service.check(config, service.make_backend(config))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        raise typer.Exit(EXIT_PARTIAL if report.problems else EXIT_OK)
    if report.identity:
        out.print(f"acting as: {report.identity}", highlight=False)
    table = Table(title=f"check ({report.backend})")
    for col in ("source", "spreadsheet", "access", "layout (init repairs)", "also shared with"):
        table.add_column(col)
    for entry in report.sources:
        table.add_row(
            entry.source,
            entry.title or entry.spreadsheet,
            entry.access,
            "\n".join(entry.drift) or "none",
            "\n".join(entry.sharing) or "nobody else",
        )
    out.print(table)
    for line in report.layout:
        err.print(f"[yellow]not private[/yellow] {line}", highlight=False)
    if report.problems:
        err.print(f"{report.problems} problem(s); `sheetsync init` repairs the layout drift")
        raise typer.Exit(EXIT_PARTIAL)
    out.print("check: everything is in order")


@app.command()
def emulator(
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1 (0: any free port).")] = 8765,
    state_dir: Annotated[
        Path | None,
        typer.Option("--state", help="Directory keeping the emulator's state between runs."),
    ] = None,
    for_config: Annotated[
        bool,
        typer.Option(
            "--for-config/--empty",
            help="Create the spreadsheets the configuration names (agents' and master).",
        ),
    ] = True,
    seed_xlsx: Annotated[
        list[str] | None,
        typer.Option(
            "--seed-xlsx",
            help="Load a workbook first: FILE, or KEY=FILE for the spreadsheet of agent KEY "
            "(or master, or a spreadsheet id). Repeatable.",
        ),
    ] = None,
    dump_xlsx: Annotated[
        Path | None,
        typer.Option("--dump-xlsx", help="On exit, write every spreadsheet here as .xlsx."),
    ] = None,
) -> None:
    """Serve a local Sheets/Drive emulator (until Ctrl-C), to try sheetsync without Google.

    With the configuration's spreadsheet ids created in it, and `google.endpoint` set to
    the URL it prints, `init`, `sync` and `check` run against it.

    Example: sheetsync emulator --port 8765 --state .emulator

    Example: sheetsync emulator --seed-xlsx ali=agents/ali.xlsx --dump-xlsx out/
    """
    from sync.backends.google.emulated import serve_for_config

    config = state.config() if for_config else None
    serve_for_config(
        config,
        port=port,
        state_dir=str(state_dir) if state_dir is not None else None,
        announce=lambda line: out.print(line, highlight=False, soft_wrap=True),
        seeds=seed_xlsx or [],
        dump_dir=str(dump_xlsx) if dump_xlsx is not None else None,
    )


@cache
def _command() -> Any:
    """The click command typer builds from ``app``: built once (a process that runs
    commands again and again, as the tests do, rebuilt it from every signature each time)."""
    return typer.main.get_command(app)


def main() -> None:
    try:
        # With standalone_mode off, click returns the code of a typer.Exit instead of raising it.
        code = _command()(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else EXIT_OK)
    except SyncError as exc:
        _print_error(str(exc))
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:
        # Usage errors are click's ClickException (typer vendors click in newer releases,
        # so the class is recognised by what it has rather than imported).
        show = getattr(exc, "show", None)
        if callable(show) and hasattr(exc, "exit_code"):
            show()
            sys.exit(EXIT_USAGE)
        # Anything else is a bug or an environment problem (a full disk): one line that
        # names the real cause; the traceback goes to the log with --verbose.
        logging.getLogger("sheetsync.trace").info(
            "unexpected error", exc_info=True, extra={"event": "traceback"}
        )
        _print_error(unexpected_error_line(exc))
        sys.exit(EXIT_PARTIAL)


def _print_warning(message: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False, soft_wrap=True)


def _print_error(message: str) -> None:
    # Messages quote config patterns and keys ("^[a-z0-9]...", "[[agents]]"): never markup.
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def unexpected_error_line(exc: BaseException) -> str:
    """One line for an error sheetsync did not foresee, naming its first cause."""
    line = safe_error(exc)  # a database error names the first of its chain
    if not isinstance(first_database_error(exc), DBAPIError):
        return line
    if any(sign in line for sign in ("disk I/O error", "disk is full", "No space left")):
        return f"{line} (is the disk full, or the database's folder read-only?)"
    return f"{line} (run with --verbose for the traceback)"

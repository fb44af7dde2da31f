"""``sheetsync import``: the team's existing shared sheet into the database (day one)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from sync.cli.progress import progress_bar

if TYPE_CHECKING:
    from sync import service
    from sync.config import Config
else:  # loaded when the command runs, so that `sheetsync --help` starts quickly
    from sync.lazy import lazy_module

    service = lazy_module("sync.service")


def register(app: typer.Typer, config: Callable[[], Config], out: Console, err: Console) -> None:
    """Add ``import`` to the ``sheetsync`` app.

    Args:
        config: returns the configuration (read when the command runs).
        out, err: where results and the rows not imported are printed.
    """

    @app.command("import")
    def import_sheet(
        source: Annotated[
            str,
            typer.Argument(
                help="The shared sheet: a .csv or .xlsx file, or a Google spreadsheet id or URL."
            ),
        ],
        tab: Annotated[
            str | None,
            typer.Option(
                "--tab",
                "--sheet",
                help="Tab of the workbook (default: the first tab with a Phone and an Agent "
                "column).",
            ),
        ] = None,
        agent_column: Annotated[
            str | None,
            typer.Option(
                "--agent-column",
                help='Header of the column naming each row\'s agent (default: "Agent" and common '
                "spellings). Agents match by key, name or email.",
            ),
        ] = None,
        mapping: Annotated[
            list[str] | None,
            typer.Option(
                "--map",
                metavar="HEADER=FIELD",
                help='Read a column as a field (key or header), e.g. --map "Tel=phone"; '
                "HEADER=- skips the column. Repeatable.",
            ),
        ] = None,
        fill_down: Annotated[
            list[str] | None,
            typer.Option(
                "--fill-down",
                metavar="HEADER",
                help="Blank cells of this column take the value above them (a column that was "
                "merged across rows before export). Repeatable.",
            ),
        ] = None,
        encoding: Annotated[
            str | None,
            typer.Option(help="CSV encoding, e.g. utf-8, cp1256 (default: detected)."),
        ] = None,
        delimiter: Annotated[
            str | None, typer.Option(help="CSV delimiter (default: detected).")
        ] = None,
        dry_run: Annotated[
            bool,
            typer.Option("--dry-run", help="Write nothing; print what the import would do."),
        ] = False,
        report: Annotated[
            Path | None,
            typer.Option(
                "--report",
                metavar="FILE",
                help="Also write an .xlsx report: customers, duplicates and how they merge, rows "
                "not imported and why, conflicts.",
            ),
        ] = None,
        create_agents: Annotated[
            bool,
            typer.Option(
                "--create-agents",
                help="Add agents the configuration does not know (they need a [[agents]] entry "
                "to get a sheet).",
            ),
        ] = False,
        chunk_rows: Annotated[
            int, typer.Option(min=1, help="Rows per transaction (an interrupted import resumes).")
        ] = 1000,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Import the team's existing shared sheet: one customer per phone, a tracking per agent.

        Rows of one phone by different agents become one customer with several trackings;
        rows of one phone by the same agent merge into one tracking (later notes appended).
        Disagreeing shared fields open conflicts, as the sync does. Rows that cannot be
        imported (invalid phone, unknown agent...) are listed, never guessed.

        Safe to run again: rows already imported are skipped, so an interrupted import
        resumes. Then run `sheetsync init` and `sheetsync sync`: every agent's own sheet
        gets exactly their rows.

        Example: sheetsync import team.csv --agent-column "Agent" --dry-run --report plan.xlsx
        """
        from sync.importing import ImportOptions, run_import
        from sync.importing.report import COUNT_LABELS, detail_lines, summary_lines, write_report

        settings = config()
        options = ImportOptions(
            source=source,
            tab=tab,
            agent_column=agent_column,
            maps=tuple(mapping or ()),
            fill_down=tuple(fill_down or ()),
            encoding=encoding,
            delimiter=delimiter,
            dry_run=dry_run,
            create_agents=create_agents,
            chunk_rows=chunk_rows,
        )
        engine = service.open_database(settings, create=True)
        with progress_bar(err, "import", None, quiet=as_json, width=32) as bar:
            outcome = run_import(
                settings,
                engine,
                options,
                progress=bar.say if bar is not None else None,
                on_chunk=(lambda done, total: bar.at(done, total, "importing (chunks)"))
                if bar is not None
                else None,
            )
        if report is not None:
            write_report(outcome, report)
        counts = outcome.counts.as_dict()
        if as_json:
            typer.echo(json.dumps(outcome.as_dict(report), ensure_ascii=False))
            return
        for line in summary_lines(outcome):
            out.print(line, highlight=False)
        title = "import: dry run (nothing was written)" if outcome.dry_run else "import: done"
        table = Table(title=title, show_header=False)
        for key, value in counts.items():
            table.add_row(COUNT_LABELS.get(key, key), str(value))
        out.print(table)
        for line in detail_lines(outcome):
            err.print(line, highlight=False, markup=False)
        if report is not None:
            out.print(f"report written to {report}", highlight=False)
        if outcome.dry_run:
            out.print("run again without --dry-run to import")
        else:
            out.print("next: `sheetsync init` then `sheetsync sync` to fill each agent's sheet")

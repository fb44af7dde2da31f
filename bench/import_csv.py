"""Benchmark `sheetsync import` on a large legacy CSV: dry run, import, rerun (a no-op).

    .venv/bin/python bench/import_csv.py                       # 50,000 rows, SQLite
    .venv/bin/python bench/import_csv.py --rows 10000 --json
    .venv/bin/python bench/import_csv.py --db-url postgresql+psycopg://postgres@127.0.0.1/bench
    .venv/bin/python bench/import_csv.py --sync                # then init + sync the agents' .xlsx

The CSV is the messy legacy sheet of tests/fixtures/legacy/legacy_sheet.py scaled up
(UTF-8 with BOM; the same customers typed by several agents in many phone formats,
Arabic names, several date formats, blank/section/invalid rows). Each phase runs in the
same process after a reset of the kernel's peak-RSS mark, so each gets its own peak.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `sync` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from bench.measure import measure
from sync import service
from sync.config import load_config
from sync.db import make_engine, session_factory
from sync.importing import ImportOptions, run_import
from sync.model import AuditEvent, Conflict, Customer, FollowUp, Tracking
from tests.fixtures.legacy.legacy_sheet import AGENTS, build, write_csv


def say(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def make_csv(rows: int, path: Path, seed: int) -> int:
    sheet = build(seed=seed, people=max(10, int(rows / 1.87)))
    while len(sheet.rows) < rows:  # top up: more customers
        more = build(
            seed=seed + len(sheet.rows), people=max(10, int((rows - len(sheet.rows)) / 1.8))
        )
        sheet.rows.extend(r for r in more.rows if r.truth.kind == "customer")
    del sheet.rows[rows:]
    write_csv(sheet, path)
    return len(sheet.rows)


def config_text(db_url: str) -> str:
    lines = [
        "[database]",
        f"url = {json.dumps(db_url)}",
        "",
        "[master]",
        'workbook = "master.xlsx"',
        "",
    ]
    for key, (name, email, _spellings) in AGENTS.items():
        lines += [
            "[[agents]]",
            f'key = "{key}"',
            f'name = "{name}"',
            f'email = "{email}"',
            f'workbook = "agents/{key}.xlsx"',
            "",
        ]
    return "\n".join(lines)


def db_figures(engine: Any) -> dict[str, int]:
    with session_factory(engine)() as s:
        return {
            "customers": s.scalar(select(func.count()).select_from(Customer)) or 0,
            "trackings": s.scalar(select(func.count()).select_from(Tracking)) or 0,
            "follow_ups": s.scalar(select(func.count()).select_from(FollowUp)) or 0,
            "conflicts": s.scalar(select(func.count()).select_from(Conflict)) or 0,
            "audit_events": s.scalar(select(func.count()).select_from(AuditEvent)) or 0,
        }


def _phase(queue: Any, work: str, csv_path: str, dry: bool, chunk_rows: int, trace: bool) -> None:
    """One import in a child process; puts its figures on the queue."""
    try:
        config = load_config(Path(work) / "sheetsync.toml")
        engine = make_engine(config.database_url())
        options = ImportOptions(source=csv_path, dry_run=dry, chunk_rows=chunk_rows)
        outcome, measured = measure(lambda: run_import(config, engine, options), trace)
        engine.dispose()
        queue.put(
            {
                **measured,
                "steps_s": {k: round(v, 2) for k, v in outcome.timings.items()},
                "counts": outcome.counts.as_dict(),
            }
        )
    except Exception as exc:  # noqa: BLE001 - reported by the parent
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--db-url", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--chunk-rows", type=int, default=1000)
    parser.add_argument(
        "--trace", action="store_true", help="also measure Python allocations (slower)"
    )
    parser.add_argument(
        "--sync", action="store_true", help="then run init + one sync (.xlsx backend)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    work = args.dir or Path(tempfile.mkdtemp(prefix="sheetsync-import-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    csv_path = work / "legacy.csv"
    say(f"generating {args.rows:,} rows in {csv_path}")
    rows = make_csv(args.rows, csv_path, args.seed)
    db_url = args.db_url or f"sqlite:///{work / 'sheetsync.db'}"
    if args.db_url is None:
        (work / "sheetsync.db").unlink(missing_ok=True)
    (work / "sheetsync.toml").write_text(config_text(db_url), encoding="utf-8")
    config = load_config(work / "sheetsync.toml")
    engine = make_engine(config.database_url())

    figures: dict[str, Any] = {
        "rows": rows,
        "csv_mb": round(csv_path.stat().st_size / 2**20, 1),
        "database": engine.url.get_backend_name(),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
    }

    def phase(name: str, dry: bool) -> None:
        say(f"{name} ...")
        # Each phase in a fresh interpreter: its peak RSS is its own, not the sum of the
        # garbage of the phases before it.
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        child = ctx.Process(
            target=_phase, args=(queue, str(work), str(csv_path), dry, args.chunk_rows, args.trace)
        )
        child.start()
        result = queue.get()
        child.join()
        if "error" in result:
            raise SystemExit(f"{name} failed: {result['error']}")
        result["rows_per_s"] = round(rows / result["wall_s"]) if result["wall_s"] else None
        figures[name] = result
        say(
            f"  {result['wall_s']} s (cpu {result['cpu_s']} s), peak RSS {result['rss_peak_mb']} MB"
        )

    phase("dry_run", True)
    phase("import", False)
    figures["equal_counts"] = figures["dry_run"]["counts"] == figures["import"]["counts"]
    figures["database_after"] = db_figures(engine)
    phase("rerun", False)
    figures["rerun_changes"] = figures["rerun"]["counts"]["audit_events"]

    if args.sync:
        backend = service.make_backend(config)
        say("init ...")
        _, figures["init"] = measure(lambda: service.init(config, engine, backend), False)
        say("sync ...")
        report, figures["sync"] = measure(lambda: service.sync_once(config, engine, backend), False)
        figures["sync"]["cells_written"] = report.cells_written
        figures["sync"]["agents_failed"] = report.agents_failed
    engine.dispose()

    if args.json:
        print(json.dumps(figures, indent=2, ensure_ascii=False))
    else:
        print(f"{rows:,} rows ({figures['csv_mb']} MB CSV) into {figures['database']}:")
        for name in ("dry_run", "import", "rerun", "init", "sync"):
            if name in figures:
                f = figures[name]
                print(
                    f"  {name:<8} {f['wall_s']:>7} s (cpu {f['cpu_s']} s)   "
                    f"peak RSS {f['rss_peak_mb']} MB"
                    + (f"   ({f['rows_per_s']:,} rows/s)" if f.get("rows_per_s") else "")
                    + (f"   steps {f['steps_s']}" if "steps_s" in f else "")
                )
        print(f"  dry-run counts == import counts: {figures['equal_counts']}")
        print(f"  rerun audit events (0 = no-op): {figures['rerun_changes']}")
        print(f"  database after import: {figures['database_after']}")
        print(f"  import counts: {figures['import']['counts']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

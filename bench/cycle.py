"""Benchmark one sheetsync deployment: a cold cycle, an idle cycle and an edit cycle.

    .venv/bin/python bench/cycle.py                      # 50 agents x 2,000 rows, .xlsx + SQLite
    .venv/bin/python bench/cycle.py --agents 10 --rows 500 --json
    .venv/bin/python bench/cycle.py --backend memory     # the same sheets, in memory
    .venv/bin/python bench/cycle.py --profile prof.out   # cProfile the cold cycle

Figures are printed, never asserted. See docs/performance.md for what is measured.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `sync` and `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import openpyxl
from sqlalchemy import func, select

from bench.generate import STATUSES, Dataset, generate, write_xlsx
from bench.measure import SqlStatements, hwm_mb, measure
from sync import service
from sync.backends.memory import MemoryBackend
from sync.backends.xlsx import XlsxBackend
from sync.cells import cell_text
from sync.config import load_config
from sync.cycle import CycleReport
from sync.db import session_factory
from sync.fields import CUSTOMER_FIELDS, CUSTOMERS_TAB, FOLLOW_UPS_TAB, header_index, header_key
from sync.model import Conflict, Customer, FollowUp, Tracking
from sync.phones import normalize_phone

REPORT_FIELDS = (
    "rows_read",
    "rows_unchanged",
    "cells_written",
    "sources_read",
    "customers_created",
    "trackings_added",
    "trackings_updated",
    "customers_updated",
    "follow_ups_created",
    "conflicts_opened",
    "agents_synced",
    "agents_unchanged",
    "agents_failed",
)
_err = sys.stderr


def say(*parts: object) -> None:
    print(*parts, file=_err, flush=True)


# -- set-up ------------------------------------------------------------------------------------


def config_text(data: Dataset, db_url: str) -> str:
    lines = [
        "# sheetsync benchmark configuration (written by bench/cycle.py)",
        "[database]",
        f"url = {json.dumps(db_url)}",
        "",
        "[phones]",
        'default_region = "EG"',
        "",
        "[sync]",
        'commission_rule = "first_to_complete"',
        "day_first = true",
        'timezone = "Africa/Cairo"',
        "",
        "[master]",
        'workbook = "master.xlsx"',
        "",
    ]
    for agent in data.agents:
        lines += [
            "[[agents]]",
            f'key = "{agent.key}"',
            f'name = "{agent.name}"',
            f'email = "{agent.key}@company.com"',
            f'workbook = "agents/{agent.key}.xlsx"',
            "",
        ]
    return "\n".join(lines)


def check_phones(data: Dataset) -> list[str]:
    """Every generated phone cell must normalize to the number it was generated from."""
    wrong = []
    for raw, expected in data.raw_phones:
        got = normalize_phone(raw, "EG")
        if got != expected:
            wrong.append(f"{raw!r} -> {got!r}, expected {expected}")
    return wrong


def db_counts(engine: Any) -> dict[str, Any]:
    with session_factory(engine)() as s:
        conflicts = dict(
            s.execute(
                select(Conflict.kind, func.count())
                .where(Conflict.status == "open")
                .group_by(Conflict.kind)
            ).all()
        )
        return {
            "customers": s.scalar(select(func.count()).select_from(Customer)) or 0,
            "active_trackings": s.scalar(
                select(func.count()).select_from(Tracking).where(Tracking.active.is_(True))
            )
            or 0,
            "follow_ups": s.scalar(select(func.count()).select_from(FollowUp)) or 0,
            "open_conflicts": conflicts,
        }


# -- the edit ------------------------------------------------------------------------------------


def _edit_grid(grid: list[list[Any]], rng: random.Random, count: int, stamp: str) -> int:
    """Change Status and Notes of `count` random data rows of a Customers grid.

    Returns the number of rows edited."""
    index = header_index(CUSTOMER_FIELDS)
    columns = {index.get(_fold(h)): col for col, h in enumerate(grid[0]) if index.get(_fold(h))}
    status_col, notes_col = columns["status"], columns["notes"]
    rows = rng.sample(range(1, len(grid)), k=min(count, len(grid) - 1))
    for r in rows:
        row = grid[r]
        row.extend([None] * (max(status_col, notes_col) + 1 - len(row)))
        current = cell_text(row[status_col]).casefold()
        row[status_col] = rng.choice([s for s in STATUSES[:6] if s.casefold() != current])
        row[notes_col] = f"edited by the benchmark {stamp} #{r}"
    return len(rows)


def _fold(header: Any) -> str:
    return header_key(cell_text(header))


def apply_edits(
    args: argparse.Namespace, config: Any, backend: Any, rng: random.Random
) -> dict[str, int]:
    agents = sorted(config.agents, key=lambda a: a.key)
    sheets = args.edit_sheets or max(1, round(0.10 * len(agents)))
    chosen = rng.sample(agents, k=min(sheets, len(agents)))
    per_agent = args.edit_rows or max(1, round(0.01 * args.rows))
    stamp = dt.datetime.now().strftime("%H%M%S")
    edited = 0
    for agent in chosen:
        source = config.agent_source(agent)
        if isinstance(backend, MemoryBackend):
            grid = backend.get_tab(source, CUSTOMERS_TAB)
            edited += _edit_grid(grid, rng, per_agent, stamp)
            backend.set_tab(source, CUSTOMERS_TAB, grid)
        else:
            book = openpyxl.load_workbook(source)
            sheet = book[CUSTOMERS_TAB]
            grid = [list(r) for r in sheet.iter_rows(values_only=True)]
            before = [list(r) for r in grid]
            edited += _edit_grid(grid, rng, per_agent, stamp)
            for r, (old, new) in enumerate(zip(before, grid, strict=True)):
                for c, value in enumerate(new):
                    if c >= len(old) or old[c] != value:
                        sheet.cell(row=r + 1, column=c + 1, value=value)
            book.save(source)
    return {"agents_edited": len(chosen), "rows_edited": edited}


# -- the run --------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    say(f"seed: {seed}   (repeat with --seed {seed})")
    made_dir = args.dir is None
    work = Path(args.dir or tempfile.mkdtemp(prefix="sheetsync-bench-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    say(f"work dir: {work}")
    for stale in ("bench.db", "bench.db-wal", "bench.db-shm", "master.xlsx"):
        (work / stale).unlink(missing_ok=True)
    shutil.rmtree(work / "agents", ignore_errors=True)
    db_url = args.db or f"sqlite:///{work / 'bench.db'}"
    out: dict[str, Any] = {
        "seed": seed,
        "agents": args.agents,
        "rows": args.rows,
        "overlap": args.overlap,
        "backend": args.backend,
        "db": db_url.split("@")[-1] if "@" in db_url else db_url,
        "dir": str(work),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "tracemalloc": not args.no_tracemalloc,
        "code": code_version(),
        "loadavg_start": _loadavg(),
        "warnings": [],
    }
    try:
        _run(args, seed, work, db_url, out)
        out["loadavg_end"] = _loadavg()
    finally:
        if made_dir and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return out


def _run(args: argparse.Namespace, seed: int, work: Path, db_url: str, out: dict[str, Any]) -> None:
    trace = not args.no_tracemalloc
    warn = out["warnings"]

    t0 = time.perf_counter()
    data = generate(args.agents, args.rows, args.overlap, seed)
    out["generate_data_s"] = round(time.perf_counter() - t0, 3)
    out["rows_generated"] = data.rows
    out["follow_ups_generated"] = data.follow_up_rows
    out["distinct_phones"] = data.distinct_phones
    out["shared_phones"] = data.shared_phones
    say(
        f"generated {data.rows} customer rows, {data.follow_up_rows} follow-ups, "
        f"{data.distinct_phones} distinct phones ({data.shared_phones} in 2-3 sheets) "
        f"in {out['generate_data_s']:.1f} s"
    )

    wrong = check_phones(data)
    out["phones_misread"] = len(wrong)
    if wrong:
        warn.append(
            f"{len(wrong)} generated phone cells normalize to another number, e.g. {wrong[:5]}"
        )
        say(
            f"WARNING: {len(wrong)} phone cells do not normalize to the number generated: "
            f"{wrong[:5]}"
        )

    config_path = work / "sheetsync.toml"
    config_path.write_text(config_text(data, db_url), encoding="utf-8")
    config = load_config(config_path)
    sources = {a.key: config.agent_source(a) for a in config.agents}
    if args.backend == "xlsx":
        backend: Any = XlsxBackend()
        t0 = time.perf_counter()
        for agent in data.agents:
            write_xlsx(
                Path(sources[agent.key]),
                {CUSTOMERS_TAB: agent.customers, FOLLOW_UPS_TAB: agent.follow_ups},
            )
        out["generate_xlsx_s"] = round(time.perf_counter() - t0, 3)
        size = sum(Path(p).stat().st_size for p in sources.values())
        out["xlsx_bytes"] = size
        say(
            f"wrote {len(sources)} workbooks ({size / 2**20:.1f} MiB) "
            f"in {out['generate_xlsx_s']:.1f} s"
        )
    else:
        backend = MemoryBackend(
            {
                sources[a.key]: {CUSTOMERS_TAB: a.customers, FOLLOW_UPS_TAB: a.follow_ups}
                for a in data.agents
            }
        )
    del data.raw_phones[:]  # not needed any more; keep the process's memory about the cycles

    engine = service.open_database(config, create=True)
    sql = SqlStatements(engine)
    _, figures = measure(lambda: service.init(config, engine, backend), trace=False)
    out["init_s"] = figures["wall_s"]
    before = db_counts(engine)
    if before["customers"]:
        raise SystemExit(
            f"the database {out['db']} already holds {before['customers']} customers; "
            "the benchmark needs an empty one"
        )
    say(f"init in {out['init_s']:.1f} s")

    progress = _progress if args.progress else None
    phases: dict[str, dict[str, Any]] = {}

    def cycle(label: str) -> CycleReport:
        say(f"{label} cycle ...")
        calls_before = dict(getattr(backend, "calls", {}))
        sql_before = sql.mark()
        if args.profile and label == args.profile_phase:
            profiler = cProfile.Profile()
            report, figures = measure(
                lambda: profiler.runcall(service.sync_once, config, engine, backend, progress),
                trace,
            )
            profiler.dump_stats(args.profile)
            out["profile"] = {**top_functions(args.profile, args.profile_top), "phase": label}
        else:
            report, figures = measure(
                lambda: service.sync_once(config, engine, backend, progress), trace
            )
        figures.update(sql.since(sql_before))
        figures.update({name: getattr(report, name) for name in REPORT_FIELDS})
        if isinstance(backend, MemoryBackend):
            figures["backend_calls"] = {
                k: v - calls_before.get(k, 0)
                for k, v in backend.calls.items()
                if v - calls_before.get(k, 0)
            }
        if report.failures:
            figures["failures"] = dict(report.failures)
            warn.append(f"{label} cycle: failures {report.failures}")
        phases[label] = figures
        say(f"{label} cycle: {figures['wall_s']:.1f} s")
        return report

    cold = cycle("cold")
    counts = db_counts(engine)
    out["after_cold"] = counts
    say(
        f"after the cold cycle: {counts['customers']} customers in the database, "
        f"{out['distinct_phones']} distinct phones generated"
    )
    if counts["customers"] != out["distinct_phones"]:
        message = (
            f"customers in the database ({counts['customers']}) != distinct phones generated "
            f"({out['distinct_phones']}); cold cycle created {cold.customers_created}"
        )
        warn.append(message)
        say("!" * 78 + f"\nWARNING: {message}\n" + "!" * 78)
    if counts["active_trackings"] != out["rows_generated"]:
        warn.append(
            f"active trackings ({counts['active_trackings']}) != customer rows generated "
            f"({out['rows_generated']})"
        )
        say(f"WARNING: {warn[-1]}")
    if counts["follow_ups"] != out["follow_ups_generated"]:
        warn.append(
            f"follow-ups in the database ({counts['follow_ups']}) != follow-up rows generated "
            f"({out['follow_ups_generated']})"
        )
        say(f"WARNING: {warn[-1]}")

    t0 = time.perf_counter()
    grown = sheet_rows(config, backend, {a.key: len(a.customers) - 1 for a in data.agents})
    out["check_sheets_s"] = round(time.perf_counter() - t0, 3)
    if grown:
        warn.append(
            f"after the cold cycle {len(grown)} agents' Customers tabs hold rows they never typed "
            f"(agent: rows typed -> rows now), e.g. {dict(list(grown.items())[:5])}"
        )
        say(f"WARNING: {warn[-1]}")

    idle = cycle("idle")
    if idle.sources_read or idle.cells_written:
        warn.append(
            f"the idle cycle read {idle.sources_read} sources and wrote {idle.cells_written} cells"
        )
        say(f"WARNING: {warn[-1]}")

    t0 = time.perf_counter()
    out["edit"] = apply_edits(args, config, backend, random.Random(seed + 1))
    out["edit"]["apply_s"] = round(time.perf_counter() - t0, 3)
    say(
        f"edited {out['edit']['rows_edited']} rows in {out['edit']['agents_edited']} agents' "
        "sheets "
        f"in {out['edit']['apply_s']:.1f} s"
    )
    edit = cycle("edit")
    if edit.trackings_updated != out["edit"]["rows_edited"]:
        warn.append(
            f"the edit cycle updated {edit.trackings_updated} trackings; "
            f"{out['edit']['rows_edited']} rows were edited"
        )
        say(f"WARNING: {warn[-1]}")
    out["phases"] = phases
    out["after_edit"] = db_counts(engine)
    for name in ("customers", "active_trackings", "follow_ups"):
        if out["after_edit"][name] != counts[name]:
            warn.append(
                f"{name}: {counts[name]} after the cold cycle, {out['after_edit'][name]} after "
                "the edit cycle (an edit of Status and Notes should change neither)"
            )
            say(f"WARNING: {warn[-1]}")
    engine.dispose()


def sheet_rows(config: Any, backend: Any, typed: dict[str, int]) -> dict[str, str]:
    """Agents whose Customers tab holds more (or fewer) data rows than they typed."""
    changed = {}
    for agent in config.agents:
        grid = backend.read(config.agent_source(agent)).tabs.get(CUSTOMERS_TAB, [])
        now = sum(1 for row in grid[1:] if any(cell_text(v) for v in row))
        if now != typed[agent.key]:
            changed[agent.key] = f"{typed[agent.key]} -> {now}"
    return changed


def _loadavg() -> list[float] | None:
    """1, 5 and 15-minute load averages: other work on the machine slows the wall times."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def code_version() -> dict[str, Any]:
    """The commit measured and the files of `sync/` changed since (read-only git calls)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.rstrip("\n") if done.returncode == 0 else ""

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "sync").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD") or None, "sync_changed": dirty}


def _progress(label: str) -> None:
    peak = hwm_mb()
    say(
        f"  {time.strftime('%H:%M:%S')} {label}"
        + (f"  (peak RSS so far {peak:.0f} MB)" if peak else "")
    )


def top_functions(path: str, count: int) -> dict[str, list[dict[str, Any]]]:
    stats = pstats.Stats(path)
    rows = []
    for (file, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{_short(file)}:{line}({name})"
        rows.append(
            {
                "function": where,
                "calls": calls,
                "tottime_s": round(tottime, 3),
                "cumtime_s": round(cumtime, 3),
            }
        )
    return {
        "by_cumulative": sorted(rows, key=lambda r: -r["cumtime_s"])[:count],
        "by_own_time": sorted(rows, key=lambda r: -r["tottime_s"])[:count],
    }


def _short(file: str) -> str:
    for marker in ("/site-packages/", "/work/main/", "/lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


# -- output ------------------------------------------------------------------------------------


def table(out: dict[str, Any]) -> str:
    dirty = out["code"]["sync_changed"]
    changed = f" + {len(dirty)} uncommitted paths under sync/" if dirty else ""
    buf = io.StringIO()
    w = buf.write
    w(
        f"sheetsync cycle benchmark: {out['agents']} agents x {out['rows']} rows, "
        f"overlap {out['overlap']}, "
        f"backend {out['backend']}, db {out['db']}\n"
    )
    w(
        f"seed {out['seed']}, python {out['python']}, {out['cpus']} cpus, "
        f"tracemalloc {'on' if out['tracemalloc'] else 'off'}, code {out['code']['commit']}"
        f"{changed}; load average {out['loadavg_start']} -> {out.get('loadavg_end')}\n"
    )
    gen = f"data {out['generate_data_s']:.1f} s"
    if "generate_xlsx_s" in out:
        gen += f", workbooks {out['generate_xlsx_s']:.1f} s ({out['xlsx_bytes'] / 2**20:.1f} MiB)"
    w(
        f"generation (not in the cycles): {gen}; init {out['init_s']:.1f} s; "
        f"edit applied in {out['edit']['apply_s']:.1f} s "
        f"({out['edit']['rows_edited']} rows in {out['edit']['agents_edited']} sheets)\n"
    )
    cols = [
        ("phase", 6),
        ("wall s", 9),
        ("cpu s", 9),
        ("py peak MB", 11),
        ("rss peak MB", 12),
        ("maxrss MB", 10),
        ("rows_read", 10),
        ("sql", 7),
        ("cells_written", 14),
        ("sources_read", 13),
        ("customers_created", 18),
    ]
    w("  ".join(name.rjust(width) for name, width in cols) + "\n")
    for label, f in out["phases"].items():
        cells = [
            label,
            f"{f['wall_s']:.2f}",
            f"{f['cpu_s']:.2f}",
            _mb(f["py_peak_mb"]),
            _mb(f["rss_peak_mb"]),
            _mb(f["maxrss_mb"]),
            f["rows_read"],
            f["sql_statements"],
            f["cells_written"],
            f["sources_read"],
            f["customers_created"],
        ]
        w("  ".join(str(c).rjust(width) for c, (_, width) in zip(cells, cols, strict=True)) + "\n")
    cold = out["after_cold"]
    w(
        f"after cold: {cold['customers']} customers in the database / "
        f"{out['distinct_phones']} distinct "
        f"phones generated; {cold['active_trackings']} trackings / {out['rows_generated']} rows; "
        f"{cold['follow_ups']} follow-ups / {out['follow_ups_generated']}; open conflicts "
        f"{cold['open_conflicts'] or 'none'}\n"
    )
    if out.get("profile"):
        phase = out["profile"]["phase"]
        w(f"profile of the {phase} cycle (cProfile; cumulative):\n")
        for r in out["profile"]["by_cumulative"]:
            w(f"  {r['cumtime_s']:9.2f} s  {r['calls']:>9}  {r['function']}\n")
        w(f"profile of the {phase} cycle (cProfile; own time):\n")
        for r in out["profile"]["by_own_time"]:
            w(f"  {r['tottime_s']:9.2f} s  {r['calls']:>9}  {r['function']}\n")
    for message in out["warnings"]:
        w(f"WARNING: {message}\n")
    return buf.getvalue()


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main_parser() -> argparse.ArgumentParser:
    """The command line's parser (bench/edit_ratio.py sets its teams up through it)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--agents", type=int, default=50, help="agent workbooks (default 50)")
    p.add_argument("--rows", type=int, default=2000, help="customer rows per agent (default 2000)")
    p.add_argument(
        "--overlap",
        type=float,
        default=0.2,
        help="fraction of each agent's rows whose phone another agent also typed (default 0.2)",
    )
    p.add_argument("--backend", choices=("xlsx", "memory"), default="xlsx")
    p.add_argument(
        "--edit-sheets",
        type=int,
        help="workbooks the edit cycle edits (default 10%% of the agents); with --edit-rows, "
        "the same edit at any team size",
    )
    p.add_argument(
        "--edit-rows", type=int, help="rows edited in each of them (default 1%% of --rows)"
    )
    p.add_argument(
        "--db", help="database URL (default: a fresh SQLite file in the work dir); must be empty"
    )
    p.add_argument("--dir", help="work directory (default: a temporary one, removed afterwards)")
    p.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    p.add_argument("--seed", type=int, help="random seed (default: a fresh one, printed)")
    p.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout (messages on stderr)"
    )
    p.add_argument(
        "--no-tracemalloc",
        action="store_true",
        help="don't trace Python allocations (tracemalloc slows the cycles down)",
    )
    p.add_argument("--progress", action="store_true", help="print the cycle's progress labels")
    p.add_argument(
        "--profile", metavar="FILE", help="cProfile the cold cycle into FILE and list hotspots"
    )
    p.add_argument("--profile-top", type=int, default=15, help="hotspots listed (default 15)")
    p.add_argument(
        "--profile-phase",
        choices=("cold", "idle", "edit"),
        default="cold",
        help="the cycle --profile profiles (default cold)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    p = main_parser()
    args = p.parse_args(argv)
    if args.agents < 1 or args.rows < 1 or not 0 <= args.overlap <= 1:
        p.error("--agents and --rows must be positive, --overlap between 0 and 1")
    out = run(args)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
        say(table(out))
    else:
        print(table(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

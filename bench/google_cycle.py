"""Benchmark the Google backend: N agents x M rows through gspread against the emulator.

    .venv/bin/python bench/google_cycle.py                    # 50 agents x 2,000 rows
    .venv/bin/python bench/google_cycle.py --agents 5 --rows 200 --json
    .venv/bin/python bench/google_cycle.py --no-revalidate     # trust Drive versions on write

The emulator runs in its own process (python -m sheets_emulator), so the figures of the sync
process (time, peak memory) are its own, and gspread talks to it over real HTTP. Requests
are counted by the backend (per kind; retries included) and by spreadsheet (the master's,
and the most any agent's spreadsheet took) for each cycle kind:

* cold: every agent sheet typed, nothing synced yet (the first ``sync`` after ``init``);
* idle: nothing changed since (promise 4: no Sheets request at all);
* edit: a few agents changed a few rows (Status and Notes).

The limiter is set far above Google's quota so that the run measures work, not waiting;
the time the same requests would take at 60 reads/60 writes per minute is printed too.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from gc import collect
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `sync` and `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from bench.generate import STATUSES, generate
from bench.measure import SqlStatements, hwm_mb, reset_hwm
from sheets_emulator.client import gspread_client
from sync import service
from sync.backends.google.values import a1, quote
from sync.cells import cell_text
from sync.config import config_from_dict
from sync.cycle import Cycle
from sync.db import make_engine, session_factory
from sync.fields import CUSTOMER_FIELDS, header_index, header_key
from sync.model import Customer
from sync.schema import upgrade_schema
from tests.emulated import typed_cell

_err = sys.stderr
OWNER = "sheetsync@bench.iam.gserviceaccount.com"


def say(*parts: object) -> None:
    print(*parts, file=_err, flush=True)


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    """``python -m sheets_emulator --port 0`` in a child process; returns it and its URL."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "sheets_emulator", "--port", "0"],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            return proc, found.group(1)
    raise RuntimeError("the emulator did not start")


def seed(gc: Any, title: str, tabs: dict[str, list[list[Any]]]) -> str:
    """A spreadsheet holding ``tabs`` (values as an agent typed them); returns its id."""
    sh = gc.create(title)
    requests: list[dict[str, Any]] = []
    for i, (name, grid) in enumerate(tabs.items()):
        props = {"title": name, "gridProperties": {"rowCount": max(1000, len(grid) + 50)}}
        if i == 0:
            requests.append(
                {
                    "updateSheetProperties": {
                        "properties": {"sheetId": 0, **props},
                        "fields": "title,gridProperties.rowCount",
                    }
                }
            )
        else:
            requests.append({"addSheet": {"properties": props}})
    sh.batch_update({"requests": requests})
    data = [
        {"range": f"{quote(name)}!A1", "values": [[typed_cell(v) for v in row] for row in grid]}
        for name, grid in tabs.items()
        if grid
    ]
    sh.values_batch_update({"valueInputOption": "RAW", "data": data})
    return str(sh.id)


def seed_agents(gc: Any, data: Any) -> tuple[list[dict[str, str]], str]:
    """One spreadsheet per agent of ``data`` (Customers and Follow-ups tabs) and an empty
    master; returns the config's agent entries and the master's id."""
    agents = []
    for agent in data.agents:
        sid = seed(
            gc,
            f"{agent.name} customers",
            {"Customers": agent.customers, "Follow-ups": agent.follow_ups},
        )
        agents.append(
            {
                "key": agent.key,
                "name": agent.name,
                "email": f"{agent.key}@company.com",
                "spreadsheet": sid,
            }
        )
    return agents, str(gc.create("sheetsync master").id)


def bench_config(
    work: Path, url: str, agents: list[dict[str, str]], master: str, *, revalidate: bool
) -> Any:
    """The Google-backend config of the benchmark: SQLite in ``work``, the emulator at
    ``url``, the limiter far above Google's quota."""
    return config_from_dict(
        {
            "database": {"url": f"sqlite:///{work / 'bench.db'}"},
            "sync": {"backend": "google"},
            "google": {
                "endpoint": url,
                "service_account_email": OWNER,
                "read_per_minute": 1_000_000,
                "write_per_minute": 1_000_000,
                "timeout": 600,
                "revalidate": revalidate,
            },
            "master": {"spreadsheet": master},
            "agents": agents,
        },
        base_dir=work,
    )


def edit_sheets(gc: Any, config: Any, agents: int, rows: int, rng: random.Random) -> int:
    """Change Status and Notes of ``rows`` rows in ``agents`` agents' Customers tabs."""
    index = header_index(CUSTOMER_FIELDS)
    edited = 0
    for agent in rng.sample(list(config.agents), k=min(agents, len(config.agents))):
        sh = gc.open_by_key(agent.spreadsheet)
        grid = sh.values_get("Customers").get("values", [])
        cols = {index.get(header_key(cell_text(h))): c for c, h in enumerate(grid[0])}
        status, notes = cols["status"], cols["notes"]
        data = []
        for r in rng.sample(range(1, len(grid)), k=min(rows, len(grid) - 1)):
            data.append(
                {"range": a1("Customers", r, status), "values": [[rng.choice(STATUSES[:6])]]}
            )
            data.append({"range": a1("Customers", r, notes), "values": [[f"bench edit {r}"]]})
            edited += 1
        sh.values_batch_update({"valueInputOption": "USER_ENTERED", "data": data})
    return edited


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sheetsync-gbench-"))
    data = generate(args.agents, args.rows, args.overlap, args.seed)
    say(f"generated {args.agents} agents x {args.rows} rows ({data.distinct_phones} customers)")
    proc, url = start_emulator()
    out: dict[str, Any] = {
        "agents": args.agents,
        "rows_per_agent": args.rows,
        "expected_customers": data.distinct_phones,
        "revalidate": not args.no_revalidate,
    }
    try:
        gc = gspread_client(url, timeout=600)
        start = time.perf_counter()
        agents, master = seed_agents(gc, data)
        out["seed_s"] = round(time.perf_counter() - start, 1)
        say(f"seeded {len(agents)} spreadsheets in {out['seed_s']} s")
        config = bench_config(work, url, agents, master, revalidate=not args.no_revalidate)
        engine = make_engine(config.database_url())
        upgrade_schema(engine)
        sql = SqlStatements(engine)
        backend = service.make_backend(config)
        counts: Counter[str] = backend.api.counts  # type: ignore[attr-defined]
        by_sheet = count_by_spreadsheet(backend.api)  # type: ignore[attr-defined]
        phases: dict[str, Any] = {}

        def phase(name: str, job: Any) -> Any:
            collect()
            reset_hwm()
            before, sheets_before, sql_before = Counter(counts), Counter(by_sheet), sql.mark()
            t0, c0 = time.perf_counter(), time.process_time()
            result = job()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            delta = {k: v - before.get(k, 0) for k, v in counts.items() if v - before.get(k, 0)}
            reads = sum(v for k, v in delta.items() if _quota(k) == "read")
            writes = sum(v for k, v in delta.items() if _quota(k) == "write")
            drive = sum(v for k, v in delta.items() if k.startswith(("drive.", "oauth.")))
            sheets = by_sheet - sheets_before
            agents_took = [
                (sheets[a["spreadsheet"], "read"], sheets[a["spreadsheet"], "write"])
                for a in agents
            ]
            phases[name] = {
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "peak_rss_mb": hwm_mb(),
                "sheets_reads": reads,
                "sheets_writes": writes,
                "drive_requests": drive,
                "master_reads": sheets[master, "read"],
                "master_writes": sheets[master, "write"],
                "agent_sheet_most_reads": max(r for r, _ in agents_took),
                "agent_sheet_most_writes": max(w for _, w in agents_took),
                **sql.since(sql_before),
                "at_google_quota_min": round(max(reads, writes) / 60, 1),
                "requests": dict(sorted(delta.items())),
            }
            say(
                f"{name:>5}: {wall:7.1f} s  {phases[name]['peak_rss_mb'] or 0:7.0f} MB  "
                f"Sheets {reads} read / {writes} write, Drive {drive}"
            )
            return result

        def cycle() -> Any:
            return Cycle(config, engine, backend).run()

        def profiled_cycle() -> Any:
            profiler = cProfile.Profile()
            try:
                return profiler.runcall(cycle)
            finally:
                profiler.dump_stats(args.profile)

        phase("init", lambda: service.init(config, engine, backend))
        cold = phase("cold", profiled_cycle if args.profile else cycle)
        reports = {"cold": cold, "idle": phase("idle", cycle)}
        rng = random.Random(args.seed)
        out["rows_edited"] = edit_sheets(gc, config, args.edit_agents, args.edit_rows, rng)
        reports["edit"] = phase("edit", cycle)
        reports["idle after edit"] = phase("idle after edit", cycle)
        for name, report in reports.items():
            phases[name]["report"] = {
                k: v
                for k, v in report.as_dict().items()
                if k in ("sources_read", "cells_written", "writes_skipped", "agents_failed")
            }
        with session_factory(engine)() as s:
            out["customers"] = s.scalar(select(func.count()).select_from(Customer))
        out["phases"] = phases
        out["emulator_peak_rss_mb"] = hwm_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def count_by_spreadsheet(api: Any) -> Counter[tuple[str, str]]:
    """Counts, from now on, the Sheets requests ``api`` sends by (spreadsheet id, quota
    "read" or "write"): a wrapper of its ``call`` (each call once, whatever its retries)."""
    counted: Counter[tuple[str, str]] = Counter()
    call = api.call

    def counting(kind: str, method: str, url: str, **kwargs: Any) -> Any:
        quota = _quota(kind)
        found = SPREADSHEET.search(url)
        if quota is not None and found:
            counted[found[1], quota] += 1
        return call(kind, method, url, **kwargs)

    api.call = counting
    return counted


SPREADSHEET = re.compile(r"/v4/spreadsheets/([^/:?]+)")


def _quota(kind: str) -> str | None:
    from sync.backends.google.api import quota_of

    return quota_of(kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--overlap", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--edit-agents", type=int, default=5)
    parser.add_argument("--edit-rows", type=int, default=3)
    parser.add_argument("--no-revalidate", action="store_true", help="google.revalidate = false")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--profile", metavar="FILE", help="cProfile the cold cycle into FILE (read it with pstats)"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the emulator child too
    out = run(args)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(
        f"\n{out['agents']} agents x {out['rows_per_agent']} rows: {out['customers']} customers "
        f"(expected {out['expected_customers']}); "
        f"revalidate={out['revalidate']}"
    )
    print(
        f"{'cycle':<16}{'time s':>8}{'cpu s':>8}{'peak MB':>9}{'sql':>7}{'cells':>9}"
        f"{'reads':>7}{'writes':>7}{'drive':>7}{'master r/w':>12}{'agent r/w':>11}"
        f"{'@60/min':>9}  requests"
    )
    for name, p in out["phases"].items():
        detail = ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in p["requests"].items())
        master = f"{p['master_reads']}/{p['master_writes']}"
        agent = f"{p['agent_sheet_most_reads']}/{p['agent_sheet_most_writes']}"
        cells = p.get("report", {}).get("cells_written", "-")  # init makes no report
        print(
            f"{name:<16}{p['wall_s']:>8.1f}{p['cpu_s']:>8.1f}{p['peak_rss_mb'] or 0:>9.0f}"
            f"{p['sql_statements']:>7}{cells:>9}"
            f"{p['sheets_reads']:>7}{p['sheets_writes']:>7}{p['drive_requests']:>7}"
            f"{master:>12}{agent:>11}{p['at_google_quota_min']:>8.1f}m  {detail}"
        )
    print(
        "master r/w: Sheets reads and writes of the master's spreadsheet; agent r/w: the most "
        "any one agent's spreadsheet took"
    )
    print(f"emulator process peak RSS: {out['emulator_peak_rss_mb'] or 0:.0f} MB")


if __name__ == "__main__":
    main()

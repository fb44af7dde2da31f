"""Soak test of the worker: many cycles with random edits and injected faults.

    .venv/bin/python bench/soak.py                        # 200 cycles, 12 agents, SQLite
    .venv/bin/python bench/soak.py --cycles 500 --agents 20 --json
    .venv/bin/python bench/soak.py --db postgresql+psycopg://postgres@127.0.0.1/test

Not part of the test suite: it prints figures (and exits 1 if any duplicate or lost
edit was found). Cycles run in-process through ``sync.worker.Worker.run_cycle`` (the
same code as ``sheetsync run``: leases, backoff, flags) on in-memory sheets.

Each cycle, some agents type new customers (new phones, or phones a colleague already
has), change notes and statuses; sometimes an agent edits between the cycle's read and
its write. Faults injected: reads and writes failing like Google's 500/429 (a
``SourceError``), writes applied whose response is lost, workbooks locked for several
cycles (open in Excel, access revoked; one of them long enough to be flagged), and cycles
crashing mid-way (an unexpected exception at a source, as a killed process leaves it).
The last fifth of the cycles adds no rows, so memory growth there is the worker's own.

At the end the faults stop, cycles run until two in a row read and write no agent
source, and the database and the sheets are compared with what the agents typed:

* duplicates: customers sharing a phone, customers nobody typed, a Customer # on two
  rows of one sheet (must be 0);
* lost edits: a typed value (name, notes, status) that is neither in the database nor
  still in the agent's sheet (must be 0).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import random
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `sync` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from sync import service
from sync.backends.memory import MemoryBackend
from sync.cells import CellWrite, Grid, SourceSnapshot, WriteResult, cell_text
from sync.config import config_from_dict
from sync.db import make_engine, session_factory
from sync.errors import SourceError
from sync.fields import CUSTOMER_FIELDS
from sync.model import Agent, Conflict, Customer, Tracking
from sync.worker import SOURCE_FAILING, Worker, WorkerOptions

HEADERS = [f.header for f in CUSTOMER_FIELDS]
STATUSES = ["Prospect", "Contacted", "In progress", "Negotiating", "Lost"]


class Crash(RuntimeError):
    """An unexpected error in the middle of a cycle (what a killed process leaves)."""


class FaultyBackend:
    """MemoryBackend with injected faults; ``enabled`` turns them all off."""

    def __init__(self, inner: MemoryBackend, rng: random.Random, rates: dict[str, float]):
        self.inner = inner
        self.name = inner.name
        self.cell_limit = inner.cell_limit
        self.sets_cells_atomically = inner.sets_cells_atomically
        self.rng = rng
        self.rates = rates
        self.enabled = True
        self.injected: Counter[str] = Counter()

    def _roll(self, kind: str) -> bool:
        if self.enabled and self.rng.random() < self.rates[kind]:
            self.injected[kind] += 1
            return True
        return False

    def fingerprint(self, source: str) -> str | None:
        return self.inner.fingerprint(source)

    def read(self, source: str) -> SourceSnapshot:
        if self._roll("crash"):
            raise Crash("injected crash mid-cycle")
        if self._roll("read_error"):
            raise SourceError("injected: HTTP 500 on values.batchGet", where=source)
        return self.inner.read(source)

    def write(
        self, source: str, writes: Sequence[CellWrite], *, read_version: str | None = None
    ) -> WriteResult:
        if self._roll("write_error"):
            raise SourceError("injected: HTTP 429 on values.batchUpdate", where=source)
        result = self.inner.write(source, writes, read_version=read_version)
        if self._roll("lost_response"):
            raise SourceError("injected: connection reset after the write", where=source)
        return result

    def set_cells(self, source: str, cells: Any, *, version: str) -> str | None:
        if self._roll("write_error"):
            raise SourceError("injected: HTTP 429 on values.batchUpdate", where=source)
        result = self.inner.set_cells(source, cells, version=version)
        if self._roll("lost_response"):
            raise SourceError("injected: connection reset after the write", where=source)
        return result

    def ensure_layout(self, source: str, tabs: Any, **kwargs: Any) -> list[str]:
        return self.inner.ensure_layout(source, tabs, **kwargs)


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.memory = MemoryBackend()
        self.backend = FaultyBackend(
            self.memory,
            self.rng,
            {
                "read_error": args.fault_rate,
                "write_error": args.fault_rate,
                "lost_response": args.fault_rate / 2,
                "crash": args.fault_rate / 4,
            },
        )
        self.keys = [f"agent{i:02d}" for i in range(args.agents)]
        raw = {
            "database": {"url": "sqlite:///unused.db"},
            "sync": {"flag_after_failures": 3},
            "agents": [
                {"key": k, "name": f"Agent {k[-2:]}", "workbook": f"agents/{k}.xlsx"}
                for k in self.keys
            ],
        }
        self.config = config_from_dict(raw, base_dir=Path("/soak"))
        self.tmp = tempfile.TemporaryDirectory(prefix="sheetsync-soak-")
        url = args.db or f"sqlite:///{Path(self.tmp.name) / 'soak.db'}"
        self.engine = make_engine(url)
        service.init(self.config, self.engine, self.memory)
        self.worker = Worker(
            self.config, self.engine, self.backend, WorkerOptions(max_backoff=args.max_backoff)
        )
        # What was typed: agent -> E.164 phone -> header -> value; phone -> name.
        self.model: dict[str, dict[str, dict[str, str]]] = {k: {} for k in self.keys}
        self.names: dict[str, str] = {}
        self.next_phone = 0
        self.edits = 0
        self.locked_until: dict[str, int] = {}
        self.cycle = 0
        self.adding = True

    def source(self, key: str) -> str:
        cfg = next(a for a in self.config.agents if a.key == key)
        return self.config.agent_source(cfg)

    # -- agents typing -----------------------------------------------------------------------

    def _grid(self, key: str) -> Grid:
        return self.memory.get_tab(self.source(key), "Customers")

    def _new_phone(self) -> tuple[str, str]:
        self.next_phone += 1
        local = f"010{self.next_phone:08d}"
        return local, "+20" + local[1:]

    def type_row(self, key: str) -> None:
        theirs = [p for k, rows in self.model.items() if k != key for p in rows]
        mine = self.model[key]
        candidates = [p for p in theirs if p not in mine]
        if candidates and self.rng.random() < 0.4:
            phone = self.rng.choice(candidates)
            typed = "0" + phone[3:]
        else:
            typed, phone = self._new_phone()
            self.names[phone] = f"Customer {self.next_phone}"
        values = {
            "Name": self.names[phone],
            "Phone": typed,
            "Notes": f"note {self.edits}",
            "Status": self.rng.choice(STATUSES),
        }
        grid = self._grid(key)
        header = [cell_text(h) for h in grid[0]]
        grid.append([values.get(h) for h in header])
        self.memory.set_tab(self.source(key), "Customers", grid)
        mine[phone] = {k: v for k, v in values.items() if k != "Phone"}
        self.edits += 1

    def change_row(self, key: str, source: str | None = None) -> bool:
        mine = self.model[key]
        if not mine:
            return False
        grid = self._grid(key)
        header = [cell_text(h) for h in grid[0]]
        phone = self.rng.choice(sorted(mine))
        col = header.index("Phone")
        for row in grid[1:]:
            if col < len(row) and "+20" + _digits(row[col])[-10:] == phone:
                field = self.rng.choice(["Notes", "Status"])
                value = f"note {self.edits}" if field == "Notes" else self.rng.choice(STATUSES)
                i = header.index(field)
                row.extend([None] * (i + 1 - len(row)))
                row[i] = value
                mine[phone][field] = value
                self.memory.set_tab(source or self.source(key), "Customers", grid)
                self.edits += 1
                return True
        raise AssertionError(f"{key}: row of {phone} not found")

    def typing_during_write(self, source: str) -> None:
        key = next((k for k in self.keys if self.source(k) == source), None)
        if key and self.backend.enabled and self.rng.random() < 0.15:
            self.change_row(key)

    # -- faults ------------------------------------------------------------------------------

    def toggle_locks(self) -> None:
        for key, until in list(self.locked_until.items()):
            if self.cycle >= until:
                self.memory.locked.discard(self.source(key))
                del self.locked_until[key]
        if self.cycle == self.args.cycles // 4:  # one long outage: flagged, then cleared
            key = self.keys[0]
            self.locked_until[key] = self.cycle + 25
            self.memory.locked.add(self.source(key))
        elif self.rng.random() < 0.05:
            key = self.rng.choice(self.keys)
            if key not in self.locked_until:
                self.locked_until[key] = self.cycle + self.rng.randint(1, 6)
                self.memory.locked.add(self.source(key))

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        self.memory.before_write = self.typing_during_write
        tracemalloc.start()
        marks: dict[str, int] = {}
        statuses: Counter[str] = Counter()
        failing: set[str] = set()
        episodes = recovered = 0
        flagged = unflagged = 0
        started = time.perf_counter()
        steady_from = int(self.args.cycles * 0.8)
        for n in range(1, self.args.cycles + 1):
            self.cycle = n
            self.adding = n <= steady_from
            for key in self.rng.sample(self.keys, self.rng.randint(1, max(1, len(self.keys) // 3))):
                if self.adding and (not self.model[key] or self.rng.random() < 0.5):
                    self.type_row(key)
                else:
                    self.change_row(key)
            self.toggle_locks()
            outcome = self.worker.run_cycle()
            statuses[outcome.status] += 1
            flagged += len(outcome.flagged)
            unflagged += len(outcome.unflagged)
            now_failing = set(outcome.report.failures) if outcome.report else set()
            episodes += len(now_failing - failing)
            ok_read = set(outcome.read) - now_failing
            recovered += len(failing & ok_read)
            failing = (failing | now_failing) - ok_read
            if n in (20, steady_from, self.args.cycles):
                gc.collect()
                marks[f"heap_at_{n}"] = tracemalloc.get_traced_memory()[0]
                marks[f"rss_at_{n}"] = _rss()
        elapsed = time.perf_counter() - started

        # Faults stop; cycles until two in a row touch no agent source.
        self.backend.enabled = False
        self.memory.locked.clear()
        settle = idle = master_writes = 0
        while idle < 2 and settle < 3 * self.args.max_backoff + 10:
            outcome = self.worker.run_cycle()
            settle += 1
            statuses[outcome.status] += 1
            flagged += len(outcome.flagged)
            unflagged += len(outcome.unflagged)
            ok_read = set(outcome.read) - set(outcome.report.failures if outcome.report else ())
            recovered += len(failing & ok_read)
            failing -= ok_read
            report = outcome.report
            quiet = not [k for k in outcome.read + outcome.written if k != "master"]
            master_writes += "master" in outcome.written
            idle = idle + 1 if report and quiet and not report.failures else 0
        tracemalloc.stop()
        return {
            **self.figures(),
            "cycles": self.args.cycles,
            "settle_cycles": settle,
            "settle_master_writes": master_writes,
            "seconds": round(elapsed, 1),
            "cycle_statuses": dict(statuses),
            "edits_typed": self.edits,
            "faults_injected": dict(self.backend.injected),
            "failure_episodes": episodes,
            "failures_recovered": recovered,
            "still_failing": sorted(failing),
            "crashed_cycles_recovered": statuses["error"],
            "flags_opened": flagged,
            "flags_closed": unflagged,
            **{k: v for k, v in marks.items()},
            "heap_growth_steady_kib": round(
                (marks[f"heap_at_{self.args.cycles}"] - marks[f"heap_at_{steady_from}"]) / 1024
            ),
            "heap_growth_total_kib": round(
                (marks[f"heap_at_{self.args.cycles}"] - marks["heap_at_20"]) / 1024
            ),
            "rss_growth_total_kib": round(
                (marks[f"rss_at_{self.args.cycles}"] - marks["rss_at_20"]) / 1024
            ),
        }

    def figures(self) -> dict[str, Any]:
        typed_phones = {p for rows in self.model.values() for p in rows}
        lost: list[str] = []
        duplicates = 0
        with session_factory(self.engine)() as s:
            customers = {c.phone: c for c in s.execute(select(Customer)).scalars()}
            count = s.scalar(select(func.count()).select_from(Customer)) or 0
            duplicates += count - len(customers)  # two rows with one phone
            duplicates += len(set(customers) - typed_phones)  # a customer nobody typed
            agents = {a.id: a.key for a in s.execute(select(Agent)).scalars()}
            trackings = {
                (agents[t.agent_id], c.phone): t
                for t, c in s.execute(
                    select(Tracking, Customer).join(Customer, Customer.id == Tracking.customer_id)
                ).all()
            }
            open_flags = (
                s.scalar(
                    select(func.count())
                    .select_from(Conflict)
                    .where(Conflict.kind == SOURCE_FAILING, Conflict.status == "open")
                )
                or 0
            )
            open_conflicts = Counter(
                s.execute(select(Conflict.kind).where(Conflict.status == "open")).scalars()
            )
        for key, rows in self.model.items():
            for phone, values in rows.items():
                customer = customers.get(phone)
                tracking = trackings.get((key, phone))
                if customer is None or tracking is None or not tracking.active:
                    lost.append(f"{key} {phone}: not in the database")
                    continue
                if customer.name != values["Name"]:
                    lost.append(f"{key} {phone}: name")
                if tracking.notes != values["Notes"]:
                    lost.append(f"{key} {phone}: notes")
                if tracking.status != values["Status"]:
                    lost.append(f"{key} {phone}: status")
            grid = self._grid(key)
            header = [cell_text(h) for h in grid[0]]
            numbers = [cell_text(r[header.index("Customer #")]) for r in grid[1:] if any(r)]
            duplicates += len(numbers) - len(set(numbers))
            sheet_rows = sum(1 for r in grid[1:] if any(cell_text(v) for v in r))
            duplicates += max(0, sheet_rows - len(rows))  # rows the sync appended twice
        return {
            "agents": len(self.keys),
            "customers": len(customers),
            "trackings": len(trackings),
            "duplicates": duplicates,
            "lost_edits": len(lost),
            "lost_examples": lost[:5],
            "open_flags_at_end": open_flags,
            "open_conflicts_at_end": dict(open_conflicts),
        }


def _digits(value: object) -> str:
    return "".join(ch for ch in cell_text(value) if ch.isdigit())  # type: ignore[arg-type]


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        import resource

        return pages * resource.getpagesize()
    except OSError:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--agents", type=int, default=12)
    parser.add_argument("--fault-rate", type=float, default=0.04, help="per read/write")
    parser.add_argument("--max-backoff", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", help="an empty database URL (default: a temporary SQLite)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--verbose", action="store_true", help="show the worker's log")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )
    figures = Soak(args).run()
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            print(f"{key:<{width}}  {value}")
    return 0 if figures["duplicates"] == 0 and figures["lost_edits"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

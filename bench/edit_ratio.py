"""The same edit at two team sizes: how much more it costs in the larger team.

    .venv/bin/python bench/edit_ratio.py --dir /tmp/ratio           # 10 and 50 agents x 2,000
    .venv/bin/python bench/edit_ratio.py --dir /tmp/ratio --pairs 8 # again, on the kept teams

Each team is set up once by bench/cycle.py (generated workbooks, a cold cycle) in a folder of
``--dir`` and kept there; a later run with the same ``--dir`` and sizes reuses it, so that
the figure is not held up by a cold cycle each time. Then, in one process, the same edit
(Status and Notes of ``--edit-rows`` rows in each of ``--edit-sheets`` workbooks) and one
cycle, in the small team and in the large one in turn, after one warm-up edit each. It
prints each edit cycle's wall and CPU time, the ratio of the medians and the ratio pair by
pair (pairs keep the ratio meaningful when the machine's speed drifts). Figures are
printed, never asserted; the target (issue "cost follows change") is 1.5 at 50 against 10.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `sync` and `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import cycle as bench_cycle
from bench.measure import measure
from sync import service
from sync.backends.xlsx import XlsxBackend
from sync.config import load_config


def team(args: argparse.Namespace, agents: int) -> Path:
    """The folder of a kept team of ``agents`` agents, set up by bench/cycle.py if absent."""
    folder = Path(args.dir).resolve() / f"{agents}x{args.rows}-seed{args.seed}"
    if not (folder / "bench.db").exists():
        bench_cycle.say(f"setting up {agents} agents x {args.rows} rows in {folder} ...")
        bench_cycle.run(
            bench_cycle.main_parser().parse_args(
                [
                    *("--agents", str(agents), "--rows", str(args.rows)),
                    *("--overlap", str(args.overlap), "--seed", str(args.seed)),
                    *("--dir", str(folder), "--keep", "--no-tracemalloc"),
                    *("--edit-sheets", str(args.edit_sheets)),
                    *("--edit-rows", str(args.edit_rows)),
                ]
            )
        )
    return folder


def edit_cycles(args: argparse.Namespace) -> dict[str, Any]:
    deployments = {}
    for agents in (args.small, args.large):
        folder = team(args, agents)
        config = load_config(folder / "sheetsync.toml")
        deployments[agents] = (config, service.open_database(config), XlsxBackend())
    edit = argparse.Namespace(
        edit_sheets=args.edit_sheets, edit_rows=args.edit_rows, rows=args.rows
    )
    rng = random.Random(args.seed)
    runs: dict[int, list[dict[str, float]]] = {args.small: [], args.large: []}
    for turn in range(args.pairs + 1):  # the first pair warms up and is not counted
        for agents, (config, engine, backend) in deployments.items():
            bench_cycle.apply_edits(edit, config, backend, rng)
            report, figures = measure(
                lambda c=config, e=engine, b=backend: service.sync_once(c, e, b), False
            )
            if report.failures:
                raise SystemExit(f"{agents} agents: the edit cycle failed: {report.failures}")
            if turn:
                runs[agents].append({"wall_s": figures["wall_s"], "cpu_s": figures["cpu_s"]})
                bench_cycle.say(
                    f"pair {turn}: {agents} agents {figures['wall_s']:.2f} s "
                    f"(cpu {figures['cpu_s']:.2f} s, {report.cells_written} cells written)"
                )
    small, large = runs[args.small], runs[args.large]
    out: dict[str, Any] = {"small": args.small, "large": args.large, "rows": args.rows}
    for what in ("wall_s", "cpu_s"):
        s = [r[what] for r in small]
        big = [r[what] for r in large]
        out[what] = {
            "small": s,
            "large": big,
            "ratio_of_medians": round(statistics.median(big) / statistics.median(s), 3),
            "pairwise_median": round(
                statistics.median(b / a for a, b in zip(s, big, strict=True)), 3
            ),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True, help="where the teams are kept (made if absent)")
    p.add_argument("--small", type=int, default=10, help="agents in the small team (default 10)")
    p.add_argument("--large", type=int, default=50, help="agents in the large team (default 50)")
    p.add_argument("--rows", type=int, default=2000, help="rows per agent (default 2000)")
    p.add_argument("--overlap", type=float, default=0.3, help="shared phones (default 0.3)")
    p.add_argument("--edit-sheets", type=int, default=5, help="workbooks edited (default 5)")
    p.add_argument("--edit-rows", type=int, default=20, help="rows edited in each (default 20)")
    p.add_argument("--pairs", type=int, default=5, help="edits counted at each size (default 5)")
    p.add_argument("--seed", type=int, default=3, help="the teams' seed (default 3)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = p.parse_args(argv)
    if args.pairs < 1 or not 0 < args.small < args.large:
        p.error("--pairs must be positive and --small smaller than --large")
    out = edit_cycles(args)
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for what in ("wall_s", "cpu_s"):
            f = out[what]
            large, small = statistics.median(f["large"]), statistics.median(f["small"])
            print(
                f"{what[:-2]:4s}: {args.large} agents median {large:.2f} s, "
                f"{args.small} agents {small:.2f} s; ratio of medians "
                f"{f['ratio_of_medians']:.2f}, pairwise median {f['pairwise_median']:.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Peer benchmark: sheetsync's Google cycles vs dlt's google_sheets source, same emulator.

    .venv/bin/pip install -e '.[bench]'                   # dlt[duckdb], google-api-python-client
    .venv/bin/python bench/peer_dlt.py                    # 50 agents x 2,000 rows
    .venv/bin/python bench/peer_dlt.py --agents 5 --rows 200 --json

The same agents' spreadsheets as ``bench/google_cycle.py`` (its ``seed_agents`` and
``bench_config``) are seeded into one emulator; then, back to back in one process tree:

* sheetsync: ``init``, a cold cycle and an idle cycle, in this process (its CPU time is
  ``time.process_time`` around each step, imports excluded);
* dlt: a full load of the same spreadsheets (every tab) with dlt-hub's ``google_sheets``
  verified source (vendored in ``bench/peers/dlt_google_sheets``) into one duckdb file, one
  pipeline per spreadsheet, in a child process. Its CPU is the child's ``time.process_time``
  around the pipeline runs (imports excluded), and its whole life (interpreter start,
  imports, key generation) from ``getrusage(RUSAGE_CHILDREN)``.

The emulator runs in a third process, started by this script so that it can be asked for
its request counters (``Emulator.counts``) between steps: requests are counted by the
server, by kind, for both clients alike. dlt's Google client gets a fake service account
(a fresh RSA key) whose token endpoint is the emulator's ``/token``, and the Sheets API
endpoint of the static discovery document is replaced by the emulator's URL; the child
refuses any connection or name lookup beyond the loopback address.

Note what each side does: sheetsync's cold cycle reads every sheet, merges, writes the
master and every agent sheet back (Sheets writes); dlt only reads and loads. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
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

from bench.measure import hwm_mb, reset_hwm

ROOT = Path(__file__).resolve().parent.parent
# dlt reports anonymous usage to its own servers unless told not to.
DLT_ENV = {
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "RUNTIME__LOG_LEVEL": "ERROR",  # not a warning per empty column and agent
}


# ---------------------------------------------------------------- the emulator's process


def serve_emulator() -> None:
    """Child mode: serve an emulator; answer ``counts`` on stdin with one JSON line on
    stdout (its request counters and its own CPU seconds); stop at end of input."""
    from sheets_emulator import Emulator

    emu = Emulator().start()
    print(f"listening on {emu.url}", flush=True)
    for line in sys.stdin:
        if line.strip() == "counts":
            emu.wait_idle()
            print(json.dumps({"counts": dict(emu.counts), "cpu_s": time.process_time()}))
            sys.stdout.flush()
    emu.stop()


class EmulatorProcess:
    """The emulator in a child process, with its counters a line away."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-emulator"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.url = line.split()[-1]

    def snapshot(self) -> tuple[Counter[str], float]:
        """Requests counted so far by kind, and the emulator's CPU seconds so far."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("counts\n")
        self.proc.stdin.flush()
        out = json.loads(self.proc.stdout.readline())
        return Counter(out["counts"]), float(out["cpu_s"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def split_requests(delta: dict[str, int]) -> dict[str, int]:
    """Requests by quota: Sheets reads and writes (as Google counts them), Drive, OAuth."""
    from sheets_emulator.server import READ_KINDS

    sheets = {k: v for k, v in delta.items() if k.startswith("sheets.")}
    return {
        "sheets_reads": sum(v for k, v in sheets.items() if k in READ_KINDS),
        "sheets_writes": sum(v for k, v in sheets.items() if k not in READ_KINDS),
        "drive_requests": sum(v for k, v in delta.items() if k.startswith("drive.")),
        "oauth_requests": sum(v for k, v in delta.items() if k.startswith("oauth.")),
    }


# ---------------------------------------------------------------- dlt's process


def loopback_only() -> None:
    """Refuse connections and name lookups beyond the loopback address in this process."""
    allowed = {"127.0.0.1", "localhost", "::1"}
    connect, lookup = socket.socket.connect, socket.getaddrinfo

    def checked_connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in allowed:
            raise ConnectionRefusedError(f"peer_dlt: no network beyond loopback ({address[0]})")
        return connect(self, address)

    def checked_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and str(name) not in allowed:
            raise OSError(f"peer_dlt: no name lookup beyond loopback ({name})")
        return lookup(host, *args, **kwargs)

    socket.socket.connect = checked_connect  # type: ignore[method-assign]
    socket.getaddrinfo = checked_lookup


def fake_service_account() -> dict[str, str]:
    """A service account that exists nowhere: a fresh RSA key, an unused e-mail."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "project_id": "sheetsync-bench",
        "client_email": "dlt-peer@sheetsync-bench.iam.gserviceaccount.com",
        "private_key_id": "peer-dlt",
        "private_key": pem,
    }


def dlt_child(spec_path: str) -> None:
    """Child mode: load every spreadsheet of the spec with dlt into duckdb; print figures."""
    start_cpu = time.process_time()  # the interpreter's start and this module's imports
    loopback_only()
    spec = json.loads(Path(spec_path).read_text())
    url: str = spec["url"]
    account = fake_service_account()
    c_import = time.process_time()
    import dlt
    from dlt.sources.credentials import GcpServiceAccountCredentials
    from googleapiclient import discovery

    from bench.peers.dlt_google_sheets import google_spreadsheet
    from bench.peers.dlt_google_sheets.helpers import api_calls

    def build_on_emulator(service: str, version: str, *, credentials: Any, **kw: Any) -> Any:
        """The verified source's ``build``, sent to the emulator: its static discovery
        document with the emulator as API endpoint, tokens from the emulator's /token."""
        return discovery.build(
            service,
            version,
            credentials=credentials.with_token_uri(f"{url}/token"),
            client_options={"api_endpoint": f"{url}/"},
            static_discovery=True,
            **kw,
        )

    api_calls.build = build_on_emulator  # type: ignore[assignment]
    credentials = GcpServiceAccountCredentials()
    for name, value in account.items():
        setattr(credentials, name, value)
    import_cpu = time.process_time() - c_import

    collect()
    reset_hwm()
    t0, c0 = time.perf_counter(), time.process_time()
    destination = dlt.destinations.duckdb(spec["duckdb"])
    loads = 0
    for sheet in spec["spreadsheets"]:
        pipeline = dlt.pipeline(
            pipeline_name=f"peer_dlt_{sheet['key']}",
            destination=destination,
            dataset_name=f"agent_{sheet['key']}",
            pipelines_dir=spec["pipelines_dir"],
        )
        source = google_spreadsheet(
            spreadsheet_url_or_id=sheet["id"],
            range_names=[],
            credentials=credentials,
            get_sheets=True,
            get_named_ranges=False,
        )
        info = pipeline.run(source)
        loads += len(info.loads_ids)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = hwm_mb()
    c_check = time.process_time()

    import duckdb

    rows: Counter[str] = Counter()
    auto_headers = []  # tabs whose headers dlt could not use: named col_1..., header row as data
    with duckdb.connect(spec["duckdb"], read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema like 'agent_%' and table_schema not like '%_staging' "
            "and table_name not like '_dlt%'"
        ).fetchall()
        for schema, table in tables:
            (n,) = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone() or (0,)
            rows[table] += int(n)
            (auto,) = con.execute(
                "select count(*) from information_schema.columns where table_schema = ? "
                "and table_name = ? and column_name = 'col_1'",
                [schema, table],
            ).fetchone() or (0,)
            if auto:
                auto_headers.append(f"{schema}.{table}")
    print(
        json.dumps(
            {
                "import_cpu_s": round(import_cpu, 2),
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "peak_rss_mb": peak,
                "loads": loads,
                "rows": dict(sorted(rows.items())),
                "auto_header_tables": sorted(auto_headers),
                "duckdb_mb": round(Path(spec["duckdb"]).stat().st_size / 2**20, 1),
                "start_cpu_s": round(start_cpu, 2),
                "key_cpu_s": round(c_import - start_cpu, 2),
                "check_cpu_s": round(time.process_time() - c_check, 2),
                "self_cpu_s": round(time.process_time(), 2),
                "subprocess_cpu_s": round(_children_cpu(), 2),
            }
        )
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- the run


def run(args: argparse.Namespace) -> dict[str, Any]:
    # Imported here, not at the top: the child modes do without sheetsync's imports.
    from bench.generate import generate
    from bench.google_cycle import bench_config, say, seed_agents
    from sheets_emulator.client import gspread_client
    from sync import service
    from sync.cycle import Cycle
    from sync.db import make_engine
    from sync.schema import upgrade_schema

    work = Path(tempfile.mkdtemp(prefix="sheetsync-peer-dlt-"))
    data = generate(args.agents, args.rows, args.overlap, args.seed)
    say(f"generated {args.agents} agents x {args.rows} rows ({data.distinct_phones} customers)")
    emu = EmulatorProcess()
    out: dict[str, Any] = {
        "agents": args.agents,
        "rows_per_agent": args.rows,
        "expected_customers": data.distinct_phones,
        "customer_rows": data.rows,
        "follow_up_rows": data.follow_up_rows,
        "revalidate": not args.no_revalidate,
    }
    try:
        gc = gspread_client(emu.url, timeout=600)
        start = time.perf_counter()
        agents, master = seed_agents(gc, data)
        out["seed_s"] = round(time.perf_counter() - start, 1)
        say(f"seeded {len(agents)} spreadsheets in {out['seed_s']} s")
        config = bench_config(work, emu.url, agents, master, revalidate=not args.no_revalidate)
        engine = make_engine(config.database_url())
        upgrade_schema(engine)
        backend = service.make_backend(config)
        phases: dict[str, Any] = {}

        def record(name: str, wall: float, cpu: float, before: Any, extra: Any) -> None:
            (counts0, emu_cpu0), (counts1, emu_cpu1) = before, emu.snapshot()
            delta = {k: v - counts0.get(k, 0) for k, v in counts1.items()}
            delta = {k: v for k, v in sorted(delta.items()) if v}
            phases[name] = {
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                **extra,
                "emulator_cpu_s": round(emu_cpu1 - emu_cpu0, 2),
                **split_requests(delta),
                "requests": delta,
            }
            p = phases[name]
            say(
                f"{name:>5}: {wall:7.1f} s, CPU {cpu:6.2f} s; Sheets {p['sheets_reads']} read / "
                f"{p['sheets_writes']} write, Drive {p['drive_requests']}, "
                f"OAuth {p['oauth_requests']}"
            )

        def phase(name: str, job: Any) -> None:
            collect()
            reset_hwm()
            before = emu.snapshot()
            t0, c0 = time.perf_counter(), time.process_time()
            job()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            record(name, wall, cpu, before, {"peak_rss_mb": hwm_mb()})

        def cycle() -> Any:
            return Cycle(config, engine, backend).run()

        phase("init", lambda: service.init(config, engine, backend))
        phase("cold", cycle)
        phase("idle", cycle)

        spec = {
            "url": emu.url,
            "duckdb": str(work / "dlt.duckdb"),
            "pipelines_dir": str(work / "dlt-pipelines"),
            "spreadsheets": [{"key": a["key"], "id": a["spreadsheet"]} for a in agents],
        }
        spec_path = work / "dlt-spec.json"
        spec_path.write_text(json.dumps(spec))
        before = emu.snapshot()
        children0 = _children_cpu()
        t0 = time.perf_counter()
        child = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--dlt-child", str(spec_path)],
            cwd=work,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **DLT_ENV, "PYTHONPATH": str(ROOT), "DLT_DATA_DIR": str(work)},
        )
        wall = time.perf_counter() - t0
        process_cpu = _children_cpu() - children0
        if child.returncode:
            raise RuntimeError(f"the dlt child failed (exit {child.returncode})")
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        record(
            "dlt",
            figures["wall_s"],
            figures["cpu_s"],
            before,
            {
                "peak_rss_mb": figures["peak_rss_mb"],
                "process_wall_s": round(wall, 2),
                "process_cpu_s": round(process_cpu, 2),
                "import_cpu_s": figures["import_cpu_s"],
                "child_cpu_s": {
                    k.removesuffix("_cpu_s"): figures[k]
                    for k in ("start_cpu_s", "key_cpu_s", "import_cpu_s", "check_cpu_s")
                    + ("self_cpu_s", "subprocess_cpu_s")
                },
                "loads": figures["loads"],
                "rows": figures["rows"],
                "auto_header_tables": figures["auto_header_tables"],
                "duckdb_mb": figures["duckdb_mb"],
            },
        )
        out["phases"] = phases
        cold, dlt_ = phases["cold"]["cpu_s"], phases["dlt"]["cpu_s"]
        out["cpu_ratio_cold_vs_dlt"] = round(cold / dlt_, 3) if dlt_ else None
    finally:
        emu.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--overlap", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-revalidate", action="store_true", help="google.revalidate = false")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dlt-child", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_emulator:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it (end of input)
        serve_emulator()
        return
    if args.dlt_child:
        dlt_child(args.dlt_child)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the emulator child too
    out = run(args)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(
        f"\n{out['agents']} agents x {out['rows_per_agent']} rows ({out['customer_rows']} "
        f"customer rows, {out['follow_up_rows']} follow-up rows); "
        f"revalidate={out['revalidate']}; requests counted by the emulator"
    )
    print(
        f"{'step':<16}{'time s':>8}{'CPU s':>8}{'peak MB':>9}{'emu CPU':>9}{'reads':>7}"
        f"{'writes':>7}{'drive':>7}{'oauth':>7}  requests"
    )
    for name, p in out["phases"].items():
        detail = ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in p["requests"].items())
        label = "dlt full load" if name == "dlt" else f"sheetsync {name}"
        print(
            f"{label:<16}{p['wall_s']:>8.1f}{p['cpu_s']:>8.2f}{p['peak_rss_mb'] or 0:>9.0f}"
            f"{p['emulator_cpu_s']:>9.2f}{p['sheets_reads']:>7}{p['sheets_writes']:>7}"
            f"{p['drive_requests']:>7}{p['oauth_requests']:>7}  {detail}"
        )
    d = out["phases"]["dlt"]
    print(
        f"dlt child process: {d['process_cpu_s']:.2f} s CPU in all ({d['import_cpu_s']:.2f} s "
        f"importing dlt; by part {d['child_cpu_s']}), {d['loads']} loads, "
        f"rows {d['rows']}, duckdb {d['duckdb_mb']} MB"
    )
    if d["auto_header_tables"]:
        print(
            f"dlt could not use the headers of {len(d['auto_header_tables'])} tabs (names not "
            f"unique once normalized): columns col_1..., header row loaded as data: "
            + ", ".join(d["auto_header_tables"])
        )
    print(
        f"CPU ratio, sheetsync cold cycle / dlt full load (same run): "
        f"{out['cpu_ratio_cold_vs_dlt']}"
    )


if __name__ == "__main__":
    main()

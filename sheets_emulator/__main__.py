"""``python -m sheets_emulator --port 8765 --state DIR``: serve the emulator until interrupted."""

from __future__ import annotations

import argparse
import sys

from sheets_emulator.server import Emulator


def serve(
    port: int,
    state_dir: str | None,
    *,
    host: str = "127.0.0.1",
    seed_xlsx: list[str] | None = None,
    autosave_seconds: float = 2.0,
) -> None:
    """Run the emulator on ``host:port`` until SIGINT/SIGTERM, saving state to ``state_dir``.

    Args:
        port: TCP port (0 picks a free one).
        state_dir: Where ``state.json`` is loaded from and saved to (None: in memory only).
        host: Interface to bind.
        seed_xlsx: .xlsx workbooks to load as new spreadsheets at start.
        autosave_seconds: How often changed state is saved while running.
    """
    emulator = Emulator(state_dir, host=host, port=port)
    for path in seed_xlsx or []:
        sid = emulator.seed_from_xlsx(path)
        print(f"seeded {path} as spreadsheet {sid}", flush=True)
    emulator.start()
    print(f"Sheets/Drive emulator listening on {emulator.url}", flush=True)
    print(f"  gspread: sheets_emulator.client.gspread_client({emulator.url!r})", flush=True)
    emulator.serve_until_signalled(autosave_seconds)
    print("emulator stopped" + (f", state saved in {state_dir}" if state_dir else ""), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m sheets_emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--state", default=None, help="directory for state.json")
    parser.add_argument(
        "--seed-xlsx",
        action="append",
        default=[],
        metavar="FILE",
        help="load an .xlsx workbook as a spreadsheet (repeatable)",
    )
    args = parser.parse_args(argv)
    serve(args.port, args.state, host=args.host, seed_xlsx=args.seed_xlsx)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark phone normalization on the bench's phone column against bare libphonenumber.

    .venv/bin/python bench/phones.py                     # the column of 50 agents x 2,000 rows
    .venv/bin/python bench/phones.py --agents 10 --rows 500 --repeat 5

Both sides read the same column (every phone cell of a generated team, in every format
the generator types) in the same process, cold (module caches cleared before each run):

- ``bare``: ``phonenumbers.parse(str(value), "EG")`` + ``format_number(E164)`` per cell,
  the least any reader of these cells must do;
- ``normalize_phones``: ``sync.phones.normalize_phones(column, "EG")``;
- ``parse_phone``: ``sync.phones.parse_phone(value, "EG")`` per cell, as a cycle's ingest
  reads each row (it also needs the validity and the warning).

It prints the best of ``--repeat`` runs of each and the ratio. Figures are printed, never
asserted; the results are checked against the generator's expected numbers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `sync` and `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from bench.generate import generate
from sync import phones


def bare(column: list[object]) -> list[str | None]:
    """What plain libphonenumber does with each cell: parse, then format as E.164."""
    out: list[str | None] = []
    for value in column:
        try:
            number = phonenumbers.parse(str(value), "EG")
        except NumberParseException:
            out.append(None)
            continue
        out.append(phonenumbers.format_number(number, PhoneNumberFormat.E164))
    return out


def column_at_once(column: list[object]) -> list[str | None]:
    phones.clear_caches()
    return phones.normalize_phones(column, "EG")


def cell_by_cell(column: list[object]) -> list[str | None]:
    phones.clear_caches()
    return [phones.parse_phone(value, "EG").e164 for value in column]


def best_of(repeat: int, run: object, column: list[object]) -> tuple[float, list[str | None]]:
    times = []
    result: list[str | None] = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = run(column)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--overlap", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    data = generate(args.agents, args.rows, args.overlap, args.seed)
    column = [raw for raw, _ in data.raw_phones]
    expected = [e164 for _, e164 in data.raw_phones]
    distinct = len({(type(v), v) for v in column})
    print(f"column: {len(column):,} cells, {distinct:,} distinct values")

    bare_time, bare_result = best_of(args.repeat, bare, column)
    print(
        f"bare phonenumbers:  {bare_time:7.3f} s  ({_wrong(bare_result, expected):,} not expected)"
    )
    failed = False
    for name, run in (("normalize_phones", column_at_once), ("parse_phone", cell_by_cell)):
        took, result = best_of(args.repeat, run, column)
        wrong = _wrong(result, expected)
        failed = failed or wrong > 0
        print(
            f"{name + ':':19} {took:7.3f} s  ({wrong:,} not expected)"
            f"  {bare_time / took:.2f}x the speed of bare phonenumbers"
        )
    if failed:
        sys.exit("sheetsync normalized some cells to the wrong number")


def _wrong(result: list[str | None], expected: list[str]) -> int:
    return sum(got != want for got, want in zip(result, expected, strict=True))


if __name__ == "__main__":
    main()

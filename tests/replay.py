"""Replay recorded gspread <-> Google traffic (vcrpy JSON cassettes) against the emulator.

Usage: ``python tests/replay.py DIR [DIR_OR_FILE ...]`` prints a summary per cassette.

For each cassette, in order, every recorded request is sent over HTTP to an emulator (a fresh
one per cassette unless one is given), after mapping recorded ids to the emulator's: ids seen
in earlier responses (spreadsheet/file ``id``, ``spreadsheetId``, ``sheetId``,
``protectedRangeId``, ``metadataId``, permission ``id``) are paired with the ids the emulator
answered at the same JSON path, then substituted in later request URLs and bodies and in the
recorded responses before comparing.

What is compared, per interaction:

* **status code**: exactly.
* **JSON shape**: every key of the recorded body, recursively, must be in the emulator's body
  with the same JSON type (``int``/``float`` are both "number"); keys the emulator adds that
  Google did not send are reported as ``extra``. Lists must have the same length.
* **values**: every other scalar must be equal (floats to 1e-9): cell ``values`` arrays, range
  echoes (``range``, ``updatedRange``, ``tableRange``, ``clearedRange(s)``), update counts,
  sheet properties, error messages and (after mapping) ids.
* The emulator's account is named like the recording's (``RECORDED_ACCOUNT``), since Google
  lists it among protected-range editors.
* **shape only**: times and versions (``createdTime``, ``modifiedTime``, ``time``,
  ``version``, ``etag``...), and the ``files`` list of Drive ``files.list``: the recorded account
  held other files, so its elements are compared by shape (against the emulator's first
  element), not by count or value.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

ID_KEYS = {"id", "spreadsheetId", "sheetId", "protectedRangeId", "metadataId", "permissionId"}
RECORDED_ACCOUNT = "telegram-budgeter@telegram-budgeter.iam.gserviceaccount.com"
VOLATILE_KEYS = {
    "createdTime",
    "modifiedTime",
    "modifiedByMeTime",
    "viewedByMeTime",
    "time",
    "version",
    "etag",
    "startPageToken",
    "newStartPageToken",
    "nextPageToken",
}
SHAPE_ONLY_LISTS = {"files"}


@dataclass
class Mismatch:
    """One difference between Google's recorded answer and the emulator's."""

    cassette: str
    index: int
    request: str
    path: str
    kind: str  # status | missing | extra | type | value | length | error
    recorded: Any = None
    actual: Any = None

    def __str__(self) -> str:
        return (
            f"{self.cassette}[{self.index}] {self.request} {self.path}: {self.kind} "
            f"recorded={_short(self.recorded)} emulator={_short(self.actual)}"
        )


@dataclass
class CassetteResult:
    """Outcome of one cassette."""

    name: str
    interactions: int = 0
    passed: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _jtype(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


class IdMap:
    """Recorded id -> emulator id, for strings and ints."""

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.ints: dict[int, int] = {}

    def learn(self, recorded: Any, actual: Any, key: str | None = None) -> None:
        """Pair ids found at the same paths of a recorded and an emulator response."""
        if isinstance(recorded, dict) and isinstance(actual, dict):
            for k, v in recorded.items():
                if k in actual:
                    self.learn(v, actual[k], k)
        elif isinstance(recorded, list) and isinstance(actual, list):
            for a, b in zip(recorded, actual, strict=False):
                self.learn(a, b, key)
        elif key in ID_KEYS and _jtype(recorded) == _jtype(actual) and recorded != actual:
            if isinstance(recorded, str) and len(recorded) >= 10:
                self.strings.setdefault(recorded, actual)
            elif isinstance(recorded, int) and not isinstance(recorded, bool) and recorded:
                self.ints.setdefault(recorded, actual)

    def text(self, text: str) -> str:
        """Substitute string ids (and int ids in ``sheetId=``/``gid=`` style text)."""
        for old, new in self.strings.items():
            text = text.replace(old, new)
        return text

    def json(self, value: Any, key: str | None = None) -> Any:
        """Substitute ids in a JSON value."""
        if isinstance(value, dict):
            return {k: self.json(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v, key) for v in value]
        if isinstance(value, str):
            return self.text(value)
        if key in ID_KEYS and isinstance(value, int) and not isinstance(value, bool):
            return self.ints.get(value, value)
        return value


def compare(
    recorded: Any, actual: Any, path: str = "$", key: str | None = None
) -> list[tuple[str, str, Any, Any]]:
    """Differences as ``(path, kind, recorded, actual)``."""
    out: list[tuple[str, str, Any, Any]] = []
    if _jtype(recorded) != _jtype(actual):
        return [(path, "type", recorded, actual)]
    if isinstance(recorded, dict):
        for k, v in recorded.items():
            if k not in actual:
                out.append((f"{path}.{k}", "missing", v, None))
            else:
                out.extend(compare(v, actual[k], f"{path}.{k}", k))
        for k in actual:
            if k not in recorded:
                out.append((f"{path}.{k}", "extra", None, actual[k]))
        return out
    if isinstance(recorded, list):
        if key in SHAPE_ONLY_LISTS:
            if recorded and actual:
                for i, item in enumerate(actual):
                    out.extend(_shape(recorded[0], item, f"{path}[{i}]"))
            return out
        if len(recorded) != len(actual):
            return [(path, "length", recorded, actual)]
        for i, (a, b) in enumerate(zip(recorded, actual, strict=True)):
            out.extend(compare(a, b, f"{path}[{i}]", key))
        return out
    if key in VOLATILE_KEYS:
        return out
    if isinstance(recorded, float) or isinstance(actual, float):
        if not math.isclose(recorded, actual, rel_tol=1e-9, abs_tol=1e-12):
            out.append((path, "value", recorded, actual))
    elif recorded != actual:
        out.append((path, "value", recorded, actual))
    return out


def _shape(recorded: Any, actual: Any, path: str) -> list[tuple[str, str, Any, Any]]:
    if _jtype(recorded) != _jtype(actual):
        return [(path, "type", recorded, actual)]
    out = []
    if isinstance(recorded, dict):
        for k, v in recorded.items():
            if k not in actual:
                out.append((f"{path}.{k}", "missing", v, None))
            else:
                out.extend(_shape(v, actual[k], f"{path}.{k}"))
        out.extend((f"{path}.{k}", "extra", None, actual[k]) for k in actual if k not in recorded)
    return out


def _body(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def replay_cassette(path: Path, emulator: Any) -> CassetteResult:
    """Send one cassette's requests to ``emulator`` (started) and compare the answers."""
    data = json.loads(path.read_text(encoding="utf-8"))
    result = CassetteResult(path.name)
    ids = IdMap()
    session = requests.Session()
    session.headers["Authorization"] = "Bearer replay"
    for index, interaction in enumerate(data.get("interactions", [])):
        rq, rs = interaction["request"], interaction["response"]
        parts = urlsplit(ids.text(rq["uri"]))
        url = emulator.url + parts.path + (f"?{parts.query}" if parts.query else "")
        body = rq.get("body")
        if isinstance(body, dict):
            body = body.get("string")
        payload = _body(body)
        data_bytes = None
        if payload is not None:
            payload = ids.json(payload)
            data_bytes = (json.dumps(payload) if not isinstance(payload, str) else payload).encode(
                "utf-8"
            )
        label = f"{rq['method']} {parts.path}"
        headers = {"Content-Type": "application/json"} if data_bytes is not None else {}
        answer = session.request(rq["method"], url, data=data_bytes, headers=headers, timeout=30)
        result.interactions += 1
        rec_body = rs.get("body", {})
        recorded = _body(rec_body.get("string") if isinstance(rec_body, dict) else rec_body)
        actual = _body(answer.text)
        found: list[Mismatch] = []
        if answer.status_code != rs["status"]["code"]:
            found.append(
                Mismatch(
                    path.name, index, label, "$", "status", rs["status"]["code"], answer.status_code
                )
            )
        ids.learn(recorded, actual)
        recorded = ids.json(recorded)
        if not found:
            for where, kind, a, b in compare(recorded, actual):
                found.append(Mismatch(path.name, index, label, where, kind, a, b))
        if found:
            result.mismatches.extend(found)
        else:
            result.passed += 1
    return result


def cassettes_in(target: Path) -> list[Path]:
    """The cassette files of a directory (or the file itself)."""
    if target.is_file():
        return [target]
    return sorted(p for p in target.glob("*.json"))


def replay(cassette_dir: Path, emulator: Any = None) -> list[Mismatch]:
    """Replay every cassette of ``cassette_dir``; returns all mismatches.

    Args:
        cassette_dir: Directory of vcrpy JSON cassettes (or one cassette file).
        emulator: A started emulator to use for all cassettes; by default a fresh
            ``Emulator`` is started for each cassette.
    """
    return [m for r in replay_results(cassette_dir, emulator) for m in r.mismatches]


def replay_results(cassette_dir: Path, emulator: Any = None) -> list[CassetteResult]:
    """Like :func:`replay`, with per-cassette counts."""
    from sheets_emulator import Emulator

    results = []
    for path in cassettes_in(Path(cassette_dir)):
        if emulator is not None:
            results.append(replay_cassette(path, emulator))
            continue
        with Emulator(seed=0, owner_email=RECORDED_ACCOUNT) as fresh:
            results.append(replay_cassette(path, fresh))
    return results


def main(argv: list[str]) -> int:
    """Print a summary of replaying the given directories/files."""
    if not argv:
        print(__doc__)
        return 2
    total = passed = 0
    clean = 0
    results: list[CassetteResult] = []
    for arg in argv:
        results.extend(replay_results(Path(arg)))
    for r in results:
        total += r.interactions
        passed += r.passed
        clean += not r.mismatches
        status = "ok " if not r.mismatches else "FAIL"
        print(f"{status} {r.name}: {r.passed}/{r.interactions} interactions match")
        for m in r.mismatches[:5]:
            print(f"      {m}")
        if len(r.mismatches) > 5:
            print(f"      ... {len(r.mismatches) - 5} more")
    print(f"\n{clean}/{len(results)} cassettes clean, {passed}/{total} interactions match")
    return 0 if clean == len(results) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main(sys.argv[1:]))

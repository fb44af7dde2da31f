"""Fault injection and request hooks.

Examples::

    emulator.faults.add("sheets.values.batchGet", status=429, retry_after=2, times=1)
    emulator.faults.add("sheets.*", status=503)                 # every Sheets call, once
    emulator.faults.add("sheets.values.batchUpdate", delay=0.5)  # client times out
    emulator.faults.add("sheets.values.batchUpdate", status=500, when="after")  # lost reply
    emulator.faults.add_hook(lambda kind, req: ..., kind="sheets.values.batchUpdate")

``when="before"`` (default) answers the fault without touching state; ``when="after"``
applies the request, then answers the fault (the client never learns it succeeded).
``delay`` sleeps before answering (before processing for ``when="before"``), which a client
with a shorter timeout sees as a timeout.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sheets_emulator.api import ApiRequest

Hook = Callable[[str, ApiRequest], Any]


def kind_matches(kind: str, pattern: str) -> bool:
    """``pattern`` (fnmatch) matches ``kind``; the ``sheets.``/``drive.`` prefix is optional.

    ``"values.batchGet"`` and ``"sheets.values.batchGet"`` both match
    ``sheets.values.batchGet``; ``"sheets.*"`` matches every Sheets request.
    """
    return any(
        fnmatch.fnmatchcase(kind, p) for p in (pattern, f"sheets.{pattern}", f"drive.{pattern}")
    )


@dataclass
class Fault:
    """One injected fault; ``times=None`` repeats forever."""

    kind: str = "*"
    status: int | None = None
    retry_after: float | None = None
    times: int | None = 1
    delay: float = 0.0
    when: str = "before"
    match: Callable[[ApiRequest], bool] | None = None
    message: str | None = None
    hits: int = 0

    def applies(self, req: ApiRequest) -> bool:
        """True when this fault fires for ``req`` (and has uses left)."""
        if self.times is not None and self.hits >= self.times:
            return False
        if not kind_matches(req.kind, self.kind):
            return False
        return self.match is None or bool(self.match(req))


@dataclass
class HookEntry:
    """A registered before-request hook."""

    fn: Hook
    kind: str = "*"
    times: int | None = None
    calls: int = 0


class FaultInjector:
    """Holds faults and hooks; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.faults: list[Fault] = []
        self.hooks: list[HookEntry] = []

    def add(
        self,
        kind: str = "*",
        status: int | None = None,
        *,
        retry_after: float | None = None,
        times: int | None = 1,
        delay: float = 0.0,
        when: str = "before",
        match: Callable[[ApiRequest], bool] | None = None,
        message: str | None = None,
    ) -> Fault:
        """Inject a fault for requests whose kind matches ``kind`` (fnmatch pattern).

        Args:
            kind: Request kind or pattern, e.g. ``"sheets.values.batchGet"``, ``"drive.*"``.
            status: HTTP status to answer (429, 500, 503...), or ``None`` for delay only.
            retry_after: Seconds for a ``Retry-After`` header.
            times: How many requests it hits (``None``: all).
            delay: Seconds to wait before answering (simulates a slow server / timeout).
            when: ``"before"`` (state untouched) or ``"after"`` (request applied first).
            match: Extra predicate on the request (e.g. a given spreadsheet id).
            message: Error message (Google's wording by default).
        """
        if when not in ("before", "after"):
            raise ValueError("when must be 'before' or 'after'")
        fault = Fault(kind, status, retry_after, times, delay, when, match, message)
        with self._lock:
            self.faults.append(fault)
        return fault

    def timeout(
        self, kind: str = "*", *, delay: float = 1.0, times: int | None = 1, when: str = "before"
    ) -> Fault:
        """A fault that only delays the answer (the client's timeout should fire)."""
        return self.add(kind, None, delay=delay, times=times, when=when)

    def add_hook(self, fn: Hook, *, kind: str = "*", times: int | None = None) -> HookEntry:
        """Call ``fn(kind, request)`` before matching requests are processed."""
        entry = HookEntry(fn, kind, times)
        with self._lock:
            self.hooks.append(entry)
        return entry

    def remove(self, item: Fault | HookEntry) -> None:
        """Remove a fault or hook."""
        with self._lock:
            if isinstance(item, Fault) and item in self.faults:
                self.faults.remove(item)
            elif isinstance(item, HookEntry) and item in self.hooks:
                self.hooks.remove(item)

    def clear(self) -> None:
        """Remove every fault and hook."""
        with self._lock:
            self.faults.clear()
            self.hooks.clear()

    def take(self, req: ApiRequest) -> Fault | None:
        """The first fault that fires for ``req``, consuming one use."""
        with self._lock:
            for fault in self.faults:
                if fault.applies(req):
                    fault.hits += 1
                    return fault
        return None

    def hooks_for(self, req: ApiRequest) -> list[HookEntry]:
        """Hooks to run for ``req`` (consuming one use each)."""
        out = []
        with self._lock:
            for entry in self.hooks:
                if entry.times is not None and entry.calls >= entry.times:
                    continue
                if kind_matches(req.kind, entry.kind):
                    entry.calls += 1
                    out.append(entry)
        return out

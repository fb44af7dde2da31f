"""The garbage collector, tuned for the length of a cycle or an import.

A cold cycle makes millions of small objects (rows, cells, decisions) that stay alive
until it ends. CPython's collector looks for reference cycles every 700 allocations and
walks more of the live objects the more there are: on 20 agents x 2,000 rows it spent
5.5 s of a 21 s cycle (bench/cycle.py; almost nothing the cycle makes holds a reference
cycle, so refcounting frees it anyway). While a cycle or an import runs, collections come a
hundred times less often; the previous thresholds are restored after it (after the last
of them, when cycles overlap in threads of one process: the thresholds are the process's).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLDS = (70_000, 20, 100)
"""(allocations between young collections, young collections per middle one, middle
collections per full one), instead of CPython's (700, 10, 10)."""


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage less often inside the block, or the decorated function (see the
    module's docstring)."""
    with _blocks.lock:
        if _blocks.running == 0:
            _blocks.previous = gc.get_threshold()
            gc.set_threshold(*THRESHOLDS)
        _blocks.running += 1
    try:
        yield
    finally:
        with _blocks.lock:
            _blocks.running -= 1
            if _blocks.running == 0:
                gc.set_threshold(*_blocks.previous)


class _Blocks:
    """The blocks running now, in any thread, and the thresholds before the first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.previous: tuple[int, ...] = gc.get_threshold()


_blocks = _Blocks()

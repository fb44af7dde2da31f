"""The garbage collector, tuned for the length of a cycle or an import.

A cold cycle makes millions of small objects (rows, cells, decisions) that stay alive
until it ends. CPython's collector looks for reference cycles every 700 allocations and
walks more of the live objects the more there are: on 20 agents x 2,000 rows it spent
5.5 s of a 21 s cycle (bench/cycle.py; almost nothing the cycle makes holds a reference
cycle, so refcounting frees it anyway). While a cycle or an import runs, collections come a
hundred times less often; the previous thresholds are restored after it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLDS = (70_000, 20, 100)
"""(allocations between young collections, young collections per middle one, middle
collections per full one), instead of CPython's (700, 10, 10)."""


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage less often inside the block, or the decorated function (see the
    module's docstring)."""
    previous = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*previous)

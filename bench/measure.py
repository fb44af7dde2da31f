"""How the benchmarks measure one step: wall and CPU time, peak memory, SQL statements
(figures, never asserts)."""

from __future__ import annotations

import gc
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def reset_hwm() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0), so each step gets its own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def hwm_mb(pid: int | str = "self") -> float | None:
    """The peak resident memory of a process since its last reset, in MiB (Linux)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def maxrss_mb() -> float:
    """This process's peak resident memory over its whole life, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def measure(fn: Callable[[], Any], trace: bool) -> tuple[Any, dict[str, Any]]:
    """Run fn once: wall time, CPU time of this process (less sensitive to a busy machine),
    tracemalloc peak (when ``trace``), the step's peak RSS and the process's ru_maxrss."""
    gc.collect()
    reset = reset_hwm()
    if trace:
        tracemalloc.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        result = fn()
    finally:
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
    hwm = hwm_mb() if reset else None
    return result, {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "py_peak_mb": round(peak / 2**20, 1) if peak is not None else None,
        "rss_peak_mb": round(hwm, 1) if hwm is not None else None,
        "maxrss_mb": round(maxrss_mb(), 1),
    }


class SqlStatements:
    """Counts the SQL statements an engine sends from the moment this counter is made.

    An executemany is one statement with many parameter sets (``parameter_sets`` counts
    them). A PostgreSQL ``COPY``, which the cycle sends on the driver's own connection, is
    not seen here (``sync.db.insert_rows`` uses it from ``COPY_FROM`` rows on).
    """

    def __init__(self, engine: Engine) -> None:
        self.statements = 0
        self.parameter_sets = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(
        self, _conn: Any, _cursor: Any, _sql: str, params: Any, _ctx: Any, many: bool
    ) -> None:
        self.statements += 1
        self.parameter_sets += len(params) if many else 1

    def mark(self) -> tuple[int, int]:
        """The counts now, to take :meth:`since` from."""
        return self.statements, self.parameter_sets

    def since(self, mark: tuple[int, int]) -> dict[str, int]:
        """Statements and parameter sets sent since ``mark``."""
        return {
            "sql_statements": self.statements - mark[0],
            "sql_parameter_sets": self.parameter_sets - mark[1],
        }

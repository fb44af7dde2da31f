"""How the benchmarks measure one step: wall and CPU time, peak memory (figures, never asserts)."""

from __future__ import annotations

import gc
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any


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

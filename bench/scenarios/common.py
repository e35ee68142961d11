"""Constants and helpers shared by the scenario apps of every framework (no framework imports).

The values come from the environment so that ``bench/run.py`` can tune them for ``--quick``:
``BENCH_CPU_N`` (loop count of the ~2 ms CPU-bound handler), ``BENCH_SLEEP_S`` (how long ``/s``
sleeps in the blocking scenario).
"""

from __future__ import annotations

import os

N_ROUTES = 50
FORM_FIELD = "name"
CPU_N = int(os.environ.get("BENCH_CPU_N", "60000"))
SLEEP_S = float(os.environ.get("BENCH_SLEEP_S", "0.5"))
BODIES = {"64k": b"x" * (64 * 1024), "16m": b"x" * (16 * 1024 * 1024)}


def burn(n: int = CPU_N) -> int:
    """Pure-Python CPU work (about 2 ms for the calibrated ``BENCH_CPU_N``); returns a checksum."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total

"""Micro-benchmark of the coroutine primitives: squall.queues/locks beside Tornado's.

    python bench/primitives.py [--tornado-python PATH] [--rounds 3] [--scale 1.0]

Each scenario runs in a fresh interpreter per library, on the standard asyncio loop for both
(the loop is not what is measured), interleaved over the rounds; the table gives the median
CPU time of the process (``time.process_time``: idle waits such as timeouts do not count, and
other load on a shared machine disturbs it less than wall time) and squall's speed relative
to Tornado. Tornado's interpreter defaults to the Tornado
suite's venv (``/tmp/tornado-suite-venv``, made by ``../shared/tornado-suite/run.py``).

Scenarios: ``queue`` (one producer, four consumers, a bounded Queue, put/get/task_done/join),
``lock`` (eight tasks contending for a Lock, yielding while they hold it), ``condition``
(two tasks ping-ponging through a Condition), ``timeouts`` (getters that time out on an empty
Queue: the cost of waiters that give up).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

SCENARIOS = ("queue", "lock", "condition", "timeouts")


async def queue_scenario(lib: Any, n: int) -> None:
    q = lib.queues.Queue(maxsize=100)

    async def consumer() -> None:
        while True:
            await q.get()
            q.task_done()

    workers = [asyncio.ensure_future(consumer()) for _ in range(4)]
    for i in range(n):
        await q.put(i)
    await q.join()
    for w in workers:
        w.cancel()
    await asyncio.gather(*workers, return_exceptions=True)


async def lock_scenario(lib: Any, n: int) -> None:
    lock = lib.locks.Lock()

    async def worker() -> None:
        for _ in range(n // 8):
            async with lock:
                await asyncio.sleep(0)

    await asyncio.gather(*(worker() for _ in range(8)))


async def condition_scenario(lib: Any, n: int) -> None:
    ping, pong = lib.locks.Condition(), lib.locks.Condition()

    async def ponger() -> None:
        for _ in range(n):
            await ping.wait()
            pong.notify()

    task = asyncio.ensure_future(ponger())
    await asyncio.sleep(0)
    for _ in range(n):
        waiting = pong.wait()
        ping.notify()
        await waiting
    await task


async def timeouts_scenario(lib: Any, n: int) -> None:
    q = lib.queues.Queue()
    short = datetime.timedelta(milliseconds=1)
    for _ in range(n // 1000):
        getters = [q.get(short) for _ in range(1000)]
        await asyncio.gather(*getters, return_exceptions=True)
    q.put_nowait(1)
    assert await q.get() == 1


SIZES = {"queue": 200_000, "lock": 80_000, "condition": 50_000, "timeouts": 50_000}


def child(lib_name: str, scenario: str, scale: float) -> None:
    lib = type("Lib", (), {})()
    lib.queues = importlib.import_module(f"{lib_name}.queues")
    lib.locks = importlib.import_module(f"{lib_name}.locks")
    body = globals()[f"{scenario}_scenario"]
    n = int(SIZES[scenario] * scale)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # Tornado's primitives find their loop through asyncio
    try:
        start = time.process_time()
        loop.run_until_complete(body(lib, n))
        elapsed = time.process_time() - start
    finally:
        loop.close()
    print(json.dumps({"seconds": elapsed, "n": n}))


def run_child(python: str, lib: str, scenario: str, scale: float) -> float:
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run(
        [python, __file__, "--child", lib, scenario, str(scale)],
        capture_output=True,
        text=True,
        check=True,
        env=env if lib == "squall" else None,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tornado-python", default="/tmp/tornado-suite-venv/bin/python")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    times: dict[tuple[str, str], list[float]] = {}
    scenarios = args.scenarios.split(",")
    for _ in range(args.rounds):
        for scenario in scenarios:
            for lib, python in (("squall", sys.executable), ("tornado", args.tornado_python)):
                seconds = run_child(python, lib, scenario, args.scale)
                times.setdefault((lib, scenario), []).append(seconds)
    print("| scenario | n | squall (CPU s) | Tornado 6.6.1 (CPU s) | squall vs Tornado |")
    print("|---|---:|---:|---:|---:|")
    for scenario in scenarios:
        ours = statistics.median(times[("squall", scenario)])
        theirs = statistics.median(times[("tornado", scenario)])
        n = int(SIZES[scenario] * args.scale)
        print(f"| {scenario} | {n:,} | {ours:.3f} | {theirs:.3f} | {theirs / ours:.2f}x |")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        main()

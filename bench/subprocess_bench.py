"""Child processes from the event loop: squall's ``process.Subprocess`` vs Tornado 6.6.1's.

    .venv/bin/python bench/subprocess_bench.py                  # 3 interleaved rounds
    .venv/bin/python bench/subprocess_bench.py --rounds 1 --children 100 --mib 8

Two workloads, each run by every peer in a fresh interpreter of its own (pinned to CPU 0 when
the machine has two CPUs or more):

- **spawn**: ``--children`` runs of ``/bin/true``, at most 50 at a time, each awaited with
  ``wait_for_exit()``. Reported: children per second and the parent's CPU time per child (user
  + system, ``getrusage``), which is what exit watching (a pidfd per child for squall on Linux,
  a SIGCHLD handler for Tornado) and Popen cost the program.
- **pipe**: ``--mib`` MiB written to ``cat`` through a ``STREAM`` stdin in 64 KiB writes and
  read back from its ``STREAM`` stdout at the same time. Reported: MiB/s and the parent's CPU
  time per MiB.

Peers: ``squall`` (uvloop), ``squall-asyncio`` (``SQUALL_LOOP=asyncio``) with this interpreter,
``tornado`` (on asyncio's loop) with ``PEER_PYTHON`` (default: the first of
``bench/.venv-peers``, ``/tmp/peers-venv``, ``/tmp/tornado-suite-venv`` that exists). Each cell
is the median over rounds; the starting peer rotates between rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHUNK = 64 * 1024


def peer_python() -> str:
    """The interpreter with Tornado for the Tornado peer."""
    if os.environ.get("PEER_PYTHON"):
        return os.environ["PEER_PYTHON"]
    for candidate in (
        HERE / ".venv-peers" / "bin" / "python",
        Path("/tmp/peers-venv/bin/python"),
        Path("/tmp/tornado-suite-venv/bin/python"),
    ):
        if candidate.exists():
            return str(candidate)
    raise SystemExit("no interpreter with Tornado: set PEER_PYTHON (pip install tornado==6.6.1)")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the workloads (run inside a peer's interpreter) ----------------------------------------------


async def spawn(subprocess_class: Any, children: int) -> dict[str, float]:
    limit = asyncio.Semaphore(50)

    async def one() -> None:
        async with limit:
            status = await subprocess_class(["/bin/true"]).wait_for_exit()
            if status != 0:
                raise RuntimeError(f"/bin/true exited {status}")

    started, cpu = time.perf_counter(), cpu_seconds()
    await asyncio.gather(*(one() for _ in range(children)))
    wall, used = time.perf_counter() - started, cpu_seconds() - cpu
    return {"per_second": children / wall, "cpu_us_per_child": used / children * 1e6}


async def pipe(subprocess_class: Any, mib: int) -> dict[str, float]:
    stream = subprocess_class.STREAM
    proc = subprocess_class(["cat"], stdin=stream, stdout=stream)
    total = mib * 1024 * 1024
    chunk = b"x" * CHUNK

    async def write() -> None:
        for _ in range(total // CHUNK):
            await proc.stdin.write(chunk)
        proc.stdin.close()

    started, cpu = time.perf_counter(), cpu_seconds()
    writer = asyncio.ensure_future(write())
    received = len(await proc.stdout.read_until_close())
    await writer
    await proc.wait_for_exit()
    wall, used = time.perf_counter() - started, cpu_seconds() - cpu
    proc.stdout.close()
    if received != total:
        raise RuntimeError(f"read {received} bytes of {total}")
    return {"mib_per_second": mib / wall, "cpu_us_per_mib": used / mib * 1e6}


def run_peer(framework: str, workload: str, amount: int) -> None:
    if framework == "tornado":
        from tornado.ioloop import IOLoop
        from tornado.process import Subprocess
    else:
        from squall.ioloop import IOLoop  # type: ignore[assignment]
        from squall.process import Subprocess  # type: ignore[assignment]
    body = spawn if workload == "spawn" else pipe

    async def main() -> dict[str, float]:
        await body(Subprocess, max(1, amount // 10))  # warm-up: imports, first-use caches
        return await body(Subprocess, amount)

    print(json.dumps(IOLoop.current().run_sync(main)))


# -- the driver ---------------------------------------------------------------------------------


def peers() -> dict[str, tuple[str, dict[str, str]]]:
    """name -> (interpreter, extra environment)."""
    return {
        "squall": (sys.executable, {"SQUALL_LOOP": "uvloop"}),
        "squall-asyncio": (sys.executable, {"SQUALL_LOOP": "asyncio"}),
        "tornado": (peer_python(), {}),
    }


def measure(name: str, workload: str, amount: int) -> dict[str, float]:
    python, extra = peers()[name]
    framework = "tornado" if name == "tornado" else "squall"
    cmd = [python, str(Path(__file__).resolve()), "--peer", framework, workload, str(amount)]
    if (os.cpu_count() or 1) >= 2 and sys.platform == "linux":
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(
        cmd, env=dict(os.environ, **extra), capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    if sys.argv[1:2] == ["--peer"]:
        run_peer(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--children", type=int, default=400)
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--only", default="", help="comma-separated peers")
    args = parser.parse_args()
    names = [n for n in peers() if not args.only or n in args.only.split(",")]
    cells: dict[tuple[str, str], list[dict[str, float]]] = {}
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for workload, amount in (("spawn", args.children), ("pipe", args.mib)):
            for name in order:
                result = measure(name, workload, amount)
                cells.setdefault((name, workload), []).append(result)
                print(f"round {round_ + 1} {workload:5} {name:15} {result}", file=sys.stderr)
    print(
        f"\n{args.rounds} rounds, medians; spawn: {args.children} x /bin/true; pipe: {args.mib} MiB"
    )
    print("| peer | children/s | CPU µs/child | pipe MiB/s | CPU µs/MiB |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        spawned, piped = cells[(name, "spawn")], cells[(name, "pipe")]

        def med(rows: list[dict[str, float]], key: str) -> float:
            return statistics.median(row[key] for row in rows)

        print(
            f"| {name} | {med(spawned, 'per_second'):,.0f} | "
            f"{med(spawned, 'cpu_us_per_child'):,.0f} | {med(piped, 'mib_per_second'):,.0f} | "
            f"{med(piped, 'cpu_us_per_mib'):,.0f} |"
        )


if __name__ == "__main__":
    main()

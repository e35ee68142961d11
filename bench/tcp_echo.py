"""Line-echo throughput: squall's TCPServer + IOStream vs Tornado's vs a plain asyncio server.

    .venv/bin/python bench/tcp_echo.py                      # every peer, 64 B and 4 KiB lines
    .venv/bin/python bench/tcp_echo.py --only squall,tornado --seconds 2 --rounds 1

Each peer (``bench/tcp_peers/*_echo.py``) runs in its own process, pinned to CPU 0; this
process is the load generator, pinned to CPU 1 (when the machine has two CPUs or more).
``--clients`` connections each send one line, wait for its echo, and send the next; the
result is echoed lines per second over ``--seconds`` after ``--warmup``, and the server's CPU
time per line (user + system, from /proc), which varies less than the rate on a shared machine.
Rounds are interleaved (the starting peer rotates) and each cell is the median over rounds.

Peers: ``squall`` (uvloop) and ``squall-asyncio`` (``SQUALL_LOOP=asyncio``) run with this
interpreter; ``tornado`` (Tornado 6.6.1 on its default asyncio loop) with ``PEER_PYTHON``
(default: the first of ``bench/.venv-peers``, ``/tmp/peers-venv``, ``/tmp/tornado-suite-venv``
that exists); ``asyncio`` (``asyncio.start_server`` streams on uvloop) and ``asyncio-asyncio``
(the same on asyncio's own loop) with this interpreter. The client is a bare asyncio Protocol on
uvloop, far cheaper per line than any server. Every server sets TCP_NODELAY (asyncio's
transports do it by default; the TCPServer peers call ``stream.set_nodelay(True)``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import cast

HERE = Path(__file__).resolve().parent
PEERS = HERE / "tcp_peers"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


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


def peer_commands(port: int) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (command line, extra environment) of each echo server."""
    me, p = sys.executable, str(port)
    return {
        "squall": ([me, str(PEERS / "squall_echo.py"), "--port", p], {"SQUALL_LOOP": "uvloop"}),
        "squall-asyncio": (
            [me, str(PEERS / "squall_echo.py"), "--port", p],
            {"SQUALL_LOOP": "asyncio"},
        ),
        "tornado": ([peer_python(), str(PEERS / "tornado_echo.py"), "--port", p], {}),
        "asyncio": ([me, str(PEERS / "asyncio_echo.py"), "--port", p, "--loop", "uvloop"], {}),
        "asyncio-asyncio": (
            [me, str(PEERS / "asyncio_echo.py"), "--port", p, "--loop", "asyncio"],
            {},
        ),
    }


class EchoClient(asyncio.Protocol):
    """One connection: send a line each time the previous one has come back."""

    count = 0  # lines echoed, all clients together
    running = True

    def __init__(self, line: bytes) -> None:
        self.line = line
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.line)

    def data_received(self, data: bytes) -> None:
        lines = data.count(b"\n")
        EchoClient.count += lines
        if lines and EchoClient.running and self.transport is not None:
            self.transport.write(self.line * lines)


async def load(port: int, clients: int, size: int, warmup: float, seconds: float, pid: int):
    """(lines per second, server CPU microseconds per line) for ``clients`` connections."""
    loop = asyncio.get_running_loop()
    line = b"x" * (size - 1) + b"\n"
    EchoClient.count = 0
    EchoClient.running = True
    transports = []
    for _ in range(clients):
        transport, _ = await loop.create_connection(partial(EchoClient, line), "127.0.0.1", port)
        transports.append(transport)
    await asyncio.sleep(warmup)
    start_count, start, start_cpu = EchoClient.count, time.perf_counter(), cpu_seconds(pid)
    await asyncio.sleep(seconds)
    lines = EchoClient.count - start_count
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(pid) - start_cpu
    EchoClient.running = False
    for transport in transports:
        transport.close()
    await asyncio.sleep(0.2)
    return lines / elapsed, cpu / max(lines, 1) * 1e6


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Poll until the server accepts a TCP connection."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start within {timeout} s")


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pin(pid: int, cpu: int) -> None:
    """Pin ``pid`` to one CPU when there are two or more."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(pid, {cpu})


def run_peer(name: str, sizes: list[int], args: argparse.Namespace) -> list[tuple[float, float]]:
    """Start one peer, measure every size, stop it."""
    port = free_port()
    command, env = peer_commands(port)[name]
    proc = subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    try:
        pin(proc.pid, 0)
        wait_for_port(port, proc)
        import uvloop

        results = []
        for size in sizes:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                results.append(
                    runner.run(load(port, args.clients, size, args.warmup, args.seconds, proc.pid))
                )
        return results
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    """Run the peers round-robin and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="64,4096", help="line sizes in bytes")
    parser.add_argument("--only", default="squall,squall-asyncio,tornado,asyncio,asyncio-asyncio")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    names = args.only.split(",")
    pin(0, 1)
    runs: dict[str, list[list[tuple[float, float]]]] = {name: [] for name in names}
    for round_no in range(args.rounds):
        order = names[round_no % len(names) :] + names[: round_no % len(names)]
        for name in order:
            runs[name].append(run_peer(name, sizes, args))
        print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    print(
        f"{args.clients} clients, {args.seconds:g} s x {args.rounds} rounds (medians), "
        "echoed lines/s and server CPU µs/line"
    )
    header = "".join(f"{_size_name(s):>24}" for s in sizes)
    print(f"{'server':18}{header}")
    medians: dict[str, list[tuple[float, float]]] = {}
    for name in names:
        cells = []
        for i in range(len(sizes)):
            rate = statistics.median(run[i][0] for run in runs[name])
            cpu = statistics.median(run[i][1] for run in runs[name])
            cells.append((rate, cpu))
        medians[name] = cells
        print(f"{name:18}" + "".join(f"{r:>14,.0f} {c:>7.1f} µs" for r, c in cells))
    for base in ("tornado", "asyncio"):
        if "squall" in medians and base in medians:
            ratios = "".join(
                f"{s[0] / b[0]:>14.2f}x{b[1] / s[1]:>7.2f}x  "
                for s, b in zip(medians["squall"], medians[base], strict=True)
            )
            print(f"{'squall / ' + base:18}{ratios}  (rate, CPU per line)")


def _size_name(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 and size % 1024 == 0 else f"{size} B"


if __name__ == "__main__":
    main()

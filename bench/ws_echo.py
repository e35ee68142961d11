"""WebSocket echo throughput: squall vs Tornado vs the websockets library's own server.

    .venv/bin/python bench/ws_echo.py                 # all peers, 64 B and 64 KiB, 100 clients
    .venv/bin/python bench/ws_echo.py --only squall --seconds 2

Each peer (``bench/ws_peers/*_echo.py``) runs in its own process, pinned to CPU 0; this
process is the load generator, pinned to CPU 1 (when the machine has two CPUs or more).
``--clients`` connections each send one binary message, wait for its echo, and send the next;
the result is echoed messages per second over ``--seconds`` after ``--warmup``, and the
server's CPU time per message (user + system, from /proc), which varies far less than the rate
on a shared machine. The client is a bare asyncio Protocol on uvloop with pre-masked frames, so
that it costs far less per message than any server. Tornado and the websockets server run with
``PEER_PYTHON`` (default ``/tmp/peers-venv/bin/python``), squall with this interpreter;
compression and keepalive pings are off everywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import struct
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import cast

HERE = Path(__file__).resolve().parent
PEERS = HERE / "ws_peers"
PEER_PYTHON = os.environ.get("PEER_PYTHON", "/tmp/peers-venv/bin/python")
KEY = base64.b64encode(os.urandom(16)).decode()
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def peer_commands(port: int) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (command line, extra environment) of each echo server."""
    return {
        "squall": ([sys.executable, str(PEERS / "squall_echo.py"), "--port", str(port)], {}),
        "squall-asyncio": (
            [sys.executable, str(PEERS / "squall_echo.py"), "--port", str(port)],
            {"SQUALL_LOOP": "asyncio"},
        ),
        "tornado": ([PEER_PYTHON, str(PEERS / "tornado_echo.py"), "--port", str(port)], {}),
        "websockets": ([PEER_PYTHON, str(PEERS / "websockets_echo.py"), "--port", str(port)], {}),
    }


def client_frame(payload: bytes) -> bytes:
    """A masked binary frame (the mask is fixed: servers unmask whatever it is)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x82, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x82, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x82, 0x80 | 127, n)
    mask = b"\x37\xfa\x21\x3d"
    reps = mask * (n // 4 + 1)
    masked = bytes(a ^ b for a, b in zip(payload, reps, strict=False))
    return head + mask + masked


def server_frame_size(n: int) -> int:
    """Bytes of an unmasked server frame carrying ``n`` bytes."""
    return n + (2 if n < 126 else 4 if n < 65536 else 10)


class EchoClient(asyncio.Protocol):
    """One connection: upgrade, then send a message each time the previous echo is complete."""

    count = 0  # echoes received, all clients together
    running = True

    def __init__(self, port: int, frame: bytes, reply_size: int, ready: asyncio.Future[None]):
        self.port = port
        self.frame = frame
        self.reply_size = reply_size
        self.ready = ready
        self.head = b""
        self.upgraded = False
        self.pending = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        request = (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        self.transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.head.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(RuntimeError(self.head[:200].decode("latin-1")))
                return
            self.upgraded = True
            self.ready.set_result(None)
            data = self.head[end + 4 :]
            assert self.transport is not None
            self.transport.write(self.frame)
        self.pending += len(data)
        while self.pending >= self.reply_size:
            self.pending -= self.reply_size
            EchoClient.count += 1
            if EchoClient.running and self.transport is not None:
                self.transport.write(self.frame)


async def load(
    port: int, pid: int, clients: int, size: int, warmup: float, seconds: float
) -> tuple[float, float]:
    """(echoed messages per second, server CPU µs per message) for ``clients`` connections
    and ``size``-byte messages; ``pid`` is the server's process."""
    loop = asyncio.get_running_loop()
    frame = client_frame(os.urandom(size))
    reply = server_frame_size(size)
    EchoClient.count = 0
    EchoClient.running = True
    readies = []
    transports = []
    for _ in range(clients):
        ready: asyncio.Future[None] = loop.create_future()
        readies.append(ready)
        factory = partial(EchoClient, port, frame, reply, ready)
        transport, _ = await loop.create_connection(factory, "127.0.0.1", port)
        transports.append(transport)
    await asyncio.gather(*readies)
    await asyncio.sleep(warmup)
    start_count, start, start_cpu = EchoClient.count, time.perf_counter(), cpu_seconds(pid)
    await asyncio.sleep(seconds)
    echoed = EchoClient.count - start_count
    rate = echoed / (time.perf_counter() - start)
    cpu = (cpu_seconds(pid) - start_cpu) / max(echoed, 1) * 1e6
    EchoClient.running = False
    goodbye = b"\x88\x82" + b"\x00\x00\x00\x00" + struct.pack("!H", 1000)  # close 1000
    for transport in transports:
        transport.write(goodbye)
        transport.close()
    await asyncio.sleep(0.2)
    return rate, cpu


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
        loop_factory = None
        try:
            import uvloop

            loop_factory = uvloop.new_event_loop
        except ImportError:
            pass
        rates = []
        for size in sizes:
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                rates.append(
                    runner.run(load(port, proc.pid, args.clients, size, args.warmup, args.seconds))
                )
        return rates
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    """Run the peers and print a table of echoed messages per second."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--sizes", default="64,65536", help="message sizes in bytes")
    parser.add_argument("--only", default="squall,squall-asyncio,tornado,websockets")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    pin(0, 1)
    print(
        f"{args.clients} clients, {args.seconds:g} s per run, binary messages: "
        "echoed msg/s and server CPU µs per message"
    )
    print(f"{'server':16}" + "".join(f"{_size_name(s):>25}" for s in sizes))
    for name in args.only.split(","):
        cells = run_peer(name, sizes, args)
        row = "".join(f"{rate:>14,.0f}{cpu:>8.1f} µs" for rate, cpu in cells)
        print(f"{name:16}{row}", flush=True)


def _size_name(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 and size % 1024 == 0 else f"{size} B"


if __name__ == "__main__":
    main()

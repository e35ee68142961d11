"""The seed's modes 4 and 5, run unchanged: callback-async and coroutine-async servers.

Each script (``examples/seed/mode4_async_callback.py``, ``mode5_async_coroutine.py``) is run
as a subprocess exactly as written; only ``tornado`` became ``squall``. Three ``/s`` requests
wait 5 s each without blocking the single process, so ``/d`` is answered at once, and each
``/s`` is answered after its delay. Both modes run side by side (about 6 s in all).
"""

from __future__ import annotations

import concurrent.futures
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODES = ["mode4_async_callback.py", "mode5_async_coroutine.py"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(port: int, path: str) -> tuple[int, bytes, float]:
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read(), time.monotonic() - start
    finally:
        conn.close()


def requests_read_by_server(port: int) -> int:
    """Established connections to ``port`` whose bytes the server has read (Linux /proc)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            rx_queue = int(fields[4].split(":")[1], 16)
            if local_port == port and fields[3] == "01" and rx_queue == 0:
                count += 1
    return count


def wait_until_serving(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the seed script exited early"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("the seed script never started serving")


@pytest.fixture
def servers() -> dict[str, int]:
    procs: list[subprocess.Popen[bytes]] = []
    ports: dict[str, int] = {}
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        for mode in MODES:
            port = free_port()
            proc = subprocess.Popen(
                [sys.executable, mode, f"--port={port}"],
                cwd=ROOT / "examples" / "seed",
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            procs.append(proc)
            ports[mode] = port
        for proc, port in zip(procs, ports.values(), strict=True):
            wait_until_serving(port, proc)
        yield ports
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            assert proc.stderr is not None
            proc.stderr.close()


def test_async_seed_modes_answer_d_at_once_while_three_s_requests_wait(
    servers: dict[str, int],
) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        slow = {
            mode: [pool.submit(get, port, "/s") for _ in range(3)] for mode, port in servers.items()
        }
        # Wait (polling) until the server has read the three /s requests of each mode.
        deadline = time.monotonic() + 10
        while any(requests_read_by_server(port) < 3 for port in servers.values()):
            assert time.monotonic() < deadline, "the /s requests never reached the servers"
            time.sleep(0.01)
        for mode, port in servers.items():
            status, body, elapsed = get(port, "/d")
            assert (status, body) == (200, b"this is DirectHandler...")
            assert elapsed < 0.1, f"{mode}: /d took {elapsed:.3f} s while /s waited"
        for mode, futures in slow.items():
            for future in futures:
                status, body, elapsed = future.result(timeout=15)
                assert (status, body) == (200, b"this is SleepHandler..."), mode
                assert 4.5 < elapsed < 8, f"{mode}: /s answered after {elapsed:.2f} s"

"""The seed's mode 1, run as written: ``time.sleep(5)`` in a sync handler freezes the process.

``examples/seed/mode1_single.py`` has ``debug=True``, which turns the loop-block detector on with
a 0.1 s threshold. While ``/s`` sleeps, ``/d`` waits (the seed's point), and stderr shows the
detector's warning naming ``SleepHandler.get`` and the ``time.sleep(5)`` line. Costs ~5 s.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "seed" / "mode1_single.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    predicate: Callable[[], object],
    timeout: float,
    what: str,
    output: Callable[[], str] = lambda: "",
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}: {output()}")
        time.sleep(0.01)


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Output:
    """Collects a pipe's lines in a thread, so the test can poll them."""

    def __init__(self, pipe: object) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: object) -> None:
        for line in pipe:  # type: ignore[attr-defined]
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)

    def join(self) -> None:
        self._thread.join(timeout=10)


def test_mode1_d_waits_for_the_sleeping_s_and_the_detector_names_sleephandler_get() -> None:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, str(SEED), f"--port={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr = Output(proc.stderr)
    slow = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    fast = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        wait_for(lambda: answers(port) or proc.poll() is not None, 15, "the seed app to listen")
        assert proc.poll() is None, stderr.text()
        slow.request("GET", "/s")
        wait_for(
            lambda: "SleepHandler.get (GET /s)" in stderr.text(),
            3,
            "the detector warning",
            stderr.text,
        )

        started = time.monotonic()
        fast.request("GET", "/d")
        response = fast.getresponse()
        waited = time.monotonic() - started
        assert (response.status, response.read()) == (200, b"this is DirectHandler...")
        assert waited >= 4.0  # /d could only be answered once time.sleep(5) returned

        response = slow.getresponse()
        assert (response.status, response.read()) == (200, b"this is SleepHandler...")
        warning = stderr.text()
        assert "Event loop blocked for" in warning
        assert "time.sleep(5)" in warning
        assert str(SEED) in warning
    finally:
        slow.close()
        fast.close()
        proc.kill()
        proc.wait(10)
        stderr.join()
        assert proc.stderr is not None
        proc.stderr.close()
    assert not answers(port)

"""The README's quick start keeps working: its demo command serves the example application."""

from __future__ import annotations

import http.client
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _demo_command() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"pip install \. && (python examples/\S+\.py[^\n`]*)", text)
    assert match, "README.md no longer shows the demo command"
    return shlex.split(match.group(1))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_readme_demo_command_serves_the_example_app() -> None:
    command = _demo_command()
    port = _free_port()
    # Same program and option syntax as the README, on a free port.
    args = [re.sub(r"^--port=\d+$", f"--port={port}", a) for a in command[1:]]
    assert any(a.startswith("--port=") for a in args), command
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, (
                f"the demo exited: {proc.stdout.read() if proc.stdout else ''}"
            )
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/hello/readme")
                response = conn.getresponse()
                body = response.read()
                conn.close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the demo never answered"
                time.sleep(0.05)
        assert response.status == 200
        assert body == b"Hello, readme!\n"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

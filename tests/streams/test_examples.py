"""The stream examples, run as a user would: real processes, real sockets."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Poll until something accepts on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)  # polling for readiness
    raise AssertionError(f"nothing listens on {port}")


def test_tcp_echo_server_and_client() -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "tcp_echo" / "server.py"), f"--port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, server)
        client = subprocess.run(
            [
                sys.executable,
                str(EXAMPLES / "tcp_echo" / "client.py"),
                f"--port={port}",
                "--message=hello, echo",
                "--count=3",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert client.returncode == 0, client.stderr
        assert client.stdout.splitlines() == ["hello, echo"] * 3
        # A line over the limit closes that connection, and the server keeps serving.
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"x" * (70 * 1024))
            conn.settimeout(10)
            assert conn.recv(10) == b""
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"still here\n")
            conn.settimeout(10)
            assert conn.recv(100) == b"still here\n"
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=10)
    assert b"Unsatisfiable read" in errors


def test_web_spider_crawls_its_local_site() -> None:
    pytest.importorskip("squall.queues", reason="squall.queues comes from another branch")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "web_spider" / "spider.py"), "--logging=none"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    fetched = sorted(line.split("/", 3)[3] for line in lines if line.startswith("fetched "))
    dead = [line.split("/", 3)[3] for line in lines if line.startswith("dead ")]
    assert fetched == ["", "about", "blog", "blog/1", "blog/2", "team"]
    assert dead == ["missing"]
    assert "6 pages, 1 dead" in lines[1]

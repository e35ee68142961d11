"""Inherited listeners: ``--fd N`` and systemd socket activation (``LISTEN_FDS``), with
``sd_notify``; over real server processes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process.apps.harness import ROOT, SquallProcess, get, squall_env, wait_until

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and Linux signals")

# Puts the inherited socket on descriptor 3 and names this process in LISTEN_PID, as systemd
# does, then becomes squall.
_ACTIVATE = """\
import os, sys
os.dup2(int(os.environ.pop("TEST_SOCKET_FD")), 3)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = "1"
os.execv(sys.executable, [sys.executable, "-m", "squall", "serve", *sys.argv[1:]])
"""


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


def start(argv: list[str], log: Path, fd: int, env: dict[str, str]) -> SquallProcess:
    process = SquallProcess(log, argv, squall_env(**env))
    with open(log, "wb") as out:
        process.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=process.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=(fd,),
            start_new_session=True,
        )
    return process


def stop(process: SquallProcess) -> None:
    if process.running():
        process.send(signal.SIGTERM)
        assert process.wait_exit(10) == 0, process.log()
    process.assert_clean()


def test_fd_serves_an_inherited_listening_socket(listener: socket.socket, tmp_path: Path) -> None:
    port = listener.getsockname()[1]
    fd = listener.fileno()
    argv = [sys.executable, "-m", "squall", "serve", "tests.process.apps.basic:app"]
    process = start([*argv, "--fd", str(fd), "--workers", "2"], tmp_path / "log", fd, {})
    try:
        process.wait_log(rf"Listening on http://127\.0\.0\.1:{port}")
        assert get(port, "/pid").status == 200
    finally:
        stop(process)


def test_systemd_socket_activation_and_sd_notify(listener: socket.socket, tmp_path: Path) -> None:
    port = listener.getsockname()[1]
    fd = listener.fileno()
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(0.05)
    messages: list[str] = []

    def heard(text: str) -> bool:
        try:
            while True:
                messages.append(notify.recv(4096).decode())
        except (TimeoutError, BlockingIOError):
            pass
        return any(text in message for message in messages)

    argv = [sys.executable, "-c", _ACTIVATE, "tests.process.apps.basic:app", "--workers", "1"]
    env = {"TEST_SOCKET_FD": str(fd), "NOTIFY_SOCKET": notify_path}
    process = start(argv, tmp_path / "log", fd, env)
    try:
        wait_until(lambda: heard("READY=1"), 10, "READY=1 on the notify socket")
        assert get(port, "/pid").status == 200
        assert f"Listening on http://127.0.0.1:{port}" in process.log()
        process.send(signal.SIGTERM)
        wait_until(lambda: heard("STOPPING=1"), 10, "STOPPING=1")
        assert process.wait_exit(10) == 0
    finally:
        notify.close()
        stop(process)


def test_a_descriptor_that_is_not_a_listening_socket_is_a_usage_error(tmp_path: Path) -> None:
    with open(tmp_path / "file", "w") as file:
        argv = [sys.executable, "-m", "squall", "serve", "tests.process.apps.basic:app"]
        result = subprocess.run(
            [*argv, "--fd", str(file.fileno())],
            cwd=ROOT,
            env=squall_env(),
            capture_output=True,
            text=True,
            pass_fds=(file.fileno(),),
            timeout=30,
        )
    assert result.returncode == 2
    assert "is not a socket" in result.stderr and len(result.stderr.splitlines()) == 1

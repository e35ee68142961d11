"""nginx in front of squall, with docs/deployment/nginx.conf as the configuration.

Two squall instances (one on TCP, one on a unix socket with mode 0660 and nginx's group) behind
Debian's nginx: round robin, no idempotent request lost when one instance is killed under load,
X-Forwarded-For honoured from nginx and not from a direct client, a WebSocket through, a large
upload streamed. Runs when ``nginx`` is installed (``.ci/run`` installs it); marked ``nginx``.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import unused_tcp_port
from tests.process.apps.harness import (
    ROOT,
    KeepAliveClient,
    SquallFactory,
    SquallProcess,
    _read_response,
    squall,
    wait_until,
)
from tests.process.test_serve_options import info, raw

__all__ = ["squall"]

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None
)
CONFIG = ROOT / "docs" / "deployment" / "nginx.conf"
APP = "tests.process.apps.proxied:app"

pytestmark = [
    pytest.mark.nginx,
    pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and Linux signals"),
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)"),
]


class Nginx:
    def __init__(self, prefix: Path, port: int, proc: subprocess.Popen[bytes]) -> None:
        self.prefix = prefix
        self.port = port
        self.proc = proc

    def log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory nginx's unprivileged workers can traverse (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="squall-nginx-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def nginx_identity() -> tuple[str, str] | None:
    """(user, group) nginx's workers run as when we are root; None otherwise."""
    if os.geteuid() != 0:
        return None
    for user in ("www-data", "nobody"):
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            continue
        return user, grp.getgrgid(entry.pw_gid).gr_name
    return None


def render_config(port: int, tcp: int, sock: Path, prefix: Path) -> str:
    """The documented configuration, on this test's addresses and paths."""
    text = CONFIG.read_text()
    assert "listen 80;" in text and "127.0.0.1:8000" in text and "/run/squall/squall.sock" in text
    text = text.replace("listen 80;", f"listen 127.0.0.1:{port};")
    text = text.replace("127.0.0.1:8000", f"127.0.0.1:{tcp}")
    text = text.replace("unix:/run/squall/squall.sock", f"unix:{sock}")
    text = text.replace("worker_processes auto;", "worker_processes 1;")
    identity = nginx_identity()
    head = f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
    if identity is not None:
        head += f"user {identity[0]} {identity[1]};\n"
    temp = "".join(
        f"    {name}_temp_path {prefix}/{name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = text.replace("http {\n", f"http {{\n    access_log off;\n{temp}", 1)
    return head + text


@pytest.fixture
def stack(
    squall: SquallFactory, workdir: Path
) -> Iterator[tuple[Nginx, SquallProcess, SquallProcess]]:
    markers = workdir / "markers"
    markers.mkdir()
    env = {"SQUALL_TEST_MARKERS": str(markers)}
    tcp = squall("--workers", "1", "--xheaders", app=APP, env=env)
    sock = workdir / "squall.sock"
    identity = nginx_identity()
    group = ["--unix-socket-group", identity[1]] if identity else []
    unix = squall("--workers", "1", "--xheaders", "--unix-socket", str(sock), *group, app=APP,
                  env=env, wait_listening=False)  # fmt: skip
    tcp.wait_ready(1)
    unix.wait_ready(1)
    port = unused_tcp_port()
    config = workdir / "nginx.conf"
    config.write_text(render_config(port, tcp.port, sock, workdir))
    assert NGINX is not None
    proc = subprocess.Popen(
        [NGINX, "-p", str(workdir), "-c", str(config), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    nginx = Nginx(workdir, port, proc)
    try:
        wait_until(lambda: _listening(port) or proc.poll() is not None, 10, "nginx")
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        yield nginx, tcp, unix
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def worker_pid(instance: SquallProcess) -> int:
    (pid,) = instance.workers()
    return pid


def test_round_robin_over_a_tcp_and_a_unix_socket_instance(
    stack: tuple[Nginx, SquallProcess, SquallProcess],
) -> None:
    nginx, tcp, unix = stack
    seen = [int(raw(nginx.port, _get("/pid")).text.split()[0]) for _ in range(10)]
    assert set(seen) == {worker_pid(tcp), worker_pid(unix)}
    assert abs(seen.count(worker_pid(tcp)) - seen.count(worker_pid(unix))) <= 2


def _get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: app.example\r\n{extra}Connection: close\r\n\r\n".encode()


def test_forwarded_for_from_nginx_is_honoured_and_from_a_direct_client_is_not(
    stack: tuple[Nginx, SquallProcess, SquallProcess],
) -> None:
    nginx, tcp, unix = stack
    spoof = "X-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n"
    for _ in range(4):  # both instances
        via = json.loads(raw(nginx.port, _get("/info", spoof), source="127.0.0.3").body)
        assert via["remote_ip"] == "127.0.0.3" and via["host"] == "app.example"
        assert re.fullmatch(r"[0-9a-f]{32}", via["request_id"])  # nginx's $request_id
    direct = info(tcp.port, {"X-Forwarded-For": "6.6.6.6"}, source="127.0.0.2")
    assert direct["remote_ip"] == "127.0.0.2"


def test_a_websocket_passes_through(stack: tuple[Nginx, SquallProcess, SquallProcess]) -> None:
    from websockets.sync.client import connect

    nginx, _, _ = stack
    for _ in range(2):
        with connect(f"ws://127.0.0.1:{nginx.port}/ws", open_timeout=5) as ws:
            ws.send("hello through nginx")
            assert ws.recv(timeout=5) == "hello through nginx"
            ws.send(b"\x00\x01binary")
            assert ws.recv(timeout=5) == b"\x00\x01binary"


def test_a_large_upload_streams_through(
    stack: tuple[Nginx, SquallProcess, SquallProcess], workdir: Path
) -> None:
    nginx, _, _ = stack
    size = 32 * 1024 * 1024
    half = b"u" * (size // 2)
    started = workdir / "markers" / "upload-started"
    with socket.create_connection(("127.0.0.1", nginx.port), timeout=10) as sock:
        head = f"PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n\r\n"
        sock.sendall(head.encode() + half)
        # squall sees the body while the client has sent only half of it: nginx streams.
        wait_until(started.exists, 10, "the first piece of the upload at squall")
        sock.sendall(half)
        response = _read_response(sock, bytearray())
    assert response.status == 200
    body = json.loads(response.body)
    assert body["received"] == size and body["pieces"] > 1


def test_killing_one_instance_under_load_loses_no_idempotent_request(
    stack: tuple[Nginx, SquallProcess, SquallProcess],
) -> None:
    nginx, tcp, unix = stack
    stop = threading.Event()
    killed = threading.Event()
    served_after_kill = [0]

    def hammer() -> KeepAliveClient:
        client = KeepAliveClient(nginx.port)
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            response = client.get("/sleep?s=0.02")
            if response is not None and killed.is_set():
                served_after_kill[0] += 1
        client.close()
        return client

    with ThreadPoolExecutor(8) as pool:
        clients = [pool.submit(hammer) for _ in range(8)]
        wait_until(lambda: len(re.findall(r"GET /sleep", tcp.log())) >= 20, 10, "load on A")
        tcp.kill_everything()  # SIGKILL to the master and its worker: no drain at all
        killed.set()
        wait_until(lambda: served_after_kill[0] >= 100, 15, "requests served after the kill")
        stop.set()
        results = [future.result(30) for future in clients]
    failures = [failure for client in results for failure in client.failures]
    assert failures == [], failures[:5]
    assert sum(len(client.responses) for client in results) > 100

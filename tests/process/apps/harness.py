"""Run ``python -m squall serve`` for real, talk to it over raw sockets, and check it left nothing.

``SquallProcess`` starts the command in a new session on 127.0.0.1 port 0, with its log in a
file; the bound port comes from the ``Listening on http://127.0.0.1:PORT`` line. The ``squall``
fixture makes them, and after each test makes sure the master is gone and then asserts
:meth:`SquallProcess.assert_clean`: no process left in the session (so no worker, no zombie),
and the port refuses connections and can be bound again.

The HTTP helpers speak HTTP/1.1 over plain sockets, so a refused connect
(``ConnectionRefusedError``), a reset (``ConnectionResetError``) and a clean close without a
response (``EOFError``) can be told apart. ``scrape`` reads the master's ``/metrics`` (started
with ``--metrics-bind 127.0.0.1:0``; :meth:`SquallProcess.metrics_port` finds the port) and
``parse_metrics`` checks and parses the Prometheus text.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
APP = "tests.process.apps.basic:app"
READY_LINE = re.compile(r"Worker (\d+) ready \(slot (\d+), generation (\d+)\)")
_LISTENING = re.compile(r"Listening on http://127\.0\.0\.1:(\d+)")
_METRICS = re.compile(r"Metrics on http://127\.0\.0\.1:(\d+)/metrics")
_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Small timeouts, so that every test stays short.
DEFAULT_ARGS = ("--graceful-timeout", "3", "--worker-timeout", "2", "--boot-timeout", "5")


# -- HTTP over raw sockets ---------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


def _read_response(sock: socket.socket, buffer: bytearray) -> Response:
    """Read one response with a Content-Length body; EOFError if the peer closed first."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed after {len(buffer)} bytes of a response")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed in the middle of a body")
        rest += chunk
    buffer[:] = rest[length:]
    return Response(status, headers, rest[:length])


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to 127.0.0.1:port (raises ConnectionRefusedError when refused)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def request_bytes(path: str, close: bool = True) -> bytes:
    extra = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n".encode()


def get(port: int, path: str, timeout: float = 5.0) -> Response:
    """One request on a fresh connection (``Connection: close``)."""
    with connect(port, timeout) as sock:
        sock.sendall(request_bytes(path))
        return _read_response(sock, bytearray())


class KeepAliveClient:
    """Requests over one persistent connection, reconnecting when the server closed it.

    Like any HTTP client, it retries a request once on a fresh connection when a *reused*
    connection closes before any byte of the response (RFC 9112 §9.3.1: a server may close an
    idle connection at any time). ``failures`` lists everything else that went wrong."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = bytearray()
        self.reused = False
        self.failures: list[str] = []
        self.responses: list[Response] = []

    def get(self, path: str) -> Response | None:
        for attempt in range(2):
            if self.sock is None:
                try:
                    self.sock = connect(self.port)
                except OSError as exc:
                    self.failures.append(f"connect: {exc!r}")
                    return None
                self.buffer.clear()
                self.reused = False
            try:
                self.sock.sendall(request_bytes(path, close=False))
                response = _read_response(self.sock, self.buffer)
            except (OSError, EOFError) as exc:
                stale = self.reused and not self.buffer
                self.close()
                if stale and attempt == 0:
                    continue
                self.failures.append(f"{path}: {exc!r}")
                return None
            self.reused = True
            if response.headers.get("connection", "").lower() == "close":
                self.close()
            if response.status != 200:
                self.failures.append(f"{path}: status {response.status}")
            self.responses.append(response)
            return response
        return None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


# -- metrics ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse_metrics(text: str) -> list[Sample]:
    """Parse Prometheus text; every sample must follow a ``# TYPE`` line of its family."""
    samples: list[Sample] = []
    families: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            families.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.fullmatch(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        name, labels, value = match.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in families or family in families, f"{name} has no # TYPE line"
        parsed = dict(_LABEL.findall(labels or ""))
        samples.append(Sample(name, parsed, float(value)))
    return samples


def scrape(port: int) -> list[Sample]:
    """GET /metrics from a master's metrics listener and parse it."""
    response = get(port, "/metrics")
    assert response.status == 200, response
    assert response.headers["content-type"] == METRICS_CONTENT_TYPE
    return parse_metrics(response.text)


def series(samples: list[Sample], name: str) -> list[Sample]:
    return [sample for sample in samples if sample.name == name]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The value of the one sample named ``name`` with exactly these labels."""
    (found,) = [s.value for s in series(samples, name) if s.labels == labels]
    return found


# -- processes ---------------------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, session) of a process, or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", encoding="latin-1") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[1]), int(fields[3])


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def session_members(sid: int) -> list[tuple[int, str]]:
    """Every process (zombies included) whose session is ``sid``, as (pid, state)."""
    found = []
    for pid in all_pids():
        info = proc_stat(pid)
        if info is not None and info[2] == sid:
            found.append((pid, info[0]))
    return found


def children_of(ppid: int) -> list[int]:
    """Live (non-zombie) children of ``ppid``."""
    found = []
    for pid in all_pids():
        info = proc_stat(pid)
        if info is not None and info[1] == ppid and info[0] != "Z":
            found.append(pid)
    return sorted(found)


def wait_until(
    condition: Callable[[], object], timeout: float, what: str, interval: float = 0.02
) -> object:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@dataclass
class SquallProcess:
    """One ``python -m squall serve`` run (see the module docstring)."""

    log_path: Path
    argv: list[str]
    env: dict[str, str]
    cwd: Path = ROOT
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    started_at: float = 0.0

    def start(self, wait_listening: bool = True) -> SquallProcess:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started_at = time.monotonic()
        if wait_listening:
            match = self.wait_log(_LISTENING, 10, "the Listening line")
            self.port = int(match.group(1))
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_log(self, pattern: str | re.Pattern[str], timeout: float = 10.0, what: str = "",
                 count: int = 1) -> re.Match[str]:  # fmt: skip
        """Wait until ``pattern`` matched ``count`` times in the log; return the last match."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern

        def found() -> re.Match[str] | None:
            matches = list(regex.finditer(self.log()))
            if len(matches) >= count:
                return matches[count - 1]
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"squall exited ({self.proc.returncode}) before logging {regex.pattern!r}:"
                    f"\n{self.log()}"
                )
            return None

        try:
            match = wait_until(found, timeout, what or regex.pattern)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- log ---\n{self.log()}") from None
        assert isinstance(match, re.Match)
        return match

    def metrics_port(self) -> int:
        """The port of the master's metrics listener (from its "Metrics on" log line)."""
        return int(self.wait_log(_METRICS, 5, "the Metrics line").group(1))

    def wait_ready(self, workers: int, timeout: float = 10.0) -> list[int]:
        """Wait for the master's "Ready" line; return the worker pids."""
        self.wait_log(rf"Ready: {workers} worker\(s\) serving", timeout)
        return self.workers()

    def workers(self) -> list[int]:
        return children_of(self.pid)

    def ready_events(self) -> list[tuple[int, int, int]]:
        """(pid, slot, generation) of every "Worker ... ready" line so far."""
        return [tuple(map(int, m.groups())) for m in READY_LINE.finditer(self.log())]  # type: ignore[misc]

    def send(self, sig: int) -> float:
        os.kill(self.pid, sig)
        return time.monotonic()

    def wait_exit(self, timeout: float = 10.0) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"squall did not exit within {timeout} s\n--- log ---\n{self.log()}"
            ) from None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill_everything(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def assert_clean(self, timeout: float = 3.0) -> None:
        """No process left in the session (workers, zombies) and the port is free again."""
        assert self.proc is not None and self.proc.poll() is not None, "the master still runs"
        try:
            wait_until(lambda: not session_members(self.pid), timeout, "an empty session")
        except AssertionError:
            left = session_members(self.pid)
            for pid, _ in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"processes left behind: {left}\n{self.log()}") from None
        if self.port:
            assert_port_free(self.port)


def assert_port_free(port: int) -> None:
    """Connecting is refused and the port can be bound again."""
    with pytest.raises(ConnectionRefusedError):
        connect(port, timeout=1.0).close()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def squall_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQUALL_") or k == "SQUALL_LOOP"}
    env.pop("NOTIFY_SOCKET", None)
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", SQUALL_TEST_RUN="1")
    env.update(extra)
    return env


SquallFactory = Callable[..., SquallProcess]


@pytest.fixture
def squall(tmp_path: Path) -> Iterator[SquallFactory]:
    """Start ``python -m squall serve APP`` with the small default timeouts plus ``args``.

    Keyword arguments: ``app``, ``env`` (added to a clean environment), ``defaults`` (False
    drops the default timeouts), ``wait_listening``, ``cwd``. After the test a master still
    running gets SIGTERM (then SIGKILL), and the run must have left nothing behind."""
    started: list[SquallProcess] = []

    def start(
        *args: str,
        app: str = APP,
        env: dict[str, str] | None = None,
        defaults: bool = True,
        wait_listening: bool = True,
        cwd: Path = ROOT,
    ) -> SquallProcess:
        argv = [sys.executable, "-m", "squall", "serve", app]
        if not {"--unix-socket", "--fd"} & set(args):
            argv += ["--host", "127.0.0.1", "--port", "0"]
        argv += [*(DEFAULT_ARGS if defaults else ()), *args]
        run = SquallProcess(
            tmp_path / f"squall-{len(started)}.log", argv, squall_env(**(env or {})), cwd
        )
        started.append(run)
        return run.start(wait_listening)

    yield start
    for run in started:
        if run.running():
            run.send(signal.SIGTERM)
            try:
                run.wait_exit(10)
            finally:
                if run.running():
                    run.kill_everything()
        run.assert_clean()

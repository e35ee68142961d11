"""Helpers for the multi-process tests: run a script, poll it, inspect its process tree.

Linux only (``/proc``). Every wait here has a deadline and polls; nothing sleeps a fixed time to
wait for readiness. ``subreaper()`` makes the test process adopt orphans, so a test can reap
children that outlive their parent (and see their exit status) instead of leaving zombies.
"""

from __future__ import annotations

import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = Path(__file__).resolve().parent
_PR_SET_CHILD_SUBREAPER = 36


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``predicate`` every 10 ms until it is true; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if a new socket can listen on ``host:port`` (SO_REUSEADDR: TIME_WAIT is no owner)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(1)
        except OSError:
            return False
        return True


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, str, float]:
    """GET ``path`` on a new connection: (status, body, seconds taken)."""
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read().decode()
        return response.status, body, time.monotonic() - start
    finally:
        conn.close()


def answers(port: int, path: str = "/d") -> bool:
    """True if ``path`` answers 200 now."""
    try:
        return get(port, path, timeout=1.0)[0] == 200
    except OSError:
        return False


class PendingRequest:
    """A GET sent now whose response is read in a thread (for requests that take long)."""

    def __init__(self, port: int, path: str, timeout: float = 30.0) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.connect()
        assert self.conn.sock is not None
        self.client_port: int = self.conn.sock.getsockname()[1]
        self.conn.request("GET", path)  # sent before this returns
        self.status = 0
        self.body = ""
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            response = self.conn.getresponse()
            self.body = response.read().decode()
            self.status = response.status
        except (OSError, http.client.HTTPException) as exc:
            self.error = exc
        finally:
            self.conn.close()

    def done(self) -> bool:
        """True once the response (or an error) arrived."""
        return not self.thread.is_alive()

    def wait(self, timeout: float) -> None:
        """Wait for the response; AssertionError after ``timeout`` s."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"no response within {timeout} s"


def request_was_read(server_port: int, client_port: int) -> bool:
    """True once the server side of the connection from ``client_port`` has read everything.

    Reads ``/proc/net/tcp{,6}``: the accepted socket's receive queue is empty once the server
    process has read the request, so its handler is running.
    """
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name, encoding="ascii") as file:
            next(file)
            for line in file:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if (local_port, remote_port) == (server_port, client_port):
                    return int(fields[4].split(":")[1], 16) == 0
    return False


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as file:
            text = file.read()
    except OSError:
        return None
    return text.rpartition(")")[2].split()  # after "pid (comm)": state, ppid, ...


def children_of(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (zombies included)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(int(entry))) and int(fields[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def exists(pid: int) -> bool:
    """True if ``pid`` exists at all (a zombie counts)."""
    return _stat_fields(pid) is not None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time ``pid`` has used so far."""
    fields = _stat_fields(pid)
    assert fields is not None, f"process {pid} is gone"
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _set_subreaper(on: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


@contextmanager
def subreaper() -> Iterator[None]:
    """Adopt orphaned descendants for the duration; fail if any is left at the end.

    Leftovers (orphans that never exited, or zombies nobody reaped) are killed and reaped, then
    reported with an AssertionError.
    """
    _set_subreaper(True)
    try:
        yield
        leftovers = children_of(os.getpid())
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        assert not leftovers, f"processes left behind (orphans or zombies): {leftovers}"
    finally:
        _set_subreaper(False)


def reap_orphan(pid: int, timeout: float) -> int:
    """Wait for adopted orphan ``pid`` to exit; return its wait status."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} still running after {timeout} s")
        time.sleep(0.01)


class Script:
    """A Python script run in its own session, output collected in a temporary file."""

    def __init__(self, path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self._out = tempfile.TemporaryFile()
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, str(path), *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.proc.pid

    def output(self) -> str:
        """Everything the script (and its children) printed so far."""
        self._out.seek(0)
        return self._out.read().decode(errors="replace")

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the script's process."""
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for the script to exit; return its exit code (AssertionError on timeout)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"script still running after {timeout} s; output:\n{self.output()}"
            ) from None

    def children(self, count: int, timeout: float = 10.0) -> list[int]:
        """Wait until the script has ``count`` live children; return their pids."""
        wait_for(
            lambda: len([p for p in children_of(self.pid) if alive(p)]) == count,
            timeout,
            f"{count} children; output:\n{self.output()}",
        )
        return [p for p in children_of(self.pid) if alive(p)]

    def close(self) -> None:
        """Kill whatever is left of the script's session and release the output file."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        self._out.close()


@contextmanager
def running(path: Path, *args: str) -> Iterator[Script]:
    """Run ``path`` with ``args`` for the duration of the block; kill it at the end if needed."""
    script = Script(path, *args)
    try:
        yield script
    finally:
        script.close()

"""The supervisor toolkit: what both supervisors of worker processes are built from.

Two strategies stand on it, the way uvicorn's supervisors share one base: ``fork.py``
(Tornado's ``fork_processes``: the application's own process forks and supervises) and
``master.py`` (``squall serve``: a master that never imports the application). Both

- sleep until a signal or a child's exit wakes them (:class:`SignalWakeup`: handlers that only
  queue the signal, and a self-pipe that ``signal.set_wakeup_fd`` writes to);
- collect exited children (:func:`reap`) and say how they ended (:func:`describe_exit`);
- restart a crashing child after a delay that grows while it keeps dying young
  (:class:`RestartBackoff`);
- signal children that may already be gone (:func:`send_signal`) and make a child follow its
  parent out (:func:`set_parent_death_signal`);
- tell systemd how they are doing (:func:`sd_notify`).

Standard library and ``squall.log`` only; no event loop (the supervising process never runs one).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections import deque
from collections.abc import Iterable
from typing import Any

from squall.log import gen_log

__all__ = [
    "LOST_STATUS",
    "RestartBackoff",
    "SignalWakeup",
    "describe_exit",
    "doubling",
    "flush_std_streams",
    "reap",
    "sd_notify",
    "send_signal",
    "set_parent_death_signal",
]

#: The wait status :func:`reap` reports for a child someone else reaped (``exited with status
#: 255``): a ``SIGCHLD`` set to ``SIG_IGN`` by user code, say. It counts as a crash.
LOST_STATUS = 255 << 8
_PR_SET_PDEATHSIG = 1  # prctl option, <linux/prctl.h>


# -- restarts ------------------------------------------------------------------------------------


def doubling(count: int, first: float, cap: float) -> float:
    """The ``count``-th delay of a doubling series: 0 for ``count <= 0``, then ``first``,
    ``2 * first``, ``4 * first`` ... never more than ``cap``."""
    if count <= 0:
        return 0.0
    return float(min(cap, first * 2 ** min(count - 1, 64)))  # a long streak must not overflow


class RestartBackoff:
    """How long to wait before restarting a slot whose process keeps dying young.

    Per slot (a task id, a worker slot) it counts a streak of *quick deaths*: deaths within
    ``quick`` seconds of the start. A death waits by the streak before it: the first ``free``
    quick deaths of a streak restart at once, the next ones wait ``first``, ``2 * first``,
    ``4 * first`` ... capped at ``cap``. A process that lived ``reset`` seconds or more restarts
    at once and ends its slot's streak; one that lived between ``quick`` and ``reset`` seconds
    waits like a quick death without lengthening the streak.

    ``fork_processes`` uses the defaults (every quick death waits; 2 s of life ends the streak);
    the managed master restarts the first crash at once and forgets the streak after 60 s."""

    def __init__(
        self,
        first: float = 0.5,
        cap: float = 30.0,
        quick: float = 2.0,
        reset: float | None = None,
        free: int = 0,
    ) -> None:
        self.first = first
        self.cap = cap
        self.quick = quick
        self.reset = quick if reset is None else max(reset, quick)
        self.free = free
        self._streaks: dict[int, int] = {}

    def delay(self, slot: int, lived: float) -> float:
        """Record a death of ``slot`` after ``lived`` seconds; return the delay before restart."""
        if lived >= self.reset:
            self._streaks.pop(slot, None)
            return 0.0
        streak = self._streaks.get(slot, 0)
        if lived < self.quick:
            self._streaks[slot] = streak + 1
        return doubling(streak + 1 - self.free, self.first, self.cap)

    def forget(self, slot: int) -> None:
        """End ``slot``'s streak (the slot is gone, or starts afresh)."""
        self._streaks.pop(slot, None)


# -- children ------------------------------------------------------------------------------------


def describe_exit(status: int) -> str:
    """How a child ended, from its wait status, in Tornado's words: "exited normally",
    "exited with status 3", "killed by signal 9" (with the signal's name: "(SIGKILL)")."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return f"killed by signal {number} ({signal.Signals(number).name})"
        except ValueError:  # a real-time signal has no name
            return f"killed by signal {number}"
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return f"exited with status {code}" if code else "exited normally"


def reap(pid: int = -1, *, block: bool = False) -> tuple[int, int] | None:
    """Collect an exited child: ``(pid, wait status)``, or None while it (or, with ``pid=-1``,
    every child) still runs. ``block`` waits for it.

    A ``pid`` that is no longer this process's child was reaped by someone else: it comes back
    with :data:`LOST_STATUS`, so its caller stops waiting for it. With ``pid=-1`` and no
    children left the answer is None."""
    try:
        found, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return None if pid == -1 else (pid, LOST_STATUS)
    return (found, status) if found else None


def send_signal(pid: int, signum: int) -> bool:
    """Send ``signum`` to ``pid``; False if the process is already gone (not an error here)."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True


def set_parent_death_signal(signum: int) -> bool:
    """Have the kernel send ``signum`` to this process when its parent dies (Linux only).

    Returns False where unsupported. Call it in the child right after the fork.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def flush_std_streams() -> None:
    """Flush ``sys.stdout`` and ``sys.stderr`` (before a fork, an exec or ``os._exit``, which
    would duplicate or drop what is still buffered); a closed stream is left alone."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


def sd_notify(message: str) -> None:
    """Tell systemd (or whoever set ``NOTIFY_SOCKET``) about our state; errors are ignored.

    ``message`` is newline-separated ``KEY=value`` pairs (``READY=1``, ``STOPPING=1`` ...)."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    address = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        gen_log.debug("sd_notify(%r) failed: %s", message, exc)


# -- signals -------------------------------------------------------------------------------------


class SignalWakeup:
    """Signal handlers that only queue the signal, and a self-pipe that ends the loop's wait.

    :meth:`install` points ``signal.set_wakeup_fd`` at a non-blocking pipe, so any signal makes
    :attr:`fileno` readable; register it with the poll or selector the loop sleeps in, and call
    :meth:`drain` when it fires. ``queued`` signals are appended to :attr:`pending` for the loop
    to handle (rule: nothing else happens in a handler); ``wake_only`` ones (SIGCHLD) just end
    the wait; ``ignored`` ones are set to ``SIG_IGN``. :meth:`restore` puts back the previous
    handlers and wakeup fd and closes the pipe: at exit, or in a child right after the fork.

    Call it on the main thread (Python's rule for signal handlers)."""

    def __init__(
        self,
        queued: Iterable[int],
        wake_only: Iterable[int] = (),
        ignored: Iterable[int] = (),
    ) -> None:
        self.queued = tuple(queued)
        self.wake_only = tuple(wake_only)
        self.ignored = tuple(ignored)
        self.pending: deque[int] = deque()
        self._pipe: tuple[int, int] | None = None
        self._saved: dict[int, Any] = {}
        self._old_wakeup = -1

    @property
    def handled(self) -> tuple[int, ...]:
        """The signals with a handler of ours (queued and wake-only)."""
        return self.queued + self.wake_only

    @property
    def fileno(self) -> int:
        """The read end of the self-pipe (-1 before :meth:`install`)."""
        return -1 if self._pipe is None else self._pipe[0]

    def install(self) -> None:
        """Create the pipe and install the handlers (the previous ones are kept)."""
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        self._pipe = (read_fd, write_fd)
        self._old_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        for signum in self.queued:
            self._save(signum, signal.signal(signum, self._queue))
        for signum in self.wake_only:
            self._save(signum, signal.signal(signum, _wake))
        for signum in self.ignored:
            self._save(signum, signal.signal(signum, signal.SIG_IGN))

    def _save(self, signum: int, previous: Any) -> None:
        # None: a handler not installed from Python, which we cannot put back; SIG_DFL is.
        self._saved[signum] = signal.SIG_DFL if previous is None else previous

    def restore(self, *, defaults: bool = False) -> None:
        """Put back the previous wakeup fd and handlers and close the pipe (idempotent).

        ``defaults``: our handled signals get ``SIG_DFL`` instead of their previous handler
        (a forked worker that installs its own); ignored ones always get their previous one."""
        if self._pipe is None:
            return
        signal.set_wakeup_fd(self._old_wakeup)
        for signum, previous in self._saved.items():
            reset = defaults and signum in self.handled
            signal.signal(signum, signal.SIG_DFL if reset else previous)
        self._saved.clear()
        for fd in self._pipe:
            os.close(fd)
        self._pipe = None

    def drain(self) -> None:
        """Empty the self-pipe (its bytes only woke the loop; :attr:`pending` has the signals)."""
        if self._pipe is None:
            return
        try:
            while os.read(self._pipe[0], 4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _queue(self, signum: int, frame: object) -> None:
        self.pending.append(signum)


def _wake(signum: int, frame: object) -> None:
    """A handler that does nothing: installed so that the signal reaches the wakeup fd."""

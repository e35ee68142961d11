"""Fork n workers and keep them alive: Tornado's ``fork_processes``, minus its traps.

Tornado's semantics, kept exactly: ``fork_processes(n)`` logs ``Starting n processes``, forks n
children and returns each child's task id (0..n-1) in that child, after reseeding ``random``. The
parent never returns: it restarts a child that died by a signal or with a non-zero status, with
the same task id, leaves a child that exited 0 alone, and calls ``sys.exit(0)`` once every child
exited 0. Past ``max_restarts`` restarts (one budget for all children; None means 100) it raises
``RuntimeError("Too many child restarts, giving up")``.

What squall adds:

- **No orphans.** Before giving up, the parent stops the surviving children. A child whose parent
  dies, even by SIGKILL, drains and exits: it watches a pipe only the parent writes to (EOF means
  the parent is gone) and, on Linux, has ``PR_SET_PDEATHSIG`` set to SIGTERM.
- **Signals.** SIGTERM or SIGINT to the parent: it forwards SIGTERM to the children, which drain
  (see ``worker_guard``), waits up to ``graceful_timeout`` (then SIGKILLs), and exits 0 when every
  child exited 0 by itself, else 1. A second signal SIGKILLs the children at once.
- **Backoff.** A child that dies within ``QUICK_DEATH`` (2 s) of its fork is crash-looping: its
  restart waits 0.5 s, then 1, 2, 4 ... up to 30 s for each further quick death of that task id.
  A child that lived 2 s or more is restarted at once, and its task id's delay starts over.
- **No busy parent.** The parent sleeps in ``poll()`` on a self-pipe fed by
  ``signal.set_wakeup_fd`` (SIGCHLD, SIGTERM, SIGINT wake it), at most 1 s at a time.
- **Reload** (``reload=True``): the parent watches the modules it has loaded
  (``filewatch``); a change that compiles drains the children and re-executes the program.

The backoff, the signal handling, reaping and the exit descriptions come from ``common``,
which the managed master (``master.py``) shares. Also used by other code: ``usable_cpu_count``,
``cgroup_cpu_limit``, ``task_id``, ``ensure_can_fork``, ``warn_if_threads``. Stdlib and
``squall.log`` only; no event loop in the parent.
"""

from __future__ import annotations

import math
import os
import random
import select
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import NoReturn

from squall._supervisor import worker_guard
from squall._supervisor.common import (
    RestartBackoff,
    SignalWakeup,
    describe_exit,
    flush_std_streams,
    reap,
    send_signal,
    set_parent_death_signal,
)
from squall._supervisor.filewatch import FileWatch, compile_error, module_files
from squall.log import gen_log

__all__ = [
    "DEFAULT_MAX_RESTARTS",
    "GRACEFUL_TIMEOUT",
    "QUICK_DEATH",
    "cgroup_cpu_limit",
    "ensure_can_fork",
    "fork_processes",
    "task_id",
    "usable_cpu_count",
    "warn_if_threads",
]

DEFAULT_MAX_RESTARTS = 100
GRACEFUL_TIMEOUT = 25.0
QUICK_DEATH = 2.0  # seconds: a child that dies sooner is crash-looping (restart backoff)
_TICK = 1.0  # the parent wakes at least this often
_KILL_WAIT = 5.0  # how long reaping may take after SIGKILL

_task_id: int | None = None
_called = False


# -- CPUs -------------------------------------------------------------------------------------


def usable_cpu_count() -> int:
    """The number of CPUs this process may use: the affinity mask, capped by a cgroup quota.

    A quota of 1.5 CPUs counts as 2. Never less than 1.
    """
    process_cpu_count = getattr(os, "process_cpu_count", None)  # 3.13+
    if process_cpu_count is not None:
        count = process_cpu_count() or 1
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:
        count = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        count = min(count, math.ceil(limit))
    return max(1, count)


def cgroup_cpu_limit(
    root: str = "/sys/fs/cgroup", self_cgroup: str = "/proc/self/cgroup"
) -> float | None:
    """The CPU quota of this process's cgroup, in CPUs (e.g. 1.5), or None when there is none.

    Reads cgroup v2 ``cpu.max`` and v1 ``cpu.cfs_quota_us``/``cpu.cfs_period_us`` in the
    process's cgroup and its ancestors (the tightest wins), and at ``root`` itself, which is the
    process's own cgroup inside a container with a cgroup namespace.
    """
    v2_path = v1_path = "/"
    try:
        with open(self_cgroup, encoding="ascii") as file:
            lines = file.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and not controllers:
            v2_path = path or "/"
        elif "cpu" in controllers.split(","):
            v1_path = path or "/"
    limits = [
        quota
        for directory in _ancestors(root, v2_path)
        if (quota := _read_v2_quota(directory)) is not None
    ]
    for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        limits += [
            quota
            for directory in _ancestors(os.path.join(root, mount), v1_path)
            if (quota := _read_v1_quota(directory)) is not None
        ]
    return min(limits) if limits else None


def _ancestors(base: str, path: str) -> list[str]:
    parts = [part for part in path.split("/") if part]
    return [os.path.join(base, *parts[:depth]) for depth in range(len(parts), -1, -1)]


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as file:
            return file.read().strip()
    except (OSError, ValueError):
        return None


def _read_v2_quota(directory: str) -> float | None:
    text = _read(os.path.join(directory, "cpu.max"))
    if not text:
        return None
    quota, _, period = text.partition(" ")
    try:
        return int(quota) / int(period or "100000") if quota != "max" else None
    except (ValueError, ZeroDivisionError):
        return None


def _read_v1_quota(directory: str) -> float | None:
    quota = _read(os.path.join(directory, "cpu.cfs_quota_us"))
    period = _read(os.path.join(directory, "cpu.cfs_period_us"))
    try:
        return int(quota) / int(period) if quota and period and int(quota) > 0 else None
    except (ValueError, ZeroDivisionError):
        return None


# -- small pieces -----------------------------------------------------------------------------


def task_id() -> int | None:
    """This child's task id (0..n-1); None in the parent and in a process that never forked."""
    return _task_id


def ensure_can_fork() -> None:
    """Raise RuntimeError, saying why, if ``fork_processes`` cannot run here.

    Reasons: no ``os.fork`` (Windows), called in a forked child, called a second time, or called
    off the main thread (the parent installs signal handlers).
    """
    if not hasattr(os, "fork"):
        raise RuntimeError(
            "fork_processes() needs os.fork(), which this platform (Windows) does not have: "
            "run a single process (start(1)), one per CPU behind a load balancer"
        )
    if _task_id is not None:
        raise RuntimeError(
            f"fork_processes() was called in child process {_task_id} (pid {os.getpid()}); "
            "only the original process forks: call it once, at startup"
        )
    if _called:
        raise RuntimeError(
            "fork_processes() was already called in this process; it runs once per program"
        )
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "fork_processes() must be called from the main thread: the parent handles signals"
        )


def warn_if_threads() -> None:
    """Log a WARNING if threads other than the calling one are alive (before a fork)."""
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if others:
        gen_log.warning(
            "Forking with %d other thread(s) alive (%s): the children get only the forking "
            "thread, and locks the others hold stay locked there. Start threads after the fork.",
            len(others),
            ", ".join(others),
        )


# -- the parent -------------------------------------------------------------------------------


def fork_processes(
    num_processes: int | None,
    max_restarts: int | None = None,
    *,
    graceful_timeout: float = GRACEFUL_TIMEOUT,
    reload: bool = False,
) -> int:
    """Fork ``num_processes`` children (None or <= 0: ``usable_cpu_count()``); see the module.

    Returns the task id in each child; the parent never returns (``sys.exit`` or RuntimeError).
    ``graceful_timeout`` bounds how long the parent waits for draining children on SIGTERM.
    ``reload``: the parent watches the loaded source files; when one changes (and compiles) it
    drains the children and re-executes the program, so every process runs the new code.
    """
    global _called
    ensure_can_fork()
    if graceful_timeout <= 0:
        raise ValueError(f"graceful_timeout must be > 0 seconds, got {graceful_timeout!r}")
    if num_processes is None or num_processes <= 0:
        num_processes = usable_cpu_count()
    limit = DEFAULT_MAX_RESTARTS if max_restarts is None else max_restarts
    _called = True
    gen_log.info("Starting %d processes", num_processes)
    warn_if_threads()
    return _Parent(num_processes, limit, graceful_timeout, reload).run()


@dataclass
class _Child:
    slot: int
    started: float


class _Parent:
    """The supervising parent: forks, reaps, restarts, forwards signals."""

    def __init__(
        self, count: int, max_restarts: int, graceful_timeout: float, reload: bool = False
    ) -> None:
        self.watch = FileWatch(module_files) if reload else None
        self.count = count
        self.max_restarts = max_restarts
        self.graceful_timeout = graceful_timeout
        self.pid = os.getpid()
        self.children: dict[int, _Child] = {}
        self.due: dict[int, float] = {}  # task id -> when to restart it (monotonic)
        self.backoff = RestartBackoff(quick=QUICK_DEATH)
        self.restarts = 0
        # SIGCHLD only wakes the loop: _reap finds the exits. TERM/INT queue a stop.
        self.signals = SignalWakeup((signal.SIGTERM, signal.SIGINT), wake_only=(signal.SIGCHLD,))
        self.stopping = False
        self.clean = True  # while stopping: every child exited 0 by itself
        self.poller = select.poll()
        self.death_r, self.death_w = os.pipe()  # the children see EOF when the parent dies

    def run(self) -> int:
        """Fork the children, then supervise; return a task id in a child only."""
        self._install()
        try:
            for slot in range(self.count):
                if self._spawn(slot):
                    return slot
            while True:
                if self.signals.pending:
                    self._stop_on_signal()
                self._reap()
                if not self.children and not self.due:
                    gen_log.info("All %d child processes exited normally", self.count)
                    sys.exit(0)
                started = self._start_due()
                if started is not None:
                    return started
                if self.watch is not None and not self.stopping:
                    self._reload_if_changed(self.watch)
                self._wait(self._next_wake())
        except BaseException:
            if os.getpid() == self.pid:  # never in a child: it must not touch its siblings
                if self.children:
                    self.stopping = True
                    self._send(signal.SIGKILL)
                    self._wait_children(time.monotonic() + _KILL_WAIT)
                self._uninstall()
            raise

    # signals and waiting

    def _install(self) -> None:
        self.signals.install()
        self.poller.register(self.signals.fileno, select.POLLIN)

    def _uninstall(self) -> None:
        if self.death_w < 0:
            return  # already done
        self.signals.restore()
        for fd in (self.death_r, self.death_w):
            os.close(fd)
        self.death_r = self.death_w = -1

    def _wait(self, timeout: float) -> None:
        self.poller.poll(math.ceil(max(timeout, 0.0) * 1000))
        self.signals.drain()

    def _next_wake(self) -> float:
        now = time.monotonic()
        return min([_TICK] + [when - now for when in self.due.values()])

    # children

    def _spawn(self, slot: int) -> bool:
        """Fork the child for ``slot``; True in the child."""
        # Handlers swap in the child: no signal may run one of ours there meanwhile.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, self.signals.handled)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+, threads: logged
                pid = os.fork()
            if pid == 0:
                self._become_child(slot)
                return True
            self.children[pid] = _Child(slot, time.monotonic())
            return False
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def _become_child(self, slot: int) -> None:
        global _task_id
        try:
            self.children.clear()
            self.signals.restore()
            os.close(self.death_w)
            _task_id = slot
            random.seed()
            set_parent_death_signal(signal.SIGTERM)
            margin = min(1.0, self.graceful_timeout / 5)
            worker_guard.install(self.graceful_timeout - margin, self.death_r)
        except BaseException:
            gen_log.exception("Child %d could not set itself up", slot)
            os._exit(1)

    def _start_due(self) -> int | None:
        now = time.monotonic()
        for slot, when in sorted(self.due.items()):
            if when <= now:
                del self.due[slot]
                if self._spawn(slot):
                    return slot
        return None

    def _reap(self) -> None:
        # Each child by its pid: the application may have children of its own to wait for.
        for pid in list(self.children):
            found = reap(pid)
            if found is not None:
                self._on_exit(pid, self.children.pop(pid), found[1])

    def _on_exit(self, pid: int, child: _Child, status: int) -> None:
        what = describe_exit(status)
        if self.stopping:
            level = gen_log.info if status == 0 else gen_log.warning
            level("child %d (pid %d) %s", child.slot, pid, what)
            self.clean = self.clean and status == 0
            return
        if status == 0:
            gen_log.info("child %d (pid %d) %s", child.slot, pid, what)
            return
        gen_log.warning("child %d (pid %d) %s, restarting", child.slot, pid, what)
        self.restarts += 1
        if self.restarts > self.max_restarts:
            gen_log.error(
                "Restart %d is over max_restarts=%d: stopping the %d remaining children",
                self.restarts,
                self.max_restarts,
                len(self.children),
            )
            self.due.clear()
            self._stop_children()
            self._uninstall()
            raise RuntimeError("Too many child restarts, giving up")
        lived = time.monotonic() - child.started
        delay = self.backoff.delay(child.slot, lived)
        if delay:
            gen_log.warning(
                "child %d lived %.2f s: restarting it in %.1f s", child.slot, lived, delay
            )
        self.due[child.slot] = time.monotonic() + delay

    def _send(self, signum: int) -> None:
        for pid in self.children:
            send_signal(pid, signum)

    def _stop_on_signal(self) -> None:
        signum = self.signals.pending.popleft()
        gen_log.info(
            "%s received: stopping %d child process(es) (graceful, up to %.0f s)",
            signal.Signals(signum).name,
            len(self.children),
            self.graceful_timeout,
        )
        self.due.clear()
        self._stop_children()
        sys.exit(0 if self.clean else 1)

    def _reload_if_changed(self, watch: FileWatch) -> None:
        """Re-execute when a loaded source file changed and compiles; report one that does
        not (once per edit: the next look sees the same stamp) and keep serving."""
        for path in watch.changed():
            error = compile_error(path)
            if error is not None:
                gen_log.error(
                    "Not reloading: %s does not compile; the running processes keep serving\n%s",
                    path,
                    error,
                )
                continue
            self._reexec(path)

    def _reexec(self, changed: str) -> NoReturn:
        """Reload: drain every child, then run the program again with the same arguments."""
        gen_log.info("%s changed: reloading (draining %d processes)", changed, len(self.children))
        self.stopping = True
        self._send(signal.SIGTERM)
        self._wait_children(time.monotonic() + self.graceful_timeout)
        if self.children:
            self._send(signal.SIGKILL)
            self._wait_children(time.monotonic() + _KILL_WAIT)
        self._uninstall()
        argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
        flush_std_streams()  # the exec drops what is still buffered
        os.execv(sys.executable, [sys.executable, *argv[1:]])

    def _stop_children(self) -> None:
        """SIGTERM the children and wait for them; SIGKILL on a second signal or the deadline."""
        self.stopping = True
        self._send(signal.SIGTERM)
        self._wait_children(time.monotonic() + self.graceful_timeout)

    def _wait_children(self, deadline: float) -> None:
        killed = False
        while True:
            self._reap()
            if not self.children:
                return
            now = time.monotonic()
            if self.signals.pending or now >= deadline:
                if killed:
                    gen_log.error("Could not reap children %s", sorted(self.children))
                    return
                why = "second signal" if self.signals.pending else "deadline passed"
                gen_log.warning("%s: killing %d child process(es)", why, len(self.children))
                self.signals.pending.clear()
                self._send(signal.SIGKILL)
                self.clean = False
                killed = True
                deadline = now + _KILL_WAIT
            self._wait(min(deadline - now, _TICK))

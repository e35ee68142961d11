"""The managed master: forks workers, watches them, replaces them, and stops them on time.

How this works
--------------
The master is one synchronous loop: no asyncio, no threads, no app import. It sleeps in a
selector on the workers' channels and on a self-pipe that signals write into
(``signal.set_wakeup_fd``): at most 1 s, less when a timer is due. Each turn it reads messages,
handles the queued signals, reaps every exited child (``waitpid(-1, WNOHANG)`` until none is
left), then runs its timers: respawns (with backoff), boot and heartbeat timeouts, drain
deadlines, the rolling restart, recycling and the reload watcher.

Workers live in *slots* (0..N-1, ``slots.py``). A slot has a ``current`` worker and, during a
rolling restart or a recycle, an ``incoming`` one; the incoming worker becomes current once it
reports READY, and only then is the old one told to drain. Rolling restarts, recycling and
scaling are ``rollout.py``'s (:class:`~squall._supervisor.rollout.Replacements`), which drives
them through the few methods of the master its ``Pool`` interface names. The backoff, signal
handling and reaping are ``common.py``'s, shared with ``fork.py``; the reload watcher is
``filewatch.py``'s.

Heartbeats carry each worker's counters; a reaped worker's final counts go to a "retired"
accumulator, so totals only grow (``metrics``). With a metrics socket the same selector also
answers ``GET /metrics``.

Rules:

1. Signal handlers only enqueue the signal number; everything happens in the loop.
2. Readiness gates everything: an old worker is drained only once its replacement is READY. A
   replacement that fails aborts the rolling restart and the old workers keep serving.
3. Every wait has a deadline: a drain that overruns ends in SIGUSR2 (the worker's faulthandler
   dumps its stacks), a short pause, then SIGKILL.
4. A boot failure in the first generation, or 5 in a row later, stops the master with exit 3.
5. The app is never imported here: ``serve`` runs in the forked child (``worker.run_child``).
"""

from __future__ import annotations

import math
import os
import random
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, NoReturn

from squall._supervisor import ipc, metrics, status
from squall._supervisor.common import (
    RestartBackoff,
    SignalWakeup,
    describe_exit,
    flush_std_streams,
    reap,
    sd_notify,
    send_signal,
)
from squall._supervisor.filewatch import TreeWatch
from squall._supervisor.rollout import Replacements
from squall._supervisor.scoreboard import Scoreboard
from squall._supervisor.slots import Child, Slot
from squall.log import gen_log

if TYPE_CHECKING:
    from squall._supervisor.worker import LoopFactory, Serve

__all__ = ["EXIT_BOOT_FAILURE", "Master", "SupervisorConfig"]

EXIT_BOOT_FAILURE = 3  # the master's exit code when workers cannot boot
MAX_BOOT_FAILURES = 5  # in a row, with no READY in between, after a healthy start
BACKOFF_START = 0.5  # seconds before the second quick respawn of a slot; doubles each time
BACKOFF_MAX = 30.0  # seconds
QUICK_DEATH = 10.0  # seconds after READY: dying sooner grows the slot's backoff
BACKOFF_RESET = 60.0  # seconds of uptime after which a slot's backoff starts over
DUMP_WAIT = 0.3  # seconds between SIGUSR2 (stack dump) and SIGKILL
DRAIN_MARGIN = 1.0  # seconds: a worker's drain deadline is the master's minus this
MAX_SLEEP = 1.0  # seconds: the loop turns at least this often
_QUEUED = tuple(
    getattr(signal, name)
    for name in (
        "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGTTIN", "SIGTTOU", "SIGUSR1", "SIGUSR2",
    )
    if hasattr(signal, name)
)  # fmt: skip
_IGNORED = tuple(getattr(signal, name) for name in ("SIGWINCH", "SIGPIPE") if hasattr(signal, name))


@dataclass(frozen=True, slots=True)
class SupervisorConfig:
    """The master's settings; the defaults are the documented ones (docs/deployment.md).

    ``worker_timeout=0`` turns the heartbeat watchdog off; ``max_requests=0`` turns recycling
    off, and a ``max_requests_jitter`` of None means 10 % of ``max_requests``. A non-empty
    ``reload_dirs`` turns on the reload watcher (all workers are replaced at once on a change).
    ``unlink_paths`` are unix socket paths this process created, removed at shutdown."""

    workers: int = 1
    graceful_timeout: float = 25.0
    quick_timeout: float = 5.0
    worker_timeout: float = 30.0
    boot_timeout: float = 60.0
    shutdown_delay: float = 0.0
    max_requests: int = 0
    max_requests_jitter: int | None = None
    reload_dirs: tuple[str, ...] = ()
    reload_interval: float = 0.5
    unlink_paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1 under the supervisor, got {self.workers}")
        for name in ("graceful_timeout", "quick_timeout", "worker_timeout", "boot_timeout"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {getattr(self, name)}")
        if self.max_requests < 0 or (self.max_requests_jitter or 0) < 0:
            raise ValueError("max_requests and max_requests_jitter must be >= 0")


class _State(Enum):
    RUNNING = "running"
    DRAINING = "draining"
    QUICK = "quick"


class Master:
    """Supervise ``workers`` forked children, each running ``serve(worker)`` on its own loop.

    ``sockets`` are listeners bound by the caller: shared with the workers (``inherit=True``),
    or placeholders that only reserve the port (reuse-port mode, ``inherit=False``: each worker
    binds its own). The master closes them when it starts draining. ``loop_factory`` makes
    each worker's event loop. ``metrics_socket``, a listening TCP socket, turns on the
    Prometheus endpoint (``GET /metrics``, served from the master's loop; closed at exit).
    ``on_ready`` is called once, when the first generation is serving (the listeners are
    announced then, never before the app has loaded). The metrics bind also answers
    ``/livez``, ``/readyz`` and the status page (``status.py``), titled ``description``.
    :meth:`run` returns the exit code: 0 after a clean shutdown, 1 if a worker had to be killed
    at the deadline, 3 when workers cannot boot."""

    def __init__(
        self,
        serve: Serve,
        config: SupervisorConfig,
        sockets: Iterable[socket.socket] = (),
        *,
        inherit: bool = True,
        loop_factory: LoopFactory,
        metrics_socket: socket.socket | None = None,
        on_ready: Callable[[], object] | None = None,
        description: str = "",
    ) -> None:
        if sys.platform == "win32":
            raise NotImplementedError(
                "The supervisor forks worker processes, which Windows cannot do; "
                "serve in a single process (--workers 0) instead"
            )
        self._serve = serve
        self._config = config
        self._sockets = list(sockets)
        self._inherit = inherit
        self._loop_factory = loop_factory
        self._pid = os.getpid()
        self._state = _State.RUNNING
        self._children: dict[int, Child] = {}
        # The Pool interface of rollout.py: what Replacements reads and calls.
        self.slots: dict[int, Slot] = {}
        self.generation = 0
        self.booted = False
        self.boot_failures = 0
        self.metrics = metrics.MasterMetrics()
        # The first crash of a slot restarts at once; then 0.5 s, 1, 2 ... while it keeps
        # dying within QUICK_DEATH of READY; BACKOFF_RESET s of uptime forgets the streak.
        self.backoff = RestartBackoff(
            BACKOFF_START, BACKOFF_MAX, quick=QUICK_DEATH, reset=BACKOFF_RESET, free=1
        )
        self._changes = Replacements(self)
        self._deadline = math.inf
        self._announce_until: float | None = None
        self._exit_code: int | None = None
        self._killed_at_shutdown = False
        self._last_ready = -1
        self._signals = SignalWakeup(_QUEUED, wake_only=(signal.SIGCHLD,), ignored=_IGNORED)
        self._sel: selectors.BaseSelector | None = None
        self._watcher: TreeWatch | None = None
        self._metrics_socket = metrics_socket
        self._metrics_server: metrics.MetricsServer | None = None
        self._when_ready = on_ready
        self._description = description
        self._started = time.monotonic()
        self._events = status.EventLog()
        self._boot_errors: dict[str, int] = {}  # report -> workers that sent it
        jitter = config.max_requests_jitter
        self._jitter = config.max_requests // 10 if jitter is None else jitter

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> int:
        """Fork the workers and supervise them until they have all exited after a shutdown.

        Call it on the main thread (it installs signal handlers), with no event loop running."""
        self._open()
        try:
            gen_log.info("Master %d: starting %d worker(s)", self._pid, self._config.workers)
            for index in range(self._config.workers):
                slot = self.slots[index] = Slot(index)
                slot.current = self.spawn(index, self.generation)
            while self._state is _State.RUNNING or self._children:
                self._turn()
        finally:
            self._close()
        if self._exit_code is not None:
            return self._exit_code
        return 1 if self._killed_at_shutdown else 0

    def _turn(self) -> None:
        assert self._sel is not None  # set by _open
        for key, mask in self._sel.select(self._sleep_time(time.monotonic())):
            if key.data is None:
                self._signals.drain()
            elif isinstance(key.data, Child):
                self._on_messages(key.data)
            else:  # the metrics listener and its clients
                key.data(mask)
        self._handle_signals()
        self._reap()
        self._timers(time.monotonic())
        if self._metrics_server is not None:
            self._metrics_server.expire(time.monotonic())
        for child in self._children.values():
            child.channel.flush()
        self._report_status()

    def _sleep_time(self, now: float) -> float:
        cfg = self._config
        times = [now + MAX_SLEEP, self._changes.next_due()]
        for child in self._children.values():
            times.append(child.kill_at or (child.deadline or math.inf) - DUMP_WAIT)
            if child.ready_at is None:
                times.append(child.started + cfg.boot_timeout)
            elif cfg.worker_timeout:
                times.append(child.last_beat + ipc.HEARTBEAT_INTERVAL + cfg.worker_timeout)
        times += [slot.respawn_at or math.inf for slot in self.slots.values()]
        times.append(self._announce_until or math.inf)
        if self._watcher is not None:
            times.append(self._watcher.next_poll)
        # Timers already due were handled this turn (or wait for an event, like a reap).
        return min(t for t in times if t > now) - now

    def _open(self) -> None:
        self._signals.install()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._signals.fileno, selectors.EVENT_READ, None)
        gen_log.addHandler(self._events)
        if self._metrics_socket is not None:
            routes = status.routes(self._snapshot, self._serving_count, lambda: True)
            self._metrics_server = metrics.MetricsServer(
                self._metrics_socket, self._sel, self._render_metrics, routes
            )
        if self._config.reload_dirs:
            self._watcher = TreeWatch(self._config.reload_dirs, self._config.reload_interval)

    def _close(self) -> None:
        for child in list(self._children.values()):  # only after an error: leave no orphans
            send_signal(child.pid, signal.SIGKILL)
            reap(child.pid, block=True)
            child.channel.close()
        self._children.clear()
        if self._metrics_server is not None:
            self._metrics_server.close()
        elif self._metrics_socket is not None:
            self._metrics_socket.close()
        if self._sel is not None:
            self._sel.close()
        gen_log.removeHandler(self._events)
        self._signals.restore()
        if self._watcher is not None:
            self._watcher.close()
        self._close_sockets()
        self._unlink_paths()

    # -- the Pool interface (rollout.py) -------------------------------------------------------

    @property
    def running(self) -> bool:
        """Serving, not shutting down."""
        return self._state is _State.RUNNING

    def spawn(self, index: int, generation: int) -> Child:
        """Fork a worker for slot ``index`` (of ``generation``); it boots in the child."""
        master_end, worker_end = ipc.channel_pair()
        limit = self._config.max_requests
        if limit:
            limit += random.randint(0, self._jitter)  # spreading load, not security
        board = Scoreboard()
        flush_std_streams()  # or the child would write the buffered text a second time
        pid = os.fork()
        if pid == 0:
            self._child_main(master_end, worker_end, index, generation, limit, board)
        worker_end.close()
        now = time.monotonic()
        child = Child(pid, index, generation, master_end, started=now, last_beat=now, board=board)
        self._children[pid] = child
        assert self._sel is not None
        self._sel.register(master_end.sock, selectors.EVENT_READ, child)
        gen_log.debug("Forked worker %d (slot %d, generation %d)", pid, index, generation)
        return child

    def _child_main(
        self,
        master_end: ipc.Channel,
        worker_end: ipc.Channel,
        index: int,
        generation: int,
        limit: int,
        board: Scoreboard,
    ) -> NoReturn:
        code = 70  # EX_SOFTWARE: the supervisor itself failed in the child
        try:
            self._signals.restore(defaults=True)  # the worker installs its own handlers
            gen_log.removeHandler(self._events)
            master_end.close()
            for other in self._children.values():
                other.channel.close()
                if other.board is not None:
                    other.board.close()
            if self._metrics_server is not None:
                self._metrics_server.close_after_fork()
            elif self._metrics_socket is not None:
                self._metrics_socket.close()
            if self._sel is not None:
                self._sel.close()  # closes our copy of the epoll fd; the master's set is intact
            if not self._inherit:
                self._close_sockets()
            os.environ.pop("NOTIFY_SOCKET", None)  # only the master talks to systemd
            from squall._supervisor import worker  # asyncio only in children

            code = worker.run_child(
                self._serve,
                worker_end,
                master_pid=self._pid,
                slot=index,
                generation=generation,
                sockets=self._sockets if self._inherit else [],
                graceful_timeout=self._config.graceful_timeout,
                max_requests=limit,
                loop_factory=self._loop_factory,
                board=board,
            )
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            gen_log.critical("Worker process failed outside its event loop", exc_info=True)
        finally:
            flush_std_streams()
            os._exit(code)

    def retire(self, child: Child, *, quick: bool = False) -> None:
        """Tell ``child`` to drain (or to quit at once); it is killed if it overruns."""
        now = time.monotonic()
        timeout = self._config.quick_timeout if quick else self._config.graceful_timeout
        child.draining = True
        child.deadline = min(child.deadline or math.inf, now + timeout, self._deadline)
        if quick:
            sent = child.channel.send(ipc.QUICK) or not child.channel.eof
            if not sent:
                send_signal(child.pid, signal.SIGQUIT)
        else:
            left = max(0.0, child.deadline - now - DRAIN_MARGIN)
            sent = child.channel.send(ipc.DRAIN, timeout=left, phase="final")
            if not sent and child.channel.eof:
                send_signal(child.pid, signal.SIGTERM)

    def schedule_respawn(self, slot: Slot, uptime: float) -> None:
        """Fork ``slot``'s worker again after its backoff delay (``uptime``: since READY)."""
        delay = self.backoff.delay(slot.index, uptime)
        slot.respawn_at = time.monotonic() + delay
        if delay:
            gen_log.info("Restarting slot %d in %.1f s", slot.index, delay)

    def restarted(self, slot: Slot, cause: str) -> None:
        """Count a replacement worker forked for ``slot`` because of ``cause``."""
        self.metrics.restarted(cause)
        slot.restarts += 1
        slot.last_cause = cause

    def count_boot_failure(self) -> bool:
        """Count a boot failure; True when the master gives up (and starts stopping, exit 3)."""
        self.boot_failures += 1
        if not self.booted:
            gen_log.critical("A worker of the first generation failed to boot: stopping (exit 3)")
            self._halt(quick=True)
            return True
        if self.boot_failures >= MAX_BOOT_FAILURES:
            gen_log.critical(
                "%d boot failures in a row and no worker became ready: stopping (exit 3)",
                self.boot_failures,
            )
            self._halt(quick=False)
            return True
        return False

    # -- children ------------------------------------------------------------------------------

    def _on_messages(self, child: Child) -> None:
        now = time.monotonic()
        for message in child.channel.receive():
            kind = message["t"]
            if kind == ipc.READY:
                self._on_ready(child, now)
            elif kind == ipc.HEARTBEAT:
                child.last_beat = now
                child.stats.update(message)
                child.lags.append(child.stats.lag)
                status.observe_rate(child, now)
            elif kind == ipc.RECYCLE:
                self._changes.request_recycle(child)
            elif kind == ipc.BYE:
                child.stats.update(message)  # the final counts
            elif kind == ipc.BOOT_ERROR:
                self._on_boot_error(child, str(message.get("text", "")))
        if child.channel.eof and self._sel is not None:
            self._sel.unregister(child.channel.sock)  # reaped soon; stop polling the EOF

    def _on_boot_error(self, child: Child, text: str) -> None:
        child.boot_error = True
        seen = self._boot_errors.get(text, 0)
        self._boot_errors[text] = seen + 1
        if seen:
            gen_log.debug(
                "Worker %d (slot %d) cannot boot either, the same way", child.pid, child.slot
            )
            return
        gen_log.error(
            "Worker %d (slot %d, generation %d) cannot boot: %s",
            child.pid, child.slot, child.generation, text,
        )  # fmt: skip

    def _on_ready(self, child: Child, now: float) -> None:
        child.ready_at = child.last_beat = now
        self.boot_failures = 0
        self._boot_errors.clear()
        gen_log.info(
            "Worker %d ready (slot %d, generation %d)", child.pid, child.slot, child.generation
        )
        slots = self.slots.values()
        if not self.booted and all(s.current and s.current.ready_at for s in slots):
            self.booted = True
            if self._when_ready is not None:
                self._when_ready()
            gen_log.info("Ready: %d worker(s) serving", len(self.slots))
            sd_notify("READY=1")

    def _reap(self) -> None:
        # Any child: the master has no children but its workers.
        while (found := reap()) is not None:
            pid, status = found
            child = self._children.pop(pid, None)
            if child is None:
                gen_log.debug("Reaped process %d, which is not a worker", pid)
                continue
            if not child.channel.eof:
                self._on_messages(child)  # a READY may have come just before the exit
                if self._sel is not None and not child.channel.eof:
                    self._sel.unregister(child.channel.sock)
            child.channel.close()
            if child.board is not None:
                child.board.close()
            self.metrics.retire(child.stats)  # totals keep its requests
            self._on_exit(child, status)

    def _on_exit(self, child: Child, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        how = describe_exit(status)
        slot = self.slots.get(child.slot)
        role = None
        if slot is not None and slot.current is child:
            role, slot.current = "current", None
        elif slot is not None and slot.incoming is child:
            role, slot.incoming = "incoming", None
        if slot is None or role is None or child.draining or self._state is not _State.RUNNING:
            log = gen_log.warning if child.killed or code else gen_log.info
            log("Worker %d (slot %d) exited: %s", child.pid, child.slot, how)
            return
        slot.respawn_cause = "timeout" if child.timed_out else "crash"
        if child.ready_at is None:
            log = gen_log.info if child.boot_error else gen_log.error  # reported already
            log(
                "Worker %d (slot %d, generation %d) failed to boot: %s",
                child.pid, child.slot, child.generation, how,
            )  # fmt: skip
            if role == "incoming":
                self._changes.replacement_failed(slot)
            elif not self.count_boot_failure():
                self.schedule_respawn(slot, 0.0)
            return
        hint = ""
        if code == -signal.SIGKILL and not child.killed:
            hint = " (SIGKILL from outside: out of memory?)"
        gen_log.error("Worker %d (slot %d) died: %s%s", child.pid, child.slot, how, hint)
        if role == "incoming":
            self._changes.replacement_failed(slot)
        elif slot.incoming is None:
            self.schedule_respawn(slot, time.monotonic() - child.ready_at)

    def _halt(self, quick: bool) -> None:
        self._exit_code = EXIT_BOOT_FAILURE
        if quick:
            self._begin_quick("Boot failure")
        else:
            self._begin_graceful("Boot failure")

    def _timers(self, now: float) -> None:
        if self._state is _State.RUNNING:
            for slot in list(self.slots.values()):
                if slot.respawn_at is not None and now >= slot.respawn_at:
                    slot.respawn_at = None
                    if slot.current is None and slot.incoming is None:
                        slot.current = self.spawn(slot.index, self.generation)
                        self.restarted(slot, slot.respawn_cause)
            self._changes.advance(now)
            if self._watcher is not None and now >= self._watcher.next_poll:
                changed = self._watcher.changed()
                if changed:
                    gen_log.info("Changed: %s", ", ".join(changed[:5]))
                    self._changes.start_rollout("Reload", batch=0)
        elif self._announce_until is not None and now >= self._announce_until:
            self._announce_until = None
            self._final_drain(now)
        for child in list(self._children.values()):
            self._watch(child, now)

    def _watch(self, child: Child, now: float) -> None:
        cfg = self._config
        if child.killed:
            return
        if child.kill_at is not None:
            if now >= child.kill_at:
                self._kill(child)
        elif child.deadline is not None and now >= child.deadline - DUMP_WAIT:
            gen_log.warning(
                "Worker %d (slot %d) still running at its deadline: dumping its stacks, "
                "then SIGKILL", child.pid, child.slot,
            )  # fmt: skip
            self._dump_then_kill(child, now)
        elif child.ready_at is None:
            if now - child.started > cfg.boot_timeout:
                gen_log.error(
                    "Worker %d (slot %d) not ready after %.0f s: dumping its stacks, then SIGKILL",
                    child.pid, child.slot, cfg.boot_timeout,
                )  # fmt: skip
                child.timed_out = True
                self._dump_then_kill(child, now)
        elif (
            cfg.worker_timeout
            and now - child.last_beat > ipc.HEARTBEAT_INTERVAL + cfg.worker_timeout
        ):
            # The heartbeat due 1 s after the last one is later than worker_timeout.
            running = child.board.running() if child.board is not None else None
            gen_log.error(
                "WORKER TIMEOUT: worker %d (slot %d) sent no heartbeat for %.1f s, so its event "
                "loop is blocked (%s; recent loop lags: %s). Its stacks follow; then SIGKILL.",
                child.pid, child.slot, now - child.last_beat,
                f"request {running.describe()}" if running else "no request in flight",
                ", ".join(f"{lag:.3f} s" for lag in child.lags) or "none",
            )  # fmt: skip
            child.timed_out = True
            self._dump_then_kill(child, now)

    def _dump_then_kill(self, child: Child, now: float) -> None:
        send_signal(child.pid, signal.SIGUSR2)
        child.kill_at = now + DUMP_WAIT

    def _kill(self, child: Child) -> None:
        send_signal(child.pid, signal.SIGKILL)
        child.killed = True
        if self._state is not _State.RUNNING:
            self._killed_at_shutdown = True

    # -- shutdown ------------------------------------------------------------------------------

    def _handle_signals(self) -> None:
        pending = self._signals.pending
        while pending:
            sig = pending.popleft()
            name = signal.Signals(sig).name
            if sig in (signal.SIGTERM, signal.SIGINT):
                if self._state is _State.RUNNING:
                    self._begin_graceful(name)
                else:
                    self._begin_quick(f"{name} during shutdown")
            elif sig == signal.SIGQUIT:
                self._begin_quick(name)
            elif sig == signal.SIGHUP:
                self._changes.start_rollout(name, batch=1)
            elif sig in (signal.SIGTTIN, signal.SIGTTOU) and self._state is _State.RUNNING:
                self._changes.scale(1 if sig == signal.SIGTTIN else -1)
            elif sig == signal.SIGUSR1:
                count = ipc.reopen_log_files()
                gen_log.info("SIGUSR1: reopened %d log file(s); telling the workers", count)
                for child in self._children.values():
                    send_signal(child.pid, signal.SIGUSR1)
            elif sig == signal.SIGUSR2:
                gen_log.warning("SIGUSR2 (binary upgrade) is not supported yet: ignored")

    def _begin_graceful(self, reason: str) -> None:
        now = time.monotonic()
        self._state = _State.DRAINING
        self._deadline = now + self._config.graceful_timeout
        gen_log.info(
            "%s: graceful shutdown (at most %.1f s)", reason, self._config.graceful_timeout
        )
        sd_notify("STOPPING=1")
        self._unlink_paths()
        self._stop_changes()
        if self._config.shutdown_delay > 0:
            for child in self._children.values():
                child.channel.send(
                    ipc.DRAIN, timeout=self._config.graceful_timeout, phase="announce"
                )
            self._announce_until = now + min(
                self._config.shutdown_delay, self._config.graceful_timeout
            )
        else:
            self._final_drain(now)

    def _final_drain(self, now: float) -> None:
        for child in self._children.values():
            self.retire(child)
        self._close_sockets()

    def _begin_quick(self, reason: str) -> None:
        if self._state is _State.QUICK:
            return
        gen_log.warning("%s: quick shutdown requested", reason)
        if self._state is _State.RUNNING:
            sd_notify("STOPPING=1")
        self._state = _State.QUICK
        self._announce_until = None
        self._deadline = min(self._deadline, time.monotonic() + self._config.quick_timeout)
        self._unlink_paths()
        self._stop_changes()
        for child in self._children.values():
            self.retire(child, quick=True)
        self._close_sockets()

    def _stop_changes(self) -> None:
        self._changes.stop()
        for slot in self.slots.values():
            slot.respawn_at = None

    def _close_sockets(self) -> None:
        for sock in self._sockets:
            sock.close()

    def _unlink_paths(self) -> None:
        for path in self._config.unlink_paths:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                gen_log.warning("Could not remove %s: %s", path, exc)

    def _serving_count(self) -> int:
        """Workers a load balancer may send to: none once a shutdown started."""
        return self._ready_count() if self._state is _State.RUNNING else 0

    def _ready_count(self) -> int:
        return sum(1 for c in self._children.values() if c.ready_at and not c.draining)

    def _render_metrics(self) -> str:
        now = time.monotonic()
        children = sorted(self._children.values(), key=lambda c: (c.slot, c.started))
        series = [(c.slot, c.generation, c.pid, c.stats) for c in children]
        ages: dict[int, tuple[float, float | None]] = {}
        for child in children:
            idle = child.stats.idle
            last = None if idle < 0 else idle + now - child.last_beat
            ages[child.pid] = (round(now - child.last_beat, 3), last)
        return self.metrics.render(series, self._ready_count(), ages)

    def _snapshot(self) -> status.Snapshot:
        return status.Snapshot(
            description=self._description,
            master_pid=self._pid,
            started=self._started,
            state=self._state.value,
            generation=self.generation,
            slots=list(self.slots.values()),
            children=list(self._children.values()),
            metrics=self.metrics,
            events=list(self._events.events),
        )

    def _report_status(self) -> None:
        ready = self._ready_count()
        if ready != self._last_ready:
            self._last_ready = ready
            sd_notify(f"STATUS={ready} worker(s) ready")

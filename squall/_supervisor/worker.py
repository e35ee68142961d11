"""The worker half of the supervisor: one event loop, heartbeats, drain and quick exit.

How this works
--------------
A worker runs ``serve(worker)``, a coroutine function from the layer above, on a fresh event
loop. ``serve`` builds the app, attaches the listeners, calls ``worker.ready()``, awaits
``worker.wait_drain()`` and drains within ``worker.time_left()``. Around it:

1. A timer *on the loop* sends a heartbeat every second, with the loop lag (how late the timer
   fired), the requests in flight and served and a request-duration histogram (absolute
   values; ``bye`` carries the final ones). A blocked loop sends none: that is what the
   master's watchdog detects. SIGUSR2 dumps every thread's stack (faulthandler, no core file).
2. ``drain`` from the master, SIGTERM, or EOF on the channel (the master died) wake
   ``wait_drain()`` with a deadline; ``quick`` or SIGQUIT cancel ``serve``. Supervised workers
   ignore SIGINT and SIGHUP: Ctrl-C reaches the whole process group and the master coordinates.
   Alone (``run_standalone``), TERM and INT drain, a second one (or QUIT) is quick.
3. After ``serve``: leftover tasks are cancelled, shutdown hooks run within the time left (1 s
   when quick), then ``bye``. An exception before ``ready()`` is a boot failure (exit code
   ``BOOT_FAILED``), after it a crash (exit code 1).

Rules: nothing here imports HTTP code; every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import faulthandler
import inspect
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from squall._supervisor.common import set_parent_death_signal
from squall._supervisor.ipc import (
    BOOT_ERROR,
    BYE,
    DRAIN,
    HEARTBEAT,
    HEARTBEAT_INTERVAL,
    QUICK,
    READY,
    RECYCLE,
    Channel,
    reopen_log_files,
)
from squall._supervisor.metrics import WorkerStats
from squall._supervisor.scoreboard import Scoreboard
from squall.log import gen_log

__all__ = [
    "BOOT_FAILED",
    "BootError",
    "Worker",
    "current_worker",
    "describe_boot_error",
    "run_child",
    "run_standalone",
]

BOOT_FAILED = 4  # exit code: the app could not be imported or started
DRAIN_MARGIN = 1.0  # seconds kept for hooks when the worker picks its own deadline
QUICK_HOOK_TIME = 1.0  # seconds shutdown hooks get in a quick exit
LEFTOVER_TIME = 0.5  # seconds cancelled tasks get to finish

Serve = Callable[["Worker"], Coroutine[Any, Any, None]]
LoopFactory = Callable[[], asyncio.AbstractEventLoop]
Hook = Callable[[], object]

_current: Worker | None = None


class BootError(Exception):
    """Raised by ``serve()`` for a boot failure that one line explains (no traceback)."""


def describe_boot_error(exc: BaseException) -> str:
    """How a boot failure is reported: the line of a :class:`BootError`; for a syntax error,
    where it is (file, line, the code and a caret) in a few lines; else the traceback, without
    the frames of squall's own loading code and of the import machinery."""
    if isinstance(exc, BootError):
        return str(exc)
    if isinstance(exc, SyntaxError):
        where = f"{exc.filename}, line {exc.lineno}" if exc.filename else "the app"
        detail = "".join(traceback.format_exception_only(exc)).rstrip()
        return f"{type(exc).__name__} in {where}:\n{detail}"
    summary = traceback.TracebackException.from_exception(exc)
    summary.stack = traceback.StackSummary.from_list(
        [frame for frame in summary.stack if not _loader_frame(frame.filename)]
    )
    return "".join(summary.format()).rstrip()


def _loader_frame(filename: str) -> bool:
    if filename.startswith("<frozen importlib") or filename.endswith(
        os.path.join("importlib", "__init__.py")
    ):
        return True
    return f"{os.sep}squall{os.sep}" in filename and os.path.basename(filename) in (
        "worker.py",
        "appload.py",
        "serving.py",
    )


def current_worker() -> Worker | None:
    """The worker this process is running (supervised or single-process), or None."""
    return _current


class Worker:
    """This process's worker, as the serving code and the app see it.

    Attributes: ``slot`` (0..N-1, kept by a replacement), ``generation`` (bumped by each
    rolling restart), ``sockets`` (inherited listeners; empty in reuse-port mode),
    ``served``/``inflight``/``loop_lag`` and ``stats`` (with the request-duration histogram;
    all reported with every heartbeat), ``is_ready``,
    ``shutting_down`` (True from the first drain notice on: a readiness endpoint should answer
    503), ``recycling`` (``max_requests`` reached: a replacement is on its way) and
    ``supervised`` (False in single-process mode)."""

    def __init__(
        self,
        *,
        slot: int = 0,
        generation: int = 0,
        sockets: Iterable[socket.socket] = (),
        graceful_timeout: float = 25.0,
        max_requests: int = 0,
        channel: Channel | None = None,
        board: Scoreboard | None = None,
    ) -> None:
        self.slot = slot
        self.generation = generation
        self.sockets = list(sockets)
        self.graceful_timeout = graceful_timeout
        self.max_requests = max_requests
        self.stats = WorkerStats()
        self.is_ready = False
        self.shutting_down = False
        self.recycling = False
        self._channel = channel
        self._board = board
        #: Whether ``request_started`` wants the request's label (the watchdog's scoreboard
        #: names a request that blocks the loop): a caller skips building it otherwise.
        self.names_requests = board is not None
        self._hooks: list[Hook] = []
        self._recycle_hooks: list[Hook] = []
        self._deadline: float | None = None  # loop time at which the drain must be over
        self._quick = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_now: asyncio.Event | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._beat_due = 0.0
        self._beat: asyncio.TimerHandle | None = None
        self._hup_hooks: list[Hook] = []

    @property
    def served(self) -> int:
        """Requests this process has served."""
        return self.stats.served

    @property
    def inflight(self) -> int:
        """Requests in flight now."""
        return self.stats.inflight

    @property
    def loop_lag(self) -> float:
        """How late (seconds) the last heartbeat timer ran: a measure of loop congestion."""
        return self.stats.lag

    @property
    def supervised(self) -> bool:
        """True when a master supervises this worker."""
        return self._channel is not None

    # -- the serving code's side ---------------------------------------------------------------

    def ready(self) -> None:
        """Report that the app is loaded and listening; the master counts it as serving."""
        if not self.is_ready:
            self.is_ready = True
            if self._channel is not None:
                self._channel.send(READY, pid=os.getpid())

    def request_started(self, label: str | None = None) -> None:
        """Count a request as in flight; ``label`` (``"GET /path"``) names it to the master's
        watchdog should the event loop block while it runs."""
        stats = self.stats
        stats.inflight += 1
        board = self._board
        if board is not None and label is not None:
            board.started(label, stats.inflight)

    def request_finished(self, duration: float | None = None, status: int = 0) -> None:
        """Count a request as served; at ``max_requests`` ask the master for a replacement.

        ``duration`` (seconds), when given, goes into the request-duration histogram, and
        ``status`` into the count of its class. The recycle request goes out once;
        ``on_recycle`` callbacks run then (the serving code stops accepting there, so the
        replacement takes over the listen queue)."""
        stats = self.stats
        stats.inflight = max(0, stats.inflight - 1)
        stats.served += 1
        stats.last_request = time.monotonic()
        if self._board is not None:
            self._board.finished(stats.inflight)
        if status:
            stats.count_status(status)
        if duration is not None:
            stats.latency.observe(duration)
        limit = self.max_requests
        if limit and self.served >= limit and not self.recycling and self.supervised:
            self.recycling = True
            if self._channel is not None:
                self._channel.send(RECYCLE, reason="max_requests", served=self.served)
            for hook in self._recycle_hooks:
                hook()

    def count_status(self, status: int) -> None:
        """Count a response the app never saw (refused at the door: 503 over the cap)."""
        self.stats.count_status(status)

    def on_hup(self, hook: Hook) -> None:
        """Call ``hook()`` on SIGHUP in single-process mode (reload what can be reloaded in
        place, such as TLS certificates); supervised workers are replaced instead."""
        self._hup_hooks.append(hook)

    def on_recycle(self, hook: Hook) -> None:
        """Call ``hook()`` once when this worker reaches ``max_requests``."""
        self._recycle_hooks.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        """Run ``hook()`` (sync or async) once serving is over, before the process exits.

        Hooks run last-registered first, within the drain deadline (at least 0.5 s; 1 s in a
        quick exit); an exception is logged and the next hook runs."""
        self._hooks.append(hook)

    async def wait_drain(self) -> float:
        """Wait for the order to drain; return the seconds left until the drain deadline."""
        if self._drain_now is None:
            raise RuntimeError("Worker.wait_drain() is only for the serve() coroutine")
        await self._drain_now.wait()
        return self.time_left()

    def time_left(self) -> float:
        """Seconds until the drain deadline (the full graceful timeout before any drain)."""
        if self._deadline is None or self._loop is None:
            return self.graceful_timeout
        return max(0.0, self._deadline - self._loop.time())

    # -- orders --------------------------------------------------------------------------------

    def drain(self, timeout: float, phase: str = "final") -> None:
        """Start a graceful drain that must be over in ``timeout`` seconds.

        ``phase="announce"`` only sets ``shutting_down`` (readiness turns 503, serving goes
        on). A second drain can shorten the deadline, never extend it."""
        self.shutting_down = True
        if phase == "announce" or self._loop is None or self._drain_now is None:
            return
        deadline = self._loop.time() + max(0.0, timeout)
        if self._deadline is None or deadline < self._deadline:
            self._deadline = deadline
        self._drain_now.set()

    def quick(self) -> None:
        """Quick exit: cancel ``serve`` (it aborts its connections), hooks get 1 s."""
        self.shutting_down = True
        self._quick = True
        if self._serve_task is not None:
            self._serve_task.cancel()

    def report_boot_error(self, exc: BaseException) -> None:
        """Tell why the app could not start: to the master, which prints the first report of
        each kind once (several workers failing alike make one message), or to the log."""
        text = describe_boot_error(exc)
        channel = self._channel
        if channel is not None and channel.send(BOOT_ERROR, text=text, pid=os.getpid()):
            return
        gen_log.error("Cannot start the app: %s", text)

    def _own_drain(self) -> None:
        self.drain(max(0.0, self.graceful_timeout - DRAIN_MARGIN))

    # -- the runtime ---------------------------------------------------------------------------

    def _on_stop_signal(self, signum: int, standalone: bool) -> None:
        if standalone and self._drain_now is not None and self._drain_now.is_set():
            gen_log.warning("Second %s: quick shutdown requested", signal.Signals(signum).name)
            self.quick()
        else:
            self._own_drain()

    def _install_signals(self, loop: asyncio.AbstractEventLoop, standalone: bool) -> None:
        stop = [signal.SIGTERM, signal.SIGINT] if standalone else [signal.SIGTERM]
        for sig in stop:
            _on_signal(loop, sig, self._on_stop_signal, sig, standalone)
        _on_signal(loop, signal.SIGQUIT, self.quick)
        _on_signal(loop, signal.SIGUSR1, reopen_log_files)
        if standalone:
            _on_signal(loop, signal.SIGHUP, self._on_hup)
        else:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _on_hup(self) -> None:
        if not self._hup_hooks:
            _hup_needs_master()
        for hook in self._hup_hooks:
            try:
                hook()
            except Exception:
                gen_log.error("SIGHUP hook %r failed", hook, exc_info=True)

    def _on_channel(self) -> None:
        channel = self._channel
        assert channel is not None and self._loop is not None  # set by _main
        for message in channel.receive():
            if message["t"] == DRAIN:
                timeout = message.get("timeout")
                timeout = timeout if isinstance(timeout, int | float) else self.graceful_timeout
                self.drain(float(timeout), str(message.get("phase", "final")))
            elif message["t"] == QUICK:
                self.quick()
        if channel.eof:
            self._loop.remove_reader(channel.fileno())
            if not self._quick:
                gen_log.warning("The master process is gone: draining, then exiting")
                self._own_drain()

    def _heartbeat(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        self.stats.lag = max(0.0, now - self._beat_due)
        if self._channel is not None:
            self._channel.send(HEARTBEAT, **self.stats.fields(time.monotonic()))
        self._beat_due = now + HEARTBEAT_INTERVAL
        self._beat = loop.call_at(self._beat_due, self._heartbeat)

    async def _main(self, serve: Serve, standalone: bool, master_pid: int | None) -> int:
        loop = self._loop = asyncio.get_running_loop()
        self._drain_now = asyncio.Event()
        self._install_signals(loop, standalone)
        if self._channel is not None:
            loop.add_reader(self._channel.fileno(), self._on_channel)
        self._beat_due = loop.time() + HEARTBEAT_INTERVAL
        self._beat = loop.call_at(self._beat_due, self._heartbeat)
        if master_pid is not None and os.getppid() != master_pid:
            self._own_drain()  # the master died before we could watch it
        task = self._serve_task = loop.create_task(serve(self))
        code = await _outcome(task, self)
        await _cancel_leftovers()
        quick = self._quick or self._deadline is None  # a quick exit, a crash, a boot failure
        await self._run_hooks(QUICK_HOOK_TIME if quick else max(0.5, self.time_left()))
        self._beat.cancel()
        if self._channel is not None:
            self._channel.send(BYE, code=code, **self.stats.fields(time.monotonic()))
            if not self._channel.eof:
                loop.remove_reader(self._channel.fileno())
        return code

    async def _run_hooks(self, budget: float) -> None:
        async def run_all() -> None:
            for hook in reversed(self._hooks):
                try:
                    result = hook()
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    gen_log.error("Shutdown hook %r failed", hook, exc_info=True)

        if not self._hooks:
            return
        try:
            await asyncio.wait_for(run_all(), budget)
        except TimeoutError:
            gen_log.warning("Shutdown hooks still running after %.1f s: abandoned", budget)


async def _outcome(task: asyncio.Task[None], worker: Worker) -> int:
    """Await ``serve`` and turn how it ended into an exit code."""
    try:
        await task
    except asyncio.CancelledError:
        return 0  # a quick exit
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:
        if not worker.is_ready:
            worker.report_boot_error(exc)
            return BOOT_FAILED
        gen_log.error("Worker crashed", exc_info=True)
        return 1
    if not worker.is_ready:
        gen_log.error("serve() returned without calling ready(): counted as a boot failure")
        return BOOT_FAILED
    return 0


async def _cancel_leftovers() -> None:
    """Cancel the tasks still running (handlers cut off at the deadline); bounded wait."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=LEFTOVER_TIME)


def _on_signal(
    loop: asyncio.AbstractEventLoop, sig: int, callback: Callable[..., object], *args: object
) -> None:
    try:
        loop.add_signal_handler(sig, callback, *args)
    except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
        signal.signal(sig, lambda _s, _f: loop.call_soon_threadsafe(callback, *args))


def _hup_needs_master() -> None:
    gen_log.warning("SIGHUP ignored: rolling restarts need the supervisor (--workers 1 or more)")


def _register_stack_dump() -> None:
    """SIGUSR2 writes every thread's stack to stderr (the watchdog's evidence; no core file)."""
    stream = sys.__stderr__
    if stream is None or not hasattr(signal, "SIGUSR2"):
        return
    try:
        faulthandler.register(signal.SIGUSR2, file=stream, all_threads=True, chain=False)
    except (ValueError, OSError, RuntimeError):  # stderr has no usable fd
        gen_log.debug("faulthandler cannot use stderr; SIGUSR2 dumps nothing")


def _run(
    worker: Worker,
    serve: Serve,
    loop_factory: LoopFactory,
    standalone: bool,
    master_pid: int | None = None,
) -> int:
    global _current
    _current = worker
    loop = loop_factory()
    try:
        return loop.run_until_complete(worker._main(serve, standalone, master_pid))
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGHUP):
            if hasattr(loop, "remove_signal_handler"):
                try:
                    loop.remove_signal_handler(sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        _current = None


def run_child(
    serve: Serve,
    channel: Channel,
    *,
    master_pid: int,
    slot: int,
    generation: int,
    sockets: Iterable[socket.socket],
    graceful_timeout: float,
    max_requests: int,
    loop_factory: LoopFactory,
    board: Scoreboard | None = None,
) -> int:
    """Run a supervised worker to its end in a freshly forked child; return its exit code.

    The caller (the master's fork code) passes it to ``os._exit``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGWINCH, signal.SIGTTIN, signal.SIGTTOU, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    _register_stack_dump()
    # Linux: the kernel sends SIGTERM when the master dies (belt and braces besides EOF).
    set_parent_death_signal(signal.SIGTERM)
    worker = Worker(
        slot=slot,
        generation=generation,
        sockets=sockets,
        graceful_timeout=graceful_timeout,
        max_requests=max_requests,
        channel=channel,
        board=board,
    )
    return _run(worker, serve, loop_factory, standalone=False, master_pid=master_pid)


def run_standalone(
    serve: Serve,
    *,
    sockets: Iterable[socket.socket],
    graceful_timeout: float,
    loop_factory: LoopFactory,
) -> int:
    """Serve in this process, with no master: TERM/INT drain (twice: quick), QUIT is quick.

    Returns the exit code: 0, ``BOOT_FAILED`` when the app could not start, 1 after a crash.
    Signal handlers are installed on the loop, which matters as PID 1 in a container: the
    kernel drops signals that have no handler there."""
    _register_stack_dump()
    worker = Worker(sockets=sockets, graceful_timeout=graceful_timeout)
    return _run(worker, serve, loop_factory, standalone=True)

"""Run a server in several processes: Tornado's ``tornado.process``.

    sockets = bind_sockets(8888)
    fork_processes(0)                 # one child per usable CPU; returns the task id in each
    server = HTTPServer(app)
    server.add_sockets(sockets)
    IOLoop.current().start()

or simply ``server.bind(8888); server.start(0)``. The semantics are Tornado's (see
``squall._supervisor.fork``): same-id restarts of crashed children, ``sys.exit(0)`` in the parent
once all children exited 0, ``RuntimeError`` past ``max_restarts``. squall adds restart backoff,
graceful shutdown on SIGTERM/SIGINT to the parent, and children that never outlive it.

Fork safety: no event loop may exist before the fork. A loop created (``IOLoop.current()``,
``IOLoop.instance()``) or run (``asyncio.run``) in this process makes ``fork_processes`` raise
"Cannot run in multiple processes: ..." before anything is forked. Each child starts with no
loop, and creates a fresh one on first use.

``cpu_count()`` differs from Tornado's on purpose: it counts the *usable* CPUs (affinity mask
and cgroup quota), not the machine's cores.

``Subprocess`` (children a program starts for its own work, with ``PipeIOStream`` pipes and
exit callbacks) lives apart from the fork supervisor, in ``squall._subprocess``.
"""

from __future__ import annotations

from squall import _loop
from squall._subprocess import CalledProcessError, Subprocess
from squall._supervisor import fork as _fork
from squall._supervisor.fork import task_id
from squall._supervisor.worker_guard import register_drain
from squall.ioloop import IOLoop
from squall.log import gen_log

__all__ = [
    "CalledProcessError",
    "Subprocess",
    "cpu_count",
    "fork_processes",
    "note_autoreload",
    "register_drain",
    "task_id",
]

_autoreload_noted = False
_reload_requested = False


def cpu_count() -> int:
    """The number of CPUs this process may use (affinity mask, cgroup quota); at least 1."""
    return _fork.usable_cpu_count()


def fork_processes(
    num_processes: int | None,
    max_restarts: int | None = None,
    *,
    graceful_timeout: float = _fork.GRACEFUL_TIMEOUT,
) -> int:
    """Fork ``num_processes`` children (None or <= 0: one per usable CPU); return the task id.

    Only the children return, each with its id in 0..n-1 and no event loop yet. The parent
    supervises: it restarts crashed children (backoff for crash loops), forwards SIGTERM/SIGINT
    to them and waits up to ``graceful_timeout`` seconds for them to drain, and ends with
    ``sys.exit``; past ``max_restarts`` restarts (None: 100) it stops the children and raises
    RuntimeError. Raises RuntimeError before forking on Windows, when called twice or in a child,
    and when an event loop was already created in this process.
    """
    _fork.ensure_can_fork()
    if _loop.loop_was_created() or _loop.thread_loop() is not None:
        raise RuntimeError(
            "Cannot run in multiple processes: an event loop was already created in this "
            "process (IOLoop.current()/instance() or asyncio). Create the loop after start(n) / "
            "fork_processes(), or use `squall serve --workers N`"
        )
    child = _fork.fork_processes(
        num_processes, max_restarts, graceful_timeout=graceful_timeout, reload=_reload_requested
    )
    # Nothing loop-related can be inherited (we refused above), but start from a clean slate.
    _loop.reset_after_fork()
    IOLoop.clear_current()
    IOLoop.clear_instance()
    return child


def note_autoreload(request_callback: object) -> None:
    """Before ``start(n)`` forks: if the application asked for autoreload (``debug=True``), the
    forking parent takes it over: it watches the source and, on a change, drains the children
    and re-executes the program (a module that does not compile is reported and ignored). The
    children themselves never reload. Logged once, at INFO."""
    global _autoreload_noted, _reload_requested
    settings = getattr(request_callback, "settings", None)
    if _autoreload_noted or not isinstance(settings, dict) or not settings.get("autoreload"):
        return
    _autoreload_noted = _reload_requested = True
    gen_log.info(
        "debug/autoreload with start(n): reload is supervisor-driven (the parent watches the "
        "source and restarts every process on a change); for rolling, zero-downtime reloads "
        "use `squall serve --reload --workers N`"
    )

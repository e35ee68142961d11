"""The ``squall`` command: ``squall serve module:app`` under the supervisor.

    squall serve myproject.web:app --port 8000 --workers auto
    squall serve myproject.web:make_app() --reload          # a factory, called in each worker
    python -m squall serve myproject.web:app --workers 0    # one process, no master

The master binds the listeners, then forks the workers; each worker imports the app *after* the
fork, so a rolling restart (SIGHUP, or ``--reload`` on a source change) serves new code. Every
option also comes from an environment variable (``--port`` from ``SQUALL_PORT``, ...); the
command line wins. docs/deployment.md has the signals, the defaults, systemd and containers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import logging
import os
import select
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from squall import version
from squall._loop import reset_after_fork
from squall._supervisor.fork import usable_cpu_count
from squall._supervisor.master import Master, SupervisorConfig
from squall._supervisor.metrics import bind_metrics, parse_bind
from squall._supervisor.worker import BOOT_FAILED, Serve, Worker, current_worker, run_standalone
from squall.httpserver import HTTPServer
from squall.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from squall.ioloop import IOLoop
from squall.log import LogFormatter, gen_log
from squall.netutil import bind_sockets, bind_unix_socket

__all__ = ["Worker", "build_parser", "current_worker", "main"]

_LOG_FORMAT = (
    "%(color)s[%(levelname)1.1s %(asctime)s %(process)d %(module)s:%(lineno)d]%(end_color)s "
    "%(message)s"
)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_SETTLE_TIME = 1.0  # seconds at most spent accepting queued connections before closing
_EPILOG = """\
signals (to the master): TERM/INT graceful shutdown (a second one: quick), QUIT quick,
HUP rolling restart (new code; aborted if a new worker fails to boot), TTIN/TTOU one worker
more/less, USR1 reopen log files. Exit status: 0 clean, 1 a worker was killed at the deadline,
2 usage error, 3 the app cannot boot. See docs/deployment.md."""


# -- the command line ------------------------------------------------------------------------


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off")


def _workers(value: str) -> int | str:
    if value.strip().lower() == "auto":
        return "auto"
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or 'auto', got {value!r}")
    return count


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; defaults come from ``SQUALL_*`` environment variables when set.

    Raises ValueError naming the variable when a boolean variable holds something else."""
    parser = argparse.ArgumentParser(
        prog="squall", description="squall: a Tornado-compatible web server and framework."
    )
    from squall._http1 import COMPILED

    build = "compiled" if COMPILED else "pure Python"
    parser.add_argument("--version", action="version", version=f"squall {version} ({build})")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve an Application with a supervised pool of worker processes",
        description="Serve APP: bind, fork the workers, supervise them.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EPILOG,
    )
    serve.add_argument(
        "app",
        metavar="APP",
        help="'module:attribute' naming an Application (or any HTTPServerConnectionDelegate, "
        "or a callable taking a request), or 'module:factory()' naming a function (sync or "
        "async) that returns one; imported in each worker after the fork",
    )

    def option(flag: str, help: str, **kwargs: Any) -> None:
        env = "SQUALL_" + flag.lstrip("-").replace("-", "_").upper()
        default = kwargs.pop("default", None)
        shown = f" (default: {default})" if default is not None else ""
        if kwargs.get("action") is argparse.BooleanOptionalAction:
            shown = f" (default: {'on' if default else 'off'})"
            default = _env_bool(env, bool(default))
        elif os.environ.get(env) and kwargs.get("action") != "append":
            default = os.environ[env]  # a string: argparse converts it with ``type``
        serve.add_argument(flag, default=default, help=f"{help}{shown} [env {env}]", **kwargs)

    option("--host", "the address to listen on", default="127.0.0.1")
    option("--port", "the TCP port (0: any free port, logged at startup)", type=int, default=8000)
    option("--unix-socket", "listen on this unix socket path instead of TCP", metavar="PATH")
    option("--backlog", "the listen queue length", type=int, default=2048)
    option(
        "--workers",
        "worker processes under a master: N, or 'auto' for the usable CPUs; 0 serves in "
        "this one process with no master (no HUP, reload, respawn or watchdog)",
        type=_workers,
        default=1,
        metavar="N|auto",
    )
    option(
        "--reuse-port",
        "Linux: each worker binds its own SO_REUSEPORT listener (kernel load balancing) "
        "instead of sharing the master's",
        action=argparse.BooleanOptionalAction,
        default=False,
    )
    option(
        "--graceful-timeout",
        "seconds a shutdown may take from TERM, including draining in-flight requests; keep it "
        "below the orchestrator's grace period",
        type=float,
        default=25.0,
    )
    option(
        "--worker-timeout",
        "seconds without a heartbeat before a worker whose event loop is blocked gets its stack "
        "dumped and is killed and replaced (0: off)",
        type=float,
        default=30.0,
    )
    option(
        "--boot-timeout", "seconds a worker has to import the app and start", type=float,
        default=60.0,
    )  # fmt: skip
    option(
        "--shutdown-delay",
        "seconds to keep serving after TERM while worker.shutting_down is set (readiness "
        "probes should answer 503), before draining",
        type=float,
        default=0.0,
    )
    option(
        "--max-requests",
        "replace a worker after this many requests, once its replacement is ready (0: never)",
        type=int,
        default=0,
    )
    option(
        "--max-requests-jitter",
        "add a random 0..N to each worker's --max-requests (default: 10%% of it)",
        type=int,
        metavar="N",
    )
    option(
        "--reload",
        "watch the source tree and do a rolling restart of all workers on change (watchfiles "
        "when installed, else polling); a broken change keeps the old workers serving",
        action=argparse.BooleanOptionalAction,
        default=False,
    )
    option(
        "--reload-dir",
        "directory to watch with --reload (repeatable; default: the app directory); the "
        "environment variable takes a list separated by the path separator",
        action="append",
        metavar="DIR",
    )
    option(
        "--metrics-bind",
        "serve Prometheus metrics from the master at http://HOST:PORT/metrics (port 0: any "
        "free port, logged at startup); needs --workers 1 or more",
        metavar="HOST:PORT",
    )
    option("--app-dir", "directory put first on sys.path to import APP", default=".")
    option(
        "--xheaders",
        "trust X-Real-Ip/X-Forwarded-For/X-Forwarded-Proto (only behind a proxy you control)",
        action=argparse.BooleanOptionalAction,
        default=False,
    )
    option(
        "--access-log",
        "log one line per request",
        action=argparse.BooleanOptionalAction,
        default=True,
    )
    option(
        "--log-level",
        "the log level",
        default="info",
        choices=["debug", "info", "warning", "error", "critical"],
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``squall`` command; returns the exit status (the console script exits with it)."""
    try:
        parser = build_parser()
    except ValueError as exc:
        print(f"squall: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if args.command != "serve":
        parser.print_help(sys.stderr)
        return 2
    try:
        return _serve(args)
    except _UsageError as exc:
        print(f"squall serve: error: {exc}", file=sys.stderr)
        return 2


class _UsageError(Exception):
    pass


# -- serve -----------------------------------------------------------------------------------


def _setup_logging(level: str, access_log: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    color = sys.stderr.isatty() and not os.environ.get("NO_COLOR")
    handler.setFormatter(LogFormatter(fmt=_LOG_FORMAT, color=color))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("squall.access").disabled = not access_log


def _check(args: argparse.Namespace, workers: int) -> None:
    if ":" not in args.app or not all(args.app.partition(":")[::2]):
        raise _UsageError(
            f"APP must look like 'module:app' or 'module:make_app()', not {args.app!r}"
        )
    if args.reload and workers == 0:
        raise _UsageError("--reload needs the supervisor: use --workers 1 or more")
    if workers and sys.platform == "win32":
        raise _UsageError("worker processes need fork(), which Windows lacks: use --workers 0")
    if args.reuse_port and workers:
        if args.unix_socket:
            raise _UsageError("--reuse-port works with TCP only, not with --unix-socket")
        if sys.platform != "linux":
            raise _UsageError("--reuse-port balances load on Linux only; drop it here")
        if args.max_requests or args.reload:
            try:
                with open("/proc/sys/net/ipv4/tcp_migrate_req", encoding="ascii") as sysctl:
                    migrate = sysctl.read().strip()
            except OSError:
                migrate = "0"
            if migrate != "1":
                gen_log.warning(
                    "--reuse-port with worker replacement: connections queued on a retiring "
                    "worker's socket are reset unless net.ipv4.tcp_migrate_req=1"
                )
    if args.metrics_bind:
        if workers == 0:
            raise _UsageError("--metrics-bind is served by the master: use --workers 1 or more")
        try:
            parse_bind(args.metrics_bind)
        except ValueError as exc:
            raise _UsageError(str(exc)) from None
    if args.max_requests and workers == 0:
        gen_log.warning("--max-requests is ignored with --workers 0 (nothing can replace us)")


def _reload_dirs(args: argparse.Namespace) -> tuple[str, ...]:
    if not args.reload:
        return ()
    dirs = args.reload_dir
    if not dirs:  # SQUALL_RELOAD_DIR: a list separated by os.pathsep
        dirs = [d for d in os.environ.get("SQUALL_RELOAD_DIR", "").split(os.pathsep) if d]
    return tuple(dirs or [args.app_dir])


def _placeholders(host: str, port: int) -> list[socket.socket]:
    """Bound, never listening SO_REUSEPORT sockets: they reserve the port (and pick it, for
    port 0) while each worker listens on its own socket."""
    socks: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        ):
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address[0], port, *address[2:]))
            port = sock.getsockname()[1]
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


def _describe(sock: socket.socket) -> str:
    if sock.family == socket.AF_UNIX:
        return f"unix:{sock.getsockname()}"
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _serve(args: argparse.Namespace) -> int:
    _setup_logging(args.log_level, args.access_log)
    workers: int = usable_cpu_count() if args.workers == "auto" else args.workers
    _check(args, workers)
    app_dir = os.path.abspath(args.app_dir)
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    reuse = bool(args.reuse_port and workers)
    try:
        if args.unix_socket:
            sockets = [bind_unix_socket(args.unix_socket, backlog=args.backlog)]
        elif reuse:
            sockets = _placeholders(args.host, args.port)
        else:
            sockets = bind_sockets(args.port, args.host, backlog=args.backlog)
    except OSError as exc:
        where = args.unix_socket or f"{args.host}:{args.port}"
        gen_log.error("Cannot listen on %s: %s", where, exc)
        return 1
    for sock in sockets:
        gen_log.info("Listening on %s", _describe(sock))
    port = 0 if args.unix_socket else sockets[0].getsockname()[1]
    serve = _make_serve(args, (args.host, port) if reuse else None)
    if workers == 0:
        code = run_standalone(
            serve, sockets=sockets, graceful_timeout=args.graceful_timeout, loop_factory=_new_loop
        )
        if args.unix_socket:
            with contextlib.suppress(OSError):
                os.unlink(args.unix_socket)
        return 3 if code == BOOT_FAILED else code
    metrics_socket = None
    if args.metrics_bind:
        try:
            metrics_socket = bind_metrics(args.metrics_bind)
        except OSError as exc:
            gen_log.error("Cannot serve metrics on %s: %s", args.metrics_bind, exc)
            for sock in sockets:
                sock.close()
            return 1
        gen_log.info("Metrics on %s/metrics", _describe(metrics_socket))
    # The framework (never the app) is imported here once, so that every fork starts with it.
    importlib.import_module("squall.web")
    config = SupervisorConfig(
        workers=workers,
        graceful_timeout=args.graceful_timeout,
        worker_timeout=args.worker_timeout,
        boot_timeout=args.boot_timeout,
        shutdown_delay=args.shutdown_delay,
        max_requests=args.max_requests,
        max_requests_jitter=args.max_requests_jitter,
        reload_dirs=_reload_dirs(args),
        unlink_paths=(args.unix_socket,) if args.unix_socket else (),
    )
    master = Master(
        serve,
        config,
        sockets,
        inherit=not reuse,
        loop_factory=_new_loop,
        metrics_socket=metrics_socket,
    )
    return master.run()


def _new_loop() -> asyncio.AbstractEventLoop:
    reset_after_fork()  # a worker starts with no loop of its own
    return IOLoop(make_current=True).asyncio_loop


# -- the worker side: load the app, serve, count, drain -----------------------------------------


async def load_app(spec: str) -> Any:
    """Import ``module:attribute`` (or call ``module:factory()``, awaiting an awaitable result).

    A function that takes no arguments is called as a factory even without the ``()``."""
    module_name, _, attribute = spec.partition(":")
    factory = attribute.endswith("()")
    attribute = attribute.removesuffix("()")
    importlib.invalidate_caches()
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AttributeError(
                f"{module_name!r} has no attribute {attribute!r}; APP must look like "
                "'module:app' or 'module:make_app()'"
            ) from None
    if not factory and _takes_no_arguments(target):
        # A request callback takes the request; a function that takes nothing can only be
        # a factory (``module:make_app`` written without the parentheses).
        factory = True
    if factory:
        target = target()
        if inspect.isawaitable(target):
            target = await target
    return target


def _takes_no_arguments(target: Any) -> bool:
    if not inspect.isfunction(target):
        return False
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return False
    return not any(
        p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in signature.parameters.values()
    )


def _make_serve(args: argparse.Namespace, own_listener: tuple[str, int] | None) -> Serve:
    async def serve(worker: Worker) -> None:
        app = await load_app(args.app)
        if isinstance(app, HTTPServerConnectionDelegate):
            inner: HTTPServerConnectionDelegate = app
        elif callable(app):
            inner = HTTPServer(app)  # its adapter for plain request callbacks
        else:
            raise TypeError(f"{args.app} is {app!r}, not an Application or a request callback")
        server = HTTPServer(_CountingDelegate(inner, worker), xheaders=args.xheaders)
        if own_listener is not None:
            host, port = own_listener
            sockets = bind_sockets(port, host, backlog=args.backlog, reuse_port=True)
        else:
            sockets = worker.sockets
            worker.on_recycle(server.stop)  # the replacement takes over the shared queue
        server.add_sockets(sockets)
        worker.ready()
        try:
            await worker.wait_drain()
            await _settle_backlog(sockets)
            await server.drain(worker.time_left())
        except asyncio.CancelledError:  # a quick exit: cut every connection now
            server.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.close_all_connections(), 0.5)
            raise

    return serve


async def _settle_backlog(sockets: list[socket.socket]) -> None:
    """Before our listener closes, accept what the kernel already queued and read its request.

    Closing the last descriptor of a listening socket resets the connections in its queue;
    this way each of them gets served once (with ``Connection: close``)."""
    listening = [sock for sock in sockets if sock.fileno() != -1]
    if not listening:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _SETTLE_TIME
    while loop.time() < deadline:
        readable, _, _ = select.select(listening, [], [], 0)
        if not readable:
            break
        await asyncio.sleep(0.005)  # the server's accept handler runs meanwhile
    await asyncio.sleep(0.02)  # freshly accepted connections read their first request


class _CountingDelegate(HTTPServerConnectionDelegate):
    """Wraps the app's delegate to count (and time) requests in flight and served."""

    def __init__(self, inner: HTTPServerConnectionDelegate, worker: Worker) -> None:
        self._inner = inner
        self._worker = worker

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Count the request, and hand the app a connection that reports its end."""
        self._worker.request_started()
        return self._inner.start_request(
            server_conn, _CountedConnection(request_conn, self._worker)
        )

    def on_close(self, server_conn: object) -> None:
        """Pass the close on to the app."""
        self._inner.on_close(server_conn)


class _CountedConnection(HTTPConnection):
    """The protocol's connection, counting the request as done at its end (or its loss)."""

    def __init__(self, inner: HTTPConnection, worker: Worker) -> None:
        self._inner = inner
        self._worker = worker
        self._started = time.monotonic()
        self._done = False
        self._on_close: Callable[[], object] | None = None
        inner.set_close_callback(self._closed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # context and whatever else the protocol offers

    def write_headers(
        self,
        start_line: ResponseStartLine | RequestStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> Awaitable[None]:
        """Delegate."""
        return self._inner.write_headers(start_line, headers, chunk)

    def write(self, chunk: bytes) -> Awaitable[None]:
        """Delegate."""
        return self._inner.write(chunk)

    def finish(self) -> None:
        """Delegate, then count the request as served."""
        self._inner.finish()
        self._count()

    def set_close_callback(self, callback: Any) -> None:
        """Keep the app's callback; ours calls it."""
        self._on_close = callback

    def set_body_timeout(self, timeout: float) -> None:
        """Delegate."""
        self._inner.set_body_timeout(timeout)

    def set_max_body_size(self, max_body_size: int) -> None:
        """Delegate."""
        self._inner.set_max_body_size(max_body_size)

    def upgrade(self, protocol: asyncio.BaseProtocol) -> None:
        """Delegate; the request ends here as far as counting goes."""
        self._inner.upgrade(protocol)
        self._count()

    def _closed(self) -> None:
        self._count()
        callback, self._on_close = self._on_close, None
        if callback is not None:
            callback()

    def _count(self) -> None:
        if not self._done:
            self._done = True
            self._worker.request_finished(time.monotonic() - self._started)

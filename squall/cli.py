"""The ``squall`` command: ``squall serve module:app`` under the supervisor.

    squall serve myproject.web:app --port 8000 --workers auto
    squall serve myproject.web:make_app() --reload          # a factory, called in each worker
    python -m squall serve myproject.web:app --workers 0    # one process, no master

The master checks every option (a bad one is a one-line error and exit status 2, before
anything is bound), binds the listeners, then forks the workers; each worker imports the app
*after* the fork, so a rolling restart (SIGHUP, or ``--reload`` on a source change) serves new
code and re-reads TLS certificates. The listeners are announced (``Listening on ...``) once the
app has loaded. Every option also comes from an environment variable (``--port`` from
``SQUALL_PORT``, ...); the command line wins. The pieces live in ``squall._cli``;
docs/deployment.md has the signals, the defaults, proxies, systemd and containers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import socket
import sys
from typing import Any

from squall import version
from squall._cli import listeners
from squall._cli.appload import load_app, tls_config
from squall._cli.logsetup import LogConfigError, configure
from squall._cli.options import ServeOptions, UsageError, _Parser, add_serve_parser, resolve
from squall._cli.serving import make_serve
from squall._cli.tls import TLSError
from squall._loop import loop_choice, reset_after_fork
from squall._supervisor.fork import usable_cpu_count
from squall._supervisor.master import Master, SupervisorConfig
from squall._supervisor.metrics import bind_metrics
from squall._supervisor.worker import BOOT_FAILED, Worker, current_worker, run_standalone
from squall.ioloop import IOLoop
from squall.log import gen_log

__all__ = ["Worker", "build_parser", "current_worker", "load_app", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``squall`` command (errors raise ``UsageError``).

    Option values are converted and checked afterwards, by ``squall._cli.options.resolve``,
    which also reads the ``SQUALL_*`` environment variables."""
    parser = _Parser(
        prog="squall", description="squall: a Tornado-compatible web server and framework."
    )
    parser.add_argument("--version", action="version", version=f"squall {version} ({_build()})")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_serve_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``squall`` command; returns the exit status (the console script exits with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        command = (
            "squall serve" if "serve" in (sys.argv[1:] if argv is None else argv) else "squall"
        )
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    if args.command != "serve":
        parser.print_help(sys.stderr)
        return 2
    try:
        return _serve(resolve(args))
    except UsageError as exc:
        print(f"squall serve: error: {exc}", file=sys.stderr)
        return 2


def _build() -> str:
    from squall._http1 import COMPILED

    return "compiled" if COMPILED else "pure Python"


def _loop_name() -> str:
    choice = loop_choice()
    if choice == "auto":
        try:
            importlib.import_module("uvloop")
        except ImportError:
            return "asyncio"
        return "uvloop"
    return choice


# -- serve -----------------------------------------------------------------------------------


def _check_before_binding(options: ServeOptions, workers: int) -> None:
    """The checks that read files or the environment: TLS, the trust list, the loop."""
    tls = tls_config(options)
    if tls is not None:
        try:
            tls.context()
        except TLSError as exc:
            raise UsageError(str(exc)) from None
    try:
        loop_choice()
        if options.xheaders and options.forwarded_allow_ips is None:
            from squall._http1.context import default_trust

            default_trust()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if options.reuse_port and workers and (options.max_requests or options.reload):
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
    if options.max_requests and workers == 0:
        gen_log.warning("--max-requests is ignored with --workers 0 (nothing can replace us)")


def _reload_dirs(options: ServeOptions) -> tuple[str, ...]:
    if not options.reload:
        return ()
    return tuple(options.reload_dir or [options.app_dir])


def _listen(options: ServeOptions, reuse: bool) -> tuple[list[socket.socket], bool]:
    """The listening sockets (or the reuse-port placeholders), and whether we bound them (an
    inherited socket's file is not ours to remove); OSError when binding fails, UsageError for
    an inherited descriptor that cannot serve."""
    try:
        if options.fd is not None:
            return [listeners.inherited(options.fd)], False
        activated = listeners.systemd_sockets()
    except ValueError as exc:
        raise UsageError(f"--fd {options.fd}: {exc}" if options.fd is not None else str(exc))
    if activated:
        return activated, False
    if options.unix_socket:
        return [
            listeners.bind_unix(
                options.unix_socket,
                options.unix_socket_mode,
                options.unix_socket_group,
                options.backlog,
            )
        ], True
    if reuse:
        return listeners.placeholders(options.host, options.port), True
    return listeners.bind_tcp(options.host, options.port, options.backlog), True


def _serve(options: ServeOptions) -> int:
    from squall._http1 import COMPILED

    if options.tornado_alias:  # first: a logging config may name Tornado's loggers
        from squall.compat import install_tornado_alias

        try:
            install_tornado_alias()
        except RuntimeError as exc:
            raise UsageError(str(exc)) from None
    try:
        configure(
            level=options.log_level,
            log_format=options.log_format,
            log_config=options.log_config,
            access_log=options.access_log,
            compiled=COMPILED,
        )
    except LogConfigError as exc:
        raise UsageError(str(exc)) from None
    workers: int = usable_cpu_count() if options.workers == "auto" else options.workers
    _check_before_binding(options, workers)
    app_dir = os.path.abspath(options.app_dir)
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    reuse = bool(options.reuse_port and workers)
    try:
        sockets, bound = _listen(options, reuse)
    except OSError as exc:
        where = options.unix_socket or f"{options.host}:{options.port}"
        gen_log.error("Cannot listen on %s: %s", where, exc)
        return 1
    gen_log.info(
        "squall %s (%s build) on Python %s with the %s event loop",
        version, _build(), ".".join(map(str, sys.version_info[:3])), _loop_name(),
    )  # fmt: skip
    own_listener = (options.host, sockets[0].getsockname()[1]) if reuse else None
    serve = make_serve(options, own_listener)
    unlink = (options.unix_socket,) if options.unix_socket and bound else ()
    if workers == 0:
        code = run_standalone(
            serve,
            sockets=sockets,
            graceful_timeout=options.graceful_timeout,
            loop_factory=_new_loop,
        )
        for path in unlink:
            with contextlib.suppress(OSError):
                os.unlink(path)
        return 3 if code == BOOT_FAILED else code
    metrics_socket = None
    if options.metrics_bind:
        try:
            metrics_socket = bind_metrics(options.metrics_bind)
        except OSError as exc:
            gen_log.error("Cannot serve metrics on %s: %s", options.metrics_bind, exc)
            for sock in sockets:
                sock.close()
            return 1
        gen_log.info("Metrics on %s/metrics", listeners.describe(metrics_socket))
    # The framework (never the app) is imported here once, so that every fork starts with it.
    importlib.import_module("squall.web")
    config = SupervisorConfig(
        workers=workers,
        graceful_timeout=options.graceful_timeout,
        worker_timeout=options.worker_timeout,
        boot_timeout=options.boot_timeout,
        shutdown_delay=options.shutdown_delay,
        max_requests=options.max_requests,
        max_requests_jitter=options.max_requests_jitter,
        reload_dirs=_reload_dirs(options),
        unlink_paths=unlink,
    )
    where = [listeners.describe(sock) for sock in sockets]

    def announce() -> None:
        for place in where:
            gen_log.info("Listening on %s", place)

    master = Master(
        serve,
        config,
        sockets,
        inherit=not reuse,
        loop_factory=_new_loop,
        metrics_socket=metrics_socket,
        on_ready=announce,
        description=f"squall {version}, {_build()} build, {_loop_name()} loop, "
        f"serving {options.app} on {', '.join(where)}",
    )
    return master.run()


def _new_loop() -> asyncio.AbstractEventLoop:
    reset_after_fork()  # a worker starts with no loop of its own
    loop: Any = IOLoop(make_current=True).asyncio_loop
    return loop  # type: ignore[no-any-return]

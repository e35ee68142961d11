"""Each worker's ``serve()``: load APP, serve it with the options' limits, count, log, drain.

Around every request of the app goes the per-request layer of ``request_layer`` (the
concurrency cap, the request id, the root path, counting and the access line).
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
from typing import Any

from squall._cli.appload import load_app, plan_server
from squall._cli.listeners import describe
from squall._cli.options import ServeOptions
from squall._cli.request_layer import ServeSettings, ServingDelegate
from squall._cli.tls import TLSError
from squall._server import Server
from squall._supervisor.worker import BootError, Serve, Worker
from squall.log import gen_log
from squall.netutil import bind_sockets

__all__ = ["make_serve"]

SETTLE_TIME = 1.0  # seconds at most spent accepting queued connections before closing


def make_serve(options: ServeOptions, own_listener: tuple[str, int] | None) -> Serve:
    """The coroutine function each worker runs (``own_listener``: reuse-port host and port)."""
    settings = ServeSettings(
        options.limit_concurrency, options.root_path, options.access_log_format
    )

    async def serve(worker: Worker) -> None:
        target = await load_app(options.app)
        try:
            plan = plan_server(target, options)
        except TLSError as exc:
            raise BootError(str(exc)) from None
        _replace_access_line(plan.app)
        delegate = ServingDelegate(plan.delegate, worker, settings)
        server = Server(delegate, plan.params, plan.ssl_context, proxy_protocol=plan.proxy_protocol)
        if own_listener is not None:
            host, port = own_listener
            sockets = bind_sockets(port, host, backlog=options.backlog, reuse_port=True)
        else:
            sockets = worker.sockets
            worker.on_recycle(server.stop)  # the replacement takes over the shared queue
        server.add_sockets(sockets, asyncio.get_running_loop())
        context = plan.ssl_context
        if context is not None and options.ssl_certfile:
            from squall._cli.appload import tls_config

            tls = tls_config(options)
            assert tls is not None
            worker.on_hup(lambda: _reload_certificates(tls, context))
        worker.ready()
        if not worker.supervised:
            for sock in sockets:
                gen_log.info("Listening on %s", describe(sock))
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


def _reload_certificates(tls: Any, context: Any) -> None:
    try:
        tls.load_into(context)
    except TLSError as exc:
        gen_log.error("HUP: the TLS certificate was not reloaded: %s", exc)
    else:
        gen_log.info("HUP: reloaded the TLS certificate from %s", tls.certfile)


def _no_access_line(handler: object) -> None:
    """The application's access line, off: ``squall serve`` writes its own."""


def _replace_access_line(app: Any) -> None:
    # An Application without a log_function setting would log a second, shorter line.
    if getattr(app, "_log_function", False) is None:
        with contextlib.suppress(AttributeError, TypeError):
            app._log_function = _no_access_line


async def _settle_backlog(sockets: list[socket.socket]) -> None:
    """Before our listener closes, accept what the kernel already queued and read its request.

    Closing the last descriptor of a listening socket resets the connections in its queue;
    this way each of them gets served once (with ``Connection: close``)."""
    listening = [sock for sock in sockets if sock.fileno() != -1]
    if not listening:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_TIME
    while loop.time() < deadline:
        readable, _, _ = select.select(listening, [], [], 0)
        if not readable:
            break
        await asyncio.sleep(0.005)  # the server's accept handler runs meanwhile
    await asyncio.sleep(0.02)  # freshly accepted connections read their first request

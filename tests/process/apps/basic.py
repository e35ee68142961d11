"""A small app for the supervisor tests, served with ``python -m squall serve``.

Handlers: ``/pid`` (``pid slot generation``), ``/sleep?s=`` (awaits), ``/block?s=`` (blocks the
loop with ``time.sleep``), ``/version``, ``/ready`` (503 once the worker is shutting down),
``/info`` (what the app sees of the request, as JSON; also under ``/api/info``), ``/echo``
(POST: the body's length).

``SQUALL_TEST_CONTROL`` names a file read at import: its content is the app's version, and
``broken`` makes the import fail (a boot failure). A shutdown hook prints
``shutdown hook ran <pid>`` to stderr. ``crashing_app()`` is a factory whose worker exits with
status 1 ``SQUALL_TEST_CRASH_AFTER`` seconds after it starts.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from squall import web
from squall.cli import current_worker

_CONTROL = os.environ.get("SQUALL_TEST_CONTROL")
VERSION = "v0"
if _CONTROL:
    with open(_CONTROL, encoding="utf-8") as control:
        VERSION = control.read().strip()
if VERSION == "broken":
    raise RuntimeError("this version of the app is broken on purpose")


class PidHandler(web.RequestHandler):
    def get(self) -> None:
        worker = current_worker()
        slot, generation = (worker.slot, worker.generation) if worker else (-1, -1)
        self.write(f"{os.getpid()} {slot} {generation}")


class SleepHandler(web.RequestHandler):
    async def get(self) -> None:
        try:
            await asyncio.sleep(float(self.get_argument("s", "1")))
        except asyncio.CancelledError:
            sys.stderr.write(f"sleep handler cancelled {os.getpid()}\n")
            raise
        self.write(f"slept {os.getpid()}")


class BlockHandler(web.RequestHandler):
    def get(self) -> None:
        time.sleep(float(self.get_argument("s", "1")))
        self.write(f"blocked {os.getpid()}")


class VersionHandler(web.RequestHandler):
    def get(self) -> None:
        self.write(VERSION)


class ReadyHandler(web.RequestHandler):
    def get(self) -> None:
        worker = current_worker()
        if worker is not None and worker.shutting_down:
            self.set_status(503)
            self.write("shutting down")
        else:
            self.write("ready")


class InfoHandler(web.RequestHandler):
    def get(self) -> None:
        request = self.request
        self.write(
            {
                "remote_ip": request.remote_ip,
                "protocol": request.protocol,
                "host": request.host,
                "path": request.path,
                "uri": request.uri,
                "request_id": request.headers.get("X-Request-Id"),
                "prefix": request.headers.get("X-Forwarded-Prefix"),
            }
        )


class EchoHandler(web.RequestHandler):
    def post(self) -> None:
        self.write(str(len(self.request.body)))


def _hook() -> None:
    sys.stderr.write(f"shutdown hook ran {os.getpid()}\n")
    sys.stderr.flush()


app = web.Application(
    [
        (r"/pid", PidHandler),
        (r"/sleep", SleepHandler),
        (r"/block", BlockHandler),
        (r"/version", VersionHandler),
        (r"/ready", ReadyHandler),
        (r"/info", InfoHandler),
        (r"/api/info", InfoHandler),
        (r"/echo", EchoHandler),
    ]
)

if (_worker := current_worker()) is not None:
    _worker.on_shutdown(_hook)


def crashing_app() -> web.Application:
    """The app, in a worker that exits with status 1 a little after it starts."""
    delay = float(os.environ.get("SQUALL_TEST_CRASH_AFTER", "1"))
    asyncio.get_running_loop().call_later(delay, os._exit, 1)
    return app


def make_app() -> web.Application:
    """A plain factory: ``basic:make_app()``."""
    return app


async def make_app_async() -> web.Application:
    """An async factory (its startup can await): ``basic:make_app_async()``."""
    await asyncio.sleep(0)
    return app


def limited_server() -> object:
    """A factory returning an ``HTTPServer`` with its own limits (a 100-byte body limit)."""
    from squall.httpserver import HTTPServer

    return HTTPServer(app, max_body_size=100, xheaders=True)


def tls_server() -> object:
    """A factory returning an ``HTTPServer`` with ``ssl_options`` from SQUALL_TEST_CERT/KEY."""
    from squall.httpserver import HTTPServer

    options = {"certfile": os.environ["SQUALL_TEST_CERT"], "keyfile": os.environ["SQUALL_TEST_KEY"]}
    return HTTPServer(app, ssl_options=options)


def listening_server() -> object:
    """A factory returning an ``HTTPServer`` that already listens: refused."""
    from squall.httpserver import HTTPServer

    server = HTTPServer(app)
    server.bind(0, "127.0.0.1")
    return server


def not_an_app() -> object:
    """A factory returning something that cannot serve."""
    return 42

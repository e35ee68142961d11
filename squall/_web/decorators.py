"""Decorators for handlers: authenticated, removeslash, addslash, stream_request_body, and the
Tornado-era ``asynchronous``."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from squall import _stack_context
from squall._web.errors import HTTPError
from squall._web.handler import RequestHandler
from squall.log import app_log

__all__ = [
    "addslash",
    "asynchronous",
    "authenticated",
    "removeslash",
    "stream_request_body",
    "threaded",
]

_F = TypeVar("_F", bound=Callable[..., Any])
_H = TypeVar("_H", bound=type[RequestHandler])


def authenticated(method: _F) -> _F:
    """Require a logged-in user (``current_user``) for this verb method.

    Without one, GET and HEAD are redirected to ``login_url`` with ``?next=<this URL>``
    (the full URL when ``login_url`` is absolute; nothing is appended when it already has a
    query); other methods get 403."""

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Any:
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                url = self.get_login_url()
                if "?" not in url:
                    if urlsplit(url).scheme:
                        next_url = self.request.full_url()
                    else:
                        next_url = self.request.uri
                    url += "?" + urlencode({"next": next_url})
                self.redirect(url)
                return None
            raise HTTPError(403)
        return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def removeslash(method: _F) -> _F:
    """Redirect ``/path/`` to ``/path`` (301 for GET/HEAD, 404 for other methods).

    Use a pattern like ``r'/foo/*'`` so the slashed form reaches the handler."""

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Any:
        path = self.request.path
        if path.endswith("/"):
            if self.request.method not in ("GET", "HEAD"):
                raise HTTPError(404)
            uri = path.rstrip("/")
            if uri:  # "/" itself stays: there is nothing to remove
                uri = _same_origin(uri)
                if self.request.query:
                    uri += "?" + self.request.query
                self.redirect(uri, permanent=True)
                return None
        return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def addslash(method: _F) -> _F:
    """Redirect ``/path`` to ``/path/`` (301 for GET/HEAD, 404 for other methods).

    Use a pattern like ``r'/foo/?'`` so the unslashed form reaches the handler."""

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Any:
        if not self.request.path.endswith("/"):
            if self.request.method not in ("GET", "HEAD"):
                raise HTTPError(404)
            uri = _same_origin(self.request.path + "/")
            if self.request.query:
                uri += "?" + self.request.query
            self.redirect(uri, permanent=True)
            return None
        return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _same_origin(path: str) -> str:
    """``path``, refused with 403 when it starts with two slashes (or a slash and a
    backslash, which browsers read as a slash): ``//evil.example`` as a Location would be a
    protocol-relative open redirect."""
    if path[:2] in ("//", "/\\"):
        raise HTTPError(403, "cannot redirect path with two initial slashes")
    return path


def stream_request_body(cls: _H) -> _H:
    """Class decorator: deliver the body to ``data_received(chunk)`` as it arrives.

    ``prepare`` runs once the headers are in (before the body; it may set
    ``self.request.connection.set_max_body_size``/``set_body_timeout``), then
    ``data_received`` for each chunk, then the verb method once the body is complete."""
    if not issubclass(cls, RequestHandler):
        raise TypeError(f"expected a RequestHandler subclass, got {cls!r}")
    cls._stream_request_body = True
    return cls


def asynchronous(method: _F) -> _F:
    """Legacy (Tornado <= 5.1): the response is finished by the handler itself, later.

    The connection stays open after the verb method returns; the handler calls ``finish()``
    from a later callback (``IOLoop.add_timeout``, ``add_callback``, an HTTP client
    callback...). Exceptions raised in those callbacks are routed to the handler, as
    Tornado's stack contexts did: the first one becomes a ``500`` through ``send_error`` and
    is logged once; later ones, once the response is finished, are not logged again.
    Combined with ``@gen.coroutine`` (or an ``async def``), the response is finished when the
    returned awaitable resolves.
    """

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Any:
        self._auto_finish = False

        def sink(exc: BaseException) -> bool:
            if self._finished:
                app_log.debug("Exception after the response finished: %r", exc)
                return True
            try:
                raise exc
            except Exception as e:  # re-raised so that sys.exc_info() holds it for logging
                self._handle_request_exception(e)
            return True

        token = _stack_context.push_sink(sink)
        try:
            result = method(self, *args, **kwargs)
        finally:
            _stack_context._sinks.reset(token)
        if result is not None and inspect.isawaitable(result):
            return _finish_when_done(self, result)
        return result

    return wrapper  # type: ignore[return-value]


async def _finish_when_done(handler: RequestHandler, awaitable: Any) -> None:
    await awaitable
    if not handler._finished:
        handler.finish()


def threaded(method: _F) -> _F:
    """Run a synchronous verb method in the application's thread pool, so that a blocking call
    (``time.sleep``, a blocking database driver) blocks only itself, not the event loop.

        class SleepHandler(RequestHandler):
            @threaded
            def get(self):
                time.sleep(5)            # other requests are served meanwhile
                self.write("slept")

    Inside the method ``write``, ``set_header``, ``add_header``, ``set_status``,
    ``get_argument`` (and the other input methods) work; the response is finished on the event
    loop when the method returns. ``flush``, ``finish``, ``redirect`` and ``render`` touch the
    connection and raise ``RuntimeError`` there. The pool's size is the ``thread_pool_size``
    setting (default 16 threads, created on first use).
    """

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Any:
        pool = self.application.thread_pool

        def run() -> Any:
            self._in_thread = True
            try:
                return method(self, *args, **kwargs)
            finally:
                self._in_thread = False

        loop = asyncio.get_running_loop()
        return loop.run_in_executor(pool, contextvars.copy_context().run, run)

    return wrapper  # type: ignore[return-value]

"""``AsyncHTTPClient`` (configurable, one shared instance per IOLoop) and ``HTTPClient``.

``AsyncHTTPClient`` is a ``squall.util.Configurable``: ``AsyncHTTPClient()`` builds the
configured implementation (``SimpleAsyncHTTPClient`` unless ``AsyncHTTPClient.configure``
chose another), passing the keyword arguments of ``configure`` and of the call to its
``initialize``. Without ``force_instance=True`` each class keeps one instance per IOLoop and
returns it again. ``fetch`` turns its arguments into a request and hands it to the
implementation's ``fetch_impl``; the Future it returns is a plain Future, so cancelling it
abandons the result, not the request.

The default implementation is registered, not imported: ``SimpleAsyncHTTPClient`` subclasses
``AsyncHTTPClient``, so this module naming it would close an import circle. Its module calls
:func:`set_default_client` when imported, and ``squall.httpclient`` (the public module)
imports it, so ``AsyncHTTPClient()`` always has its default there.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable
from typing import Any

from squall._client.messages import HTTPRequest, HTTPResponse, _RequestProxy
from squall.concurrent import (
    future_set_exception_unless_cancelled,
    future_set_result_unless_cancelled,
)
from squall.ioloop import IOLoop
from squall.util import Configurable

__all__ = ["AsyncHTTPClient", "HTTPClient", "set_default_client"]

# Every class's instance cache (IOLoop -> client), weakly: `_close_shared` walks them all.
_CACHES: weakref.WeakKeyDictionary[type, weakref.WeakKeyDictionary[IOLoop, AsyncHTTPClient]]
_CACHES = weakref.WeakKeyDictionary()

# The class `AsyncHTTPClient()` builds when none is configured (see the module docstring).
_default_client: type[AsyncHTTPClient] | None = None


def set_default_client(cls: type[AsyncHTTPClient]) -> None:
    """Make ``cls`` the implementation ``AsyncHTTPClient()`` builds when ``configure`` chose
    none (``squall._client.simple`` registers ``SimpleAsyncHTTPClient`` so)."""
    global _default_client
    _default_client = cls


class AsyncHTTPClient(Configurable):
    """A non-blocking HTTP client with Tornado's interface.

        client = AsyncHTTPClient()
        response = await client.fetch("http://www.example.com/")

    ``AsyncHTTPClient()`` returns the IOLoop's shared instance of the configured class
    (made on first use); ``force_instance=True`` makes a private one, which you close.
    Keyword arguments go to the implementation's ``initialize`` (for the default,
    ``SimpleAsyncHTTPClient``: ``max_clients``, ``hostname_mapping``, ``max_buffer_size``,
    ``resolver``, ``defaults``, ``max_header_size``, ``max_body_size``); ``defaults`` gives
    default :class:`HTTPRequest` options. ``configure(impl, **kwargs)`` changes the class
    (and default arguments) ``AsyncHTTPClient()`` builds from then on.
    """

    io_loop: IOLoop
    defaults: dict[str, Any]
    _closed: bool
    _instance_cache: weakref.WeakKeyDictionary[IOLoop, AsyncHTTPClient] | None

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        """``AsyncHTTPClient`` itself."""
        return AsyncHTTPClient

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        """``SimpleAsyncHTTPClient`` (registered by its module, see the module docstring)."""
        if _default_client is None:
            raise RuntimeError(
                "no default AsyncHTTPClient implementation is loaded: import squall.httpclient "
                "(or squall.simple_httpclient) rather than squall._client.base"
            )
        return _default_client

    @classmethod
    def _async_clients(cls) -> weakref.WeakKeyDictionary[IOLoop, AsyncHTTPClient]:
        cache = _CACHES.get(cls)
        if cache is None:
            cache = _CACHES[cls] = weakref.WeakKeyDictionary()
        return cache

    def __new__(cls, force_instance: bool | IOLoop = False, **kwargs: Any) -> AsyncHTTPClient:
        """The current IOLoop's shared instance of ``cls``, made on first use; a new private
        instance with ``force_instance=True``. (An IOLoop in place of ``force_instance``, as
        Tornado 4 passed it, is ignored.)"""
        io_loop = IOLoop.current()
        forced = bool(force_instance) and not isinstance(force_instance, IOLoop)
        cache = None if forced else cls._async_clients()
        if cache is not None:
            shared = cache.get(io_loop)
            if shared is not None and not shared._closed:
                return shared
        instance: AsyncHTTPClient = super().__new__(cls, **kwargs)
        instance._instance_cache = cache
        if cache is not None:
            cache[instance.io_loop] = instance
        return instance

    def initialize(self, defaults: dict[str, Any] | None = None) -> None:
        """Set the client up: its IOLoop and its request ``defaults``."""
        self.io_loop = IOLoop.current()
        self.defaults = dict(HTTPRequest._DEFAULTS)
        if defaults is not None:
            self.defaults.update(defaults)
        self._closed = False

    def close(self) -> None:
        """Free what the client holds; a shared instance is replaced on the next
        ``AsyncHTTPClient()``. Requests under way finish. Calling it again does nothing.

        Raises RuntimeError if the instance cache no longer holds this shared instance (a
        sign that two clients were mixed up)."""
        if self._closed:
            return
        self._closed = True
        cache = self._instance_cache
        if cache is not None:
            cached = cache.get(self.io_loop)
            if cached is not None and cached is not self:
                raise RuntimeError("inconsistent AsyncHTTPClient cache")
            cache.pop(self.io_loop, None)

    def fetch(
        self,
        request: HTTPRequest | str,
        raise_error: bool = True,
        callback: Callable[[HTTPResponse], object] | None = None,
        **kwargs: Any,
    ) -> asyncio.Future[HTTPResponse]:
        """Fetch ``request`` (a URL, with ``kwargs`` as :class:`HTTPRequest` options, or an
        ``HTTPRequest``); return a Future of the :class:`HTTPResponse`.

        A non-2xx status raises :class:`HTTPClientError` carrying the response, unless
        ``raise_error=False``, which returns such responses. Every other failure raises
        whatever ``raise_error`` says: a timeout ``HTTPTimeoutError``, a closed connection or
        a malformed answer ``HTTPStreamClosedError`` (all three code 599), a network error
        its ``OSError`` (as Tornado's client raises it), misuse ``ValueError``.
        The legacy ``callback=`` (Tornado 5) is called on the IOLoop with the response, any
        error as ``response.error``, and the Future then always gives the response.
        """
        if self._closed:
            raise RuntimeError("fetch() called on a closed AsyncHTTPClient; make a new one")
        if not isinstance(request, HTTPRequest):
            request = HTTPRequest(url=request, **kwargs)
        elif kwargs:
            raise ValueError("kwargs can't be used if request is an HTTPRequest object")
        # The client adds fields (Host, Accept-Encoding, ...): never to the caller's object.
        request.headers = request.headers.copy()
        future: asyncio.Future[HTTPResponse] = self.io_loop.asyncio_loop.create_future()
        if callback is not None:
            done = functools.partial(self._legacy_callback, future, callback)
        else:
            done = functools.partial(self._settle, future, raise_error)
        self.fetch_impl(_RequestProxy(request, self.defaults), done)  # type: ignore[arg-type]
        return future

    @staticmethod
    def _settle(
        future: asyncio.Future[HTTPResponse], raise_error: bool, response: HTTPResponse
    ) -> None:
        error = response.error
        if error is not None and (raise_error or not response._error_is_response_code):
            future_set_exception_unless_cancelled(future, error)
        else:
            future_set_result_unless_cancelled(future, response)

    def _legacy_callback(
        self,
        future: asyncio.Future[HTTPResponse],
        callback: Callable[[HTTPResponse], object],
        response: HTTPResponse,
    ) -> None:
        self.io_loop.add_callback(callback, response)
        future_set_result_unless_cancelled(future, response)

    def fetch_impl(self, request: HTTPRequest, callback: Callable[[HTTPResponse], None]) -> None:
        """Perform ``request`` (an ``HTTPRequest`` seen through the client's defaults) and
        call ``callback(response)`` exactly once, a failure as a 599 response whose
        ``error`` is the exception. Implementations override it."""
        raise NotImplementedError()

    @classmethod
    def configure(cls, impl: type[Configurable] | str | None, **kwargs: Any) -> None:
        """Make ``AsyncHTTPClient()`` build ``impl`` (a subclass or its dotted name; None for
        the default) with ``kwargs`` as default arguments, e.g.
        ``AsyncHTTPClient.configure(None, max_clients=50, defaults={"user_agent": "bot"})``.
        Instances already made are not changed."""
        super().configure(impl, **kwargs)

    @classmethod
    def _close_shared(cls, loop: asyncio.AbstractEventLoop) -> None:
        """Close every shared client of ``loop`` (an asyncio loop), of every class: test
        teardown calls it before closing the loop."""
        for cache in list(_CACHES.values()):
            for io_loop, client in list(cache.items()):
                if io_loop.asyncio_loop is loop:
                    client.close()


class HTTPClient:
    """A blocking HTTP client, for scripts and tests:

        client = HTTPClient()
        try:
            print(client.fetch("http://www.example.com/").body)
        finally:
            client.close()

    It runs an ``AsyncHTTPClient`` (``async_client_class``, built with ``kwargs``) on a
    private IOLoop, so it cannot be used while an event loop runs in the same thread: use
    ``AsyncHTTPClient`` there.
    """

    def __init__(
        self, async_client_class: type[AsyncHTTPClient] | None = None, **kwargs: Any
    ) -> None:
        self._closed = True  # until the client exists: close() has nothing to do before
        self._io_loop = IOLoop(make_current=False)
        client_class = async_client_class if async_client_class is not None else AsyncHTTPClient

        async def make_client() -> AsyncHTTPClient:
            await asyncio.sleep(0)
            return client_class(**kwargs)

        try:
            self._async_client = self._io_loop.run_sync(make_client)
        except BaseException:
            self._io_loop.close()
            raise
        self._closed = False

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Close the client and its IOLoop; calling it again does nothing."""
        if not self._closed:
            self._closed = True
            self._async_client.close()
            self._io_loop.close()

    def fetch(self, request: HTTPRequest | str, **kwargs: Any) -> HTTPResponse:
        """Fetch ``request`` and return the response; raises as the async ``fetch`` does
        (``raise_error=False`` returns error statuses as responses)."""
        if self._closed:
            raise RuntimeError("fetch() called on a closed HTTPClient; make a new one")
        return self._io_loop.run_sync(
            functools.partial(self._async_client.fetch, request, **kwargs)
        )

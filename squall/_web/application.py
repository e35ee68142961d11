"""Application: settings, the handler table, and the per-request dispatcher.

``Application`` is a :class:`~squall.routing.ReversibleRouter` (so an
:class:`~squall.httputil.HTTPServerConnectionDelegate`): the server calls
:meth:`Application.start_request` for each request and feeds the returned
:class:`_RequestDispatcher`, which routes through the application's route table, builds
the handler and runs its lifecycle; a rule whose target is not a handler (a nested router,
a server delegate, a callable) gets the delegate that target gives, and the dispatcher
forwards the message to it. Under another router, :meth:`Application.find_handler` gives
the same dispatcher with the route already chosen (Tornado's ``get_handler_delegate``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Final

from squall._compiled import mypyc_attr
from squall._types import MaybeAwaitable
from squall._web.builtin import ErrorHandler
from squall._web.errors import HTTPError
from squall._web.handler import RequestHandler, execute_handler, status_of
from squall._web.matchers import AnyMatches, DefaultHostMatches, HostMatches, UndecodablePath
from squall._web.routing import RouteTable
from squall._web.rules import ReversibleRouter, Rule, _ApplicationRouter
from squall._web.static import StaticFileHandler
from squall._web.templates import check_settings as check_template_settings
from squall._web.transforms import GZipContentEncoding, OutputTransform
from squall._web.uimodules import DEFAULT_UI_MODULES, collect_ui_methods, collect_ui_modules
from squall.httputil import (
    DirectMessageDelegate,
    FormError,
    HTTPConnection,
    HTTPHeaders,
    HTTPInputError,
    HTTPMessageDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
)
from squall.log import access_log, app_log, gen_log

if TYPE_CHECKING:
    from squall.httpserver import HTTPServer

__all__ = ["Application"]

_INFO: Final = 20
_WARNING: Final = 30
_ERROR: Final = 40
_access_log: Final = access_log  # read from a C static in the compiled build


def _is_handler_class(target: Any) -> bool:
    """Whether a rule's target is a RequestHandler subclass (routed by the dispatcher)."""
    return isinstance(target, type) and issubclass(target, RequestHandler)


@mypyc_attr(allow_interpreted_subclasses=True)
class Application(ReversibleRouter):
    """A collection of request handlers that make up a web application.

        app = Application([
            (r"/", MainHandler),
            (r"/user/([0-9]+)", UserHandler, {"db": db}, "user"),
        ], cookie_secret="...", debug=False)
        app.listen(8888)

    Rules are ``(pattern, Handler[, kwargs[, name]])`` tuples, :class:`URLSpec`/``url``
    objects or :class:`~squall.routing.Rule` s with any matcher; a handler may be given as a
    dotted string, and a target may also be another router or application, a server
    delegate, a callable taking the request, or a list of rules (a nested group). Static
    routes are found by a dict lookup, the rest in order (``squall/_web/routing.py``).
    :meth:`add_handlers` adds rules for a virtual host; ``wildcard_router`` (the
    constructor's rules) and ``default_router`` (the host groups, then the wildcard rules)
    are Tornado's rule routers and may be given rules directly. ``settings`` follow
    Tornado: ``debug``
    (implies ``serve_traceback``, ``compiled_template_cache=False``,
    ``static_hash_cache=False`` and ``autoreload``, unless set explicitly),
    ``compress_response`` (alias ``gzip``), ``cookie_secret``, ``login_url``, ``xsrf_cookies``,
    ``template_path``/``template_loader``/``template_whitespace``/``autoescape``/
    ``compiled_template_cache``/``ui_modules``/``ui_methods`` (see ``RequestHandler.render``),
    ``static_path``/``static_url_prefix``/``static_handler_class``/
    ``static_handler_args``, ``default_handler_class``/``default_handler_args``,
    ``log_function``, ``serve_traceback``, ``blocking_log_threshold`` (seconds; log a warning
    naming the handler when the event loop is blocked that long; 0.1 with ``debug``), and
    squall's ``parse_body_config`` (a :class:`~squall.httputil.ParseBodyConfig` for this
    application's form bodies; the process-wide default otherwise).
    """

    #: Handlers send ``Server`` themselves (and may clear it): the server adds none.
    sets_server_header: ClassVar[bool] = True

    def __init__(
        self,
        handlers: Iterable[Any] | None = None,
        default_host: str | None = None,
        transforms: list[type[OutputTransform]] | None = None,
        **settings: Any,
    ) -> None:
        if settings.get("debug"):
            settings.setdefault("autoreload", True)
            settings.setdefault("compiled_template_cache", False)
            settings.setdefault("static_hash_cache", False)
            settings.setdefault("serve_traceback", True)
            settings.setdefault("blocking_log_threshold", 0.1)
        if "gzip" in settings and "compress_response" not in settings:
            settings["compress_response"] = settings["gzip"]
        self.settings = settings
        if transforms is None:
            self.transforms: list[type[OutputTransform]] = []
            if settings.get("compress_response"):
                self.transforms.append(GZipContentEncoding)
        else:
            self.transforms = list(transforms)
        self.default_host = default_host
        self._thread_pool: concurrent.futures.ThreadPoolExecutor | None = None
        # Templates: the built-in UI modules, then the application's (settings checked now,
        # not at the first render).
        self.ui_modules: dict[str, Any] = dict(DEFAULT_UI_MODULES)
        self.ui_methods: dict[str, Any] = {}
        self._load_ui_modules(settings.get("ui_modules", {}))
        self._load_ui_methods(settings.get("ui_methods", {}))
        check_template_settings(settings)
        rules = list(handlers or [])
        static_path = settings.get("static_path")
        if static_path:
            rules[:0] = self._static_rules(static_path)
        self.wildcard_router = _ApplicationRouter(self, rules, is_handler=_is_handler_class)
        self.default_router = _ApplicationRouter(
            self, [Rule(AnyMatches(), self.wildcard_router)], is_handler=_is_handler_class
        )
        self._table: RouteTable = self.default_router.route_table
        # A subclass that routes its own way (Tornado's extension points) is asked itself.
        cls = type(self)
        self._own_routing = (
            cls.find_handler is not _find_handler
            or cls.get_handler_delegate is not _get_handler_delegate
        )
        self._log_function: Callable[[RequestHandler], None] | None = settings.get("log_function")
        if settings.get("autoreload"):
            self._start_autoreload()
        if settings.get("blocking_log_threshold"):
            self._start_block_detector(settings["blocking_log_threshold"])

    @property
    def static_handler_class(self) -> type[StaticFileHandler]:
        """The handler class of static files: the ``static_handler_class`` setting, else
        :class:`~squall.web.StaticFileHandler` (``RequestHandler.static_url`` asks it here)."""
        handler_class: type[StaticFileHandler] = self.settings.get(
            "static_handler_class", StaticFileHandler
        )
        return handler_class

    def _static_rules(self, static_path: Any) -> list[tuple[Any, ...]]:
        settings = self.settings
        prefix = settings.get("static_url_prefix", "/static/")
        handler_class = self.static_handler_class
        args = dict(settings.get("static_handler_args", {}))
        args["path"] = static_path
        return [
            (rf"{_escape_regex(prefix)}(.*)", handler_class, args),
            (r"/(favicon\.ico)", handler_class, args),
            (r"/(robots\.txt)", handler_class, args),
        ]

    def _start_autoreload(self) -> None:
        try:
            from squall import autoreload
        except ImportError:
            gen_log.debug("autoreload requested but squall.autoreload is not available")
            return
        autoreload.start()

    def _start_block_detector(self, seconds: float) -> None:
        from squall._observe import blocking  # lazy: only when asked for

        blocking.request(seconds)

    @property
    def thread_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """The pool ``@threaded`` methods run in (``thread_pool_size`` threads, default 16).

        Created on first use, so building an Application starts no thread (it may fork)."""
        pool = self._thread_pool
        if pool is None:
            size = int(self.settings.get("thread_pool_size", 16))
            pool = self._thread_pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=size, thread_name_prefix="squall-threaded"
            )
        return pool

    # -- configuration -----------------------------------------------------------------------

    def add_handlers(self, host_pattern: str, host_handlers: Iterable[Any]) -> None:
        """Add rules for a virtual host: ``host_pattern`` is a regex (``$`` appended) on the
        request's host name (lower case, no port).

        Host groups are tried in the order they were added, all before the constructor's
        rules; a group whose host matches but which has no rule for the path lets the next
        one try. With a ``default_host``, the group also serves requests for other hosts
        when its pattern matches ``default_host`` and the request has no ``X-Real-Ip``
        header (after every host group and the constructor's rules)."""
        host_matcher = HostMatches(host_pattern)
        rules = list(host_handlers)
        group = _ApplicationRouter(self, rules, is_handler=_is_handler_class)
        self.default_router.rules.insert(-1, Rule(host_matcher, group))
        if self.default_host is not None:
            self.wildcard_router.add_rules(
                [(DefaultHostMatches(self, host_matcher.host_pattern), rules)]
            )

    def _load_ui_modules(self, modules: Any) -> None:
        # Tornado's name: UIModule subclasses from a Python module, a dict, or a list of them.
        collect_ui_modules(modules, self.ui_modules)

    def _load_ui_methods(self, methods: Any) -> None:
        # Tornado's name: the functions of a Python module, a dict, or a list of them.
        collect_ui_methods(methods, self.ui_methods)

    def add_transform(self, transform_class: type[OutputTransform]) -> None:
        """Add an output transform class (applied to every response)."""
        self.transforms.append(transform_class)

    def reverse_url(self, name: str, *args: Any) -> str:
        """The URL path of the rule called ``name``, with ``args`` in its groups.

        Host groups are searched first, in order, then the constructor's rules. An unknown
        name raises ``KeyError``; a pattern that cannot be reversed, ``ValueError``."""
        found = self.default_router.reverse_url(name, *args)
        if found is None:
            raise KeyError(f"{name} not found in named urls")
        return found

    def listen(
        self,
        port: int,
        address: str | None = None,
        *,
        family: Any = None,
        backlog: int = 128,
        flags: int | None = None,
        reuse_port: bool = False,
        **kwargs: Any,
    ) -> HTTPServer:
        """Start an :class:`~squall.httpserver.HTTPServer` for this application on ``port``.

        Extra keyword arguments go to the ``HTTPServer``; returns it."""
        from squall.httpserver import HTTPServer  # the facade above: only when asked for

        server = HTTPServer(self, **kwargs)
        server.listen(
            port,
            address if address is not None else "",
            family if family is not None else socket.AF_UNSPEC,
            backlog,
            flags,
            reuse_port,
        )
        return server

    # -- serving -----------------------------------------------------------------------------

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Called by the server for each request: returns its dispatcher.

        (Defined here, not inherited from ``Router``: the compiled build calls it directly.)"""
        return _RequestDispatcher(self, request_conn, server_conn)

    def __call__(self, request: HTTPServerRequest) -> MaybeAwaitable:
        """Legacy: serve an already-read ``request`` (Tornado's old callable interface).

        The body is parsed unless that was done already (the plain-callable server does it);
        a ``@stream_request_body`` handler gets the whole body as one ``data_received``. A
        rule whose target is not a handler gets the request's head, body and end in turn."""
        delegate = self.find_handler(request)
        if not isinstance(delegate, _RequestDispatcher) or delegate.target is not None:
            return _feed_whole_request(delegate, request)
        if not delegate.stream:
            return delegate.execute(parse_body=request._body_arguments is None)
        request._body_future = asyncio.get_running_loop().create_future()  # type: ignore[attr-defined]
        delegate.execute()
        return asyncio.ensure_future(_feed_whole_body(delegate, request.body))

    def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> HTTPMessageDelegate:
        """The delegate that will handle ``request`` (never None).

        A handler rule gives :meth:`get_handler_delegate`'s dispatcher; another target the
        delegate it gives; no rule the ``default_handler_class`` setting's handler, else a
        404 :class:`~squall.web.ErrorHandler`. ``kwargs`` (from an outer router) are ignored.
        A path value that is not UTF-8 gives a 400 ErrorHandler."""
        try:
            found = self._table.find(request)
        except UndecodablePath as e:
            return self.get_handler_delegate(request, *_undecodable_route(e, request))
        except HTTPError as e:
            return self.get_handler_delegate(request, ErrorHandler, {"status_code": e.status_code})
        if isinstance(found, tuple):
            entry, path_args, path_kwargs = found
            return self.get_handler_delegate(
                request, entry.target, entry.target_kwargs, path_args, path_kwargs
            )
        if found is not None:
            delegate: HTTPMessageDelegate = found
            return delegate
        default = self.settings.get("default_handler_class")
        if default is not None:
            return self.get_handler_delegate(
                request, default, self.settings.get("default_handler_args", {})
            )
        return self.get_handler_delegate(request, ErrorHandler, {"status_code": 404})

    def get_handler_delegate(
        self,
        request: HTTPServerRequest,
        target_class: type[RequestHandler],
        target_kwargs: dict[str, Any] | None = None,
        path_args: list[Any] | None = None,
        path_kwargs: dict[str, Any] | None = None,
    ) -> HTTPMessageDelegate:
        """A message delegate that runs ``target_class`` for ``request`` (already built).

        ``target_kwargs`` go to the handler's ``initialize``; ``path_args``/``path_kwargs``
        to its verb method (bytes values are decoded as UTF-8, a 400 when they are not, as
        Tornado's ``decode_argument`` does). The request's head, body and end are then
        passed to the delegate as usual (a custom router does this through its
        ``_RoutingDelegate``)."""
        dispatcher = _RequestDispatcher(self, request.connection, request.server_connection)
        dispatcher.request = request
        args = list(path_args) if path_args else []
        kwargs = dict(path_kwargs) if path_kwargs else {}
        try:
            args = [_text(value) for value in args]
            kwargs = {key: _text(value) for key, value in kwargs.items()}
        except UnicodeDecodeError:
            target_class, target_kwargs, args, kwargs = ErrorHandler, {"status_code": 400}, [], {}
        dispatcher.set_route(target_class, target_kwargs or {}, args, kwargs)
        return dispatcher

    def log_request(self, handler: RequestHandler) -> None:
        """Write the access-log line: ``status METHOD URI (ip) 1.23ms`` on ``squall.access``.

        INFO below 400, WARNING below 500, ERROR otherwise; ``log_function`` replaces it."""
        if self._log_function is not None:
            self._log_function(handler)
            return
        status = status_of(handler)
        level = _INFO if status < 400 else _WARNING if status < 500 else _ERROR
        if not _enabled_for(level):
            return
        request_time = 1000.0 * handler.request.request_time()
        _access_log.log(level, "%d %s %.2fms", status, handler._request_summary(), request_time)


def _enabled_for(level: int) -> bool:
    """``access_log.isEnabledFor(level)``, answered from the logger's own cache when it can.

    ``logging`` caches the answer per level and clears the cache whenever levels change; with
    the access log off (the usual setting under load) this is one dict lookup per request."""
    cache: dict[int, bool] | None = getattr(_access_log, "_cache", None)
    if cache is not None and not _access_log.disabled:
        cached = cache.get(level)
        if cached is not None:
            return cached
    return _access_log.isEnabledFor(level)


def _escape_regex(prefix: str) -> str:
    return re.escape(prefix)


# The default implementations, to recognise a subclass that routes its own way.
_find_handler: Final = Application.find_handler
_get_handler_delegate: Final = Application.get_handler_delegate


def _undecodable_route(
    e: UndecodablePath, request: HTTPServerRequest
) -> tuple[type[RequestHandler], dict[str, Any], list[Any], dict[str, Any]]:
    """Where a request whose path values are not UTF-8 goes: to its handler when that
    decodes its arguments itself (``decode_argument`` overridden: it gets the original
    bytes), else to a 400 ErrorHandler, logged as Tornado's ``decode_argument`` logs it."""
    target = e.entry.target
    default = RequestHandler.decode_argument
    if getattr(target, "decode_argument", default) is not default:
        return target, e.entry.target_kwargs, e.path_args, e.path_kwargs
    gen_log.warning("400 %s %s: %s", request.method, request.uri, e.log_message)
    return ErrorHandler, {"status_code": 400}, [], {}


def _text(value: Any) -> Any:
    """A path value as text: bytes are decoded as UTF-8 (UnicodeDecodeError if they are not)."""
    return value.decode("utf-8") if isinstance(value, bytes) else value


class _RequestDispatcher(DirectMessageDelegate):
    """Routes one request and runs its handler (an :class:`HTTPMessageDelegate`).

    Made by :meth:`Application.start_request` (it builds the request and routes it when the
    head arrives) or by :meth:`Application.get_handler_delegate` (request and route given).
    When the route is a delegate of another kind (``target``), every call is forwarded."""

    __slots__ = (
        "application",
        "chunks",
        "connection",
        "handler",
        "handler_class",
        "handler_kwargs",
        "path_args",
        "path_kwargs",
        "request",
        "server_conn",
        "stream",
        "target",
    )

    def __init__(
        self, application: Application, connection: HTTPConnection | None, server_conn: object
    ) -> None:
        self.application = application
        self.connection = connection
        self.server_conn = server_conn
        self.request: HTTPServerRequest | None = None
        self.handler: RequestHandler | None = None
        self.chunks: list[bytes] | None = None  # the body's pieces, once one arrives
        self.stream = False
        self.target: HTTPMessageDelegate | None = None  # a route that is not a handler

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> MaybeAwaitable:
        """Build the request and route it (unless given both); start a streaming handler at
        once, or pass the head to a delegate route."""
        request = self.request
        if request is None:
            # Positional (method, uri, version, headers, body, host, files, connection,
            # start_line, server_connection): binding keywords costs more, and this runs
            # for every request.
            try:
                request = HTTPServerRequest(
                    None,
                    None,
                    "HTTP/1.0",
                    headers,
                    None,
                    None,
                    None,
                    self.connection,
                    start_line,  # type: ignore[arg-type]
                    self.server_conn,
                )
            except HTTPInputError as exc:  # a query with too many fields
                request = self._refuse(start_line, headers, exc)
            else:
                self.route(request)
        target = self.target
        if target is not None:
            return target.headers_received(start_line, headers)
        if self.stream:
            loop = asyncio.get_running_loop()
            request._body_future = loop.create_future()  # type: ignore[attr-defined]
            return self.execute()
        return None

    def route(self, request: HTTPServerRequest) -> None:
        """Find the handler for ``request`` (an ErrorHandler for bad UTF-8 in the path), or
        the delegate of a route that is not a handler."""
        self.request = request
        app = self.application
        if app._own_routing:
            self._forward(app.find_handler(request))
            return
        try:
            found = app._table.find(request)
        except UndecodablePath as e:  # bad UTF-8 in a path argument
            self.set_route(*_undecodable_route(e, request))
            return
        except HTTPError as e:
            self.set_route(ErrorHandler, {"status_code": e.status_code}, [], {})
            return
        if isinstance(found, tuple):
            entry, path_args, path_kwargs = found
            self.set_route(entry.target, entry.target_kwargs, path_args, path_kwargs)
        elif found is not None:
            self._forward(found)
        else:
            default = app.settings.get("default_handler_class")
            if default is not None:
                self.set_route(default, app.settings.get("default_handler_args", {}), [], {})
            else:
                self.set_route(ErrorHandler, {"status_code": 404}, [], {})

    def set_route(
        self,
        handler_class: type[RequestHandler],
        handler_kwargs: dict[str, Any],
        path_args: list[Any],
        path_kwargs: dict[str, Any],
    ) -> None:
        """Run ``handler_class`` for this request."""
        self.handler_class = handler_class
        self.handler_kwargs = handler_kwargs
        self.path_args = path_args
        self.path_kwargs = path_kwargs
        self.stream = handler_class._stream_request_body

    def _forward(self, delegate: HTTPMessageDelegate) -> None:
        """Take over the route of another dispatcher of this application, or forward every
        call to ``delegate``."""
        if (
            isinstance(delegate, _RequestDispatcher)
            and delegate.target is None
            and delegate.application is self.application
        ):
            self.set_route(
                delegate.handler_class,
                delegate.handler_kwargs,
                delegate.path_args,
                delegate.path_kwargs,
            )
        else:
            self.target = delegate

    def _refuse(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
        exc: HTTPInputError,
    ) -> HTTPServerRequest:
        """A request the peer got wrong before routing: a request without its query, for a
        400 error page."""
        gen_log.info("Malformed HTTP request: %s", exc)
        assert isinstance(start_line, RequestStartLine)  # the server side only gets requests
        request = HTTPServerRequest(
            start_line.method,
            start_line.path.partition("?")[0],
            start_line.version,
            headers,
            None,
            None,
            None,
            self.connection,
            None,
            self.server_conn,
        )
        self.request = request
        self.set_route(ErrorHandler, {"status_code": exc.status_code}, [], {})
        return request

    def data_received(self, chunk: bytes) -> MaybeAwaitable:
        """Collect the body, or hand it to a streaming handler (after its ``prepare``)."""
        target = self.target
        if target is not None:
            return target.data_received(chunk)
        if not self.stream:
            if self.chunks is None:
                self.chunks = [chunk]
            else:
                self.chunks.append(chunk)
            return None
        handler = self.handler
        if handler is None or handler._finished:
            return None
        prepared = handler._prepared_future
        if prepared is not None and not prepared.done():
            return _after(prepared, handler, chunk)
        try:
            result = handler.data_received(chunk)
        except Exception as e:
            # Like an exception in the verb method: log_exception, then the handler's error
            # page (an HTTPError keeps its status), not a bare 500 from the protocol.
            handler._handle_request_exception(e)
            return None
        return None if result is None else _guarded(handler, result)

    def finish(self) -> None:
        """The request is complete: run the handler (or wake a streaming one)."""
        target = self.target
        if target is not None:
            target.finish()
            return
        request = self.request
        assert request is not None
        if self.stream:
            body_future = getattr(request, "_body_future", None)
            if body_future is not None and not body_future.done():
                body_future.set_result(None)
            return
        chunks = self.chunks
        if chunks:
            request.body = b"".join(chunks) if len(chunks) > 1 else chunks[0]
        self.execute()

    def on_connection_close(self) -> None:
        """The client went away mid-request."""
        target = self.target
        if target is not None:
            target.on_connection_close()
            return
        request = self.request
        if self.stream and request is not None:
            body_future = getattr(request, "_body_future", None)
            if body_future is not None and not body_future.done():
                body_future.set_exception(ConnectionError("client disconnected"))
                body_future.exception()

    def execute(self, parse_body: bool = True) -> MaybeAwaitable:
        """Create the handler and run its lifecycle (inline when nothing awaits).

        The form body is parsed first (``parse_body``), except for a streaming handler."""
        request = self.request
        assert request is not None
        app = self.application
        try:
            kwargs = self.handler_kwargs
            handler_class = self.handler_class
            handler = self.handler = (
                handler_class(app, request, **kwargs) if kwargs else handler_class(app, request)
            )
        except Exception:
            app_log.error("Uncaught exception creating handler for %s", request.path, exc_info=True)
            handler = self.handler = ErrorHandler(app, request, status_code=500)
            self.path_args, self.path_kwargs = [], {}
        transforms = [t(request) for t in app.transforms] if app.transforms else []
        if self.stream:
            handler._prepared_future = asyncio.get_running_loop().create_future()
        elif parse_body and request.body:  # any method, as Tornado: the Content-Type decides
            try:
                request._parse_body(app.settings.get("parse_body_config"))
            except FormError as exc:
                gen_log.info("Malformed request body from %s: %s", request.remote_ip, exc)
                handler._transforms = transforms
                handler.send_error(400, reason=None)
                return None
        result = execute_handler(handler, transforms, self.path_args, self.path_kwargs)
        if self.stream:
            # The body is delivered once the handler has prepared to receive it.
            return handler._prepared_future
        return result


async def _feed_whole_request(delegate: HTTPMessageDelegate, request: HTTPServerRequest) -> None:
    """Legacy call routed to a delegate that is not a handler: its head, body and end."""
    start_line = RequestStartLine(request.method, request.uri, request.version)
    result = delegate.headers_received(start_line, request.headers)
    if result is not None:
        await result
    if request.body:
        result = delegate.data_received(request.body)
        if result is not None:
            await result
    delegate.finish()


async def _feed_whole_body(dispatcher: _RequestDispatcher, body: bytes) -> None:
    """Legacy call of a streaming handler: the whole body as one chunk, then the end."""
    if body:
        result = dispatcher.data_received(body)
        if result is not None:
            await result
    dispatcher.finish()


async def _after(prepared: asyncio.Future[None], handler: RequestHandler, chunk: bytes) -> None:
    """Deliver a streamed chunk once the handler's ``prepare`` has completed."""
    await prepared
    if not handler._finished:
        try:
            result = handler.data_received(chunk)
        except Exception as e:
            handler._handle_request_exception(e)
            return
        if result is not None:
            await _guarded(handler, result)


async def _guarded(handler: RequestHandler, result: Awaitable[None]) -> None:
    """Await an async ``data_received``; an exception goes to the handler's error handling."""
    try:
        await result
    except Exception as e:
        handler._handle_request_exception(e)

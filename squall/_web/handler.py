"""RequestHandler: Tornado's request lifecycle, status and headers, output and errors.

How this works
--------------
The application's dispatcher builds one handler per request and calls :func:`execute_handler`.
For a synchronous verb method that returns None the whole lifecycle (prepare, the method,
finish) runs inline, with no Task: that is the hot path. Only when ``prepare`` or the verb
method returns an awaitable does the rest of the lifecycle continue in a Task.

Each public method stays a line or two; the rest lives in modules below this one, which never
import it: ``arguments`` (input), ``headers`` (header validation), ``etag`` (ETags and
``If-None-Match``), ``cookies`` (Set-Cookie, signed values), ``xsrf``, ``transforms`` (gzip),
and the rendering modules ``templates`` (loaders, ``render_string``), ``uimodules`` (the
handler's ``ui``) and ``render_assets`` (the page's module CSS/JS). Rendering and locale state
is made on first use (``ui``, ``locale``), so a request that renders nothing pays nothing for
them. ``Application`` (above) hands the handler everything else it needs,
the static handler class included. The order of the ``_web`` modules is in
``tests/test_layers.py``.

Why module functions
--------------------
The lifecycle's bodies are module functions (:func:`execute_handler`, ``_finish_response``,
``_flush_buffer``) that the methods (``_execute``, ``finish``, ``flush``) call, and the hot path
checks ``type(handler).flush is _flush`` (the names at the end of this module) before it calls
the function itself. The reason is the compiled build (``squall._compiled``):
``RequestHandler`` allows interpreted subclasses, and every application handler is one, so a
method call on a handler goes by name, through the subclass's ``__dict__``, even when nothing
overrides the method. A module function is a C call. The identity check keeps Tornado's
behaviour: a handler that overrides ``flush`` (or ``finish``, ``prepare``, ``on_finish``,
``compute_etag`` ...) gets its override called, and only the others take the direct path. In
pure Python the two paths do the same thing.
"""

from __future__ import annotations

import asyncio
import http.client
import inspect
import sys
import traceback
import types
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar, Final

from squall import escape, version
from squall._compiled import mypyc_attr
from squall._types import MaybeAwaitable
from squall._util import CompletedAwaitable
from squall._web import arguments, cookies, etag, render_assets, templates, uimodules, xsrf
from squall._web.arguments import REQUIRED
from squall._web.errors import Finish, HTTPError
from squall._web.headers import checked_name, field_value, is_plain, reason_phrase
from squall._web.transforms import OutputTransform
from squall._web.verbs import unimplemented_method
from squall.httputil import (
    HTTPHeaders,
    HTTPServerRequest,
    ResponseStartLine,
    connection_finish,
    connection_set_close_callback,
    connection_write_headers,
)
from squall.log import app_log, gen_log
from squall.util import ObjectDict

__all__ = ["RequestHandler"]

_SERVER: Final = "squall/" + version
_HTML: Final = "text/html; charset=UTF-8"
_JSON: Final = "application/json; charset=UTF-8"
_DEFAULT_FIELDS: Final = {"Server": _SERVER, "Content-Type": _HTML}  # every response starts so
_NO_BODY_HEADERS: Final = ("Content-Encoding", "Content-Language", "Content-Type")
_START_LINES: Final = {
    code: ResponseStartLine("HTTP/1.1", code, r) for code, r in http.client.responses.items()
}
_UNSET: Final[Any] = object()
# Shared defaults, replaced (never mutated) when a request has transforms or path arguments.
_NO_TRANSFORMS: Final[list[Any]] = []
_NO_ARGS: Final[list[Any]] = []
_NO_KWARGS: Final[dict[str, Any]] = {}
_IN_THREAD: Final = (
    "{}() cannot be called from a @threaded method: it runs in a worker thread and the "
    "connection belongs to the event loop. Write with write()/set_header() and return; the "
    "response is finished when the method returns."
)


@mypyc_attr(allow_interpreted_subclasses=True)
class RequestHandler:
    """Base class for HTTP request handlers: subclass it and define ``get``, ``post``, ...

    Verb methods may be plain functions or ``async def``. Lifecycle, in order:
    ``initialize(**kwargs)`` (from the URL rule), ``prepare()`` (may be async; finishing the
    response there stops the request), the verb method, an automatic ``finish()``, then
    ``on_finish()``. ``on_connection_close()`` runs if the client goes away first. Raise
    :class:`HTTPError` for an error status; :class:`Finish` to end quietly.

    Do not override ``__init__``; use :meth:`initialize`. A verb method a subclass does not
    define is ``RequestHandler._unimplemented_method`` (405).
    """

    SUPPORTED_METHODS: ClassVar[tuple[str, ...]] = (
        "GET",
        "HEAD",
        "POST",
        "DELETE",
        "PATCH",
        "PUT",
        "OPTIONS",
    )

    # Class-level switches that subclasses and decorators set on the class: ClassVars, so the
    # compiled build reads them from the class too (see squall._compiled).
    _stream_request_body: ClassVar[bool] = False
    # The verb methods a subclass has not defined: one plain function under every name (see
    # verbs.py), so ``type(h).post is RequestHandler._unimplemented_method`` works.
    _unimplemented_method: ClassVar[Callable[..., MaybeAwaitable]] = unimplemented_method
    head: ClassVar[Callable[..., MaybeAwaitable]] = unimplemented_method
    get: ClassVar[Callable[..., MaybeAwaitable]] = unimplemented_method
    post: ClassVar[Callable[..., MaybeAwaitable]] = unimplemented_method
    delete: ClassVar[Callable[..., MaybeAwaitable]] = unimplemented_method
    patch: ClassVar[Callable[..., MaybeAwaitable]] = unimplemented_method
    put: ClassVar[Callable[..., MaybeAwaitable]] = unimplemented_method
    options: ClassVar[Callable[..., MaybeAwaitable]] = unimplemented_method
    # Tornado's names for the process-wide template loader cache, by template folder (its
    # tests clear it between applications); the objects live in templates.py.
    _template_loaders: ClassVar[dict[str, Any]] = templates.LOADERS
    _template_loader_lock: ClassVar[Any] = templates.LOADERS_LOCK
    # Per-request state that most requests never change lives here as class defaults, so
    # constructing a handler only writes what every request needs (the hot path).
    _auto_finish = True
    _headers_written = False
    _finished = False
    _prepared_future: asyncio.Future[None] | None = None
    _transforms: list[OutputTransform]
    _current_user: Any
    _xsrf_token: bytes | None = None
    _new_cookie: list[str] | None = None
    _ui: dict[str, Any] | None = None
    _locale: Any = None  # a squall.locale.Locale once asked for (see ``locale``)
    _templates_reset = False  # loaders reset for this request (compiled_template_cache off)
    _in_thread = False  # True while a @threaded verb method runs in the thread pool

    path_args: list[Any]
    path_kwargs: dict[str, Any]

    def __init__(self, application: Any, request: HTTPServerRequest, **kwargs: Any) -> None:
        # ``Any``, as Starlette types ``Request.app``: the application module builds handlers,
        # so naming its class here would be an import back up (tests/test_layers.py).
        self.application: Any = application
        self.request = request
        self._transforms = _NO_TRANSFORMS
        self.path_args = _NO_ARGS
        self.path_kwargs = _NO_KWARGS
        # clear(), inlined: this runs for every request.
        self._headers = _default_headers()
        cls = type(self)
        if cls.set_default_headers is not _set_default_headers:
            self.set_default_headers()
        self._write_buffer: list[bytes] = []
        self._status_code = 200
        self._reason = "OK"
        connection = request.connection
        if connection is not None:
            connection_set_close_callback(connection, self.on_connection_close)
        if kwargs or cls.initialize is not _initialize:
            self.initialize(**kwargs)

    @property
    def ui(self) -> dict[str, Any]:
        """The names UI modules and methods give templates (an ``ObjectDict``): each
        ``ui_methods`` function bound to this handler, and the module namespace as
        ``_tt_modules`` and ``modules``. Made on first use."""
        ui = self._ui
        if ui is None:
            app = self.application
            ui = self._ui = ObjectDict(
                uimodules.handler_ui(
                    self,
                    getattr(app, "ui_methods", _NO_KWARGS),
                    getattr(app, "ui_modules", uimodules.DEFAULT_UI_MODULES),
                )
            )
        return ui

    # -- override points ---------------------------------------------------------------------

    def initialize(self, **kwargs: Any) -> None:
        """Hook for subclass initialisation, called with the URL rule's kwargs dict."""

    @property
    def settings(self) -> dict[str, Any]:
        """The application's settings (``self.application.settings``)."""
        settings: dict[str, Any] = self.application.settings
        return settings

    def prepare(self) -> MaybeAwaitable:
        """Called before the verb method; may be async. Finishing here stops the request."""
        return None

    def on_finish(self) -> None:
        """Called after the response has been sent (for cleanup and logging; no writing)."""

    def on_connection_close(self) -> None:
        """Called if the client closes the connection before the response has finished."""
        if self._stream_request_body and self._prepared_future is not None:
            if not self._prepared_future.done():
                self._prepared_future.set_exception(ConnectionError("client disconnected"))
                self._prepared_future.exception()

    def data_received(self, chunk: bytes) -> MaybeAwaitable:
        """With ``@stream_request_body``: called with each piece of the body (may be async)."""
        raise NotImplementedError()

    def set_default_headers(self) -> None:
        """Override to set headers at the start of every response (and after ``clear``)."""

    def get_current_user(self) -> Any:
        """Override to determine the current user (from a cookie, say). Must be synchronous."""
        return None

    def get_user_locale(self) -> Any:
        """Override to pick the locale for the current user, as a ``squall.locale.Locale``
        (from a user setting, say); None, the default, uses :meth:`get_browser_locale`."""
        return None

    def get_browser_locale(self, default: str = "en_US") -> Any:
        """The closest loaded locale for the request's ``Accept-Language`` header.

        Languages are tried by their ``q`` weight; entries with ``q=0`` or that are not
        valid are ignored; with none left, the locale ``default``."""
        from squall import locale  # a leaf; imported on first use, like the locale itself

        header = self.request.headers.get("Accept-Language")
        codes = locale.parse_accept_language(header) if header else []
        return locale.get(*codes) if codes else locale.get(default)

    @property
    def locale(self) -> Any:
        """The locale of this request (a ``squall.locale.Locale``), chosen once: from
        :meth:`get_user_locale`, else :meth:`get_browser_locale`. Assignable."""
        chosen = self._locale
        if chosen is None:
            chosen = self.get_user_locale()
            if chosen is None:
                chosen = self.get_browser_locale()
            self._locale = chosen
        return chosen

    @locale.setter
    def locale(self, value: Any) -> None:
        self._locale = value

    def get_login_url(self) -> str:
        """The URL ``@authenticated`` redirects to (the ``login_url`` setting)."""
        self.require_setting("login_url", "@squall.web.authenticated")
        return str(self.application.settings["login_url"])

    def get_template_path(self) -> str | None:
        """The folder templates are loaded from (the ``template_path`` setting). When it is
        empty, templates are looked up next to the file of the code that called ``render``."""
        path: str | None = self.application.settings.get("template_path")
        return path

    def create_template_loader(self, template_path: str) -> Any:
        """A new template loader for ``template_path`` (called once per folder per process).

        By default the ``template_loader`` setting, else a ``squall.template.Loader`` with the
        ``autoescape`` and ``template_whitespace`` settings. Override to load templates from
        elsewhere, or return ``squall.web.Jinja2Loader(template_path)`` to render with Jinja2.
        """
        return templates.create_loader(self.application.settings, template_path)

    # -- status and headers ------------------------------------------------------------------

    def clear(self) -> None:
        """Reset the headers, the status and the output buffer to their defaults."""
        self._headers = _default_headers()
        self.set_default_headers()
        self._write_buffer = []
        self._status_code = 200
        self._reason = "OK"

    def set_status(self, status_code: int, reason: str | None = None) -> None:
        """Set the status code; ``reason`` defaults to the standard phrase (``Unknown`` if none)."""
        self._status_code = status_code
        self._reason = reason_phrase(status_code, reason)

    def get_status(self) -> int:
        """The response status code."""
        return self._status_code

    def set_header(self, name: str, value: Any) -> None:
        """Set a response header (replacing it); str, bytes, int or datetime values.

        A value containing CR, LF, another control character (tab is fine) or a character
        beyond latin-1, or a name that is not an HTTP token, raises ``ValueError``: header
        injection is refused."""
        # The common case, a name checked before and a printable ASCII str, skips the checks.
        headers = self._headers
        checked = headers._checked  # the write below clears it; the value is checked here
        if is_plain(name, value):
            headers[name] = value
        else:
            headers[checked_name(name)] = self._convert_header_value(value)
        headers._checked = checked

    def add_header(self, name: str, value: Any) -> None:
        """Add a response header, keeping earlier values (``Set-Cookie``-style repeats)."""
        headers = self._headers
        checked = headers._checked  # as in set_header
        headers.add(checked_name(name), self._convert_header_value(value))
        headers._checked = checked

    def clear_header(self, name: str) -> None:
        """Remove a response header (including one ``set_default_headers`` set)."""
        if name in self._headers:
            del self._headers[name]

    @staticmethod
    def _convert_header_value(value: Any) -> str:
        # Tornado's name for the conversion (kept: subclasses override it).
        return field_value(value)

    # -- input -------------------------------------------------------------------------------

    def get_argument(self, name: str, default: Any = REQUIRED, strip: bool = True) -> Any:
        """The last value of argument ``name`` (query or body); ``MissingArgumentError`` (400)
        if absent and no default is given. Control characters become spaces; ``strip`` trims."""
        return arguments.get_one(self, self.request.arguments, name, default, strip)

    def get_arguments(self, name: str, strip: bool = True) -> list[str]:
        """Every value of argument ``name`` (query and body), possibly empty."""
        return arguments.get_all(self, self.request.arguments, name, strip)

    def get_query_argument(self, name: str, default: Any = REQUIRED, strip: bool = True) -> Any:
        """Like :meth:`get_argument`, from the query string only."""
        return arguments.get_one(self, self.request.query_arguments, name, default, strip)

    def get_query_arguments(self, name: str, strip: bool = True) -> list[str]:
        """Like :meth:`get_arguments`, from the query string only."""
        return arguments.get_all(self, self.request.query_arguments, name, strip)

    def get_body_argument(self, name: str, default: Any = REQUIRED, strip: bool = True) -> Any:
        """Like :meth:`get_argument`, from the form body only."""
        return arguments.get_one(self, self.request.body_arguments, name, default, strip)

    def get_body_arguments(self, name: str, strip: bool = True) -> list[str]:
        """Like :meth:`get_arguments`, from the form body only."""
        return arguments.get_all(self, self.request.body_arguments, name, strip)

    def decode_argument(self, value: bytes, name: str | None = None) -> Any:
        """Decode an argument from the request (UTF-8; bad bytes give 400). Override freely."""
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPError(400, "Invalid unicode in %s: %r", name or "url", value[:40]) from None

    # -- output ------------------------------------------------------------------------------

    def write(self, chunk: Any) -> None:
        """Buffer ``chunk`` for output: bytes, str (UTF-8), or a dict sent as JSON.

        A list raises ``TypeError`` (JSON hijacking protection: wrap it in a dict)."""
        if self._finished:
            raise RuntimeError("Cannot write() after finish()")
        if isinstance(chunk, bytes):
            self._write_buffer.append(chunk)
        elif isinstance(chunk, str):
            self._write_buffer.append(chunk.encode("utf-8"))
        elif isinstance(chunk, dict):
            self._write_buffer.append(escape.json_encode(chunk).encode("utf-8"))
            self._headers._dict["Content-Type"] = _JSON
        else:
            message = "write() only accepts bytes, unicode, and dict objects"
            if isinstance(chunk, list):
                message += ". Lists not accepted for security reasons; see the JSON hijacking note"
            raise TypeError(message)

    def flush(
        self, include_footers: bool = False, callback: Callable[[], None] | None = None
    ) -> Awaitable[None]:
        """Send what is buffered: the status line and headers the first time, then body bytes.

        Returns an awaitable that resolves when the transport can take more (back-pressure).
        ``callback`` (legacy) is called once the data has been handed to the transport."""
        return _as_future(_flush_buffer(self, include_footers, callback))

    def finish(self, chunk: Any = None) -> Awaitable[None]:
        """Finish the response: optional last ``chunk``, automatic ETag/304 and Content-Length.

        Calling it twice raises ``RuntimeError("finish() called twice")``. Returns an awaitable
        that resolves when the last byte has been handed to the transport."""
        return _as_future(_finish_response(self, chunk))

    def render(self, template_name: str, **kwargs: Any) -> Awaitable[None]:
        """Render a template with ``kwargs`` and finish the response with it.

        The CSS and JavaScript of the UI modules the page used go in before ``</head>`` and
        ``</body>`` (through :meth:`render_linked_js` and the other three). Returns what
        :meth:`finish` returns; after ``finish`` it raises ``RuntimeError``."""
        if self._finished:
            raise RuntimeError("Cannot render() after finish()")
        html = self.render_string(template_name, **kwargs)
        modules = uimodules.active_modules(self._ui)
        if modules:
            html = render_assets.insert_assets(html, render_assets.collect_assets(modules), self)
        return self.finish(html)

    def render_string(self, template_name: str, **kwargs: Any) -> bytes:
        """Render a template to UTF-8 bytes, with :meth:`get_template_namespace` and
        ``kwargs`` (which win) as its names. See ``create_template_loader`` for where
        templates come from; template errors propagate (a 500 from a verb method)."""
        own_loader = type(self).create_template_loader is not _create_template_loader
        return templates.render_string(self, template_name, kwargs, own_loader)

    def get_template_namespace(self) -> dict[str, Any]:
        """The names every template sees: ``handler``, ``request``, ``current_user``,
        ``locale``, ``_`` (``locale.translate``), ``pgettext``, ``static_url``,
        ``xsrf_form_html``, ``reverse_url``, and :attr:`ui` (the UI methods and modules).
        Override to add names (call ``super()`` and update the dict)."""
        locale = self.locale
        namespace: dict[str, Any] = {
            "handler": self,
            "request": self.request,
            "current_user": self.current_user,
            "locale": locale,
            "_": locale.translate,
            "pgettext": locale.pgettext,
            "static_url": self.static_url,
            "xsrf_form_html": self.xsrf_form_html,
            "reverse_url": self.reverse_url,
        }
        namespace.update(self.ui)
        return namespace

    def render_linked_js(self, js_files: Iterable[str]) -> str:
        """``<script src>`` tags for the UI modules' JavaScript files (each once; relative
        paths through :meth:`static_url`). Override to change the markup."""
        return render_assets.render_linked_js(js_files, self.static_url)

    def render_embed_js(self, js_embed: Iterable[bytes]) -> bytes:
        """One ``<script>`` block with the UI modules' embedded JavaScript."""
        return render_assets.render_embed_js(js_embed)

    def render_linked_css(self, css_files: Iterable[str]) -> str:
        """``<link rel="stylesheet">`` tags for the UI modules' CSS files (each once)."""
        return render_assets.render_linked_css(css_files, self.static_url)

    def render_embed_css(self, css_embed: Iterable[bytes]) -> bytes:
        """One ``<style>`` block with the UI modules' embedded CSS."""
        return render_assets.render_embed_css(css_embed)

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        """Redirect to ``url`` (302, or 301 if ``permanent``, or any 3xx ``status``) and finish."""
        if self._headers_written:
            raise RuntimeError("Cannot redirect after headers have been written")
        if status is None:
            status = 301 if permanent else 302
        elif not 300 <= status <= 399:
            raise ValueError(f"redirect status must be a 3xx code, got {status}")
        self.set_status(status)
        # As in Tornado, the URL goes out as UTF-8 bytes (a non-ASCII path is not refused).
        self.set_header("Location", url.encode("utf-8"))
        self.finish()

    # -- errors ------------------------------------------------------------------------------

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Send an error page for ``status_code`` (via :meth:`write_error`) and finish.

        After the headers have gone out this can only log and close the response."""
        if self._headers_written:
            gen_log.error("Cannot send error response after headers written")
            if not self._finished:
                try:
                    self.finish()
                except Exception:
                    gen_log.error("Failed to flush partial response", exc_info=True)
            return
        self.clear()
        reason = kwargs.get("reason")
        exc_info = kwargs.get("exc_info")
        if exc_info is not None and isinstance(exc_info[1], HTTPError) and exc_info[1].reason:
            reason = exc_info[1].reason
        self.set_status(status_code, reason=reason)
        if status_code == 405:
            # RFC 9110 §15.5.6: a 405 lists the methods the resource does support.
            self.set_header("Allow", ", ".join(self._allowed_methods()))
        try:
            if not _bodyless(status_code):  # 204, 304 and 1xx carry no body: no error page
                self.write_error(status_code, **kwargs)
        except Exception:
            app_log.error("Uncaught exception in write_error", exc_info=True)
        if not self._finished:
            self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Write the body of an error page. Override for custom error pages.

        With ``serve_traceback`` (implied by ``debug``) and an exception, a plain-text
        traceback; otherwise a minimal HTML page."""
        exc_info = kwargs.get("exc_info")
        if self.settings.get("serve_traceback") and exc_info:
            self.set_header("Content-Type", "text/plain")
            for line in traceback.format_exception(*exc_info):
                self.write(line)
            self.finish()
        else:
            self.finish(
                f"<html><title>{status_code}: {self._reason}</title>"
                f"<body>{status_code}: {self._reason}</body></html>"
            )

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        """Log an exception from the handler: HTTPError as a warning (no traceback, and only
        with a log message), anything else as an error with its traceback."""
        if isinstance(value, HTTPError):
            message = value.get_message()
            if message:
                gen_log.warning("%d %s: %s", value.status_code, self._request_summary(), message)
        else:
            app_log.error(
                "Uncaught exception %s\n%r",
                self._request_summary(),
                self.request,
                exc_info=(typ, value, tb),  # type: ignore[arg-type]
            )

    def _allowed_methods(self) -> list[str]:
        cls = type(self)
        return [
            m
            for m in self.SUPPORTED_METHODS
            if getattr(cls, m.lower(), _unimplemented) is not _unimplemented
        ]

    def _request_summary(self) -> str:
        request = self.request
        return f"{request.method} {request.uri} ({request.remote_ip})"

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, Finish):
            if not self._finished:
                self.finish(*e.args)
            return
        try:
            self.log_exception(*sys.exc_info())
        except Exception:
            app_log.error("Error in exception logger", exc_info=True)
        if self._finished:
            return
        if isinstance(e, HTTPError):
            self.send_error(e.status_code, exc_info=sys.exc_info())
        else:
            self.send_error(500, exc_info=sys.exc_info())

    # -- ETags -------------------------------------------------------------------------------

    def compute_etag(self) -> str | bytes | None:
        """The ETag of the buffered body (quoted SHA-1 hex); return None to send no ETag.

        An override may return ``str`` or ``bytes`` (sent as latin-1, as Tornado does)."""
        return etag.body_etag(self._write_buffer)

    def set_etag_header(self) -> None:
        """Set the ``Etag`` header from :meth:`compute_etag` (if it returns one)."""
        value = self.compute_etag()
        if value is not None:
            self.set_header("Etag", value)  # an override may give bytes, as in Tornado

    def check_etag_header(self) -> bool:
        """Whether the request's ``If-None-Match`` matches our ``Etag`` (weak compare, ``*``)."""
        if_none_match = self.request.headers.get("If-None-Match")
        if not if_none_match:
            return False
        ours = self._headers.get("Etag")
        return bool(ours) and etag.matches(ours, if_none_match)

    # -- the lifecycle -----------------------------------------------------------------------

    def _execute(
        self,
        transforms: list[OutputTransform],
        path_args: list[Any],
        path_kwargs: dict[str, Any],
    ) -> MaybeAwaitable:
        """Run the request: prepare, the verb method, finish. Inline unless something awaits."""
        return execute_handler(self, transforms, path_args, path_kwargs)

    def _decode_path(
        self, path_args: list[Any], path_kwargs: dict[str, Any]
    ) -> tuple[list[Any], dict[str, Any]]:
        """Pass path groups through an overridden ``decode_argument``, as Tornado does.

        The router has already percent-decoded them to UTF-8 text; the override gets those
        bytes back (positional groups with ``name=None``, named ones with their name)."""
        decode = self.decode_argument
        args = [None if a is None else decode(_raw(a)) for a in path_args]
        kwargs = {k: None if v is None else decode(_raw(v), name=k) for k, v in path_kwargs.items()}
        return args, kwargs

    def _continue_async(self, awaitable: Any, stage: int) -> asyncio.Future[None]:
        """Something awaits: finish the lifecycle in a Task (stage 0 prepare, 1 body, 2 verb)."""
        return asyncio.ensure_future(self._run_async(awaitable, stage))

    async def _run_async(self, awaitable: Any, stage: int) -> None:
        try:
            if stage == 0:
                await awaitable
                if self._finished:
                    self._settle_prepared()
                    return
                stage = 1
            if stage == 1:
                if self._stream_request_body:
                    self._settle_prepared()
                    body_future = getattr(self.request, "_body_future", None)
                    if body_future is not None:
                        try:
                            await body_future
                        except ConnectionError:
                            # The client left mid-upload (on_connection_close has run): not a
                            # bug in the application, so no traceback; end as Tornado does.
                            gen_log.debug(
                                "Client went away during the body of %s", self.request.uri
                            )
                            if not self._finished:
                                self.send_error(500)
                            return
                    if self._finished:  # e.g. an error while the body was streaming in
                        return
                verb = getattr(self, self.request.method.lower(), None)
                if verb is None:  # as in execute_handler
                    raise HTTPError(405)
                awaitable = verb(*self.path_args, **self.path_kwargs)
            if awaitable is not None:
                await awaitable
            if self._auto_finish and not self._finished:
                if type(self).finish is _finish:
                    _finish_response(self, None)
                else:
                    self.finish()
        except asyncio.CancelledError as e:
            self._settle_prepared()
            task = asyncio.current_task()
            if task is None or not task.cancelling():
                # The handler awaited something that was cancelled (or raised the error
                # itself): an uncaught exception like any other, logged, with a 500.
                self._handle_request_exception(e)
                return
            # The request's own task was cancelled (a shutdown, a timeout around it): answer
            # 500 if nothing was sent, without logging an error, and end cancelled.
            if not self._finished:
                self.send_error(500)
            raise
        except Exception as e:
            self._settle_prepared()
            self._handle_request_exception(e)

    def _settle_prepared(self) -> None:
        fut = self._prepared_future
        if fut is not None and not fut.done():
            fut.set_result(None)

    # -- cookies (see cookies.py) ------------------------------------------------------------

    @property
    def cookies(self) -> dict[str, Any]:
        """The request's cookies (``self.request.cookies``)."""
        return self.request.cookies

    def get_cookie(self, name: str, default: str | None = None) -> str | None:
        """The value of the request cookie ``name``, or ``default``."""
        morsel = self.request.cookies.get(name)
        return default if morsel is None else morsel.value

    def set_cookie(
        self,
        name: str,
        value: str | bytes,
        domain: str | None = None,
        expires: Any = None,
        path: str = "/",
        expires_days: float | None = None,
        **kwargs: Any,
    ) -> None:
        """Set a response cookie (``max_age``, ``httponly``, ``secure``, ``samesite`` as kwargs).

        A name or value with control characters raises ``ValueError``."""
        header = cookies.format_set_cookie(
            name,
            value,
            domain=domain,
            expires=expires,
            path=path,
            expires_days=expires_days,
            **kwargs,
        )
        if self._new_cookie is None:
            self._new_cookie = []
        prefix = f"{name}="
        self._new_cookie = [c for c in self._new_cookie if not c.startswith(prefix)]
        self._new_cookie.append(header)

    def clear_cookie(self, name: str, **kwargs: Any) -> None:
        """Delete cookie ``name`` (same ``path``/``domain`` as when it was set)."""
        header = cookies.format_clear_cookie(name, **kwargs)
        self._new_cookie = [c for c in self._new_cookie or [] if not c.startswith(f"{name}=")]
        self._new_cookie.append(header)

    def clear_all_cookies(self, **kwargs: Any) -> None:
        """Delete every cookie the request sent (deprecated in Tornado 6.3, kept)."""
        for name in self.request.cookies:
            self.clear_cookie(name, **kwargs)

    def set_signed_cookie(
        self,
        name: str,
        value: str | bytes,
        expires_days: float | None = 30,
        version: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Set a cookie signed with ``cookie_secret`` (Tornado's v2 format by default)."""
        signed = self.create_signed_value(name, value, version=version)
        self.set_cookie(name, signed, expires_days=expires_days, **kwargs)

    def set_secure_cookie(
        self,
        name: str,
        value: str | bytes,
        expires_days: float | None = 30,
        version: int | None = None,
        **kwargs: Any,
    ) -> None:
        """The old name of :meth:`set_signed_cookie`."""
        self.set_signed_cookie(name, value, expires_days, version, **kwargs)

    def create_signed_value(
        self, name: str, value: str | bytes, version: int | None = None
    ) -> bytes:
        """Sign ``value`` for cookie ``name`` with the application's ``cookie_secret``."""
        self.require_setting("cookie_secret", "secure cookies")
        settings = self.application.settings
        return cookies.create_signed_value(
            settings["cookie_secret"],
            name,
            value,
            version=version,
            key_version=settings.get("key_version"),
        )

    def get_signed_cookie(
        self,
        name: str,
        value: str | None = None,
        max_age_days: float = 31,
        min_version: int | None = None,
    ) -> bytes | None:
        """The verified value of signed cookie ``name`` (bytes), or None if absent or invalid."""
        self.require_setting("cookie_secret", "secure cookies")
        if value is None:
            value = self.get_cookie(name)
        return cookies.decode_signed_value(
            self.application.settings["cookie_secret"],
            name,
            value,
            max_age_days=max_age_days,
            min_version=min_version,
        )

    def get_secure_cookie(
        self,
        name: str,
        value: str | None = None,
        max_age_days: float = 31,
        min_version: int | None = None,
    ) -> bytes | None:
        """The old name of :meth:`get_signed_cookie`."""
        return self.get_signed_cookie(name, value, max_age_days, min_version)

    def get_signed_cookie_key_version(self, name: str, value: str | None = None) -> int | None:
        """The key version a signed cookie was made with (None if absent or unversioned)."""
        self.require_setting("cookie_secret", "secure cookies")
        if value is None:
            value = self.get_cookie(name)
        return None if value is None else cookies.get_signature_key_version(value)

    def get_secure_cookie_key_version(self, name: str, value: str | None = None) -> int | None:
        """The old name of :meth:`get_signed_cookie_key_version`."""
        return self.get_signed_cookie_key_version(name, value)

    # -- XSRF --------------------------------------------------------------------------------

    @property
    def xsrf_token(self) -> bytes:
        """This request's XSRF token (masked anew on each request); sets the cookie if needed."""
        if self._xsrf_token is None:
            self._xsrf_token = xsrf.token(self)
        return self._xsrf_token

    def check_xsrf_cookie(self) -> None:
        """Verify the ``_xsrf`` argument or ``X-XSRFToken``/``X-CSRFToken`` header: 403 if not."""
        xsrf.check(self)

    def check_trusted_origin(self, origin: str) -> bool:
        """Whether a state-changing request from ``origin`` (the ``Origin`` header, e.g.
        ``https://example.com``) may pass the ``cross_origin_protection`` check.

        Called only with that setting on, only for requests that are not GET, HEAD or
        OPTIONS and that look cross-origin, before :meth:`prepare` (so it must not rely on
        anything ``prepare`` does). By default the origin must be one of the
        ``trusted_origins`` setting, compared exactly. Override to trust, say, every
        subdomain of yours; returning True always turns the protection off for the handler
        (then it must not authenticate with cookies alone)."""
        trusted = self.application.settings.get("trusted_origins", ())
        return origin in trusted

    def xsrf_form_html(self) -> str:
        """A hidden ``<input name="_xsrf">`` for forms."""
        return xsrf.form_html(self.xsrf_token)

    # -- users, settings, URLs ---------------------------------------------------------------

    @property
    def current_user(self) -> Any:
        """The authenticated user (from :meth:`get_current_user`, once); assignable."""
        if getattr(self, "_current_user", _UNSET) is _UNSET:  # unset until first read
            self._current_user = self.get_current_user()
        return self._current_user

    @current_user.setter
    def current_user(self, value: Any) -> None:
        self._current_user = value

    def require_setting(self, name: str, feature: str = "this feature") -> None:
        """Raise ``RuntimeError`` naming the setting if the application lacks it."""
        if not self.application.settings.get(name):
            raise RuntimeError(
                f"You must define the '{name}' setting in your application to use {feature}"
            )

    def reverse_url(self, name: str, *args: Any) -> str:
        """The URL of the named rule (``Application.reverse_url``)."""
        return str(self.application.reverse_url(name, *args))

    def static_url(self, path: str, include_host: bool | None = None, **kwargs: Any) -> str:
        """The URL of a static file, with a content-hash ``?v=`` for long caching."""
        self.require_setting("static_path", "static_url")
        handler_class = self.application.static_handler_class
        if include_host is None:
            include_host = getattr(self, "include_host", False)
        base = f"{self.request.protocol}://{self.request.host}" if include_host else ""
        settings = self.application.settings
        return base + str(handler_class.make_static_url(settings, path, **kwargs))

    def detach(self) -> Any:
        """Take the connection over: HTTP stops, the returned ``IOStream`` owns the socket.

        The handler counts as finished (no automatic ``finish()``, no response is sent); see
        ``request.connection.detach()`` for what the stream holds and when it is refused.
        Raises ``NotImplementedError`` when the request's connection cannot be detached."""
        detach = getattr(self.request.connection, "detach", None)
        if detach is None:
            raise NotImplementedError(
                "detach() needs a connection that can hand over its stream; this request's "
                f"connection ({type(self.request.connection).__name__}) cannot"
            )
        stream = detach()
        self._finished = True
        return stream


_decode_argument: Final = RequestHandler.decode_argument


def _raw(value: Any) -> bytes:
    """A path group's bytes again: UTF-8, with the bytes that were not UTF-8 restored (the
    router keeps them as surrogates for a handler with its own ``decode_argument``)."""
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)


def _default_headers() -> HTTPHeaders:
    """A response's headers before ``set_default_headers``: ``Server`` and an HTML type."""
    headers = HTTPHeaders()
    headers._dict = _DEFAULT_FIELDS.copy()  # a copy is cheaper than building the dict
    headers._checked = True  # every write through the handler validates (see set_header)
    return headers


def _call_when_done(result: Awaitable[None], callback: Callable[[], None]) -> None:
    add = getattr(result, "add_done_callback", None)
    if add is not None:
        add(lambda _f: callback())
    else:
        asyncio.get_running_loop().call_soon(callback)


def execute_handler(
    handler: RequestHandler,
    transforms: list[OutputTransform],
    path_args: list[Any],
    path_kwargs: dict[str, Any],
) -> MaybeAwaitable:
    """Run ``handler``'s lifecycle: prepare, the verb method, finish (inline unless it awaits).

    The body of ``RequestHandler._execute``; the application's dispatcher calls it."""
    handler._transforms = transforms
    try:
        method = handler.request.method
        if method not in handler.SUPPORTED_METHODS:
            raise HTTPError(405)
        if (path_args or path_kwargs) and type(handler).decode_argument is not _decode_argument:
            path_args, path_kwargs = handler._decode_path(path_args, path_kwargs)
        handler.path_args = path_args
        handler.path_kwargs = path_kwargs
        if method not in ("GET", "HEAD", "OPTIONS"):  # no XSRF or origin check for these
            _check_request_origin(handler)
        # Hooks left at their no-op defaults are skipped (this runs for every request).
        result = None if type(handler).prepare is _prepare else handler.prepare()
        if result is not None:
            return handler._continue_async(result, stage=0)
        if handler._finished:
            return None
        if handler._stream_request_body:
            return handler._continue_async(None, stage=1)
        verb = getattr(handler, _VERB.get(method) or method.lower(), None)
        if verb is None:  # a SUPPORTED_METHODS entry without its method (Tornado: a 500)
            raise HTTPError(405)
        result = verb(*path_args, **path_kwargs) if path_args or path_kwargs else verb()
        if result is not None:
            return handler._continue_async(result, stage=2)
        if handler._auto_finish and not handler._finished:
            if type(handler).finish is _finish:
                _finish_response(handler, None)
            else:
                handler.finish()
    except (Exception, asyncio.CancelledError) as e:
        # A CancelledError raised here is the handler's own (it awaited nothing): an error.
        handler._settle_prepared()
        handler._handle_request_exception(e)
    return None


def _check_request_origin(handler: RequestHandler) -> None:
    """The checks of a request that may change state (not GET, HEAD or OPTIONS), before
    ``prepare``: the XSRF token (``xsrf_cookies``), then where the request comes from
    (``cross_origin_protection``); 403 when one fails."""
    settings = handler.application.settings
    if settings.get("xsrf_cookies"):
        handler.check_xsrf_cookie()
    if settings.get("cross_origin_protection"):
        refusal = xsrf.cross_origin_refusal(handler.request, handler.check_trusted_origin)
        if refusal is not None:
            raise HTTPError(403, "%s", refusal)


def _as_future(result: Awaitable[None]) -> Awaitable[None]:
    """``result`` as an ``asyncio.Future``, as Tornado's ``finish``/``flush`` return (code
    checks ``isinstance(f, Future)``): the transport's answer is often an already complete
    awaitable, which becomes a done Future. Outside a running loop it is returned as is.

    A connection that is not squall's (a test's ``MagicMock``, an application's own
    ``HTTPConnection``) may answer ``write_headers``/``write`` with something that is not
    awaitable (a mock, None): that is returned as is too, as Tornado passes the connection's
    answer through. The check comes after the two common cases, so they pay nothing for it."""
    if isinstance(result, asyncio.Future):
        return result
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return result
    if isinstance(result, CompletedAwaitable):
        future: asyncio.Future[None] = loop.create_future()
        future.set_result(None)
        return future
    if not inspect.isawaitable(result):
        return result
    return asyncio.ensure_future(result)


def _finish_response(handler: RequestHandler, chunk: Any) -> Awaitable[None]:
    # The body of RequestHandler.finish (see _flush_buffer for why a function).
    if handler._finished:
        raise RuntimeError("finish() called twice")
    if handler._in_thread:
        raise RuntimeError(_IN_THREAD.format("finish"))
    if chunk is not None:
        handler.write(chunk)
    if not handler._headers_written:
        status = handler._status_code
        d = handler._headers._dict
        if status == 200 and handler.request.method in ("GET", "HEAD") and "Etag" not in d:
            cls = type(handler)
            if (
                cls.compute_etag is _compute_etag
                and cls.set_etag_header is _set_etag_header
                and cls.check_etag_header is _check_etag_header
            ):
                # The three default methods in one (every GET response computes an ETag).
                body = b"".join(handler._write_buffer)
                handler._write_buffer = [body]
                ours = d["Etag"] = etag.body_etag(handler._write_buffer)
                if_none_match = handler.request.headers._dict.get("If-None-Match")
                if if_none_match and etag.matches(ours, if_none_match):
                    handler._write_buffer = []
                    handler.set_status(304)
                    status = 304
                elif "Content-Length" not in d:
                    d["Content-Length"] = str(len(body))
            else:
                handler.set_etag_header()
                if handler.check_etag_header():
                    handler._write_buffer = []
                    handler.set_status(304)
                    status = 304
        if status in (204, 304) or 100 <= status < 200:  # _bodyless, inline: every response
            if handler._write_buffer and any(handler._write_buffer):
                raise RuntimeError(f"Cannot send a body with a {status} response")
            for name in _NO_BODY_HEADERS:
                d.pop(name, None)
        elif "Content-Length" not in d:
            d["Content-Length"] = str(sum(map(len, handler._write_buffer)))
    if type(handler).flush is _flush:
        result = _flush_buffer(handler, True, None)
    else:
        result = handler.flush(include_footers=True)
    conn = handler.request.connection
    if conn is not None:
        connection_finish(conn)
    handler.application.log_request(handler)
    handler._finished = True
    if type(handler).on_finish is not _on_finish:
        handler.on_finish()
    return result


def _flush_buffer(
    handler: RequestHandler, include_footers: bool, callback: Callable[[], None] | None
) -> Awaitable[None]:
    # The body of RequestHandler.flush, as a function: the compiled build calls a function
    # directly, where a method call on a handler (always a Python subclass) goes by name.
    if handler._in_thread:
        raise RuntimeError(_IN_THREAD.format("flush"))
    conn = handler.request.connection
    if conn is None:
        raise RuntimeError("flush() needs a request with a connection")
    buffer = handler._write_buffer
    chunk = (buffer[0] if len(buffer) == 1 else b"".join(buffer)) if buffer else b""
    handler._write_buffer = []
    if not handler._headers_written:
        handler._headers_written = True
        status = handler._status_code
        headers = handler._headers
        for transform in handler._transforms:
            status, headers, chunk = transform.transform_first_chunk(
                status, headers, chunk, include_footers
            )
        handler._status_code, handler._headers = status, headers
        if handler.request.method == "HEAD":
            chunk = b""
        if handler._new_cookie:
            for value in handler._new_cookie:
                headers.add("Set-Cookie", value)
        start_line = _START_LINES.get(status)
        if start_line is None or start_line.reason != handler._reason:
            start_line = ResponseStartLine("HTTP/1.1", status, handler._reason)
        result = connection_write_headers(conn, start_line, headers, chunk)
    else:
        for transform in handler._transforms:
            chunk = transform.transform_chunk(chunk, include_footers)
        result = conn.write(chunk if handler.request.method != "HEAD" else b"")
    if callback is not None:
        _call_when_done(result, callback)
    return result


def _bodyless(status: int) -> bool:
    """Whether a response of ``status`` never has a body (RFC 9110: 1xx, 204, 304)."""
    return status in (204, 304) or 100 <= status < 200


def status_of(handler: RequestHandler) -> int:
    """``handler.get_status()``, read directly unless the handler's class overrides it."""
    if type(handler).get_status is _get_status:
        return handler._status_code
    return handler.get_status()


# The default implementations, to recognise handlers that do not override them (fast paths).
_compute_etag: Final = RequestHandler.compute_etag
_finish: Final = RequestHandler.finish
_get_status: Final = RequestHandler.get_status
_flush: Final = RequestHandler.flush
_set_default_headers: Final = RequestHandler.set_default_headers
_initialize: Final = RequestHandler.initialize
_create_template_loader: Final = RequestHandler.create_template_loader
_prepare: Final = RequestHandler.prepare
_on_finish: Final = RequestHandler.on_finish
_set_etag_header: Final = RequestHandler.set_etag_header
_check_etag_header: Final = RequestHandler.check_etag_header
_unimplemented: Final = unimplemented_method
_VERB: Final = {m: m.lower() for m in ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")}

"""The contract between the protocol layer and the framework: requests, headers, delegates.

Both sides speak only these names. The HTTP/1.1 protocol (``squall._http1``) turns bytes into
calls on an :class:`HTTPServerConnectionDelegate` / :class:`HTTPMessageDelegate` and offers an
:class:`HTTPConnection` to write the response; the framework (``squall.web``) implements the
delegates and writes through the connection. Nothing here knows about sockets or handlers.

The names and behaviour follow ``tornado.httputil`` so that code written against Tornado's
server-extension interfaces runs unchanged.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Iterable, Iterator, Mapping
from http.client import responses
from http.cookies import Morsel, SimpleCookie
from typing import Any, Final, NamedTuple, cast
from urllib.parse import urlsplit

from squall._compiled import Extensible, mypyc_attr
from squall._delegates import (
    HTTPConnection,
    HTTPInputError,
    HTTPMessageDelegate,
    HTTPOutputError,
    HTTPServerConnectionDelegate,
)
from squall._forms import (
    FormError,
    HTTPFile,
    ParseBodyConfig,
    ParseMultipartConfig,
    ParseUrlEncodedConfig,
    check_query_fields,
    default_parse_body_config,
    parse_body_arguments,
    parse_multipart_form_data,
)
from squall._forms import set_parse_body_config as _set_default_config
from squall._httpfmt import _encode_header as _encode_header  # Tornado's private helpers,
from squall._httpfmt import _parse_header as _parse_header  # which some code imports
from squall._httpfmt import (
    format_timestamp,
    parse_cookie,
    qs_to_qsl,
    split_host_and_port,
    url_concat,
)
from squall._types import MaybeAwaitable
from squall.escape import parse_qs_bytes

__all__ = [
    "FormError",
    "HTTPConnection",
    "HTTPFile",
    "HTTPHeaders",
    "HTTPInputError",
    "HTTPMessageDelegate",
    "HTTPOutputError",
    "HTTPServerConnectionDelegate",
    "HTTPServerRequest",
    "ParseBodyConfig",
    "ParseMultipartConfig",
    "ParseUrlEncodedConfig",
    "RequestStartLine",
    "ResponseStartLine",
    "format_timestamp",
    "parse_body_arguments",
    "parse_cookie",
    "parse_multipart_form_data",
    "parse_request_start_line",
    "parse_response_start_line",
    "qs_to_qsl",
    "responses",
    "set_parse_body_config",
    "split_host_and_port",
    "url_concat",
]


# ---------------------------------------------------------------------------------------------
# Headers

# Header names seen on the wire map to their canonical Http-Header-Case form; most requests use
# a handful of names, so the cache turns normalisation into one dict lookup.
_NORMALIZED: Final[dict[str, str]] = {}
_NORMALIZED_MAX: Final = 1000  # entries; a peer inventing names cannot grow the cache without bound
# Names add() has validated (RFC 9110 §5.1: a field name is a token), normalised, same bound.
_TOKENS: Final[dict[str, str]] = {}
_TOKEN_RE: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A field value may hold no control character other than HTAB, and no DEL (RFC 9110 §5.5).
_FORBIDDEN_VALUE_RE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# A name's joined value is rebuilt by add() while it has at most this many values; past that,
# add() only appends and the next read through a method rebuilds it once (so n adds cost O(n),
# not O(n²): CVE-2025-67725's shape). Below the threshold ``_dict`` is always exact, which
# the few direct readers of ``_dict`` in squall (the response path) rely on.
_EAGER_JOIN_MAX: Final = 8


def _normalize_name(name: str) -> str:
    """Return ``name`` in Http-Header-Case (``content-type`` -> ``Content-Type``)."""
    try:
        return _NORMALIZED[name]
    except KeyError:
        pass
    normalized = "-".join(part.capitalize() for part in name.split("-"))
    if len(_NORMALIZED) < _NORMALIZED_MAX:
        _NORMALIZED[name] = normalized
    return normalized


def _checked_token(name: str) -> str:
    """``name`` normalised, after checking that it is a token (else HTTPInputError)."""
    norm = _TOKENS.get(name)
    if norm is not None:
        return norm
    if not isinstance(name, str) or _TOKEN_RE.fullmatch(name) is None:
        raise HTTPInputError(f"Invalid header name {name!r}")
    norm = _normalize_name(name)
    if len(_TOKENS) < _NORMALIZED_MAX:
        _TOKENS[name] = norm
    return norm


def _rebuild_headers(pairs: list[tuple[str, str]]) -> HTTPHeaders:
    """Unpickle an :class:`HTTPHeaders` from its ``(name, value)`` pairs."""
    headers = HTTPHeaders()
    for name, value in pairs:
        headers.add(name, value)
    return headers


@mypyc_attr(allow_interpreted_subclasses=True)
class HTTPHeaders:
    """A case-insensitive multi-dict of header fields.

    ``headers["Content-Type"]`` returns the value; when a field appears several times the values
    are joined with commas, and :meth:`get_list` returns them separately. Names are stored in
    Http-Header-Case. Constructed like a dict: ``HTTPHeaders({"Content-Type": "text/html"})``,
    ``HTTPHeaders(content_type="text/html")`` is *not* supported (names have dashes).
    :meth:`add` and :meth:`parse` refuse a name that is not a token and a value with a control
    character (:class:`HTTPInputError`); ``headers[name] = value`` does not check. Copies
    (``copy()``, ``copy.copy``, ``copy.deepcopy``) and pickles keep every value.

        >>> h = HTTPHeaders()
        >>> h.add("Set-Cookie", "a=1")
        >>> h.add("set-cookie", "b=2")
        >>> h["SET-COOKIE"], h.get_list("Set-Cookie")
        ('a=1,b=2', ['a=1', 'b=2'])
    """

    __slots__ = ("_checked", "_dict", "_multi", "_stale")

    def __init__(self, fields: Any = None, /, **kwargs: str) -> None:
        self._dict: dict[str, str] = {}
        # Only names that occur more than once get a list; the common case stays one dict.
        self._multi: dict[str, list[str]] | None = None
        # Names whose joined value in _dict is out of date (see _EAGER_JOIN_MAX).
        self._stale: set[str] | None = None
        # True while every name and value is known to hold no CR or LF: set by the owner
        # that validated them (a RequestHandler), cleared by every unchecked write below.
        # The connection skips its own response-splitting check for such headers.
        self._checked = False
        if fields is None:
            if kwargs:
                self.update(kwargs)
        elif not kwargs and isinstance(fields, HTTPHeaders):
            for name, value in fields.get_all():
                self.add(name, value)
        else:
            self.update(fields, **kwargs)

    # -- multi-value API ---------------------------------------------------------------------

    def add(self, name: str, value: str) -> None:
        """Add a value for ``name``, keeping any existing values.

        Raises :class:`HTTPInputError` when ``name`` is not a token or ``value`` holds a
        control character (CR, LF, NUL, ...; a tab is allowed)."""
        norm = _checked_token(name)
        value = str(value)
        if _FORBIDDEN_VALUE_RE.search(value) is not None:
            raise HTTPInputError(f"Invalid header value {value!r}")
        self._checked = False
        d = self._dict
        joined = d.get(norm)
        if joined is None:
            d[norm] = value
            return
        multi = self._multi
        if multi is None:
            multi = self._multi = {}
        values = multi.get(norm)
        if values is None:
            values = multi[norm] = [joined]
        values.append(value)
        if len(values) <= _EAGER_JOIN_MAX:
            d[norm] = joined + "," + value
        else:
            stale = self._stale
            if stale is None:
                stale = self._stale = set()
            stale.add(norm)

    def _refresh(self) -> None:
        """Rebuild the joined values that add() left out of date."""
        stale, multi = self._stale, self._multi
        if stale is not None and multi is not None:
            for norm in stale:
                values = multi.get(norm)
                if values is not None:
                    self._dict[norm] = ",".join(values)
        self._stale = None

    def get_list(self, name: str) -> list[str]:
        """Return all values of ``name`` as a list (empty if absent)."""
        norm = _normalize_name(name)
        if self._multi is not None and norm in self._multi:
            return list(self._multi[norm])
        value = self._dict.get(norm)
        return [] if value is None else [value]

    def get_all(self) -> Iterator[tuple[str, str]]:
        """Yield every ``(name, value)`` pair; a repeated field yields one pair per value."""
        multi = self._multi
        for name, value in self._dict.items():
            if multi is not None and name in multi:
                for v in multi[name]:
                    yield name, v
            else:
                yield name, value

    def parse_line(self, line: str) -> None:
        """Add one ``Name: value`` line (its final CRLF, LF or CR is dropped).

        The empty line that ends a header block adds nothing (an HTTP client's
        ``header_callback`` passes it too). Continuation lines (obs-fold), a line without a
        colon, a name that is not a token and a value with a control character raise
        :class:`HTTPInputError`."""
        if line.endswith("\n"):
            line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            return
        if line[0] in " \t":
            raise HTTPInputError(f"Invalid header line (obs-fold): {line!r}")
        name, sep, value = line.partition(":")
        if not sep:
            raise HTTPInputError(f"No colon in header line: {line!r}")
        self.add(name, value.strip(" \t"))

    @classmethod
    def parse(cls, headers: str) -> HTTPHeaders:
        """Parse a header block (lines separated by CRLF or LF) into an :class:`HTTPHeaders`.

        Only LF ends a line (a CR must be followed by it; other Unicode line breaks are
        data). Raises :class:`HTTPInputError` for a malformed line."""
        h = cls()
        start, size = 0, len(headers)
        while start < size:
            end = headers.find("\n", start)
            if end < 0:
                end = size
            if end > start and not (end == start + 1 and headers[start] == "\r"):
                h.parse_line(headers[start:end])
            start = end + 1
        return h

    # -- mapping API -------------------------------------------------------------------------

    def __getitem__(self, name: str) -> str:
        if self._stale is not None:
            self._refresh()
        return self._dict[_normalize_name(name)]

    def __setitem__(self, name: str, value: Any) -> None:  # Any: str() of anything, as before
        norm = _normalize_name(name)
        # bytes are their latin-1 text (the same bytes on the wire), not "b'...'".
        if type(value) is not str:
            value = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        self._dict[norm] = value
        self._checked = False
        if self._multi is not None:
            self._multi.pop(norm, None)

    def __delitem__(self, name: str) -> None:
        norm = _normalize_name(name)
        del self._dict[norm]
        if self._multi is not None:
            self._multi.pop(norm, None)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _normalize_name(name) in self._dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HTTPHeaders):
            return sorted(self.get_all()) == sorted(other.get_all())
        if isinstance(other, Mapping):
            if self._stale is not None:
                self._refresh()
            return self._dict == {_normalize_name(k): v for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable mapping: unhashable, like dict

    def get(self, name: str, default: Any = None) -> Any:
        """Return the (comma-joined) value of ``name``, or ``default``."""
        if self._stale is not None:
            self._refresh()
        return self._dict.get(_normalize_name(name), default)

    def pop(self, name: str, *default: Any) -> Any:
        """Remove ``name`` and return its value (or ``default`` if given and absent)."""
        if self._stale is not None:
            self._refresh()
        norm = _normalize_name(name)
        if self._multi is not None:
            self._multi.pop(norm, None)
        return self._dict.pop(norm, *default)

    def setdefault(self, name: str, default: str) -> str:
        """Return the value of ``name``, setting it to ``default`` first if absent."""
        if self._stale is not None:
            self._refresh()
        norm = _normalize_name(name)
        if norm not in self._dict:
            self._checked = False
            self._dict[norm] = default
        return self._dict[norm]

    def update(self, *args: Any, **kwargs: str) -> None:
        """Set fields from a mapping or an iterable of pairs (replacing, like ``dict.update``)."""
        for arg in args:
            items = arg.items() if hasattr(arg, "items") else arg
            for name, value in items:
                self[name] = value
        for name, value in kwargs.items():
            self[name] = value

    def keys(self) -> Iterable[str]:
        """The distinct field names, in insertion order."""
        return self._dict.keys()

    def values(self) -> Iterable[str]:
        """The (comma-joined) values, in insertion order."""
        if self._stale is not None:
            self._refresh()
        return self._dict.values()

    def items(self) -> Iterable[tuple[str, str]]:
        """``(name, comma-joined value)`` pairs; see :meth:`get_all` for one pair per value."""
        if self._stale is not None:
            self._refresh()
        return self._dict.items()

    def clear(self) -> None:
        """Remove every field."""
        self._dict.clear()
        self._multi = None
        self._stale = None

    def copy(self) -> HTTPHeaders:
        """Return an independent copy."""
        if self._stale is not None:
            self._refresh()
        new = HTTPHeaders.__new__(HTTPHeaders)
        new._dict = dict(self._dict)
        new._multi = None if self._multi is None else {k: list(v) for k, v in self._multi.items()}
        new._stale = None
        new._checked = self._checked
        return new

    def __copy__(self) -> HTTPHeaders:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> HTTPHeaders:
        return self.copy()  # names and values are strings: a copy shares nothing mutable

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_headers, (list(self.get_all()),)

    def __str__(self) -> str:
        return "".join(f"{name}: {value}\r\n" for name, value in self.get_all())

    def __repr__(self) -> str:
        if self._stale is not None:
            self._refresh()
        return f"{self.__class__.__name__}({dict(self._dict)!r})"


# ---------------------------------------------------------------------------------------------
# Body parsing configuration (the parsing itself is squall._forms)

#: The process-wide default :class:`ParseBodyConfig` when this module was imported (Tornado's
#: name); :func:`set_parse_body_config` replaces it, here and where the parsers read it.
_DEFAULT_PARSE_BODY_CONFIG: ParseBodyConfig = default_parse_body_config()


def set_parse_body_config(config: ParseBodyConfig) -> None:
    """Set the process-wide default :class:`ParseBodyConfig` for request-body parsing.

    It applies wherever no config is given: ``parse_body_arguments``, the query-string
    field limit of :class:`HTTPServerRequest`, and applications without a
    ``parse_body_config`` setting. A non-ParseBodyConfig raises TypeError."""
    global _DEFAULT_PARSE_BODY_CONFIG
    _set_default_config(config)
    _DEFAULT_PARSE_BODY_CONFIG = config


# ---------------------------------------------------------------------------------------------
# Start lines


class RequestStartLine(NamedTuple):
    """The first line of a request: ``method``, ``path`` (the request target) and ``version``."""

    method: str
    path: str
    version: str


class ResponseStartLine(NamedTuple):
    """The first line of a response: ``version``, ``code`` and ``reason``."""

    version: str
    code: int
    reason: str


def parse_request_start_line(line: str) -> RequestStartLine:
    """Parse ``GET /path HTTP/1.1``; raise :class:`HTTPInputError` if it is malformed."""
    try:
        method, path, version = line.split(" ")
    except ValueError:
        raise HTTPInputError(f"Malformed HTTP request line: {line!r}") from None
    if not version.startswith("HTTP/") or len(version) != 8:
        raise HTTPInputError(f"Malformed HTTP version in request line: {line!r}")
    return RequestStartLine(method, path, version)


def parse_response_start_line(line: str) -> ResponseStartLine:
    """Parse ``HTTP/1.1 200 OK``; raise :class:`HTTPInputError` if it is malformed."""
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or len(code) != 3 or not code.isdigit():
        raise HTTPInputError(f"Error parsing response start line: {line!r}")
    return ResponseStartLine(version, int(code), reason)


# ---------------------------------------------------------------------------------------------
# The request


_EMPTY_HEADERS: Final[Mapping[str, str]] = {}


@mypyc_attr(allow_interpreted_subclasses=True)
class HTTPServerRequest(Extensible):
    """A single HTTP request, as the server received it.

    A query string with more fields than ``ParseUrlEncodedConfig.max_arguments`` (1000)
    raises :class:`FormError` (an :class:`HTTPInputError`) here, as in Tornado.

    Attributes: ``method``, ``uri``, ``path``, ``query``, ``version``, ``headers``, ``body``
    (bytes, empty until read), ``remote_ip``, ``protocol`` (``http`` or ``https``), ``host``,
    ``host_name``, ``arguments``/``query_arguments``/``body_arguments`` (dicts of lists of
    bytes), ``files`` (dict of lists of :class:`HTTPFile`), ``cookies``, ``connection`` (the
    :class:`HTTPConnection`). Query arguments, ``host_name`` and cookies are parsed on first use.

    An absolute-form request target (``GET http://example.com/a?b HTTP/1.1``) is accepted as
    RFC 9112 §3.2.2 requires: ``path`` and ``query`` come from it and ``host`` is its authority.
    """

    __slots__ = (
        "_files",
        "_start_time",
        "body",
        "connection",
        "headers",
        "host",
        "method",
        "path",
        "protocol",
        "query",
        "remote_ip",
        "server_connection",
        "uri",
        "version",
    )

    # Lazily filled state: class defaults until first set (most requests never set them), so
    # constructing a request (once per request) does not write them.
    _host_name: str | None = None
    _arguments: dict[str, list[bytes]] | None = None
    _query_arguments: dict[str, list[bytes]] | None = None
    _body_arguments: dict[str, list[bytes]] | None = None
    _cookies: SimpleCookie | None = None
    _finish_time: float | None = None

    def __init__(
        self,
        method: str | None = None,
        uri: str | None = None,
        version: str = "HTTP/1.0",
        headers: HTTPHeaders | None = None,
        body: bytes | None = None,
        host: str | None = None,
        files: dict[str, list[HTTPFile]] | None = None,
        connection: HTTPConnection | None = None,
        start_line: RequestStartLine | None = None,
        server_connection: object | None = None,
    ) -> None:
        if start_line is not None:
            method, uri, version = start_line
        self.method = method or "GET"
        self.version = version
        self.headers = headers if headers is not None else HTTPHeaders()
        self.body = body or b""
        self.connection = connection
        self.server_connection = server_connection
        self.remote_ip: str | None
        self.protocol: str
        self.remote_ip, self.protocol = connection_peer(connection)
        uri = uri or "/"
        if uri[0] != "/" and "://" in uri[:8]:
            # Absolute-form target: its authority replaces the Host header (RFC 9112 §3.2.2).
            parts = urlsplit(uri)
            host = host or parts.netloc
            uri = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        self.uri = uri
        self.host = host or self.headers._dict.get("Host") or "127.0.0.1"
        mark = uri.find("?")
        if mark < 0:
            self.path = uri
            self.query = ""
        else:
            self.path = uri[:mark]
            self.query = uri[mark + 1 :]
            # As in Tornado, a query with more fields than a urlencoded body may have is
            # refused here (parsing it is superlinear in the number of fields).
            check_query_fields(self.query)
        self._files = files
        self._start_time = time.time()

    @property
    def files(self) -> dict[str, list[HTTPFile]]:
        """Uploaded files by form field name (each a list of :class:`HTTPFile`)."""
        files = self._files
        if files is None:
            files = self._files = {}
        return files

    @files.setter
    def files(self, value: dict[str, list[HTTPFile]]) -> None:
        self._files = value

    # -- lazily parsed views -----------------------------------------------------------------

    @property
    def host_name(self) -> str:
        """The host without its port, lower-cased (``Example.com:8080`` -> ``example.com``)."""
        if self._host_name is None:
            self._host_name = split_host_and_port(self.host.lower())[0]
        return self._host_name

    @host_name.setter
    def host_name(self, value: str) -> None:
        self._host_name = value

    @property
    def query_arguments(self) -> dict[str, list[bytes]]:
        """Arguments from the query string: ``{name: [value, ...]}`` with bytes values."""
        if self._query_arguments is None:
            self._query_arguments = (
                parse_qs_bytes(self.query, keep_blank_values=True) if self.query else {}
            )
        return self._query_arguments

    @query_arguments.setter
    def query_arguments(self, value: dict[str, list[bytes]]) -> None:
        self._query_arguments = value

    @property
    def body_arguments(self) -> dict[str, list[bytes]]:
        """Arguments from a form body (filled by :meth:`_parse_body`, or by the framework)."""
        if self._body_arguments is None:
            self._body_arguments = {}
        return self._body_arguments

    @body_arguments.setter
    def body_arguments(self, value: dict[str, list[bytes]]) -> None:
        self._body_arguments = value

    @property
    def arguments(self) -> dict[str, list[bytes]]:
        """Query and body arguments together (query values first)."""
        if self._arguments is None:
            merged = {k: list(v) for k, v in self.query_arguments.items()}
            for k, v in self.body_arguments.items():
                merged.setdefault(k, []).extend(v)
            self._arguments = merged
        return self._arguments

    @arguments.setter
    def arguments(self, value: dict[str, list[bytes]]) -> None:
        self._arguments = value

    @property
    def cookies(self) -> dict[str, Morsel[str]]:
        """The request's cookies as a ``SimpleCookie`` (a dict of ``Morsel``); bad ones skipped."""
        if self._cookies is None:
            cookies: SimpleCookie = SimpleCookie()
            header = self.headers.get("Cookie")
            if header:
                for name, value in parse_cookie(header).items():
                    try:
                        cookies[name] = value
                    except Exception:  # an unencodable cookie is skipped
                        pass
            self._cookies = cookies
        return self._cookies

    # -- methods -----------------------------------------------------------------------------

    def full_url(self) -> str:
        """Reconstruct the full URL: ``protocol://host/uri``."""
        return f"{self.protocol}://{self.host}{self.uri}"

    def request_time(self) -> float:
        """Seconds the request took to execute (so far, if it has not finished)."""
        if self._finish_time is None:
            return time.time() - self._start_time
        return self._finish_time - self._start_time

    def get_ssl_certificate(self, binary_form: bool = False) -> Any:
        """Return the client's TLS certificate, or None (no TLS, or no certificate sent)."""
        get = getattr(self.connection, "get_ssl_certificate", None)
        return None if get is None else get(binary_form)

    def _parse_body(self, config: ParseBodyConfig | None = None) -> None:
        """Parse a form body into ``body_arguments``/``files`` and merge into ``arguments``.

        ``config`` defaults to the process-wide :class:`ParseBodyConfig`. Raises
        :class:`FormError` for a malformed body (the framework answers 400)."""
        body_arguments: dict[str, list[bytes]] = {}
        parse_body_arguments(
            self.headers.get("Content-Type", ""),
            self.body,
            body_arguments,
            self.files,
            cast("Mapping[str, str]", self.headers),  # HTTPHeaders has the Mapping methods
            config=config,
        )
        self._body_arguments = body_arguments
        self._arguments = None

    # -- legacy raw-callable API (Tornado <= 5) ------------------------------------------------

    def write(self, chunk: bytes) -> None:
        """Legacy: write raw response bytes (status line and headers included) to the connection."""
        raw_write = getattr(self.connection, "write_raw", None)
        if raw_write is None:
            raise RuntimeError("request.write() needs a squall HTTP/1.1 connection")
        raw_write(chunk)

    def finish(self) -> None:
        """Legacy: finish a response written with :meth:`write`."""
        if self.connection is None:
            raise RuntimeError("request.finish() called on a request with no connection")
        self.connection.finish()
        self._finish_time = time.time()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(protocol={self.protocol!r}, host={self.host!r}, "
            f"method={self.method!r}, uri={self.uri!r}, version={self.version!r}, "
            f"remote_ip={self.remote_ip!r})"
        )


#: Tornado's old name for :class:`HTTPServerRequest`.
HTTPRequest = HTTPServerRequest


# ---------------------------------------------------------------------------------------------
# The compiled build's direct calls (the contract above is all an application needs)
#
# squall's own implementations of the delegate interfaces derive from the Direct bases below:
# native classes in the compiled build, whose parents are the plain interfaces of
# ``squall._delegates``. A method called on a Direct instance is a C call; the same call
# through the plain interface (a Python class, which applications subclass freely) is a lookup
# by name. Each helper below makes one such call, and is the one place where the choice is
# written: ``isinstance`` against the Direct base, then the same call twice, the first one
# compiled as a direct call on the narrowed type, the second through the interface. In pure
# Python both branches are the same call. The ``message_*`` helpers are the protocol layer's
# calls of the message delegate, the ``connection_*`` helpers the web layer's calls of the
# connection. The rules of the compiled build are in ``squall._compiled``.


@mypyc_attr(allow_interpreted_subclasses=True)
class DirectServerDelegate(HTTPServerConnectionDelegate):
    """An :class:`HTTPServerConnectionDelegate` the protocol layer calls directly."""

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Return the message delegate for a new request (see the interface)."""
        raise NotImplementedError()


@mypyc_attr(allow_interpreted_subclasses=True)
class DirectMessageDelegate(HTTPMessageDelegate):
    """An :class:`HTTPMessageDelegate` the protocol layer calls directly."""

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> MaybeAwaitable:
        """The start line and headers have been read (see the interface)."""
        return None

    def data_received(self, chunk: bytes) -> MaybeAwaitable:
        """A piece of the body (see the interface)."""
        return None

    def finish(self) -> None:
        """The whole body has been received (see the interface)."""


@mypyc_attr(allow_interpreted_subclasses=True)
class DirectConnection(HTTPConnection):
    """An :class:`HTTPConnection` the web layer calls directly."""

    def write_headers(
        self,
        start_line: ResponseStartLine | RequestStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> Awaitable[None]:
        """Write the start line, headers and a first chunk (see the interface)."""
        raise NotImplementedError()

    def write(self, chunk: bytes) -> Awaitable[None]:
        """Write a body chunk (see the interface)."""
        raise NotImplementedError()

    def finish(self) -> None:
        """Mark the response complete (see the interface)."""
        raise NotImplementedError()

    def set_close_callback(self, callback: Any) -> None:
        """Call ``callback()`` if the connection closes first (see the interface)."""
        raise NotImplementedError()

    def peer(self) -> tuple[str | None, str]:
        """The client's address and the scheme (``http``/``https``) the request arrived on."""
        return _context_peer(self)


def message_headers_received(
    message: HTTPMessageDelegate,
    start_line: RequestStartLine | ResponseStartLine,
    headers: HTTPHeaders,
) -> MaybeAwaitable:
    """``message.headers_received(start_line, headers)``, direct when it can be."""
    if isinstance(message, DirectMessageDelegate):
        return message.headers_received(start_line, headers)
    return message.headers_received(start_line, headers)


def message_data_received(message: HTTPMessageDelegate, chunk: bytes) -> MaybeAwaitable:
    """``message.data_received(chunk)``, direct when it can be."""
    if isinstance(message, DirectMessageDelegate):
        return message.data_received(chunk)
    return message.data_received(chunk)


def message_finish(message: HTTPMessageDelegate) -> None:
    """``message.finish()``, direct when it can be."""
    if isinstance(message, DirectMessageDelegate):
        message.finish()
    else:
        message.finish()


def connection_write_headers(
    connection: HTTPConnection,
    start_line: ResponseStartLine,
    headers: HTTPHeaders,
    chunk: bytes,
) -> Awaitable[None]:
    """``connection.write_headers(start_line, headers, chunk)``, direct when it can be."""
    if isinstance(connection, DirectConnection):
        return connection.write_headers(start_line, headers, chunk)
    return connection.write_headers(start_line, headers, chunk)


def connection_finish(connection: HTTPConnection) -> None:
    """``connection.finish()``, direct when it can be."""
    if isinstance(connection, DirectConnection):
        connection.finish()
    else:
        connection.finish()


def connection_set_close_callback(connection: HTTPConnection, callback: Any) -> None:
    """``connection.set_close_callback(callback)``, direct when it can be."""
    if isinstance(connection, DirectConnection):
        connection.set_close_callback(callback)
    else:
        connection.set_close_callback(callback)


def connection_peer(connection: HTTPConnection | None) -> tuple[str | None, str]:
    """The client's address and scheme: a Direct connection's :meth:`DirectConnection.peer`,
    else read from ``connection.context`` (``(None, "http")`` without one)."""
    if isinstance(connection, DirectConnection):
        return connection.peer()
    return _context_peer(connection)


def _context_peer(connection: object) -> tuple[str | None, str]:
    """``remote_ip`` and ``protocol`` of ``connection.context``, if it has one."""
    context = getattr(connection, "context", None)
    return getattr(context, "remote_ip", None), getattr(context, "protocol", "http")

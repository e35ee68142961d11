"""Request-body form parsing and the small URL/cookie/date helpers that squall.httputil re-exports.

``parse_body_arguments`` fills ``arguments`` (name -> list of value bytes) and ``files``
(name -> list of HTTPFile) from an ``application/x-www-form-urlencoded`` or
``multipart/form-data`` body, with Tornado's semantics. Multipart bodies are fed to
python-multipart's streaming parser; this module only collects the parts and enforces the
limits of a ParseBodyConfig (Tornado's names, with squall's per-part size limits added).
Any malformed or over-limit body raises FormError (an HTTPInputError), which the web layer
answers with 400.

Rule: stdlib, python-multipart, squall.escape and squall._delegates (for HTTPInputError)
only; nothing else from squall.
"""

from __future__ import annotations

import calendar
import datetime
import email.utils
import logging
import re
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from squall._delegates import HTTPInputError
from squall.escape import parse_qs_bytes

try:
    from python_multipart import MultipartParser
except ImportError:  # python-multipart < 0.0.13 only had the "multipart" import name
    from multipart import MultipartParser  # type: ignore[no-redef]

gen_log = logging.getLogger("squall.general")

_URLENCODED = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


class FormError(HTTPInputError, ValueError):
    """A request body that is malformed or over a configured limit; the web layer answers 400.

    An :class:`~squall.httputil.HTTPInputError` (what Tornado raises for a bad body) and,
    as before, a ``ValueError``."""


def _check_limit(owner: str, name: str, value: object, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{owner}.{name} must be an int >= 0, got {value!r}")


@dataclass
class ParseUrlEncodedConfig:
    """Limits for ``application/x-www-form-urlencoded`` bodies (and query strings).

    ``max_arguments``: the most ``&``-separated fields accepted (1000); one more raises
    :class:`FormError` ("Max number of fields exceeded")."""

    max_arguments: int = 1000

    def __post_init__(self) -> None:
        _check_limit("ParseUrlEncodedConfig", "max_arguments", self.max_arguments)


@dataclass
class ParseMultipartConfig:
    """Limits for ``multipart/form-data`` bodies; each violation raises :class:`FormError`.

    Tornado's fields: ``enabled`` (False refuses every multipart body), ``max_parts`` (100),
    ``max_part_header_size`` (10240 bytes of one part's header lines). squall's own, after
    them: ``max_field_size`` (bytes of one non-file value, 1 MiB; None for no limit) and
    ``max_file_size`` (bytes of one uploaded file; None, the default, leaves files bounded
    only by the body size the server accepted)."""

    enabled: bool = True
    max_parts: int = 100
    max_part_header_size: int = 10240  # bytes
    max_field_size: int | None = 1024 * 1024  # bytes
    max_file_size: int | None = None  # bytes

    def __post_init__(self) -> None:
        for name in ("max_parts", "max_part_header_size"):
            _check_limit("ParseMultipartConfig", name, getattr(self, name))
        for name in ("max_field_size", "max_file_size"):
            _check_limit("ParseMultipartConfig", name, getattr(self, name), optional=True)


@dataclass
class ParseBodyConfig:
    """How request bodies are parsed: ``multipart`` (:class:`ParseMultipartConfig`) and
    ``urlencoded`` (:class:`ParseUrlEncodedConfig`).

    The process-wide default is set with :func:`set_parse_body_config`; an application may
    give its own with the ``parse_body_config`` setting."""

    multipart: ParseMultipartConfig = field(default_factory=ParseMultipartConfig)
    urlencoded: ParseUrlEncodedConfig = field(default_factory=ParseUrlEncodedConfig)


_default_config = ParseBodyConfig()


def set_parse_body_config(config: ParseBodyConfig) -> None:
    """Set the process-wide default :class:`ParseBodyConfig` (used when none is passed).

    For example ``set_parse_body_config(ParseBodyConfig(multipart=ParseMultipartConfig(
    enabled=False)))`` refuses multipart bodies everywhere. A non-ParseBodyConfig raises
    TypeError."""
    global _default_config
    if not isinstance(config, ParseBodyConfig):
        raise TypeError(f"set_parse_body_config() needs a ParseBodyConfig, got {config!r}")
    _default_config = config


def default_parse_body_config() -> ParseBodyConfig:
    """The process-wide default set by :func:`set_parse_body_config`."""
    return _default_config


class HTTPFile:
    """A file uploaded in a multipart/form-data body: ``filename``, ``body``, ``content_type``.

    Like Tornado's, the fields can also be read as items (``f["body"]``, ``f.get("x")``).
    ``content_type`` is ``application/unknown`` when the part had no Content-Type."""

    __slots__ = ("filename", "body", "content_type")
    _FIELDS = frozenset(__slots__)

    def __init__(self, filename: str, body: bytes, content_type: str = "application/unknown"):
        self.filename = filename
        self.body = body
        self.content_type = content_type

    def __getitem__(self, key: str) -> Any:
        if key not in self._FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """Return field ``key``, or ``default`` if HTTPFile has no such field."""
        return getattr(self, key) if key in self._FIELDS else default

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HTTPFile):
            return NotImplemented
        return (self.filename, self.body, self.content_type) == (
            other.filename,
            other.body,
            other.content_type,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dict Tornado uses

    def __repr__(self) -> str:
        return (
            f"HTTPFile(filename={self.filename!r}, content_type={self.content_type!r}, "
            f"body=<{len(self.body)} bytes>)"
        )


def parse_urlencoded(
    body: bytes,
    arguments: dict[str, list[bytes]],
    config: ParseUrlEncodedConfig | None = None,
) -> None:
    """Merge the fields of an urlencoded body into ``arguments``, blank values included.

    Values are the exact bytes sent (invalid UTF-8 survives); repeated names append. More
    than ``config.max_arguments`` fields raise :class:`FormError`."""
    if not body:
        return
    max_arguments = (config or _default_config.urlencoded).max_arguments
    if body.count(b"&") >= max_arguments:
        raise FormError(f"Max number of fields exceeded in urlencoded body (limit {max_arguments})")
    for name, values in parse_qs_bytes(body, keep_blank_values=True).items():
        arguments.setdefault(name, []).extend(values)


def check_query_fields(query: str, config: ParseUrlEncodedConfig | None = None) -> None:
    """Refuse a query string with more fields than ``max_arguments`` (:class:`FormError`)."""
    max_arguments = (config or _default_config.urlencoded).max_arguments
    if query.count("&") >= max_arguments:
        raise FormError(f"Max number of fields exceeded in query string (limit {max_arguments})")


def parse_body_arguments(
    content_type: str,
    body: bytes,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[HTTPFile]],
    headers: Mapping[str, str] | None = None,
    *,
    config: ParseBodyConfig | None = None,
) -> None:
    """Parse a form body into ``arguments`` and ``files`` according to ``content_type``.

    Handles application/x-www-form-urlencoded and multipart/form-data (which needs a
    ``boundary`` parameter); any other type is left alone. ``config`` defaults to the
    process-wide :class:`ParseBodyConfig`. A form body with a Content-Encoding other than
    identity raises :class:`FormError`, as do malformed bodies and broken limits."""
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type not in (_URLENCODED, _MULTIPART):
        return
    encoding = _header(headers, "Content-Encoding")
    if encoding is not None and encoding.strip().lower() not in ("", "identity"):
        raise FormError(f"Unsupported Content-Encoding: {encoding}")
    config = config or _default_config
    if media_type == _URLENCODED:
        parse_urlencoded(body, arguments, config.urlencoded)
        return
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "boundary" and value.strip().strip('"'):
            boundary = value.strip().strip('"')
            parse_multipart_form_data(
                boundary.encode(), body, arguments, files, config=config.multipart
            )
            return
    raise FormError("Invalid multipart/form-data: no boundary")


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Look ``name`` up in ``headers``, case-insensitively even when it is a plain dict."""
    if headers is None:
        return None
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def parse_multipart_form_data(
    boundary: bytes,
    data: bytes,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[HTTPFile]],
    *,
    config: ParseMultipartConfig | None = None,
) -> None:
    """Parse a multipart/form-data body into ``arguments`` and ``files``.

    Every part needs a ``Content-Disposition: form-data`` header with a non-empty ``name``;
    a part with a non-empty filename (``filename*=`` per RFC 2231 wins over ``filename=``)
    becomes an HTTPFile, any other part a value. A malformed body (a part without that
    header, a header value with a control character, a missing final boundary), a broken
    limit of ``config`` (default: the process-wide one), or ``config.enabled`` False raise
    :class:`FormError`; nothing is then guaranteed about what was already added to
    ``arguments`` and ``files``."""
    config = config or _default_config.multipart
    if not config.enabled:
        raise FormError("multipart/form-data parsing is disabled")
    if boundary.startswith(b'"') and boundary.endswith(b'"'):
        boundary = boundary[1:-1]
    parts = _PartCollector(arguments, files, config)
    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": parts.on_part_begin,
                "on_header_field": parts.on_header_field,
                "on_header_value": parts.on_header_value,
                "on_header_end": parts.on_header_end,
                "on_headers_finished": parts.on_headers_finished,
                "on_part_data": parts.on_part_data,
                "on_part_end": parts.on_part_end,
                "on_end": parts.on_end,
            },
            # The part-header limits are ParseMultipartConfig's, enforced by the callbacks
            # (with their messages); the parser's own per-line limits would cut in first.
            max_header_count=len(data) + 1,
            max_header_size=len(data) + 1,
        )
        # Its warnings repeat the error raised below: the application sees that one only.
        parser.logger = _SILENT_LOG
        _feed(parser, parts, data, boundary)
    except FormError:
        raise
    except ValueError as exc:  # python-multipart's FormParserError is a ValueError
        offset = getattr(exc, "offset", None)
        if parts.in_headers and isinstance(offset, int) and data[offset - 1 : offset] == b"\r":
            # python-multipart stops at a CR that is not followed by LF: a bare CR in a value.
            raise FormError(
                "Invalid header value in a multipart/form-data part: a CR not followed by LF"
            ) from exc
        raise FormError(f"Invalid multipart/form-data: {exc}") from exc
    if not parts.ended:
        raise FormError("Invalid multipart/form-data: no final boundary (truncated body?)")


_SILENT_LOG = logging.Logger("squall._forms.multipart")
_SILENT_LOG.disabled = True


def _feed(parser: Any, parts: _PartCollector, data: bytes, boundary: bytes) -> None:
    """Write ``data`` to ``parser``, accepting an empty part whose delimiter lacks its CRLF.

    Strictly (RFC 2046 §5.1.1) the CRLF before ``--boundary`` belongs to the delimiter, so an
    empty part is ``headers CRLF CRLF CRLF --boundary``; Tornado also accepts it without the
    last CRLF. Where the part headers end right before ``--boundary``, the CRLF is supplied.
    The data is written in pieces only around such places (a body ending in CRLF looks the
    same from outside; the parser's state tells them apart)."""
    marker = b"\r\n\r\n--" + boundary
    start = 0
    while True:
        at = data.find(marker, start)
        if at < 0:
            break
        parser.write(data[start : at + 2])
        finished = parts.headers_finished
        parser.write(data[at + 2 : at + 4])
        if parts.headers_finished != finished:  # the headers ended here: the body is empty
            parser.write(b"\r\n")
        start = at + 4
    parser.write(data[start:] if start else data)


# Characters a header value may not hold (RFC 9110 §5.5): controls other than HTAB, and DEL.
_FORBIDDEN_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Per header line, the bytes the callbacks do not report: ": " and CRLF.
_HEADER_LINE_OVERHEAD = 4


class _PartCollector:
    """python-multipart callbacks that gather each part and enforce the limits."""

    __slots__ = (
        "_arguments", "_files", "_config", "ended", "in_headers", "headers_finished", "_count",
        "_header_bytes",
        "_field", "_value", "_headers", "_name", "_filename", "_max_size", "_size", "_chunks",
    )  # fmt: skip

    # Per-part state, (re)set by on_part_begin before the parser reports anything else.
    _header_bytes: int
    _field: list[bytes]
    _value: list[bytes]
    _headers: dict[str, str]
    _name: str | None
    _filename: str | None
    _max_size: int | None
    _size: int
    _chunks: list[bytes]

    def __init__(
        self,
        arguments: dict[str, list[bytes]],
        files: dict[str, list[HTTPFile]],
        config: ParseMultipartConfig,
    ) -> None:
        self._arguments = arguments
        self._files = files
        self._config = config
        self.ended = False
        self.in_headers = False
        self.headers_finished = 0  # parts whose header block has ended
        self._count = 0

    def on_part_begin(self) -> None:
        self._count += 1
        if self._count > self._config.max_parts:
            raise FormError(
                f"multipart/form-data has too many parts (limit {self._config.max_parts})"
            )
        self.in_headers = True
        self._header_bytes = self._size = 0
        self._field, self._value, self._chunks, self._headers = [], [], [], {}
        self._name = self._filename = self._max_size = None

    def _add_header_bytes(self, n: int) -> None:
        self._header_bytes += n
        limit = self._config.max_part_header_size
        if self._header_bytes > limit:
            raise FormError(f"multipart/form-data part header too large (limit {limit} bytes)")

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._add_header_bytes(end - start)
        self._field.append(data[start:end])

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._add_header_bytes(end - start)
        self._value.append(data[start:end])

    def on_header_end(self) -> None:
        self._add_header_bytes(_HEADER_LINE_OVERHEAD)
        try:
            name = b"".join(self._field).decode("ascii").strip().lower()
            value = b"".join(self._value).decode("utf-8").strip(" \t")
        except UnicodeDecodeError:
            raise FormError("Invalid multipart/form-data: part header is not UTF-8") from None
        if _FORBIDDEN_VALUE_RE.search(value):
            raise FormError(f"Invalid header value {value!r} in a multipart/form-data part")
        self._headers[name] = value
        self._field, self._value = [], []

    def on_headers_finished(self) -> None:
        self.in_headers = False
        self.headers_finished += 1
        disposition = self._headers.get("content-disposition")
        if disposition is None:
            raise FormError("Invalid multipart/form-data: a part has no Content-Disposition")
        kind, params = _parse_header(disposition)
        if kind.lower() != "form-data":
            raise FormError(
                f"Invalid multipart/form-data: a part's Content-Disposition is {kind!r}, "
                "not form-data"
            )
        name = params.get("name")
        if not name:
            raise FormError("Invalid multipart/form-data: a part's Content-Disposition has no name")
        self._name = name
        # Tornado: an empty filename (a file input left blank) makes the part a plain value.
        self._filename = params.get("filename") or None
        config = self._config
        self._max_size = config.max_file_size if self._filename else config.max_field_size

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name is None:
            return
        self._size += end - start
        if self._max_size is not None and self._size > self._max_size:
            what = "file" if self._filename else "field"
            raise FormError(
                f"multipart/form-data {what} {self._name!r} exceeds {self._max_size} bytes"
            )
        self._chunks.append(data[start:end])

    def on_part_end(self) -> None:
        if self._name is None:
            return
        body = b"".join(self._chunks)
        if self._filename:
            ctype = self._headers.get("content-type") or "application/unknown"
            self._files.setdefault(self._name, []).append(HTTPFile(self._filename, body, ctype))
        else:
            self._arguments.setdefault(self._name, []).append(body)

    def on_end(self) -> None:
        self.ended = True


# One ";name=value" parameter; the value is a quoted string (with backslash escapes) or a token.
_PARAM_RE = re.compile(r';\s*([^\s;=]+)\s*=\s*("(?:\\.|[^"\\])*"|[^;]*)')


def _parse_header(value: str) -> tuple[str, dict[str, str]]:
    """Split a header value like Content-Disposition into its main value and its parameters.

    ``'form-data; name="a"'`` gives ``("form-data", {"name": "a"})``: the main value as
    written, parameter names lower-cased, quoted values unquoted. RFC 2231/5987 extended
    parameters (``filename*=UTF-8''%E2%82%AC.txt``) are decoded and take precedence over
    the plain ones; an undecodable extended value is ignored."""
    kind = value.split(";", 1)[0].strip()
    plain: dict[str, str] = {}
    extended: dict[str, str] = {}
    for match in _PARAM_RE.finditer(value):
        key, raw = match.group(1).lower(), match.group(2).strip()
        if key.endswith("*"):
            charset, _, rest = raw.strip('"').partition("'")
            _, _, encoded = rest.partition("'")
            try:
                extended[key[:-1]] = urllib.parse.unquote(
                    encoded, encoding=charset or "utf-8", errors="strict"
                )
            except (LookupError, UnicodeDecodeError):
                continue
        elif len(raw) >= 2 and raw[0] == raw[-1] == '"':
            # Only \\ and \" are unescaped, so a Windows path like "C:\dir\a.txt" survives.
            plain[key] = _QUOTED_PAIR_RE.sub(r"\1", raw[1:-1])
        else:
            plain[key] = raw
    plain.update(extended)
    return kind, plain


_QUOTED_PAIR_RE = re.compile(r'\\([\\"])')


def _encode_header(key: str, pdict: Mapping[str, str | None]) -> str:
    """The inverse of :func:`_parse_header` for simple values: ``key; name=value; flag``.

    A None value writes the parameter name alone; values are written as given (unquoted)."""
    out = [key]
    for name, value in sorted(pdict.items()):
        out.append(name if value is None else f"{name}={value}")
    return "; ".join(out)


_NETLOC_RE = re.compile(r"^(.+):(\d+)$")


def split_host_and_port(netloc: str) -> tuple[str, int | None]:
    """Split ``host:port`` into ``(host, port)``; port is None when there is none.

    IPv6 literals keep their brackets: ``"[::1]:8080"`` gives ``("[::1]", 8080)``."""
    match = _NETLOC_RE.match(netloc)
    if match is None:
        return netloc, None
    return match.group(1), int(match.group(2))


def qs_to_qsl(qs: Mapping[str, Iterable[Any]]) -> Iterable[tuple[str, Any]]:
    """Turn ``{name: [v1, v2]}`` (as parse_qs gives) into pairs ``(name, v1), (name, v2)``."""
    for name, values in qs.items():
        for value in values:
            yield name, value


# A backslash escape in a quoted cookie value: three octal digits, or any one character.
_COOKIE_ESCAPE_RE = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))", re.DOTALL)


def _unquote_cookie(value: str) -> str:
    """Strip the double quotes around a cookie value and undo its backslash escapes."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    return _COOKIE_ESCAPE_RE.sub(
        lambda m: chr(int(m.group(1), 8)) if m.group(1) else m.group(2), value[1:-1]
    )


def parse_cookie(cookie: str) -> dict[str, str]:
    """Parse a Cookie header into ``{name: value}`` the lenient way browsers need.

    Pairs are split on ``;`` and on the first ``=``, and stripped; a chunk without ``=`` is
    a value with an empty name; a quoted value is unquoted. The last duplicate wins."""
    cookies: dict[str, str] = {}
    for chunk in cookie.split(";"):
        key, sep, value = chunk.partition("=")
        if not sep:
            key, value = "", key
        key, value = key.strip(), value.strip()
        if key or value:
            cookies[key] = _unquote_cookie(value)
    return cookies


def url_concat(
    url: str, args: Mapping[str, Any] | list[tuple[str, Any]] | tuple[tuple[str, Any], ...] | None
) -> str:
    """Append query arguments to ``url``, after any query it already has.

    ``args`` is a dict (one value per name), a list or tuple of ``(name, value)`` pairs
    (for repeated names), or None (``url`` is returned unchanged). The whole query is
    re-encoded. Any other type raises TypeError."""
    if args is None:
        return url
    if isinstance(args, Mapping):
        pairs: list[tuple[str, Any]] = list(args.items())
    elif isinstance(args, list | tuple):
        pairs = list(args)
    else:
        raise TypeError(
            f"url_concat() args must be a dict, a list or tuple of (name, value) pairs, "
            f"or None; got {type(args).__name__}"
        )
    parts = urllib.parse.urlparse(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    return urllib.parse.urlunparse(parts._replace(query=urllib.parse.urlencode(query + pairs)))


def format_timestamp(
    ts: float | tuple[int, ...] | time.struct_time | datetime.datetime,
) -> str:
    """Format a time as an HTTP date (RFC 7231 IMF-fixdate): ``Sun, 06 Nov 1994 08:49:37 GMT``.

    ``ts`` is a POSIX timestamp, a UTC ``time.struct_time`` or 9-tuple (as ``time.gmtime``
    gives), or a datetime (naive means UTC; aware is converted). Other types: TypeError."""
    if isinstance(ts, int | float):
        seconds: float = ts
    elif isinstance(ts, tuple | time.struct_time):
        seconds = calendar.timegm(ts)
    elif isinstance(ts, datetime.datetime):
        seconds = calendar.timegm(ts.utctimetuple())
    else:
        raise TypeError(
            f"format_timestamp() takes a POSIX timestamp, time.struct_time, tuple or "
            f"datetime; got {type(ts).__name__}"
        )
    return email.utils.formatdate(seconds, usegmt=True)

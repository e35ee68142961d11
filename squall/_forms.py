"""Request-body form parsing and the small URL/cookie/date helpers that squall.httputil re-exports.

``parse_body_arguments`` fills ``arguments`` (name -> list of value bytes) and ``files``
(name -> list of HTTPFile) from an ``application/x-www-form-urlencoded`` or
``multipart/form-data`` body, with Tornado's semantics. Multipart bodies are fed to
python-multipart's streaming parser; this module only collects the parts and enforces the
limits of a ParseBodyConfig (Tornado's names, with squall's per-part size limits added).
Any malformed or over-limit body raises FormError (an HTTPInputError), which the web layer
answers with 400.

Rule: stdlib, python-multipart, squall.escape, squall._httpfmt (header parameters) and
squall._delegates (for HTTPInputError) only; nothing else from squall.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from squall._delegates import HTTPInputError
from squall._httpfmt import _parse_header
from squall.escape import parse_qs_bytes

try:
    from python_multipart import MultipartParser
except ImportError:  # python-multipart < 0.0.13 only had the "multipart" import name
    from multipart import MultipartParser  # type: ignore[no-redef]

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
    data = _without_preamble(data, boundary)
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


def _without_preamble(data: bytes, boundary: bytes) -> bytes:
    """``data`` starting at its first boundary: text before it is a preamble, which RFC 2046
    §5.1.1 says to ignore. Except when that text is a part itself (a part's head with a
    ``Content-Disposition``, its blank line, a body) whose opening boundary the client left
    out: Tornado reads that as the first part, and so does squall (the boundary is
    supplied)."""
    delimiter = b"--" + boundary
    if data.startswith(delimiter):
        return data
    first = data.find(b"\r\n" + delimiter)
    if first < 0:
        return data  # no boundary at all: the parser says what is wrong
    head, blank, _ = data[:first].partition(b"\r\n\r\n")
    if blank and b"content-disposition:" in head.lower():
        return delimiter + b"\r\n" + data
    return data[first + 2 :]


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

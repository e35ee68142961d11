"""Escaping and string conversion helpers with Tornado's ``tornado.escape`` interface.

HTML, JSON and URL escaping, bytes/str conversion (``utf8``, ``to_unicode``), query-string
parsing that keeps undecodable bytes (``parse_qs_bytes``), ``squeeze`` and ``linkify``.
Standard library only; nothing in squall is imported here."""

from __future__ import annotations

import binascii
import html
import json
import re
import urllib.parse
from collections.abc import Callable
from typing import Any, overload


@overload
def utf8(value: None) -> None: ...
@overload
def utf8(value: str | bytes) -> bytes: ...
def utf8(value: str | bytes | None) -> bytes | None:
    """Encode a str as UTF-8 bytes; bytes and None are returned unchanged.

    Any other type raises TypeError."""
    if value is None or isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise TypeError(f"Expected bytes, unicode, or None; got {type(value)!r}")
    return value.encode("utf-8")


@overload
def to_unicode(value: None) -> None: ...
@overload
def to_unicode(value: str | bytes) -> str: ...
def to_unicode(value: str | bytes | None) -> str | None:
    """Decode UTF-8 bytes to str; str and None are returned unchanged.

    Invalid UTF-8 raises UnicodeDecodeError; any other type raises TypeError."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, bytes):
        raise TypeError(f"Expected bytes, unicode, or None; got {type(value)!r}")
    return value.decode("utf-8")


# Tornado's historical aliases: on Python 3 the "native" string is str.
_unicode = to_unicode
native_str = to_unicode
to_basestring = to_unicode


def recursive_unicode(obj: Any) -> Any:
    """Return ``obj`` with every bytes value inside dicts, lists and tuples decoded as UTF-8."""
    if isinstance(obj, dict):
        return {recursive_unicode(k): recursive_unicode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [recursive_unicode(item) for item in obj]
    if isinstance(obj, tuple):
        return tuple(recursive_unicode(item) for item in obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8")
    return obj


def xhtml_escape(value: str | bytes) -> str:
    """Escape ``& < > " '`` so the text is safe in HTML or XML, including quoted attributes.

    Same output as Tornado 6.4+ (``html.escape``): the single quote becomes ``&#x27;``."""
    return html.escape(to_unicode(value))


def xhtml_unescape(value: str | bytes) -> str:
    """Replace HTML character references (named, decimal and hex) with their characters."""
    return html.unescape(to_unicode(value))


def _make_fast_dumps() -> Callable[[Any], str]:
    # json.dumps builds a new C encoder on every call; with the default options one encoder can
    # be built once and reused (same output: ", " and ": " separators, ASCII escapes, NaN
    # allowed). Circular structures then fail with RecursionError instead of ValueError.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.dumps
    encoder = make(
        None,
        json.JSONEncoder().default,
        json.encoder.encode_basestring_ascii,
        None,
        ": ",
        ", ",
        False,
        False,
        True,
    )

    def dumps(value: Any) -> str:
        if isinstance(value, str):
            return str(json.encoder.encode_basestring_ascii(value))
        return "".join(encoder(value, 0))

    return dumps


_dumps = _make_fast_dumps()


def json_encode(value: Any) -> str:
    """Serialize ``value`` to JSON, writing ``</`` as ``<\\/`` so it cannot close a <script>."""
    return _dumps(value).replace("</", "<\\/")


def json_decode(value: str | bytes) -> Any:
    """Parse a JSON document given as str or UTF-8 bytes."""
    return json.loads(value)


def squeeze(value: str) -> str:
    """Collapse each run of whitespace and control characters into one space, then strip."""
    return re.sub(r"[\x00-\x20]+", " ", value).strip()


def url_escape(value: str | bytes, plus: bool = True) -> str:
    """Percent-encode ``value`` (str is encoded as UTF-8 first).

    With ``plus`` (the default, for query strings) spaces become ``+`` and ``/`` is escaped
    as ``%2F``. With ``plus=False`` (for URL paths) spaces become ``%20`` and ``/`` is kept."""
    if plus:
        return urllib.parse.quote_plus(value)
    return urllib.parse.quote(value)


@overload
def url_unescape(value: str | bytes, encoding: None, plus: bool = True) -> bytes: ...
@overload
def url_unescape(value: str | bytes, encoding: str = "utf-8", plus: bool = True) -> str: ...
def url_unescape(
    value: str | bytes, encoding: str | None = "utf-8", plus: bool = True
) -> str | bytes:
    """Decode percent-escapes; ``+`` means a space unless ``plus=False``.

    Bytes input must be UTF-8. The result is str, escapes decoded with ``encoding`` (invalid
    sequences become U+FFFD), or the raw bytes when ``encoding`` is None."""
    if encoding is None:
        raw = utf8(value)
        return _unquote_to_bytes(raw.replace(b"+", b" ") if plus else raw)
    text = to_unicode(value)
    if plus:
        return urllib.parse.unquote_plus(text, encoding=encoding)
    return urllib.parse.unquote(text, encoding=encoding)


_ESCAPE_RUN = re.compile(rb"(?:%[0-9A-Fa-f]{2}){1,4096}")  # bounded: sre keeps state per repeat


def _unquote_to_bytes(data: bytes) -> bytes:
    """``urllib.parse.unquote_to_bytes`` for bytes, in memory proportional to the input.

    The standard library makes an object per ``%``; here each run of escapes is decoded in
    one step and text between runs is copied straight into the result, so a hostile query
    string of a million escapes costs a few times its own size, not twenty. A ``%`` not
    followed by two hex digits stays as it is.
    """
    first = _ESCAPE_RUN.search(data)
    if first is None:
        return bytes(data)
    view = memoryview(data)
    out = bytearray(view[: first.start()])
    position = first.start()
    for match in _ESCAPE_RUN.finditer(data, position):
        out += view[position : match.start()]
        out += binascii.unhexlify(match.group().replace(b"%", b""))
        position = match.end()
    out += view[position:]
    return bytes(out)


def _query_bytes(qs: str | bytes) -> bytes:
    if isinstance(qs, bytes):
        return qs
    try:
        return qs.encode("latin-1")
    except UnicodeEncodeError:  # not a wire-format query string: take its UTF-8 bytes
        return qs.encode("utf-8")


def parse_qs_bytes(
    qs: str | bytes,
    keep_blank_values: bool = False,
    strict_parsing: bool = False,
    max_num_fields: int | None = None,
) -> dict[str, list[bytes]]:
    """Parse a query string into ``{name: [value bytes, ...]}``, keeping bytes that are not UTF-8.

    Fields are separated by ``&``; ``+`` is a space; values are the exact bytes sent, names the
    latin-1 reading of theirs (identical to UTF-8 for ASCII names). Blank values are dropped
    unless ``keep_blank_values``. ``strict_parsing`` makes an empty or ``=``-less field raise
    ValueError, and more than ``max_num_fields`` fields raise ValueError. Memory stays a small
    multiple of the input whatever it holds (see ``_unquote_to_bytes``).
    """
    data = _query_bytes(qs)
    if max_num_fields is not None and max_num_fields < 1 + data.count(b"&"):
        raise ValueError("Max number of fields exceeded")
    result: dict[str, list[bytes]] = {}
    for field in data.split(b"&"):
        if not field and not strict_parsing:
            continue
        name, equals, value = field.partition(b"=")
        if not equals:
            if strict_parsing:
                raise ValueError(f"bad query field: {field!r}")
            if not keep_blank_values:
                continue
        if value or keep_blank_values:
            key = _unquote_to_bytes(name.replace(b"+", b" ")).decode("latin-1")
            result.setdefault(key, []).append(_unquote_to_bytes(value.replace(b"+", b" ")))
    return result


# A URL starts with "scheme://" (or "scheme:" + one to three slashes) or "www.", runs over
# non-space characters (the text is already HTML-escaped, so "&amp;" is the only entity a URL
# may contain) and balanced parentheses, and never ends on sentence punctuation.
_URL_RE = re.compile(
    r"\b(?:([a-z][\w+.-]*):/{1,3}|www\d{0,3}[.])"
    r"(?:[^\s&<>()]|&amp;|\([^\s&<>()]*\))+(?<![.,;:!?'\"])",
    re.IGNORECASE,
)
_SHORT_LEN = 30  # characters of link text kept by shorten=True


def _shortened(url: str, scheme: str | None) -> str:
    """Tornado's ``shorten`` rule: keep the host and a hint of the first path segment
    (``http://example.com/articles...``); failing that, the first 30 characters."""
    if len(url) <= _SHORT_LEN:
        return url
    prefix_len = 0
    if scheme:
        prefix_len = len(scheme) + 1  # "scheme:"
        while prefix_len < len(url) and url[prefix_len] == "/":
            prefix_len += 1
    host, *path = url[prefix_len:].split("/")
    short = url
    if path:
        hint = path[0][:8].split("?")[0].split(".")[0]
        short = f"{url[:prefix_len]}{host}/{hint}"
    if len(short) > _SHORT_LEN * 1.5:
        short = short[:_SHORT_LEN]
    if short == url:
        return url
    if (amp := short.rfind("&")) >= 0 and ";" not in short[amp:]:
        short = short[:amp]  # never cut an escaped entity (the text is HTML-escaped) in half
    return short + "..."


def linkify(
    text: str | bytes,
    shorten: bool = False,
    extra_params: str | Callable[[str], str] = "",
    require_protocol: bool = False,
    permitted_protocols: tuple[str, ...] | list[str] = ("http", "https"),
) -> str:
    """HTML-escape ``text`` and turn the URLs in it into ``<a href>`` links.

    ``extra_params`` is added inside each ``<a>`` tag (``'rel="nofollow"'``), or is a
    callable given the href that returns them. URLs without a scheme (``www.x.org``) get
    ``http://`` unless ``require_protocol`` is set, in which case they stay plain text; a
    scheme outside ``permitted_protocols`` is never linked (so ``javascript:`` stays text).
    ``shorten`` trims long link text to about 30 characters and puts the URL in ``title``."""
    permitted = {p.lower() for p in permitted_protocols}

    def make_link(match: re.Match[str]) -> str:
        url, scheme = match.group(0), match.group(1)
        if (scheme is None and require_protocol) or (scheme and scheme.lower() not in permitted):
            return url
        href = url if scheme else "http://" + url
        params = extra_params(href) if callable(extra_params) else extra_params
        attrs = " " + params.strip() if params.strip() else ""
        shown = _shortened(url, scheme) if shorten else url
        if shown != url:
            attrs += f' title="{href}"'
        return f'<a href="{href}"{attrs}>{shown}</a>'

    return _URL_RE.sub(make_link, xhtml_escape(text))

"""Small HTTP helpers that ``squall.httputil`` re-exports under Tornado's names.

``url_concat``, ``format_timestamp``, ``parse_cookie``, ``split_host_and_port``,
``qs_to_qsl``, and the header-parameter pair ``_parse_header``/``_encode_header`` (which
multipart parsing in ``_forms`` uses for Content-Disposition). Pure functions.

Rule: a leaf; the standard library only.
"""

from __future__ import annotations

import calendar
import datetime
import email.utils
import re
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "_encode_header",
    "_parse_header",
    "format_timestamp",
    "parse_cookie",
    "qs_to_qsl",
    "split_host_and_port",
    "url_concat",
]


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

"""Tiny helpers with no other home (a leaf: stdlib only)."""

from __future__ import annotations

import email.utils
import time

__all__ = ["date_header_value", "date_line", "http_date"]

_date_second = -1
_date_value = b""
_date_line = ""


def http_date(timestamp: float) -> str:
    """Format an epoch timestamp as an RFC 9110 IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``)."""
    return email.utils.formatdate(timestamp, usegmt=True)


def date_header_value() -> bytes:
    """Return the current ``Date`` header value as bytes, recomputed at most once a second.

    The hot path calls this for every response; one ``time.time()`` and an integer compare
    is all it costs between refreshes."""
    global _date_second, _date_value, _date_line
    now = time.time()
    second = int(now)
    if second != _date_second:
        _date_second = second
        text = http_date(second)
        _date_value = text.encode("ascii")
        _date_line = f"Date: {text}\r\n"
    return _date_value


def date_line() -> str:
    """The whole ``Date: ...\\r\\n`` header line as text, refreshed once a second."""
    if int(time.time()) != _date_second:
        date_header_value()
    return _date_line

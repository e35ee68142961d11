"""Response header validation for ``RequestHandler``: field names, field values, reason phrases.

Everything a handler writes into its response headers passes through here, so that no
application value can split or forge a header line (response splitting): a name must be an
HTTP token, a value may hold no control character but tab and no character beyond latin-1,
and a reason phrase that breaks those rules is replaced. Pure functions over strings: no
handler, no I/O.

Names and short values that passed once are remembered (applications use a few of each), so
the usual ``set_header("Content-Type", "text/plain")`` is two set lookups. Compiled with the
handler (``squall._compiled``): these calls are on every response's path.
"""

from __future__ import annotations

import datetime
import http.client
import re
from typing import Any, Final

from squall._util import http_date

__all__ = ["checked_name", "field_value", "is_plain", "reason_phrase"]

# What a field value may hold on the wire: HTAB, visible ASCII, space and obs-text (latin-1).
_INVALID_VALUE: Final = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
# RFC 9110 §5.1: a field name is a token; anything else could split or forge a header line.
_INVALID_NAME: Final = re.compile(r"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")
# RFC 9112 §4: reason-phrase = *( HTAB / SP / VCHAR / obs-text ); Tornado also refuses "<".
_INVALID_REASON: Final = re.compile(r"[^\t\x20-\x7e\x80-\xff]|<")
_MEMORY: Final = 1024  # entries in each of the two caches below; a few are used in practice
_VALID_NAMES: Final[set[str]] = set()
_PLAIN_VALUES: Final[set[str]] = set()


def is_plain(name: str, value: object) -> bool:
    """Whether ``name: value`` is valid as it is: a name that passed :func:`checked_name`
    before and a printable ASCII ``str`` (the common case, which skips every other check)."""
    if name not in _VALID_NAMES or type(value) is not str:
        return False
    if value in _PLAIN_VALUES:
        return True
    if value.isascii() and value.isprintable():
        if len(value) <= 128 and len(_PLAIN_VALUES) < _MEMORY:
            _PLAIN_VALUES.add(value)
        return True
    return False


def checked_name(name: str) -> str:
    """``name``, if it is an HTTP token; else ``ValueError`` (header injection is refused)."""
    if name in _VALID_NAMES:
        return name
    if not name or _INVALID_NAME.search(name):
        raise ValueError(f"Unsafe header name {name!r}: a header name must be an HTTP token")
    if len(_VALID_NAMES) < _MEMORY:
        _VALID_NAMES.add(name)
    return name


def field_value(value: Any) -> str:
    """A header value as text: ``str``, ``bytes`` (latin-1), ``int`` or ``datetime`` (an
    HTTP date; naive means UTC).

    Another type raises ``TypeError``; a value with CR, LF, another control character (tab is
    fine) or a character beyond latin-1 raises ``ValueError``."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes):
        text = value.decode("latin-1")
    elif isinstance(value, int):
        return str(value)
    elif isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return http_date(value.timestamp())
    else:
        raise TypeError(f"Unsupported header value {value!r}: use str, bytes, int or datetime")
    # Printable ASCII (the usual case) is valid without the regex.
    if not (text.isascii() and text.isprintable()) and _INVALID_VALUE.search(text):
        raise ValueError(
            f"Unsafe header value {text!r}: control characters and characters beyond "
            "latin-1 are not allowed (encode the value first, as for a URL)"
        )
    return text


def reason_phrase(status_code: int, reason: str | None) -> str:
    """The reason phrase to send: ``reason``, or the standard one for ``status_code`` when it
    is None (``Unknown`` for a code without one, and for a reason that could break the line)."""
    if reason is None:
        return http.client.responses.get(status_code, "Unknown")
    return "Unknown" if _INVALID_REASON.search(reason) else reason

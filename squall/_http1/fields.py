"""Request header fields as the parser delivered them, turned into :class:`HTTPHeaders`.

This runs once per request on the raw ``(name, value)`` byte pairs recorded by
``on_header``, so it lives in the protocol layer (compiled in the compiled build).
"""

from __future__ import annotations

from typing import Final

from squall.httputil import HTTPHeaders, _normalize_name

__all__ = ["headers_from_raw"]

# Raw names map to their Http-Header-Case form; clients repeat a handful of names, so this
# is one dict lookup per field.
_NAMES: Final[dict[bytes, str]] = {}
_NAMES_MAX: Final = 1000  # entries; a peer inventing names cannot grow the cache without bound


def headers_from_raw(raw: list[tuple[bytes, bytes]]) -> HTTPHeaders:
    """Build the request's headers; a repeated field keeps each value and joins them with
    commas, as :meth:`HTTPHeaders.add` does."""
    d: dict[str, str] = {}
    multi: dict[str, list[str]] | None = None
    names = _NAMES
    for raw_name, raw_value in raw:
        name = names.get(raw_name)
        if name is None:
            name = _normalize_name(raw_name.decode("latin-1"))
            if len(names) < _NAMES_MAX:
                names[raw_name] = name
        value = raw_value.decode("latin-1")
        joined = d.get(name)  # the values so far, comma-joined
        if joined is None:
            d[name] = value
            continue
        if multi is None:
            multi = {}
        values = multi.get(name)
        if values is None:
            values = multi[name] = [joined]
        values.append(value)
        d[name] = joined + "," + value
    headers = HTTPHeaders()
    headers._dict = d
    headers._multi = multi
    return headers

"""Request arguments for RequestHandler: lookup, decoding and cleaning of query and body values.

``RequestHandler.get_argument`` and its siblings call :func:`get_one` and :func:`get_all` in one
line each. :data:`REQUIRED`, the default of those methods, means "no default given": a missing
argument is then a ``MissingArgumentError`` (400).
"""

from __future__ import annotations

import re
from typing import Any, Final, Protocol

from squall._web.errors import MissingArgumentError

__all__ = ["REQUIRED", "ArgumentDecoder", "get_all", "get_one"]

# Control characters other than whitespace become spaces in argument values.
_CONTROL_CHARS: Final = re.compile(r"[\x00-\x08\x0e-\x1f]")


class _Required:
    """The type of :data:`REQUIRED`."""

    def __repr__(self) -> str:
        return "<required>"


#: The default of ``get_argument`` & co.: no default given, so a missing argument is a 400.
REQUIRED: Final[Any] = _Required()


class ArgumentDecoder(Protocol):
    """What argument lookup uses of a ``RequestHandler``: its (overridable) decoding."""

    def decode_argument(self, value: bytes, name: str | None = None) -> Any:
        """Decode one raw argument value."""


def get_all(
    handler: ArgumentDecoder, source: dict[str, list[bytes]], name: str, strip: bool
) -> list[str]:
    """Every value of ``name`` in ``source``, decoded, cleaned and optionally stripped."""
    return [_clean(handler.decode_argument(raw, name=name), strip) for raw in source.get(name, ())]


def get_one(
    handler: ArgumentDecoder,
    source: dict[str, list[bytes]],
    name: str,
    default: Any,
    strip: bool,
) -> Any:
    """The last value of ``name``; ``default`` if absent, or ``MissingArgumentError`` (400)
    when ``default`` is :data:`REQUIRED`."""
    values = source.get(name)
    if not values:
        if default is REQUIRED:
            raise MissingArgumentError(name)
        return default
    return _clean(handler.decode_argument(values[-1], name=name), strip)


def _clean(value: Any, strip: bool) -> Any:
    # A decode_argument override may return something other than text: left as it is.
    if isinstance(value, str):
        value = _CONTROL_CHARS.sub(" ", value)
        if strip:
            value = value.strip()
    return value

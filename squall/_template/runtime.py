"""What generated template code calls at run time, and the namespace every template sees.

Generated code collects ``str`` pieces and joins them once; ``Template.generate`` encodes the
result to UTF-8 once. Bytes values are decoded with ``surrogateescape`` (and encoded back the
same way), so bytes that are not UTF-8 reach the output unchanged, as in Tornado. Functions a
template names for ``{% autoescape %}`` and ``{% apply %}`` receive UTF-8 bytes, as Tornado
gives them; the built-in ``xhtml_escape`` is applied to ``str`` directly (same output)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, Final

from squall import escape

__all__ = ["DEFAULT_NAMESPACE", "to_str"]

_ENCODING: Final = "utf-8"
_ERRORS: Final = "surrogateescape"


def to_str(value: Any) -> str:
    """An expression's value as text: str unchanged, bytes decoded, anything else ``str()``."""
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[no-any-return]  # checked just above
    if isinstance(value, bytes):
        return value.decode(_ENCODING, _ERRORS)
    if isinstance(value, str):
        return str.__str__(value)  # a str subclass (Markup, say) as a plain str
    return str(value)


def to_bytes(text: str) -> bytes:
    """Output text as the UTF-8 bytes ``generate`` returns."""
    return text.encode(_ENCODING, _ERRORS)


def _xhtml_escape_text(value: Any) -> str:
    # html.escape's output (what escape.xhtml_escape gives), about twice as fast for the
    # short values templates mostly write: a replace only for the characters present.
    text: str = value if value.__class__ is str else to_str(value)
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "'" in text:
        text = text.replace("'", "&#x27;")
    return text


def escaper(func: Callable[[Any], Any]) -> Callable[[Any], str]:
    """The per-render escape function for an autoescape function found in the namespace:
    a str fast path for squall's own ``xhtml_escape``, else a wrapper giving ``func`` bytes."""
    if func is escape.xhtml_escape:
        return _xhtml_escape_text

    def custom(value: Any) -> str:
        return to_str(func(to_bytes(to_str(value))))

    return custom


def custom_escape(func: Callable[[Any], Any], value: Any) -> str:
    """Escape ``value`` with a template-chosen function, which receives UTF-8 bytes."""
    return to_str(func(to_bytes(to_str(value))))


def applied(func: Callable[[Any], Any], body: str) -> str:
    """``{% apply func %}``: ``func`` receives the body's output as bytes."""
    return to_str(func(to_bytes(body)))


#: What every template sees before the loader's namespace and the ``generate`` arguments.
#: Names starting with ``_tt_`` are reserved for the generated code.
DEFAULT_NAMESPACE: Final[dict[str, Any]] = {
    "escape": escape.xhtml_escape,
    "xhtml_escape": escape.xhtml_escape,
    "url_escape": escape.url_escape,
    "json_encode": escape.json_encode,
    "squeeze": escape.squeeze,
    "linkify": escape.linkify,
    "datetime": datetime,
    "_tt_utf8": escape.utf8,
    "_tt_string_types": (str, bytes),
    "_tt_to_str": to_str,
    "_tt_escaper": escaper,
    "_tt_custom_escape": custom_escape,
    "_tt_applied": applied,
}

"""Matchers: what a routing rule tests a request against (Tornado's ``tornado.routing`` names).

A :class:`Matcher` answers ``match(request)`` with None (no match) or a dict of keyword
arguments for the rule's target (``path_args``/``path_kwargs`` for :class:`PathMatches`), and
may rebuild a URL with ``reverse(*args)``. The rule routers (``_web/rules.py``) and the
application's route table (``_web/routing.py``) use them; the table recognises the classes
here and matches them without the call where it can.

Path patterns
-------------
A pattern gets a trailing ``$`` and is matched with ``re.match`` against the still
percent-encoded ``request.path``, as in Tornado. Captured values are percent-decoded to UTF-8
text here (``+`` stays ``+``); a value that is not UTF-8 raises ``HTTPError(400)``. When a
pattern is compiled it is analysed once: a pattern with no regex feature has a
``static_path`` (the route table finds it by a dict lookup), and one made of literal text and
plain capturing groups can be reversed.

Nothing here imports above ``_web/errors``.
"""

from __future__ import annotations

import re
import string
from typing import Any, Final
from urllib.parse import quote, unquote_to_bytes

from squall._web.errors import HTTPError

__all__ = [
    "AnyMatches",
    "DefaultHostMatches",
    "HostMatches",
    "Matcher",
    "PathArgs",
    "PathKwargs",
    "PathMatches",
]

PathArgs = list[str | None]
PathKwargs = dict[str, str | None]

_METACHARS: Final = frozenset(".^$*+?{}[]|()")
_WORD_CHARS: Final = frozenset(string.ascii_letters + string.digits)  # \d, \1 ...: not literals
# A character class; a plain capturing group: "(" or "(?P<name>", then anything but an
# unescaped parenthesis outside a class, then ")".
_CLASS: Final = r"\[\^?\]?(?:[^\]\\]|\\.)*\]"
_CLASS_RE: Final = re.compile(_CLASS, re.DOTALL)
_PLAIN_GROUP_RE: Final = re.compile(
    rf"\((?:\?P<\w+>|(?!\?))(?:[^\\()\[]|\\.|{_CLASS})*\)", re.DOTALL
)


class Matcher:
    """The interface of a rule's condition: subclass it and implement :meth:`match`."""

    def match(self, request: Any) -> dict[str, Any] | None:
        """Test ``request``: None for no match, else keyword arguments for the rule's target
        (an empty dict when there are none)."""
        raise NotImplementedError()

    def reverse(self, *args: Any) -> str | None:
        """Rebuild the URL this matcher matches, with ``args`` in its groups; None when the
        matcher has no URL to rebuild (the default)."""
        return None


class AnyMatches(Matcher):
    """Matches every request."""

    def match(self, request: Any) -> dict[str, Any] | None:
        """Always ``{}``."""
        return {}

    def __repr__(self) -> str:
        return "AnyMatches()"


def _anchored(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    """Compile ``pattern`` with a trailing ``$`` (a compiled pattern is used as given)."""
    if isinstance(pattern, re.Pattern):
        return pattern
    if not isinstance(pattern, str):
        raise TypeError(f"A routing pattern is a str or a compiled regex, got {pattern!r}")
    return re.compile(pattern if pattern.endswith("$") else pattern + "$")


class HostMatches(Matcher):
    """Matches requests whose host (``request.host_name``: lower case, no port) matches
    ``host_pattern``, a regex (``$`` appended when missing) or a compiled pattern."""

    def __init__(self, host_pattern: str | re.Pattern[str]) -> None:
        self.host_pattern = _anchored(host_pattern)

    def match(self, request: Any) -> dict[str, Any] | None:
        """``{}`` when the request's host name matches, else None."""
        return {} if self.host_pattern.match(request.host_name) is not None else None

    def __repr__(self) -> str:
        return f"HostMatches({self.host_pattern.pattern!r})"


class DefaultHostMatches(Matcher):
    """Matches when ``application.default_host`` (read at each request, so it may change)
    matches ``host_pattern`` and the request has no ``X-Real-Ip`` header (a request that came
    through a proxy names its host, so it is not sent to the default one). Never matches
    while ``default_host`` is None."""

    def __init__(self, application: Any, host_pattern: re.Pattern[str]) -> None:
        self.application = application
        self.host_pattern = host_pattern

    def match(self, request: Any) -> dict[str, Any] | None:
        """``{}`` when the default host applies to this request, else None."""
        default_host = self.application.default_host
        if default_host is None or "X-Real-Ip" in request.headers:
            return None
        return {} if self.host_pattern.match(default_host) is not None else None

    def __repr__(self) -> str:
        return f"DefaultHostMatches({self.host_pattern.pattern!r})"


class PathMatches(Matcher):
    """Matches requests whose path matches ``path_pattern``.

    ``path_pattern`` is a regex string (``$`` appended when missing) or a compiled pattern
    (used as is). Named groups give ``path_kwargs``, else groups give ``path_args``
    (positional groups are ignored when named ones exist); values are percent-decoded to
    UTF-8 text, an optional group that did not take part gives None.
    """

    def __init__(self, path_pattern: str | re.Pattern[str]) -> None:
        self.regex = _anchored(path_pattern)
        self.group_count: int = self.regex.groups
        self.named: bool = bool(self.regex.groupindex)
        self.static_path, self._reverse_pieces = _analyse(self.regex)

    def match(self, request: Any) -> dict[str, Any] | None:
        """None, ``{}`` for a pattern without groups, else ``{"path_args": [...],
        "path_kwargs": {...}}``. Raises HTTPError(400) for a value that is not UTF-8."""
        captured = self.match_path(request.path)
        if captured is None:
            return None
        if not self.group_count:
            return {}
        return {"path_args": captured[0], "path_kwargs": captured[1]}

    def match_path(self, path: str) -> tuple[PathArgs, PathKwargs] | None:
        """Match ``path`` (still percent-encoded); return (args, kwargs) or None."""
        m = self.regex.match(path)
        if m is None:
            return None
        if not self.group_count:
            return [], {}
        if self.named:
            return [], {key: decode_group(value) for key, value in m.groupdict().items()}
        return [decode_group(value) for value in m.groups()], {}

    @property
    def reversible(self) -> bool:
        """Whether :meth:`reverse` can rebuild a URL from this pattern."""
        return self._reverse_pieces is not None

    @property
    def _path(self) -> str | None:
        """Tornado's ``%s`` template of the reversed path, or None when irreversible."""
        pieces = self._reverse_pieces
        return None if pieces is None else "%s".join(p.replace("%", "%%") for p in pieces)

    def reverse(self, *args: Any) -> str:
        """Build the path this pattern matches, with ``args`` substituted into its groups.

        Each arg is ``str()``-ed (bytes are used as is) and percent-escaped as a path
        segment: space becomes ``%20``, ``+`` becomes ``%2B``, ``/`` is kept (Tornado's
        ``url_escape(value, plus=False)``). Raises ValueError when the pattern cannot be
        reversed (nested, non-capturing or look-around groups, or escapes such as ``\\d``
        outside a group) or when the number of args differs from the number of groups.
        """
        pieces = self._reverse_pieces
        if pieces is None:
            raise ValueError(
                f"Cannot reverse url regex {self.regex.pattern}: only literal text and plain, "
                f"un-nested capturing groups can be reversed; build this URL yourself"
            )
        if len(args) != self.group_count:
            raise ValueError(
                f"URL pattern {self.regex.pattern!r} has {self.group_count} group(s), so "
                f"reverse needs exactly {self.group_count} argument(s); got {len(args)}"
            )
        parts = [pieces[0]]
        for arg, piece in zip(args, pieces[1:], strict=True):
            parts += (_escape_arg(arg), piece)
        return "".join(parts)

    def __repr__(self) -> str:
        return f"PathMatches({self.regex.pattern!r})"


class UndecodablePath(HTTPError):
    """A 400: a path value that a handler rule captured is not UTF-8.

    Carries the rule (``entry``, the route table's) and the captured values decoded with
    ``surrogateescape`` (``path_args``, ``path_kwargs``), which give the original bytes back:
    a handler with its own ``decode_argument`` (latin-1, say) still gets the request."""

    def __init__(self, entry: Any, path_args: PathArgs, path_kwargs: PathKwargs) -> None:
        super().__init__(400, "Invalid unicode in url")
        self.entry = entry
        self.path_args = path_args
        self.path_kwargs = path_kwargs


def lossless_group(value: str | None) -> str | None:
    """Percent-decode a captured value, keeping bytes that are not UTF-8 as surrogates
    (``str.encode("utf-8", "surrogateescape")`` restores them); None stays None."""
    if value is None or "%" not in value:
        return value
    return unquote_to_bytes(value).decode("utf-8", "surrogateescape")


def decode_group(value: str | None) -> str | None:
    """Percent-decode a captured value to UTF-8 text, keeping ``+``; None stays None.

    Raises HTTPError(400) when the bytes are not valid UTF-8."""
    if value is None or "%" not in value:
        return value
    raw = unquote_to_bytes(value)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPError(400, "Invalid unicode in %s: %r", "url", raw[:40]) from None


def _escape_arg(arg: Any) -> str:
    if not isinstance(arg, str | bytes):
        arg = str(arg)
    return quote(arg, safe="/")


# ---------- pattern analysis (run once per PathMatches) ----------


def _body(pattern: str) -> tuple[str, bool]:
    """Strip a leading ``^`` and a final unescaped ``$``; say whether that ``$`` was there."""
    if pattern.startswith("^"):
        pattern = pattern[1:]
    if pattern.endswith("$"):
        backslashes = len(pattern) - 1 - len(pattern[:-1].rstrip("\\"))
        if backslashes % 2 == 0:
            return pattern[:-1], True
    return pattern, False


def _analyse(regex: re.Pattern[str]) -> tuple[str | None, tuple[str, ...] | None]:
    """Return (static path, reverse pieces) for a pattern; each is None when not applicable.

    The reverse pieces are the literal text around the groups: text outside groups is
    unescaped and otherwise kept as written (as Tornado does: the sloppy ``/favicon.ico``
    reverses to itself). An escape such as ``\\d`` outside a group, or a group that is
    nested, non-capturing or a look-around, makes the pattern irreversible. The static path
    is the single piece of an anchored pattern with no regex feature at all.
    """
    body, anchored = _body(regex.pattern)
    plain = anchored and not regex.flags & ~re.UNICODE
    pieces: list[str] = []
    literal: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            if body[i + 1 : i + 2] in _WORD_CHARS or i + 1 == len(body):
                return None, None
            literal.append(body[i + 1])
            i += 2
            continue
        plain = plain and char not in _METACHARS
        if char in "[(":
            part = (_CLASS_RE if char == "[" else _PLAIN_GROUP_RE).match(body, i)
            if part is None:
                return None, None  # a nested, non-capturing or look-around group
            if char == "[":
                literal.append(part.group())
            else:
                pieces.append("".join(literal))
                literal = []
            i = part.end()
        else:
            literal.append(char)
            i += 1
    pieces.append("".join(literal))
    if len(pieces) != regex.groups + 1:
        return None, None
    return (pieces[0] if plain else None), tuple(pieces)

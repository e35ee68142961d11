"""URL routing: URLSpec (one rule: regex, handler, kwargs, name) and Router (virtual hosts).

How this works
--------------
A pattern gets a trailing ``$`` and is matched with ``re.match`` against the still
percent-encoded ``request.path``, as in Tornado. All analysis happens when rules are added:

* Rules come in groups, one per host pattern, tried in order; a group whose host matches but
  whose rules do not falls through to the next, then to the groups matching ``default_host``.
* In a group, each literal pattern (``/``, ``/a\\.b``) has a ``static_path`` and a dict entry.
  The entry holds the rule that *wins* for that path, chosen once: the first rule, in order,
  whose regex matches it. Usually the literal rule itself, but a regex listed before it
  (``/(.*)`` before ``/about``) wins, as the ordered list would decide. A hit is one lookup.
* Other paths try only the non-literal rules, in order: a literal matches only its own path.
  (``$`` also matches before a final newline, but the HTTP parser rejects a raw LF in a path.)

Handlers are opaque objects here; nothing here imports above ``_web/errors``.
"""

from __future__ import annotations

import importlib
import logging
import re
import string
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import quote, unquote_to_bytes

from squall._compiled import Extensible, mypyc_attr
from squall._web.errors import HTTPError

PathArgs = list[str | None]
PathKwargs = dict[str, str | None]

_app_log: Final = logging.getLogger("squall.application")

_METACHARS: Final = frozenset(".^$*+?{}[]|()")
_WORD_CHARS: Final = frozenset(string.ascii_letters + string.digits)  # \d, \1 ...: not literals
_MATCH_ALL_HOST: Final = ".*$"
# A character class; a plain capturing group: "(" or "(?P<name>", then anything but an
# unescaped parenthesis outside a class, then ")".
_CLASS: Final = r"\[\^?\]?(?:[^\]\\]|\\.)*\]"
_CLASS_RE: Final = re.compile(_CLASS, re.DOTALL)
_PLAIN_GROUP_RE: Final = re.compile(
    rf"\((?:\?P<\w+>|(?!\?))(?:[^\\()\[]|\\.|{_CLASS})*\)", re.DOTALL
)
_RULE_FORMS: Final = (
    "write it as (pattern, handler[, kwargs[, name]]) or url(pattern, handler, ...)"
)


@mypyc_attr(allow_interpreted_subclasses=True)
class URLSpec(Extensible):
    """One routing rule: a path regex, the handler it selects, handler kwargs and a name.

    ``pattern`` is a regex string (``$`` appended when missing) or a compiled pattern (used
    as is). Named groups give keyword arguments, else groups give positional ones (positional
    groups are ignored when named ones exist). ``handler`` is opaque here; ``kwargs`` go to
    its ``initialize``; ``name`` is for `Router.reverse_url`.
    """

    def __init__(
        self,
        pattern: str | re.Pattern[str],
        handler: Any,
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(pattern, str):
            if not pattern.endswith("$"):
                pattern += "$"
            self.regex: re.Pattern[str] = re.compile(pattern)
        else:
            self.regex = pattern
        self.handler_class: Any = handler
        self.kwargs: dict[str, Any] = kwargs if kwargs is not None else {}
        self.name = name
        self.group_count: int = self.regex.groups
        self.named: bool = bool(self.regex.groupindex)
        self.static_path, self._reverse_pieces = _analyse(self.regex)

    def match(self, path: str) -> tuple[PathArgs, PathKwargs] | None:
        """Match ``path`` (still percent-encoded); return (args, kwargs) or None.

        Captured values are percent-decoded to UTF-8 text; ``+`` stays ``+``. An optional
        group that did not take part in the match gives None. A value whose bytes are not
        valid UTF-8 raises HTTPError(400)."""
        m = self.regex.match(path)
        if m is None:
            return None
        if not self.group_count:
            return [], {}
        if self.named:
            return [], {key: _decode(value) for key, value in m.groupdict().items()}
        return [_decode(value) for value in m.groups()], {}

    @property
    def reversible(self) -> bool:
        """Whether `reverse` can rebuild a URL from this pattern."""
        return self._reverse_pieces is not None

    def reverse(self, *args: Any) -> str:
        """Build the path this rule matches, with ``args`` substituted into its groups in order.

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
        return (
            f"{type(self).__name__}({self.regex.pattern!r}, {self.handler_class!r}, "
            f"kwargs={self.kwargs!r}, name={self.name!r})"
        )


url = URLSpec


@mypyc_attr(allow_interpreted_subclasses=True)
class Router:
    """The handler table: ordered host groups of URLSpecs, with a fast path for literal paths.

    ``default_host``: when no group's host pattern matches the request's host (or none of
    those groups has a matching rule), the groups whose host pattern matches
    ``default_host`` are tried last.
    """

    def __init__(self, default_host: str | None = None) -> None:
        self._groups: list[_HostGroup] = []
        self._default_host = default_host
        self._single: _HostGroup | None = None  # the common case: one group, any host
        self._hosts_matter = False
        self._plan: tuple[tuple[_HostGroup, bool], ...] = ()  # (group, check its host?)
        self._named: dict[str, URLSpec] = {}

    @property
    def default_host(self) -> str | None:
        """The host whose rules apply when no host pattern matches; None to disable."""
        return self._default_host

    @default_host.setter
    def default_host(self, value: str | None) -> None:
        self._default_host = value
        self._refresh()

    def add_rules(
        self,
        rules: Iterable[Any],  # URLSpec, tuple or list; anything else gets a clear TypeError
        host_pattern: str | re.Pattern[str] = _MATCH_ALL_HOST,
    ) -> list[URLSpec]:
        """Add a group of rules served for hosts matching ``host_pattern``; return its URLSpecs.

        Each rule is a URLSpec (``url(...)``) or a tuple ``(pattern, handler[, kwargs[,
        name]])``. A handler given as a dotted string is imported now. ``host_pattern`` is a
        regex (``$`` appended when missing) matched against the lower-cased host without its
        port. Like Tornado's ``add_handlers``, the new group goes after the existing ones,
        except that it goes before a final catch-all ``.*$`` group.
        """
        specs = [_to_spec(rule) for rule in rules]
        if isinstance(host_pattern, str) and not host_pattern.endswith("$"):
            host_pattern += "$"
        group = _HostGroup(re.compile(host_pattern), specs)
        if self._groups and self._groups[-1].match_all:
            self._groups.insert(-1, group)
        else:
            self._groups.append(group)
        self._refresh()
        return specs

    def find(self, host: str, path: str) -> tuple[URLSpec, PathArgs, PathKwargs] | None:
        """Find the rule for a request: (spec, path args, path kwargs), or None for no match.

        ``host`` is the request's Host value (case and port do not matter); ``path`` is
        ``request.path``, still percent-encoded. Raises HTTPError(400) when a captured
        value is not valid UTF-8 after percent-decoding."""
        single = self._single
        if single is not None:
            return single.find(path)
        host_name = _host_name(host) if self._hosts_matter else ""
        for group, check_host in self._plan:
            if check_host and not group.host_regex.match(host_name):
                continue
            found = group.find(path)
            if found is not None:
                return found
        return None

    def reverse_url(self, name: str, *args: Any) -> str:
        """Return the path of the rule named ``name`` with ``args`` substituted (URLSpec.reverse).

        Raises KeyError for an unknown name and ValueError as `URLSpec.reverse` does. When
        several groups name a rule alike, the first group wins."""
        spec = self._named.get(name)
        if spec is None:
            raise KeyError(f"{name} not found in named urls")
        return spec.reverse(*args)

    def _refresh(self) -> None:
        groups = self._groups
        self._single = groups[0] if len(groups) == 1 and groups[0].match_all else None
        self._hosts_matter = not all(group.match_all for group in groups)
        default = self._default_host
        plan = [(group, not group.match_all) for group in groups]
        if default is not None:  # then the groups serving default_host, whatever the host
            plan += [(g, False) for g in groups if not g.match_all and g.host_regex.match(default)]
        self._plan = tuple(plan)
        self._named = {}
        for group in reversed(groups):  # so that the first group naming a rule wins
            self._named.update(group.named)


class _HostGroup:
    """The rules of one host pattern: a static-path dict plus the ordered non-literal rules."""

    __slots__ = ("dynamic", "host_regex", "match_all", "named", "static")

    def __init__(self, host_regex: re.Pattern[str], specs: list[URLSpec]) -> None:
        self.host_regex = host_regex
        self.match_all = host_regex.pattern == _MATCH_ALL_HOST
        self.dynamic = tuple(spec for spec in specs if spec.static_path is None)
        self.static: dict[str, URLSpec] = {}
        for index, spec in enumerate(specs):
            path = spec.static_path
            if path is None or path in self.static:
                continue
            # The first rule in order that matches this literal path wins, static or not. A
            # winner with groups stays out of the dict: it is also the first dynamic rule
            # matching the path, so the ordered loop in find() reaches it and captures.
            winner = spec
            for earlier in specs[:index]:
                if earlier.regex.match(path) is not None:
                    winner = earlier
                    break
            if not winner.group_count:
                self.static[path] = winner
        self.named: dict[str, URLSpec] = {}
        for spec in specs:
            if spec.name in self.named:
                _app_log.warning("Multiple handlers named %s; replacing previous value", spec.name)
            if spec.name is not None:
                self.named[spec.name] = spec

    def find(self, path: str) -> tuple[URLSpec, PathArgs, PathKwargs] | None:
        """Return (spec, args, kwargs) for ``path`` within this group, or None."""
        static = self.static.get(path)
        if static is not None:
            return static, [], {}
        for spec in self.dynamic:
            captured = spec.match(path)
            if captured is not None:
                return spec, captured[0], captured[1]
        return None


def _to_spec(rule: Any) -> URLSpec:
    """Turn one rule (URLSpec or tuple) into a URLSpec with an imported handler."""
    if isinstance(rule, URLSpec):
        spec = rule
    elif isinstance(rule, tuple | list):
        if not 2 <= len(rule) <= 4:
            raise ValueError(f"Routing rule {rule!r} has {len(rule)} item(s); {_RULE_FORMS}")
        spec = URLSpec(*rule)
    else:
        raise TypeError(f"Routing rule {rule!r} is a {type(rule).__name__}; {_RULE_FORMS}")
    if isinstance(spec.handler_class, str):
        spec.handler_class = _import_object(spec.handler_class)
    return spec


def _import_object(dotted: str) -> Any:
    """Import ``package.module.Name`` (or a bare module name) named as a rule's handler."""
    module_name, _, attr = dotted.rpartition(".")
    module = importlib.import_module(module_name or dotted)
    if not module_name:
        return module
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(f"Cannot import handler {dotted!r}: {module_name} has no {attr}")


def _host_name(host: str) -> str:
    """Lower-case ``host`` and strip a trailing ``:port`` (``[::1]:80`` gives ``[::1]``)."""
    host = host.lower()
    head, sep, port = host.rpartition(":")
    if sep and head and port.isascii() and port.isdigit():
        return head
    return host


def _decode(value: str | None) -> str | None:
    """Percent-decode a captured value to UTF-8 text, keeping ``+``; None stays None."""
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


# ---------- pattern analysis (run once per URLSpec) ----------


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

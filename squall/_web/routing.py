"""The route table: an application router's rules, found fast (compiled in the compiled build).

How this works
--------------
An ``Application`` routes as Tornado's does, through rule routers (``_web/rules.py``):
``default_router`` holds one rule per ``add_handlers`` host (a :class:`HostMatches` on a
router of that host's rules), then an :class:`AnyMatches` rule on ``wildcard_router``, which
holds the constructor's rules. Each of those routers keeps a :class:`RouteTable` of its
rules, and the application asks the top table. Building a table analyses the rules once:

* A rule is *plain* when its matcher is exactly a :class:`PathMatches` and its target a
  handler class. In the run of plain rules before the first other rule, each literal path
  (``/``, ``/a\\.b``) has a dict entry holding the rule that *wins* for it: the first rule,
  in order, whose regex matches it (usually the literal rule itself, but a regex listed
  before it, ``/(.*)`` before ``/about``, wins as the ordered list would decide). A hit is
  one lookup, and a literal rule matches only its own path, so it is not tried otherwise.
* Every other rule is tried in order: a plain one by a regex match on the path; one whose
  target is another application router by recursing into that router's table (without a
  call for an :class:`AnyMatches`, with one regex match for a :class:`HostMatches`); anything
  else through its matcher and the owner's ``get_target_delegate``, which may decline (None):
  then the next rule is tried, as in Tornado's ``RuleRouter``.
* A table whose only rule is an AnyMatches on another table hands ``find`` straight to it.
* The owner calls :meth:`RouteTable.invalidate` when its rules change; the next ``find``
  rebuilds.

Rules, matchers and targets are opaque objects here (read by attribute); nothing here
imports above ``_web/matchers``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from squall._compiled import mypyc_attr
from squall._web.errors import HTTPError
from squall._web.matchers import (
    AnyMatches,
    HostMatches,
    PathArgs,
    PathKwargs,
    PathMatches,
    UndecodablePath,
    decode_group,
    lossless_group,
)
from squall.httputil import HTTPMessageDelegate, HTTPServerRequest

#: What :meth:`RouteTable.find` gives for a handler rule: the entry and the path arguments.
HandlerRoute = tuple["Entry", PathArgs, PathKwargs]

__all__ = ["Entry", "HandlerRoute", "RouteTable"]

# What an entry's target is (set once, when the table is built).
_HANDLER: Final = 0  # a handler class under a PathMatches: answered with (entry, args, kwargs)
_TABLE: Final = 1  # another application router: recurse into its table
_OTHER: Final = 2  # anything else: matcher.match, then owner.get_target_delegate
# How an entry on another table is matched.
_ALWAYS: Final = 0  # AnyMatches
_HOST: Final = 1  # HostMatches: one regex match on request.host_name
_MATCHER: Final = 2  # any other matcher: its match(request)


class Entry:
    """One rule as the table uses it: its target, kwargs and what to match, read once."""

    __slots__ = (
        "group_count",
        "host_regex",
        "how",
        "kind",
        "matcher",
        "named",
        "regex",
        "rule",
        "table",
        "target",
        "target_kwargs",
    )

    def __init__(self, rule: Any, kind: int, table: RouteTable | None) -> None:
        self.rule = rule
        self.kind = kind
        self.table = table
        self.target: Any = rule.target
        kwargs = rule.target_kwargs
        self.target_kwargs: dict[str, Any] = kwargs if kwargs is not None else {}
        matcher = rule.matcher
        self.matcher: Any = matcher
        self.regex: re.Pattern[str] | None = None
        self.group_count = 0
        self.named = False
        self.host_regex: re.Pattern[str] | None = None
        self.how = _MATCHER
        cls = type(matcher)
        if cls is PathMatches:
            self.regex = matcher.regex
            self.group_count = matcher.group_count
            self.named = matcher.named
        elif cls is AnyMatches:
            self.how = _ALWAYS
        elif cls is HostMatches:
            self.how = _HOST
            self.host_regex = matcher.host_pattern


@mypyc_attr(allow_interpreted_subclasses=True)
class RouteTable:
    """The rules of one application router, analysed for fast lookup (see the module doc).

    ``owner`` is the router: its ``rules`` are read at each rebuild and its
    ``get_target_delegate(target, request, **params)`` resolves targets that are neither
    handlers nor application routers. ``is_handler(target)`` says whether a target is a
    handler class."""

    def __init__(self, owner: Any, is_handler: Callable[[Any], bool]) -> None:
        self._owner = owner
        self._is_handler = is_handler
        self._stale = True
        self._static: dict[str, Entry] = {}
        self._ordered: tuple[Entry, ...] = ()
        self._only: RouteTable | None = None

    def invalidate(self) -> None:
        """The owner's rules changed: rebuild before the next :meth:`find`."""
        self._stale = True

    def find(self, request: HTTPServerRequest) -> HandlerRoute | HTTPMessageDelegate | None:
        """Route ``request``: ``(entry, path args, path kwargs)`` for a handler, a message
        delegate for another target, or None when no rule takes it.

        Raises HTTPError(400) when a captured path value is not valid UTF-8."""
        if self._stale:
            self._build()
        only = self._only
        if only is not None:
            return only.find(request)
        path: str = request.path
        static = self._static
        if static:
            entry = static.get(path)
            if entry is not None:
                return entry, [], {}
        for entry in self._ordered:
            kind = entry.kind
            if kind == _HANDLER:
                regex = entry.regex
                assert regex is not None
                m = regex.match(path)
                if m is not None:
                    return _captured(entry, m)
                continue
            how = entry.how
            if how == _HOST:
                host_regex = entry.host_regex
                assert host_regex is not None
                if host_regex.match(request.host_name) is None:
                    continue
                params: dict[str, Any] | None = {}
            elif how == _ALWAYS:
                params = {}
            else:
                params = entry.matcher.match(request)
                if params is None:
                    continue
            table = entry.table
            if table is not None:
                found = table.find(request)
                if found is not None:
                    return found
                continue
            assert params is not None
            if entry.target_kwargs:
                params["target_kwargs"] = entry.target_kwargs
            delegate: HTTPMessageDelegate | None = self._owner.get_target_delegate(
                entry.target, request, **params
            )
            if delegate is not None:
                return delegate
        return None

    def _build(self) -> None:
        is_handler = self._is_handler
        entries: list[Entry] = []
        for rule in self._owner.rules:
            target = rule.target
            table = getattr(target, "route_table", None)
            if isinstance(table, RouteTable):
                entries.append(Entry(rule, _TABLE, table))
            elif type(rule.matcher) is PathMatches and is_handler(target):
                entries.append(Entry(rule, _HANDLER, None))
            else:
                entries.append(Entry(rule, _OTHER, None))
        plain = 0  # the leading run of plain rules (a PathMatches on a handler)
        while plain < len(entries) and entries[plain].kind == _HANDLER:
            plain += 1
        static: dict[str, Entry] = {}
        ordered: list[Entry] = []
        for index in range(plain):
            entry = entries[index]
            path = entry.rule.matcher.static_path
            if path is None:
                ordered.append(entry)
                continue
            if path in static:
                continue
            # The first rule in order that matches this literal path wins, static or not. A
            # winner with groups stays out of the dict: it is also the first dynamic rule
            # matching the path, so the ordered loop in find() reaches it and captures.
            winner = entry
            for earlier in entries[:index]:
                regex = earlier.regex
                if regex is not None and regex.match(path) is not None:
                    winner = earlier
                    break
            if not winner.group_count:
                static[path] = winner
        ordered.extend(entries[plain:])
        self._static = static
        self._ordered = tuple(ordered)
        only = None
        if not static and len(ordered) == 1 and ordered[0].how == _ALWAYS:
            only = ordered[0].table  # None unless the one rule is on another table
        self._only = only
        self._stale = False


def _captured(entry: Entry, m: re.Match[str]) -> tuple[Entry, PathArgs, PathKwargs]:
    """``(entry, args, kwargs)`` from a match of a handler rule's regex.

    A value that is not UTF-8 raises :class:`UndecodablePath` (a 400 that carries the
    values, for a handler with its own ``decode_argument``)."""
    if not entry.group_count:
        return entry, [], {}
    try:
        return _decoded(entry, m)
    except HTTPError:
        if entry.named:
            lossless = {k: lossless_group(v) for k, v in m.groupdict().items()}
            raise UndecodablePath(entry, [], lossless) from None
        raise UndecodablePath(entry, [lossless_group(v) for v in m.groups()], {}) from None


def _decoded(entry: Entry, m: re.Match[str]) -> tuple[Entry, PathArgs, PathKwargs]:
    if entry.named:
        kwargs: PathKwargs = {}
        for key, value in m.groupdict().items():
            kwargs[key] = value if value is None or "%" not in value else decode_group(value)
        return entry, [], kwargs
    args: PathArgs = []
    for value in m.groups():
        args.append(value if value is None or "%" not in value else decode_group(value))
    return entry, args, {}

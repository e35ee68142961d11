"""Routers and rules (Tornado's ``tornado.routing``): how a request finds its message delegate.

A :class:`Router` is an :class:`~squall.httputil.HTTPServerConnectionDelegate`, so an
``HTTPServer`` can serve one directly: for each request its ``start_request`` returns a
:class:`_RoutingDelegate`, which builds the :class:`~squall.httputil.HTTPServerRequest` from
the start line and headers, asks the router's ``find_handler(request)`` for the delegate that
will handle it (a 404 answer when there is none), and forwards the message to it.

A :class:`RuleRouter` holds an ordered list of :class:`Rule` s, each a matcher
(``_web/matchers.py``) and a target; the first rule whose matcher matches and whose target
yields a delegate wins. A target may be another router (nested: asked in turn, and when it
declines the next rule is tried), an ``HTTPServerConnectionDelegate`` (an ``Application``, a
``WSGIContainer``-style server delegate), a callable taking the request, or anything a
subclass's ``get_target_delegate`` knows. ``Application`` is a :class:`ReversibleRouter`
whose own routers are :class:`_ApplicationRouter` s: rule routers over a compiled route
table (``_web/routing.py``), where handler classes are targets too.

These classes are plain Python in both builds: applications subclass them freely (and
``ReversibleRuleRouter`` inherits from two of them). ``Router`` derives from the compiled
``DirectServerDelegate`` so that the protocol calls its ``start_request`` directly.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, SupportsIndex

from squall._web.matchers import Matcher, PathMatches
from squall._web.routing import RouteTable
from squall.httputil import (
    DirectServerDelegate,
    FormError,
    HTTPConnection,
    HTTPHeaders,
    HTTPInputError,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
)
from squall.log import app_log, gen_log
from squall.util import import_object

__all__ = [
    "ReversibleRouter",
    "ReversibleRuleRouter",
    "Router",
    "Rule",
    "RuleRouter",
    "URLSpec",
    "url",
]

_RULE_FORMS = "write it as (pattern or Matcher, target[, kwargs[, name]]), Rule(...) or url(...)"


# ---------------------------------------------------------------------------------------------
# Rules


class Rule:
    """A routing rule: a :class:`Matcher`, the ``target`` it selects, keyword arguments for
    the target and an optional ``name`` (for ``reverse_url``).

    ``target`` may be given as a dotted string (``"app.handlers.Main"``), imported now.
    ``target_kwargs`` go to the target: a handler's ``initialize``, or a callable's or a
    nested router's keyword arguments (``target_kwargs=...``)."""

    def __init__(
        self,
        matcher: Matcher,
        target: Any,
        target_kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(matcher, Matcher):
            raise TypeError(
                f"A Rule's first argument is a Matcher (PathMatches, HostMatches, ...), "
                f"got {matcher!r}"
            )
        if isinstance(target, str):
            target = import_object(target)
        self.matcher = matcher
        self.target = target
        self.target_kwargs: dict[str, Any] = target_kwargs if target_kwargs is not None else {}
        self.name = name

    def reverse(self, *args: Any) -> str | None:
        """The URL of this rule with ``args`` in its groups (its matcher's ``reverse``)."""
        return self.matcher.reverse(*args)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.matcher!r}, {self.target!r}, "
            f"kwargs={self.target_kwargs!r}, name={self.name!r})"
        )


class URLSpec(Rule):
    """A :class:`Rule` on a path pattern, the form ``Application`` handler lists use.

    ``URLSpec(pattern, handler, kwargs=None, name=None)`` is ``Rule(PathMatches(pattern),
    handler, kwargs, name)``; ``regex``, ``handler_class`` (the target) and ``kwargs`` (the
    target kwargs) are Tornado's names for its parts, and :meth:`reverse` rebuilds its path
    (see :class:`PathMatches`)."""

    matcher: PathMatches

    def __init__(
        self,
        pattern: str | re.Pattern[str],
        handler: Any,
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(PathMatches(pattern), handler, kwargs, name)

    @property
    def regex(self) -> re.Pattern[str]:
        """The compiled path pattern."""
        return self.matcher.regex

    @property
    def handler_class(self) -> Any:
        """The handler (the rule's target)."""
        return self.target

    @handler_class.setter
    def handler_class(self, value: Any) -> None:
        self.target = value

    @property
    def kwargs(self) -> dict[str, Any]:
        """The handler's ``initialize`` arguments (the rule's target kwargs)."""
        return self.target_kwargs

    @property
    def static_path(self) -> str | None:
        """The literal path this rule matches, when its pattern has no regex feature."""
        return self.matcher.static_path

    @property
    def reversible(self) -> bool:
        """Whether :meth:`reverse` can rebuild a URL from this pattern."""
        return self.matcher.reversible

    def match(self, path: str) -> tuple[list[str | None], dict[str, str | None]] | None:
        """Match ``path`` (still percent-encoded): ``(args, kwargs)`` or None."""
        return self.matcher.match_path(path)

    def reverse(self, *args: Any) -> str:
        """The path this rule matches with ``args`` in its groups; ValueError when the
        pattern cannot be reversed or the number of args is wrong."""
        return self.matcher.reverse(*args)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.regex.pattern!r}, {self.target!r}, "
            f"kwargs={self.target_kwargs!r}, name={self.name!r})"
        )


url = URLSpec


def to_rule(rule: Any) -> Rule:
    """Turn a rule in any of its accepted forms into a :class:`Rule`.

    A Rule is kept; a tuple or list ``(pattern, target[, kwargs[, name]])`` whose first item
    is a string becomes a ``Rule(PathMatches(pattern), ...)``, one whose first item is a
    Matcher a ``Rule(matcher, ...)``. Anything else raises TypeError, a wrong length
    ValueError."""
    if isinstance(rule, Rule):
        return rule
    if isinstance(rule, tuple | list):
        if not 2 <= len(rule) <= 4:
            raise ValueError(f"Routing rule {rule!r} has {len(rule)} item(s); {_RULE_FORMS}")
        first = rule[0]
        if isinstance(first, str | re.Pattern):
            return Rule(PathMatches(first), *rule[1:])
        return Rule(*rule)
    raise TypeError(f"Routing rule {rule!r} is a {type(rule).__name__}; {_RULE_FORMS}")


# ---------------------------------------------------------------------------------------------
# Routers


class Router(DirectServerDelegate):
    """The interface of a router: subclass it and implement :meth:`find_handler`.

    A router is an ``HTTPServerConnectionDelegate``: ``HTTPServer(router)`` serves it, and
    it can be the target of another router's rule."""

    def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> HTTPMessageDelegate | None:
        """Return the :class:`~squall.httputil.HTTPMessageDelegate` that will handle
        ``request`` (its start line and headers are then passed to the delegate's
        ``headers_received``), or None when this router has nothing for it. ``kwargs``
        come from the rule that led here (a nested router may ignore them)."""
        raise NotImplementedError()

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """The server's entry point: a :class:`_RoutingDelegate` for the new request."""
        return _RoutingDelegate(self, server_conn, request_conn)


class ReversibleRouter(Router):
    """A router that can also build URLs from rule names: implement :meth:`reverse_url`."""

    def reverse_url(self, name: str, *args: Any) -> str | None:
        """The URL of the rule named ``name`` with ``args`` in its groups, or None."""
        raise NotImplementedError()


class RuleRouter(Router):
    """A router over an ordered list of rules (see :func:`to_rule` for their forms).

        router = RuleRouter([
            Rule(HostMatches("api.example.com"), api_app),
            ("/static/.*", static_app),
            Rule(PathMatches("/legacy/.*"), WSGIContainer(flask_app)),
        ])
        HTTPServer(router).listen(8888)

    ``find_handler`` tries the rules in order: the first whose matcher matches and whose
    target gives a delegate (:meth:`get_target_delegate`) wins; a target that declines
    (a nested router with nothing for the request) lets the next rule try."""

    def __init__(self, rules: Iterable[Any] | None = None) -> None:
        self.rules: list[Rule] = []
        if rules:
            self.add_rules(rules)

    def add_rules(self, rules: Iterable[Any]) -> None:
        """Append ``rules`` (each passed through :meth:`process_rule`)."""
        for rule in rules:
            self.rules.append(self.process_rule(to_rule(rule)))

    def process_rule(self, rule: Rule) -> Rule:
        """A hook for subclasses: check or transform each rule as it is added."""
        return rule

    def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> HTTPMessageDelegate | None:
        """The delegate of the first rule that matches ``request`` and whose target gives
        one; None when none does. ``kwargs`` are ignored."""
        for rule in self.rules:
            params = rule.matcher.match(request)
            if params is None:
                continue
            if rule.target_kwargs:
                params["target_kwargs"] = rule.target_kwargs
            delegate = self.get_target_delegate(rule.target, request, **params)
            if delegate is not None:
                return delegate
        return None

    def get_target_delegate(
        self, target: Any, request: HTTPServerRequest, **target_params: Any
    ) -> HTTPMessageDelegate | None:
        """The delegate ``target`` gives for ``request``, or None.

        A :class:`Router` is asked with ``find_handler(request, **target_params)``; another
        ``HTTPServerConnectionDelegate`` gives ``start_request(...)``; a callable is called
        with the request (and ``target_params`` as keyword arguments) once the whole body has
        arrived. Override to support other kinds of target."""
        if isinstance(target, Router):
            return target.find_handler(request, **target_params)
        if isinstance(target, HTTPServerConnectionDelegate):
            if request.connection is None:
                return None
            return target.start_request(request.server_connection, request.connection)
        if callable(target):
            callback = functools.partial(target, **target_params) if target_params else target
            return _CallableAdapter(callback, request)
        return None


class ReversibleRuleRouter(ReversibleRouter, RuleRouter):
    """A rule router that builds URLs from rule names (``Rule(..., name="home")``).

    ``reverse_url`` looks in this router's named rules first, then asks nested reversible
    routers in rule order. A second rule with a name already taken replaces the first (with
    a warning on ``squall.application``)."""

    def __init__(self, rules: Iterable[Any] | None = None) -> None:
        self.named_rules: dict[str, Rule] = {}
        super().__init__(rules)

    def process_rule(self, rule: Rule) -> Rule:
        """Record a named rule."""
        rule = super().process_rule(rule)
        if rule.name:
            if rule.name in self.named_rules:
                app_log.warning("Multiple handlers named %s; replacing previous value", rule.name)
            self.named_rules[rule.name] = rule
        return rule

    def reverse_url(self, name: str, *args: Any) -> str | None:
        """The URL of the rule named ``name`` with ``args`` in its groups, or None."""
        rule = self.named_rules.get(name)
        if rule is not None:
            return rule.matcher.reverse(*args)
        for rule in self.rules:
            if isinstance(rule.target, ReversibleRouter):
                found = rule.target.reverse_url(name, *args)
                if found is not None:
                    return found
        return None


# ---------------------------------------------------------------------------------------------
# The application's routers


class _RuleList(list[Rule]):
    """A router's rule list that tells the router's route table when it changes.

    Tornado code edits ``router.rules`` directly (``app.default_router.rules.insert(-1,
    rule)``); every way of changing a list invalidates the table."""

    def __init__(self, table: RouteTable, rules: Iterable[Rule] = ()) -> None:
        super().__init__(rules)
        self._table = table

    def _changed(self) -> None:
        self._table.invalidate()

    def append(self, rule: Rule) -> None:
        super().append(rule)
        self._changed()

    def extend(self, rules: Iterable[Rule]) -> None:
        super().extend(rules)
        self._changed()

    def insert(self, index: SupportsIndex, rule: Rule) -> None:
        super().insert(index, rule)
        self._changed()

    def remove(self, rule: Rule) -> None:
        super().remove(rule)
        self._changed()

    def pop(self, index: SupportsIndex = -1) -> Rule:
        rule = super().pop(index)
        self._changed()
        return rule

    def clear(self) -> None:
        super().clear()
        self._changed()

    def sort(self, *args: Any, **kwargs: Any) -> None:
        super().sort(*args, **kwargs)
        self._changed()

    def reverse(self) -> None:
        super().reverse()
        self._changed()

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self._changed()

    def __delitem__(self, index: Any) -> None:
        super().__delitem__(index)
        self._changed()

    def __iadd__(self, rules: Iterable[Rule]) -> _RuleList:  # type: ignore[override,misc]
        super().__iadd__(rules)
        self._changed()
        return self


class _ApplicationRouter(ReversibleRuleRouter):
    """A router of an ``Application``: its rules may target handler classes and lists of
    rules (a nested router), and it finds them through a :class:`RouteTable`.

    ``find_handler`` gives the application's handler delegate for a handler target; the
    application itself asks :attr:`route_table` directly (its fast path)."""

    def __init__(
        self,
        application: Any,
        rules: Iterable[Any] | None = None,
        *,
        is_handler: Callable[[Any], bool],
    ) -> None:
        self.application = application
        self._is_handler = is_handler
        self.route_table = RouteTable(self, is_handler)
        super().__init__()
        if rules:
            self.add_rules(rules)

    @property
    def rules(self) -> list[Rule]:
        """The rules, in order. Editing the list (or assigning a new one) is seen."""
        return self._rules

    @rules.setter
    def rules(self, rules: Iterable[Rule]) -> None:
        self._rules = _RuleList(self.route_table, rules)
        self.route_table.invalidate()

    def add_rules(self, rules: Iterable[Any]) -> None:
        """Append ``rules``; the table is rebuilt once, at the next request."""
        self._rules.extend([self.process_rule(to_rule(rule)) for rule in rules])

    def process_rule(self, rule: Rule) -> Rule:
        """A rule whose target is a list or tuple of rules gets a nested router of them."""
        rule = super().process_rule(rule)
        if isinstance(rule.target, list | tuple):
            rule.target = _ApplicationRouter(
                self.application, rule.target, is_handler=self._is_handler
            )
        return rule

    def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> HTTPMessageDelegate | None:
        """The delegate for ``request`` from this router's rules, or None."""
        found = self.route_table.find(request)
        if isinstance(found, tuple):
            entry, path_args, path_kwargs = found
            return self.application.get_handler_delegate(  # type: ignore[no-any-return]
                request, entry.target, entry.target_kwargs, path_args, path_kwargs
            )
        return found

    def get_target_delegate(
        self, target: Any, request: HTTPServerRequest, **target_params: Any
    ) -> HTTPMessageDelegate | None:
        """A handler class gets the application's handler delegate; other targets as in
        :meth:`RuleRouter.get_target_delegate`."""
        if self._is_handler(target):
            return self.application.get_handler_delegate(  # type: ignore[no-any-return]
                request, target, **target_params
            )
        return super().get_target_delegate(target, request, **target_params)


# ---------------------------------------------------------------------------------------------
# Message delegates


class _RoutingDelegate(HTTPMessageDelegate):
    """Builds the request once its head has arrived, asks the router for the delegate that
    will handle it, and forwards the message to that delegate (404 when there is none)."""

    def __init__(self, router: Router, server_conn: object, request_conn: HTTPConnection) -> None:
        self.router = router
        self.server_conn = server_conn
        self.request_conn = request_conn
        self.delegate: HTTPMessageDelegate | None = None

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Any:
        """Route the request and pass its head on."""
        if not isinstance(start_line, RequestStartLine):
            raise TypeError("a router routes requests: it needs a RequestStartLine")
        try:
            request = HTTPServerRequest(
                connection=self.request_conn,
                server_connection=self.server_conn,
                start_line=start_line,
                headers=headers,
            )
        except HTTPInputError as exc:
            gen_log.info("Malformed HTTP request from %s: %s", _peer(self.request_conn), exc)
            self.delegate = _StatusDelegate(self.request_conn, exc.status_code)
            return None
        delegate = self.router.find_handler(request)
        if delegate is None:
            app_log.debug("Delegate for %s %s request not found", start_line.method, request.path)
            delegate = _StatusDelegate(self.request_conn, 404)
        self.delegate = delegate
        return delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        """Forward a piece of the body."""
        assert self.delegate is not None
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        """Forward the end of the message."""
        assert self.delegate is not None
        self.delegate.finish()

    def on_connection_close(self) -> None:
        """Forward the early close (only once a delegate was chosen)."""
        if self.delegate is not None:
            self.delegate.on_connection_close()


def _peer(connection: HTTPConnection) -> object:
    return getattr(getattr(connection, "context", None), "remote_ip", None)


class _StatusDelegate(HTTPMessageDelegate):
    """Answers a request with an empty response of one status (404 when no rule matched,
    400 for a malformed request), once the body has been read."""

    _REASONS = {400: "Bad Request", 404: "Not Found"}

    def __init__(self, connection: HTTPConnection, status: int) -> None:
        self.connection = connection
        self.status = status

    def finish(self) -> None:
        """Send the response."""
        reason = self._REASONS.get(self.status, "Error")
        self.connection.write_headers(
            ResponseStartLine("HTTP/1.1", self.status, reason),
            HTTPHeaders({"Content-Length": "0"}),
        )
        self.connection.finish()


class _CallableAdapter(HTTPMessageDelegate):
    """Collects a request's body, then calls ``callback(request)`` (a rule's callable target).

    A form body is parsed first (a malformed one is logged and left unparsed, as the
    server's plain-callable adapter does); an awaitable result runs as a task whose failure
    is logged."""

    def __init__(self, callback: Callable[[HTTPServerRequest], Any], request: HTTPServerRequest):
        self.callback = callback
        self.request = request
        self.chunks: list[bytes] = []

    def data_received(self, chunk: bytes) -> None:
        """Collect a piece of the body."""
        self.chunks.append(chunk)

    def finish(self) -> None:
        """Parse the body and make the call."""
        request = self.request
        request.body = b"".join(self.chunks)
        try:
            request._parse_body()
        except FormError as exc:
            gen_log.warning("Invalid request body from %s: %s", request.remote_ip, exc)
        result = self.callback(request)
        if result is not None and hasattr(result, "__await__"):
            asyncio.ensure_future(result).add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        app_log.error("Uncaught exception in request callback", exc_info=task.exception())

"""squall.routing: Tornado's flexible routing (``tornado.routing``).

    from squall.httpserver import HTTPServer
    from squall.routing import HostMatches, PathMatches, Rule, RuleRouter

    router = RuleRouter([
        Rule(HostMatches("api.example.com"), api_app),      # an Application
        Rule(PathMatches("/legacy/.*"), WSGIContainer(flask_app)),
        ("/health", lambda request: ...),                   # a callable taking the request
    ])
    HTTPServer(router).listen(8888)

A :class:`Router` maps a request to the :class:`~squall.httputil.HTTPMessageDelegate` that
handles it (``find_handler``) and is itself an ``HTTPServerConnectionDelegate``, so a server
can take one; routers nest, and an :class:`~squall.web.Application` is a
:class:`ReversibleRouter` whose handler lists may hold :class:`Rule` s with any
:class:`Matcher`. The implementation lives in ``squall._web`` (``matchers``, ``rules``, and
the application's compiled route table ``routing``); this module keeps Tornado's names.
"""

from __future__ import annotations

from squall._web.matchers import (
    AnyMatches,
    DefaultHostMatches,
    HostMatches,
    Matcher,
    PathMatches,
)
from squall._web.rules import (
    ReversibleRouter,
    ReversibleRuleRouter,
    Router,
    Rule,
    RuleRouter,
    URLSpec,
    url,
)
from squall._web.rules import _CallableAdapter as _CallableAdapter  # Tornado's private names,
from squall._web.rules import _RoutingDelegate as _RoutingDelegate  # imported by some code

__all__ = [
    "AnyMatches",
    "DefaultHostMatches",
    "HostMatches",
    "Matcher",
    "PathMatches",
    "ReversibleRouter",
    "ReversibleRuleRouter",
    "Router",
    "Rule",
    "RuleRouter",
    "URLSpec",
    "url",
]

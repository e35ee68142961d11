"""Loading APP in a worker, and turning what it names into something to serve.

``load_app("pkg.web:app")`` imports the module and follows the attribute; ``pkg.web:make()``
(or a function of no arguments named without the parentheses) is called as a factory, sync or
async. :func:`plan_server` accepts what a Tornado program would pass to ``HTTPServer``:

- an ``Application`` or any ``HTTPServerConnectionDelegate``;
- a plain callable taking the request;
- an ``HTTPServer`` built but not listening (``HTTPServer(app, ssl_options=...,
  max_body_size=...)``): its delegate and settings are used, and the limits, TLS and proxy
  options given to ``squall serve`` override the matching settings;

and refuses anything else with one line (a boot failure, exit 3).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import ssl
from dataclasses import dataclass
from typing import Any

from squall import version
from squall._cli.options import ServeOptions
from squall._cli.tls import TLSConfig
from squall._http1 import HTTP1Params
from squall._supervisor.worker import BootError
from squall.httpserver import HTTPServer
from squall.httputil import HTTPServerConnectionDelegate

__all__ = ["ServerPlan", "http_overrides", "load_app", "plan_server", "tls_config"]

# squall serve option -> HTTP1Params field
_PARAMS = {
    "max_body_size": "max_body_size",
    "max_header_size": "max_header_size",
    "keep_alive_timeout": "idle_connection_timeout",
    "header_timeout": "header_timeout",
    "body_timeout": "body_timeout",
    "xheaders": "xheaders",
    "forwarded_allow_ips": "forwarded_allow_ips",
}


@dataclass
class ServerPlan:
    """What a worker serves: a delegate, its protocol parameters, TLS, the PROXY protocol, and
    the object APP named (the application, whose own access line ``squall serve`` replaces)."""

    delegate: HTTPServerConnectionDelegate
    params: HTTP1Params
    ssl_context: ssl.SSLContext | None
    proxy_protocol: bool
    app: Any


async def load_app(spec: str) -> Any:
    """Import ``module:attribute`` (or call ``module:factory()``, awaiting an awaitable result).

    A function that takes no arguments is called as a factory even without the ``()``."""
    module_name, _, attribute = spec.partition(":")
    factory = attribute.endswith("()")
    attribute = attribute.removesuffix("()")
    importlib.invalidate_caches()
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise BootError(
                f"{module_name!r} has no attribute {attribute!r}; APP must look like "
                "'module:app' or 'module:make_app()'"
            ) from None
    if not factory and _takes_no_arguments(target):
        # A request callback takes the request; a function that takes nothing can only be
        # a factory (``module:make_app`` written without the parentheses).
        factory = True
    if factory:
        if not callable(target):
            raise BootError(f"{spec}: {attribute} is {_describe(target)}, not a factory to call")
        target = target()
        if inspect.isawaitable(target):
            target = await target
    return target


def _takes_no_arguments(target: Any) -> bool:
    if not inspect.isfunction(target):
        return False
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return False
    return not any(
        p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in signature.parameters.values()
    )


def tls_config(options: ServeOptions) -> TLSConfig | None:
    """The ``--ssl-*`` options, or None without ``--ssl-certfile``."""
    if not options.ssl_certfile:
        return None
    return TLSConfig(
        certfile=options.ssl_certfile,
        keyfile=options.ssl_keyfile,
        password=options.ssl_keyfile_password,
        ca_certs=options.ssl_ca_certs,
        cert_reqs=options.ssl_cert_reqs,
        ciphers=options.ssl_ciphers,
    )


def http_overrides(options: ServeOptions, explicit_only: bool) -> dict[str, Any]:
    """``HTTP1Params`` fields from the options (only those given, with ``explicit_only``)."""
    values: dict[str, Any] = {}
    for option, param in _PARAMS.items():
        value = getattr(options, option)
        if explicit_only and option not in options.explicit:
            continue
        if value is not None:
            values[param] = value
    return values


def plan_server(target: Any, options: ServeOptions) -> ServerPlan:
    """Turn what APP named into a :class:`ServerPlan`; BootError (one line) if it cannot serve."""
    tls = tls_config(options)
    if isinstance(target, HTTPServer):
        if target.started:
            raise BootError(
                f"{options.app} gave an HTTPServer that is already listening: return it "
                "without calling listen(), bind() or add_sockets(); squall serve binds"
            )
        params = dataclasses.replace(target.params, **http_overrides(options, explicit_only=True))
        context = tls.context() if tls is not None else target.ssl_context
        proxy = bool(options.proxy_protocol or target.proxy_protocol)
        if proxy and context is not None:
            raise BootError(
                f"{options.app}: the PROXY protocol in front of TLS is not supported: "
                "terminate TLS at the proxy"
            )
        return ServerPlan(target.delegate, params, context, proxy, target.request_callback)
    if isinstance(target, HTTPServerConnectionDelegate):
        delegate: HTTPServerConnectionDelegate = target
    elif callable(target) and not isinstance(target, type):
        delegate = HTTPServer(target).delegate  # its adapter for plain request callbacks
    else:
        raise BootError(
            f"{options.app} gave {_describe(target)}, which cannot serve: APP must be (or a "
            "factory must return) an Application, an HTTPServerConnectionDelegate, a callable "
            "taking a request, or an HTTPServer that is not listening yet"
        )
    server_header = "" if delegate.sets_server_header else f"squall/{version}"
    params = HTTP1Params(
        **http_overrides(options, explicit_only=False), server_header=server_header
    )
    context = tls.context() if tls is not None else None
    return ServerPlan(delegate, params, context, bool(options.proxy_protocol), target)


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}" if value is not None else "None"

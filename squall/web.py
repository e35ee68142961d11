"""squall.web: Tornado's web framework API (handlers, routing, application).

    from squall import web

    class MainHandler(web.RequestHandler):
        def get(self):
            self.write("Hello, world")

    app = web.Application([(r"/", MainHandler)])
    app.listen(8888)

The implementation lives in ``squall._web``; this module keeps Tornado's names (including
the routing names Tornado's ``web`` module imports from ``tornado.routing``).
"""

from __future__ import annotations

import hashlib
import hmac

from squall._web.application import Application
from squall._web.builtin import ErrorHandler, FallbackHandler, RedirectHandler
from squall._web.cookies import (
    create_signed_value,
    decode_signed_value,
    get_signature_key_version,
    to_bytes,
)
from squall._web.decorators import (
    addslash,
    asynchronous,
    authenticated,
    removeslash,
    stream_request_body,
    threaded,
)
from squall._web.errors import Finish, HTTPError, MissingArgumentError
from squall._web.handler import RequestHandler
from squall._web.jinja import Jinja2Loader
from squall._web.matchers import AnyMatches as AnyMatches  # Tornado's web module has these
from squall._web.matchers import DefaultHostMatches as DefaultHostMatches  # routing names
from squall._web.matchers import HostMatches as HostMatches  # as attributes too; squall.routing
from squall._web.matchers import PathMatches as PathMatches  # exports them
from squall._web.rules import ReversibleRouter as ReversibleRouter
from squall._web.rules import ReversibleRuleRouter as ReversibleRuleRouter
from squall._web.rules import Rule as Rule
from squall._web.rules import URLSpec, url
from squall._web.rules import _RoutingDelegate as _RoutingDelegate
from squall._web.static import StaticFileHandler
from squall._web.transforms import GZipContentEncoding, OutputTransform
from squall._web.uimodules import TemplateModule, UIModule
from squall.log import access_log as access_log  # Tornado's web module has its loggers as
from squall.log import app_log as app_log  # attributes: mock.patch("tornado.web.app_log.error")
from squall.log import gen_log as gen_log

__all__ = [
    "DEFAULT_SIGNED_VALUE_MIN_VERSION",
    "DEFAULT_SIGNED_VALUE_VERSION",
    "MAX_SUPPORTED_SIGNED_VALUE_VERSION",
    "MIN_SUPPORTED_SIGNED_VALUE_VERSION",
    "Application",
    "ErrorHandler",
    "FallbackHandler",
    "Finish",
    "GZipContentEncoding",
    "HTTPError",
    "Jinja2Loader",
    "MissingArgumentError",
    "OutputTransform",
    "RedirectHandler",
    "RequestHandler",
    "StaticFileHandler",
    "TemplateModule",
    "UIModule",
    "URLSpec",
    "addslash",
    "asynchronous",
    "authenticated",
    "create_signed_value",
    "decode_signed_value",
    "get_signature_key_version",
    "removeslash",
    "stream_request_body",
    "threaded",
    "url",
]

#: Signed-value format versions (Tornado's constants).
MIN_SUPPORTED_SIGNED_VALUE_VERSION = 1
MAX_SUPPORTED_SIGNED_VALUE_VERSION = 2
DEFAULT_SIGNED_VALUE_VERSION = 2
DEFAULT_SIGNED_VALUE_MIN_VERSION = 1


def _create_signature_v1(secret: str | bytes, *parts: str | bytes) -> bytes:
    """Tornado's version-1 signed-value signature: the hex HMAC-SHA1 of ``parts`` (UTF-8,
    concatenated) under ``secret``. Kept for code that checks v1 values by hand."""
    mac = hmac.new(to_bytes(secret), digestmod=hashlib.sha1)
    for part in parts:
        mac.update(to_bytes(part))
    return mac.hexdigest().encode()


def _create_signature_v2(secret: str | bytes, s: bytes) -> bytes:
    """Tornado's version-2 signed-value signature: the hex HMAC-SHA256 of ``s``."""
    return hmac.new(to_bytes(secret), s, hashlib.sha256).hexdigest().encode()

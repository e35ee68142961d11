"""squall.web: Tornado's web framework API (handlers, routing, application).

    from squall import web

    class MainHandler(web.RequestHandler):
        def get(self):
            self.write("Hello, world")

    app = web.Application([(r"/", MainHandler)])
    app.listen(8888)

The implementation lives in ``squall._web``; this module keeps Tornado's names.
"""

from __future__ import annotations

from squall._web.application import Application
from squall._web.builtin import ErrorHandler, FallbackHandler, RedirectHandler
from squall._web.cookies import create_signed_value, decode_signed_value
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
from squall._web.routing import URLSpec, url
from squall._web.static import StaticFileHandler
from squall._web.transforms import GZipContentEncoding, OutputTransform
from squall._web.uimodules import TemplateModule, UIModule

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

"""Handlers that come with the framework: ErrorHandler, RedirectHandler, FallbackHandler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from squall._web.errors import HTTPError
from squall._web.handler import RequestHandler
from squall.httputil import HTTPServerRequest, url_concat

__all__ = ["ErrorHandler", "FallbackHandler", "RedirectHandler"]


class ErrorHandler(RequestHandler):
    """Answers every request with ``status_code`` (the default 404 for unmatched routes).

    It skips the XSRF check, so a POST to an unknown URL is a 404, not a 403."""

    def initialize(self, status_code: int = 404, **kwargs: Any) -> None:
        """Remember the status to send."""
        self.set_status(status_code)

    def prepare(self) -> None:
        """Raise the error before any verb method runs."""
        raise HTTPError(self._status_code)

    def check_xsrf_cookie(self) -> None:
        """No XSRF check for an error page."""


class RedirectHandler(RequestHandler):
    """Redirects every request to ``url`` (301 by default; ``permanent=False`` for 302).

    ``url`` may use ``str.format`` fields filled from the path groups (``{0}``, ``{name}``);
    the request's query string is appended to the target."""

    def initialize(self, url: str, permanent: bool = True) -> None:  # type: ignore[override]
        """Remember the target."""
        self._url = url
        self._permanent = permanent

    def get(self, *args: Any, **kwargs: Any) -> None:
        """Send the redirect."""
        to_url = self._url.format(*args, **kwargs)
        if self.request.query_arguments:
            # Raw bytes values: urlencode quotes them as they came (decoding them first would
            # re-encode non-ASCII values as UTF-8 twice).
            pairs = [
                (key, value)
                for key, values in self.request.query_arguments.items()
                for value in values
            ]
            to_url = url_concat(to_url, pairs)
        self.redirect(to_url, permanent=self._permanent)

    head = get


class FallbackHandler(RequestHandler):
    """Hands the request to ``fallback``, a callable taking an ``HTTPServerRequest``.

    The fallback answers through the request's connection (for example a WSGI adapter)."""

    def initialize(  # type: ignore[override]
        self, fallback: Callable[[HTTPServerRequest], Any]
    ) -> None:
        """Remember the fallback."""
        self.fallback = fallback

    def prepare(self) -> None:
        """Call the fallback and stop the normal lifecycle."""
        self.fallback(self.request)
        self._finished = True
        self.on_finish()

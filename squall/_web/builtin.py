"""Handlers that come with the framework: ErrorHandler, RedirectHandler, FallbackHandler."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

from squall._web.errors import HTTPError
from squall._web.handler import RequestHandler
from squall.httputil import HTTPServerRequest, url_concat

__all__ = ["ErrorHandler", "FallbackHandler", "RedirectHandler"]


class ErrorHandler(RequestHandler):
    """Answers every request with ``status_code`` (the default 404 for unmatched routes).

    It skips the XSRF and cross-origin checks (an error page changes nothing), so a POST to
    an unknown URL is a 404, not a 403."""

    def initialize(self, status_code: int = 404, **kwargs: Any) -> None:
        """Remember the status to send."""
        self.set_status(status_code)

    def prepare(self) -> None:
        """Raise the error before any verb method runs."""
        raise HTTPError(self._status_code)

    def check_xsrf_cookie(self) -> None:
        """No XSRF check for an error page."""

    def check_trusted_origin(self, origin: str) -> bool:
        """Every origin is trusted for an error page (``cross_origin_protection``)."""
        return True


class RedirectHandler(RequestHandler):
    """Redirects every request to ``url`` (301 by default; ``permanent=False`` for 302).

    ``url`` may use ``str.format`` fields filled from the path groups (``{0}``, ``{name}``);
    the request's query string is appended to the target.

    The path groups come from the client, so they may not change where the redirect goes:
    the target must have the scheme and host that the text of ``url`` before its first field
    gives, read as a browser reads a URL (backslashes as slashes, tabs and newlines dropped,
    any number of slashes before a host), else 400 "Redirect URL cannot change the scheme or
    netloc". ``/{0}`` filled with ``/evil.example`` would otherwise be the open redirect
    ``//evil.example``. A target with control characters is refused with 400 too."""

    def initialize(self, url: str, permanent: bool = True) -> None:  # type: ignore[override]
        """Remember the target."""
        self._url = url
        self._permanent = permanent

    def get(self, *args: Any, **kwargs: Any) -> None:
        """Send the redirect."""
        to_url = self._url.format(*args, **kwargs)
        if (args or kwargs) and _origin(to_url) != _origin(_fixed_prefix(self._url)):
            raise HTTPError(400, "Redirect URL cannot change the scheme or netloc: %r", to_url)
        if self.request.query_arguments:
            # Raw bytes values: urlencode quotes them as they came (decoding them first would
            # re-encode non-ASCII values as UTF-8 twice).
            pairs = [
                (key, value)
                for key, values in self.request.query_arguments.items()
                for value in values
            ]
            to_url = url_concat(to_url, pairs)
        if _CONTROL.search(to_url):
            raise HTTPError(400, "Redirect URL contains invalid characters: %r", to_url)
        self.redirect(to_url, permanent=self._permanent)

    head = get


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BROWSER_DROPS = re.compile(r"[\t\n\r]")  # the WHATWG URL parser removes these anywhere
_EDGES = re.compile(r"^[\x00-\x20]+|[\x00-\x20]+$")  # ... and these at either end
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_SPECIAL_SCHEMES = frozenset(("http", "https", "ws", "wss", "ftp", "file"))
_AUTHORITY_END = re.compile(r"[/\\?#]")


def _fixed_prefix(template: str) -> str:
    """The text of a ``str.format`` template before its first replacement field (``{{``
    and ``}}`` unescaped): the part of a redirect target that the client cannot change."""
    parts = []
    for literal, field, _spec, _conversion in string.Formatter().parse(template):
        parts.append(literal)
        if field is not None:
            break
    return "".join(parts)


def _origin(url: str) -> tuple[str | None, str | None]:
    """``(scheme, authority)`` of ``url`` as a browser would read it as a Location, lowercased;
    None for what it does not name (a relative path names neither).

    Leading and trailing spaces and control characters and every tab and newline are
    ignored; a backslash counts as a slash. A special scheme (``http``, ``https``...) takes
    its host after any number of slashes (``https:evil.example`` names ``evil.example``); a
    reference without a scheme that starts with two or more slashes names a host."""
    text = _EDGES.sub("", _BROWSER_DROPS.sub("", url)).replace("\\", "/")
    match = _SCHEME.match(text)
    if match is None:
        if not text.startswith("//"):
            return None, None
        return None, _authority(text.lstrip("/"))
    scheme = match.group(1).lower()
    rest = text[match.end() :]
    if scheme in _SPECIAL_SCHEMES:
        return scheme, _authority(rest.lstrip("/"))
    if rest.startswith("//"):
        return scheme, _authority(rest[2:])
    return scheme, None


def _authority(text: str) -> str:
    end = _AUTHORITY_END.search(text)
    return (text if end is None else text[: end.start()]).lower()


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

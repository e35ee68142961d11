"""Decorators for handlers: authenticated, removeslash, addslash, stream_request_body."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from squall._web.errors import HTTPError
from squall._web.handler import RequestHandler

__all__ = ["addslash", "authenticated", "removeslash", "stream_request_body"]

_F = TypeVar("_F", bound=Callable[..., Any])
_H = TypeVar("_H", bound=type[RequestHandler])


def authenticated(method: _F) -> _F:
    """Require a logged-in user (``current_user``) for this verb method.

    Without one, GET and HEAD are redirected to ``login_url`` with ``?next=<this URL>``
    (the full URL when ``login_url`` is absolute; nothing is appended when it already has a
    query); other methods get 403."""

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Any:
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                url = self.get_login_url()
                if "?" not in url:
                    if urlsplit(url).scheme:
                        next_url = self.request.full_url()
                    else:
                        next_url = self.request.uri
                    url += "?" + urlencode({"next": next_url})
                self.redirect(url)
                return None
            raise HTTPError(403)
        return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def removeslash(method: _F) -> _F:
    """Redirect ``/path/`` to ``/path`` (301 for GET/HEAD, 404 for other methods).

    Use a pattern like ``r'/foo/*'`` so the slashed form reaches the handler."""

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Any:
        path = self.request.path
        if path.endswith("/"):
            if self.request.method not in ("GET", "HEAD"):
                raise HTTPError(404)
            uri = path.rstrip("/")
            if uri:  # never redirect "/" (or "//...") to an empty or protocol-relative URL
                if self.request.query:
                    uri += "?" + self.request.query
                self.redirect(uri, permanent=True)
                return None
        return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def addslash(method: _F) -> _F:
    """Redirect ``/path`` to ``/path/`` (301 for GET/HEAD, 404 for other methods).

    Use a pattern like ``r'/foo/?'`` so the unslashed form reaches the handler."""

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Any:
        if not self.request.path.endswith("/"):
            if self.request.method not in ("GET", "HEAD"):
                raise HTTPError(404)
            uri = self.request.path + "/"
            if self.request.query:
                uri += "?" + self.request.query
            self.redirect(uri, permanent=True)
            return None
        return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def stream_request_body(cls: _H) -> _H:
    """Class decorator: deliver the body to ``data_received(chunk)`` as it arrives.

    ``prepare`` runs once the headers are in (before the body; it may set
    ``self.request.connection.set_max_body_size``/``set_body_timeout``), then
    ``data_received`` for each chunk, then the verb method once the body is complete."""
    if not issubclass(cls, RequestHandler):
        raise TypeError(f"expected a RequestHandler subclass, got {cls!r}")
    cls._stream_request_body = True
    return cls

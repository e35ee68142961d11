"""Request input for RequestHandler: argument lookup, ETag matching and the XSRF check.

Functions take the handler as their first argument; ``RequestHandler`` methods call them in
one line each.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from squall._web import cookies
from squall._web.errors import HTTPError, MissingArgumentError

if TYPE_CHECKING:
    from squall._web.handler import RequestHandler

__all__ = ["check_xsrf_cookie", "etag_matches", "get_all", "get_one", "xsrf_token"]

# Control characters other than whitespace become spaces in argument values.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f]")
_ETAG_SPLIT = re.compile(r'\*|(?:W/)?"[^"]*"')


def get_all(
    handler: RequestHandler, source: dict[str, list[bytes]], name: str, strip: bool
) -> list[str]:
    """Every value of ``name`` in ``source``, decoded, cleaned and optionally stripped."""
    values = []
    for raw in source.get(name, ()):
        value = handler.decode_argument(raw, name=name)
        if isinstance(value, str):
            value = _CONTROL_CHARS.sub(" ", value)
            if strip:
                value = value.strip()
        values.append(value)
    return values


def get_one(
    handler: RequestHandler,
    source: dict[str, list[bytes]],
    name: str,
    default: Any,
    strip: bool,
    required: Any,
) -> Any:
    """The last value of ``name``; ``default`` if absent, or ``MissingArgumentError`` (400)."""
    values = source.get(name)
    if not values:
        if default is required:
            raise MissingArgumentError(name)
        return default
    value = handler.decode_argument(values[-1], name=name)
    if isinstance(value, str):
        value = _CONTROL_CHARS.sub(" ", value)
        if strip:
            value = value.strip()
    return value


def etag_matches(etag: str, if_none_match: str) -> bool:
    """RFC 9110 §13.1.2 weak comparison of our ``etag`` with an ``If-None-Match`` value."""
    ours = etag[2:] if etag.startswith("W/") else etag
    for candidate in _ETAG_SPLIT.findall(if_none_match):
        if candidate == "*":
            return True
        if (candidate[2:] if candidate.startswith("W/") else candidate) == ours:
            return True
    return False


def _cookie_raw_token(handler: RequestHandler) -> tuple[int | None, bytes | None, float | None]:
    name = handler.application.settings.get("xsrf_cookie_name", "_xsrf")
    cookie = handler.get_cookie(name)
    if cookie is None:
        return None, None, None
    return cookies.decode_xsrf_token(cookie)


def xsrf_token(handler: RequestHandler) -> bytes:
    """This request's XSRF token, masked; sets the ``_xsrf`` cookie when it was missing or old.

    Settings: ``xsrf_cookie_version`` (2), ``xsrf_cookie_kwargs``, ``xsrf_cookie_name``."""
    settings = handler.application.settings
    version, token, timestamp = _cookie_raw_token(handler)
    output_version = settings.get("xsrf_cookie_version", 2)
    cookie_kwargs = dict(settings.get("xsrf_cookie_kwargs", {}))
    if token is None:
        version = None
        token = cookies.new_xsrf_token()
        timestamp = time.time()
    assert timestamp is not None
    encoded = cookies.encode_xsrf_token(token, timestamp, version=output_version)
    if version is None:  # no usable cookie yet (Tornado never re-sets a valid one)
        if "expires_days" not in cookie_kwargs and handler.current_user:
            cookie_kwargs["expires_days"] = 30
        name = settings.get("xsrf_cookie_name", "_xsrf")
        handler.set_cookie(name, encoded, **cookie_kwargs)
    return encoded


def check_xsrf_cookie(handler: RequestHandler) -> None:
    """403 unless the submitted token (form ``_xsrf`` or the X-XSRFToken/X-CSRFToken header)
    matches the ``_xsrf`` cookie; messages as Tornado words them."""
    request = handler.request
    token = (
        handler.get_argument("_xsrf", None)
        or request.headers.get("X-Xsrftoken")
        or request.headers.get("X-Csrftoken")
    )
    if not token:
        raise HTTPError(403, cookies.XSRF_MISSING)
    _, submitted, _ = cookies.decode_xsrf_token(token)
    _, expected, _ = _cookie_raw_token(handler)
    if not submitted:
        raise HTTPError(403, cookies.XSRF_INVALID_FORMAT)
    if not expected or not cookies.xsrf_tokens_match(submitted, expected):
        raise HTTPError(403, cookies.XSRF_MISMATCH)

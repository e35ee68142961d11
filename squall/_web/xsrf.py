"""XSRF protection, all of it: the token's formats, the cookie, the form field and the check.

With the ``xsrf_cookies`` setting, every request that is not GET, HEAD or OPTIONS must carry
the token of the ``_xsrf`` cookie back, in the ``_xsrf`` form argument or the
``X-XSRFToken``/``X-CSRFToken`` header; :func:`check` answers 403 otherwise, with Tornado's
messages. Pages get the token from ``handler.xsrf_token`` (:func:`token`), which sets the cookie
when the request had none, or ``xsrf_form_html()`` (:func:`form_html`).

Formats, byte-compatible with Tornado's (tests/web/vectors holds the proof): v2, the default,
is ``2|hex(mask)|hex(token XOR mask)|timestamp`` with a fresh 4-byte mask on every call, so a
page never repeats the same bytes (BREACH); v1 is the token's hex. The comparison is of the raw
tokens, in constant time.

With the ``cross_origin_protection`` setting (Tornado 6.6), the same requests are also checked
for where they come from (:func:`cross_origin_refusal`): a browser says so in
``Sec-Fetch-Site`` (``same-origin`` or ``none`` pass; ``same-site``, ``cross-site`` or anything
else must come from an origin the handler trusts), and when it does not send that header the
``Origin`` header must name this host (or a trusted origin). A request with neither header does
not come from a browser and passes. No token, no cookie: it needs nothing from the page.

Rule: input from a peer never raises (a malformed token decodes to ``(None, None, None)``) and
ends in a 403 at most; misuse by the application (an unknown version) raises with a message.
"""

from __future__ import annotations

import binascii
import hmac
import os
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Protocol

from squall import escape
from squall._web.cookies import VERSION_PREFIX, to_bytes
from squall._web.errors import HTTPError
from squall.httputil import HTTPServerRequest

__all__ = [
    "XSRF_INVALID_FORMAT",
    "XSRF_MISMATCH",
    "XSRF_MISSING",
    "XSRFParts",
    "check",
    "cross_origin_refusal",
    "decode_xsrf_token",
    "encode_xsrf_token",
    "form_html",
    "new_xsrf_token",
    "token",
    "xsrf_tokens_match",
]

#: The 403 messages of the XSRF check, exactly as Tornado words them.
XSRF_MISSING = "'_xsrf' argument missing from POST"
XSRF_INVALID_FORMAT = "'_xsrf' argument has invalid format"
XSRF_MISMATCH = "XSRF cookie does not match POST argument"

XSRFParts = tuple[int | None, bytes | None, float | None]  # version, raw token, timestamp
_NO_XSRF: XSRFParts = (None, None, None)


class XSRFHandler(Protocol):
    """What the XSRF functions use of a ``RequestHandler`` (this module sits below it)."""

    request: HTTPServerRequest

    @property
    def settings(self) -> dict[str, Any]:
        """The application's settings."""

    @property
    def current_user(self) -> Any:
        """The logged-in user, if any."""

    def get_cookie(self, name: str, default: str | None = None) -> str | None:
        """A request cookie's value."""

    def set_cookie(self, name: str, value: str | bytes, **kwargs: Any) -> None:
        """Add a Set-Cookie to the response."""

    def get_argument(self, name: str, default: Any = ..., strip: bool = True) -> Any:
        """A query or body argument."""


# -- the handler's side ------------------------------------------------------------------------


def token(handler: XSRFHandler) -> bytes:
    """This request's XSRF token, masked anew; sets the ``_xsrf`` cookie when it was missing
    or unreadable (a valid cookie is never re-set, as in Tornado).

    Settings: ``xsrf_cookie_version`` (2), ``xsrf_cookie_kwargs``, ``xsrf_cookie_name``."""
    settings = handler.settings
    version, raw, timestamp = _cookie_token(handler)
    if raw is None or timestamp is None:
        version, raw, timestamp = None, new_xsrf_token(), time.time()
    encoded = encode_xsrf_token(raw, timestamp, version=settings.get("xsrf_cookie_version", 2))
    if version is None:
        cookie_kwargs = dict(settings.get("xsrf_cookie_kwargs", {}))
        if "expires_days" not in cookie_kwargs and handler.current_user:
            cookie_kwargs["expires_days"] = 30
        handler.set_cookie(settings.get("xsrf_cookie_name", "_xsrf"), encoded, **cookie_kwargs)
    return encoded


def check(handler: XSRFHandler) -> None:
    """403 unless the submitted token (form ``_xsrf`` or the X-XSRFToken/X-CSRFToken header)
    matches the ``_xsrf`` cookie; messages as Tornado words them."""
    headers = handler.request.headers
    submitted_text = (
        handler.get_argument("_xsrf", None)
        or headers.get("X-Xsrftoken")
        or headers.get("X-Csrftoken")
    )
    if not submitted_text:
        raise HTTPError(403, XSRF_MISSING)
    _, submitted, _ = decode_xsrf_token(submitted_text)
    _, expected, _ = _cookie_token(handler)
    if not submitted:
        raise HTTPError(403, XSRF_INVALID_FORMAT)
    if not expected or not xsrf_tokens_match(submitted, expected):
        raise HTTPError(403, XSRF_MISMATCH)


def cross_origin_refusal(
    request: HTTPServerRequest, is_trusted: Callable[[str], bool]
) -> str | None:
    """Why ``request`` is refused as cross-origin, or None when it may go on.

    ``Sec-Fetch-Site: same-origin`` or ``none`` (the user typed the URL) pass. Another value
    (``same-site``, ``cross-site``) passes only when ``is_trusted`` accepts the ``Origin``
    header. Without ``Sec-Fetch-Site`` (an older browser, or plain HTTP), ``Origin`` decides:
    absent (not a browser) or naming this host (its host and port equal the ``Host`` header,
    case-insensitively; the scheme is not compared, since behind a TLS proxy the server
    cannot know it) passes, else ``is_trusted`` decides. ``is_trusted`` is never called for a
    same-origin request."""
    headers = request.headers
    origin = headers.get("Origin")
    fetch_site = headers.get("Sec-Fetch-Site")
    if fetch_site is None:
        if origin is None:
            return None
        try:
            netloc = urllib.parse.urlsplit(origin).netloc
        except ValueError:  # e.g. "http://[" (a peer's text never raises)
            netloc = ""
        if netloc and netloc.lower() == headers.get("Host", "").lower():
            return None
        if is_trusted(origin):
            return None
        return f"Origin {origin!r} not allowed"
    if fetch_site in ("same-origin", "none"):
        return None
    if origin and is_trusted(origin):
        return None
    return f"Sec-Fetch-Site {fetch_site} request from origin {origin!r} not allowed"


def form_html(token: bytes) -> str:
    """The hidden ``<input name="_xsrf">`` that carries ``token`` in a form."""
    return f'<input type="hidden" name="_xsrf" value="{escape.xhtml_escape(token)}"/>'


def _cookie_token(handler: XSRFHandler) -> XSRFParts:
    cookie = handler.get_cookie(handler.settings.get("xsrf_cookie_name", "_xsrf"))
    return _NO_XSRF if cookie is None else decode_xsrf_token(cookie)


# -- the token's formats -----------------------------------------------------------------------


def new_xsrf_token() -> bytes:
    """Return a fresh raw XSRF token: 16 random bytes from ``os.urandom``."""
    return os.urandom(16)


def _mask(mask: bytes, data: bytes) -> bytes:
    # XOR with the 4-byte mask repeated over the data (the WebSocket masking rule).
    return bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))


def encode_xsrf_token(token: bytes, timestamp: float, version: int = 2) -> bytes:
    """Encode a raw XSRF token for the cookie or form: v2 masked (default) or v1 hex.

    v2 is ``2|hex(mask)|hex(token XOR mask)|int(timestamp)`` with a fresh random 4-byte mask
    on every call, so the page never repeats the same bytes (BREACH). v1 is ``hex(token)``."""
    if version == 1:
        return binascii.b2a_hex(token)
    if version != 2:
        raise ValueError(f"unknown xsrf cookie version {version} (use 1 or 2)")
    mask = os.urandom(4)
    parts = [b"2", binascii.b2a_hex(mask), binascii.b2a_hex(_mask(mask, token))]
    return b"|".join([*parts, str(int(timestamp)).encode()])


def decode_xsrf_token(cookie_or_field: bytes | str) -> XSRFParts:
    """Decode an XSRF cookie or form value into ``(version, raw token, timestamp)``.

    v2 needs four ``|``-separated parts and a 4-byte mask, else ``(None, None, None)``, as
    does any other ``N|`` version. Anything else is v1, timestamped now: hex is decoded and
    non-hex is the raw token itself, as in Tornado (an empty one is "invalid format")."""
    raw = to_bytes(cookie_or_field)
    if VERSION_PREFIX.match(raw) is None:
        try:
            raw = binascii.a2b_hex(raw)
        except binascii.Error:
            pass  # not hex: Tornado takes the value itself as the token
        return 1, raw, int(time.time())
    parts = raw.split(b"|")
    if len(parts) != 4 or parts[0] != b"2":
        return _NO_XSRF
    try:
        mask, masked = binascii.a2b_hex(parts[1]), binascii.a2b_hex(parts[2])
        timestamp = int(parts[3])
    except (binascii.Error, ValueError):
        return _NO_XSRF
    if len(mask) != 4:
        return _NO_XSRF
    return 2, _mask(mask, masked), timestamp


def xsrf_tokens_match(a: bytes, b: bytes) -> bool:
    """Compare two raw XSRF tokens in constant time."""
    return hmac.compare_digest(a, b)

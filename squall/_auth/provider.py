"""Talking to a provider: the auth errors, the fetch every mixin uses, the answer parsers.

Rules:
1. A provider that answers with an HTTP error, or cannot be reached, raises
   :class:`AuthProviderError`, which is both an :class:`AuthError` and the client's
   :class:`~squall.httpclient.HTTPClientError` (code, response), so code written for either
   catches it.
2. An answer that cannot be used (not JSON, not UTF-8, fields missing) raises
   :class:`AuthError` saying which endpoint sent what. Nothing here logs or swallows: the
   handler decides, and an uncaught error is an ordinary 500 for that one request.
3. Error messages name an endpoint by scheme, host and path only: a query can carry a client
   secret, a signature or a token.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable
from typing import Any

from squall.httpclient import AsyncHTTPClient, HTTPClientError, HTTPResponse
from squall.web import RequestHandler

_PREVIEW_BYTES = 120  # how much of a bad provider answer an error message quotes


class AuthError(Exception):
    """A third-party login could not be completed.

    Raised for a provider answer that cannot be used (bad JSON, missing fields, an OpenID
    assertion the provider does not confirm), for a callback request that does not match the
    login in progress (a missing or different OAuth request-token cookie), and, as
    :class:`AuthProviderError`, for an HTTP error from the provider. The message says which.
    """

    __module__ = "squall.auth"  # where applications import it from


class AuthProviderError(AuthError, HTTPClientError):
    """The provider answered with an HTTP error status, or could not be reached (code 599).

    Both an :class:`AuthError` and an :class:`~squall.httpclient.HTTPClientError`: ``code``,
    ``message`` (the reason phrase) and ``response`` are the client error's, so Tornado code
    that catches ``HTTPClientError`` around ``twitter_request`` keeps working. ``str()`` is a
    sentence naming the endpoint (without its query) and, for an OAuth 2.0 error answer
    (RFC 6749 §5.2), the ``error`` and ``error_description`` the provider gave.
    """

    __module__ = "squall.auth"

    def __init__(self, description: str, error: HTTPClientError) -> None:
        HTTPClientError.__init__(self, error.code, error.message, error.response)
        self.args = (description,)
        self.description = description

    def __str__(self) -> str:
        return self.description

    def __repr__(self) -> str:
        return f"AuthProviderError({self.description!r})"

    def __reduce__(self) -> tuple[type[AuthProviderError], tuple[str, HTTPClientError]]:
        # Rebuilt from the description and the client error (less the response), so the
        # exception crosses process boundaries (multiprocessing, executors).
        return type(self), (self.description, HTTPClientError(self.code, self.message))


def endpoint_name(url: str) -> str:
    """``url`` without query or fragment, for messages (rule 3)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def preview(body: bytes) -> str:
    """The start of a provider's answer, quoted for an error message."""
    if len(body) <= _PREVIEW_BYTES:
        return repr(body)
    return f"{body[:_PREVIEW_BYTES]!r}..."


def oauth2_error_detail(response: HTTPResponse | None) -> str:
    """The provider's own words from an error answer: RFC 6749 §5.2 ``error`` and
    ``error_description``, or Facebook's ``{"error": {"message": ...}}``; "" if none."""
    if response is None or not response.body:
        return ""
    try:
        data = json.loads(response.body)
    except ValueError:
        return ""
    if not isinstance(data, dict) or "error" not in data:
        return ""
    error = data["error"]
    if isinstance(error, dict):
        words = [str(error[key]) for key in ("type", "message") if key in error]
        return f" ({': '.join(words)})" if words else ""
    description = data.get("error_description")
    return f" ({error}: {description})" if description else f" ({error})"


async def provider_fetch(
    client: AsyncHTTPClient, what: str, url: str, **kwargs: Any
) -> HTTPResponse:
    """Fetch ``url`` for ``what``; an HTTP error or unreachable provider becomes
    :class:`AuthProviderError` (rule 1)."""
    try:
        return await client.fetch(url, **kwargs)
    except HTTPClientError as exc:
        method = kwargs.get("method", "GET")
        if exc.code == 599:
            description = f"{what} failed: could not reach {endpoint_name(url)}: {exc.message}"
        else:
            description = (
                f"{what} failed: {method} {endpoint_name(url)} answered HTTP {exc.code} "
                f"{exc.message}{oauth2_error_detail(exc.response)}"
            )
        raise AuthProviderError(description, exc) from exc
    except OSError as exc:  # the network failure itself, as Tornado's client raises it
        description = f"{what} failed: could not reach {endpoint_name(url)}: {exc}"
        raise AuthProviderError(description, HTTPClientError(599, str(exc))) from exc


def body_text(response: HTTPResponse, what: str) -> str:
    """The answer's body as text; a body that is not UTF-8 raises AuthError (rule 2)."""
    try:
        return response.body.decode("utf-8")
    except UnicodeDecodeError:
        raise AuthError(
            f"{what}: {endpoint_name(response.effective_url)} answered a body that is not "
            f"UTF-8: {preview(response.body)}"
        ) from None


def json_answer(response: HTTPResponse, what: str) -> Any:
    """The provider's answer decoded as JSON; anything else raises AuthError (rule 2)."""
    text = body_text(response, what)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise AuthError(
            f"{what}: {endpoint_name(response.effective_url)} answered invalid JSON ({exc}): "
            f"{preview(response.body)}"
        ) from None


def json_object(response: HTTPResponse, what: str, required: Iterable[str] = ()) -> dict[str, Any]:
    """A JSON object answer that has every field in ``required``; else AuthError."""
    value = json_answer(response, what)
    where = endpoint_name(response.effective_url)
    if not isinstance(value, dict):
        raise AuthError(f"{what}: {where} answered JSON {type(value).__name__}, not an object")
    missing = [name for name in required if not value.get(name)]
    if missing:
        raise AuthError(
            f"{what}: {where} answered without {', '.join(missing)}: {preview(response.body)}"
        )
    return value


def token_answer(response: HTTPResponse, what: str) -> dict[str, Any]:
    """An OAuth 1.0 token answer (RFC 5849 §2.1/§2.3: form-encoded ``oauth_token`` and
    ``oauth_token_secret``) as ``{"key", "secret", ...}``; other fields (Twitter's
    ``screen_name``, ``user_id``) are kept beside them."""
    fields = urllib.parse.parse_qs(body_text(response, what), keep_blank_values=True)
    key, secret = fields.pop("oauth_token", [""])[0], fields.pop("oauth_token_secret", None)
    if not key or secret is None:
        raise AuthError(
            f"{what}: {endpoint_name(response.effective_url)} answered without oauth_token "
            f"and oauth_token_secret: {preview(response.body)}"
        )
    token: dict[str, Any] = {"key": key, "secret": secret[0]}
    token.update((name, values[0]) for name, values in fields.items())
    return token


def as_handler(mixin: object) -> RequestHandler:
    """``mixin`` as the RequestHandler it must also be."""
    if not isinstance(mixin, RequestHandler):
        raise TypeError(
            f"{type(mixin).__name__} uses a squall.auth mixin but is not a RequestHandler: "
            f"declare it as class {type(mixin).__name__}(RequestHandler, <the mixin>)"
        )
    return mixin


def required_url(mixin: object, name: str) -> str:
    """The provider URL class attribute ``name``; unset raises RuntimeError saying so."""
    url = getattr(mixin, name, None)
    if not url:
        raise RuntimeError(
            f"{type(mixin).__name__}.{name} is not set: give the provider's URL as a class "
            f"attribute of your handler"
        )
    return str(url)

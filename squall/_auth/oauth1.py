"""OAuthMixin: OAuth 1.0 and 1.0a login (request token, authorization, access token).

The request token waits between the redirect and the callback in the ``_oauth_request_token``
cookie, ``base64(key)|base64(secret)``, as Tornado keeps it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import urllib.parse
from collections.abc import Awaitable, Mapping
from typing import Any

from squall._auth.provider import (
    AuthError,
    as_handler,
    provider_fetch,
    required_url,
    token_answer,
)
from squall._auth.signing import as_text, hmac_sha1_signature, protocol_parameters
from squall.escape import utf8
from squall.httpclient import AsyncHTTPClient, HTTPResponse
from squall.httputil import url_concat

_REQUEST_TOKEN_COOKIE = "_oauth_request_token"


class OAuthMixin:
    """OAuth 1.0 and 1.0a login: temporary credentials, authorization, token credentials.

    Class attributes: ``_OAUTH_REQUEST_TOKEN_URL``, ``_OAUTH_AUTHORIZE_URL`` and
    ``_OAUTH_ACCESS_TOKEN_URL`` (the provider's three endpoints), ``_OAUTH_VERSION`` ("1.0a",
    the default, or "1.0"), and ``_OAUTH_NO_CALLBACKS`` (True when the provider only accepts a
    callback registered in advance). Subclasses implement :meth:`_oauth_consumer_token` and
    :meth:`_oauth_get_user_future`. Requests are signed with HMAC-SHA1 (RFC 5849 §3.4.2) and
    carry the protocol parameters in the query string.
    """

    _OAUTH_REQUEST_TOKEN_URL = ""
    _OAUTH_AUTHORIZE_URL = ""
    _OAUTH_ACCESS_TOKEN_URL = ""
    _OAUTH_VERSION = "1.0a"
    _OAUTH_NO_CALLBACKS = False

    async def authorize_redirect(
        self,
        callback_uri: str | None = None,
        extra_params: Mapping[str, Any] | None = None,
        http_client: AsyncHTTPClient | None = None,
    ) -> None:
        """Get a request token from the provider and redirect the browser to authorize it.

        The request token is kept in the ``_oauth_request_token`` cookie for
        :meth:`get_authenticated_user`. ``callback_uri`` (relative to this request) is where
        the provider sends the browser back; leave it out when the callback is registered with
        the provider (it must be, when ``_OAUTH_NO_CALLBACKS`` is set: giving one then raises
        ValueError). ``"oob"`` asks for out-of-band verification: the response body is then the
        authorization URL, for the application to show. ``extra_params`` are added to the
        request-token request. An HTTP error from the provider raises
        :class:`AuthProviderError`; an unusable answer :class:`AuthError`."""
        if callback_uri and self._OAUTH_NO_CALLBACKS:
            raise ValueError(
                f"{type(self).__name__} talks to a provider that does not accept oauth_callback "
                "(_OAUTH_NO_CALLBACKS): register the callback URL with the provider instead"
            )
        client = http_client or self.get_auth_http_client()
        url = self._oauth_request_token_url(callback_uri=callback_uri, extra_params=extra_params)
        response = await provider_fetch(client, "OAuth request token", url)
        self._on_request_token(required_url(self, "_OAUTH_AUTHORIZE_URL"), callback_uri, response)

    async def get_authenticated_user(
        self, http_client: AsyncHTTPClient | None = None
    ) -> dict[str, Any]:
        """Finish the login on the callback request: exchange the authorized request token for
        an access token and return the user.

        The user is what :meth:`_oauth_get_user_future` returns, with ``access_token`` added
        (a dict with ``key`` and ``secret``, plus any other fields of the provider's answer).
        Raises :class:`AuthError` when the ``_oauth_request_token`` cookie is missing, malformed
        or for another token than this request's ``oauth_token`` (the cookie is cleared either
        way), when the provider's answer lacks the token, or when no user comes back."""
        handler = as_handler(self)
        request_key = handler.get_argument("oauth_token")
        verifier = handler.get_argument("oauth_verifier", None)
        cookie = handler.get_cookie(_REQUEST_TOKEN_COOKIE)
        if not cookie:
            raise AuthError(
                f"Missing OAuth request token cookie {_REQUEST_TOKEN_COOKIE}: start the login "
                "with authorize_redirect() in the same browser"
            )
        handler.clear_cookie(_REQUEST_TOKEN_COOKIE)
        token = _decode_request_token_cookie(cookie)
        if not hmac.compare_digest(utf8(token["key"]), utf8(request_key)):
            raise AuthError("Request token does not match cookie: the login was not started here")
        if verifier:
            token["verifier"] = verifier
        client = http_client or self.get_auth_http_client()
        response = await provider_fetch(
            client, "OAuth access token", self._oauth_access_token_url(token)
        )
        access_token = token_answer(response, "OAuth access token")
        user: Any = self._oauth_get_user_future(access_token)
        if isinstance(user, Awaitable):
            user = await user
        if not user:
            raise AuthError(
                f"Error getting user: {type(self).__name__}._oauth_get_user_future returned "
                f"{user!r}"
            )
        user["access_token"] = access_token
        result: dict[str, Any] = user
        return result

    def _oauth_request_token_url(
        self, callback_uri: str | None = None, extra_params: Mapping[str, Any] | None = None
    ) -> str:
        """The signed URL that asks for a request token (RFC 5849 §2.1).

        With 1.0a, ``callback_uri`` goes here as ``oauth_callback`` ("oob" as is, anything else
        made absolute against this request)."""
        consumer = self._consumer()
        url = required_url(self, "_OAUTH_REQUEST_TOKEN_URL")
        args = protocol_parameters(consumer["key"], None)
        if self._oauth_version() == "1.0a" and callback_uri:
            args["oauth_callback"] = (
                "oob" if callback_uri == "oob" else self._absolute_url(callback_uri)
            )
        args.update((name, as_text(value)) for name, value in (extra_params or {}).items())
        args["oauth_signature"] = hmac_sha1_signature("GET", url, args, consumer["secret"], "")
        return url_concat(url, args)

    def _on_request_token(
        self, authorize_url: str, callback_uri: str | None, response: HTTPResponse
    ) -> None:
        """Remember the request token in a cookie and send the browser to ``authorize_url``."""
        handler = as_handler(self)
        token = token_answer(response, "OAuth request token")
        handler.set_cookie(_REQUEST_TOKEN_COOKIE, _encode_request_token_cookie(token))
        args = {"oauth_token": token["key"]}
        if callback_uri == "oob":
            handler.finish(url_concat(authorize_url, args))
            return
        if callback_uri:
            # OAuth Core 1.0 §6.2.1 puts the callback here; 1.0a moved it to the request-token
            # request, but Tornado sends it here too and 1.0a providers ignore it.
            args["oauth_callback"] = self._absolute_url(callback_uri)
        handler.redirect(url_concat(authorize_url, args))

    def _oauth_access_token_url(self, request_token: Mapping[str, Any]) -> str:
        """The signed URL that exchanges an authorized request token for an access token
        (RFC 5849 §2.3), with ``oauth_verifier`` when the callback brought one."""
        consumer = self._consumer()
        url = required_url(self, "_OAUTH_ACCESS_TOKEN_URL")
        args = protocol_parameters(consumer["key"], as_text(request_token["key"]))
        if request_token.get("verifier"):
            args["oauth_verifier"] = as_text(request_token["verifier"])
        secret = as_text(request_token.get("secret", ""))
        args["oauth_signature"] = hmac_sha1_signature("GET", url, args, consumer["secret"], secret)
        return url_concat(url, args)

    def _oauth_consumer_token(self) -> Mapping[str, Any]:
        """The application's consumer credentials: a dict with ``key`` and ``secret``.

        Subclasses must override it (TwitterMixin reads them from the settings)."""
        raise NotImplementedError(
            f"{type(self).__name__} must override _oauth_consumer_token() to return "
            "{'key': ..., 'secret': ...}"
        )

    async def _oauth_get_user_future(self, access_token: dict[str, Any]) -> dict[str, Any]:
        """Fetch the user that ``access_token`` belongs to; subclasses must override it.

        Returns a dict describing the user (a falsy value makes get_authenticated_user raise
        AuthError). An override may also be a plain method returning the dict."""
        raise NotImplementedError(
            f"{type(self).__name__} must override _oauth_get_user_future(access_token)"
        )

    def _oauth_request_parameters(
        self,
        url: str,
        access_token: Mapping[str, Any],
        parameters: Mapping[str, Any] | None = None,
        method: str = "GET",
    ) -> dict[str, str]:
        """The signed oauth_* parameters for a request to ``url`` made with ``access_token``.

        ``parameters`` are all the query and form-body arguments the request will carry (they
        are signed but not returned); any query already in ``url`` is signed too. Add the
        result to the request's query or body."""
        consumer = self._consumer()
        args = protocol_parameters(consumer["key"], as_text(access_token["key"]))
        signed = {name: as_text(value) for name, value in (parameters or {}).items()}
        signed.update(args)
        secret = as_text(access_token.get("secret", ""))
        args["oauth_signature"] = hmac_sha1_signature(
            method, url, signed, consumer["secret"], secret
        )
        return args

    def get_auth_http_client(self) -> AsyncHTTPClient:
        """The HTTP client used to talk to the provider: ``AsyncHTTPClient()`` unless
        overridden."""
        return AsyncHTTPClient()

    def _consumer(self) -> dict[str, str]:
        # The message names the keys it got, never the values: they are secrets.
        token = self._oauth_consumer_token()
        if not isinstance(token, Mapping) or "key" not in token or "secret" not in token:
            raise TypeError(
                f"{type(self).__name__}._oauth_consumer_token() must return a dict with 'key' "
                f"and 'secret', not a {type(token).__name__} with {sorted(token or ())}"
            )
        return {"key": as_text(token["key"]), "secret": as_text(token["secret"])}

    def _oauth_version(self) -> str:
        version = self._OAUTH_VERSION
        if version not in ("1.0", "1.0a"):
            raise ValueError(f"_OAUTH_VERSION must be '1.0' or '1.0a', not {version!r}")
        return version

    def _absolute_url(self, url: str) -> str:
        return urllib.parse.urljoin(as_handler(self).request.full_url(), url)


def _encode_request_token_cookie(token: Mapping[str, Any]) -> str:
    parts = (token["key"], token["secret"])
    return "|".join(base64.b64encode(utf8(as_text(part))).decode("ascii") for part in parts)


def _decode_request_token_cookie(cookie: str) -> dict[str, Any]:
    try:
        key, secret = (base64.b64decode(part, validate=True).decode() for part in cookie.split("|"))
    except (ValueError, binascii.Error):  # a wrong count of parts, bad base64 or bad UTF-8
        raise AuthError(
            f"Malformed OAuth request token cookie {_REQUEST_TOKEN_COOKIE}: expected "
            "base64(key)|base64(secret)"
        ) from None
    return {"key": key, "secret": secret}

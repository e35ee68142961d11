"""OAuth2Mixin: OAuth 2.0 (RFC 6749) authorization redirect and bearer-token API requests."""

from __future__ import annotations

import urllib.parse
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from squall._auth.provider import as_handler, json_answer, provider_fetch, required_url
from squall.httpclient import AsyncHTTPClient
from squall.httputil import url_concat


class OAuth2Mixin:
    """OAuth 2.0 (RFC 6749) authorization-code login and API requests with a bearer token.

    Class attributes: ``_OAUTH_AUTHORIZE_URL`` (where the browser is sent to authorize) and
    ``_OAUTH_ACCESS_TOKEN_URL`` (where a code is exchanged for a token). See
    :class:`GoogleOAuth2Mixin` and :class:`FacebookGraphMixin` for complete logins.
    """

    _OAUTH_AUTHORIZE_URL = ""
    _OAUTH_ACCESS_TOKEN_URL = ""

    def authorize_redirect(
        self,
        redirect_uri: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        extra_params: Mapping[str, Any] | None = None,
        scope: Iterable[str] | str | None = None,
        response_type: str = "code",
    ) -> None:
        """Redirect the browser to the provider to authorize this application.

        The provider sends it back to ``redirect_uri`` (some providers require it registered in
        advance) with a ``code`` for the login handler's ``get_authenticated_user``. ``scope``
        is a list of scopes (joined with spaces) or one string; ``extra_params`` are added to
        the URL. ``client_secret`` has no effect (a secret never goes to the browser) and warns
        with DeprecationWarning. Synchronous: it returns None."""
        handler = as_handler(self)
        if client_secret is not None:
            warnings.warn(
                "authorize_redirect(client_secret=...) has no effect: the secret is never sent "
                "to the browser; drop the argument",
                DeprecationWarning,
                stacklevel=2,
            )
        args: dict[str, Any] = {"response_type": response_type}
        if redirect_uri is not None:
            args["redirect_uri"] = redirect_uri
        if client_id is not None:
            args["client_id"] = client_id
        if extra_params:
            args.update(extra_params)
        if scope:
            args["scope"] = scope if isinstance(scope, str) else " ".join(scope)
        url = url_concat(required_url(self, "_OAUTH_AUTHORIZE_URL"), args)
        handler.redirect(url)

    def _oauth_request_token_url(
        self,
        redirect_uri: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        code: str | None = None,
        extra_params: Mapping[str, Any] | None = None,
    ) -> str:
        """``_OAUTH_ACCESS_TOKEN_URL`` with the given arguments (those not None) as its query."""
        args = {
            name: value
            for name, value in (
                ("redirect_uri", redirect_uri),
                ("code", code),
                ("client_id", client_id),
                ("client_secret", client_secret),
            )
            if value is not None
        }
        args.update(extra_params or {})
        return url_concat(required_url(self, "_OAUTH_ACCESS_TOKEN_URL"), args)

    async def oauth2_request(
        self,
        url: str,
        access_token: str | None = None,
        post_args: Mapping[str, Any] | None = None,
        **args: Any,
    ) -> Any:
        """Call the provider's API at ``url`` and return its JSON answer.

        ``access_token`` and the keyword ``args`` go in the query string; with ``post_args``
        the request is a POST with them as a form body, otherwise a GET. An HTTP error raises
        :class:`AuthProviderError`, an answer that is not JSON :class:`AuthError`. Example::

            user = await self.oauth2_request(
                "https://graph.facebook.com/me/feed",
                access_token=self.current_user["access_token"],
                post_args={"message": "I am posting from my Tornado application!"})
        """
        query = {"access_token": access_token} if access_token else {}
        query.update(args)
        if query:
            url = url_concat(url, query)
        client = self.get_auth_http_client()
        if post_args is not None:
            body = urllib.parse.urlencode(post_args)
            response = await provider_fetch(client, "OAuth2 request", url, method="POST", body=body)
        else:
            response = await provider_fetch(client, "OAuth2 request", url)
        return json_answer(response, "OAuth2 request")

    def get_auth_http_client(self) -> AsyncHTTPClient:
        """The HTTP client used to talk to the provider: ``AsyncHTTPClient()`` unless
        overridden."""
        return AsyncHTTPClient()

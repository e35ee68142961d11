"""The provider mixins: TwitterMixin (OAuth 1.0a), GoogleOAuth2Mixin, FacebookGraphMixin."""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from squall._auth.oauth1 import OAuthMixin
from squall._auth.oauth2 import OAuth2Mixin
from squall._auth.provider import (
    AuthError,
    as_handler,
    json_answer,
    json_object,
    provider_fetch,
    required_url,
)
from squall.escape import utf8
from squall.httputil import url_concat

# ---------- Twitter (OAuth 1.0a) -----------------------------------------------------------


class TwitterMixin(OAuthMixin):
    """Twitter (X) login and API requests over OAuth 1.0a.

    Register an application with Twitter and set the ``twitter_consumer_key`` and
    ``twitter_consumer_secret`` application settings. On the login handler::

        class TwitterLogin(RequestHandler, TwitterMixin):
            async def get(self):
                if self.get_argument("oauth_token", None):
                    user = await self.get_authenticated_user()
                    # ... save user["access_token"] with the user
                else:
                    await self.authorize_redirect()

    The user is Twitter's ``account/verify_credentials`` answer plus ``username`` (the screen
    name) and ``access_token`` (``key``, ``secret``, ``screen_name``, ``user_id``).
    """

    _OAUTH_REQUEST_TOKEN_URL = "https://api.twitter.com/oauth/request_token"
    _OAUTH_ACCESS_TOKEN_URL = "https://api.twitter.com/oauth/access_token"
    _OAUTH_AUTHORIZE_URL = "https://api.twitter.com/oauth/authorize"
    _OAUTH_AUTHENTICATE_URL = "https://api.twitter.com/oauth/authenticate"
    _OAUTH_NO_CALLBACKS = False
    _TWITTER_BASE_URL = "https://api.twitter.com/1.1"

    async def authenticate_redirect(self, callback_uri: str | None = None) -> None:
        """Like ``authorize_redirect``, but sends the browser to Twitter's authenticate page,
        which returns at once for a user who already authorized this application ("Sign in
        with Twitter"). ``callback_uri`` goes to the request-token request."""
        client = self.get_auth_http_client()
        url = self._oauth_request_token_url(callback_uri=callback_uri)
        response = await provider_fetch(client, "OAuth request token", url)
        self._on_request_token(required_url(self, "_OAUTH_AUTHENTICATE_URL"), None, response)

    async def twitter_request(
        self,
        path: str,
        access_token: Mapping[str, Any],
        post_args: Mapping[str, Any] | None = None,
        **args: Any,
    ) -> Any:
        """Call the Twitter API at ``path`` (e.g. "/statuses/user_timeline/btaylor") and
        return its JSON answer.

        The path leaves out the version and the ``.json`` suffix, which are added; a full
        "http(s)://" URL is used as it is. Keyword ``args`` go in the query; with ``post_args``
        the request is a POST with them as a form body. The request is signed with
        ``access_token`` (``key``/``secret``). An HTTP error raises :class:`AuthProviderError`
        (also an ``HTTPClientError``), an answer that is not JSON :class:`AuthError`."""
        if path.startswith(("http:", "https:")):
            url = path
        else:
            url = f"{self._TWITTER_BASE_URL}{path}.json"
        method = "POST" if post_args is not None else "GET"
        if access_token:
            signed = {**args, **(post_args or {})}
            args.update(self._oauth_request_parameters(url, access_token, signed, method=method))
        if args:
            url = url_concat(url, args)
        client = self.get_auth_http_client()
        kwargs: dict[str, Any] = {}
        if post_args is not None:
            kwargs = {"method": "POST", "body": urllib.parse.urlencode(post_args)}
        response = await provider_fetch(client, "Twitter request", url, **kwargs)
        return json_answer(response, "Twitter request")

    def _oauth_consumer_token(self) -> dict[str, Any]:
        """The ``twitter_consumer_key``/``twitter_consumer_secret`` settings (RuntimeError,
        naming the setting, when one is missing)."""
        handler = as_handler(self)
        handler.require_setting("twitter_consumer_key", "Twitter OAuth")
        handler.require_setting("twitter_consumer_secret", "Twitter OAuth")
        settings = handler.settings
        return {
            "key": settings["twitter_consumer_key"],
            "secret": settings["twitter_consumer_secret"],
        }

    async def _oauth_get_user_future(self, access_token: dict[str, Any]) -> dict[str, Any]:
        """The ``account/verify_credentials`` answer for ``access_token``, plus ``username``."""
        user = await self.twitter_request("/account/verify_credentials", access_token=access_token)
        if not isinstance(user, dict) or not user.get("screen_name"):
            got = sorted(user) if isinstance(user, dict) else type(user).__name__
            raise AuthError(f"Twitter verify_credentials answered without a screen_name: {got}")
        user["username"] = user["screen_name"]
        return user


# ---------- Google (OAuth 2.0) -------------------------------------------------------------


class GoogleOAuth2Mixin(OAuth2Mixin):
    """Google login over OAuth 2.0.

    Create OAuth 2.0 credentials in the Google Cloud console, register the redirect URL, and
    set the ``google_oauth`` application setting to ``{"key": CLIENT_ID, "secret":
    CLIENT_SECRET}``. ``get_authenticated_user`` returns Google's token answer; fetch the
    user's profile with ``oauth2_request(self._OAUTH_USERINFO_URL, access_token=...)``.
    """

    _OAUTH_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
    _OAUTH_ACCESS_TOKEN_URL = "https://www.googleapis.com/oauth2/v4/token"
    _OAUTH_USERINFO_URL = "https://www.googleapis.com/oauth2/v1/userinfo"
    _OAUTH_NO_CALLBACKS = False
    _OAUTH_SETTINGS_KEY = "google_oauth"

    def get_google_oauth_settings(self) -> dict[str, str]:
        """The client credentials, ``{"key": ..., "secret": ...}``: by default the
        ``google_oauth`` application setting (RuntimeError naming it when absent). Override it
        to read them from elsewhere."""
        handler = as_handler(self)
        handler.require_setting(self._OAUTH_SETTINGS_KEY, "Google OAuth2")
        settings: dict[str, str] = handler.settings[self._OAUTH_SETTINGS_KEY]
        if not isinstance(settings, Mapping) or not {"key", "secret"} <= settings.keys():
            raise RuntimeError(
                f"The '{self._OAUTH_SETTINGS_KEY}' setting must be a dict with 'key' (the client "
                "id) and 'secret' (the client secret)"
            )
        return settings

    async def get_authenticated_user(
        self,
        redirect_uri: str,
        code: str,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> dict[str, Any]:
        """Exchange the authorization ``code`` for tokens and return Google's answer.

        The dict has ``access_token``, ``expires_in``, ``token_type`` and, with the right
        scopes, ``id_token``. ``redirect_uri`` must be the one given to authorize_redirect.
        ``client_id``/``client_secret`` default to :meth:`get_google_oauth_settings`. An HTTP
        error (an expired or reused code, say) raises :class:`AuthProviderError` with Google's
        ``error``; an answer without ``access_token`` raises :class:`AuthError`."""
        if client_id is None or client_secret is None:
            settings = self.get_google_oauth_settings()
            client_id = settings["key"] if client_id is None else client_id
            client_secret = settings["secret"] if client_secret is None else client_secret
        body = urllib.parse.urlencode(
            {
                "redirect_uri": redirect_uri,
                "code": code,
                "client_id": client_id,
                "client_secret": client_secret,
                "grant_type": "authorization_code",
            }
        )
        response = await provider_fetch(
            self.get_auth_http_client(), "Google OAuth2 token",
            required_url(self, "_OAUTH_ACCESS_TOKEN_URL"), method="POST", body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        return json_object(response, "Google OAuth2 token", required=("access_token",))


# ---------- Facebook (OAuth 2.0, Graph API) ------------------------------------------------

_FACEBOOK_FIELDS = ("id", "name", "first_name", "last_name", "locale", "picture", "link")


class FacebookGraphMixin(OAuth2Mixin):
    """Facebook login and Graph API requests over OAuth 2.0.

    Register an application with Facebook and keep its id and secret in settings (Tornado's
    examples use ``facebook_api_key`` and ``facebook_secret``); pass them to
    ``authorize_redirect(client_id=...)`` and ``get_authenticated_user(...)``.
    """

    _OAUTH_ACCESS_TOKEN_URL = "https://graph.facebook.com/oauth/access_token?"
    _OAUTH_AUTHORIZE_URL = "https://www.facebook.com/dialog/oauth?"
    _OAUTH_NO_CALLBACKS = False
    _FACEBOOK_BASE_URL = "https://graph.facebook.com"

    async def get_authenticated_user(
        self,
        redirect_uri: str,
        client_id: str,
        client_secret: str,
        code: str,
        extra_fields: Iterable[str] | None = None,
    ) -> dict[str, Any] | None:
        """Exchange ``code`` for an access token and return the user's Graph profile.

        The dict has ``id``, ``name``, ``first_name``, ``last_name``, ``locale``, ``picture``,
        ``link`` and any ``extra_fields`` (None where Facebook gave none), plus
        ``access_token`` and ``session_expires`` (the token's lifetime in seconds, as a
        string, or None when Facebook did not say). The profile request carries
        ``appsecret_proof``. Raises :class:`AuthProviderError` for an HTTP error and
        :class:`AuthError` for an answer without ``access_token``."""
        url = self._oauth_request_token_url(
            redirect_uri=redirect_uri, client_id=client_id, client_secret=client_secret, code=code
        )
        response = await provider_fetch(self.get_auth_http_client(), "Facebook access token", url)
        token = json_object(response, "Facebook access token", required=("access_token",))
        access_token = str(token["access_token"])
        fields = list(dict.fromkeys([*_FACEBOOK_FIELDS, *(extra_fields or ())]))
        proof = hmac.new(utf8(client_secret), utf8(access_token), hashlib.sha256).hexdigest()
        user = await self.facebook_request(
            path="/me", access_token=access_token, appsecret_proof=proof, fields=",".join(fields)
        )
        if user is None:
            return None
        if not isinstance(user, dict):
            raise AuthError(f"Facebook /me answered JSON {type(user).__name__}, not an object")
        profile = {field: user.get(field) for field in fields}
        expires = token.get("expires_in")
        profile["access_token"] = access_token
        profile["session_expires"] = None if expires is None else str(expires)
        return profile

    async def facebook_request(
        self,
        path: str,
        access_token: str | None = None,
        post_args: Mapping[str, Any] | None = None,
        **args: Any,
    ) -> Any:
        """Call the Graph API at ``path`` (e.g. "/btaylor/picture", "/me/feed") and return
        its JSON answer.

        ``access_token`` and keyword ``args`` go in the query; with ``post_args`` the request
        is a POST with them as a form body. Errors as in :meth:`oauth2_request`."""
        return await self.oauth2_request(
            f"{self._FACEBOOK_BASE_URL}{path}",
            access_token=access_token,
            post_args=post_args,
            **args,
        )

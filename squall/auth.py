"""Third-party login: OpenID 2.0, OAuth 1.0/1.0a and OAuth 2.0 mixins, with Tornado's API.

Mix a class in beside :class:`~squall.web.RequestHandler`::

    class GoogleLogin(RequestHandler, GoogleOAuth2Mixin):
        async def get(self):
            if self.get_argument("code", None):
                token = await self.get_authenticated_user(
                    redirect_uri="https://example.com/auth/google",
                    code=self.get_argument("code"))
                user = await self.oauth2_request(
                    "https://www.googleapis.com/oauth2/v1/userinfo",
                    access_token=token["access_token"])
                # ... remember the user, e.g. with set_signed_cookie
            else:
                self.authorize_redirect(
                    redirect_uri="https://example.com/auth/google",
                    client_id=self.settings["google_oauth"]["key"],
                    scope=["profile", "email"], response_type="code")

On a login handler, ``authenticate_redirect``/``authorize_redirect`` send the browser to the
provider and ``get_authenticated_user`` finishes the login when it comes back; elsewhere
``twitter_request``, ``facebook_request`` and ``oauth2_request`` call the provider's API with
the tokens obtained. Provider URLs are class attributes (``_OAUTH_AUTHORIZE_URL`` and friends,
underscored for historical reasons): override them to talk to another provider or a mock.

The implementation lives in ``squall._auth`` (one module per protocol; its ``provider`` module
states the error rules); this module keeps Tornado's names. Deliberate differences from
Tornado are listed in docs/tornado-differences.md ("auth").
"""

from __future__ import annotations

from squall._auth.oauth1 import OAuthMixin
from squall._auth.oauth2 import OAuth2Mixin
from squall._auth.openid import OpenIdMixin
from squall._auth.provider import AuthError, AuthProviderError
from squall._auth.services import FacebookGraphMixin, GoogleOAuth2Mixin, TwitterMixin

__all__ = [
    "AuthError",
    "AuthProviderError",
    "FacebookGraphMixin",
    "GoogleOAuth2Mixin",
    "OAuth2Mixin",
    "OAuthMixin",
    "OpenIdMixin",
    "TwitterMixin",
]

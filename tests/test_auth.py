"""squall.auth over real loopback sockets: one Application serves mock providers (OpenID,
OAuth 1.0a with signature checks, OAuth 2.0 in Google's and Facebook's flavours) and the
client handlers that log in against them. Bad provider answers must give AuthError with a
message naming the endpoint (never its query), and the server must keep serving.

The RFC 5849 signing rules are checked first, without sockets, on published examples."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import logging
import pickle
import re
import socket
import time
import urllib.parse
import warnings
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest

from squall import auth
from squall._auth.signing import (
    base_string_uri,
    hmac_sha1_signature,
    percent_encode,
    signature_base_string,
)
from squall.auth import (
    AuthError,
    AuthProviderError,
    FacebookGraphMixin,
    GoogleOAuth2Mixin,
    OAuth2Mixin,
    OAuthMixin,
    OpenIdMixin,
    TwitterMixin,
)
from squall.httpclient import HTTPClientError, HTTPResponse
from squall.testing import AsyncHTTPTestCase, ExpectLog
from squall.web import Application, RequestHandler

CONSUMER = {"key": "ck", "secret": "cs"}
REQUEST_TOKEN = ("rtok", "rsecret")
ACCESS_TOKEN = ("atok", "asecret")
GOOGLE = {"key": "g-client", "secret": "g-secret"}
FB_ID, FB_SECRET = "fb-client", "fb-secret"
AX_NS = "http://openid.net/srv/ax/1.0"

# ---------- RFC 5849 signing, no sockets ---------------------------------------------------


def test_signature_matches_twitters_documented_example() -> None:
    # Twitter's "Creating a signature" walkthrough: a POST with a query and a form body.
    params = {
        "status": "Hello Ladies + Gentlemen, a signed OAuth request!",
        "oauth_consumer_key": "xvz1evFS4wEEPTGEFPHBog",
        "oauth_nonce": "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": "1318622958",
        "oauth_token": "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        "oauth_version": "1.0",
    }
    signature = hmac_sha1_signature(
        "POST",
        "https://api.twitter.com/1.1/statuses/update.json?include_entities=true",
        params,
        "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
        "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
    )
    assert signature == "hCtSmYh+iHYCEqBWrE7C7hYmtUk="


def test_base_string_matches_rfc_5849_example() -> None:
    # RFC 5849 §3.4.1.1: query parameters (one encoded twice), an empty value, a repeated
    # name across query and body, and "+" in the body meaning a space.
    url = "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b"
    params = {
        "oauth_consumer_key": "9djdj82h48djs9d2",
        "oauth_token": "kkk9d7dh3k39sjv7",
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": "137131201",
        "oauth_nonce": "7d8f3e4a",
        "c2": "",
        "a3": "2 q",
        "oauth_signature": "left out of the base string",
    }
    assert signature_base_string("POST", url, params) == (
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D"
        "%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26"
        "oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D"
        "137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://EXAMPLE.COM:80/r%20v/X?id=123", "http://example.com/r%20v/X"),
        ("https://www.example.net:8080/?q=1", "https://www.example.net:8080/"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("http://[::1]:8888/p", "http://[::1]:8888/p"),
        ("http://user:pw@example.com", "http://example.com/"),
    ],
)
def test_base_string_uri_normalizes_scheme_host_and_port(url: str, expected: str) -> None:
    assert base_string_uri(url) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("AZaz09-._~", "AZaz09-._~"),
        ("a b+c", "a%20b%2Bc"),
        ("=&%/?", "%3D%26%25%2F%3F"),
        ("☃", "%E2%98%83"),
        (b"\xff", "%FF"),
    ],
)
def test_percent_encoding_keeps_only_unreserved_characters(
    value: str | bytes, expected: str
) -> None:
    assert percent_encode(value) == expected


def test_signature_depends_on_every_input_but_not_on_parameter_order() -> None:
    params = {"b": "2", "a": "1", "oauth_nonce": "n"}
    base = hmac_sha1_signature("GET", "http://h/p", params, "cs", "ts")
    assert hmac_sha1_signature("GET", "http://h/p", dict(reversed(params.items())), "cs", "ts") == (
        base
    )
    variants = [
        hmac_sha1_signature("POST", "http://h/p", params, "cs", "ts"),
        hmac_sha1_signature("GET", "http://h/q", params, "cs", "ts"),
        hmac_sha1_signature("GET", "http://h/p", {**params, "b": "3"}, "cs", "ts"),
        hmac_sha1_signature("GET", "http://h/p", params, "cs2", "ts"),
        hmac_sha1_signature("GET", "http://h/p", params, "cs", "ts2"),
    ]
    assert base not in variants


# ---------- the mock providers -------------------------------------------------------------


class Provider:
    """What the mock providers were asked, and how they should misbehave next."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, str]] = {}
        self.mode: dict[str, str] = {}

    def record(self, handler: RequestHandler, endpoint: str) -> str:
        args = {name: handler.get_argument(name) for name in handler.request.arguments}
        self.seen[endpoint] = args
        return self.mode.get(endpoint, "ok")


class ProviderHandler(RequestHandler):
    @property
    def provider(self) -> Provider:
        provider: Provider = self.settings["provider"]
        return provider

    def answer(self, status: int, body: Any) -> None:
        self.set_status(status)
        if isinstance(body, list):  # write() refuses lists (XSS); providers may still send one
            self.set_header("Content-Type", "application/json")
            body = json.dumps(body)
        self.finish(body)

    def signature_ok(self, token_secret: str) -> bool:
        """Recompute the RFC 5849 signature from the request as it arrived."""
        request = self.request
        body = {name: values[-1].decode() for name, values in request.body_arguments.items()}
        expected = hmac_sha1_signature(
            request.method or "GET", request.full_url(), body, CONSUMER["secret"], token_secret
        )
        return hmac.compare_digest(self.get_query_argument("oauth_signature", ""), expected)


class OAuth1RequestToken(ProviderHandler):
    def get(self) -> None:
        mode = self.provider.record(self, "request_token")
        if not self.signature_ok(""):
            return self.answer(401, "bad signature")
        if mode == "error":
            return self.answer(500, "provider is down")
        if mode == "no_token":
            return self.answer(200, "oauth_problem=consumer_key_rejected")
        key, secret = REQUEST_TOKEN
        self.finish(f"oauth_token={key}&oauth_token_secret={secret}&oauth_callback_confirmed=true")


class OAuth1AccessToken(ProviderHandler):
    def get(self) -> None:
        self.provider.record(self, "access_token")
        if self.get_query_argument("oauth_token") != REQUEST_TOKEN[0]:
            return self.answer(401, "unknown request token")
        if not self.signature_ok(REQUEST_TOKEN[1]):
            return self.answer(401, "bad signature")
        key, secret = ACCESS_TOKEN
        self.finish(f"oauth_token={key}&oauth_token_secret={secret}&screen_name=alice&user_id=42")


class TwitterAPI(ProviderHandler):
    def check(self, endpoint: str) -> str | None:
        mode = self.provider.record(self, endpoint)
        if self.get_query_argument("oauth_token", None) != ACCESS_TOKEN[0]:
            self.answer(401, "unknown access token")
            return None
        if not self.signature_ok(ACCESS_TOKEN[1]):
            self.answer(401, "bad signature")
            return None
        return mode

    def get(self, call: str) -> None:
        mode = self.check(call)
        if mode is None:
            return
        if call == "account/verify_credentials":
            user = {"name": "Alice"} if mode == "no_screen_name" else {"screen_name": "alice"}
            return self.answer(200, {**user, "id": 42})
        if call == "bad":
            return self.answer(200, "{not json")
        if call == "error":
            return self.answer(503, "over capacity")
        if call == "timeline":
            return self.answer(200, [{"text": "first"}, {"text": "second"}])
        self.answer(404, "no such call")

    def post(self, call: str) -> None:
        if self.check(call) is not None:
            self.finish(
                {
                    "status": self.get_body_argument("status"),
                    "trim": self.get_query_argument("trim_user"),
                }
            )


class OAuth2Authorize(ProviderHandler):
    def get(self) -> None:
        self.provider.record(self, "authorize")
        target = self.get_argument("redirect_uri")
        self.redirect(f"{target}?{urllib.parse.urlencode({'code': 'good-code'})}")


class GoogleToken(ProviderHandler):
    def post(self) -> None:
        mode = self.provider.record(self, "google_token")
        ok = (
            self.request.headers.get("Content-Type") == "application/x-www-form-urlencoded"
            and self.get_body_argument("grant_type") == "authorization_code"
            and self.get_body_argument("code") == "good-code"
            and self.get_body_argument("client_id") == GOOGLE["key"]
            and self.get_body_argument("client_secret") == GOOGLE["secret"]
        )
        if not ok or mode == "invalid_grant":
            return self.answer(
                400, {"error": "invalid_grant", "error_description": "Code was already redeemed."}
            )
        if mode == "no_token":
            return self.answer(200, {"token_type": "Bearer"})
        if mode == "html":
            return self.answer(200, "<html>maintenance</html>")
        self.finish({"access_token": "g-token", "expires_in": 3599, "token_type": "Bearer"})


class UserInfo(ProviderHandler):
    def get(self) -> None:
        self.provider.record(self, "userinfo")
        if self.get_argument("access_token", None) != "g-token":
            return self.answer(401, {"error": "invalid_token"})
        self.finish({"name": "Alice", "email": "alice@example.com"})

    def post(self) -> None:
        self.provider.record(self, "userinfo_post")
        self.finish({"posted": self.get_body_argument("message")})


class FacebookToken(ProviderHandler):
    def get(self) -> None:
        mode = self.provider.record(self, "fb_token")
        if self.get_argument("client_secret") != FB_SECRET or mode == "error":
            error = {"message": "Invalid verification code format.", "type": "OAuthException"}
            return self.answer(400, {"error": error})
        if mode == "list":
            return self.answer(200, ["access_token"])
        if mode == "no_expiry":
            return self.answer(200, {"access_token": "fb-token"})
        self.finish({"access_token": "fb-token", "token_type": "bearer", "expires_in": 5183944})


class FacebookMe(ProviderHandler):
    def get(self) -> None:
        self.provider.record(self, "fb_me")
        proof = hmac.new(FB_SECRET.encode(), b"fb-token", hashlib.sha256).hexdigest()
        if self.get_argument("appsecret_proof") != proof:
            return self.answer(400, {"error": {"message": "bad appsecret_proof"}})
        self.finish({"id": "7", "name": "Alice", "locale": "en_GB", "email": "a@example.com"})


class OpenIdEndpoint(ProviderHandler):
    def post(self) -> None:
        mode = self.provider.record(self, "openid")
        if self.get_argument("openid.mode") != "check_authentication" or mode == "invalid":
            return self.answer(200, "ns:http://specs.openid.net/auth/2.0\nis_valid:false\n")
        self.finish("ns:http://specs.openid.net/auth/2.0\nis_valid:true\n")


# ---------- the client handlers ------------------------------------------------------------


def report(handler: RequestHandler, exc: Exception) -> None:
    """Answer 502 with what went wrong, so tests can read the exception over the wire."""
    handler.set_status(502)
    handler.finish(
        {
            "error": type(exc).__name__,
            "message": str(exc),
            "code": getattr(exc, "code", None),
            "auth_error": isinstance(exc, AuthError),
            "http_client_error": isinstance(exc, HTTPClientError),
        }
    )


def base(handler: RequestHandler) -> str:
    return f"http://{handler.request.host}"


class OAuth1Login(RequestHandler, OAuthMixin):
    def initialize(self, version: str = "1.0a", unreachable: int | None = None) -> None:
        self._OAUTH_VERSION = version
        root = base(self) if unreachable is None else f"http://127.0.0.1:{unreachable}"
        self._OAUTH_REQUEST_TOKEN_URL = f"{root}/p1/request_token"
        self._OAUTH_ACCESS_TOKEN_URL = f"{base(self)}/p1/access_token"
        self._OAUTH_AUTHORIZE_URL = f"{base(self)}/p1/authorize"

    def _oauth_consumer_token(self) -> dict[str, str]:
        return CONSUMER

    async def _oauth_get_user_future(self, access_token: dict[str, Any]) -> dict[str, Any] | None:
        if self.settings["provider"].mode.get("get_user") == "none":
            return None
        return {"name": "Alice", "token_key": access_token["key"]}

    async def login(self) -> None:
        if self.get_argument("oauth_token", None):
            self.write({"user": await self.get_authenticated_user()})
        else:
            await self.authorize_redirect(callback_uri=self.get_argument("callback", None))

    async def get(self) -> None:
        try:
            await self.login()
        except Exception as exc:
            report(self, exc)


class OAuth1Uncaught(OAuth1Login):
    async def get(self) -> None:
        await self.login()


class OAuth1NoCallbacks(OAuth1Login):
    _OAUTH_NO_CALLBACKS = True


class TwitterClient(RequestHandler, TwitterMixin):
    def initialize(self) -> None:
        self._OAUTH_REQUEST_TOKEN_URL = f"{base(self)}/p1/request_token"
        self._OAUTH_ACCESS_TOKEN_URL = f"{base(self)}/p1/access_token"
        self._OAUTH_AUTHORIZE_URL = f"{base(self)}/p1/authorize"
        self._OAUTH_AUTHENTICATE_URL = f"{base(self)}/p1/authenticate"
        self._TWITTER_BASE_URL = f"{base(self)}/p1/api"

    async def get(self, action: str) -> None:
        token = {"key": ACCESS_TOKEN[0], "secret": ACCESS_TOKEN[1]}
        try:
            if action == "login" and self.get_argument("oauth_token", None):
                self.write({"user": await self.get_authenticated_user()})
            elif action == "login":
                await self.authorize_redirect()
            elif action == "authenticate":
                await self.authenticate_redirect()
            elif action == "update":
                status = "Hello Ladies + Gentlemen, a signed OAuth request!"
                answer = await self.twitter_request(
                    "/statuses/update", token, post_args={"status": status}, trim_user=1
                )
                self.write({"answer": answer})
            else:
                answer = await self.twitter_request(f"/{action}", access_token=token)
                self.write({"answer": answer})
        except Exception as exc:
            report(self, exc)


class GoogleLogin(RequestHandler, GoogleOAuth2Mixin):
    def initialize(self) -> None:
        self._OAUTH_AUTHORIZE_URL = f"{base(self)}/p2/authorize"
        self._OAUTH_ACCESS_TOKEN_URL = f"{base(self)}/p2/google_token"
        self.redirect_uri = f"{base(self)}/google/login"

    async def get(self) -> None:
        try:
            if code := self.get_argument("code", None):
                token = await self.get_authenticated_user(self.redirect_uri, code)
                user = await self.oauth2_request(
                    f"{base(self)}/p2/userinfo", access_token=token["access_token"]
                )
                self.write({"token": token, "user": user})
            else:
                self.authorize_redirect(
                    redirect_uri=self.redirect_uri,
                    client_id=self.get_google_oauth_settings()["key"],
                    scope=["profile", "email"],
                    extra_params={"prompt": "select_account"},
                )
        except Exception as exc:
            report(self, exc)


class OAuth2Client(RequestHandler, OAuth2Mixin):
    def initialize(self) -> None:
        self._OAUTH_AUTHORIZE_URL = f"{base(self)}/p2/authorize"

    async def get(self, action: str) -> None:
        try:
            if action == "authorize":
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    self.authorize_redirect(
                        redirect_uri="/back",
                        client_id="cid",
                        client_secret=self.get_argument("secret", None),
                        scope=self.get_argument("scope", "a b"),
                        response_type="token",
                    )
                self.settings["provider"].seen["warnings"] = {"count": str(len(caught))}
            elif action == "post":
                answer = await self.oauth2_request(
                    f"{base(self)}/p2/userinfo", access_token="g-token", post_args={"message": "hi"}
                )
                self.write({"answer": answer})
            else:
                answer = await self.oauth2_request(f"{base(self)}/p2/userinfo", access_token=action)
                self.write({"answer": answer})
        except Exception as exc:
            report(self, exc)


class FacebookLogin(RequestHandler, FacebookGraphMixin):
    def initialize(self) -> None:
        self._OAUTH_AUTHORIZE_URL = f"{base(self)}/p2/authorize"
        self._OAUTH_ACCESS_TOKEN_URL = f"{base(self)}/p2/fb_token"
        self._FACEBOOK_BASE_URL = f"{base(self)}/p2/fb"

    async def get(self) -> None:
        redirect_uri = f"{base(self)}/facebook/login"
        try:
            if code := self.get_argument("code", None):
                user = await self.get_authenticated_user(
                    redirect_uri=redirect_uri,
                    client_id=self.settings["facebook_api_key"],
                    client_secret=self.settings["facebook_secret"],
                    code=code,
                    extra_fields=["email"],
                )
                self.write({"user": user})
            else:
                self.authorize_redirect(
                    redirect_uri=redirect_uri,
                    client_id=self.settings["facebook_api_key"],
                    extra_params={"scope": "email"},
                )
        except Exception as exc:
            report(self, exc)


class OpenIdLogin(RequestHandler, OpenIdMixin):
    def initialize(self, endpoint: bool = True) -> None:
        if endpoint:
            self._OPENID_ENDPOINT = f"{base(self)}/p/openid"

    async def get(self) -> None:
        try:
            if self.get_argument("openid.mode", None):
                self.write({"user": await self.get_authenticated_user()})
            else:
                attrs = self.get_argument("attrs", "name,email,language,username").split(",")
                self.authenticate_redirect(callback_uri="/openid/back", ax_attrs=attrs)
        except Exception as exc:
            report(self, exc)


def closed_port() -> int:
    """A local port that nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ---------- the tests over sockets ---------------------------------------------------------


class AuthTestCase(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        self.provider = Provider()
        return Application(
            [
                ("/p1/request_token", OAuth1RequestToken),
                ("/p1/access_token", OAuth1AccessToken),
                (r"/p1/api/(.+)\.json", TwitterAPI),
                ("/p2/authorize", OAuth2Authorize),
                ("/p2/google_token", GoogleToken),
                ("/p2/userinfo", UserInfo),
                ("/p2/fb_token", FacebookToken),
                ("/p2/fb/me", FacebookMe),
                ("/p/openid", OpenIdEndpoint),
                ("/oauth1/login", OAuth1Login),
                ("/oauth10/login", OAuth1Login, {"version": "1.0"}),
                ("/oauth1/uncaught", OAuth1Uncaught),
                ("/oauth1/no_callbacks", OAuth1NoCallbacks),
                ("/oauth1/unreachable", OAuth1Login, {"unreachable": closed_port()}),
                (r"/twitter/(\w+)", TwitterClient),
                ("/google/login", GoogleLogin),
                (r"/oauth2/(\w+)", OAuth2Client),
                ("/facebook/login", FacebookLogin),
                ("/openid/login", OpenIdLogin),
                ("/openid/unset", OpenIdLogin, {"endpoint": False}),
            ],
            provider=self.provider,
            twitter_consumer_key=CONSUMER["key"],
            twitter_consumer_secret=CONSUMER["secret"],
            google_oauth=GOOGLE,
            facebook_api_key=FB_ID,
            facebook_secret=FB_SECRET,
        )

    def json(self, response: HTTPResponse) -> Any:
        return json.loads(response.body)

    def failure(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """Fetch ``path``, expect the handler's 502 report of an exception, return it."""
        response = self.fetch(path, **kwargs)
        self.assertEqual(response.code, 502, response.body)
        report: dict[str, Any] = self.json(response)
        return report

    def assert_still_serving(self) -> None:
        self.provider.mode.clear()
        response = self.fetch("/google/login")
        self.assertEqual(response.code, 200, response.body)
        self.assertEqual(self.json(response)["user"]["name"], "Alice")

    def assert_no_secrets(self, message: str) -> None:
        for secret in ("oauth_signature", "client_secret", FB_SECRET, GOOGLE["secret"], "cs&"):
            self.assertNotIn(secret, message)


def request_cookie(response: HTTPResponse) -> str:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return jar["_oauth_request_token"].value


def location_args(response: HTTPResponse) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(response.headers["Location"]).query))


class OAuth1Test(AuthTestCase):
    def start(self, path: str) -> HTTPResponse:
        response = self.fetch(path, follow_redirects=False)
        self.assertEqual(response.code, 302, response.body)
        return response

    def test_authorize_redirect_keeps_the_signed_request_token_in_a_cookie(self) -> None:
        response = self.start("/oauth1/login?callback=/oauth1/login")
        location = response.headers["Location"]
        self.assertTrue(location.startswith(self.get_url("/p1/authorize?")), location)
        self.assertEqual(
            location_args(response),
            {"oauth_token": "rtok", "oauth_callback": self.get_url("/oauth1/login")},
        )
        key, secret = (base64.b64encode(part.encode()).decode() for part in REQUEST_TOKEN)
        self.assertEqual(request_cookie(response), f"{key}|{secret}")
        seen = self.provider.seen["request_token"]
        # 1.0a: the callback travels with the request-token request, made absolute.
        self.assertEqual(seen["oauth_callback"], self.get_url("/oauth1/login"))
        self.assertEqual(seen["oauth_consumer_key"], "ck")
        self.assertEqual(seen["oauth_signature_method"], "HMAC-SHA1")
        self.assertEqual(seen["oauth_version"], "1.0")
        self.assertNotIn("oauth_token", seen)

    def test_oauth10_sends_the_callback_with_the_authorization_only(self) -> None:
        response = self.start("/oauth10/login?callback=/back")
        self.assertNotIn("oauth_callback", self.provider.seen["request_token"])
        self.assertEqual(location_args(response)["oauth_callback"], self.get_url("/back"))

    def test_out_of_band_callback_answers_with_the_authorization_url(self) -> None:
        response = self.fetch("/oauth1/login?callback=oob")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.body.decode(), self.get_url("/p1/authorize?oauth_token=rtok"))
        self.assertEqual(self.provider.seen["request_token"]["oauth_callback"], "oob")

    def test_callback_is_refused_where_the_provider_takes_none(self) -> None:
        report = self.failure("/oauth1/no_callbacks?callback=/back")
        self.assertEqual(report["error"], "ValueError")
        self.assertIn("register the callback URL with the provider", report["message"])
        self.assertNotIn("request_token", self.provider.seen)

    def test_callback_exchanges_the_token_with_its_verifier_and_returns_the_user(self) -> None:
        cookie = request_cookie(self.start("/oauth1/login"))
        response = self.fetch(
            "/oauth1/login?oauth_token=rtok&oauth_verifier=v3r",
            headers={"Cookie": f"_oauth_request_token={cookie}"},
        )
        self.assertEqual(response.code, 200, response.body)
        user = self.json(response)["user"]
        self.assertEqual(user["name"], "Alice")
        self.assertEqual(user["token_key"], "atok")
        self.assertEqual(
            user["access_token"],
            {"key": "atok", "secret": "asecret", "screen_name": "alice", "user_id": "42"},
        )
        self.assertEqual(self.provider.seen["access_token"]["oauth_verifier"], "v3r")
        # The cookie has done its work: the callback's response deletes it.
        cleared = [c for c in response.headers.get_list("Set-Cookie") if "_oauth_request" in c]
        self.assertEqual(len(cleared), 1)
        expires = re.search(r"expires=([^;]+)", cleared[0])
        assert expires is not None, cleared[0]
        self.assertLess(email.utils.parsedate_to_datetime(expires[1]).timestamp(), time.time())

    def test_callback_without_the_cookie_is_an_auth_error(self) -> None:
        report = self.failure("/oauth1/login?oauth_token=rtok")
        self.assertEqual(report["error"], "AuthError")
        self.assertIn("Missing OAuth request token cookie", report["message"])
        self.assertNotIn("access_token", self.provider.seen)

    def test_callback_for_another_token_is_an_auth_error(self) -> None:
        cookie = request_cookie(self.start("/oauth1/login"))
        report = self.failure(
            "/oauth1/login?oauth_token=forged", headers={"Cookie": f"_oauth_request_token={cookie}"}
        )
        self.assertIn("Request token does not match cookie", report["message"])
        self.assertNotIn("access_token", self.provider.seen)

    def test_malformed_cookie_is_an_auth_error(self) -> None:
        for cookie in ("cnRvaw==", "cnRvaw==|!!!", "cnRvaw==|a|b", "/w==|cnRvaw=="):
            with self.subTest(cookie=cookie):
                report = self.failure(
                    "/oauth1/login?oauth_token=rtok",
                    headers={"Cookie": f"_oauth_request_token={cookie}"},
                )
                self.assertEqual(report["error"], "AuthError")
                self.assertIn("Malformed OAuth request token cookie", report["message"])

    def test_provider_error_is_an_auth_error_and_an_http_client_error(self) -> None:
        self.provider.mode["request_token"] = "error"
        report = self.failure("/oauth1/login")
        self.assertEqual(report["error"], "AuthProviderError")
        self.assertTrue(report["auth_error"] and report["http_client_error"])
        self.assertEqual(report["code"], 500)
        self.assertEqual(
            report["message"],
            f"OAuth request token failed: GET {self.get_url('/p1/request_token')} answered "
            "HTTP 500 Internal Server Error",
        )
        self.assert_no_secrets(report["message"])
        self.assert_still_serving()

    def test_uncaught_provider_error_is_a_500_for_that_request_only(self) -> None:
        self.provider.mode["request_token"] = "error"
        with ExpectLog("squall.application", "Uncaught exception GET /oauth1/uncaught"):
            response = self.fetch("/oauth1/uncaught", follow_redirects=False)
        self.assertEqual(response.code, 500)
        self.provider.mode.clear()
        self.assertEqual(self.fetch("/oauth1/uncaught", follow_redirects=False).code, 302)

    def test_token_answer_without_a_token_is_an_auth_error(self) -> None:
        self.provider.mode["request_token"] = "no_token"
        report = self.failure("/oauth1/login")
        self.assertEqual(report["error"], "AuthError")
        self.assertIn("answered without oauth_token and oauth_token_secret", report["message"])
        self.assertIn("consumer_key_rejected", report["message"])
        self.assert_no_secrets(report["message"])
        self.assert_still_serving()

    def test_unreachable_provider_is_code_599(self) -> None:
        report = self.failure("/oauth1/unreachable")
        self.assertEqual(report["error"], "AuthProviderError")
        self.assertEqual(report["code"], 599)
        self.assertIn(
            "OAuth request token failed: could not reach http://127.0.0.1:", report["message"]
        )
        self.assert_no_secrets(report["message"])

    def test_no_user_from_the_hook_is_an_auth_error(self) -> None:
        self.provider.mode["get_user"] = "none"
        cookie = request_cookie(self.start("/oauth1/login"))
        report = self.failure(
            "/oauth1/login?oauth_token=rtok", headers={"Cookie": f"_oauth_request_token={cookie}"}
        )
        self.assertIn("Error getting user", report["message"])
        self.assertIn("_oauth_get_user_future returned None", report["message"])


class TwitterTest(AuthTestCase):
    def test_login_returns_the_verified_user_with_username_and_token(self) -> None:
        response = self.fetch("/twitter/login", follow_redirects=False)
        self.assertEqual(response.code, 302)
        self.assertEqual(location_args(response), {"oauth_token": "rtok"})
        cookie = request_cookie(response)
        response = self.fetch(
            "/twitter/login?oauth_token=rtok", headers={"Cookie": f"_oauth_request_token={cookie}"}
        )
        self.assertEqual(response.code, 200, response.body)
        user = self.json(response)["user"]
        self.assertEqual(user["username"], "alice")
        self.assertEqual(user["access_token"]["key"], "atok")
        # verify_credentials was called signed with the new access token (the mock checks).
        self.assertEqual(self.provider.seen["account/verify_credentials"]["oauth_token"], "atok")

    def test_authenticate_redirect_goes_to_the_authenticate_page(self) -> None:
        response = self.fetch("/twitter/authenticate", follow_redirects=False)
        self.assertEqual(response.code, 302)
        self.assertEqual(
            response.headers["Location"], self.get_url("/p1/authenticate?oauth_token=rtok")
        )

    def test_signed_post_carries_body_and_query_arguments(self) -> None:
        response = self.fetch("/twitter/update")
        self.assertEqual(response.code, 200, response.body)
        self.assertEqual(
            self.json(response)["answer"],
            {"status": "Hello Ladies + Gentlemen, a signed OAuth request!", "trim": "1"},
        )

    def test_json_arrays_come_back_as_lists(self) -> None:
        response = self.fetch("/twitter/timeline")
        self.assertEqual(self.json(response)["answer"], [{"text": "first"}, {"text": "second"}])

    def test_invalid_json_is_an_auth_error(self) -> None:
        report = self.failure("/twitter/bad")
        self.assertEqual(report["error"], "AuthError")
        self.assertIn(
            f"Twitter request: {self.get_url('/p1/api/bad.json')} answered invalid JSON",
            report["message"],
        )
        self.assertIn("{not json", report["message"])
        self.assert_no_secrets(report["message"])
        self.assert_still_serving()

    def test_api_error_is_catchable_as_http_client_error(self) -> None:
        report = self.failure("/twitter/error")
        self.assertTrue(report["http_client_error"])
        self.assertEqual(report["code"], 503)
        self.assertIn("Twitter request failed: GET", report["message"])
        self.assert_no_secrets(report["message"])

    def test_user_without_screen_name_is_an_auth_error(self) -> None:
        self.provider.mode["account/verify_credentials"] = "no_screen_name"
        cookie = request_cookie(self.fetch("/twitter/login", follow_redirects=False))
        report = self.failure(
            "/twitter/login?oauth_token=rtok", headers={"Cookie": f"_oauth_request_token={cookie}"}
        )
        self.assertIn("without a screen_name", report["message"])

    def test_missing_consumer_settings_are_named(self) -> None:
        del self._app.settings["twitter_consumer_secret"]
        report = self.failure("/twitter/login")
        self.assertEqual(report["error"], "RuntimeError")
        self.assertIn("'twitter_consumer_secret' setting", report["message"])


class GoogleTest(AuthTestCase):
    def test_login_follows_the_redirects_and_returns_token_and_user(self) -> None:
        response = self.fetch("/google/login")
        self.assertEqual(response.code, 200, response.body)
        body = self.json(response)
        self.assertEqual(body["user"], {"name": "Alice", "email": "alice@example.com"})
        self.assertEqual(body["token"]["access_token"], "g-token")
        authorize = self.provider.seen["authorize"]
        self.assertEqual(authorize["client_id"], "g-client")
        self.assertEqual(authorize["scope"], "profile email")
        self.assertEqual(authorize["prompt"], "select_account")
        self.assertEqual(authorize["response_type"], "code")
        self.assertNotIn("client_secret", authorize)
        self.assertEqual(
            self.provider.seen["google_token"]["redirect_uri"], self.get_url("/google/login")
        )

    def test_rejected_code_carries_the_providers_error(self) -> None:
        self.provider.mode["google_token"] = "invalid_grant"
        report = self.failure("/google/login?code=good-code")
        self.assertEqual(report["code"], 400)
        self.assertEqual(
            report["message"],
            f"Google OAuth2 token failed: POST {self.get_url('/p2/google_token')} answered HTTP "
            "400 Bad Request (invalid_grant: Code was already redeemed.)",
        )
        self.assert_still_serving()

    def test_token_answer_without_access_token_is_an_auth_error(self) -> None:
        self.provider.mode["google_token"] = "no_token"
        report = self.failure("/google/login?code=good-code")
        self.assertEqual(report["error"], "AuthError")
        self.assertIn("answered without access_token", report["message"])

    def test_html_instead_of_json_is_an_auth_error(self) -> None:
        self.provider.mode["google_token"] = "html"
        report = self.failure("/google/login?code=good-code")
        self.assertIn("answered invalid JSON", report["message"])
        self.assertIn("maintenance", report["message"])

    def test_missing_settings_are_named(self) -> None:
        del self._app.settings["google_oauth"]
        report = self.failure("/google/login?code=good-code")
        self.assertEqual(report["error"], "RuntimeError")
        self.assertIn("'google_oauth' setting", report["message"])


class OAuth2Test(AuthTestCase):
    def test_authorize_redirect_puts_every_argument_in_the_url(self) -> None:
        response = self.fetch("/oauth2/authorize", follow_redirects=False)
        self.assertEqual(response.code, 302)
        self.assertEqual(
            location_args(response),
            {"response_type": "token", "redirect_uri": "/back", "client_id": "cid", "scope": "a b"},
        )
        self.assertEqual(self.provider.seen["warnings"], {"count": "0"})

    def test_client_secret_never_reaches_the_browser_and_warns(self) -> None:
        response = self.fetch("/oauth2/authorize?secret=s3cr3t", follow_redirects=False)
        self.assertNotIn("s3cr3t", response.headers["Location"])
        self.assertEqual(self.provider.seen["warnings"], {"count": "1"})

    def test_post_args_make_a_form_post(self) -> None:
        response = self.fetch("/oauth2/post")
        self.assertEqual(self.json(response)["answer"], {"posted": "hi"})
        self.assertEqual(self.provider.seen["userinfo_post"]["access_token"], "g-token")

    def test_http_error_names_the_oauth2_error(self) -> None:
        report = self.failure("/oauth2/wrongtoken")
        self.assertEqual(report["code"], 401)
        self.assertIn("answered HTTP 401 Unauthorized (invalid_token)", report["message"])
        self.assertNotIn("wrongtoken", report["message"])


class FacebookTest(AuthTestCase):
    def test_login_returns_the_profile_with_token_and_expiry(self) -> None:
        response = self.fetch("/facebook/login", follow_redirects=False)
        self.assertEqual(location_args(response)["client_id"], FB_ID)
        response = self.fetch("/facebook/login?code=c0de")
        self.assertEqual(response.code, 200, response.body)
        user = self.json(response)["user"]
        self.assertEqual(user["name"], "Alice")
        self.assertEqual(user["email"], "a@example.com")
        self.assertIsNone(user["link"])
        self.assertEqual(user["access_token"], "fb-token")
        self.assertEqual(user["session_expires"], "5183944")
        fields = self.provider.seen["fb_me"]["fields"].split(",")
        self.assertEqual(
            set(fields),
            {"id", "name", "first_name", "last_name", "locale", "picture", "link", "email"},
        )
        self.assertEqual(self.provider.seen["fb_token"]["code"], "c0de")

    def test_token_without_expiry_gives_none(self) -> None:
        self.provider.mode["fb_token"] = "no_expiry"
        user = self.json(self.fetch("/facebook/login?code=c0de"))["user"]
        self.assertIsNone(user["session_expires"])

    def test_graph_error_names_facebooks_message_without_the_secret(self) -> None:
        self.provider.mode["fb_token"] = "error"
        report = self.failure("/facebook/login?code=c0de")
        self.assertEqual(report["code"], 400)
        self.assertIn("(OAuthException: Invalid verification code format.)", report["message"])
        self.assert_no_secrets(report["message"])
        self.assert_still_serving()

    def test_token_answer_that_is_not_an_object_is_an_auth_error(self) -> None:
        self.provider.mode["fb_token"] = "list"
        report = self.failure("/facebook/login?code=c0de")
        self.assertEqual(report["error"], "AuthError")
        self.assertIn("answered JSON list, not an object", report["message"])


class OpenIdTest(AuthTestCase):
    CALLBACK = (
        "/openid/login?openid.mode=id_res&openid.claimed_id=https://id.example/alice"
        f"&openid.ns.ext1={AX_NS}"
        "&openid.ext1.type.first=http://axschema.org/namePerson/first&openid.ext1.value.first=Alice"
        "&openid.ext1.type.last=http://axschema.org/namePerson/last"
        "&openid.ext1.value.last=Liddell"
        "&openid.ext1.type.mail=http://axschema.org/contact/email"
        "&openid.ext1.count.mail=1&openid.ext1.value.mail.1=alice@example.com"
        "&openid.ext1.type.lang=http://axschema.org/pref/language&openid.ext1.value.lang=en-US"
        "&openid.ext1.type.nick=http://axschema.org/namePerson/friendly"
        "&openid.ext1.value.nick=alice"
    )

    def test_redirect_asks_for_the_attributes(self) -> None:
        response = self.fetch("/openid/login", follow_redirects=False)
        self.assertEqual(response.code, 302)
        args = location_args(response)
        self.assertEqual(args["openid.mode"], "checkid_setup")
        self.assertEqual(args["openid.return_to"], self.get_url("/openid/back"))
        self.assertEqual(args["openid.realm"], self.get_url("/"))
        self.assertEqual(args["openid.ns.ax"], AX_NS)
        self.assertEqual(
            args["openid.ax.required"], "firstname,fullname,lastname,email,language,username"
        )
        self.assertEqual(args["openid.ax.type.email"], "http://axschema.org/contact/email")

    def test_unknown_attribute_is_refused(self) -> None:
        report = self.failure("/openid/login?attrs=email,shoe_size")
        self.assertEqual(report["error"], "ValueError")
        self.assertIn("'shoe_size'", report["message"])

    def test_verified_callback_gives_the_user(self) -> None:
        response = self.fetch(self.CALLBACK)
        self.assertEqual(response.code, 200, response.body)
        self.assertEqual(
            self.json(response)["user"],
            {
                "first_name": "Alice",
                "last_name": "Liddell",
                "name": "Alice Liddell",
                "email": "alice@example.com",
                "locale": "en-us",
                "username": "alice",
                "claimed_id": "https://id.example/alice",
            },
        )
        seen = self.provider.seen["openid"]
        self.assertEqual(seen["openid.mode"], "check_authentication")
        self.assertEqual(seen["openid.ext1.value.nick"], "alice")

    def test_unconfirmed_assertion_is_an_auth_error(self) -> None:
        self.provider.mode["openid"] = "invalid"
        report = self.failure(self.CALLBACK)
        self.assertEqual(report["error"], "AuthError")
        self.assertIn("did not confirm the login (is_valid:false)", report["message"])
        self.assert_still_serving()

    def test_unset_endpoint_is_named(self) -> None:
        report = self.failure("/openid/unset")
        self.assertEqual(report["error"], "RuntimeError")
        self.assertIn("OpenIdLogin._OPENID_ENDPOINT is not set", report["message"])


class QuietClientTest(AuthTestCase):
    def test_provider_requests_leave_no_httpx_log_records(self) -> None:
        # Tornado's client logs nothing per request; squall's must not either (httpx logs each
        # request at INFO), while httpx used directly keeps its own logging.
        records: list[logging.LogRecord] = []
        collect = logging.Handler(logging.INFO)
        collect.emit = records.append  # type: ignore[method-assign]  # a list is the handler
        logger = logging.getLogger("httpx")
        saved_level = logger.level
        logger.addHandler(collect)
        logger.setLevel(logging.INFO)
        try:
            self.assert_still_serving()  # the test's fetch and the handler's two to the provider
            self.assertEqual([r.getMessage() for r in records], [])

            async def direct() -> None:
                async with httpx.AsyncClient() as client:
                    await client.get(self.get_url("/p2/userinfo"))

            self.io_loop.run_sync(direct)
            self.assertTrue(any("HTTP Request" in r.getMessage() for r in records), records)
        finally:
            logger.removeHandler(collect)
            logger.setLevel(saved_level)


# ---------- misuse without a server --------------------------------------------------------


class NotAHandler(OAuth2Mixin):
    pass


def test_mixin_outside_a_request_handler_says_how_to_declare_it() -> None:
    with pytest.raises(TypeError, match=r"class NotAHandler\(RequestHandler, <the mixin>\)"):
        NotAHandler().authorize_redirect(redirect_uri="/x", client_id="c")


def test_consumer_token_of_the_wrong_shape_is_named_without_its_values() -> None:
    class Bad(OAuthMixin):
        def _oauth_consumer_token(self) -> dict[str, str]:
            return {"key": "k", "secrett": "hunter2"}

    with pytest.raises(TypeError, match="with 'key' and 'secret'") as info:
        Bad()._oauth_request_parameters("http://h/p", {"key": "t", "secret": "s"})
    assert "hunter2" not in str(info.value)


def test_request_parameters_are_signed_with_both_secrets() -> None:
    class Client(OAuthMixin):
        def _oauth_consumer_token(self) -> dict[str, str]:
            return CONSUMER

    token = {"key": "atok", "secret": "asecret"}
    params = Client()._oauth_request_parameters(
        "http://h/p?x=1", token, parameters={"count": 5}, method="post"
    )
    assert set(params) == {
        "oauth_consumer_key", "oauth_token", "oauth_signature_method", "oauth_timestamp",
        "oauth_nonce", "oauth_version", "oauth_signature",
    }  # fmt: skip
    signed = {**{k: v for k, v in params.items() if k != "oauth_signature"}, "count": "5"}
    assert params["oauth_signature"] == hmac_sha1_signature(
        "POST", "http://h/p?x=1", signed, "cs", "asecret"
    )


def test_public_names_have_docstrings() -> None:
    for name in auth.__all__:
        obj = getattr(auth, name)
        assert obj.__doc__, name
        for attr, member in vars(obj).items():
            if callable(member) and not attr.startswith("_"):
                assert member.__doc__, f"{name}.{attr}"


def test_provider_error_reads_as_a_sentence_and_keeps_the_client_error() -> None:
    cause = HTTPClientError(502, "Bad Gateway")
    error = AuthProviderError("Twitter request failed: GET https://x/y answered HTTP 502", cause)
    assert str(error) == "Twitter request failed: GET https://x/y answered HTTP 502"
    assert repr(error) == f"AuthProviderError({str(error)!r})"
    assert (error.code, error.message, error.response) == (502, "Bad Gateway", None)
    assert isinstance(error, AuthError) and isinstance(error, HTTPClientError)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.code, copy.message) == (
        AuthProviderError, str(error), 502, "Bad Gateway",
    )  # fmt: skip

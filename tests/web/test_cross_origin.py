"""Cross-origin protection (the ``cross_origin_protection`` setting, Tornado 6.6) over real
sockets: ``Sec-Fetch-Site`` first, ``Origin`` against ``Host`` when a browser does not send
it, ``trusted_origins`` and ``check_trusted_origin``, the order of the checks (after the
XSRF token, before ``prepare``), and the error pages that skip it."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall._web.xsrf import cross_origin_refusal
from squall.httputil import HTTPHeaders, HTTPServerRequest
from squall.testing import AsyncHTTPTestCase, ExpectLog
from squall.web import Application, ErrorHandler, RequestHandler

TRUSTED = "https://trusted.example.com"


class EchoHandler(RequestHandler):
    """Every verb answers its own name (so a 403 can only come from the check)."""

    prepared: ClassVar[list[str]] = []

    def prepare(self) -> None:
        EchoHandler.prepared.append(self.request.method or "")

    def answer(self) -> None:
        self.write(self.request.method or "")

    get = head = options = post = put = delete = patch = answer


class SubdomainHandler(RequestHandler):
    """Trusts every subdomain of example.com through its own check_trusted_origin."""

    seen: ClassVar[list[str]] = []

    def check_trusted_origin(self, origin: str) -> bool:
        SubdomainHandler.seen.append(origin)
        return origin.endswith(".example.com")

    def post(self) -> None:
        self.write("ok")


class CrossOriginTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application(
            [
                ("/", EchoHandler),
                ("/sub", SubdomainHandler),
                ("/error", ErrorHandler, {"status_code": 417}),
            ],
            cross_origin_protection=True,
            trusted_origins=[TRUSTED],
        )

    def setUp(self) -> None:
        super().setUp()
        EchoHandler.prepared.clear()
        SubdomainHandler.seen.clear()

    def post(self, path: str = "/", **headers: str) -> int:
        names = {k: k.replace("_", "-") for k in headers}
        sent = {names[k]: v for k, v in headers.items()}
        return self.fetch(path, method="POST", body="x=1", headers=sent).code

    def refused(self, pattern: str, path: str = "/", **headers: str) -> None:
        with ExpectLog("squall.general", ".*" + pattern):
            assert self.post(path, **headers) == 403

    def test_same_origin_and_direct_navigation_pass(self) -> None:
        assert self.post(Sec_Fetch_Site="same-origin") == 200
        assert self.post(Sec_Fetch_Site="none") == 200

    def test_a_request_without_either_header_is_not_a_browser_and_passes(self) -> None:
        assert self.post() == 200

    def test_cross_site_and_same_site_are_refused_even_with_a_matching_origin(self) -> None:
        self.refused(
            r"403 POST / .*Sec-Fetch-Site cross-site .* not allowed", Sec_Fetch_Site="cross-site"
        )
        self.refused(
            r"Sec-Fetch-Site same-site .*'https://other.example.com' not allowed",
            Sec_Fetch_Site="same-site",
            Origin="https://other.example.com",
        )
        # Sec-Fetch-Site decides: the Origin naming this very host is not enough.
        self.refused(
            r"Sec-Fetch-Site cross-site",
            Sec_Fetch_Site="cross-site",
            Origin=self.get_url("").rstrip("/"),
        )
        assert EchoHandler.prepared == []  # refused before prepare

    def test_a_trusted_origin_passes_cross_site(self) -> None:
        assert self.post(Sec_Fetch_Site="cross-site", Origin=TRUSTED) == 200

    def test_without_sec_fetch_site_the_origin_must_be_this_host_or_trusted(self) -> None:
        assert self.post(Origin=self.get_url("")) == 200
        assert self.post(Origin=self.get_url("/with/a/path")) == 200
        assert self.post(Origin=self.get_url("").upper().replace("HTTP://", "http://")) == 200
        assert self.post(Origin=TRUSTED) == 200
        self.refused(
            r"Origin 'https://evil.example.com' not allowed", Origin="https://evil.example.com"
        )
        self.refused(r"Origin 'null' not allowed", Origin="null")
        self.refused(r"Origin 'http://\[' not allowed", Origin="http://[")
        # Trusted origins are compared exactly.
        self.refused(r"Origin .* not allowed", Origin=TRUSTED + "/")
        self.refused(r"Origin .* not allowed", Origin=TRUSTED.replace("https", "http"))
        # Only Origin counts: a Referer from this host changes nothing.
        self.refused(
            r"Origin .* not allowed", Origin="https://evil.example.com", Referer=self.get_url("/")
        )

    def test_safe_methods_are_never_checked(self) -> None:
        for method in ("GET", "HEAD", "OPTIONS"):
            response = self.fetch(
                "/",
                method=method,
                headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil"},
            )
            assert response.code == 200, method

    def test_every_other_method_is_checked(self) -> None:
        for method in ("PUT", "DELETE", "PATCH"):
            with ExpectLog("squall.general", f"403 {method} / .*not allowed"):
                response = self.fetch(
                    "/",
                    method=method,
                    body=None if method == "DELETE" else "",
                    headers={"Sec-Fetch-Site": "cross-site"},
                )
            assert response.code == 403, method

    def test_check_trusted_origin_override_decides_and_is_asked_only_when_cross_origin(
        self,
    ) -> None:
        assert (
            self.post("/sub", Sec_Fetch_Site="same-site", Origin="https://app.example.com") == 200
        )
        assert self.post("/sub", Origin="https://app.example.com") == 200
        self.refused("not allowed", "/sub", Sec_Fetch_Site="cross-site", Origin="https://evil.com")
        self.refused("not allowed", "/sub", Origin="https://evil.com")
        asked = list(SubdomainHandler.seen)
        assert self.post("/sub", Sec_Fetch_Site="same-origin") == 200
        assert self.post("/sub", Origin=self.get_url("")) == 200
        assert SubdomainHandler.seen == asked  # not consulted for same-origin requests

    def test_error_pages_and_unknown_urls_keep_their_status(self) -> None:
        assert self.post("/error", Sec_Fetch_Site="cross-site", Origin="https://evil.com") == 417
        assert self.post("/missing", Sec_Fetch_Site="cross-site", Origin="https://evil.com") == 404


class CrossOriginWithXSRFTest(AsyncHTTPTestCase):
    """Both checks on: the XSRF token is checked first, then the origin."""

    class Handler(RequestHandler):
        def get(self) -> None:
            self.write(self.xsrf_token)

        def post(self) -> None:
            self.write("ok")

    def get_app(self) -> Application:
        return Application([("/", self.Handler)], cross_origin_protection=True, xsrf_cookies=True)

    def post(self, token: bool, **headers: str) -> int:
        sent = {k.replace("_", "-"): v for k, v in headers.items()}
        if token:
            value = self.fetch("/").body.decode()
            sent["Cookie"] = "_xsrf=" + value
            sent["X-Xsrftoken"] = value
        return self.fetch("/", method="POST", body="", headers=sent).code

    def test_both_must_pass(self) -> None:
        assert self.post(True, Sec_Fetch_Site="same-origin") == 200
        with ExpectLog("squall.general", ".*'_xsrf' argument missing"):
            assert self.post(False, Sec_Fetch_Site="same-origin") == 403
        with ExpectLog("squall.general", ".*Sec-Fetch-Site cross-site .* not allowed"):
            assert self.post(True, Sec_Fetch_Site="cross-site", Origin="https://evil.com") == 403


class DisabledByDefaultTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application([("/", EchoHandler)])

    def test_no_setting_no_check(self) -> None:
        response = self.fetch(
            "/",
            method="POST",
            body="",
            headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.com"},
        )
        assert response.code == 200


def _request(headers: dict[str, str]) -> HTTPServerRequest:
    return HTTPServerRequest("POST", "/", headers=HTTPHeaders(headers))


_HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    fetch_site=st.one_of(
        st.none(), st.sampled_from(["same-origin", "none", "same-site", "cross-site"]), _HEADER_TEXT
    ),
    origin=st.one_of(st.none(), _HEADER_TEXT),
    host=_HEADER_TEXT,
)
def test_the_decision_never_raises_and_trusts_only_what_it_should(
    fetch_site: str | None, origin: str | None, host: str
) -> None:
    headers: dict[str, Any] = {"Host": host}
    if fetch_site is not None:
        headers["Sec-Fetch-Site"] = fetch_site
    if origin is not None:
        headers["Origin"] = origin
    asked: list[str] = []

    def never(o: str) -> bool:
        asked.append(o)
        return False

    refusal = cross_origin_refusal(_request(headers), never)
    if fetch_site in ("same-origin", "none") or (fetch_site is None and origin is None):
        assert refusal is None
        assert asked == []
    elif fetch_site is not None:
        assert refusal is not None and "not allowed" in refusal
    # Whatever the headers, trusting every origin lets every request through.
    assert cross_origin_refusal(_request(headers), lambda o: True) is None or (
        fetch_site is not None and not origin
    )


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://example.com", "example.com", True),
        ("http://EXAMPLE.com:8080", "example.com:8080", True),
        ("http://example.com", "example.com:8080", False),
        ("http://example.com.evil", "example.com", False),
        ("null", "example.com", False),
    ],
)
def test_origin_against_host(origin: str, host: str, allowed: bool) -> None:
    refusal = cross_origin_refusal(_request({"Origin": origin, "Host": host}), lambda o: False)
    assert (refusal is None) is allowed

"""Tests for squall.httpclient / squall.simple_httpclient over real sockets.

Three kinds of server: a squall ``Application`` (what the client normally talks to), a
:class:`~tests.helpers.scripted.ScriptedServer` whose connections run a script the test writes
(for counting connections and for answers no real server would give: malformed, truncated,
oversized, never finished), and a TLS server with a trustme certificate.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import errno
import gzip
import hashlib
import logging
import pickle
import socket
import ssl
import threading
import unicodedata
import urllib.request
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import trustme

from squall import testing
from squall._client import exchange as client_exchange
from squall.httpclient import (
    AsyncHTTPClient,
    HTTPClient,
    HTTPClientError,
    HTTPError,
    HTTPRequest,
    HTTPResponse,
    _RequestProxy,
)
from squall.httpserver import HTTPServer
from squall.httputil import HTTPHeaders
from squall.ioloop import IOLoop
from squall.iostream import IOStream, UnsatisfiableReadError
from squall.log import app_log, gen_log
from squall.netutil import Resolver
from squall.simple_httpclient import (
    HTTPStreamClosedError,
    HTTPTimeoutError,
    SimpleAsyncHTTPClient,
)
from squall.testing import ExpectLog, gen_test
from squall.web import Application, RequestHandler
from tests.helpers.scripted import ScriptedServer

# ---- handlers ----------------------------------------------------------------------------------


class HelloHandler(RequestHandler):
    def get(self) -> None:
        self.set_header("X-Test", "yes")
        self.write("Hello")


class EchoHandler(RequestHandler):
    def post(self) -> None:
        self.set_header("X-Content-Type", self.request.headers.get("Content-Type", "-"))
        self.write(self.request.body)

    def put(self) -> None:
        self.write(self.request.body)

    def patch(self) -> None:
        self.write(self.request.body)

    def delete(self) -> None:
        self.write(f"deleted {len(self.request.body)}")


class MethodHandler(RequestHandler):
    def _answer(self) -> None:
        self.write(f"{self.request.method} {len(self.request.body)}")

    get = post = put = delete = options = patch = _answer

    def head(self) -> None:
        self.set_header("X-Method", "HEAD")


class HeaderEchoHandler(RequestHandler):
    def get(self, name: str) -> None:
        self.write(self.request.headers.get(name, "<none>"))


class RedirectHandler(RequestHandler):
    def _go(self) -> None:
        self.redirect(self.get_argument("to"), status=int(self.get_argument("status", "302")))

    get = post = put = delete = _go


class CountdownHandler(RequestHandler):
    def get(self, hops: str) -> None:
        left = int(hops)
        if left:
            self.redirect(f"/countdown/{left - 1}")
        else:
            self.write("zero")


class SlowHandler(RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(float(self.get_argument("seconds", "2")))
        self.write("late")


class BigHandler(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.write("squall " * 2000)


class StreamHandler(RequestHandler):
    async def get(self) -> None:
        for part in ("one", "two", "three"):
            self.write(part)
            await self.flush()


class DigestHandler(RequestHandler):
    """Answers 401 with a Digest challenge unless the Authorization field answers it (the
    check uses urllib's parser and hashlib, independently of the client's code)."""

    realm, nonce, opaque = "test@squall", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "5ccc069c4"

    def get(self) -> None:
        header = self.request.headers.get("Authorization", "")
        if header.startswith("Digest "):
            fields = urllib.request.parse_keqv_list(urllib.request.parse_http_list(header[7:]))
            md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
            secret = md5(f"Mufasa:{self.realm}:Circle of Life")
            uri = md5(f"GET:{fields['uri']}")
            expected = md5(
                f"{secret}:{fields['nonce']}:{fields['nc']}:{fields['cnonce']}:auth:{uri}"
            )
            if fields.get("response") == expected and fields.get("opaque") == self.opaque:
                self.write(f"welcome {fields['username']}")
                return
        self.set_status(401)
        self.set_header(
            "WWW-Authenticate",
            f'Digest realm="{self.realm}", qop="auth,auth-int", nonce="{self.nonce}", '
            f'opaque="{self.opaque}"',
        )


def make_app() -> Application:
    return Application(
        [
            ("/", HelloHandler),
            ("/echo", EchoHandler),
            ("/method", MethodHandler),
            ("/header/(.*)", HeaderEchoHandler),
            ("/redirect", RedirectHandler),
            ("/countdown/([0-9]+)", CountdownHandler),
            ("/slow", SlowHandler),
            ("/big", BigHandler),
            ("/stream", StreamHandler),
            ("/digest", DigestHandler),
        ],
        compress_response=True,
    )


def closed_port() -> int:
    sock, port = testing.bind_unused_port()
    sock.close()
    return port


# ---- value classes -----------------------------------------------------------------------------


def test_http_request_converts_headers_and_body() -> None:
    request = HTTPRequest("http://x/", method="POST", headers={"A": "1", "B": b"\xe9"}, body="hé")
    assert isinstance(request.headers, HTTPHeaders)
    assert request.headers["A"] == "1" and request.headers["B"] == "\xe9"
    assert request.body == "hé".encode()
    request.headers = None  # type: ignore[assignment]
    assert request.headers == {}
    given = HTTPHeaders({"X": "1"})
    request.headers = given
    assert request.headers is given  # kept: the client sends a copy, never changes it


def test_http_request_formats_if_modified_since_and_maps_use_gzip() -> None:
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    request = HTTPRequest("http://x/", if_modified_since=when, use_gzip=False)
    assert request.headers["If-Modified-Since"] == "Tue, 02 Jan 2024 03:04:05 GMT"
    assert request.decompress_response is False
    assert HTTPRequest("http://x/", use_gzip=False, decompress_response=True).decompress_response


def test_request_proxy_reads_the_request_then_the_defaults() -> None:
    proxy = _RequestProxy(HTTPRequest("http://x/", user_agent="mine"), {"user_agent": "theirs"})
    assert proxy.user_agent == "mine"
    proxy = _RequestProxy(HTTPRequest("http://x/"), {"network_interface": "127.0.0.1"})
    assert proxy.network_interface == "127.0.0.1" and proxy.auth_username is None
    assert _RequestProxy(HTTPRequest("http://x/"), None).auth_username is None
    with pytest.raises(AttributeError):
        _ = proxy.no_such_option


def test_http_response_sets_error_for_non_2xx_only() -> None:
    request = HTTPRequest("http://x/")
    assert HTTPResponse(request, 200).error is None
    error = HTTPResponse(request, 404).error
    assert isinstance(error, HTTPClientError) and error.code == 404
    with pytest.raises(HTTPClientError, match="Not Found"):
        HTTPResponse(request, 404).rethrow()
    assert HTTPResponse(request, 200).body == b""
    assert repr(HTTPResponse(request, 200)).startswith("HTTPResponse(code=200")
    proxied = HTTPResponse(_RequestProxy(request, {}), 200)
    assert proxied.request is request


def test_http_client_errors_str_copy_and_pickle() -> None:
    assert str(HTTPError(403)) == repr(HTTPError(403)) == "HTTP 403: Forbidden"
    assert HTTPError is HTTPClientError
    assert copy.copy(HTTPClientError(500, "x")).message == "x"
    timeout = HTTPTimeoutError("Timeout during request")
    assert str(timeout) == "Timeout during request" and timeout.code == 599
    assert str(pickle.loads(pickle.dumps(timeout))) == "Timeout during request"
    closed = copy.copy(HTTPStreamClosedError("gone"))
    assert isinstance(closed, HTTPStreamClosedError) and str(closed) == "gone"


def test_digest_answers_match_rfc_7616_examples() -> None:
    from squall._client import digest

    challenge = digest.parse_challenge(
        'Basic realm="x", Digest realm="http-auth@example.org", qop="auth, auth-int", '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    assert challenge is not None and challenge["realm"] == "http-auth@example.org"
    cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
    expected = {  # RFC 7616 §3.9.1
        "MD5": "8ca523f5e9506fed4657c9700eebdbec",
        "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
    }
    for algorithm, response in expected.items():
        header = digest.authorization(
            {**challenge, "algorithm": algorithm},
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle of Life",
            cnonce=cnonce,
        )
        assert header is not None and f'response="{response}"' in header
    assert digest.authorization({**challenge, "algorithm": "SHA-1"}, "GET", "/", "a", "b") is None
    assert digest.authorization({**challenge, "qop": "auth-int"}, "GET", "/", "a", "b") is None
    assert digest.parse_challenge('Basic realm="x"') is None


# ---- against a squall Application ---------------------------------------------------------------


class ClientTest(testing.AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return make_app()

    def setUp(self) -> None:
        super().setUp()
        # A second port on the same server: another origin, for cross-origin redirects.
        sock, self.port2 = testing.bind_unused_port()
        self.http_server.add_sockets([sock])

    @gen_test
    async def test_fetch_returns_status_body_headers_and_timing(self) -> None:
        response = await self.http_client.fetch(self.get_url("/"))
        assert (response.code, response.reason, response.body) == (200, "OK", b"Hello")
        assert response.headers["X-Test"] == "yes"
        assert response.effective_url == self.get_url("/")
        assert response.request_time is not None and 0 <= response.request_time < 5
        assert response.time_info == {}

    def test_default_client_class_is_simple(self) -> None:
        assert AsyncHTTPClient.configured_class() is SimpleAsyncHTTPClient
        assert isinstance(self.http_client, SimpleAsyncHTTPClient)

    @gen_test
    async def test_non_2xx_raises_http_client_error_carrying_the_response(self) -> None:
        with pytest.raises(HTTPClientError) as failure:
            await self.http_client.fetch(self.get_url("/missing"))
        assert failure.value.code == 404 and failure.value.response is not None
        assert failure.value.response.code == 404

    @gen_test
    async def test_raise_error_false_returns_error_statuses(self) -> None:
        response = await self.http_client.fetch(self.get_url("/missing"), raise_error=False)
        assert response.code == 404 and isinstance(response.error, HTTPClientError)

    def test_raise_error_false_still_raises_failures_that_are_not_statuses(self) -> None:
        with pytest.raises(ConnectionRefusedError):
            self.fetch(f"http://127.0.0.1:{closed_port()}/", raise_error=False)

    def test_post_sends_the_body_with_a_form_content_type_by_default(self) -> None:
        response = self.fetch("/echo", method="POST", body="name=squall")
        assert response.body == b"name=squall"
        assert response.headers["X-Content-Type"] == "application/x-www-form-urlencoded"

    def test_methods_with_and_without_bodies(self) -> None:
        for method in ("GET", "DELETE", "OPTIONS"):
            assert self.fetch("/method", method=method).body == f"{method} 0".encode()
        for method in ("POST", "PUT", "PATCH"):
            assert self.fetch("/method", method=method, body=b"abc").body == f"{method} 3".encode()
        head = self.fetch("/method", method="HEAD")
        assert head.code == 200 and head.body == b"" and head.headers["X-Method"] == "HEAD"

    def test_body_rules_unless_nonstandard_methods_are_allowed(self) -> None:
        with pytest.raises(ValueError, match="Body must not be None for method POST"):
            self.fetch("/method", method="POST")
        with pytest.raises(ValueError, match="Body must be None for method GET"):
            self.fetch("/method", method="GET", body=b"x")
        with pytest.raises(KeyError, match="unknown method"):
            self.fetch("/method", method="BREW")
        assert self.fetch("/method", method="POST", allow_nonstandard_methods=True).code == 200
        response = self.fetch(
            "/method", method="DELETE", body=b"xy", allow_nonstandard_methods=True
        )
        assert response.body == b"DELETE 2"

    def test_header_values_with_line_breaks_are_refused(self) -> None:
        for name, value in (("X-A", "a\r\nX-Injected: 1"), ("X-A", "a\nb"), ("X\rB", "v")):
            with pytest.raises(ValueError, match="Newline"):
                self.fetch("/", headers={name: value})

    def test_the_callers_headers_object_is_never_changed(self) -> None:
        headers = HTTPHeaders({"User-Agent": "Foo"})
        self.fetch("/", headers=headers)
        assert list(headers.get_all()) == [("User-Agent", "Foo")]

    def test_latin1_and_bytes_header_values(self) -> None:
        assert self.fetch("/header/X-Name", headers={"X-Name": "b\xe4r"}).body == "bär".encode()
        assert self.fetch("/header/User-Agent", headers={"User-Agent": b"bytes"}).body == b"bytes"

    def test_default_and_custom_user_agent(self) -> None:
        assert self.fetch("/header/User-Agent").body.startswith(b"squall/")
        assert self.fetch("/header/User-Agent", user_agent="bot/1").body == b"bot/1"

    def test_host_header_leaves_credentials_out(self) -> None:
        url = self.get_url("/header/Host").replace("http://", "http://me:secret@")
        assert self.fetch(url).body == f"127.0.0.1:{self.get_http_port()}".encode()

    def test_basic_auth_from_options_and_url_nfc_utf8(self) -> None:
        assert self.fetch(
            "/header/Authorization", auth_username="Aladdin", auth_password="open sesame"
        ).body == (b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        url = self.get_url("/header/Authorization").replace("http://", "http://me:p%40ss@")
        assert self.fetch(url).body == b"Basic " + base64.b64encode(b"me:p@ss")
        decomposed = unicodedata.normalize("NFD", "josé")
        answer = self.fetch("/header/Authorization", auth_username=decomposed, auth_password="x")
        assert answer.body == b"Basic " + base64.b64encode("josé:x".encode())

    def test_unsupported_auth_mode_is_refused(self) -> None:
        with pytest.raises(ValueError, match="unsupported auth_mode"):
            self.fetch("/", auth_username="me", auth_mode="kerberos")

    def test_digest_auth_answers_the_challenge_once(self) -> None:
        response = self.fetch(
            "/digest", auth_username="Mufasa", auth_password="Circle of Life", auth_mode="digest"
        )
        assert response.code == 200 and response.body == b"welcome Mufasa"
        wrong = self.fetch("/digest", auth_username="Mufasa", auth_password="x", auth_mode="digest")
        assert wrong.code == 401  # answered once, refused: the 401 comes back

    def test_redirects_are_followed_by_default(self) -> None:
        response = self.fetch("/countdown/3")
        assert response.body == b"zero"
        assert response.effective_url == self.get_url("/countdown/0")
        assert response.request.url == self.get_url("/countdown/3")

    def test_redirect_not_followed_returns_the_3xx(self) -> None:
        response = self.fetch("/countdown/1", follow_redirects=False)
        assert response.code == 302 and response.headers["Location"] == "/countdown/0"

    def test_max_redirects_stops_at_the_last_redirect(self) -> None:
        response = self.fetch("/countdown/5", max_redirects=2)
        assert response.code == 302 and response.effective_url.endswith("/countdown/3")

    def test_303_and_legacy_redirects_turn_post_into_get(self) -> None:
        for status in (301, 302, 303):
            response = self.fetch(f"/redirect?to=/method&status={status}", method="POST", body=b"x")
            assert response.body == b"GET 0", status
            assert response.request.method == "POST"

    def test_307_and_308_keep_the_method_and_body(self) -> None:
        for status in (307, 308):
            response = self.fetch(f"/redirect?to=/echo&status={status}", method="PUT", body=b"hi")
            assert response.body == b"hi", status

    def test_cross_origin_redirect_drops_credentials_same_origin_keeps_them(self) -> None:
        other = f"http://127.0.0.1:{self.port2}/header/Authorization"
        for options in (
            {"headers": {"Authorization": "secret"}},
            {"auth_username": "me", "auth_password": "pw"},
        ):
            response = self.fetch(f"/redirect?to={other}", **options)
            assert response.body == b"<none>", options
            same = self.fetch("/redirect?to=/header/Authorization", **options)
            assert same.body != b"<none>", options
        cookie = self.fetch(
            f"/redirect?to=http://127.0.0.1:{self.port2}/header/Cookie", headers={"Cookie": "a=1"}
        )
        assert cookie.body == b"<none>"

    def test_redirect_to_an_unsupported_scheme_fails_the_fetch(self) -> None:
        with pytest.raises(ValueError, match="Unsupported url scheme"):
            self.fetch("/redirect?to=ftp://example.com/")

    def test_response_is_decompressed_by_default(self) -> None:
        response = self.fetch("/big")
        assert response.body == b"squall " * 2000
        assert response.headers["X-Consumed-Content-Encoding"] == "gzip"
        assert "Content-Encoding" not in response.headers

    def test_decompress_response_false_sends_no_accept_encoding_and_keeps_raw_body(self) -> None:
        assert self.fetch("/header/Accept-Encoding", decompress_response=False).body == b"<none>"
        raw = self.fetch("/big", decompress_response=False, headers={"Accept-Encoding": "gzip"})
        assert raw.body[:2] == b"\x1f\x8b" and gzip.decompress(raw.body) == b"squall " * 2000

    def test_streaming_and_header_callbacks(self) -> None:
        chunks: list[bytes] = []
        lines: list[str] = []
        response = self.fetch(
            "/stream", streaming_callback=chunks.append, header_callback=lines.append
        )
        assert b"".join(chunks) == b"onetwothree" and response.body == b""
        assert lines[0].startswith("HTTP/1.1 200 OK") and lines[-1] == "\r\n"
        assert all(line.endswith("\r\n") for line in lines)

    def test_coroutine_streaming_callback_is_awaited(self) -> None:
        chunks: list[bytes] = []

        async def collect(chunk: bytes) -> None:
            await asyncio.sleep(0)
            chunks.append(chunk)

        self.fetch("/stream", streaming_callback=collect)
        assert b"".join(chunks) == b"onetwothree"

    def test_callbacks_only_see_the_final_response_of_a_redirect(self) -> None:
        lines: list[str] = []
        chunks: list[bytes] = []
        self.fetch("/countdown/2", header_callback=lines.append, streaming_callback=chunks.append)
        assert [line for line in lines if line.startswith("HTTP/")] == ["HTTP/1.1 200 OK\r\n"]
        assert chunks == [b"zero"]

    def test_a_failing_callback_is_logged_and_fails_the_fetch(self) -> None:
        def boom(data: Any) -> None:
            raise ValueError("callback bug")

        for option in ("streaming_callback", "header_callback"):
            with ExpectLog(app_log, "Uncaught exception"):
                with pytest.raises(HTTPStreamClosedError, match="callback bug"):
                    self.fetch("/", **{option: boom})
        # The client is still usable.
        assert self.fetch("/").body == b"Hello"

    def test_body_producers_sync_async_chunked_and_sized(self) -> None:
        def sync_producer(write: Any) -> None:
            write(b"1234")
            write(b"5678")

        async def async_producer(write: Any) -> None:
            await write(b"1234")
            await asyncio.sleep(0)
            await write(b"5678")

        for producer in (sync_producer, async_producer):
            for headers in ({}, {"Content-Length": "8"}):
                response = self.fetch(
                    "/echo", method="POST", body_producer=producer, headers=headers
                )
                assert response.body == b"12345678", (producer, headers)

    def test_expect_100_continue_sends_the_body_after_the_go_ahead(self) -> None:
        response = self.fetch("/echo", method="POST", body=b"1234", expect_100_continue=True)
        assert response.body == b"1234"

    def test_if_modified_since_header_is_sent(self) -> None:
        when = datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC)
        response = self.fetch("/header/If-Modified-Since", if_modified_since=when)
        assert response.body == b"Tue, 02 Jan 2024 00:00:00 GMT"

    def test_proxy_options_are_refused_clearly(self) -> None:
        with pytest.raises(NotImplementedError, match="proxy_host is not supported"):
            self.fetch("/", proxy_host="proxy.example", proxy_port=3128)

    def test_network_interface(self) -> None:
        assert self.fetch("/", network_interface="127.0.0.1").code == 200
        with pytest.raises(ValueError, match="eth-nope"):
            self.fetch("/", network_interface="eth-nope")

    def test_request_timeout(self) -> None:
        with pytest.raises(HTTPTimeoutError, match="Timeout during request") as failure:
            self.fetch("/slow?seconds=5", request_timeout=0.1)
        assert failure.value.code == 599

    def test_zero_timeouts_mean_none(self) -> None:
        assert self.fetch("/", connect_timeout=0, request_timeout=0).code == 200

    def test_connection_refused_is_the_os_error_itself_as_in_tornado(self) -> None:
        with pytest.raises(ConnectionRefusedError) as failure:
            self.fetch(f"http://127.0.0.1:{closed_port()}/")
        error = failure.value
        assert error.errno == errno.ECONNREFUSED
        # Not an HTTPClientError: code that catches HTTPClientError before OSError (a gateway
        # client telling "the server said no" from "the server is not there") must see the
        # OSError, as on Tornado.
        assert not isinstance(error, HTTPClientError)
        assert "Connection refused" in str(error)
        assert pickle.loads(pickle.dumps(error)).errno == errno.ECONNREFUSED

    def test_an_unknown_host_is_a_gaierror(self) -> None:
        with pytest.raises(socket.gaierror) as failure:
            self.fetch("http://no-such-host.invalid/")
        assert not isinstance(failure.value, HTTPClientError)

    @gen_test
    async def test_unsupported_scheme_and_bad_url(self) -> None:
        with pytest.raises(ValueError, match="Unsupported url scheme"):
            await self.http_client.fetch("ftp://127.0.0.1/")
        with pytest.raises(ValueError, match="No host"):
            await self.http_client.fetch("http:///nohost")

    def test_fetch_accepts_an_http_request_object_but_not_extra_options(self) -> None:
        request = HTTPRequest(self.get_url("/"))
        response = self.io_loop.run_sync(lambda: self.http_client.fetch(request))
        assert response.request is request and response.body == b"Hello"
        again = self.io_loop.run_sync(lambda: self.http_client.fetch(response.request))
        assert again.body == b"Hello"
        with pytest.raises(ValueError, match="kwargs can't be used"):
            self.http_client.fetch(request, method="POST")

    @gen_test
    async def test_keep_alive_reuses_one_connection(self) -> None:
        for _ in range(3):
            assert (await self.http_client.fetch(self.get_url("/"))).body == b"Hello"
        assert len(self.http_client._pool) == 1  # type: ignore[attr-defined]

    @gen_test
    async def test_cancelled_future_logs_a_late_error(self) -> None:
        future = self.http_client.fetch(self.get_url("/missing"))
        assert future.cancel()
        with ExpectLog(app_log, "Exception after Future was cancelled"):
            for _ in range(200):
                await asyncio.sleep(0.01)
                if not self.http_client.active:  # type: ignore[attr-defined]
                    break

    def test_legacy_callback_receives_errors_as_response_error(self) -> None:
        self.http_client.fetch(self.get_url("/missing"), callback=self.stop)
        response = self.wait()
        assert response.code == 404 and isinstance(response.error, HTTPClientError)

    def test_configure_defaults_reach_requests(self) -> None:
        client = SimpleAsyncHTTPClient(
            force_instance=True, defaults={"user_agent": "from-defaults"}
        )
        try:
            response = self.io_loop.run_sync(
                lambda: client.fetch(self.get_url("/header/User-Agent"))
            )
            assert response.body == b"from-defaults"
        finally:
            client.close()

    def test_fetch_after_close_raises(self) -> None:
        client = AsyncHTTPClient(force_instance=True)
        client.close()
        client.close()  # idempotent
        with pytest.raises(RuntimeError, match="closed"):
            client.fetch(self.get_url("/"))


class QueueTest(testing.AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return make_app()

    def test_max_clients_queues_and_the_queue_times_out(self) -> None:
        client = SimpleAsyncHTTPClient(force_instance=True, max_clients=1)
        try:
            slow = client.fetch(self.get_url("/slow?seconds=0.5"))
            assert len(client.active) == 1
            queued = client.fetch(self.get_url("/"), connect_timeout=0.05)
            assert len(client.queue) == 1
            with pytest.raises(HTTPTimeoutError, match="Timeout in request queue"):
                self.io_loop.run_sync(lambda: queued)
            assert len(client.queue) == 0
            waiting = client.fetch(self.get_url("/"))
            assert self.io_loop.run_sync(lambda: slow).body == b"late"
            assert self.io_loop.run_sync(lambda: waiting).body == b"Hello"
        finally:
            client.close()

    def test_redirects_do_not_take_more_slots(self) -> None:
        client = SimpleAsyncHTTPClient(force_instance=True, max_clients=1)
        try:
            response = self.io_loop.run_sync(
                lambda: client.fetch(self.get_url("/countdown/3"), max_redirects=3)
            )
            assert response.body == b"zero"
        finally:
            client.close()


# ---- configuration and instances -----------------------------------------------------------------


class ConfigureTest(testing.AsyncTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.saved = AsyncHTTPClient._save_configuration()

    def tearDown(self) -> None:
        AsyncHTTPClient._restore_configuration(self.saved)
        super().tearDown()

    def test_configure_arguments_reach_initialize(self) -> None:
        resolver = Resolver()
        AsyncHTTPClient.configure(
            None, max_clients=12, defaults={"user_agent": "x"}, resolver=resolver
        )
        client = AsyncHTTPClient(force_instance=True)
        try:
            assert isinstance(client, SimpleAsyncHTTPClient)
            assert client.max_clients == 12 and client.defaults["user_agent"] == "x"
            assert client.resolver is resolver
        finally:
            client.close()
            resolver.close()
        client = AsyncHTTPClient(force_instance=True, max_clients=13)  # the call's argument wins
        assert client.max_clients == 13  # type: ignore[attr-defined]
        client.close()

    def test_configure_a_subclass_whose_initialize_takes_its_own_arguments(self) -> None:
        class Tagged(SimpleAsyncHTTPClient):
            def initialize(self, tag: str = "", **kwargs: Any) -> None:  # type: ignore[override]
                super().initialize(**kwargs)
                self.tag = tag

        AsyncHTTPClient.configure(Tagged, tag="configured", max_clients=3)
        client = AsyncHTTPClient(force_instance=True)
        try:
            assert isinstance(client, Tagged) and client.tag == "configured"
            assert client.max_clients == 3 and AsyncHTTPClient.configured_class() is Tagged
        finally:
            client.close()
        override = AsyncHTTPClient(force_instance=True, tag="call")
        assert override.tag == "call"  # type: ignore[attr-defined]
        override.close()

    def test_configure_refuses_a_class_that_is_not_a_client(self) -> None:
        with pytest.raises(ValueError):
            AsyncHTTPClient.configure(dict)  # type: ignore[arg-type]

    def test_one_shared_instance_per_loop_and_force_instance(self) -> None:
        shared = AsyncHTTPClient()
        assert AsyncHTTPClient() is shared
        assert AsyncHTTPClient(force_instance=True) is not shared
        assert SimpleAsyncHTTPClient() is not shared  # each class keeps its own
        other = IOLoop(make_current=False)
        try:

            async def make() -> AsyncHTTPClient:
                return AsyncHTTPClient()

            theirs = other.run_sync(make)
            assert theirs is not shared
            theirs.close()
        finally:
            other.close()
        shared.close()
        assert AsyncHTTPClient() is not shared  # closed: replaced


# ---- a scripted server: connections, and answers no real server gives ---------------------------


def _response(body: bytes = b"ok", *fields: str, status: str = "200 OK") -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *fields]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class ScriptedServerTest(testing.AsyncTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.client = SimpleAsyncHTTPClient(force_instance=True)
        self.servers: list[ScriptedServer] = []

    def tearDown(self) -> None:
        self.client.close()
        for server in self.servers:
            server.close()
        super().tearDown()

    def serve(self, script: Any) -> ScriptedServer:
        server = ScriptedServer(script)
        self.servers.append(server)
        return server

    def answer(self, reply: bytes, close: bool = True) -> ScriptedServer:
        """A server that reads each request and sends ``reply`` (then closes, by default)."""

        async def script(stream: IOStream, index: int) -> None:
            while True:
                await server.request(stream)
                await stream.write(reply)
                if close:
                    stream.close()
                    return

        server = self.serve(script)
        return server

    def malformed(self, reply: bytes, match: str, **options: Any) -> None:
        server = self.answer(reply)
        with ExpectLog(gen_log, f"Malformed HTTP message from None: .*{match}", level=logging.INFO):
            with pytest.raises(HTTPStreamClosedError, match=f"Malformed HTTP response.*{match}"):
                self.io_loop.run_sync(lambda: self.client.fetch(server.url(), **options))

    @gen_test
    async def test_sequential_requests_share_one_connection(self) -> None:
        server = self.answer(_response(), close=False)
        for _ in range(5):
            assert (await self.client.fetch(server.url())).body == b"ok"
        assert server.connections == 1 and len(server.requests) == 5
        assert b"connection:" not in server.requests[0][0].lower()

    @gen_test
    async def test_no_reuse_when_told_to_close_or_when_disabled(self) -> None:
        server = self.answer(_response(b"ok", "Connection: close"), close=False)
        for _ in range(2):
            await self.client.fetch(server.url())
        assert server.connections == 2
        plain = self.answer(_response(), close=False)
        client = SimpleAsyncHTTPClient(force_instance=True, max_idle_connections=0)
        try:
            for _ in range(2):
                await client.fetch(plain.url())
        finally:
            client.close()
        assert plain.connections == 2

    @gen_test
    async def test_http10_without_keep_alive_body_until_close(self) -> None:
        async def script(stream: IOStream, index: int) -> None:
            await server.request(stream)
            await stream.write(b"HTTP/1.0 200 OK\r\n\r\nuntil close")
            stream.close()

        server = self.serve(script)
        response = await self.client.fetch(server.url())
        assert response.body == b"until close"
        assert (await self.client.fetch(server.url())).body == b"until close"
        assert server.connections == 2

    @gen_test
    async def test_idempotent_request_is_retried_once_when_the_reused_connection_dies(self) -> None:
        async def script(stream: IOStream, index: int) -> None:
            await server.request(stream)
            await stream.write(_response(b"first" if index == 0 else b"fresh"))
            if index == 0:
                await server.request(stream)  # the second request: dropped unanswered
                stream.close()

        server = self.serve(script)
        # As if the connection had waited idle past REPLAY_AFTER_IDLE (no sleeping here).
        with mock.patch.object(client_exchange, "REPLAY_AFTER_IDLE", 0.0):
            assert (await self.client.fetch(server.url())).body == b"first"
            assert (await self.client.fetch(server.url())).body == b"fresh"
        assert server.connections == 2

    @gen_test
    async def test_a_connection_that_dies_right_after_its_last_answer_is_not_replayed(
        self,
    ) -> None:
        # Idle for milliseconds, then closed on the next request: the server most likely
        # handled that request (and died of it); sending it again would run it twice.
        async def script(stream: IOStream, index: int) -> None:
            await server.request(stream)
            await stream.write(_response())
            await server.request(stream)
            stream.close()

        server = self.serve(script)
        await self.client.fetch(server.url())
        with pytest.raises(HTTPStreamClosedError, match="closed before a response arrived"):
            await self.client.fetch(server.url() + "?exit=1")
        assert server.connections == 1
        assert len(server.requests) == 2

    @gen_test
    async def test_post_is_not_retried_on_a_reused_connection(self) -> None:
        async def script(stream: IOStream, index: int) -> None:
            await server.request(stream)
            await stream.write(_response())
            await server.request(stream)
            stream.close()

        server = self.serve(script)
        await self.client.fetch(server.url(), method="POST", body=b"1")
        with pytest.raises(HTTPStreamClosedError, match="closed before a response arrived"):
            await self.client.fetch(server.url(), method="POST", body=b"2")

    @gen_test
    async def test_a_server_that_closes_an_idle_connection_costs_nothing(self) -> None:
        async def script(stream: IOStream, index: int) -> None:
            await server.request(stream)
            await stream.write(_response())
            stream.close()  # no Connection: close, yet it goes away

        server = self.serve(script)
        await self.client.fetch(server.url())
        for _ in range(200):  # until the idle connection notices the close and leaves the pool
            if not len(self.client._pool):
                break
            await asyncio.sleep(0.01)
        assert not len(self.client._pool)
        assert (await self.client.fetch(server.url(), method="POST", body=b"")).body == b"ok"
        assert server.connections == 2

    @gen_test
    async def test_a_request_under_way_when_its_client_closes_does_not_keep_its_connection(
        self,
    ) -> None:
        release, closed = asyncio.Event(), asyncio.Event()

        async def script(stream: IOStream, index: int) -> None:
            await server.request(stream)
            await release.wait()
            await stream.write(_response())  # keep-alive: reusable, were the client open
            await stream.read_until_close()
            closed.set()

        server = self.serve(script)
        client = SimpleAsyncHTTPClient(force_instance=True)
        future = client.fetch(server.url())
        for _ in range(1000):  # until the server has the request
            if server.requests:
                break
            await asyncio.sleep(0.01)
        client.close()
        release.set()
        assert (await future).body == b"ok"
        await asyncio.wait_for(closed.wait(), 10)  # the client closed it, not the pool kept it
        assert not len(client._pool)

    def test_malformed_status_line(self) -> None:
        self.malformed(b"HTTP/1.1 OK\r\n\r\n", "start line")

    def test_header_without_colon_and_folded_header(self) -> None:
        self.malformed(b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n", "header line")
        self.malformed(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n b\r\nContent-Length: 0\r\n\r\n", "folding")

    def test_framing_errors(self) -> None:
        self.malformed(_response(b"ok", "Content-Length: 3"), "Multiple unequal Content-Lengths")
        self.malformed(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok",
            "both Transfer-Encoding and Content-Length",
        )
        self.malformed(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "integer Content-Length")
        self.malformed(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "Unsupported Transfer-Encoding"
        )
        self.malformed(_response(b"body", status="204 No Content"), "204 should not have body")
        self.malformed(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nfooXX0\r\n\r\n",
            "improperly terminated chunk",
        )
        self.malformed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size")

    def test_equal_repeated_content_lengths_are_accepted(self) -> None:
        server = self.answer(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok"
        )
        response = self.io_loop.run_sync(lambda: self.client.fetch(server.url()))
        assert response.body == b"ok" and response.headers["Content-Length"] == "2"

    def test_bare_lf_line_endings_are_accepted(self) -> None:
        server = self.answer(b"HTTP/1.1 200 OK\nContent-Length: 2\nX-A:  v \n\nok")
        response = self.io_loop.run_sync(lambda: self.client.fetch(server.url()))
        assert response.body == b"ok" and response.headers["X-A"] == "v"

    def test_informational_answers_before_the_real_one(self) -> None:
        server = self.answer(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + _response(b"A"))
        lines: list[str] = []
        response = self.io_loop.run_sync(
            lambda: self.client.fetch(server.url(), header_callback=lines.append)
        )
        assert (response.code, response.body) == (200, b"A")
        assert [line for line in lines if line.startswith("HTTP/")] == [
            "HTTP/1.1 103 Early Hints\r\n",
            "HTTP/1.1 200 OK\r\n",
        ]

    def test_too_many_informational_answers(self) -> None:
        self.malformed(b"HTTP/1.1 100 Continue\r\n\r\n" * 11 + _response(), "Too many 1xx")

    def test_truncated_body_is_an_error_not_a_short_body(self) -> None:
        server = self.answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        with pytest.raises(HTTPStreamClosedError, match="before the response was complete"):
            self.io_loop.run_sync(lambda: self.client.fetch(server.url()))
        chunked = self.answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
        with pytest.raises(HTTPStreamClosedError, match="before the response was complete"):
            self.io_loop.run_sync(lambda: self.client.fetch(chunked.url()))

    def test_closed_without_an_answer(self) -> None:
        async def script(stream: IOStream, index: int) -> None:
            await server.request(stream)
            stream.close()

        server = self.serve(script)
        with pytest.raises(HTTPStreamClosedError, match="closed before a response arrived"):
            self.io_loop.run_sync(lambda: self.client.fetch(server.url()))

    def test_oversized_head(self) -> None:
        server = self.answer(_response(b"", "X-Filler: " + "a" * 2000))
        client = SimpleAsyncHTTPClient(force_instance=True, max_header_size=1024)
        try:
            with ExpectLog(gen_log, "Unsatisfiable read", level=logging.INFO):
                with pytest.raises(UnsatisfiableReadError):
                    self.io_loop.run_sync(lambda: client.fetch(server.url()))
        finally:
            client.close()

    def test_body_over_max_body_size_with_and_without_streaming(self) -> None:
        big = self.answer(_response(b"x" * 2048))
        until_close = self.answer(b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 2048)
        client = SimpleAsyncHTTPClient(force_instance=True, max_body_size=1024)
        received: list[bytes] = []
        try:
            for server, reason in (
                (big, "Content-Length too long"),
                (until_close, "Body too long"),
            ):
                for options in ({}, {"streaming_callback": received.append}):
                    with ExpectLog(gen_log, f".*{reason}", level=logging.INFO):
                        with pytest.raises(HTTPStreamClosedError) as failure:
                            self.io_loop.run_sync(
                                lambda s=server, o=options: client.fetch(s.url(), **o)
                            )
                    assert failure.value.code == 599
            assert sum(map(len, received)) <= 1024
        finally:
            client.close()

    def test_gzip_bomb_is_refused_past_max_body_size(self) -> None:
        bomb = gzip.compress(b"\0" * (4 * 1024 * 1024))
        server = self.answer(_response(bomb, "Content-Encoding: gzip"))
        client = SimpleAsyncHTTPClient(force_instance=True, max_body_size=64 * 1024)
        try:
            with ExpectLog(gen_log, ".*decompressed body too large", level=logging.INFO):
                with pytest.raises(HTTPStreamClosedError):
                    self.io_loop.run_sync(lambda: client.fetch(server.url()))
        finally:
            client.close()

    def test_invalid_and_concatenated_gzip(self) -> None:
        members = gzip.compress(b"hello ") + gzip.compress(b"world")
        server = self.answer(_response(members, "Content-Encoding: gzip"))
        response = self.io_loop.run_sync(lambda: self.client.fetch(server.url()))
        assert response.body == b"hello world"
        for body in (members + b"garbage", members[:-3]):
            self.malformed(_response(body, "Content-Encoding: gzip"), "invalid gzip data")

    def test_server_that_never_answers_hits_the_request_timeout(self) -> None:
        async def script(stream: IOStream, index: int) -> None:
            await server.request(stream)
            await stream.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")  # then nothing

        server = self.serve(script)
        with pytest.raises(HTTPTimeoutError, match="Timeout during request"):
            self.io_loop.run_sync(
                lambda: self.client.fetch(server.url(), request_timeout=0.2), timeout=5
            )

    def test_a_hanging_resolver_hits_the_connect_timeout(self) -> None:
        release = asyncio.Event()

        class Hanging(Resolver):
            async def resolve(self, host: str, port: int, family: int = 0) -> Any:
                await release.wait()
                return [(socket.AF_INET, ("127.0.0.1", port))]

        client = SimpleAsyncHTTPClient(force_instance=True, resolver=Hanging())
        try:
            with pytest.raises(HTTPTimeoutError, match="Timeout while resolving example.test"):
                self.io_loop.run_sync(
                    lambda: client.fetch("http://example.test/", connect_timeout=0.1)
                )
        finally:
            release.set()
            client.close()

    def test_hostname_mapping(self) -> None:
        server = self.answer(_response(b"mapped"))
        client = SimpleAsyncHTTPClient(
            force_instance=True,
            hostname_mapping={("www.example.test", 80): ("127.0.0.1", server.port)},
        )
        try:
            response = self.io_loop.run_sync(lambda: client.fetch("http://www.example.test/"))
            assert response.body == b"mapped"
            assert server.requests[0][0].lower().count(b"host: www.example.test\r\n") == 1
        finally:
            client.close()

    def test_expect_100_continue_with_an_early_final_answer_sends_no_body(self) -> None:
        async def script(stream: IOStream, index: int) -> None:
            head = await stream.read_until(b"\r\n\r\n")
            server.requests.append((head, b""))
            await stream.write(_response(b"no", status="403 Forbidden"))
            stream.close()

        server = self.serve(script)

        def producer(write: Any) -> None:
            raise AssertionError("the body must not be produced")

        response = self.io_loop.run_sync(
            lambda: self.client.fetch(
                server.url(),
                method="POST",
                body_producer=producer,
                expect_100_continue=True,
                raise_error=False,
            )
        )
        assert response.code == 403 and b"expect: 100-continue" in server.requests[0][0].lower()


# ---- TLS -----------------------------------------------------------------------------------------


class TLSClientTest(testing.AsyncHTTPSTestCase):
    ca = trustme.CA()

    def get_app(self) -> Application:
        return make_app()

    def get_ssl_options(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1").configure_cert(context)
        return context

    def test_untrusted_certificate_fails_when_validating(self) -> None:
        with ExpectLog(gen_log, "SSL Error"):
            with pytest.raises(ssl.SSLError, match="CERTIFICATE_VERIFY_FAILED") as failure:
                self.fetch("/", validate_cert=True)
        assert not isinstance(failure.value, HTTPClientError)  # the SSLError, as in Tornado

    def test_ca_certs_makes_the_certificate_trusted(self) -> None:
        with self.ca.cert_pem.tempfile() as ca_file:
            response = self.fetch("/", validate_cert=True, ca_certs=ca_file)
        assert response.code == 200 and response.body == b"Hello"

    def test_ssl_options_context_and_dict(self) -> None:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        assert self.fetch("/", ssl_options=context).code == 200
        assert self.fetch("/", ssl_options={"cert_reqs": ssl.CERT_NONE}).code == 200

    @gen_test
    async def test_tls_connections_are_reused(self) -> None:
        for _ in range(3):
            await self.http_client.fetch(self.get_url("/"))
        assert len(self.http_client._pool) == 1  # type: ignore[attr-defined]


class TLSHandshakeTimeoutTest(testing.AsyncTestCase):
    @gen_test
    async def test_a_silent_tls_server_hits_the_connect_timeout(self) -> None:
        async def script(stream: IOStream, index: int) -> None:
            await stream.read_until_close()

        server = ScriptedServer(script)
        client = SimpleAsyncHTTPClient(force_instance=True)
        try:
            with pytest.raises(HTTPTimeoutError, match="Timeout during TLS handshake"):
                await client.fetch(
                    f"https://127.0.0.1:{server.port}/", connect_timeout=0.3, validate_cert=False
                )
        finally:
            client.close()
            server.close()


# ---- the blocking HTTPClient ---------------------------------------------------------------------


class ThreadedServer:
    """A squall server on its own loop in a background thread."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.loop: IOLoop | None = None
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self) -> None:
        loop = IOLoop(make_current=False)
        self.loop = loop

        async def start() -> None:
            sock, self.port = testing.bind_unused_port()
            self.server = HTTPServer(make_app())
            self.server.add_sockets([sock])
            self.ready.set()

        loop.run_sync(start)
        loop.start()
        loop.close(all_fds=True)

    def stop(self) -> None:
        assert self.loop is not None
        loop = self.loop

        async def shutdown() -> None:
            self.server.stop()
            await self.server.close_all_connections()
            loop.stop()

        loop.add_callback(lambda: loop.spawn_callback(shutdown))
        self.thread.join(10)


@pytest.fixture
def threaded_server() -> Iterator[ThreadedServer]:
    server = ThreadedServer()
    yield server
    server.stop()


def test_http_client_fetches_synchronously(threaded_server: ThreadedServer) -> None:
    client = HTTPClient()
    try:
        url = f"http://127.0.0.1:{threaded_server.port}"
        assert client.fetch(url + "/").body == b"Hello"
        with pytest.raises(HTTPClientError) as failure:
            client.fetch(url + "/missing")
        assert failure.value.code == 404
        assert client.fetch(url + "/missing", raise_error=False).code == 404
    finally:
        client.close()
        client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.fetch("http://127.0.0.1/")


def test_http_client_reports_connection_refused() -> None:
    client = HTTPClient()
    try:
        with pytest.raises(ConnectionRefusedError):
            client.fetch(f"http://127.0.0.1:{closed_port()}/")
    finally:
        client.close()


def test_http_client_left_open_at_exit_prints_nothing() -> None:
    import subprocess
    import sys

    code = "from squall.httpclient import HTTPClient; f = lambda: None; c = HTTPClient()"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout == "" and result.stderr == ""


def test_command_line_fetches_and_prints(
    threaded_server: ThreadedServer, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    from squall.httpclient import main

    assert main([f"http://127.0.0.1:{threaded_server.port}/", "--print-headers"]) == 0
    out = capsysbinary.readouterr().out
    assert out.startswith(b"HTTP 200 OK") and out.endswith(b"Hello")
    assert main([f"http://127.0.0.1:{closed_port()}/"]) == 1


# -- the default implementation is registered, not imported (no import circle) ---------------


def test_the_public_module_always_has_the_default_client() -> None:
    assert AsyncHTTPClient.configurable_default() is SimpleAsyncHTTPClient


def test_the_private_base_alone_says_which_module_to_import() -> None:
    import subprocess
    import sys

    code = (
        "import squall._client.base as base\n"
        "try:\n"
        "    base.AsyncHTTPClient.configurable_default()\n"
        "except RuntimeError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "import squall.httpclient" in out.stdout, out.stdout + out.stderr

"""Tests for squall.httpclient against a real squall server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import datetime
import gzip
import ssl
import threading
from collections.abc import Generator, Iterator
from typing import Any

import pytest
import trustme

from squall import gen, testing
from squall.httpclient import (
    AsyncHTTPClient,
    HTTPClient,
    HTTPClientError,
    HTTPError,
    HTTPRequest,
    HTTPResponse,
)
from squall.httpserver import HTTPServer
from squall.httputil import HTTPHeaders
from squall.ioloop import IOLoop
from squall.web import Application, RequestHandler


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

    def delete(self) -> None:
        self.write(f"deleted {len(self.request.body)}")


class FormHandler(RequestHandler):
    def post(self) -> None:
        self.write(self.get_argument("name"))


class HeaderEchoHandler(RequestHandler):
    def get(self, name: str) -> None:
        self.write(self.request.headers.get(name, "<none>"))


class RedirectChainHandler(RequestHandler):
    def get(self, hops: str) -> None:
        left = int(hops)
        self.redirect(f"/redirect/{left - 1}" if left > 1 else "/")

    def post(self, hops: str) -> None:
        self.redirect("/", status=303)


class SlowHandler(RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(2)
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


class FailHandler(RequestHandler):
    def get(self) -> None:
        raise RuntimeError("boom")


def make_app() -> Application:
    return Application(
        [
            ("/", HelloHandler),
            ("/echo", EchoHandler),
            ("/form", FormHandler),
            ("/header/(.*)", HeaderEchoHandler),
            ("/redirect/([0-9]+)", RedirectChainHandler),
            ("/slow", SlowHandler),
            ("/big", BigHandler),
            ("/stream", StreamHandler),
            ("/fail", FailHandler),
        ],
        compress_response=True,
    )


def closed_port() -> int:
    sock, port = testing.bind_unused_port()
    sock.close()
    return port


# ---- value classes -----------------------------------------------------------------------------


def test_http_request_converts_headers_and_body() -> None:
    request = HTTPRequest("http://x/", method="POST", headers={"A": "1"}, body="héllo")
    assert isinstance(request.headers, HTTPHeaders)
    assert request.headers["a"] == "1"
    assert request.body == "héllo".encode()


def test_http_request_formats_if_modified_since_and_maps_use_gzip() -> None:
    when = datetime.datetime(1994, 11, 6, 8, 49, 37)
    request = HTTPRequest("http://x/", if_modified_since=when, use_gzip=False)
    assert request.headers["If-Modified-Since"] == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert request.decompress_response is False
    assert HTTPRequest("http://x/").decompress_response is None  # the client default applies


def test_http_response_sets_error_for_non_2xx_only() -> None:
    request = HTTPRequest("http://x/")
    ok = HTTPResponse(request, 204)
    assert ok.error is None and ok.body == b"" and ok.reason == "No Content"
    ok.rethrow()
    missing = HTTPResponse(request, 404)
    assert isinstance(missing.error, HTTPClientError)
    assert missing.error.code == 404 and missing.error.response is missing
    with pytest.raises(HTTPClientError):
        missing.rethrow()
    assert missing.effective_url == "http://x/"


def test_http_client_error_str_and_alias() -> None:
    assert str(HTTPClientError(404)) == "HTTP 404: Not Found"
    assert str(HTTPClientError(599, "Timeout during request")) == "HTTP 599: Timeout during request"
    assert HTTPError is HTTPClientError


# ---- AsyncHTTPClient over a live server ---------------------------------------------------------


class AsyncClientTest(testing.AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return make_app()

    @testing.gen_test
    async def test_fetch_returns_status_body_headers_and_timing(self) -> None:
        response = await self.http_client.fetch(self.get_url("/"))
        assert (response.code, response.reason, response.body) == (200, "OK", b"Hello")
        assert response.headers["X-Test"] == "yes"
        assert response.buffer is not None and response.buffer.read() == b"Hello"
        assert response.request_time is not None and response.request_time >= 0
        assert response.error is None

    @testing.gen_test
    async def test_non_2xx_raises_http_client_error_carrying_the_response(self) -> None:
        with pytest.raises(HTTPClientError) as info:
            await self.http_client.fetch(self.get_url("/missing"))
        assert info.value.code == 404
        assert info.value.response is not None and info.value.response.code == 404

    @testing.gen_test
    async def test_raise_error_false_returns_the_error_response(self) -> None:
        with testing.ExpectLog("squall.application", "Uncaught exception"):
            response = await self.http_client.fetch(self.get_url("/fail"), raise_error=False)
        assert response.code == 500
        assert isinstance(response.error, HTTPClientError) and response.error.code == 500

    def test_post_sends_the_body_with_a_form_content_type_by_default(self) -> None:
        response = self.fetch("/echo", method="POST", body=b"\x00binary")
        assert response.body == b"\x00binary"
        assert response.headers["X-Content-Type"] == "application/x-www-form-urlencoded"
        assert self.fetch("/form", method="POST", body="name=squall").body == b"squall"

    def test_put_and_explicit_content_type(self) -> None:
        headers = {"Content-Type": "application/json"}
        response = self.fetch("/echo", method="POST", body="{}", headers=headers)
        assert response.headers["X-Content-Type"] == "application/json"
        assert self.fetch("/echo", method="PUT", body="put").body == b"put"

    def test_post_without_body_raises_value_error(self) -> None:
        with pytest.raises(ValueError, match="Body must not be None for method POST"):
            self.fetch("/echo", method="POST")

    def test_get_with_body_raises_unless_nonstandard_methods_allowed(self) -> None:
        with pytest.raises(ValueError, match="Body must be None for method DELETE"):
            self.fetch("/echo", method="DELETE", body="x")
        response = self.fetch("/echo", method="DELETE", body="xyz", allow_nonstandard_methods=True)
        assert response.body == b"deleted 3"

    def test_redirects_are_followed_by_default(self) -> None:
        response = self.fetch("/redirect/3")
        assert response.code == 200 and response.body == b"Hello"
        assert response.effective_url == self.get_url("/")

    def test_redirect_not_followed_returns_the_3xx(self) -> None:
        response = self.fetch("/redirect/1", follow_redirects=False)
        assert response.code == 302
        assert response.headers["Location"] == "/"
        assert isinstance(response.error, HTTPClientError)
        with pytest.raises(HTTPClientError) as info:
            self.fetch("/redirect/1", follow_redirects=False, raise_error=True)
        assert info.value.code == 302

    def test_max_redirects_stops_at_the_last_redirect(self) -> None:
        response = self.fetch("/redirect/3", max_redirects=1)
        assert response.code == 302
        assert response.effective_url == self.get_url("/redirect/2")

    def test_303_after_post_is_followed_with_get(self) -> None:
        response = self.fetch("/redirect/1", method="POST", body="x")
        assert response.code == 200 and response.body == b"Hello"

    def test_closed_port_gives_599(self) -> None:
        url = f"http://127.0.0.1:{closed_port()}/"
        with pytest.raises(HTTPClientError) as info:
            self.fetch(url, raise_error=True)
        assert info.value.code == 599
        assert "ConnectError" in info.value.message
        response = self.fetch(url)
        assert response.code == 599 and isinstance(response.error, HTTPClientError)

    def test_request_timeout_gives_599_timeout_during_request(self) -> None:
        response = self.fetch("/slow", request_timeout=0.1)
        assert response.code == 599
        assert str(response.error) == "HTTP 599: Timeout during request"

    def test_default_and_custom_user_agent(self) -> None:
        assert self.fetch("/header/User-Agent").body.startswith(b"squall/")
        assert self.fetch("/header/User-Agent", user_agent="probe/1").body == b"probe/1"
        custom = self.fetch("/header/User-Agent", headers={"User-Agent": "mine"})
        assert custom.body == b"mine"

    def test_basic_auth_sends_credentials(self) -> None:
        response = self.fetch("/header/Authorization", auth_username="me", auth_password="pw")
        assert response.body == b"Basic " + base64.b64encode(b"me:pw")
        with pytest.raises(ValueError, match="unsupported auth_mode"):
            self.fetch("/", auth_username="me", auth_mode="kerberos")

    def test_response_is_decompressed_by_default(self) -> None:
        response = self.fetch("/big")
        assert response.body == b"squall " * 2000
        assert response.headers["Content-Encoding"] == "gzip"

    def test_decompress_response_false_sends_no_accept_encoding_and_keeps_raw_body(self) -> None:
        assert self.fetch("/header/Accept-Encoding", decompress_response=False).body == b"<none>"
        raw = self.fetch("/big", decompress_response=False, headers={"Accept-Encoding": "gzip"})
        assert raw.body[:2] == b"\x1f\x8b"
        assert gzip.decompress(raw.body) == b"squall " * 2000

    def test_streaming_and_header_callbacks(self) -> None:
        chunks: list[bytes] = []
        lines: list[str] = []
        response = self.fetch(
            "/stream", streaming_callback=chunks.append, header_callback=lines.append
        )
        assert response.code == 200 and response.body == b""
        assert b"".join(chunks) == b"onetwothree"
        assert lines[0] == "HTTP/1.1 200 OK\r\n" and lines[-1] == "\r\n"
        assert any(line.lower().startswith("content-type:") for line in lines)

    def test_if_modified_since_header_is_sent(self) -> None:
        response = self.fetch("/header/If-Modified-Since", if_modified_since=784111777.0)
        assert response.body == b"Sun, 06 Nov 1994 08:49:37 GMT"

    def test_unsupported_options_raise_not_implemented(self) -> None:
        with pytest.raises(NotImplementedError, match="proxy_host"):
            self.fetch("/", proxy_host="proxy.example", proxy_port=3128)
        with pytest.raises(NotImplementedError, match="expect_100_continue"):
            self.fetch("/echo", method="POST", body="x", expect_100_continue=True)

    def test_fetch_accepts_an_http_request_object_but_not_extra_options(self) -> None:
        request = HTTPRequest(self.get_url("/"), headers={"X-A": "1"})
        response = self.io_loop.run_sync(lambda: self.http_client.fetch(request))
        assert response.request is request and response.body == b"Hello"
        with pytest.raises(ValueError, match="only with a URL"):
            self.http_client.fetch(request, method="POST")

    def test_legacy_callback_receives_errors_as_response_error(self) -> None:
        future = self.http_client.fetch(self.get_url("/missing"), callback=self.stop)
        response = self.wait()
        assert response.code == 404 and isinstance(response.error, HTTPClientError)
        assert future.result() is response  # the future does not raise either
        self.http_client.fetch(f"http://127.0.0.1:{closed_port()}/", callback=self.stop)
        refused = self.wait()
        assert refused.code == 599 and refused.error is not None

    def test_legacy_callback_gets_a_misuse_error_as_a_response(self) -> None:
        self.http_client.fetch(self.get_url("/echo"), method="POST", callback=self.stop)
        response = self.wait()
        assert response.code == 599 and isinstance(response.error, ValueError)

    @testing.gen_test
    def test_gen_task_over_fetch_delivers_the_response(self) -> Generator[Any, Any, None]:
        response = yield gen.Task(self.http_client.fetch, self.get_url("/"))
        assert response.body == b"Hello"
        missing = yield gen.Task(self.http_client.fetch, self.get_url("/missing"))
        assert missing.code == 404 and missing.error is not None

    def test_fetch_runs_without_being_awaited(self) -> None:
        done: list[int] = []

        def on_response(response: HTTPResponse) -> None:
            done.append(response.code)
            self.stop()

        self.http_client.fetch(self.get_url("/"), callback=on_response)  # never awaited
        self.io_loop.add_timeout(datetime.timedelta(seconds=0), self.stop)
        self.wait(condition=lambda: bool(done))
        assert done == [200]

    def test_defaults_apply_to_requests(self) -> None:
        client = AsyncHTTPClient(force_instance=True, defaults={"user_agent": "from-defaults"})
        try:
            response = self.io_loop.run_sync(
                lambda: client.fetch(self.get_url("/header/User-Agent"))
            )
            assert response.body == b"from-defaults"
        finally:
            client.close()

    def test_configure_keeps_defaults_and_ignores_the_rest(self) -> None:
        AsyncHTTPClient.configure("tornado.curl_httpclient.CurlAsyncHTTPClient", max_clients=3)
        AsyncHTTPClient.configure(None, defaults={"user_agent": "configured"})
        client = AsyncHTTPClient(force_instance=True)
        try:
            response = self.io_loop.run_sync(
                lambda: client.fetch(self.get_url("/header/User-Agent"))
            )
            assert response.body == b"configured"
        finally:
            client.close()
            AsyncHTTPClient.configure(None)

    def test_one_shared_instance_per_loop_and_force_instance(self) -> None:
        shared = AsyncHTTPClient()
        assert AsyncHTTPClient() is shared
        assert AsyncHTTPClient(force_instance=True) is not shared
        assert self.http_client is not shared
        shared.close()
        replacement = AsyncHTTPClient()
        assert replacement is not shared
        assert AsyncHTTPClient(self.io_loop) is replacement  # Tornado 4 passed the io_loop
        replacement.close()

    def test_fetch_after_close_raises(self) -> None:
        client = AsyncHTTPClient(force_instance=True)
        client.close()
        client.close()
        with pytest.raises(RuntimeError, match="closed AsyncHTTPClient"):
            client.fetch(self.get_url("/"))

    @testing.gen_test
    async def test_close_while_the_loop_runs(self) -> None:
        client = AsyncHTTPClient(force_instance=True)
        assert (await client.fetch(self.get_url("/"))).code == 200
        client.close()
        await asyncio.sleep(0.01)  # the connection pool closes on the loop


def test_shared_clients_differ_between_loops() -> None:
    first_loop, second_loop = IOLoop(make_current=False), IOLoop(make_current=False)

    async def make() -> AsyncHTTPClient:
        return AsyncHTTPClient()

    try:
        first = first_loop.run_sync(make)
        second = second_loop.run_sync(make)
        assert first is not second
        assert first_loop.run_sync(make) is first
        first.close()
        second.close()
    finally:
        first_loop.close()
        second_loop.close()


# ---- TLS options ---------------------------------------------------------------------------------


class TLSClientTest(testing.AsyncHTTPSTestCase):
    ca = trustme.CA()

    def get_app(self) -> Application:
        return make_app()

    def get_ssl_options(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1").configure_cert(context)
        return context

    def test_untrusted_certificate_fails_with_599_when_validating(self) -> None:
        response = self.fetch("/", validate_cert=True)
        assert response.code == 599
        assert "CERTIFICATE_VERIFY_FAILED" in str(response.error)

    def test_ca_certs_makes_the_certificate_trusted(self) -> None:
        with self.ca.cert_pem.tempfile() as ca_file:
            response = self.fetch("/", validate_cert=True, ca_certs=ca_file)
        assert response.code == 200 and response.body == b"Hello"

    def test_ssl_options_context_is_used(self) -> None:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        response = self.fetch("/", ssl_options=context)
        assert response.code == 200


# ---- the blocking HTTPClient ---------------------------------------------------------------------


class ThreadedServer:
    """A squall server on its own loop in a background thread."""

    def __init__(self) -> None:
        sock, self.port = testing.bind_unused_port()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(sock,), daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _run(self, sock: Any) -> None:
        self.io_loop = IOLoop(make_current=True)
        self.server = HTTPServer(make_app())
        self.server.add_sockets([sock])
        self._ready.set()
        self.io_loop.start()
        self.io_loop.close()

    def stop(self) -> None:
        async def shutdown() -> None:
            self.server.stop()
            await self.server.close_all_connections()
            self.io_loop.stop()

        self.io_loop.add_callback(shutdown)
        self._thread.join(10)
        assert not self._thread.is_alive()


@pytest.fixture
def threaded_server() -> Iterator[ThreadedServer]:
    server = ThreadedServer()
    yield server
    server.stop()


def test_http_client_fetches_synchronously(threaded_server: ThreadedServer) -> None:
    client = HTTPClient()
    try:
        url = f"http://127.0.0.1:{threaded_server.port}"
        response = client.fetch(url + "/")
        assert response.code == 200 and response.body == b"Hello"
        assert client.fetch(url + "/echo", method="POST", body="sync").body == b"sync"
        with pytest.raises(HTTPClientError) as info:
            client.fetch(url + "/missing")
        assert info.value.code == 404
        assert client.fetch(url + "/missing", raise_error=False).code == 404
    finally:
        client.close()
        client.close()
    with pytest.raises(RuntimeError, match="closed HTTPClient"):
        client.fetch("http://127.0.0.1/")


def test_http_client_reports_599_for_a_closed_port() -> None:
    client = HTTPClient(defaults={"connect_timeout": 5})
    try:
        with pytest.raises(HTTPClientError) as info:
            client.fetch(f"http://127.0.0.1:{closed_port()}/")
        assert info.value.code == 599
        assert info.value.__cause__ is not None
    finally:
        client.close()


class _SetCookie(RequestHandler):
    def get(self) -> None:
        self.set_cookie("session", "abc")
        self.write(self.request.headers.get("Cookie", ""))


class CookiesAreNotReplayedTest(testing.AsyncHTTPTestCase):
    """Like Tornado's client, cookies from one response are never sent with the next request."""

    def get_app(self) -> Application:
        return Application([("/c", _SetCookie)])

    def test_second_request_carries_no_cookie_from_the_first(self) -> None:
        first = self.fetch("/c")
        assert "session=abc" in first.headers.get("Set-Cookie", "")
        second = self.fetch("/c")
        assert second.body == b""

"""GZipContentEncoding over real sockets (the compress_response setting): which responses are
compressed (types, sizes, Accept-Encoding), Vary, Content-Length, streaming and no-body
statuses."""

from __future__ import annotations

import gzip
import zlib
from typing import Any
from urllib.parse import quote

from squall.httpclient import HTTPResponse
from squall.testing import AsyncHTTPTestCase, gen_test
from squall.web import Application, GZipContentEncoding, RequestHandler
from tests.helpers.raw_http import RawClient, request

TEXT = ("All work and no play makes Jack a dull boy. " * 40).encode()  # 1760 bytes
GZIP = {"Accept-Encoding": "gzip"}


class TypedHandler(RequestHandler):
    """Writes ``size`` bytes of TEXT with the Content-Type given in the query."""

    def get(self) -> None:
        ctype = self.get_argument("type", None)
        if ctype is not None:
            self.set_header("Content-Type", ctype)
        size = int(self.get_argument("size", str(len(TEXT))))
        self.write((TEXT * (size // len(TEXT) + 1))[:size])

    head = get


class JSONHandler(RequestHandler):
    def get(self) -> None:
        self.write({"items": [f"item {i}" for i in range(200)]})


class StreamHandler(RequestHandler):
    async def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        for piece in (b"small first piece ", TEXT, b" and a tail"):
            self.write(piece)
            await self.flush()


class EncodedHandler(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Encoding", "br")
        self.set_header("Content-Type", "text/plain")
        self.write(TEXT)


class VaryHandler(RequestHandler):
    def get(self) -> None:
        self.set_header("Vary", "Cookie")
        self.write(TEXT)


class NoBodyHandler(RequestHandler):
    def get(self, code: str) -> None:
        self.set_status(int(code))


class GZipTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application(
            [
                ("/typed", TypedHandler),
                ("/json", JSONHandler),
                ("/stream", StreamHandler),
                ("/encoded", EncodedHandler),
                ("/vary", VaryHandler),
                (r"/nobody/(\d+)", NoBodyHandler),
            ],
            compress_response=True,
        )

    def raw_fetch(
        self, path: str, headers: dict[str, str] | None = None, **kw: Any
    ) -> HTTPResponse:
        """Fetch without the client decoding anything: the body exactly as sent."""
        return self.fetch(path, headers=headers, decompress_response=False, **kw)

    def assert_gzipped(self, response: HTTPResponse, expected: bytes) -> None:
        assert response.code == 200
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Vary"] == "Accept-Encoding"
        assert gzip.decompress(response.body) == expected
        assert len(response.body) < len(expected)

    def assert_plain(self, response: HTTPResponse, expected: bytes) -> None:
        assert "Content-Encoding" not in response.headers
        assert response.headers["Vary"] == "Accept-Encoding"
        assert response.body == expected

    # -- what is compressed --------------------------------------------------------------------

    def test_large_html_is_compressed_with_an_accurate_content_length(self) -> None:
        response = self.raw_fetch("/typed", GZIP)
        self.assert_gzipped(response, TEXT)
        assert response.headers["Content-Length"] == str(len(response.body))
        assert response.headers["Content-Type"] == "text/html; charset=UTF-8"

    def test_text_and_whitelisted_types_are_compressed(self) -> None:
        for ctype in (
            "text/plain",
            "text/css; charset=utf-8",
            "text/csv",
            "application/javascript",
            "application/x-javascript",
            "application/json",
            "application/xml",
            "application/atom+xml",
            "application/xhtml+xml",
            "image/svg+xml",
            "Text/Plain",
        ):
            response = self.raw_fetch(f"/typed?type={quote(ctype)}", GZIP)
            self.assert_gzipped(response, TEXT)

    def test_dict_output_as_json_is_compressed(self) -> None:
        response = self.raw_fetch("/json", GZIP)
        assert response.headers["Content-Encoding"] == "gzip"
        assert b'"item 199"' in gzip.decompress(response.body)

    def test_other_types_are_not_compressed(self) -> None:
        for ctype in ("image/png", "application/octet-stream", "application/zip", "video/mp4"):
            self.assert_plain(self.raw_fetch(f"/typed?type={ctype}", GZIP), TEXT)

    def test_bodies_under_1024_bytes_are_not_compressed(self) -> None:
        self.assert_plain(self.raw_fetch("/typed?size=1023", GZIP), TEXT[:1023])
        self.assert_gzipped(self.raw_fetch("/typed?size=1024", GZIP), TEXT[:1024])

    def test_client_without_accept_encoding_gets_plain_output(self) -> None:
        response = self.raw_fetch("/typed")
        self.assert_plain(response, TEXT)
        assert response.headers["Content-Length"] == str(len(TEXT))

    def test_client_accepting_only_other_encodings_gets_plain_output(self) -> None:
        self.assert_plain(self.raw_fetch("/typed", {"Accept-Encoding": "deflate, br"}), TEXT)

    def test_gzip_among_several_accepted_encodings_is_used(self) -> None:
        response = self.raw_fetch("/typed", {"Accept-Encoding": "br, gzip;q=0.8, deflate"})
        self.assert_gzipped(response, TEXT)

    def test_decompressing_client_sees_the_original_body(self) -> None:
        response = self.fetch("/typed")  # the client asks for gzip and decodes it
        assert response.body == TEXT

    def test_response_with_its_own_content_encoding_is_left_alone(self) -> None:
        response = self.raw_fetch("/encoded", GZIP)
        assert response.headers["Content-Encoding"] == "br"
        assert response.body == TEXT

    def test_existing_vary_gets_accept_encoding_appended(self) -> None:
        response = self.raw_fetch("/vary", GZIP)
        assert response.headers["Vary"] == "Cookie, Accept-Encoding"
        assert gzip.decompress(response.body) == TEXT

    def test_etag_is_computed_on_the_uncompressed_body(self) -> None:
        plain = self.raw_fetch("/typed")
        zipped = self.raw_fetch("/typed", GZIP)
        assert plain.headers["Etag"] == zipped.headers["Etag"]
        etag = zipped.headers["Etag"]
        assert self.raw_fetch("/typed", {**GZIP, "If-None-Match": etag}).code == 304

    def test_no_body_statuses_are_not_compressed(self) -> None:
        for code in (204, 304):
            response = self.raw_fetch(f"/nobody/{code}", GZIP)
            assert response.code == code
            assert "Content-Encoding" not in response.headers
            assert response.body == b""

    def test_head_reports_the_compressed_headers_without_a_body(self) -> None:
        get = self.raw_fetch("/typed", GZIP)
        head = self.raw_fetch("/typed", GZIP, method="HEAD")
        assert head.headers["Content-Encoding"] == "gzip"
        assert head.headers["Content-Length"] == get.headers["Content-Length"]
        assert head.body == b""

    # -- streaming -----------------------------------------------------------------------------

    @gen_test
    async def test_streamed_response_is_compressed_chunked_without_content_length(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        try:
            await client.send(request("GET", "/stream", GZIP))
            response = await client.read_response()
        finally:
            await client.close()
        assert response.header("Content-Encoding") == "gzip"
        assert response.header("Content-Length") is None
        assert response.chunked
        expected = b"small first piece " + TEXT + b" and a tail"
        assert gzip.decompress(response.body) == expected

    @gen_test
    async def test_each_streamed_piece_can_be_decoded_as_it_arrives(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        try:
            await client.send(request("GET", "/stream", GZIP))
            head = await client.reader.readuntil(b"\r\n\r\n")
            assert b"Content-Encoding: gzip" in head
            size_line = await client.reader.readuntil(b"\r\n")
            first_chunk = await client.reader.readexactly(int(size_line, 16))
            await client.reader.readexactly(2)
            # The first flush was synced: what came so far decodes to the first piece.
            decoder = zlib.decompressobj(wbits=31)
            assert decoder.decompress(first_chunk) == b"small first piece "
        finally:
            await client.close()

    def test_streaming_client_without_gzip_gets_plain_chunks(self) -> None:
        response = self.raw_fetch("/stream")
        assert "Content-Encoding" not in response.headers
        assert response.body == b"small first piece " + TEXT + b" and a tail"


def test_gzip_constants_match_tornado() -> None:
    assert GZipContentEncoding.GZIP_LEVEL == 6
    assert GZipContentEncoding.MIN_LENGTH == 1024

"""Tests for squall._web.static.StaticFileHandler, over a real server on 127.0.0.1.

httpx is the client for ordinary requests. Traversal attempts go through a raw socket,
because httpx would normalise ``..`` and ``//`` out of the URL before sending it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email.utils
import functools
import hashlib
import logging
import os
import tracemalloc
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from pathlib import Path
from typing import Any, ParamSpec

import httpx
import pytest

from squall._web.application import Application
from squall._web.errors import HTTPError
from squall._web.handler import RequestHandler
from squall._web.static import StaticFileHandler, _byte_range
from squall.httpserver import HTTPServer
from squall.netutil import bind_sockets

P = ParamSpec("P")

BODY = bytes(range(100))  # 100 distinct bytes: every range is easy to check
SECRET = b"top secret, outside the root"
MAX_AGE = 86400 * 365 * 10


def async_test(fn: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test function on a fresh asyncio loop, with a 30 s ceiling."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        # asyncio.run() would get squall's loop (uvloop): this helper means asyncio's own.
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
            runner.run(asyncio.wait_for(fn(*args, **kwargs), 30))

    return wrapper


class Served:
    """A running server: its port and an httpx client pointed at it."""

    def __init__(self, port: int, client: httpx.AsyncClient) -> None:
        self.port = port
        self.client = client

    async def raw(
        self, target: str, method: str = "GET", headers: tuple[str, ...] = ()
    ) -> tuple[int, dict[str, str], bytes]:
        """Send ``target`` byte for byte (no URL normalisation); status, headers, body."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
            writer.write(("\r\n".join([*lines, *headers]) + "\r\n\r\n").encode("latin-1"))
            await writer.drain()
            data = await reader.read()
        finally:
            writer.close()
            await writer.wait_closed()
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parsed = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            parsed[name.strip().lower()] = value.strip()
        return int(status_line.split()[1]), parsed, body


@contextlib.asynccontextmanager
async def serve(app: Application) -> AsyncIterator[Served]:
    """Serve ``app`` on an unused 127.0.0.1 port for the duration of the block."""
    socks = bind_sockets(0, "127.0.0.1")
    port = socks[0].getsockname()[1]
    server = HTTPServer(app)
    server.add_sockets(socks)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield Served(port, client)
    finally:
        server.stop()
        await server.close_all_connections()


@pytest.fixture(autouse=True)
def _fresh_hash_cache() -> Generator[None, None, None]:
    StaticFileHandler.reset()
    yield
    StaticFileHandler.reset()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A static folder with a few files, a sub-folder, and symlinks in and out of it."""
    static = tmp_path / "static"
    static.mkdir()
    (static / "data.txt").write_bytes(BODY)
    (static / "style.css").write_text("body { color: red }")
    (static / "blob.unknownext").write_bytes(b"\x00\x01")
    (static / "bundle.tar.gz").write_bytes(b"\x1f\x8b fake gzip")
    (static / "notes.txt.bz2").write_bytes(b"BZh fake bzip2")
    (static / "empty.txt").write_bytes(b"")
    (static / "favicon.ico").write_bytes(b"icon")
    (static / "sub").mkdir()
    (static / "sub" / "index.html").write_text("<p>index</p>")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (static / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (static / "outdir").symlink_to(tmp_path, target_is_directory=True)
    (static / "alias.txt").symlink_to(static / "data.txt")
    return static


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


# -- plain GET and its headers -------------------------------------------------------------


@async_test
async def test_get_serves_file_with_length_type_accept_ranges_and_validators(root: Path) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/static/data.txt")
    assert r.status_code == 200
    assert r.content == BODY
    assert r.headers["content-length"] == "100"
    assert r.headers["content-type"] == "text/plain"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"] == f'"{sha512(BODY)}"'
    mtime = int(os.stat(root / "data.txt").st_mtime)
    assert email.utils.parsedate_to_datetime(r.headers["last-modified"]).timestamp() == mtime
    assert "cache-control" not in r.headers
    assert "expires" not in r.headers


@async_test
async def test_etag_is_set_once_by_the_static_handler_not_by_finish(root: Path) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/static/data.txt")
    assert r.headers.get_list("etag") == [f'"{sha512(BODY)}"']  # SHA-512, not finish()'s SHA-1


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("style.css", "text/css"),
        ("bundle.tar.gz", "application/gzip"),
        ("notes.txt.bz2", "application/octet-stream"),
        ("blob.unknownext", "application/octet-stream"),
        ("sub/index.html", "text/html"),
    ],
)
@async_test
async def test_content_type_comes_from_the_file_name(root: Path, name: str, expected: str) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get(f"/static/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"] == expected


@async_test
async def test_empty_file_is_200_with_zero_length(root: Path) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/static/empty.txt")
    assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "0")


@async_test
async def test_missing_file_is_404(root: Path) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/static/nope.txt")
    assert r.status_code == 404


@async_test
async def test_post_is_405(root: Path) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.post("/static/data.txt", content=b"x")
    assert r.status_code == 405


@async_test
async def test_static_path_also_serves_favicon_at_the_site_root(root: Path) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/favicon.ico")
    assert (r.status_code, r.content) == (200, b"icon")


@async_test
async def test_symlink_to_a_file_inside_the_root_is_served(root: Path) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/static/alias.txt")
    assert (r.status_code, r.content) == (200, BODY)


# -- HEAD ----------------------------------------------------------------------------------


@async_test
async def test_head_sends_the_get_headers_without_a_body(root: Path) -> None:
    async with serve(Application(static_path=str(root))) as s:
        status, headers, body = await s.raw("/static/data.txt", method="HEAD")
    assert status == 200
    assert body == b""
    assert headers["content-length"] == "100"
    assert headers["etag"] == f'"{sha512(BODY)}"'
    assert headers["accept-ranges"] == "bytes"
    assert "last-modified" in headers


@async_test
async def test_head_with_range_reports_the_partial_length(root: Path) -> None:
    async with serve(Application(static_path=str(root))) as s:
        status, headers, body = await s.raw(
            "/static/data.txt", method="HEAD", headers=("Range: bytes=10-19",)
        )
    assert (status, body) == (206, b"")
    assert headers["content-length"] == "10"
    assert headers["content-range"] == "bytes 10-19/100"


# -- conditional requests ------------------------------------------------------------------


@async_test
async def test_if_none_match_with_the_etag_gives_304_without_body(root: Path) -> None:
    async with serve(Application(static_path=str(root))) as s:
        etag = (await s.client.get("/static/data.txt")).headers["etag"]
        r = await s.client.get("/static/data.txt", headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == etag
    assert "content-type" not in r.headers


@pytest.mark.parametrize("value", ["*", 'W/"{etag}"', '"other", "{etag}"'])
@async_test
async def test_if_none_match_star_weak_and_lists_match(root: Path, value: str) -> None:
    async with serve(Application(static_path=str(root))) as s:
        header = value.format(etag=sha512(BODY))
        r = await s.client.get("/static/data.txt", headers={"If-None-Match": header})
    assert r.status_code == 304


@async_test
async def test_if_none_match_decides_alone_over_a_fresh_if_modified_since(root: Path) -> None:
    future = email.utils.formatdate(os.stat(root / "data.txt").st_mtime + 3600, usegmt=True)
    headers = {"If-None-Match": '"not-it"', "If-Modified-Since": future}
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/static/data.txt", headers=headers)
    assert (r.status_code, r.content) == (200, BODY)


@pytest.mark.parametrize(("offset", "status"), [(0, 304), (3600, 304), (-3600, 200)])
@async_test
async def test_if_modified_since_compares_with_the_mtime(
    root: Path, offset: int, status: int
) -> None:
    mtime = int(os.stat(root / "data.txt").st_mtime)
    since = email.utils.formatdate(mtime + offset, usegmt=True)
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/static/data.txt", headers={"If-Modified-Since": since})
    assert r.status_code == status
    assert r.content == (b"" if status == 304 else BODY)


@pytest.mark.parametrize("value", ["yesterday", "Mon, 99 Foo 2020 99:99:99 GMT", ""])
@async_test
async def test_invalid_if_modified_since_is_ignored(root: Path, value: str) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/static/data.txt", headers={"If-Modified-Since": value})
    assert (r.status_code, r.content) == (200, BODY)


# -- versioned URLs and caching ------------------------------------------------------------


@async_test
async def test_versioned_request_is_cacheable_for_ten_years(root: Path) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/static/data.txt?v=abc")
    assert r.status_code == 200
    assert r.headers["cache-control"] == f"max-age={MAX_AGE}"
    expires = email.utils.parsedate_to_datetime(r.headers["expires"])
    expected = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=MAX_AGE)
    assert abs((expires - expected).total_seconds()) < 60


@async_test
async def test_hash_is_cached_per_path_until_reset(root: Path) -> None:
    async with serve(Application(static_path=str(root))) as s:
        first = (await s.client.get("/static/data.txt")).headers["etag"]
        (root / "data.txt").write_bytes(b"changed")
        cached = (await s.client.get("/static/data.txt")).headers["etag"]
        StaticFileHandler.reset()
        fresh = (await s.client.get("/static/data.txt")).headers["etag"]
    assert first == cached == f'"{sha512(BODY)}"'
    assert fresh == f'"{sha512(b"changed")}"'


@async_test
async def test_static_hash_cache_false_rehashes_every_request(root: Path) -> None:
    async with serve(Application(static_path=str(root), static_hash_cache=False)) as s:
        first = (await s.client.get("/static/data.txt")).headers["etag"]
        (root / "data.txt").write_bytes(b"changed")
        second = (await s.client.get("/static/data.txt")).headers["etag"]
    assert (first, second) == (f'"{sha512(BODY)}"', f'"{sha512(b"changed")}"')


# -- ranges --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 10),
        ("bytes=10-19", 10, 20),
        ("bytes=5-5", 5, 6),
        ("bytes=90-", 90, 100),
        ("bytes=95-200", 95, 100),  # end clamped to the size
        ("bytes=-10", 90, 100),  # suffix: the last 10 bytes
        ("bytes=-1", 99, 100),
        ("bytes=0-98", 0, 99),
        ("bytes = 1 - 2", 1, 3),  # whitespace around the parts is tolerated
    ],
)
@async_test
async def test_satisfiable_partial_range_gives_206(
    root: Path, header: str, start: int, end: int
) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/static/data.txt", headers={"Range": header})
    assert r.status_code == 206
    assert r.content == BODY[start:end]
    assert r.headers["content-range"] == f"bytes {start}-{end - 1}/100"
    assert r.headers["content-length"] == str(end - start)


@pytest.mark.parametrize(
    "header", ["bytes=0-", "bytes=0-99", "bytes=0-1000", "bytes=-100", "bytes=-500"]
)
@async_test
async def test_range_covering_the_whole_file_gives_200(root: Path, header: str) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/static/data.txt", headers={"Range": header})
    assert (r.status_code, r.content) == (200, BODY)
    assert "content-range" not in r.headers


@pytest.mark.parametrize(
    "header", ["bytes=100-", "bytes=100-200", "bytes=1000-", "bytes=-0", "bytes=5-3"]
)
@async_test
async def test_unsatisfiable_range_gives_416_with_the_size(root: Path, header: str) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/static/data.txt", headers={"Range": header})
    assert r.status_code == 416
    assert r.headers["content-range"] == "bytes */100"
    assert r.content == b""


@async_test
async def test_any_suffix_range_of_an_empty_file_is_416(root: Path) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/static/empty.txt", headers={"Range": "bytes=-5"})
    assert (r.status_code, r.headers["content-range"]) == (416, "bytes */0")


@pytest.mark.parametrize(
    "header",
    ["bytes=0-1,5-6", "items=0-5", "bytes=abc", "bytes=-", "bytes=+1-2", "bytes=1-2-3", "0-5"],
)
@async_test
async def test_invalid_or_multiple_ranges_are_ignored(root: Path, header: str) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/static/data.txt", headers={"Range": header})
    assert (r.status_code, r.content) == (200, BODY)


@async_test
async def test_range_and_matching_if_none_match_gives_304(root: Path) -> None:
    headers = {"Range": "bytes=0-9", "If-None-Match": f'"{sha512(BODY)}"'}
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get("/static/data.txt", headers=headers)
    assert r.status_code == 304


def test_byte_range_parser_edge_cases() -> None:
    assert _byte_range(None, 10) is None
    assert _byte_range("bytes=2-4", 10) == (2, 5)
    assert _byte_range("bytes=-3", 10) == (7, 10)
    assert _byte_range("bytes=-30", 10) == (0, 10)
    assert _byte_range("bytes=0-0", 10) == (0, 1)
    assert _byte_range("bytes=0-", 0) == _byte_range("bytes=10-", 10) == (-1, -1)


# -- confinement to the root ---------------------------------------------------------------

TRAVERSALS = [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/..%2fsecret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/sub/../../secret.txt",
    "/static/sub/%2e%2e/%2e%2e/secret.txt",
    "/static/escape.txt",  # symlink pointing out of the root
    "/static/outdir/secret.txt",  # through a symlinked directory
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/%2Fetc/passwd",
]


@pytest.mark.parametrize("target", TRAVERSALS)
@async_test
async def test_paths_leading_out_of_the_root_are_403(root: Path, target: str) -> None:
    async with serve(Application(static_path=str(root))) as s:
        status, _, body = await s.raw(target)
    assert status == 403
    assert SECRET not in body
    assert b"root:" not in body


@pytest.mark.parametrize("target", ["/static/data.txt%00.png", "/static/%00", "/static/sub%00/"])
@async_test
async def test_nul_byte_in_the_path_is_400(root: Path, target: str) -> None:
    async with serve(Application(static_path=str(root))) as s:
        status, _, _ = await s.raw(target)
    assert status == 400


@async_test
async def test_backslash_is_an_ordinary_character_on_posix(root: Path) -> None:
    (root / "a\\b.txt").write_bytes(b"backslash")
    async with serve(Application(static_path=str(root))) as s:
        ok = await s.raw("/static/a%5Cb.txt")
        up = await s.raw("/static/..%5Csecret.txt")
    assert (ok[0], ok[2]) == (200, b"backslash")
    assert up[0] == 404  # a file literally named "..\secret.txt": there is none


def test_get_version_refuses_paths_outside_the_root(root: Path) -> None:
    settings = {"static_path": str(root)}
    # Outside as written: 403, as Tornado 6.6 (static_url must never read there).
    with pytest.raises(HTTPError) as refused:
        StaticFileHandler.get_version(settings, "../secret.txt")
    assert refused.value.status_code == 403
    # A symlink inside the folder gets its target's version, as in Tornado (the URL shows
    # the hash only, never the content, which the handler still refuses to serve).
    assert StaticFileHandler.get_version(settings, "escape.txt") == sha512(SECRET)
    assert StaticFileHandler.get_version(settings, "data\x00.txt") is None
    assert StaticFileHandler.get_version(settings, "data.txt") == sha512(BODY)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_get_version_of_a_non_regular_file_is_none_without_blocking(
    root: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A FIFO without a writer, or /dev/zero, would block or hash forever if opened as a file.
    target = root / "special"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    StaticFileHandler.reset()
    with caplog.at_level(logging.ERROR, logger="squall.general"):
        assert StaticFileHandler.get_version({"static_path": str(root)}, "special") is None
    assert "Could not open static file" in caplog.text
    assert "is not a file" in caplog.text


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_content_of_a_device_is_refused_not_read_forever() -> None:
    with pytest.raises(OSError, match="is not a file"):
        StaticFileHandler.get_content_version("/dev/zero")


# -- directories ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/static/sub", "/static/sub/", "/static/"])
@async_test
async def test_directory_without_default_filename_is_403(root: Path, target: str) -> None:
    async with serve(Application(static_path=str(root))) as s:
        r = await s.client.get(target)
    assert r.status_code == 403


@async_test
async def test_directory_with_default_filename_serves_it_and_redirects_to_add_slash(
    root: Path,
) -> None:
    args = {"default_filename": "index.html"}
    app = Application(static_path=str(root), static_handler_args=args)
    async with serve(app) as s:
        index = await s.client.get("/static/sub/")
        bare = await s.client.get("/static/sub")
        top = await s.client.get("/static/")
    assert (index.status_code, index.text) == (200, "<p>index</p>")
    assert bare.status_code == 301
    assert bare.headers["location"] == "/static/sub/"
    assert top.status_code == 404  # no index.html at the top level


@async_test
async def test_directory_redirect_refuses_a_path_starting_with_two_slashes_or_a_backslash(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rule = (r"/+files/(.*)", StaticFileHandler, {"path": str(root), "default_filename": "x"})
    async with serve(Application([rule])) as s:
        with caplog.at_level(logging.WARNING, logger="squall.general"):
            status, headers, _ = await s.raw("//files/sub")
        ok_status, ok_headers, _ = await s.raw("/files/sub")
    # At the root, "/\\evil.com/../sub" is the folder sub: its slash-adding redirect would
    # send a browser to evil.com.
    args = {"default_filename": "x"}
    app = Application(static_path=str(root), static_url_prefix="/", static_handler_args=args)
    async with serve(app) as s:
        with caplog.at_level(logging.WARNING, logger="squall.general"):
            backslash, backslash_headers, _ = await s.raw("/\\evil.com/../sub")
    assert status == backslash == 403
    assert "location" not in headers and "location" not in backslash_headers
    assert "two initial slashes" in caplog.text
    assert (ok_status, ok_headers["location"]) == (301, "/files/sub/")


@async_test
async def test_default_filename_symlinked_out_of_the_root_is_403(root: Path) -> None:
    (root / "trap").mkdir()
    (root / "trap" / "index.html").symlink_to(root.parent / "secret.txt")
    args = {"default_filename": "index.html"}
    async with serve(Application(static_path=str(root), static_handler_args=args)) as s:
        status, _, body = await s.raw("/static/trap/")
    assert status == 403
    assert SECRET not in body


# -- large files, chunking and memory ------------------------------------------------------


class ChunkRecordingHandler(StaticFileHandler):
    """Records the chunk sizes of each get_content call."""

    calls: list[list[int]] = []

    @classmethod
    def get_content(
        cls, abspath: str, start: int | None = None, end: int | None = None
    ) -> Generator[bytes, None, None]:
        sizes: list[int] = []
        cls.calls.append(sizes)
        for chunk in super().get_content(abspath, start, end):
            sizes.append(len(chunk))
            yield chunk


@async_test
async def test_large_file_is_served_byte_exact_in_64k_chunks(root: Path) -> None:
    data = os.urandom(5 * 1024 * 1024 + 123)
    (root / "big.bin").write_bytes(data)
    ChunkRecordingHandler.calls = []
    app = Application(static_path=str(root), static_handler_class=ChunkRecordingHandler)
    async with serve(app) as s:
        r = await s.client.get("/static/big.bin")
        part = await s.client.get("/static/big.bin", headers={"Range": "bytes=65530-200000"})
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["etag"] == f'"{sha512(data)}"'
    assert (part.status_code, part.content) == (206, data[65530:200001])
    # Calls: the ETag hash, the full body, then the range (the hash is cached by then).
    hashing, full, ranged = ChunkRecordingHandler.calls
    assert len(full) == 81 and max(full) == 64 * 1024 and sum(full) == len(data)
    assert len(hashing) == 81  # the hash reads in chunks as well
    assert sum(ranged) == 200001 - 65530 and max(ranged) <= 64 * 1024


def test_get_content_yields_bounded_chunks_for_a_byte_range(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    whole = list(StaticFileHandler.get_content(str(path)))
    assert b"".join(whole) == data
    assert [len(c) for c in whole] == [65536] * 4 + [300_000 - 4 * 65536]
    assert (
        b"".join(StaticFileHandler.get_content(str(path), 70_000, 140_001)) == data[70_000:140_001]
    )
    assert b"".join(StaticFileHandler.get_content(str(path), 299_990)) == data[299_990:]
    assert b"".join(StaticFileHandler.get_content(str(path), None, 10)) == data[:10]


@async_test
async def test_serving_a_big_file_keeps_memory_bounded(root: Path) -> None:
    size = 64 * 1024 * 1024
    with open(root / "sparse.bin", "wb") as f:
        f.truncate(size)  # sparse: cheap to create, real bytes to read
    async with serve(Application(static_path=str(root))) as s:
        await s.client.head("/static/sparse.bin")  # hash it first (also chunked)
        tracemalloc.start()
        try:
            received = 0
            async with s.client.stream("GET", "/static/sparse.bin") as r:
                async for piece in r.aiter_raw():
                    received += len(piece)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert received == size
    # Bounded by the write buffer's limits, not by the file: 5-6 MiB alone, up to 9 MiB when
    # other tests load the machine (the client here shares the server's loop and lags).
    assert peak < 16 * 1024 * 1024, f"peak {peak} bytes while serving {size}"


# -- static_url ----------------------------------------------------------------------------


class UrlHandler(RequestHandler):
    def get(self) -> None:
        self.write(
            {
                "versioned": self.static_url("data.txt"),
                "plain": self.static_url("data.txt", include_version=False),
                "missing": self.static_url("nope.txt"),
                "host": self.static_url("data.txt", include_host=True),
            }
        )


@async_test
async def test_static_url_appends_the_full_content_hash(root: Path) -> None:
    async with serve(Application([(r"/urls", UrlHandler)], static_path=str(root))) as s:
        urls = (await s.client.get("/urls")).json()
        fetched = await s.client.get(urls["versioned"])
    assert urls["versioned"] == f"/static/data.txt?v={sha512(BODY)}"
    assert urls["plain"] == "/static/data.txt"
    assert urls["missing"] == "/static/nope.txt"
    assert urls["host"] == f"http://127.0.0.1:{s.port}/static/data.txt?v={sha512(BODY)}"
    assert fetched.headers["etag"] == f'"{sha512(BODY)}"'
    assert fetched.headers["cache-control"] == f"max-age={MAX_AGE}"


@async_test
async def test_static_url_prefix_setting_moves_both_the_urls_and_the_route(root: Path) -> None:
    app = Application([(r"/urls", UrlHandler)], static_path=str(root), static_url_prefix="/s/")
    async with serve(app) as s:
        url = (await s.client.get("/urls")).json()["versioned"]
        r = await s.client.get(url)
    assert url.startswith("/s/data.txt?v=")
    assert (r.status_code, r.content) == (200, BODY)


def test_make_static_url_is_a_classmethod_using_the_settings(root: Path) -> None:
    settings = {"static_path": str(root), "static_url_prefix": "/assets/"}
    assert StaticFileHandler.make_static_url(settings, "data.txt") == (
        f"/assets/data.txt?v={sha512(BODY)}"
    )
    assert StaticFileHandler.make_static_url(settings, "data.txt", include_version=False) == (
        "/assets/data.txt"
    )


# -- override points -----------------------------------------------------------------------


class CustomHandler(StaticFileHandler):
    def set_extra_headers(self, path: str) -> None:
        self.set_header("X-Served-Path", path)

    def get_cache_time(self, path: str, modified: datetime.datetime | None, mime_type: str) -> int:
        return 60

    def compute_etag(self) -> str | None:
        return None


@async_test
async def test_override_points_are_honoured(root: Path) -> None:
    app = Application(static_path=str(root), static_handler_class=CustomHandler)
    async with serve(app) as s:
        r = await s.client.get("/static/sub/index.html")
    assert r.status_code == 200
    assert r.headers["x-served-path"] == "sub/index.html"
    assert r.headers["cache-control"] == "max-age=60"
    assert "etag" not in r.headers  # compute_etag() -> None: no ETag, not finish()'s SHA-1


@async_test
async def test_client_disconnecting_mid_body_does_not_break_the_server(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (root / "big.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    caplog.set_level(logging.INFO, logger="squall.access")
    async with serve(Application(static_path=str(root))) as s:
        await s.client.head("/static/big.bin")
        reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
        writer.write(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readexactly(1024)
        writer.transport.abort()
        await writer.wait_closed()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while "200 GET /static/big.bin" not in caplog.text and loop.time() < deadline:
            await asyncio.sleep(0.01)  # poll for the access-log line of the aborted request
        r = await s.client.get("/static/data.txt")
    assert "200 GET /static/big.bin" in caplog.text
    assert (r.status_code, r.content) == (200, BODY)
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]

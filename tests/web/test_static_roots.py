"""StaticFileHandler's roots and versions (Tornado 6.6), over real sockets: symlinks allowed
out of the root by ``allowed_symlink_directory`` (a folder or a list), a subclass searching
several roots (its own ``initialize`` and ``get_absolute_path``, as notebook servers write
it), ``static_path`` as a list through ``static_url``, a handler built by hand, the size limit
of a version and the bounded, least-recently-used version cache."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from squall._util import DONE
from squall.httputil import HTTPHeaders, HTTPServerRequest
from squall.testing import AsyncHTTPTestCase, ExpectLog
from squall.web import Application, HTTPError, RequestHandler, StaticFileHandler


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


@pytest.fixture(autouse=True)
def _fresh_versions() -> Any:
    StaticFileHandler.reset()
    yield
    StaticFileHandler.reset()


def make_tree(top: Path) -> dict[str, Path]:
    """static/ (inside.txt, links out), outside/, outside2/, and a file in neither."""
    static, outside, outside2 = top / "static", top / "outside", top / "outside2"
    for folder in (static, outside, outside2):
        folder.mkdir()
    (static / "inside.txt").write_text("inside")
    (outside / "secret.txt").write_text("secret")
    (outside2 / "other.txt").write_text("other")
    (top / "elsewhere.txt").write_text("elsewhere")
    (static / "link.txt").symlink_to(outside / "secret.txt")
    (static / "linkdir").symlink_to(outside, target_is_directory=True)
    (static / "link2.txt").symlink_to(outside2 / "other.txt")
    (static / "link_elsewhere.txt").symlink_to(top / "elsewhere.txt")
    (static / "link_missing").symlink_to(outside / "nope")
    (outside / "realdir").mkdir()
    (static / "link_exists").symlink_to(outside / "realdir", target_is_directory=True)
    return {"top": top, "static": static, "outside": outside, "outside2": outside2}


class SymlinkTest(AsyncHTTPTestCase):
    def setUp(self) -> None:
        self.tmp = Path(self.enterContext(_tempdir()))
        self.tree = make_tree(self.tmp)
        super().setUp()

    def get_app(self) -> Application:
        t = self.tree
        root = str(t["static"])
        return Application(
            [
                ("/default/(.*)", StaticFileHandler, {"path": root}),
                (
                    "/one/(.*)",
                    StaticFileHandler,
                    {"path": root, "allowed_symlink_directory": str(t["top"])},
                ),
                (
                    "/list/(.*)",
                    StaticFileHandler,
                    {
                        "path": root,
                        "allowed_symlink_directory": [root, str(t["outside"]), str(t["outside2"])],
                    },
                ),
                (
                    "/index/(.*)",
                    StaticFileHandler,
                    {"path": root, "default_filename": "index.html"},
                ),
            ]
        )

    def refused(self, path: str) -> None:
        with ExpectLog("squall.general", ".*is not in root static directory"):
            response = self.fetch(path, follow_redirects=False)
        assert response.code == 403, path
        assert b"secret" not in response.body

    def test_symlinks_out_of_the_root_are_refused_by_default(self) -> None:
        assert self.fetch("/default/inside.txt").body == b"inside"
        self.refused("/default/link.txt")
        self.refused("/default/linkdir/secret.txt")

    def test_an_allowed_folder_lets_its_symlinks_be_served(self) -> None:
        assert self.fetch("/one/link.txt").body == b"secret"
        assert self.fetch("/one/linkdir/secret.txt").body == b"secret"
        assert self.fetch("/one/inside.txt").body == b"inside"

    def test_a_list_of_allowed_folders_replaces_the_root(self) -> None:
        for path, body in [
            ("inside.txt", b"inside"),
            ("link.txt", b"secret"),
            ("link2.txt", b"other"),
        ]:
            response = self.fetch("/list/" + path)
            assert (response.code, response.body) == (200, body), path
        self.refused("/list/link_elsewhere.txt")

    def test_a_symlink_out_is_refused_alike_whether_its_target_exists_or_not(self) -> None:
        self.refused("/index/link_exists")
        self.refused("/index/link_missing")


class MultiRootHandler(StaticFileHandler):
    """Searches several folders; its initialize does not call StaticFileHandler's, and its
    root is a tuple (how notebook servers' file-finding handlers are written)."""

    root: tuple[str, ...]

    def initialize(self, path: list[str]) -> None:  # type: ignore[override]
        self.root = tuple(os.path.abspath(p) + os.sep for p in path)

    @classmethod
    def get_absolute_path(cls, roots: Any, path: str) -> str:
        for root in roots:
            candidate = os.path.abspath(os.path.join(root, path))
            if os.path.exists(candidate):
                return candidate
        return os.path.abspath(os.path.join(roots[0], path))

    def validate_absolute_path(self, root: Any, absolute_path: str) -> str | None:
        for candidate in self.root:
            if (absolute_path + os.sep).startswith(candidate):
                root = candidate
                break
        return super().validate_absolute_path(root, absolute_path)


class PageHandler(RequestHandler):
    def get(self, name: str) -> None:
        self.write(self.static_url(name))


class MultiRootTest(AsyncHTTPTestCase):
    def setUp(self) -> None:
        self.tmp = Path(self.enterContext(_tempdir()))
        self.roots = [self.tmp / "one", self.tmp / "two"]
        for folder in self.roots:
            folder.mkdir()
        (self.roots[0] / "a.txt").write_text("first")
        (self.roots[1] / "b.txt").write_text("second")
        (self.roots[1] / "cross.txt").symlink_to(self.roots[0] / "a.txt")
        super().setUp()

    def get_app(self) -> Application:
        paths = [str(p) for p in self.roots]
        return Application(
            [("/multi/(.*)", MultiRootHandler, {"path": paths}), ("/page/(.*)", PageHandler)],
            static_path=paths,
            static_handler_class=MultiRootHandler,
        )

    def test_each_root_is_searched_with_the_subclass_state(self) -> None:
        assert self.fetch("/multi/a.txt").body == b"first"
        response = self.fetch("/multi/b.txt")
        assert response.body == b"second"
        assert response.headers["Etag"] == f'"{sha512(b"second")}"'
        assert self.fetch("/static/b.txt").body == b"second"  # the static_path rule too

    def test_a_symlink_from_one_root_into_another_is_still_an_escape(self) -> None:
        with ExpectLog("squall.general", ".*is not in root static directory"):
            assert self.fetch("/multi/cross.txt").code == 403

    def test_static_url_with_a_list_static_path_uses_the_override(self) -> None:
        for name, body in [("a.txt", b"first"), ("b.txt", b"second")]:
            response = self.fetch("/page/" + name)
            assert response.code == 200
            assert response.body.decode() == f"/static/{name}?v={sha512(body)}"


class _Connection:
    """Just enough of a connection for a handler built by hand: it keeps what is written."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def set_close_callback(self, callback: Any) -> None:
        pass

    def write_headers(self, start_line: Any, headers: Any, chunk: bytes = b"") -> Any:
        self.written.append(chunk)
        return DONE

    def write(self, chunk: bytes) -> Any:
        self.written.append(chunk)
        return DONE

    def finish(self) -> None:
        pass


class BareStaticHandler(StaticFileHandler):
    """An initialize that does not call StaticFileHandler's: the state is set by hand."""

    def initialize(self) -> None:
        pass


@pytest.mark.parametrize("how", ["constructor", "bare-initialize"])
def test_a_handler_built_by_hand_serves_a_file(tmp_path: Path, how: str) -> None:
    (tmp_path / "hand.txt").write_text("made by hand")
    connection = _Connection()
    request = HTTPServerRequest(
        "GET", "/hand.txt", headers=HTTPHeaders({"Host": "x"}), connection=connection
    )
    handler: StaticFileHandler
    if how == "constructor":
        handler = StaticFileHandler(Application(), request, path=str(tmp_path))
    else:
        handler = BareStaticHandler(Application(), request)
        handler.root = str(tmp_path)
    assert handler._stat_result is None and handler.absolute_path is None

    async def run() -> None:
        await handler.get("hand.txt")
        handler.finish()

    asyncio.run(run())
    assert b"".join(connection.written) == b"made by hand"
    assert handler.absolute_path == str(tmp_path / "hand.txt")
    assert handler._stat_result is not None and handler._stat_result.st_size == 12


def test_get_version_refuses_traversal_with_403_and_versions_links_inside(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    settings = {"static_path": str(tree["static"])}
    with pytest.raises(HTTPError) as refused:
        StaticFileHandler.get_version(settings, "../outside/secret.txt")
    assert refused.value.status_code == 403
    assert StaticFileHandler.get_version(settings, "inside.txt") == sha512(b"inside")


def test_content_above_the_size_limit_gets_no_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "six.txt").write_text("sixsix")

    class Small(StaticFileHandler):
        MAX_VERSION_CONTENT_SIZE = 6

    settings = {"static_path": str(tmp_path)}
    assert Small.get_version(settings, "six.txt") == sha512(b"sixsix")
    Small.reset()
    Small.MAX_VERSION_CONTENT_SIZE = 5
    with caplog.at_level(logging.ERROR, logger="squall.general"):
        assert Small.get_version(settings, "six.txt") is None
    assert "Could not open static file" in caplog.text and "larger than 5" in caplog.text


def test_content_from_an_override_is_measured_as_it_is_read(tmp_path: Path) -> None:
    class FromMemory(StaticFileHandler):
        MAX_VERSION_CONTENT_SIZE = 10

        @classmethod
        def get_content(cls, abspath: str, start: int | None = None, end: int | None = None) -> Any:
            yield b"12345678"
            yield b"90ab"

    with pytest.raises(ValueError, match="larger than 10"):
        FromMemory.get_content_version("not-a-file-anywhere")


def test_the_version_cache_keeps_the_most_recently_used(tmp_path: Path) -> None:
    reads: list[str] = []

    class Limited(StaticFileHandler):
        MAX_CACHED_VERSIONS = 2

        @classmethod
        def get_content_version(cls, abspath: str) -> str:
            reads.append(os.path.basename(abspath))
            return super().get_content_version(abspath)

    for name in "abc":
        (tmp_path / name).write_text(name)
    settings = {"static_path": str(tmp_path)}
    for name in "abacab":
        assert Limited.get_version(settings, name) == sha512(name.encode())
    assert reads == ["a", "b", "c", "b"]  # b was the least recently used when c came
    assert len(Limited._static_hashes) == 2


class RangeTest(AsyncHTTPTestCase):
    def setUp(self) -> None:
        self.tmp = Path(self.enterContext(_tempdir()))
        (self.tmp / "f.txt").write_bytes(b"0123456789")
        super().setUp()

    def get_app(self) -> Application:
        return Application(static_path=str(self.tmp))

    def test_a_range_without_a_dash_is_open_ended(self) -> None:
        response = self.fetch("/static/f.txt", headers={"Range": "bytes=10"})
        assert response.code == 416
        assert response.headers["Content-Range"] == "bytes */10"
        response = self.fetch("/static/f.txt", headers={"Range": "bytes=4"})
        assert (response.code, response.body) == (206, b"456789")


def _tempdir() -> Any:
    import tempfile

    return tempfile.TemporaryDirectory()

"""examples/tornado_blog driven over HTTP as a browser would: create the author, sign in,
write a post, see it listed with its UI module's CSS, be refused without the XSRF token, read
the pages in French; and the script itself started as ``blog.py --port=N``."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from squall.httpclient import HTTPResponse
from squall.testing import AsyncHTTPTestCase, ExpectLog
from squall.web import Application, RequestHandler
from tests.helpers.locale_state import isolated_locale_state

BLOG = Path(__file__).resolve().parents[2] / "examples" / "tornado_blog" / "blog.py"


def load_blog() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tornado_blog_example", BLOG)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    setattr(module, "PASSWORD_ITERATIONS", 1000)  # noqa: B010 - the test need not be slow
    return module


@pytest.fixture(autouse=True)
def isolated() -> Iterator[None]:
    """The blog loads its translations process-wide: put squall.locale back afterwards."""
    with isolated_locale_state():
        yield
    RequestHandler._template_loaders.clear()


class Browser:
    """A cookie jar and the last page's XSRF token, over AsyncHTTPTestCase.fetch."""

    def __init__(self, case: AsyncHTTPTestCase, language: str = "en-US") -> None:
        self.case = case
        self.cookies: dict[str, str] = {}
        self.language = language
        self.token: str | None = None

    def request(self, path: str, **kwargs: Any) -> HTTPResponse:
        headers = {"Accept-Language": self.language, **kwargs.pop("headers", {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.case.fetch(path, headers=headers, follow_redirects=False, **kwargs)
        for header in response.headers.get_list("Set-Cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                expires = morsel["expires"]
                expired = bool(expires) and parsedate_to_datetime(expires) < datetime.now(UTC)
                if morsel["max-age"] == "0" or expired:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        found = re.search(rb'name="_xsrf" value="([^"]+)"', response.body or b"")
        if found:
            self.token = found.group(1).decode()
        return response

    def get(self, path: str) -> HTTPResponse:
        return self.request(path)

    def post(self, path: str, form: dict[str, str], token: bool = True) -> HTTPResponse:
        if token:
            assert self.token is not None, "no form seen yet"
            form = {"_xsrf": self.token, **form}
        return self.request(path, method="POST", body=urllib.parse.urlencode(form))


class BlogTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        self.blog = load_blog()
        folder = self.enterContext(tempfile.TemporaryDirectory())
        self.db = self.blog.Database(os.path.join(folder, "blog.sqlite3"))
        self.addCleanup(self.db.close)
        app: Application = self.blog.BlogApplication(self.db, cookie_secret="test secret")
        return app

    def signed_up(self) -> Browser:
        """A browser that created the blog's author and is signed in."""
        browser = Browser(self)
        first = browser.get("/")
        assert (first.code, first.headers["Location"]) == (302, "/auth/create")
        form = browser.get("/auth/create")
        assert form.code == 200 and browser.token
        created = browser.post(
            "/auth/create",
            {"name": "Ada", "email": "ada@example.com", "password": "correct horse"},
        )
        assert created.code == 302, created.body
        assert "blog_author" in browser.cookies
        return browser

    def test_write_a_post_and_find_it_listed(self) -> None:
        browser = self.signed_up()
        compose = browser.get("/compose")
        assert compose.code == 200
        body = "First paragraph, see https://example.com <b>now</b>.\r\n\r\nSecond one."
        posted = browser.post("/compose", {"title": "Hello, wörld!", "body": body})
        assert (posted.code, posted.headers["Location"]) == (302, "/entry/hello-world")

        home = browser.get("/")
        page = home.body.decode()
        assert home.code == 200
        # The base template's blocks, filled by the page.
        assert "<title>A squall blog</title>" in page
        assert '<a href="/entry/hello-world">Hello, wörld!</a>' in page
        assert (
            '<p>First paragraph, see <a href="https://example.com">https://example.com</a> '
            "&lt;b&gt;now&lt;/b&gt;.</p>"
        ) in page
        assert "<p>Second one.</p>" in page
        assert "By Ada, " in page
        # The Entry module's CSS: its file through static_url and its embedded block, in <head>.
        head = page[: page.index("</head>")]
        assert re.search(r'<link href="/static/entry\.css\?v=[0-9a-f]+" type="text/css"', head)
        assert head.count(".entry .byline") == 1
        assert "Sign out (Ada)" in page

        entry = browser.get("/entry/hello-world")
        assert "<title>Hello, wörld! · A squall blog</title>" in entry.body.decode()
        assert b"/compose?id=1" in entry.body
        archive = browser.get("/archive")
        assert b"<h2>1 post</h2>" in archive.body

    def test_module_css_is_inserted_once_for_many_entries(self) -> None:
        browser = self.signed_up()
        for n in range(3):
            browser.get("/compose")
            browser.post("/compose", {"title": "Same title", "body": f"Post {n}"})
        page = browser.get("/").body.decode()
        assert page.count("/static/entry.css") == 1
        assert page.count(".entry .byline") == 1
        assert page.count('<article class="entry">') == 3
        assert ["same-title", "same-title-2", "same-title-3"] == [
            row.slug for row in self.db.query("SELECT slug FROM entries ORDER BY id")
        ]
        assert b"<h2>3 posts</h2>" in browser.get("/archive").body

    def test_edit_a_post(self) -> None:
        browser = self.signed_up()
        browser.get("/compose")
        browser.post("/compose", {"title": "Draft", "body": "one"})
        form = browser.get("/compose?id=1")
        assert b'name="id" value="1"' in form.body
        saved = browser.post("/compose", {"id": "1", "title": "Final", "body": "two"})
        assert saved.headers["Location"] == "/entry/draft"
        assert b"<p>two</p>" in browser.get("/entry/draft").body

    def test_a_post_without_the_xsrf_token_is_refused(self) -> None:
        browser = self.signed_up()
        browser.get("/compose")
        with ExpectLog("squall.general", ".*'_xsrf' argument missing"):
            with ExpectLog("squall.access", "403 POST /compose"):
                refused = browser.post("/compose", {"title": "x", "body": "y"}, token=False)
        assert refused.code == 403
        with ExpectLog("squall.general", ".*XSRF cookie does not match"):
            with ExpectLog("squall.access", "403 POST /compose"):
                forged = browser.post("/compose", {"_xsrf": "2|00000000|" + "0" * 32 + "|1"})
        assert forged.code == 403
        assert self.db.query("SELECT * FROM entries") == []

    def test_composing_needs_a_sign_in(self) -> None:
        self.signed_up()
        stranger = Browser(self)
        page = stranger.get("/compose")
        assert page.code == 302
        assert page.headers["Location"] == "/auth/login?next=%2Fcompose"
        stranger.get("/auth/login")
        with ExpectLog("squall.access", "403 POST /compose"):
            assert stranger.post("/compose", {"title": "x", "body": "y"}).code == 403

    def test_sign_out_then_in_again(self) -> None:
        browser = self.signed_up()
        out = browser.post("/auth/logout", {})
        assert out.code == 302 and "blog_author" not in browser.cookies
        assert b"Sign out" not in browser.get("/archive").body
        with ExpectLog("squall.access", "403 POST /auth/login"):
            wrong = browser.post(
                "/auth/login", {"email": "ada@example.com", "password": "wrong password"}
            )
        assert wrong.code == 403 and b"Wrong email or password" in wrong.body
        right = browser.post(
            "/auth/login", {"email": "ada@example.com", "password": "correct horse"}
        )
        assert right.code == 302 and "blog_author" in browser.cookies

    def test_a_second_author_cannot_be_created(self) -> None:
        self.signed_up()
        other = Browser(self)
        assert other.get("/auth/create").headers["Location"] == "/auth/login"
        other.get("/auth/login")
        with ExpectLog("squall.general", "403 POST /auth/create"):
            with ExpectLog("squall.access", "403 POST /auth/create"):
                refused = other.post(
                    "/auth/create", {"name": "Eve", "email": "e@x.org", "password": "12345678"}
                )
        assert refused.code == 403

    def test_pages_in_french_from_accept_language(self) -> None:
        browser = self.signed_up()
        browser.get("/compose")
        browser.post("/compose", {"title": "Bonjour", "body": "Texte."})
        browser.language = "fr-FR,fr;q=0.9,en;q=0.5"
        page = browser.get("/").body.decode()
        assert '<html lang="fr" dir="ltr">' in page
        assert ">Accueil</a>" in page and ">Archives</a>" in page
        assert "Se déconnecter (Ada)" in page
        assert "Par Ada, le " in page
        months = "janvier février mars avril mai juin juillet août septembre octobre".split()
        assert any(f" {month} " in page for month in [*months, "novembre", "décembre"])
        assert "<h2>1 billet</h2>" in browser.get("/archive").body.decode()
        browser.language = "de-DE, en;q=0.1"  # no German translations: the default, English
        assert ">Home</a>" in browser.get("/").body.decode()

    def test_a_missing_post_is_404(self) -> None:
        self.signed_up()
        with ExpectLog("squall.access", "404 GET /entry/nope"):
            assert Browser(self).get("/entry/nope").code == 404


# ---------- the script ----------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_blog_py_serves_on_the_port_given(tmp_path: Path) -> None:
    port = _free_port()
    db = tmp_path / "blog.sqlite3"
    process = subprocess.Popen(
        [sys.executable, str(BLOG), f"--port={port}", f"--db={db}", "--cookie_secret=s3cret"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 20
        while True:  # poll until the server accepts connections
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.communicate()[0].decode()
                assert time.monotonic() < deadline, "blog.py did not start listening"
                time.sleep(0.05)
        opener = urllib.request.build_opener(_NoRedirect())
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(f"http://127.0.0.1:{port}/", timeout=10)
        redirect.value.close()
        assert (redirect.value.code, redirect.value.headers["Location"]) == (302, "/auth/create")
        with opener.open(f"http://127.0.0.1:{port}/auth/create", timeout=10) as page:
            assert b'name="_xsrf"' in page.read()
        assert db.exists()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output = process.communicate(timeout=10)[0].decode()
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0].decode()
    assert f"blog on http://127.0.0.1:{port}/" in output
    assert "Traceback" not in output, output
    assert process.returncode == 0, output


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None

"""Tests for squall._web.templates: RequestHandler.render/render_string on Jinja2.

Each test serves a real application on 127.0.0.1 and fetches with httpx; templates are
written into ``tmp_path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, ParamSpec

import httpx
import jinja2
import pytest

from squall._web import templates
from squall._web.application import Application
from squall._web.handler import RequestHandler
from squall.httpserver import HTTPServer
from squall.netutil import bind_sockets

P = ParamSpec("P")


def async_test(fn: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test function on a fresh asyncio loop, with a 30 s ceiling."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 30))

    return wrapper


@contextlib.asynccontextmanager
async def serve(app: Application) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``app`` on an unused 127.0.0.1 port; yields a client pointed at it."""
    socks = bind_sockets(0, "127.0.0.1")
    port = socks[0].getsockname()[1]
    server = HTTPServer(app)
    server.add_sockets(socks)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.stop()
        await server.close_all_connections()


class PageHandler(RequestHandler):
    """Renders the template named by the ``t`` argument with ``name`` from the query."""

    def get(self) -> None:
        self.render(self.get_argument("t", "page.html"), name=self.get_argument("name", ""))


class UserHandler(PageHandler):
    def get_current_user(self) -> Any:
        return "alice"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- escaping ------------------------------------------------------------------------------


@async_test
async def test_render_autoescapes_by_default(tmp_path: Path) -> None:
    write(tmp_path, "page.html", "<b>{{ name }}</b>")
    app = Application([(r"/", PageHandler)], template_path=str(tmp_path))
    async with serve(app) as client:
        r = await client.get("/", params={"name": "<script>alert('x')</script>"})
    assert r.status_code == 200
    assert r.text == "<b>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</b>"
    assert r.headers["content-type"] == "text/html; charset=UTF-8"


@async_test
async def test_autoescape_none_disables_escaping(tmp_path: Path) -> None:
    write(tmp_path, "page.html", "{{ name }}")
    app = Application([(r"/", PageHandler)], template_path=str(tmp_path), autoescape=None)
    async with serve(app) as client:
        r = await client.get("/", params={"name": "<i>raw</i>"})
    assert r.text == "<i>raw</i>"


@async_test
async def test_escape_helpers_are_in_the_namespace(tmp_path: Path) -> None:
    write(
        tmp_path,
        "page.html",
        "{{ xhtml_escape(name) }}|{{ url_escape('a b/c') }}|{{ json_encode({'k': '</x>'})|safe }}"
        "|{{ squeeze('  a   b ') }}|{{ linkify('see http://example.com <now>') }}",
    )
    app = Application([(r"/", PageHandler)], template_path=str(tmp_path))
    async with serve(app) as client:
        r = await client.get("/", params={"name": "<&>"})
    escaped, url, js, squeezed, linked = r.text.split("|")
    assert escaped == "&lt;&amp;&gt;"  # escaped once, not twice
    assert url == "a+b%2Fc"
    assert js == '{"k": "<\\/x>"}'
    assert squeezed == "a b"
    assert linked == 'see <a href="http://example.com">http://example.com</a> &lt;now&gt;'


# -- the namespace -------------------------------------------------------------------------


@async_test
async def test_template_namespace_has_tornados_names(tmp_path: Path) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "app.css").write_text("p {}")
    write(
        tmp_path / "templates",
        "page.html",
        "handler={{ handler.__class__.__name__ }}\n"
        "path={{ request.path }}\n"
        "user={{ current_user }}\n"
        "static={{ static_url('app.css') }}\n"
        "url={{ reverse_url('page', 'x y') }}\n"
        "form={{ xsrf_form_html() }}\n",
    )
    app = Application(
        [(r"/", UserHandler), (r"/page/([^/]+)", PageHandler, {}, "page")],
        template_path=str(tmp_path / "templates"),
        static_path=str(tmp_path / "static"),
    )
    async with serve(app) as client:
        r = await client.get("/")
    lines = dict(line.split("=", 1) for line in r.text.splitlines())
    assert lines["handler"] == "UserHandler"
    assert lines["path"] == "/"
    assert lines["user"] == "alice"
    assert lines["static"].startswith("/static/app.css?v=")
    assert lines["url"] == "/page/x%20y"
    assert lines["form"].startswith('<input type="hidden" name="_xsrf" value="')  # not escaped
    assert "_xsrf=" in r.headers["set-cookie"]


class OverridingHandler(RequestHandler):
    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace["site"] = "squall"
        namespace["name"] = "from-namespace"
        return namespace

    def get(self) -> None:
        self.render("page.html", name="from-kwargs")


@async_test
async def test_render_kwargs_win_over_the_handler_namespace(tmp_path: Path) -> None:
    write(tmp_path, "page.html", "{{ site }}:{{ name }}")
    app = Application([(r"/", OverridingHandler)], template_path=str(tmp_path))
    async with serve(app) as client:
        r = await client.get("/")
    assert r.text == "squall:from-kwargs"


# -- errors --------------------------------------------------------------------------------


@async_test
async def test_missing_template_is_500_with_a_clear_log_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = Application([(r"/", PageHandler)], template_path=str(tmp_path))
    async with serve(app) as client:
        with caplog.at_level(logging.ERROR, logger="squall.application"):
            r = await client.get("/", params={"t": "nope.html"})
    assert r.status_code == 500
    assert "Template 'nope.html' not found" in caplog.text
    assert str(tmp_path) in caplog.text


@async_test
async def test_missing_include_names_the_included_template(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "page.html", "{% include 'partial.html' %}")
    app = Application([(r"/", PageHandler)], template_path=str(tmp_path))
    async with serve(app) as client:
        with caplog.at_level(logging.ERROR, logger="squall.application"):
            r = await client.get("/")
    assert r.status_code == 500
    assert "Template 'partial.html' not found (rendering 'page.html'" in caplog.text


def test_missing_jinja2_raises_import_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "jinja2", None)
    handler: Any = object()
    with pytest.raises(
        ImportError, match=r"Templates need Jinja2: pip install 'squall\[templates\]'"
    ):
        templates.render_string(handler, "page.html", {})


# -- where templates come from -------------------------------------------------------------


@async_test
async def test_without_template_path_templates_are_found_next_to_the_calling_file(
    tmp_path: Path,
) -> None:
    module_file = write(
        tmp_path,
        "sitehandlers.py",
        "from squall._web.handler import RequestHandler\n"
        "class Home(RequestHandler):\n"
        "    def get(self):\n"
        "        self.render('home.html', who='module')\n",
    )
    write(tmp_path, "home.html", "next to {{ who }}")
    spec = importlib.util.spec_from_file_location("sitehandlers_for_test", module_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    async with serve(Application([(r"/", module.Home)])) as client:
        r = await client.get("/")
    assert (r.status_code, r.text) == (200, "next to module")


@async_test
async def test_template_loader_setting_accepts_a_jinja2_loader(tmp_path: Path) -> None:
    loader = jinja2.DictLoader({"page.html": "dict {{ name }}"})
    app = Application([(r"/", PageHandler)], template_loader=loader)
    async with serve(app) as client:
        r = await client.get("/", params={"name": "<x>"})
    assert r.text == "dict &lt;x&gt;"


@async_test
async def test_template_loader_setting_accepts_a_jinja2_environment(tmp_path: Path) -> None:
    env = jinja2.Environment(
        loader=jinja2.DictLoader({"page.html": "env {{ name }} {{ name|shout }}"}),
        autoescape=False,
    )
    env.filters["shout"] = str.upper
    app = Application([(r"/", PageHandler)], template_loader=env)
    async with serve(app) as client:
        r = await client.get("/", params={"name": "<x>"})
    assert r.text == "env <x> <X>"


class LoaderHandler(PageHandler):
    def create_template_loader(self, template_path: str) -> jinja2.BaseLoader:
        return jinja2.DictLoader({"page.html": f"made for {template_path}"})


@async_test
async def test_create_template_loader_override_is_used(tmp_path: Path) -> None:
    app = Application([(r"/", LoaderHandler)], template_path=str(tmp_path))
    async with serve(app) as client:
        r = await client.get("/")
    assert r.text == f"made for {tmp_path}"


@async_test
async def test_a_bad_template_loader_setting_is_a_500_naming_the_problem(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = Application([(r"/", PageHandler)], template_loader="not a loader")
    async with serve(app) as client:
        with caplog.at_level(logging.ERROR, logger="squall.application"):
            r = await client.get("/")
    assert r.status_code == 500
    assert "template_loader must be a jinja2 loader or Environment" in caplog.text


# -- caching and reload --------------------------------------------------------------------


@async_test
async def test_compiled_template_cache_off_picks_up_edits_between_requests(
    tmp_path: Path,
) -> None:
    template = write(tmp_path, "page.html", "version one")
    app = Application(
        [(r"/", PageHandler)], template_path=str(tmp_path), debug=True, autoreload=False
    )
    async with serve(app) as client:
        first = (await client.get("/")).text
        stat = template.stat()
        template.write_text("version two")
        # Same mtime as before: the edit must be found by rebuilding, not by an mtime check.
        os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        second = (await client.get("/")).text
    assert (first, second) == ("version one", "version two")


@async_test
async def test_compiled_template_cache_on_keeps_the_first_compilation(tmp_path: Path) -> None:
    template = write(tmp_path, "page.html", "version one")
    app = Application([(r"/", PageHandler)], template_path=str(tmp_path))
    async with serve(app) as client:
        first = (await client.get("/")).text
        template.write_text("version two, longer")
        second = (await client.get("/")).text
    assert first == second == "version one"


def test_environments_are_cached_per_template_path_on_the_application(tmp_path: Path) -> None:
    write(tmp_path / "a", "t.html", "A")
    write(tmp_path / "b", "t.html", "B")
    app = Application()

    class Fake:
        application = app

        def __init__(self, folder: Path) -> None:
            self.folder = folder

        def get_template_path(self) -> str:
            return str(self.folder)

        def get_template_namespace(self) -> dict[str, Any]:
            return {}

    a: Any = Fake(tmp_path / "a")
    b: Any = Fake(tmp_path / "b")
    assert templates.render_string(a, "t.html", {}) == b"A"
    assert templates.render_string(b, "t.html", {}) == b"B"
    envs = app._squall_template_environments  # type: ignore[attr-defined]
    assert set(envs) == {str(tmp_path / "a"), str(tmp_path / "b")}
    before = dict(envs)
    templates.render_string(a, "t.html", {})
    assert app._squall_template_environments == before  # type: ignore[attr-defined]


def test_render_string_returns_utf8_bytes(tmp_path: Path) -> None:
    write(tmp_path, "t.html", "héllo {{ who }} ✓")
    app = Application(template_path=str(tmp_path))

    class Fake:
        application = app

        def get_template_path(self) -> str:
            return str(tmp_path)

        def get_template_namespace(self) -> dict[str, Any]:
            return {}

    handler: Any = Fake()
    out = templates.render_string(handler, "t.html", {"who": "wörld"})
    assert isinstance(out, bytes)
    assert out.decode("utf-8") == "héllo wörld ✓"

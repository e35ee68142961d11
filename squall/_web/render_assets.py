"""The CSS and JavaScript of a page's UI modules, put into the rendered page.

``RequestHandler.render`` renders the template, then asks every UI module used on the page
for its resources (``collect_assets``) and inserts them (``insert_assets``), as Tornado does:

- before the last ``</body>``: ``<script src>`` for the JavaScript files, then one
  ``<script>`` block with the embedded JavaScript, then the modules' ``html_body``;
- before the first ``</head>``: ``<link rel="stylesheet">`` for the CSS files, then one
  ``<style>`` block with the embedded CSS, then the modules' ``html_head``.

Files are listed once each, in order of first use; relative paths go through ``static_url``
(paths starting with ``/``, ``http:`` or ``https:`` are used as they are). Identical
embedded blocks are written once. A page without ``</head>`` gets its head parts at the very
start, one without ``</body>`` its body parts at the very end (Tornado raises ValueError).

The four fragment renderers are the handler's overridable ``render_linked_js``,
``render_embed_js``, ``render_linked_css`` and ``render_embed_css``; the functions of the
same names here are their defaults. Pure functions: no handler, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from squall import escape

__all__ = [
    "AssetRenderer",
    "DefaultAssetRenderer",
    "PageAssets",
    "collect_assets",
    "insert_assets",
    "is_absolute",
    "render_embed_css",
    "render_embed_js",
    "render_linked_css",
    "render_linked_js",
]


@dataclass(slots=True)
class PageAssets:
    """What the page's modules asked for, in order of use."""

    js_files: list[str] = field(default_factory=list)
    js_embed: list[bytes] = field(default_factory=list)
    css_files: list[str] = field(default_factory=list)
    css_embed: list[bytes] = field(default_factory=list)
    html_heads: list[bytes] = field(default_factory=list)
    html_bodies: list[bytes] = field(default_factory=list)


class AssetRenderer(Protocol):
    """The four fragment renderers (``RequestHandler`` has them, overridable)."""

    def render_linked_js(self, js_files: Iterable[str]) -> str: ...
    def render_embed_js(self, js_embed: Iterable[bytes]) -> bytes: ...
    def render_linked_css(self, css_files: Iterable[str]) -> str: ...
    def render_embed_css(self, css_embed: Iterable[bytes]) -> bytes: ...


def _add_files(into: list[str], files: Any) -> None:
    if not files:
        return
    if isinstance(files, (str, bytes)):
        into.append(escape.to_unicode(files))
    else:
        into.extend(escape.to_unicode(f) for f in files)


def _add_block(into: list[bytes], block: str | bytes | None) -> None:
    if block:
        data = escape.utf8(block)
        if data not in into:
            into.append(data)


def collect_assets(modules: Iterable[Any]) -> PageAssets:
    """The resources of the UI modules used on a page (``UIModule`` instances, in order)."""
    assets = PageAssets()
    for module in modules:
        _add_block(assets.js_embed, module.embedded_javascript())
        _add_files(assets.js_files, module.javascript_files())
        _add_block(assets.css_embed, module.embedded_css())
        _add_files(assets.css_files, module.css_files())
        head = module.html_head()
        if head:
            assets.html_heads.append(escape.utf8(head))
        body = module.html_body()
        if body:
            assets.html_bodies.append(escape.utf8(body))
    return assets


def is_absolute(path: str) -> bool:
    """Whether a resource path is used as it is (not passed to ``static_url``)."""
    return path.startswith(("/", "http:", "https:"))


def _unique_urls(paths: Iterable[str], static_url: Callable[[str], str]) -> list[str]:
    urls: list[str] = []
    for path in paths:
        url = path if is_absolute(path) else static_url(path)
        if url not in urls:
            urls.append(url)
    return urls


def render_linked_js(js_files: Iterable[str], static_url: Callable[[str], str]) -> str:
    """``<script src>`` tags for the files, each once."""
    return "".join(
        f'<script src="{escape.xhtml_escape(url)}" type="text/javascript"></script>'
        for url in _unique_urls(js_files, static_url)
    )


def render_embed_js(js_embed: Iterable[bytes]) -> bytes:
    """One ``<script>`` block holding the embedded JavaScript."""
    return (
        b'<script type="text/javascript">\n//<![CDATA[\n'
        + b"\n".join(js_embed)
        + b"\n//]]>\n</script>"
    )


def render_linked_css(css_files: Iterable[str], static_url: Callable[[str], str]) -> str:
    """``<link rel="stylesheet">`` tags for the files, each once."""
    return "".join(
        f'<link href="{escape.xhtml_escape(url)}" type="text/css" rel="stylesheet"/>'
        for url in _unique_urls(css_files, static_url)
    )


def render_embed_css(css_embed: Iterable[bytes]) -> bytes:
    """One ``<style>`` block holding the embedded CSS."""
    return b'<style type="text/css">\n' + b"\n".join(css_embed) + b"\n</style>"


class DefaultAssetRenderer:
    """The default fragment renderers over a ``static_url`` function."""

    def __init__(self, static_url: Callable[[str], str]) -> None:
        self.static_url = static_url

    def render_linked_js(self, js_files: Iterable[str]) -> str:
        return render_linked_js(js_files, self.static_url)

    def render_embed_js(self, js_embed: Iterable[bytes]) -> bytes:
        return render_embed_js(js_embed)

    def render_linked_css(self, css_files: Iterable[str]) -> str:
        return render_linked_css(css_files, self.static_url)

    def render_embed_css(self, css_embed: Iterable[bytes]) -> bytes:
        return render_embed_css(css_embed)


def _before_head_end(html: bytes, fragment: bytes) -> bytes:
    at = html.find(b"</head>")
    if at < 0:
        return fragment + b"\n" + html
    return html[:at] + fragment + b"\n" + html[at:]


def _before_body_end(html: bytes, fragment: bytes) -> bytes:
    at = html.rfind(b"</body>")
    if at < 0:
        return html + fragment + b"\n"
    return html[:at] + fragment + b"\n" + html[at:]


def insert_assets(html: bytes, assets: PageAssets, renderer: AssetRenderer) -> bytes:
    """``html`` with the page's resources inserted before ``</head>`` and ``</body>``."""
    if assets.js_files:
        html = _before_body_end(html, escape.utf8(renderer.render_linked_js(assets.js_files)))
    if assets.js_embed:
        html = _before_body_end(html, escape.utf8(renderer.render_embed_js(assets.js_embed)))
    if assets.css_files:
        html = _before_head_end(html, escape.utf8(renderer.render_linked_css(assets.css_files)))
    if assets.css_embed:
        html = _before_head_end(html, escape.utf8(renderer.render_embed_css(assets.css_embed)))
    if assets.html_heads:
        html = _before_head_end(html, b"".join(assets.html_heads))
    if assets.html_bodies:
        html = _before_body_end(html, b"".join(assets.html_bodies))
    return html

"""Template rendering for ``RequestHandler.render``/``render_string``, on Jinja2.

Jinja2 is imported only when a template is first rendered, so applications without templates
do not need it. One Jinja2 ``Environment`` per template folder is kept on the application
(``compiled_template_cache``, on unless ``debug``); with the cache off each request builds
its own, so edited templates show up on the next request.

Where templates come from, first match wins: the ``template_loader`` setting (a Jinja2
loader or a whole ``Environment``); a ``create_template_loader(template_path)`` method on the
handler (Tornado's override point, returning the same); else a ``FileSystemLoader`` on
``handler.get_template_path()`` or, when that is None, the folder of the file that called
``render`` (as in Tornado).

Autoescaping is on unless the ``autoescape`` setting is None. Templates see the handler's
``get_template_namespace()`` (handler, request, current_user, static_url, xsrf_form_html,
reverse_url), the escape helpers ``xhtml_escape``, ``url_escape``, ``json_encode``,
``squeeze`` and ``linkify``, and then the ``render`` keyword arguments (which win). The
helpers that return HTML (``xhtml_escape``, ``linkify``, ``xsrf_form_html``) return markup
that autoescaping leaves alone, so ``{{ xsrf_form_html() }}`` works without ``|safe``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from squall import escape

if TYPE_CHECKING:
    import jinja2

__all__ = ["TemplateHandler", "render_string"]

_CACHE_ATTR = "_squall_template_environments"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class TemplateHandler(Protocol):
    """What rendering uses of a ``RequestHandler`` (this module sits below the handler)."""

    @property
    def application(self) -> Any:
        """The application: its ``settings``, and where compiled templates are cached."""

    def get_template_path(self) -> str | None:
        """The template folder (None: the folder of the file that called ``render``)."""

    def get_template_namespace(self) -> dict[str, Any]:
        """The names every template sees."""


def render_string(handler: TemplateHandler, template_name: str, kwargs: dict[str, Any]) -> bytes:
    """Render ``template_name`` for ``handler`` with ``kwargs``; returns UTF-8 bytes.

    A missing template (or a missing ``{% include %}``) raises ``FileNotFoundError`` naming
    it and the folder searched, which the handler turns into a 500 with that message logged.
    Without Jinja2 installed this raises ``ImportError`` saying how to install it."""
    _require_jinja2()
    import jinja2

    template_path = handler.get_template_path() or _caller_folder(handler)
    env = _environment(handler, template_path)
    namespace = _namespace(handler)
    namespace.update(kwargs)
    try:
        template = env.get_template(template_name)
        text = template.render(namespace)
    except jinja2.TemplateNotFound as exc:
        missing = exc.name if exc.name is not None else template_name
        raise FileNotFoundError(
            f"Template {missing!r} not found (rendering {template_name!r}; template path "
            f"{template_path!r}): check the name and the 'template_path' setting"
        ) from exc
    return text.encode("utf-8")


def _require_jinja2() -> None:
    try:
        import jinja2  # noqa: F401 - optional dependency, only when templates are used
    except ImportError as exc:
        raise ImportError("Templates need Jinja2: pip install 'squall[templates]'") from exc


def _environment(handler: TemplateHandler, template_path: str) -> jinja2.Environment:
    """The Environment for ``template_path``: cached on the application when
    ``compiled_template_cache`` is on (the default), else on this handler (one request)."""
    settings = handler.application.settings
    owner: object = handler.application
    if not settings.get("compiled_template_cache", True):
        owner = handler
    cache: dict[str, jinja2.Environment] | None = getattr(owner, _CACHE_ATTR, None)
    if cache is None:
        cache = {}
        setattr(owner, _CACHE_ATTR, cache)
    env = cache.get(template_path)
    if env is None:
        env = cache[template_path] = _make_environment(handler, template_path)
    return env


def _make_environment(handler: TemplateHandler, template_path: str) -> jinja2.Environment:
    import jinja2

    settings = handler.application.settings
    source: Any = settings.get("template_loader")
    if source is None:
        create: Callable[[str], Any] | None = getattr(handler, "create_template_loader", None)
        source = create(template_path) if create is not None else None
    if isinstance(source, jinja2.Environment):
        return source
    if source is None:
        source = jinja2.FileSystemLoader(template_path)
    elif not isinstance(source, jinja2.BaseLoader):
        raise TypeError(
            f"template_loader must be a jinja2 loader or Environment, got {type(source)!r}"
        )
    autoescape = settings.get("autoescape", "xhtml_escape") is not None
    compiled_cache = bool(settings.get("compiled_template_cache", True))
    return jinja2.Environment(loader=source, autoescape=autoescape, auto_reload=not compiled_cache)


def _namespace(handler: TemplateHandler) -> dict[str, Any]:
    """The escape helpers, then the handler's template namespace."""
    from markupsafe import Markup  # installed with Jinja2

    def xhtml_escape(value: str | bytes) -> Markup:
        return Markup(escape.xhtml_escape(value))

    def linkify(text: str | bytes, *args: Any, **kwargs: Any) -> Markup:
        return Markup(escape.linkify(text, *args, **kwargs))

    namespace: dict[str, Any] = {
        "xhtml_escape": xhtml_escape,
        "url_escape": escape.url_escape,
        "json_encode": escape.json_encode,
        "squeeze": escape.squeeze,
        "linkify": linkify,
    }
    namespace.update(handler.get_template_namespace())
    form_html = namespace.get("xsrf_form_html")
    if callable(form_html):
        namespace["xsrf_form_html"] = lambda: Markup(form_html())
    return namespace


def _caller_folder(handler: TemplateHandler) -> str:
    """The folder of the first calling frame outside squall's web package (Tornado looks up
    templates next to the file that called ``render``); the handler's module as a fallback."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if os.path.dirname(os.path.abspath(filename)) != _PACKAGE_DIR:
            return os.path.dirname(os.path.abspath(filename))
        frame = frame.f_back  # type: ignore[assignment]
    module = sys.modules.get(type(handler).__module__)
    module_file = getattr(module, "__file__", None)
    return os.path.dirname(os.path.abspath(module_file)) if module_file else os.getcwd()

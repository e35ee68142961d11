"""Template rendering for ``RequestHandler.render``/``render_string``: Tornado's template
language (``squall.template``) by default, Jinja2 when the application chooses it.

How this works
--------------
``render_string`` finds the handler's loader, loads the template and generates it with the
handler's ``get_template_namespace()`` and the ``render`` keyword arguments (which win).
A loader is anything with ``load(name)`` returning an object with ``generate(**names) ->
bytes`` (and, to be reset, ``reset()``): ``squall.template.Loader``/``DictLoader``, or
:class:`Jinja2Loader`.

Which loader, as in Tornado:

1. The ``template_loader`` setting, used as it is, when the handler does not override
   ``create_template_loader``.
2. Else one loader per template folder, made by the handler's ``create_template_loader(path)``
   (by default a ``squall.template.Loader`` with the ``autoescape`` and
   ``template_whitespace`` settings) and kept for the life of the process in
   :data:`LOADERS` (``RequestHandler._template_loaders``, guarded by :data:`LOADERS_LOCK`),
   so each template compiles once. The folder is ``get_template_path()`` (the
   ``template_path`` setting) or, when that is empty, the folder of the file that called
   ``render``.

With ``compiled_template_cache`` off (the default under ``debug``) every loader is reset once
per request, on the request's first render, so an edited template shows on the next request;
a request that renders nothing does no template work at all.

Rendering sits below the handler: this module imports only ``escape`` and ``template``
(Jinja2 lazily, in :class:`Jinja2Loader`) and reaches the handler through
:class:`TemplateHandler`.
"""

from __future__ import annotations

import datetime
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from squall import escape, template

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "LOADERS",
    "LOADERS_LOCK",
    "Jinja2Loader",
    "TemplateHandler",
    "caller_folder",
    "check_settings",
    "create_loader",
    "render_string",
]

#: The loaders made by ``create_template_loader``, by template folder, shared by every handler
#: class and application of the process (``RequestHandler._template_loaders``).
LOADERS: Final[dict[str, Any]] = {}
#: Guards :data:`LOADERS` (``RequestHandler._template_loader_lock``).
LOADERS_LOCK: Final = threading.Lock()

_SQUALL_DIR: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_WHITESPACE_MODES: Final = ("all", "single", "oneline")


class TemplateHandler(Protocol):
    """What rendering uses of a ``RequestHandler`` (this module sits below the handler)."""

    _templates_reset: bool

    @property
    def application(self) -> Any:
        """The application: its ``settings``."""

    def get_template_path(self) -> str | None:
        """The template folder (empty: the folder of the file that called ``render``)."""

    def get_template_namespace(self) -> dict[str, Any]:
        """The names every template sees."""

    def create_template_loader(self, template_path: str) -> Any:
        """A new loader for ``template_path``."""


def render_string(
    handler: TemplateHandler, template_name: str, kwargs: dict[str, Any], own_loader: bool
) -> bytes:
    """Render ``template_name`` for ``handler`` with ``kwargs``; returns UTF-8 bytes.

    ``own_loader`` says the handler's class overrides ``create_template_loader`` (so the
    ``template_loader`` setting is not used directly). Errors propagate: ``ParseError`` for
    a malformed template, the template's own exception (its traceback names the template
    and line), ``FileNotFoundError``/``KeyError`` for a missing one."""
    settings = handler.application.settings
    if not handler._templates_reset and not settings.get("compiled_template_cache", True):
        handler._templates_reset = True
        _reset_loaders(settings.get("template_loader"))
    loader = settings.get("template_loader") if not own_loader else None
    if loader is None:
        template_path = handler.get_template_path() or caller_folder(handler)
        with LOADERS_LOCK:
            loader = LOADERS.get(template_path)
            if loader is None:
                made = handler.create_template_loader(template_path)
                loader = LOADERS[template_path] = _checked_loader(made, "create_template_loader()")
    namespace = handler.get_template_namespace()
    namespace.update(kwargs)
    generated: bytes = loader.load(template_name).generate(**namespace)
    return generated


def create_loader(settings: Mapping[str, Any], template_path: str) -> Any:
    """The default ``create_template_loader``: the ``template_loader`` setting if there is
    one, else a ``squall.template.Loader`` on ``template_path`` with the ``autoescape`` and
    ``template_whitespace`` settings."""
    if "template_loader" in settings:
        return settings["template_loader"]
    options: dict[str, Any] = {}
    if "autoescape" in settings:
        options["autoescape"] = settings["autoescape"]
    if "template_whitespace" in settings:
        options["whitespace"] = settings["template_whitespace"]
    return template.Loader(template_path, **options)


def check_settings(settings: Mapping[str, Any]) -> None:
    """Refuse template settings that could only fail later, at a request's first render.

    ``template_whitespace`` must be ``"all"``, ``"single"`` or ``"oneline"``; ``autoescape``
    a function name or None; ``template_path`` a folder name; ``template_loader`` a loader
    (something with ``load``), a Jinja2 one wrapped in :class:`Jinja2Loader`."""
    whitespace = settings.get("template_whitespace")
    if whitespace is not None and whitespace not in _WHITESPACE_MODES:
        raise ValueError(
            f"template_whitespace setting {whitespace!r} is not a whitespace mode: use 'all', "
            "'single' or 'oneline'"
        )
    autoescape = settings.get("autoescape")
    if autoescape is not None and not isinstance(autoescape, str):
        raise TypeError(
            f"autoescape setting must be the name of an escaping function (such as "
            f"'xhtml_escape') or None, not {type(autoescape).__name__}"
        )
    path = settings.get("template_path")
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"template_path setting must be a folder name, not {type(path).__name__}")
    if "template_loader" in settings:
        _checked_loader(settings["template_loader"], "the template_loader setting")


def _checked_loader(loader: Any, what: str) -> Any:
    """``loader`` if it can load templates; a TypeError saying what to give otherwise."""
    if type(loader).__module__.partition(".")[0] == "jinja2":
        raise TypeError(
            f"{what} gave a Jinja2 {type(loader).__name__}: wrap it as "
            "squall.web.Jinja2Loader(...) to render with Jinja2"
        )
    if not callable(getattr(loader, "load", None)):
        raise TypeError(
            f"{what} must be a template loader (squall.template.Loader or DictLoader, or "
            f"squall.web.Jinja2Loader), not {type(loader).__name__}"
        )
    return loader


def _reset_loaders(setting_loader: Any) -> None:
    """Forget every compiled template (``compiled_template_cache`` off): once per request."""
    with LOADERS_LOCK:
        loaders = [*LOADERS.values(), setting_loader]
    for loader in loaders:
        reset = getattr(loader, "reset", None)
        if reset is not None:
            reset()


def caller_folder(handler: object) -> str:
    """The folder of the code that called ``render``: Tornado looks templates up next to it.

    The first calling frame outside squall's package and outside template code (squall's
    generated code, Jinja2's compiled templates) decides; the handler's module is the
    fallback, then the current folder."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if (
            filename.endswith(".py")
            and not os.path.abspath(filename).startswith(_SQUALL_DIR + os.sep)
            and "_tt_utf8" not in frame.f_globals  # squall.template's generated code
        ):
            return os.path.dirname(os.path.abspath(filename))
        frame = frame.f_back  # type: ignore[assignment]  # None ends the loop
    module = sys.modules.get(type(handler).__module__)
    module_file = getattr(module, "__file__", None)
    return os.path.dirname(os.path.abspath(module_file)) if module_file else os.getcwd()


# ---------- Jinja2, on request ----------


def _import_jinja2() -> Any:
    try:
        import jinja2
    except ImportError as exc:
        raise ImportError("Jinja2Loader needs Jinja2: pip install 'squall[templates]'") from exc
    return jinja2


class Jinja2Loader:
    """A ``template_loader`` that renders with Jinja2 instead of Tornado's language.

    ``source`` is a template folder, a Jinja2 loader (``jinja2.DictLoader(...)``, ...) or a
    whole ``jinja2.Environment`` (used as it is: its own autoescaping and options). For a
    folder or a loader, an Environment is made with ``autoescape`` (HTML escaping unless
    False) and ``options`` (``extensions=[...]``, ``trim_blocks=True``, ...)::

        app = Application(routes, template_loader=Jinja2Loader("templates"))

        # or per handler, on its template folder:
        def create_template_loader(self, template_path):
            return Jinja2Loader(template_path)

    Templates see the same names as Tornado templates: the handler's
    ``get_template_namespace()`` (``handler``, ``request``, ``current_user``, ``locale``,
    ``_``, ``pgettext``, ``static_url``, ``xsrf_form_html``, ``reverse_url``, the UI methods
    and ``modules``), ``escape``/``xhtml_escape``, ``url_escape``, ``json_encode``,
    ``squeeze``, ``linkify`` and ``datetime``. What writes HTML (``xsrf_form_html()``,
    ``linkify()``, ``xhtml_escape()``, ``modules.Name(...)``) returns markup that
    autoescaping leaves alone, so ``{{ modules.Entry(entry) }}`` is Tornado's
    ``{% module Entry(entry) %}``. A missing template raises ``FileNotFoundError`` naming it.

    Needs Jinja2 (``pip install 'squall[templates]'``); ImportError saying so otherwise."""

    def __init__(self, source: Any, autoescape: bool = True, **options: Any) -> None:
        jinja = _import_jinja2()
        if isinstance(source, jinja.Environment):
            if options:
                raise TypeError("Jinja2Loader options apply to a new Environment, not to one given")
            environment = source
        else:
            if isinstance(source, (str, os.PathLike)):
                source = jinja.FileSystemLoader(os.fspath(source))
            elif not isinstance(source, jinja.BaseLoader):
                raise TypeError(
                    "Jinja2Loader takes a template folder, a jinja2 loader or a "
                    f"jinja2.Environment, not {type(source).__name__}"
                )
            options.setdefault("auto_reload", False)  # compiled_template_cache decides
            environment = jinja.Environment(loader=source, autoescape=autoescape, **options)
        self.environment: jinja2.Environment = environment

    def __repr__(self) -> str:
        loader = self.environment.loader
        where = getattr(loader, "searchpath", None)
        return f"Jinja2Loader({where if where is not None else loader!r})"

    def load(self, name: str, parent_path: str | None = None) -> Jinja2Template:
        """The template ``name`` (compiled by Jinja2 once, then cached by its Environment)."""
        jinja = _import_jinja2()
        try:
            return Jinja2Template(self.environment.get_template(name), self)
        except jinja.TemplateNotFound as exc:
            raise self._not_found(exc, name) from exc

    def _not_found(self, exc: Any, name: str) -> FileNotFoundError:
        missing = exc.name if exc.name is not None else name
        return FileNotFoundError(
            f"Template {missing!r} not found (rendering {name!r}; {self!r}): check the name "
            "and the template folder"
        )

    def reset(self) -> None:
        """Forget the compiled templates: the next ``load`` reads the files again."""
        cache = self.environment.cache
        if cache is not None:
            cache.clear()


class Jinja2Template:
    """A Jinja2 template with the ``generate(**names) -> bytes`` of ``squall.template``."""

    def __init__(self, template: jinja2.Template, loader: Jinja2Loader) -> None:
        self.template = template
        self.name = template.name
        self._loader = loader

    def generate(self, **namespace: Any) -> bytes:
        """Render with Tornado's names (markup-safe where they write HTML); UTF-8 bytes.

        A missing included or extended template raises ``FileNotFoundError`` naming it."""
        jinja = _import_jinja2()
        try:
            text = self.template.render(_jinja2_namespace(namespace))
        except jinja.TemplateNotFound as exc:
            raise self._loader._not_found(exc, self.name or "<template>") from exc
        return text.encode("utf-8")


def _jinja2_namespace(namespace: dict[str, Any]) -> dict[str, Any]:
    from markupsafe import Markup  # installed with Jinja2

    def xhtml_escape(value: Any) -> Markup:
        return Markup(escape.xhtml_escape(value))

    def linkify(text: str | bytes, *args: Any, **kwargs: Any) -> Markup:
        return Markup(escape.linkify(text, *args, **kwargs))

    names: dict[str, Any] = {
        "escape": xhtml_escape,
        "xhtml_escape": xhtml_escape,
        "url_escape": escape.url_escape,
        "json_encode": escape.json_encode,
        "squeeze": escape.squeeze,
        "linkify": linkify,
        "datetime": datetime,
    }
    names.update(namespace)
    form_html = names.get("xsrf_form_html")
    if callable(form_html):
        names["xsrf_form_html"] = lambda: Markup(form_html())
    modules = names.get("_tt_modules")
    if modules is not None:
        markup_modules = _MarkupModules(modules, Markup)
        if names.get("modules") is modules:
            names["modules"] = markup_modules
        names["_tt_modules"] = markup_modules
    return names


class _MarkupModules:
    """The UI-module namespace for Jinja2: each module's HTML comes back as markup."""

    def __init__(self, modules: Any, markup: Callable[[str], str]) -> None:
        self._modules = modules
        self._markup = markup

    def __getattr__(self, name: str) -> Callable[..., str]:
        if name.startswith("__"):
            raise AttributeError(name)
        render = getattr(self._modules, name)
        return lambda *args, **kwargs: self._markup(render(*args, **kwargs))

    def __getitem__(self, name: str) -> Callable[..., str]:
        render = self._modules[name]
        return lambda *args, **kwargs: self._markup(render(*args, **kwargs))

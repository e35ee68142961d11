"""Template rendering for ``RequestHandler.render``/``render_string``: Tornado's template
language (``squall.template``) by default, Jinja2 when the application chooses it.

How this works
--------------
``render_string`` finds the handler's loader, loads the template and generates it with the
handler's ``get_template_namespace()`` and the ``render`` keyword arguments (which win).
A loader is anything with ``load(name)`` returning an object with ``generate(**names) ->
bytes`` (and, to be reset, ``reset()``): ``squall.template.Loader``/``DictLoader``, or
``Jinja2Loader`` (``_web/jinja.py``).

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

Rendering sits below the handler: this module imports only ``template`` and reaches the
handler through :class:`TemplateHandler`.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from typing import Any, Final, Protocol

from squall import template

__all__ = [
    "LOADERS",
    "LOADERS_LOCK",
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
    a function name or None; ``template_path`` a folder name (a list is left to the
    application's own engine); ``template_loader`` a loader
    (something with ``load``), a Jinja2 one wrapped in ``squall.web.Jinja2Loader``."""
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
    # A list is allowed: applications that render with their own engine keep theirs there.
    if path is not None and not isinstance(path, (str, os.PathLike, list, tuple)):
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

"""Tornado's logger names under the alias: they name squall's loggers.

The rule: ``logging.getLogger("tornado.access")`` (``.application``, ``.general``) is squall's
``access_log`` (``app_log``, ``gen_log``), and the ``squall`` logger's parent is the ``tornado``
logger. Code that configures Tornado's loggers by name (a level, a handler, a filter such as
``ExpectLog("tornado.access", ...)``, pytest's ``caplog.set_level(logger="tornado")``, an
application that re-parents ``tornado`` under its own logger) therefore configures what squall
logs. Records keep squall's names (``squall.access``). Nothing is renamed, so the rule holds
whenever the alias is installed, before or after ``squall.log`` was imported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["alias_tornado_loggers"]


def _adopt(name: str, ours: logging.Logger) -> Callable[[], None]:
    """Make ``getLogger(name)`` return ``ours``; return what undoes it.

    A logger of that name made before (by ``logging`` configuration, say) hands its level,
    handlers and filters over to ``ours``, and its children are re-parented to ``ours``."""
    manager = logging.Logger.manager
    before = manager.loggerDict.get(name)
    if isinstance(before, logging.Logger) and before is not ours:
        if ours.level == logging.NOTSET:
            ours.setLevel(before.level)
        for handler in before.handlers:
            ours.addHandler(handler)
        for log_filter in before.filters:
            ours.addFilter(log_filter)
    manager.loggerDict[name] = ours
    prefix = name + "."
    for child_name, child in list(manager.loggerDict.items()):
        if not child_name.startswith(prefix) or not isinstance(child, logging.Logger):
            continue
        parent = child.parent
        # Re-parent the children whose parent is above ``name`` (or is the logger replaced).
        if parent is None or parent is before or not parent.name.startswith(prefix):
            child.parent = ours
    _clear_level_caches()

    def undo() -> None:
        if manager.loggerDict.get(name) is ours:
            del manager.loggerDict[name]
        _clear_level_caches()

    return undo


def _clear_level_caches() -> None:
    # Effective levels are cached per logger; setLevel() (public) empties every cache.
    root = logging.getLogger()
    root.setLevel(root.level)


def alias_tornado_loggers() -> Callable[[], None]:
    """Apply the rule (module docstring); return a function that undoes it."""
    from squall.log import access_log, app_log, gen_log

    tornado_root = logging.getLogger("tornado")
    squall_root = logging.getLogger("squall")
    old_parent = squall_root.parent
    undo = [
        _adopt("tornado.access", access_log),
        _adopt("tornado.application", app_log),
        _adopt("tornado.general", gen_log),
    ]
    squall_root.parent = tornado_root
    _clear_level_caches()

    def undo_all() -> None:
        squall_root.parent = old_parent
        for step in undo:
            step()

    return undo_all

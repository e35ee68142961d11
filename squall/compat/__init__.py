"""Run unmodified Tornado code on squall: the ``tornado`` import alias.

    from squall.compat import install_tornado_alias
    install_tornado_alias()          # before anything imports tornado
    import tornado.web               # squall.web, the very same module object

or, with nothing to edit, ``python -m squall.tornado app.py`` (``-m pytest``, ``-c CODE``: the
calling convention of ``python`` itself), or ``squall serve --tornado-alias app:app``.

How this works:

1. A meta path finder, first on ``sys.meta_path``, answers every ``tornado`` and ``tornado.X``
   import. ``tornado.X`` *is* ``squall.X``: the loader hands back the squall module itself, so
   ``sys.modules`` holds one object under both names (class identity, ``isinstance``,
   ``mock.patch("tornado.web.app_log")`` and monkeypatching through either name all agree).
   Public squall modules are mapped, plus ``tornado._locale_data``; anything else raises
   ``ModuleNotFoundError`` naming the squall module that does not exist.
2. ``tornado`` itself is a small package module of its own (not ``squall``): it reports the
   Tornado API level squall implements as ``version``/``version_info`` (:data:`TORNADO_VERSION`)
   so that version gates in third-party code pass, while ``squall.version`` stays squall's.
   Its ``__path__`` is empty: no file of an installed Tornado can be picked up through it.
3. Real Tornado being installed does not matter (the finder answers first). Real Tornado
   already *imported* does: installing then raises RuntimeError, since two Tornados in one
   process would mix classes that cannot work together.
4. Loggers: ``logging.getLogger("tornado.access")``, ``"tornado.application"`` and
   ``"tornado.general"`` return squall's ``access_log``, ``app_log`` and ``gen_log`` (named
   ``squall.access`` ...), and the ``squall`` logger propagates into the ``tornado`` logger.
   So configuring ``tornado`` or ``tornado.access`` (level, handlers, ``ExpectLog``, caplog)
   configures what squall logs; records still carry squall's names.
5. Child processes: installing sets ``SQUALL_TORNADO_ALIAS=1`` in ``os.environ``. A Python
   child started with that variable (``subprocess`` running ``sys.executable``) installs the
   alias at startup through the ``squall-tornado-alias.pth`` hook that squall's installation
   puts into site-packages; without the variable the hook does nothing.
"""

from __future__ import annotations

from squall.compat._alias import (
    ENV_VAR,
    HOOK_NAME,
    TORNADO_VERSION,
    TORNADO_VERSION_INFO,
    hook_installed,
    install_tornado_alias,
    tornado_alias_installed,
    uninstall_tornado_alias,
)

__all__ = [
    "ENV_VAR",
    "HOOK_NAME",
    "TORNADO_VERSION",
    "TORNADO_VERSION_INFO",
    "hook_installed",
    "install_tornado_alias",
    "tornado_alias_installed",
    "uninstall_tornado_alias",
]

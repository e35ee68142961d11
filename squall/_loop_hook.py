"""Installs squall's ``asyncio.run`` policy (``squall._loop``) without importing asyncio early.

``import squall`` must stay cheap, and must not import asyncio (or much else) by itself:
importing modules changes more than time, down to glibc's allocation thresholds. So: when
asyncio is imported already, the policy goes in at once; otherwise a one-shot import hook
waits for the first ``import asyncio`` (squall's own submodules do it), lets it finish, puts
the policy in and removes itself. It imports nothing but ``sys`` (the finder and the loader
follow importlib's protocols by shape).
"""

from __future__ import annotations

import sys
from types import ModuleType

__all__ = ["install"]


def install() -> None:
    """Put squall's ``asyncio.run`` policy in now, or as soon as asyncio is imported."""
    if "asyncio" in sys.modules:
        _activate()
    elif not any(isinstance(finder, _AsyncioWatch) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AsyncioWatch())  # type: ignore[arg-type]  # by shape


def _activate() -> None:
    partial = sys.modules.get("squall._loop")
    if partial is not None and not hasattr(partial, "install_run_policy"):
        return  # squall._loop is importing asyncio right now: its last line installs
    from squall._loop import install_run_policy

    install_run_policy()


class _AsyncioWatch:
    """A meta path finder that finds nothing itself: it wraps the loader of ``asyncio``."""

    def find_spec(self, fullname: str, path: object, target: object = None) -> object:
        """For ``asyncio`` only: the real spec, whose loader then installs the policy."""
        if fullname != "asyncio":
            return None
        if self in sys.meta_path:  # type: ignore[comparison-overlap]
            sys.meta_path.remove(self)  # type: ignore[arg-type]  # one shot, no recursion
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                loader = getattr(spec, "loader", None)
                if loader is not None and hasattr(loader, "exec_module"):
                    spec.loader = _ThenActivate(loader)
                return spec
        return None


class _ThenActivate:
    """A loader that runs the real one, then installs the policy."""

    def __init__(self, loader: object) -> None:
        self._loader = loader

    def create_module(self, spec: object) -> ModuleType | None:
        """The real loader's module (None: the default)."""
        create = getattr(self._loader, "create_module", None)
        module: ModuleType | None = create(spec) if create is not None else None
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Run asyncio's ``__init__``, then put the policy in."""
        self._loader.exec_module(module)  # type: ignore[attr-defined]
        _activate()

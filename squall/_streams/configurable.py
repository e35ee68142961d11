"""A minimal ``Configurable`` (Tornado's ``tornado.util.Configurable``) for ``Resolver``.

Private and temporary: ``squall.util.Configurable`` is written on another branch. Once it lands,
``squall._streams.resolver`` imports that one instead (a one-line change) and this module goes.

A configurable base class picks, when instantiated itself, the implementation chosen with
``configure()`` (or its ``configurable_default()``); a subclass instantiates itself. Either way
``initialize(*args, **kwargs)`` takes the constructor arguments, not ``__init__``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Configurable"]


# base class -> (chosen implementation or None for the default, keyword arguments for it)
_configured: dict[type, tuple[type | None, dict[str, Any]]] = {}


def _import_object(name: str) -> Any:
    module, _, attribute = name.rpartition(".")
    if not module:
        return importlib.import_module(name)
    return getattr(importlib.import_module(module), attribute)


class Configurable:
    """Base class of a family of interchangeable implementations chosen at run time."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        base = cls.configurable_base()
        init_kwargs: dict[str, Any] = {}
        if cls is base:
            impl = cls.configured_class()
            init_kwargs.update(_configured.get(base, (None, {}))[1])
        else:
            impl = cls
        init_kwargs.update(kwargs)
        if impl.configurable_base() is not base:
            # The implementation is the base of another family: let it choose in turn.
            return impl(*args, **init_kwargs)
        instance = super().__new__(impl)
        instance.initialize(*args, **init_kwargs)
        return instance

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        """The base of the family (the class whose instantiation picks an implementation)."""
        raise NotImplementedError()

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        """The implementation used when ``configure()`` was not called."""
        raise NotImplementedError()

    def initialize(self) -> None:
        """Take the constructor's arguments (subclasses define the ones they accept)."""

    @classmethod
    def configure(cls, impl: type[Configurable] | str | None, **kwargs: Any) -> None:
        """Choose the implementation (a class, its dotted name, or None for the default) and
        extra keyword arguments for its ``initialize``."""
        base = cls.configurable_base()
        if isinstance(impl, str):
            impl = _import_object(impl)
        if impl is not None and not (isinstance(impl, type) and issubclass(impl, cls)):
            raise ValueError(f"Invalid subclass of {cls.__name__}: {impl!r}")
        _configured[base] = (impl, kwargs)

    @classmethod
    def configured_class(cls) -> type[Configurable]:
        """The implementation that instantiating the base class makes now."""
        base = cls.configurable_base()
        impl = _configured.get(base, (None, {}))[0]
        if impl is None:
            impl = base.configurable_default()
            _configured[base] = (impl, _configured.get(base, (None, {}))[1])
        return impl

    @classmethod
    def _save_configuration(cls) -> tuple[type | None, dict[str, Any]]:
        base = cls.configurable_base()
        return _configured.get(base, (None, {}))

    @classmethod
    def _restore_configuration(cls, saved: tuple[type | None, dict[str, Any]]) -> None:
        _configured[cls.configurable_base()] = saved

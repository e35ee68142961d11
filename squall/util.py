"""Small utilities Tornado code imports from ``tornado.util``.

``ObjectDict`` (a dict with attribute access), ``GzipDecompressor`` (a bounded, multi-member
gzip stream decoder), ``import_object``, ``Configurable`` (a base class whose constructor
builds a configured implementation), ``ArgReplacer``, ``exec_in``, ``raise_exc_info``,
``errno_from_exception``, ``re_unescape``, ``timedelta_to_seconds``, and the aliases
``TimeoutError``, ``unicode_type`` and ``basestring_type``.

A leaf: it imports nothing from squall, so every layer may use it.
"""

from __future__ import annotations

import builtins
import datetime
import importlib
import inspect
import re
import warnings
import zlib
from collections.abc import Callable
from types import CodeType, TracebackType
from typing import Any, NoReturn

__all__ = [
    "ArgReplacer",
    "Configurable",
    "GzipDecompressor",
    "ObjectDict",
    "TimeoutError",
    "basestring_type",
    "errno_from_exception",
    "exec_in",
    "import_object",
    "raise_exc_info",
    "re_unescape",
    "timedelta_to_seconds",
    "unicode_type",
]

#: What squall raises when an operation times out: the built-in ``TimeoutError``, which is also
#: ``asyncio.TimeoutError`` and ``squall.gen.TimeoutError``.
TimeoutError = builtins.TimeoutError
#: ``str``: Python 2's ``unicode``, kept for code that still spells it so.
unicode_type = str
#: ``str``: Python 2's ``basestring``, kept for code that still spells it so.
basestring_type = str

_ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]


class ObjectDict(dict[str, Any]):
    """A dict whose keys can also be read and written as attributes (``d.key``).

    A missing key read as an attribute raises AttributeError (so ``getattr(d, "x", default)``
    and ``hasattr`` behave); item access keeps KeyError.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


class GzipDecompressor:
    """Decode a gzip stream fed in chunks, with the output of each call bounded.

    The interface follows ``zlib.decompressobj``: ``decompress(chunk, max_length)`` returns at
    most ``max_length`` bytes and leaves the input it did not reach in ``unconsumed_tail``,
    which the caller must feed back before more input. Several gzip members in a row
    (RFC 1952 §2.2) decode as one stream. ``flush()`` ends the stream: it raises
    ``zlib.error`` for a truncated member and ValueError if input was left unconsumed (a caller
    that stopped feeding back a decompression bomb gets no more output). Bytes after a member
    that do not start another gzip member raise ``zlib.error``.
    """

    def __init__(self) -> None:
        self._member: Any = None  # the zlib decompressobj of the member being read
        self._tail = b""

    @property
    def unconsumed_tail(self) -> bytes:
        """The input the last ``decompress`` call did not reach; feed it back before new input."""
        return self._tail

    def decompress(self, value: bytes, max_length: int | None = None) -> bytes:
        """Decode ``value`` and return up to ``max_length`` bytes of output (0: no limit).

        Leaving ``max_length`` out decodes everything at once, which a hostile peer can turn
        into unbounded memory; it is deprecated and warns (DeprecationWarning).
        """
        if max_length is None:
            warnings.warn(
                "GzipDecompressor.decompress() without max_length has no memory bound; "
                "pass max_length and feed unconsumed_tail back",
                DeprecationWarning,
                stacklevel=2,
            )
            max_length = 0
        output: list[bytes] = []
        budget = max_length
        data = bytes(value)
        while data:
            if self._member is None or self._member.eof:
                self._member = zlib.decompressobj(16 + zlib.MAX_WBITS)
            chunk = self._member.decompress(data, budget if max_length else 0)
            output.append(chunk)
            budget -= len(chunk)
            if self._member.eof:
                data = self._member.unused_data
            else:
                data = self._member.unconsumed_tail
                break
            if max_length and budget <= 0:
                break
        self._tail = data
        return b"".join(output)

    def flush(self) -> bytes:
        """End the stream and return any output still held back.

        Raises ValueError when ``unconsumed_tail`` is not empty, and ``zlib.error`` when the
        last member is incomplete. No other method may be called afterwards.
        """
        if self._tail:
            raise ValueError(
                "GzipDecompressor.flush() with unconsumed input left; "
                "feed unconsumed_tail back to decompress() first"
            )
        member, self._member = self._member, None
        if member is None:
            return b""
        rest: bytes = member.flush()
        if not member.eof:
            raise zlib.error("incomplete or truncated gzip stream")
        return rest


def import_object(name: str) -> Any:
    """Import a dotted name and return the object: ``import_object("squall.escape.utf8")``.

    A name without dots is a module. Raises ImportError when the module or the attribute does
    not exist.
    """
    if "." not in name:
        return importlib.import_module(name)
    module_name, _, attribute = name.rpartition(".")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        pass
    try:  # a submodule not yet imported by its package
        return importlib.import_module(name)
    except ModuleNotFoundError:
        raise ImportError(f"No module or attribute named {attribute!r} in {module_name}") from None


def exec_in(code: str | CodeType, glob: dict[str, Any], loc: dict[str, Any] | None = None) -> None:
    """Run ``code`` (source text or a code object) with the given globals and locals.

    Source is compiled without inheriting this module's ``__future__`` imports.
    """
    if isinstance(code, str):
        code = compile(code, "<string>", "exec", dont_inherit=True)
    exec(code, glob, loc)


def raise_exc_info(exc_info: _ExcInfo) -> NoReturn:
    """Re-raise the exception of a ``sys.exc_info()`` triple with its traceback.

    The exception object itself is raised (not a copy), so exceptions whose constructor takes
    other arguments survive. Raises TypeError for a triple that holds no exception.
    """
    try:
        if exc_info[1] is None:
            raise TypeError("raise_exc_info() got no exception: sys.exc_info() was empty")
        raise exc_info[1].with_traceback(exc_info[2])
    finally:
        exc_info = (None, None, None)  # no reference cycle through this frame


def errno_from_exception(e: BaseException) -> int | None:
    """Return the errno of an exception: its ``errno`` attribute, else its first argument.

    None when it has neither.
    """
    if hasattr(e, "errno"):
        return e.errno  # type: ignore[no-any-return]  # OSError.errno is Any in typeshed
    if e.args:
        return e.args[0]  # type: ignore[no-any-return]  # by convention an int
    return None


_RE_ESCAPED = re.compile(r"\\(?:([0-9A-Za-z])|(.))", re.DOTALL)


def _re_unescape_one(match: re.Match[str]) -> str:
    if match.group(1):
        raise ValueError(f"cannot unescape '\\{match.group(1)}': it is a regex class, not a char")
    return match.group(2)


def re_unescape(s: str) -> str:
    r"""Undo ``re.escape``: ``re_unescape(re.escape(s)) == s``.

    Raises ValueError on an escape that is a regex construct rather than a quoted character
    (``\d``, ``\b``, ``\Z``, ...).
    """
    return _RE_ESCAPED.sub(_re_unescape_one, s)


def timedelta_to_seconds(td: datetime.timedelta) -> float:
    """Return ``td`` in seconds, as a float (``td.total_seconds()``)."""
    return td.total_seconds()


class Configurable:
    """A base class whose constructor builds the configured implementation.

    A family of classes names its base with ``configurable_base()`` and its default
    implementation with ``configurable_default()``. Calling the base class (``Base(...)``)
    then builds ``Base.configured_class()``, set by ``Base.configure(impl, **kwargs)``; the
    keyword arguments given to ``configure`` are defaults for each construction. Calling an
    implementation directly builds that class and ignores ``configure``'s arguments. Subclasses
    put their set-up in ``initialize(*args, **kwargs)``, which ``__new__`` calls; an
    implementation may itself be a configurable base (its own ``configurable_base()``).
    """

    # Stored on the base class itself, read through __dict__ so subclasses do not inherit them.
    _squall_impl_class: type[Configurable] | None = None
    _squall_impl_kwargs: dict[str, Any] | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        base = cls.configurable_base()
        init_kwargs: dict[str, Any] = {}
        if cls is base:
            impl = cls.configured_class()
            init_kwargs.update(base.__dict__.get("_squall_impl_kwargs") or {})
        else:
            impl = cls
        init_kwargs.update(kwargs)
        if impl.configurable_base() is not base:
            # The implementation is a configurable family of its own: let it choose.
            return impl(*args, **init_kwargs)
        instance = super().__new__(impl)
        instance.initialize(*args, **init_kwargs)
        return instance

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        """Return the base class of the configurable family; subclasses must override it."""
        raise NotImplementedError(f"{cls.__name__} must define configurable_base()")

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        """Return the implementation used when none was configured; subclasses override it."""
        raise NotImplementedError(f"{cls.__name__} must define configurable_default()")

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        """Set the instance up; called by ``__new__`` with the constructor's arguments.

        Configurable classes put their set-up here rather than in ``__init__``.
        """

    @classmethod
    def configure(cls, impl: type[Configurable] | str | None, **kwargs: Any) -> None:
        """Make ``impl`` (a subclass, its dotted name, or None for the default) the class the
        base builds, with ``kwargs`` as default constructor arguments.

        Raises ValueError if ``impl`` is not a subclass of ``cls``.
        """
        base = cls.configurable_base()
        if isinstance(impl, str):
            impl = import_object(impl)
        if impl is not None and not (isinstance(impl, type) and issubclass(impl, cls)):
            raise ValueError(f"Invalid subclass of {cls.__name__}: {impl!r}")
        base._squall_impl_class = impl
        base._squall_impl_kwargs = kwargs

    @classmethod
    def configured_class(cls) -> type[Configurable]:
        """Return the class the base builds: the configured one, else the default."""
        base = cls.configurable_base()
        impl = base.__dict__.get("_squall_impl_class")
        if impl is None:
            impl = cls.configurable_default()
            base._squall_impl_class = impl
        return impl

    @classmethod
    def _save_configuration(cls) -> tuple[type[Configurable] | None, dict[str, Any] | None]:
        base = cls.configurable_base()
        return (base.__dict__.get("_squall_impl_class"), base.__dict__.get("_squall_impl_kwargs"))

    @classmethod
    def _restore_configuration(
        cls, saved: tuple[type[Configurable] | None, dict[str, Any] | None]
    ) -> None:
        base = cls.configurable_base()
        base._squall_impl_class, base._squall_impl_kwargs = saved


class ArgReplacer:
    """Find and replace one argument (``name``) in the ``(args, kwargs)`` of calls to ``func``.

    The argument may be passed by position or by keyword; legacy ``callback=`` handling uses
    this. Positional lookup needs a Python-level signature; without one, only the keyword
    form is recognised.
    """

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        self.name = name
        try:
            self.arg_pos: int | None = self._argnames(func).index(name)
        except ValueError:
            self.arg_pos = None  # keyword-only, or not a named parameter at all

    @staticmethod
    def _argnames(func: Callable[..., Any]) -> list[str]:
        try:
            parameters = inspect.signature(func).parameters.values()
        except (TypeError, ValueError):
            return []
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return [p.name for p in parameters if p.kind in positional]

    def get_old_value(
        self, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any], default: Any = None
    ) -> Any:
        """Return the argument's value in this call, or ``default`` if it was not passed."""
        if self.arg_pos is not None and len(args) > self.arg_pos:
            return args[self.arg_pos]
        return kwargs.get(self.name, default)

    def replace(
        self, new_value: Any, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]
    ) -> tuple[Any, tuple[Any, ...] | list[Any], dict[str, Any]]:
        """Put ``new_value`` in place of the argument; return ``(old_value, args, kwargs)``.

        Passed by position, ``args`` comes back as a new list with the value replaced;
        otherwise ``kwargs`` (the same dict) gets it and the old value is None if absent.
        """
        if self.arg_pos is not None and len(args) > self.arg_pos:
            old_value = args[self.arg_pos]
            new_args = list(args)
            new_args[self.arg_pos] = new_value
            return old_value, new_args, kwargs
        old_value = kwargs.get(self.name)
        kwargs[self.name] = new_value
        return old_value, args, kwargs


def _websocket_mask_python(mask: bytes, data: bytes) -> bytes:
    """XOR ``data`` with the 4-byte WebSocket masking key ``mask`` repeated (RFC 6455 §5.3).

    Masking and unmasking are the same operation. Raises ValueError unless ``mask`` is exactly
    4 bytes. squall's WebSocket stack masks in C (the ``websockets`` package); this is the pure
    Python version that Tornado code imports by this name.
    """
    if len(mask) != 4:
        raise ValueError(f"A WebSocket mask is 4 bytes, not {len(mask)}")
    length = len(data)
    if not length:
        return b""
    # One big-integer XOR instead of a loop over bytes.
    repeated = (bytes(mask) * (length // 4 + 1))[:length]
    masked = int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")
    return masked.to_bytes(length, "big")

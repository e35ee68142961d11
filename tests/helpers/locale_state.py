"""Keep ``squall.locale``'s module state (loaded translations, the default locale, the
``Locale`` cache) from leaking out of a test that loads translations."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from squall import locale

_STATE = ("_translations", "_supported_locales", "_use_gettext", "_default_locale")


@contextlib.contextmanager
def isolated_locale_state() -> Iterator[None]:
    """Run the block with squall.locale's state saved before and put back after."""
    saved = {name: getattr(locale, name) for name in _STATE}
    locale.Locale._cache = {}
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(locale, name, value)
        locale.Locale._cache = {}

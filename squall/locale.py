"""Translation and locale-aware formatting, with Tornado's ``tornado.locale`` interface.

Load translations once at start-up, from CSV files (``load_translations``) or from gettext
``.mo`` files (``load_gettext_translations``), then get a ``Locale`` for a user with
``get(*codes)``: the first code with translations wins, a language alone (``"fr"``) matches
its regional code's translations only when they are loaded under that language, and the
default locale (``en_US`` unless ``set_default_locale`` says otherwise) is the fallback::

    squall.locale.load_translations("translations")
    user_locale = squall.locale.get("es_LA", "fr")
    user_locale.translate("Sign out")
    user_locale.translate("%(name)s liked this", "%(name)s liked this", len(people))

Strings are translated *from* the default locale, which needs no translation file.
``parse_accept_language`` reads an ``Accept-Language`` header into codes for ``get``.

The loaded translations are module state (``_translations``, ``_supported_locales``,
``_use_gettext``), replaced as a whole by each load; ``Locale`` objects are cached per code.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import gettext
import io
import os
import re
from collections.abc import Sequence
from typing import Any, Final

from squall._locale_data import LOCALE_NAMES
from squall.log import gen_log

__all__ = [
    "CONTEXT_SEPARATOR",
    "LOCALE_NAMES",
    "CSVLocale",
    "GettextLocale",
    "Locale",
    "get",
    "get_supported_locales",
    "load_gettext_translations",
    "load_translations",
    "parse_accept_language",
    "set_default_locale",
]

#: Between a message's context and its text in gettext catalogs (``msgctxt``).
CONTEXT_SEPARATOR: Final = "\x04"

_default_locale = "en_US"
_translations: dict[str, Any] = {}
_supported_locales: frozenset[str] = frozenset([_default_locale])
_use_gettext = False

_LOCALE_FILE_RE: Final = re.compile(r"[a-z]+(_[A-Z]+)?$")
_PLURAL_KINDS: Final = ("plural", "singular", "unknown")


def get(*locale_codes: str) -> Locale:
    """The closest ``Locale`` for the codes, tried in order (see ``Locale.get_closest``)."""
    return Locale.get_closest(*locale_codes)


def set_default_locale(code: str) -> None:
    """Set the locale the application's own strings are written in (``en_US`` by default).

    It is always supported (its strings need no translation) and it is what ``get`` returns
    when no code matches."""
    global _default_locale, _supported_locales
    _default_locale = code
    _supported_locales = frozenset([*_translations, _default_locale])


def get_supported_locales() -> frozenset[str]:
    """The codes of the loaded translations, and the default locale."""
    return _supported_locales


def load_translations(directory: str, encoding: str | None = None) -> None:
    """Load CSV translations from ``directory``: one ``LOCALE.csv`` per locale (``es_GT.csv``).

    Each row is ``"original","translation"`` with an optional third column, ``"plural"`` or
    ``"singular"`` (empty or ``"unknown"`` for strings without a number), so that a string
    can have both forms::

        "I love you","Te amo"
        "%(name)s liked this","A %(name)s les gustó esto","plural"
        "%(name)s liked this","A %(name)s le gustó esto","singular"

    Files are read as CSV in the default "excel" dialect (no spaces after commas). Without
    ``encoding``, a byte-order mark selects UTF-16 or UTF-8, and UTF-8 is the default. A file
    whose name is not a locale code, or a row with an unknown plural indicator, is skipped
    with an error logged. Replaces any translations loaded before."""
    global _translations, _supported_locales, _use_gettext
    translations: dict[str, dict[str, dict[str, str]]] = {}
    for filename in sorted(os.listdir(directory)):
        if not filename.endswith(".csv"):
            continue
        path = os.path.join(directory, filename)
        code = filename[: -len(".csv")]
        if not _LOCALE_FILE_RE.match(code):
            gen_log.error(
                "Unrecognized locale %r (path: %s): name translation files like es_GT.csv",
                code,
                path,
            )
            continue
        with open(path, "rb") as f:
            data = f.read()
        text = data.decode(encoding or _detect_encoding(data))
        table = translations.setdefault(code, {})
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if len(row) < 2:
                continue
            cells = [cell.strip() for cell in row]
            kind = (cells[2] if len(cells) > 2 else "") or "unknown"
            if kind not in _PLURAL_KINDS:
                gen_log.error(
                    "Unrecognized plural indicator %r in %s line %d: use plural, singular "
                    "or leave it empty",
                    kind,
                    path,
                    number,
                )
                continue
            table.setdefault(kind, {})[cells[0]] = cells[1]
    _translations = translations
    _supported_locales = frozenset([*translations, _default_locale])
    _use_gettext = False
    Locale._cache = {}
    gen_log.debug("Supported locales: %s", sorted(_supported_locales))


def _detect_encoding(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8-sig"  # UTF-8, with or without a byte-order mark


def load_gettext_translations(directory: str, domain: str) -> None:
    """Load gettext translations: ``{directory}/{locale}/LC_MESSAGES/{domain}.mo``.

    Make them with the gettext tools: ``xgettext --language=Python --keyword=_:1,2
    --keyword=pgettext:1c,2 --keyword=pgettext:1c,2,3 -d DOMAIN *.py *.html``, translate
    the ``.po`` file, then ``msgfmt DOMAIN.po -o {directory}/pt_BR/LC_MESSAGES/DOMAIN.mo``.
    A locale folder without a readable catalog is skipped with an error logged. Replaces any
    translations loaded before."""
    global _translations, _supported_locales, _use_gettext
    translations: dict[str, gettext.NullTranslations] = {}
    for code in sorted(os.listdir(directory)):
        if code.startswith(".") or os.path.isfile(os.path.join(directory, code)):
            continue
        try:
            translations[code] = gettext.translation(domain, directory, languages=[code])
        except Exception as exc:
            gen_log.error("Cannot load translation for '%s': %s", code, exc)
    _translations = translations
    _supported_locales = frozenset([*translations, _default_locale])
    _use_gettext = True
    Locale._cache = {}
    gen_log.debug("Supported locales: %s", sorted(_supported_locales))


# RFC 9110 §12.5.4: language-range [ ";" "q=" qvalue ]; a qvalue is 0 to 1, 3 decimals at most.
_LANGUAGE_RANGE_RE: Final = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_QVALUE_RE: Final = re.compile(r"(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)")


def parse_accept_language(header: str) -> list[str]:
    """The language codes of an ``Accept-Language`` header, most preferred first.

    Entries are ordered by their ``q`` weight (1 when absent), keeping the header's order
    between equal weights; entries with ``q=0`` (not acceptable), an invalid weight or an
    invalid tag, and the ``*`` wildcard, are left out. Codes are returned as written
    (``"en-US"``): ``get`` accepts either separator."""
    weighted: list[tuple[float, int, str]] = []
    for position, entry in enumerate(header.split(",")):
        tag, *params = (part.strip() for part in entry.split(";"))
        if not _LANGUAGE_RANGE_RE.fullmatch(tag):
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                weight = float(value) if _QVALUE_RE.fullmatch(value) else 0.0
        if weight > 0:
            weighted.append((-weight, position, tag))
    weighted.sort()
    return [tag for _, _, tag in weighted]


class Locale:
    """A locale: translates strings and formats dates, numbers and lists for it.

    Get one with ``get`` or ``Locale.get_closest``, after loading translations. ``code`` is
    the locale code, ``name`` its name in its own language (``LOCALE_NAMES``), ``rtl`` true
    for right-to-left languages (Arabic, Persian, Hebrew)."""

    _cache: dict[str, Locale] = {}

    @classmethod
    def get_closest(cls, *locale_codes: str) -> Locale:
        """The first supported locale among the codes, else the default locale.

        ``-`` and ``_`` are both accepted and case is normalized (``en-us`` is ``en_US``);
        a code with a region falls back to its language alone (``fr_CA`` to ``fr``) when
        only that is supported. Codes with more than two parts are skipped."""
        for code in locale_codes:
            if not code:
                continue
            parts = code.replace("-", "_").split("_")
            if len(parts) > 2:
                continue
            language = parts[0].lower()
            full = f"{language}_{parts[1].upper()}" if len(parts) == 2 else language
            if full in _supported_locales:
                return cls.get(full)
            if language in _supported_locales:
                return cls.get(language)
        return cls.get(_default_locale)

    @classmethod
    def get(cls, code: str) -> Locale:
        """The ``Locale`` for a supported code (cached); ValueError for any other code."""
        locale = cls._cache.get(code)
        if locale is None:
            if code not in _supported_locales:
                raise ValueError(
                    f"Locale {code!r} is not supported (supported: {sorted(_supported_locales)})"
                )
            translations = _translations.get(code)
            if translations is None:
                locale = CSVLocale(code, {})
            elif _use_gettext:
                locale = GettextLocale(code, translations)
            else:
                locale = CSVLocale(code, translations)
            cls._cache[code] = locale
        return locale

    def __init__(self, code: str) -> None:
        self.code = code
        self.name: str = LOCALE_NAMES.get(code, {}).get("name", "Unknown")
        self.rtl = code.startswith(("fa", "ar", "he"))
        _ = self.translate
        self._months = [
            _("January"),
            _("February"),
            _("March"),
            _("April"),
            _("May"),
            _("June"),
            _("July"),
            _("August"),
            _("September"),
            _("October"),
            _("November"),
            _("December"),
        ]
        self._weekdays = [
            _("Monday"),
            _("Tuesday"),
            _("Wednesday"),
            _("Thursday"),
            _("Friday"),
            _("Saturday"),
            _("Sunday"),
        ]

    def translate(
        self, message: str, plural_message: str | None = None, count: int | None = None
    ) -> str:
        """The translation of ``message``; with ``plural_message`` (and ``count``, then
        required), the plural form when ``count != 1`` and the singular otherwise."""
        raise NotImplementedError()

    def pgettext(
        self,
        context: str,
        message: str,
        plural_message: str | None = None,
        count: int | None = None,
    ) -> str:
        """Like ``translate``, for ``message`` in ``context`` (gettext's ``msgctxt``)."""
        raise NotImplementedError()

    def format_date(
        self,
        date: int | float | datetime.datetime,
        gmt_offset: int = 0,
        relative: bool = True,
        shorter: bool = False,
        full_format: bool = False,
    ) -> str:
        """A date for people: "2 minutes ago", "yesterday at 6:35 pm", "April 28, 2013".

        ``date`` is a POSIX timestamp or a datetime (naive ones are UTC). ``gmt_offset`` is
        the viewer's offset from UTC in minutes (positive west of Greenwich, as JavaScript's
        ``getTimezoneOffset``). ``relative=False`` never says "ago"; ``full_format=True``
        always gives the full date and time; ``shorter`` leaves the time out. Meant for past
        dates: a date in the future gets the full format (less than a minute ahead counts
        as now, for clock skew). English and Chinese locales use a 12-hour clock."""
        if isinstance(date, (int, float)):
            date = datetime.datetime.fromtimestamp(date, datetime.UTC)
        if date.tzinfo is None:
            date = date.replace(tzinfo=datetime.UTC)
        now = datetime.datetime.now(datetime.UTC)
        if date > now:
            if relative and (date - now).total_seconds() < 60:
                date = now
            else:
                full_format = True
        local_date = date - datetime.timedelta(minutes=gmt_offset)
        local_now = now - datetime.timedelta(minutes=gmt_offset)
        local_yesterday = local_now - datetime.timedelta(hours=24)
        difference = now - date
        seconds, days = difference.seconds, difference.days
        _ = self.translate
        pattern = None
        if not full_format:
            if relative and days == 0:
                if seconds < 50:
                    return _("1 second ago", "%(seconds)d seconds ago", seconds) % {
                        "seconds": seconds
                    }
                if seconds < 50 * 60:
                    minutes = round(seconds / 60.0)
                    return _("1 minute ago", "%(minutes)d minutes ago", minutes) % {
                        "minutes": minutes
                    }
                hours = round(seconds / (60.0 * 60))
                return _("1 hour ago", "%(hours)d hours ago", hours) % {"hours": hours}
            if days == 0:
                pattern = _("%(time)s")
            elif days == 1 and local_date.day == local_yesterday.day and relative:
                pattern = _("yesterday") if shorter else _("yesterday at %(time)s")
            elif days < 5:
                pattern = _("%(weekday)s") if shorter else _("%(weekday)s at %(time)s")
            elif days < 334:  # about 11 months: "May 3" must not mean last year's May
                pattern = (
                    _("%(month_name)s %(day)s")
                    if shorter
                    else _("%(month_name)s %(day)s at %(time)s")
                )
        if pattern is None:
            pattern = (
                _("%(month_name)s %(day)s, %(year)s")
                if shorter
                else _("%(month_name)s %(day)s, %(year)s at %(time)s")
            )
        return pattern % {
            "month_name": self._months[local_date.month - 1],
            "weekday": self._weekdays[local_date.weekday()],
            "day": str(local_date.day),
            "year": str(local_date.year),
            "time": self._clock(local_date),
        }

    def _clock(self, when: datetime.datetime) -> str:
        if self.code == "zh_CN":
            half = "\u4e0b\u5348" if when.hour >= 12 else "\u4e0a\u5348"
            return f"{half}{when.hour % 12 or 12}:{when.minute:02d}"
        if self.code in ("en", "en_US"):
            return f"{when.hour % 12 or 12}:{when.minute:02d} {'pm' if when.hour >= 12 else 'am'}"
        return f"{when.hour}:{when.minute:02d}"

    def format_day(self, date: datetime.datetime, gmt_offset: int = 0, dow: bool = True) -> str:
        """A day: "Monday, January 22", or "January 22" with ``dow=False``."""
        local_date = date - datetime.timedelta(minutes=gmt_offset)
        _ = self.translate
        pattern = _("%(weekday)s, %(month_name)s %(day)s") if dow else _("%(month_name)s %(day)s")
        return pattern % {
            "month_name": self._months[local_date.month - 1],
            "weekday": self._weekdays[local_date.weekday()],
            "day": str(local_date.day),
        }

    def list(self, parts: Sequence[str]) -> str:
        """Join parts for reading: "A, B and C", "A and B", "A" ("" for none)."""
        _ = self.translate
        if len(parts) == 0:
            return ""
        if len(parts) == 1:
            return parts[0]
        comma = " \u0648 " if self.code.startswith("fa") else ", "
        return _("%(commas)s and %(last)s") % {
            "commas": comma.join(parts[:-1]),
            "last": parts[-1],
        }

    def friendly_number(self, value: int) -> str:
        """``value`` with thousands separators ("1,000,000") in English; as is otherwise."""
        if self.code not in ("en", "en_US"):
            return str(value)
        return f"{value:,}"


class CSVLocale(Locale):
    """A locale whose translations came from ``load_translations`` (CSV files)."""

    def __init__(self, code: str, translations: dict[str, dict[str, str]]) -> None:
        self.translations = translations
        super().__init__(code)

    def translate(
        self, message: str, plural_message: str | None = None, count: int | None = None
    ) -> str:
        if plural_message is not None:
            if count is None:
                raise ValueError("translate() with a plural_message needs a count")
            if count != 1:
                message = plural_message
                table = self.translations.get("plural", {})
            else:
                table = self.translations.get("singular", {})
        else:
            table = self.translations.get("unknown", {})
        return table.get(message, message)

    def pgettext(
        self,
        context: str,
        message: str,
        plural_message: str | None = None,
        count: int | None = None,
    ) -> str:
        """CSV files have no contexts: the context is ignored (with a warning when
        translations are loaded)."""
        if self.translations:
            gen_log.warning("pgettext is not supported by CSVLocale")
        return self.translate(message, plural_message, count)


class GettextLocale(Locale):
    """A locale whose translations came from ``load_gettext_translations`` (.mo files)."""

    def __init__(self, code: str, translations: gettext.NullTranslations) -> None:
        self.ngettext = translations.ngettext
        self.gettext = translations.gettext
        super().__init__(code)

    def translate(
        self, message: str, plural_message: str | None = None, count: int | None = None
    ) -> str:
        if plural_message is not None:
            if count is None:
                raise ValueError("translate() with a plural_message needs a count")
            return self.ngettext(message, plural_message, count)
        return self.gettext(message)

    def pgettext(
        self,
        context: str,
        message: str,
        plural_message: str | None = None,
        count: int | None = None,
    ) -> str:
        """The translation of ``message`` in ``context``; without a translation for that
        context, the message's translation without context::

            locale.pgettext("law", "right")
            locale.pgettext("organization", "club", "clubs", len(clubs))

        Extract such strings with ``xgettext --keyword=pgettext:1c,2
        --keyword=pgettext:1c,2,3``."""
        if plural_message is not None:
            if count is None:
                raise ValueError("pgettext() with a plural_message needs a count")
            result = self.ngettext(
                f"{context}{CONTEXT_SEPARATOR}{message}",
                f"{context}{CONTEXT_SEPARATOR}{plural_message}",
                count,
            )
            if CONTEXT_SEPARATOR in result:
                result = self.ngettext(message, plural_message, count)
            return result
        result = self.gettext(f"{context}{CONTEXT_SEPARATOR}{message}")
        if CONTEXT_SEPARATOR in result:
            result = self.gettext(message)
        return result

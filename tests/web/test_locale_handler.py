"""The locale of a request, over a real server: ``get_browser_locale`` (Accept-Language with
q-values), ``get_user_locale`` overriding it, the assignable ``locale`` property, and ``_``/
``pgettext`` translating in templates (CSV and gettext translations)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall import locale
from squall.httputil import HTTPHeaders, HTTPServerRequest
from squall.template import DictLoader
from squall.testing import AsyncHTTPTestCase
from squall.web import Application, RequestHandler
from tests.helpers.locale_state import isolated_locale_state
from tests.helpers.mo import compile_mo, parse_po

FRENCH_CSV = """\
"Sign out","Se déconnecter"
"%(n)s post","%(n)s billet","singular"
"%(n)s posts","%(n)s billets","plural"
"""
SPANISH_CSV = '"Sign out","Cerrar sesión"\n'

GERMAN_PO = r"""
msgid ""
msgstr "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=2; plural=(n != 1);\n"

msgid "Sign out"
msgstr "Abmelden"

msgctxt "door"
msgid "Open"
msgstr "Offen"

msgctxt "verb"
msgid "Open"
msgstr "Öffnen"
"""


@pytest.fixture(autouse=True)
def translations() -> Iterator[None]:
    """French and Spanish CSV translations, squall.locale's state put back afterwards."""
    with isolated_locale_state(), tempfile.TemporaryDirectory() as folder:
        Path(folder, "fr_FR.csv").write_text(FRENCH_CSV, encoding="utf-8")
        Path(folder, "es_LA.csv").write_text(SPANISH_CSV, encoding="utf-8")
        locale.load_translations(folder)
        yield
    RequestHandler._template_loaders.clear()


class BrowserLocaleHandler(RequestHandler):
    """Answers with the browser locale's code in Content-Language, as Tornado's test does."""

    def get(self) -> None:
        default = self.get_argument("default", None)
        chosen = self.get_browser_locale(default) if default else self.get_browser_locale()
        self.set_header("Content-Language", chosen.code.replace("_", "-"))
        self.finish(b"")


class UserLocaleHandler(RequestHandler):
    """The user's saved locale (the ``lang`` argument here) wins over the browser's."""

    calls = 0

    def get_user_locale(self) -> Any:
        type(self).calls += 1
        lang = self.get_argument("lang", None)
        return locale.get(lang) if lang else None

    def get(self) -> None:
        first = self.locale
        assert self.locale is first  # chosen once per request
        self.write(self.locale.code)


class AssignedLocaleHandler(RequestHandler):
    """Tornado web_test's SetLazyPropertiesTest: locale and current_user are assignable."""

    def prepare(self) -> None:
        self.current_user = "Ben"
        self.locale = locale.get("en_US")

    def get_user_locale(self) -> Any:
        raise NotImplementedError()

    def get_current_user(self) -> Any:
        raise NotImplementedError()

    def get(self) -> None:
        self.write(f"Hello {self.current_user} ({self.locale.code})")


class TranslatedPageHandler(RequestHandler):
    def get(self) -> None:
        self.render("page.html", n=int(self.get_argument("n", "1")))


class LocaleTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application(
            [
                (r"/browser", BrowserLocaleHandler),
                (r"/user", UserLocaleHandler),
                (r"/assigned", AssignedLocaleHandler),
                (r"/page", TranslatedPageHandler),
            ],
            template_loader=DictLoader(
                {
                    "page.html": "{{ locale.code }}|{{ _('Sign out') }}|"
                    "{{ _('%(n)s post', '%(n)s posts', n) % {'n': n} }}|"
                    "{{ locale.friendly_number(12345) }}"
                }
            ),
        )

    def browser_locale(self, accept_language: str | None, query: str = "") -> str:
        headers = {} if accept_language is None else {"Accept-Language": accept_language}
        response = self.fetch(f"/browser{query}", headers=headers)
        assert response.code == 200
        return str(response.headers["Content-Language"])

    def test_accept_language_with_a_weight(self) -> None:
        # Tornado web_test's AcceptLanguageTest.test_accept_language.
        assert self.browser_locale("fr-FR;q=0.9") == "fr-FR"
        assert self.browser_locale("fr-FR; q=0.9") == "fr-FR"

    def test_a_zero_weight_means_not_acceptable(self) -> None:
        # Tornado web_test's AcceptLanguageTest.test_accept_language_ignore.
        assert self.browser_locale("fr-FR;q=0") == "en-US"

    def test_languages_are_tried_by_weight(self) -> None:
        assert self.browser_locale("es-LA;q=0.5, fr-FR;q=0.8") == "fr-FR"
        assert self.browser_locale("de;q=0.9, es-LA, fr-FR;q=0.8") == "es-LA"
        assert self.browser_locale("de, it;q=0.9") == "en-US"  # nothing loaded for them

    def test_invalid_entries_are_ignored(self) -> None:
        assert self.browser_locale("fr-FR;q=2, es-LA;q=abc, **, ;q=1, es-LA;q=0.1") == "es-LA"
        assert self.browser_locale("not a language tag!, fr-FR;q=0.3") == "fr-FR"

    def test_without_the_header_the_default_locale(self) -> None:
        assert self.browser_locale(None) == "en-US"
        assert self.browser_locale(None, "?default=es_LA") == "es-LA"
        assert self.browser_locale("", "?default=fr_FR") == "fr-FR"

    def test_get_user_locale_wins_over_the_browser(self) -> None:
        UserLocaleHandler.calls = 0
        response = self.fetch("/user?lang=es_LA", headers={"Accept-Language": "fr-FR"})
        assert (response.body, UserLocaleHandler.calls) == (b"es_LA", 1)

    def test_the_browser_decides_when_get_user_locale_returns_none(self) -> None:
        response = self.fetch("/user", headers={"Accept-Language": "fr-FR"})
        assert response.body == b"fr_FR"

    def test_locale_and_current_user_are_assignable(self) -> None:
        assert self.fetch("/assigned").body == b"Hello Ben (en_US)"

    def test_templates_translate_with_the_request_locale(self) -> None:
        french = self.fetch("/page?n=3", headers={"Accept-Language": "fr-FR"})
        assert french.body.decode() == "fr_FR|Se déconnecter|3 billets|12345"
        one = self.fetch("/page?n=1", headers={"Accept-Language": "fr-CA, fr-FR;q=0.5"})
        assert one.body.decode() == "fr_FR|Se déconnecter|1 billet|12345"
        english = self.fetch("/page?n=2", headers={"Accept-Language": "en-GB"})
        assert english.body.decode() == "en_US|Sign out|2 posts|12,345"


class GettextLocaleTest(AsyncHTTPTestCase):
    """gettext translations reach templates through ``_`` and ``pgettext``."""

    def get_app(self) -> Application:
        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        messages = folder / "de_DE" / "LC_MESSAGES"
        messages.mkdir(parents=True)
        (messages / "squall_test.mo").write_bytes(compile_mo(parse_po(GERMAN_PO)))
        locale.load_gettext_translations(str(folder), "squall_test")
        return Application(
            [(r"/", TranslatedPageHandler), (r"/browser", BrowserLocaleHandler)],
            template_loader=DictLoader(
                {
                    "page.html": "{{ _('Sign out') }}|{{ pgettext('door', 'Open') }}|"
                    "{{ pgettext('verb', 'Open') }}"
                }
            ),
        )

    def test_gettext_translations_in_templates(self) -> None:
        response = self.fetch("/", headers={"Accept-Language": "de-DE,en;q=0.1"})
        assert response.body.decode() == "Abmelden|Offen|Öffnen"

    def test_browser_locale_with_gettext_translations(self) -> None:
        response = self.fetch("/browser", headers={"Accept-Language": "de-DE;q=0.9"})
        assert response.headers["Content-Language"] == "de-DE"


LANGUAGE_ENTRY = st.one_of(
    st.sampled_from(["fr-FR", "fr_FR", "es-LA", "de", "en-US", "*", "", "x" * 9, "fr-"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
).flatmap(
    lambda tag: st.sampled_from(["", ";q=0", ";q=0.5", ";q=1", ";q=1.5", ";q=x", "; q=0.25"]).map(
        lambda weight: tag + weight
    )
)


@settings(max_examples=300, deadline=None)
@given(st.lists(LANGUAGE_ENTRY, max_size=6).map(", ".join))
def test_any_accept_language_gives_a_loaded_locale(header: str) -> None:
    """Whatever the browser sends, the handler's locale is one that is loaded (never an
    error), and it is the first acceptable loaded language when there is one."""
    request = HTTPServerRequest("GET", "/", headers=HTTPHeaders({"Accept-Language": header}))
    handler = RequestHandler(Application(), request)
    chosen = handler.locale
    assert chosen.code in locale.get_supported_locales()
    expected = next(
        (code for code in map(_normalized, locale.parse_accept_language(header)) if code),
        "en_US",
    )
    assert chosen.code == expected


def _normalized(code: str) -> str | None:
    """The loaded locale ``code`` stands for, by Tornado's matching rules (None: none)."""
    parts = code.replace("-", "_").split("_")
    if len(parts) > 2:
        return None
    full = parts[0].lower() + ("_" + parts[1].upper() if len(parts) == 2 else "")
    for candidate in (full, parts[0].lower()):
        if candidate in ("fr_FR", "es_LA", "en_US"):
            return candidate
    return None

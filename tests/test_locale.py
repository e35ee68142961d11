"""squall.locale: CSV and gettext translations, locale matching, formatting, Accept-Language."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from squall import locale
from tests.helpers.mo import compile_mo, parse_po

UTC = datetime.UTC


@pytest.fixture(autouse=True)
def isolated_locale_state() -> Iterator[None]:
    names = ("_translations", "_supported_locales", "_use_gettext", "_default_locale")
    saved = {name: getattr(locale, name) for name in names}
    locale.Locale._cache = {}
    yield
    for name, value in saved.items():
        setattr(locale, name, value)
    locale.Locale._cache = {}


SPANISH_CSV = """\
"I love you","Te amo"
"%(name)s liked this","A %(name)s les gustó esto","plural"
"%(name)s liked this","A %(name)s le gustó esto","singular"
"school","escuela",""
"""


def write_csv(folder: Path, name: str, text: str, encoding: str = "utf-8") -> None:
    (folder / name).write_bytes(text.encode(encoding))


# ---------- CSV ----------


def test_csv_translations_with_plural_and_singular_rows(tmp_path: Path) -> None:
    write_csv(tmp_path, "es_LA.csv", SPANISH_CSV)
    locale.load_translations(str(tmp_path))
    es = locale.get("es_LA")
    assert isinstance(es, locale.CSVLocale)
    assert es.translate("I love you") == "Te amo"
    assert es.translate("school") == "escuela"
    assert es.translate("%(name)s liked this", "%(name)s liked this", 1) == (
        "A %(name)s le gustó esto"
    )
    assert es.translate("%(name)s liked this", "%(name)s liked this", 3) == (
        "A %(name)s les gustó esto"
    )
    assert es.translate("untranslated") == "untranslated"
    assert es.translate("one apple", "%(n)d apples", 2) == "%(n)d apples"
    assert es.name == "Español"
    assert locale.get_supported_locales() == frozenset({"es_LA", "en_US"})


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
def test_csv_encodings_are_detected_by_byte_order_mark(tmp_path: Path, encoding: str) -> None:
    # utf-16-le/-be write no byte-order mark of their own: write one, as editors do.
    text = "\ufeff" + SPANISH_CSV if encoding.endswith(("-le", "-be")) else SPANISH_CSV
    write_csv(tmp_path, "es_LA.csv", text, encoding)
    locale.load_translations(str(tmp_path))
    assert locale.get("es_LA").translate("I love you") == "Te amo"


def test_csv_explicit_encoding(tmp_path: Path) -> None:
    write_csv(tmp_path, "fr_FR.csv", '"school","école"\n', "latin-1")
    locale.load_translations(str(tmp_path), encoding="latin-1")
    assert locale.get("fr_FR").translate("school") == "école"


def test_csv_bad_file_names_and_plural_indicators_are_logged_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_csv(tmp_path, "Spanish.csv", SPANISH_CSV)
    write_csv(tmp_path, "de_DE.csv", '"yes","ja","maybe"\n"no","nein"\n')
    write_csv(tmp_path, "notes.txt", "ignored")
    with caplog.at_level(logging.ERROR, logger="tornado.general"):
        locale.load_translations(str(tmp_path))
    messages = [record.getMessage() for record in caplog.records]
    assert any("Unrecognized locale 'Spanish'" in m for m in messages)
    assert any("Unrecognized plural indicator 'maybe'" in m and "line 1" in m for m in messages)
    assert locale.get_supported_locales() == frozenset({"de_DE", "en_US"})
    de = locale.get("de_DE")
    assert (de.translate("yes"), de.translate("no")) == ("yes", "nein")


def test_csv_pgettext_ignores_the_context_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_csv(tmp_path, "es_LA.csv", SPANISH_CSV)
    locale.load_translations(str(tmp_path))
    with caplog.at_level(logging.WARNING):
        assert locale.get("es_LA").pgettext("love", "I love you") == "Te amo"
    assert "pgettext is not supported by CSVLocale" in caplog.text


def test_loading_replaces_earlier_translations(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    write_csv(tmp_path / "one", "es_LA.csv", SPANISH_CSV)
    write_csv(tmp_path / "two", "fr_FR.csv", '"school","école"\n')
    locale.load_translations(str(tmp_path / "one"))
    locale.get("es_LA")
    locale.load_translations(str(tmp_path / "two"))
    assert locale.get_supported_locales() == frozenset({"fr_FR", "en_US"})
    assert locale.get("es_LA").code == "en_US"


# ---------- gettext ----------

FRENCH_PO = r"""
msgid ""
msgstr ""
"Content-Type: text/plain; charset=utf-8\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\n"

msgid "school"
msgstr "école"

msgctxt "law"
msgid "right"
msgstr "le droit"

msgctxt "good"
msgid "right"
msgstr "le bien"

msgid "right"
msgstr "la droite"

msgctxt "organization"
msgid "club"
msgid_plural "clubs"
msgstr[0] "le club"
msgstr[1] "les clubs"

msgid "apple"
msgid_plural "apples"
msgstr[0] "pomme"
msgstr[1] "pommes"

msgid "January"
msgstr "janvier"
"""


@pytest.fixture
def gettext_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "fr_FR" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "app.po").write_text(FRENCH_PO, encoding="utf-8")
    (folder / "app.mo").write_bytes(compile_mo(parse_po(FRENCH_PO)))
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "README").write_text("not a locale")
    return tmp_path


def test_gettext_translations(gettext_dir: Path) -> None:
    locale.load_gettext_translations(str(gettext_dir), "app")
    fr = locale.get("fr_FR")
    assert isinstance(fr, locale.GettextLocale)
    assert fr.translate("school") == "école"
    assert fr.translate("apple", "apples", 1) == "pomme"
    assert fr.translate("apple", "apples", 2) == "pommes"
    assert fr.translate("pear") == "pear"
    assert locale.get_supported_locales() == frozenset({"fr_FR", "en_US"})


def test_gettext_pgettext_with_and_without_a_known_context(gettext_dir: Path) -> None:
    locale.load_gettext_translations(str(gettext_dir), "app")
    fr = locale.get("fr_FR")
    assert fr.pgettext("law", "right") == "le droit"
    assert fr.pgettext("good", "right") == "le bien"
    assert fr.pgettext("unknown context", "right") == "la droite"
    assert fr.pgettext("organization", "club", "clubs", 1) == "le club"
    assert fr.pgettext("organization", "club", "clubs", 2) == "les clubs"
    assert fr.pgettext("sport", "apple", "apples", 2) == "pommes"


def test_gettext_translations_reach_date_formatting(gettext_dir: Path) -> None:
    locale.load_gettext_translations(str(gettext_dir), "app")
    fr = locale.get("fr_FR")
    assert fr.format_day(datetime.datetime(2013, 1, 28), dow=False) == "janvier 28"


def test_gettext_locale_without_a_catalog_is_logged_and_skipped(
    gettext_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (gettext_dir / "de_DE" / "LC_MESSAGES").mkdir(parents=True)
    with caplog.at_level(logging.ERROR):
        locale.load_gettext_translations(str(gettext_dir), "app")
    assert "Cannot load translation for 'de_DE'" in caplog.text
    assert locale.get_supported_locales() == frozenset({"fr_FR", "en_US"})


def test_po_helper_round_trips_through_the_stdlib(gettext_dir: Path) -> None:
    import gettext

    with open(gettext_dir / "fr_FR" / "LC_MESSAGES" / "app.mo", "rb") as f:
        catalog = gettext.GNUTranslations(f)
    assert catalog.pgettext("law", "right") == "le droit"


# ---------- matching ----------


def test_get_closest_normalizes_codes_and_falls_back(tmp_path: Path) -> None:
    write_csv(tmp_path, "fr_FR.csv", '"school","école"\n')
    write_csv(tmp_path, "pt.csv", '"school","escola"\n')
    locale.load_translations(str(tmp_path))
    assert locale.get("fr-fr").code == "fr_FR"
    assert locale.get("pt_BR").code == "pt"
    assert locale.get("", "de", "fr_FR").code == "fr_FR"
    assert locale.get("x_y_z", "de").code == "en_US"
    assert locale.get().code == "en_US"


def test_set_default_locale_changes_the_fallback() -> None:
    locale.set_default_locale("de_DE")
    assert locale.get("ja").code == "de_DE"
    assert "de_DE" in locale.get_supported_locales()


def test_get_of_an_unsupported_code_says_so() -> None:
    with pytest.raises(ValueError, match="not supported"):
        locale.Locale.get("xx_XX")


def test_locale_objects_are_cached() -> None:
    assert locale.get("en_US") is locale.get("en-us")


def test_names_and_direction() -> None:
    assert locale.LOCALE_NAMES["es_LA"]["name"] == "Español"
    assert locale.LOCALE_NAMES["zh_CN"]["name_en"] == "Chinese (Simplified)"
    assert locale.CSVLocale("ar_AR", {}).rtl
    assert locale.CSVLocale("he_IL", {}).rtl
    assert not locale.CSVLocale("en_US", {}).rtl
    assert locale.CSVLocale("xx", {}).name == "Unknown"


# ---------- formatting ----------


def en() -> locale.Locale:
    return locale.get("en_US")


def test_format_date_full_format() -> None:
    date = datetime.datetime(2013, 4, 28, 18, 35)
    assert en().format_date(date, full_format=True) == "April 28, 2013 at 6:35 pm"
    assert en().format_date(date, full_format=True, shorter=True) == "April 28, 2013"
    assert en().format_date(date, gmt_offset=60, full_format=True) == "April 28, 2013 at 5:35 pm"
    assert locale.CSVLocale("fr_FR", {}).format_date(date, full_format=True) == (
        "April 28, 2013 at 18:35"
    )
    assert locale.CSVLocale("zh_CN", {}).format_date(date, full_format=True) == (
        "April 28, 2013 at \u4e0b\u53486:35"
    )


@pytest.mark.parametrize("aware", [True, False])
def test_format_date_relative(aware: bool) -> None:
    now = datetime.datetime.now(UTC)
    if not aware:
        now = now.replace(tzinfo=None)

    def fmt(delta: datetime.timedelta, **kwargs: bool) -> str:
        return en().format_date(now - delta, full_format=False, **kwargs)

    assert fmt(datetime.timedelta(seconds=1)) == "1 second ago"
    assert fmt(datetime.timedelta(seconds=2)) == "2 seconds ago"
    assert fmt(datetime.timedelta(minutes=2)) == "2 minutes ago"
    assert fmt(datetime.timedelta(hours=1)) == "1 hour ago"
    assert fmt(datetime.timedelta(hours=2)) == "2 hours ago"
    assert fmt(datetime.timedelta(days=1), shorter=True) == "yesterday"
    two_days = now - datetime.timedelta(days=2)
    assert fmt(datetime.timedelta(days=2), shorter=True) == two_days.strftime("%A")
    old = now - datetime.timedelta(days=300)
    assert fmt(datetime.timedelta(days=300), shorter=True) == f"{old:%B} {old.day}"
    older = now - datetime.timedelta(days=500)
    assert fmt(datetime.timedelta(days=500), shorter=True) == (
        f"{older:%B} {older.day}, {older.year}"
    )
    soon = now + datetime.timedelta(seconds=30)
    assert en().format_date(soon) == "0 seconds ago"  # clock skew: counted as now
    later = now + datetime.timedelta(days=1, seconds=30)
    assert en().format_date(later, shorter=True) == f"{later:%B} {later.day}, {later.year}"


def test_format_date_of_a_timestamp_and_relative_false() -> None:
    stamp = datetime.datetime(2013, 4, 28, 18, 35, tzinfo=UTC).timestamp()
    assert en().format_date(stamp, relative=False) == "April 28, 2013 at 6:35 pm"
    recent = datetime.datetime.now(UTC) - datetime.timedelta(seconds=5)
    today = en().format_date(recent, relative=False)
    assert "ago" not in today
    assert today.endswith((" am", " pm"))


def test_format_day() -> None:
    date = datetime.datetime(2013, 4, 28, 18, 35)
    assert en().format_day(date) == "Sunday, April 28"
    assert en().format_day(date, dow=False) == "April 28"
    assert en().format_day(date, gmt_offset=24 * 60) == "Saturday, April 27"


def test_list_and_friendly_number() -> None:
    assert en().list([]) == ""
    assert en().list(["A"]) == "A"
    assert en().list(["A", "B"]) == "A and B"
    assert en().list(["A", "B", "C"]) == "A, B and C"
    assert locale.CSVLocale("fa_IR", {}).list(["A", "B", "C"]) == "A \u0648 B and C"
    assert en().friendly_number(1000000) == "1,000,000"
    assert locale.CSVLocale("de_DE", {}).friendly_number(1000000) == "1000000"


def test_translate_plural_needs_a_count() -> None:
    with pytest.raises(ValueError, match="count"):
        en().translate("a", "b")


# ---------- Accept-Language ----------


@pytest.mark.parametrize(
    ("header", "codes"),
    [
        ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", ["fr-CH", "fr", "en", "de"]),
        ("en;q=0.5, da", ["da", "en"]),
        ("de;q=0.5, en;q=0.5, fr;q=0.5", ["de", "en", "fr"]),
        ("en;q=0, fr", ["fr"]),
        ("en;q=abc, fr;q=1.5, de;q=-1, es;q=0.123", ["es"]),
        ("es;q=0.1234, it;q=1.000", ["it"]),
        ("", []),
        (" , ;q=1, 12, en_US", []),
        ("zh-Hant-TW; Q=0.8 , ja", ["ja", "zh-Hant-TW"]),
        ("en; level=1; q=0.2", ["en"]),
    ],
)
def test_parse_accept_language(header: str, codes: list[str]) -> None:
    assert locale.parse_accept_language(header) == codes


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z]{2}(-[A-Z]{2})?", fullmatch=True),
            st.sampled_from([None, "0", "0.5", "1", "0.25", "2", "x"]),
        )
    )
)
def test_parse_accept_language_orders_by_weight_and_drops_the_unacceptable(
    entries: list[tuple[str, str | None]],
) -> None:
    header = ", ".join(tag if q is None else f"{tag};q={q}" for tag, q in entries)
    weights = {None: 1.0, "0": 0.0, "0.5": 0.5, "1": 1.0, "0.25": 0.25, "2": 0.0, "x": 0.0}
    expected = sorted(
        ((tag, weights[q]) for tag, q in entries if weights[q] > 0),
        key=lambda pair: -pair[1],
    )
    assert locale.parse_accept_language(header) == [tag for tag, _ in expected]

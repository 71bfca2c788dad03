"""Locales, negotiation, the content fallback chain and the CLDR helpers of the web views.

Expected strings are computed with Babel in the test, never typed: the helpers must give
what CLDR says for the request's locale.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.lists import format_list
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.numbers import format_currency, format_decimal, format_percent
from flask import Flask, g, render_template_string
from flask_babel import get_babel
from markupsafe import escape

from jembatan.api.i18n import (DEFAULT_LOCALE, LOCALES, TRANSLATIONS_DIR, Picked, babel_locale,
                               current_locale, init_i18n, language_name, negotiate, pick_text)

BABEL_IDS = {"zh-Hans": "zh_Hans", "zh-Hant": "zh_Hant", "en": "en", "id": "id", "ms": "ms",
             "th": "th", "vi": "vi", "km": "km", "lo": "lo", "my": "my", "fil": "fil"}


def test_locales_in_order():
    assert LOCALES == ("zh-Hans", "zh-Hant", "en", "id", "ms", "th", "vi", "km", "lo", "my",
                       "fil")
    assert DEFAULT_LOCALE == "en"


@pytest.mark.parametrize("tag", LOCALES)
def test_babel_locale(tag):
    locale = babel_locale(tag)
    assert str(locale) == BABEL_IDS[tag]
    assert locale.territories["TH"]  # CLDR data is there for every UI locale


def test_babel_locale_refuses_unknown():
    with pytest.raises(ValueError, match="'qq-Zzzz'"):
        babel_locale("qq-Zzzz")


@pytest.mark.parametrize("header,locale", [
    ("zh-CN,zh;q=0.9", "zh-Hans"), ("zh-SG", "zh-Hans"), ("zh", "zh-Hans"),
    ("zh-TW", "zh-Hant"), ("zh-HK", "zh-Hant"), ("zh-MO", "zh-Hant"), ("zh-Hant", "zh-Hant"),
    ("tl", "fil"), ("fil-PH", "fil"), ("ms-MY", "ms"), ("in", "id"), ("id-ID,en;q=0.8", "id"),
    ("th-TH", "th"), ("vi", "vi"), ("km-KH", "km"), ("lo", "lo"), ("my-MM", "my"),
    ("en-GB", "en"),
    # quality order, q=0 refused, ranges without a UI locale passed over
    ("fr;q=1, en;q=0, th;q=0.3", "th"), ("de, zh-TW;q=0.5, en;q=0.4", "zh-Hant"),
    ("fr-CH, fr;q=0.9, *;q=0.5", "en"), ("zh_TW", "zh-Hant"),
    (None, "en"), ("", "en"), ("*", "en"), ("@@;;, ;q=x", "en"), ("ja, ko", "en"),
])
def test_negotiate(header, locale):
    assert negotiate(header) == locale


# --- the fallback chain ----------------------------------------------------------------------

def test_requested_language():
    assert pick_text({"en": "Fish farming", "th": "การเลี้ยงปลา"}, "th") == \
        Picked("การเลี้ยงปลา", "th", False)


@pytest.mark.parametrize("key", ["zh-Hans", "zh", "zh-CN", "zh-Hans-CN"])
def test_simplified_keys_serve_a_simplified_reader(key):
    assert pick_text({"en": "x", key: "简体"}, "zh-Hans") == Picked("简体", key, False)


@pytest.mark.parametrize("key", ["zh-Hant", "zh-TW", "zh-HK"])
def test_traditional_keys_serve_a_traditional_reader(key):
    assert pick_text({"en": "x", key: "繁體"}, "zh-Hant") == Picked("繁體", key, False)


def test_exact_tag_preferred_within_the_language():
    text = {"zh-CN": "大陆", "zh-Hans": "简体", "zh-TW": "台湾"}
    assert pick_text(text, "zh-Hans") == Picked("简体", "zh-Hans", False)


@pytest.mark.parametrize("locale,key", [("zh-Hans", "zh-Hant"), ("zh-Hans", "zh-TW"),
                                        ("zh-Hant", "zh-Hans"), ("zh-Hant", "zh")])
def test_same_language_other_script_before_english(locale, key):
    assert pick_text({"en": "English", key: "中文"}, locale) == Picked("中文", key, True)


def test_english_before_the_records_own_language():
    text = {"th": "ไทย", "en": "English"}
    assert pick_text(text, "vi", own="th") == Picked("English", "en", True)


def test_regional_english_counts_as_english():
    assert pick_text({"th": "ไทย", "en-GB": "Colour"}, "km") == Picked("Colour", "en-GB", True)


def test_own_language_last():
    text = {"th": "ไทย", "km": "ខ្មែរ"}
    assert pick_text(text, "vi", own="km") == Picked("ខ្មែរ", "km", True)
    # the record's own language named less precisely than its key
    assert pick_text({"th": "ไทย", "zh-Hans": "中文"}, "vi", own="zh") == \
        Picked("中文", "zh-Hans", True)


def test_first_key_without_own_or_when_own_is_absent():
    text = {"th": "ไทย", "km": "ខ្មែរ"}
    assert pick_text(text, "vi") == Picked("ไทย", "th", True)
    assert pick_text(text, "vi", own="lo") == Picked("ไทย", "th", True)


def test_empty_values_are_never_picked():
    assert pick_text({"vi": "  ", "th": "ไทย"}, "vi") == Picked("ไทย", "th", True)
    assert pick_text(None, "en") == Picked("", None, False)
    assert pick_text({}, "en") == Picked("", None, False)
    assert pick_text({"en": ""}, "en") == Picked("", None, False)


def test_unparsable_keys_only_as_the_last_resort():
    assert pick_text({"not a tag": "?", "en": "English"}, "th") == Picked("English", "en", True)
    assert pick_text({"not a tag": "?"}, "th") == Picked("?", "not a tag", True)


# --- language names ----------------------------------------------------------------------

@pytest.mark.parametrize("tag,locale,expected", [
    ("zh-Hant", "en", lambda: Locale.parse("zh_Hant").get_display_name(Locale("en"))),
    ("zh-Hans", "th", lambda: Locale.parse("zh_Hans").get_display_name(Locale("th"))),
    ("en", "zh-Hans", lambda: Locale("en").get_display_name(Locale.parse("zh_Hans"))),
    ("tl", "vi", lambda: Locale("fil").get_display_name(Locale("vi"))),
    ("und", "en", lambda: Locale("en").languages["und"]),
])
def test_language_name_is_cldr(tag, locale, expected):
    assert language_name(tag, locale) == expected()


def test_language_name_of_a_code_cldr_does_not_name():
    assert language_name("qaa", "en") == "qaa"


# --- Flask-Babel and the template helpers --------------------------------------------------

def make_app(**config) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    init_i18n(app)

    @app.route("/<locale>/t", methods=["POST"])
    def render(locale):
        from flask import request
        g.locale = locale
        return render_template_string(request.get_data(as_text=True))

    return app


def render(app: Flask, locale: str, template: str) -> str:
    response = app.test_client().post(f"/{locale}/t", data=template.encode())
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


@pytest.mark.parametrize("tag", ["en", "th", "zh-Hans", "zh-Hant", "my", "fil", "vi"])
def test_cldr_formatting_in_the_request_locale(tag):
    app = make_app()
    loc = babel_locale(tag)
    cases = {
        "{{ country_name('TH') }}": loc.territories["TH"],
        "{{ 'cn'|country_name }}": loc.territories["CN"],
        "{{ country_name('ZZ') }}": loc.territories["ZZ"],
        "{{ fmt_number(1234567.891) }}": format_decimal(1234567.891, locale=loc),
        "{{ fmt_percent(0.256) }}": format_percent(0.256, locale=loc),
        "{{ fmt_currency(1234.5, 'THB') }}": format_currency(1234.5, "THB", locale=loc),
        "{{ fmt_currency(1234.5, 'vnd') }}": format_currency(1234.5, "VND", locale=loc),
        "{{ fmt_date(d) }}": format_date(date(2024, 5, 1), "medium", locale=loc),
        "{{ fmt_date('2024-05-01') }}": format_date(date(2024, 5, 1), "medium", locale=loc),
        "{{ fmt_date('2024-05-01T23:30:00Z', 'long') }}":
            format_date(date(2024, 5, 1), "long", locale=loc),
        "{{ fmt_date('2024-05') }}": format_skeleton("yMMM", date(2024, 5, 1), locale=loc),
        "{{ fmt_date('2024') }}": format_skeleton("y", date(2024, 1, 1), locale=loc),
        "{{ fmt_list(['A', 'B', 'C']) }}": format_list(["A", "B", "C"], locale=loc),
        "{{ language_name('zh-Hant') }}": language_name("zh-Hant", tag),
        "{{ pick_text({'zh-TW': 'x', 'en': 'y'}).lang }}":
            pick_text({"zh-TW": "x", "en": "y"}, tag).lang,
    }
    for template, expected in cases.items():
        with app.test_request_context():
            g.locale = tag
            out = render_template_string(template, d=date(2024, 5, 1))
        assert out == str(escape(expected)), (tag, template)


def test_none_formats_to_nothing():
    app = make_app()
    assert render(app, "th", "[{{ fmt_number(none) }}{{ fmt_date(none) }}"
                             "{{ fmt_currency(none, 'THB') }}]") == "[]"


def test_bad_date_names_the_value():
    app = make_app()
    with app.test_request_context():
        with pytest.raises(ValueError, match="'1 May'"):
            render_template_string("{{ fmt_date('1 May') }}")


def test_datetime_is_shown_in_the_users_timezone():
    app = make_app()
    with app.test_request_context():
        g.locale = "en"
        out = render_template_string("{{ fmt_date(t, 'short') }}",
                                     t=datetime(2024, 5, 1, 23, 30, tzinfo=timezone.utc))
    assert out == format_date(date(2024, 5, 1), "short", locale=Locale("en"))


def test_current_locale_falls_back_to_the_default():
    app = make_app()
    assert current_locale() == "en"  # no app context
    with app.test_request_context():
        assert current_locale() == "en"
        g.locale = "xx"
        assert current_locale() == "en"
    assert render(app, "xx", "{{ current_locale() }}") == "en"
    assert render(app, "km", "{{ current_locale() }}") == "km"


def test_catalogs_come_from_the_translations_folder():
    app = make_app()
    with app.app_context():
        assert get_babel(app).translation_directories == [str(TRANSLATIONS_DIR)]
    assert (TRANSLATIONS_DIR / "messages.pot").is_file()


def write_catalog(root, folder: str, translated: str) -> None:
    catalog = Catalog(locale=folder)
    catalog.add("Search", translated)
    path = root / folder / "LC_MESSAGES"
    path.mkdir(parents=True)
    with open(path / "messages.mo", "wb") as f:
        write_mo(f, catalog)


def test_gettext_finds_each_locale_folder(tmp_path):
    words = {"zh_Hans": "搜索", "zh_Hant": "搜尋", "fil": "Maghanap", "th": "ค้นหา"}
    for folder, word in words.items():
        write_catalog(tmp_path, folder, word)
    app = make_app(BABEL_TRANSLATION_DIRECTORIES=str(tmp_path))
    for tag in ("zh-Hans", "zh-Hant", "fil", "th"):
        assert render(app, tag, "{{ _('Search') }}") == words[BABEL_IDS[tag]]
    assert render(app, "vi", "{{ _('Search') }}") == "Search"  # no catalog: the msgid

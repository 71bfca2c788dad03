"""The message catalogs: complete for every locale, consistent with the code, and the
checks themselves catch what they promise to catch."""
from __future__ import annotations

import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.plural import to_gettext
from babel.support import Translations

from jembatan.api.i18n import LOCALES, babel_locale
from jembatan.translations import catalogs
from jembatan.translations.catalogs import (LOCALE_DIRS, POT, SOURCE_LOCALE, extract_to,
                                            po_path, problems, read)


def test_one_catalog_folder_per_ui_locale():
    assert [str(babel_locale(tag)) for tag in LOCALES] == list(LOCALE_DIRS)


@pytest.mark.parametrize("folder", LOCALE_DIRS)
def test_catalog_complete(folder):
    assert po_path(folder).is_file(), f"{folder}: no catalog (run catalogs update)"
    found = problems(read(po_path(folder), folder), read(POT), folder)
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("folder", LOCALE_DIRS)
def test_plural_forms_are_cldrs(folder):
    catalog = read(po_path(folder), folder)
    assert catalog.plural_forms.strip() == to_gettext(Locale.parse(folder).plural_form).strip()


def msgids(catalog: Catalog) -> set:
    return {(m.id, m.context) for m in catalog if m.id}


def test_pot_is_current(tmp_path):
    """A message added to a page without `catalogs extract` + `update` fails here."""
    assert extract_to(tmp_path / "fresh.pot") == 0
    fresh, committed = msgids(read(tmp_path / "fresh.pot")), msgids(read(POT))
    assert fresh - committed == set(), "messages missing from messages.pot"
    assert committed - fresh == set(), "messages.pot holds messages no page uses"


def test_mapping_extracts_python_and_templates(tmp_path):
    """babel.cfg picks messages out of api/ Python and Jinja files, and nothing else."""
    api = tmp_path / "api"
    (api / "templates" / "part").mkdir(parents=True)
    (api / "static").mkdir()
    (tmp_path / "network").mkdir()
    (api / "views.py").write_text(
        "from flask_babel import gettext as _, ngettext, lazy_gettext as _l\n"
        "TITLE = _l('Technologies')\n"
        "def f(n):\n"
        "    # TRANSLATORS: greeting on the home page\n"
        "    return _('Hello %(name)s', name='x'), ngettext('%(num)d record', "
        "'%(num)d records', n)\n", encoding="utf-8")
    (api / "templates" / "part" / "page.html").write_text(
        "<h1>{{ _('Search') }}</h1>\n"
        "{% trans count=n %}{{ count }} agreement{% pluralize %}{{ count }} agreements"
        "{% endtrans %}\n", encoding="utf-8")
    (api / "static" / "x.html").write_text("{{ _('Not a page') }}", encoding="utf-8")
    (tmp_path / "network" / "x.py").write_text("_('Not the web views')", encoding="utf-8")
    assert extract_to(tmp_path / "out.pot", root=tmp_path) == 0
    pot = read(tmp_path / "out.pot")
    assert msgids(pot) == {("Technologies", None), ("Hello %(name)s", None),
                           (("%(num)d record", "%(num)d records"), None), ("Search", None),
                           (("%(count)s agreement", "%(count)s agreements"), None)}
    hello = pot.get("Hello %(name)s")
    assert hello.locations == [("api/views.py", 5)]
    assert hello.auto_comments == ["TRANSLATORS: greeting on the home page"]
    assert "python-format" in hello.flags


def test_a_broken_template_fails_extraction(tmp_path):
    (tmp_path / "api" / "templates").mkdir(parents=True)
    (tmp_path / "api" / "templates" / "bad.html").write_text("{% if %}", encoding="utf-8")
    with pytest.raises(Exception, match="(?i)expected an expression"):
        extract_to(tmp_path / "out.pot", root=tmp_path)


def test_catalogs_compile_and_load():
    assert catalogs.main(["compile"]) == 0
    for tag, folder in zip(LOCALES, LOCALE_DIRS):
        mo = po_path(folder).with_suffix(".mo")
        assert mo.is_file(), folder
        translations = Translations.load(str(catalogs.HERE), [babel_locale(tag)])
        assert isinstance(translations, Translations), folder  # found, not the null fallback
    english = Translations.load(str(catalogs.HERE), [Locale("en")])
    for message in read(POT):
        if message.id and not isinstance(message.id, tuple):
            assert english.gettext(message.id) == message.id


# --- the checks catch what they should -----------------------------------------------------

def template(*messages) -> Catalog:
    pot = Catalog()
    for msgid in messages:
        pot.add(msgid)
    return pot


def po(folder: str, translations: dict, fuzzy: tuple = ()) -> Catalog:
    catalog = Catalog(locale=folder, fuzzy=False)
    catalog.mime_headers = [("Plural-Forms",
                             to_gettext(Locale.parse(folder).plural_form).strip())]
    for msgid, string in translations.items():
        catalog.add(msgid, string, flags=("fuzzy",) if msgid in fuzzy else ())
    return catalog


def test_complete_catalog_has_no_problems():
    pot = template("Search", "Hello %(name)s", "{count} results", ("%(num)d day", "%(num)d days"))
    th = po("th", {"Search": "ค้นหา", "Hello %(name)s": "สวัสดี %(name)s",
                   "{count} results": "{count} ผลลัพธ์", ("%(num)d day", "%(num)d days"):
                   ("%(num)d วัน",)})
    assert problems(th, pot, "th") == []


@pytest.mark.parametrize("translations,fuzzy,expected", [
    ({}, (), "'Search': missing"),
    ({"Search": "ค้นหา"}, ("Search",), "'Search': fuzzy"),
    ({"Search": ""}, (), "'Search': not translated"),
    ({"Search": "Search"}, (), "'Search': still English"),
])
def test_each_defect_is_reported(translations, fuzzy, expected):
    assert expected in problems(po("th", translations, fuzzy), template("Search"), "th")


def test_fuzzy_header_is_reported():
    catalog = po("th", {"Search": "ค้นหา"})
    catalog.fuzzy = True
    assert any("header" in p for p in problems(catalog, template("Search"), "th"))


def test_message_not_in_the_template_is_reported():
    found = problems(po("th", {"Search": "ค้นหา", "Gone": "ไป"}), template("Search"), "th")
    assert found == ["'Gone': not in messages.pot (run update)"]


def test_words_the_same_everywhere_and_the_english_catalog():
    pot = template("Jembatan", "CSV", "%(a)s – %(b)s", "Search")
    assert problems(po("vi", {"Jembatan": "Jembatan", "CSV": "CSV", "%(a)s – %(b)s":
                              "%(a)s – %(b)s", "Search": "Tìm kiếm"}), pot, "vi") == []
    english = {m.id: m.id for m in pot if m.id}
    assert problems(po(SOURCE_LOCALE, english), pot, SOURCE_LOCALE) == []


@pytest.mark.parametrize("msgid,string", [
    ("Hello %(name)s", "สวัสดี %(nama)s"),
    ("Hello %(name)s", "สวัสดี"),
    ("{count} results", "{jumlah} ผลลัพธ์"),
    ("{count} results", "ผลลัพธ์"),
])
def test_placeholder_mismatch_is_reported(msgid, string):
    found = problems(po("th", {msgid: string}), template(msgid), "th")
    assert any("placeholder" in p for p in found), found


def test_plural_forms_must_be_complete_and_keep_the_count():
    plural = ("%(num)d day", "%(num)d days")
    assert problems(po("fil", {plural: ("%(num)d araw", "%(num)d na araw")}),
                    template(plural), "fil") == []
    short = problems(po("fil", {plural: ("%(num)d araw", "")}), template(plural), "fil")
    assert "'%(num)d day' (form 1): not translated" in short
    lost = problems(po("th", {plural: ("วัน",)}), template(plural), "th")
    assert any("placeholder" in p for p in lost), lost


def test_check_command_fails_exactly_when_a_catalog_has_problems():
    pot = read(POT)
    incomplete = any(problems(read(po_path(f), f), pot, f) for f in LOCALE_DIRS)
    assert catalogs.main(["check"]) == (1 if incomplete else 0)

"""The message catalogs of the web views: extract, update, compile and check.

    python -m jembatan.translations.catalogs extract   # api/ → translations/messages.pot
    python -m jembatan.translations.catalogs update    # .pot → the eleven .po (new ones created)
    python -m jembatan.translations.catalogs compile   # .po → .mo (built, never committed)
    python -m jembatan.translations.catalogs check     # every catalog complete and consistent

The first three run Babel's own ``pybabel`` commands with this project's settings. English
is the source language: ``update`` fills the ``en`` catalog with the msgids themselves, so
it is complete without anyone copying text by hand.
"""
from __future__ import annotations

import argparse
import contextlib
import re
import sys
import tempfile
from pathlib import Path

from babel import Locale
from babel.messages.catalog import PYTHON_FORMAT, Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po
from babel.plural import to_gettext

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MAPPING = ROOT / "babel.cfg"
POT = HERE / "messages.pot"
DOMAIN = "messages"

#: catalog folders (Babel identifiers) of the UI locales zh-Hans zh-Hant en id ms th vi km lo my fil
LOCALE_DIRS = ("zh_Hans", "zh_Hant", "en", "id", "ms", "th", "vi", "km", "lo", "my", "fil")
SOURCE_LOCALE = "en"

#: translation functions beyond pybabel's defaults (_, gettext, ngettext, pgettext, ...)
KEYWORDS = ("_l", "lazy_gettext", "lazy_ngettext:1,2", "lazy_pgettext:1c,2",
            "lazy_npgettext:1c,2,3")

#: msgids written the same way in every language (names, acronyms, formats)
SAME_IN_EVERY_LANGUAGE = frozenset({
    "Jembatan", "TRL", "CSV", "API", "ID", "JSON", "GraphML", "GEXF", "OpenAPI", "ROR",
    "ISNI", "Wikidata",
})
#: per catalog folder, msgids whose translation is the English word itself
SAME_AS_ENGLISH: dict[str, frozenset[str]] = {}

_BRACE_RE = re.compile(r"(?<!\{)\{([^{}]*)\}(?!\})")
_LETTER_RE = re.compile(r"[^\W\d_]")


def _pybabel(*args: str) -> int:
    return CommandLineInterface().run(["pybabel", "-q", *args]) or 0


def extract_to(output: Path, root: Path = ROOT) -> int:
    """Extract the messages of ``root``/api into ``output`` (a .pot), as babel.cfg maps them."""
    keywords = [arg for kw in KEYWORDS for arg in ("-k", kw)]
    # From the repository root, so locations read "api/views.py:12" and the mapping's
    # patterns (api/**.py) match.
    with contextlib.chdir(root):
        return _pybabel("extract", "-F", str(MAPPING), "-o", str(output), *keywords,
                        "-c", "TRANSLATORS:", "--project", "Jembatan", "--sort-by-file",
                        "--copyright-holder", "Jembatan", ".")


def _messages(catalog: Catalog) -> list[tuple]:
    return [(m.id, m.context, sorted(m.locations), sorted(m.flags), m.auto_comments)
            for m in catalog if m.id]


def extract() -> int:
    """Write messages.pot, leaving the file alone when no message or location changed (the
    header's creation date alone is no change worth a diff)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "messages.pot"
        code = extract_to(fresh)
        if code:
            return code
        if POT.exists() and _messages(read(POT)) == _messages(read(fresh)):
            return 0
        POT.write_bytes(fresh.read_bytes())
    return 0


def po_path(locale_dir: str) -> Path:
    return HERE / locale_dir / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(path: Path, locale: str | None = None) -> Catalog:
    with open(path, "rb") as f:
        return read_po(f, locale=locale)


def update() -> int:
    """Bring every .po up to the .pot (creating missing ones), then fill the English one."""
    for locale_dir in LOCALE_DIRS:
        command = "update" if po_path(locale_dir).exists() else "init"
        extra = ("--ignore-obsolete",) if command == "update" else ()
        code = _pybabel(command, "-i", str(POT), "-d", str(HERE), "-D", DOMAIN,
                        "-l", locale_dir, *extra)
        if code:
            return code
        _cldr_plural_forms(locale_dir)
    fill_source_catalog()
    return 0


def _cldr_plural_forms(locale_dir: str) -> None:
    """Plural-Forms from CLDR's plural rules. Babel's own table lacks some of our languages
    and gives them English's two forms (id, ms and my have one; fil's "one" is not n == 1)."""
    path = po_path(locale_dir)
    catalog = read(path, locale_dir)
    rule = to_gettext(Locale.parse(locale_dir).plural_form).strip()
    if catalog.plural_forms.strip() == rule:
        return
    catalog.mime_headers = [("Plural-Forms", rule)]
    with open(path, "wb") as f:
        write_po(f, catalog, ignore_obsolete=True)


def fill_source_catalog() -> None:
    """The English catalog translates every msgid to itself."""
    path = po_path(SOURCE_LOCALE)
    catalog = read(path, SOURCE_LOCALE)
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            singular, plural = message.id
            message.string = tuple(singular if i == 0 else plural
                                   for i in range(catalog.num_plurals))
        else:
            message.string = message.id
        message.flags.discard("fuzzy")
    with open(path, "wb") as f:
        write_po(f, catalog, ignore_obsolete=True)


def compile_catalogs() -> int:
    """Compile every .po into the .mo Flask-Babel reads (refusing catalogs with errors)."""
    return _pybabel("compile", "-d", str(HERE), "-D", DOMAIN, "--statistics")


# --- checks --------------------------------------------------------------------------------

def placeholders(text: str) -> set[str]:
    """The %-style and {}-style placeholders of a message."""
    found = {m.group(0) for m in PYTHON_FORMAT.finditer(text) if m.group(0) != "%%"}
    return found | {"{" + m.group(1) + "}" for m in _BRACE_RE.finditer(text)}


def _same_everywhere(msgid: str, locale_dir: str) -> bool:
    if msgid in SAME_IN_EVERY_LANGUAGE or msgid in SAME_AS_ENGLISH.get(locale_dir, ()):
        return True
    bare = _BRACE_RE.sub("", PYTHON_FORMAT.sub("", msgid))
    return not _LETTER_RE.search(bare)  # only placeholders, digits and punctuation


def _label(message: Message) -> str:
    msgid = message.id[0] if isinstance(message.id, tuple) else message.id
    return f"{msgid!r}" + (f" (context {message.context!r})" if message.context else "")


def problems(po: Catalog, pot: Catalog, locale_dir: str) -> list[str]:
    """What keeps ``po`` from being a complete, consistent translation of ``pot``: missing,
    fuzzy, empty or still-English messages, placeholder mismatches, missing plural forms."""
    found: list[str] = []
    if po.fuzzy:
        found.append("the catalog header is marked fuzzy (compile would skip the catalog)")
    wanted = [m for m in pot if m.id]
    for template in wanted:
        label = _label(template)
        message = po.get(template.id, context=template.context)
        if message is None:
            found.append(f"{label}: missing")
            continue
        if message.fuzzy:
            found.append(f"{label}: fuzzy")
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if len(ids) > 1 and len(strings) != po.num_plurals:
            found.append(f"{label}: {len(strings)} plural forms, the locale has "
                         f"{po.num_plurals}")
        for index, string in enumerate(strings):
            form = f" (form {index})" if len(ids) > 1 else ""
            if not string or not string.strip():
                found.append(f"{label}{form}: not translated")
                continue
            source = ids[min(index, len(ids) - 1)]
            if (locale_dir != SOURCE_LOCALE and string in ids
                    and not _same_everywhere(string, locale_dir)):
                found.append(f"{label}{form}: still English")
            found.extend(f"{label}{form}: {error}"
                         for error in _placeholder_errors(ids, strings, index, string, source))
    extra = {m.id for m in po if m.id} - {m.id for m in wanted}
    found.extend(f"{m!r}: not in messages.pot (run update)" for m in sorted(map(str, extra)))
    for message, errors in po.check():  # Babel's own checkers: python-format, plural count
        found.extend(f"{_label(message)}: {error}" for error in errors)
    return found


def _placeholder_errors(ids: tuple, strings: tuple, index: int, string: str,
                        source: str) -> list[str]:
    have = placeholders(string)
    if len(ids) == 1:
        want = placeholders(source)
        return [] if have == want else [f"placeholders {sorted(have)} ≠ {sorted(want)}"]
    # Plural forms: a form may leave the count out of a singular-like form, but may not
    # invent a placeholder, and the last form (CLDR's "other") carries the plural's set.
    allowed = placeholders(ids[0]) | placeholders(ids[1])
    if not have <= allowed:
        return [f"placeholders {sorted(have - allowed)} not in the msgid"]
    if index == len(strings) - 1 and have != placeholders(ids[1]):
        return [f"placeholders {sorted(have)} ≠ {sorted(placeholders(ids[1]))}"]
    return []


def check() -> int:
    pot = read(POT)
    failed = 0
    for locale_dir in LOCALE_DIRS:
        path = po_path(locale_dir)
        found = problems(read(path, locale_dir), pot, locale_dir) if path.exists() else [
            "no catalog (run update)"]
        for problem in found:
            print(f"{locale_dir}: {problem}", file=sys.stderr)
        failed += bool(found)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jembatan.translations.catalogs",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("extract", "update", "compile", "check"))
    command = parser.parse_args(argv).command
    return {"extract": extract, "update": update, "compile": compile_catalogs,
            "check": check}[command]()


if __name__ == "__main__":
    sys.exit(main())

"""Staff pages through the real app and store: sign-in, sessions, CSRF, and the forms that
create and edit records (validated by the body schemas, messages from the catalogs)."""
from __future__ import annotations

import re
import stat
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from apikit import INST_A, INST_B, NODE_ID, body, make_node
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from werkzeug.datastructures import MultiDict

from jembatan.api.i18n import TRANSLATIONS_DIR
from jembatan.api.staff_accounts import StaffAccounts
from jembatan.graph.store import LOCAL
from jembatan.network.envelope import load_envelope, make_envelope, signing_bytes
from jembatan.network.ids import new_rid
from jembatan.network.keys import read_key_infos, verify_signature

PASSWORD = "correct horse battery staple"
COOKIE = f"jembatan_{NODE_ID}"

# Thai for the messages the tests look for, in a catalog of their own: what the page shows
# must come through the catalog, whatever the shipped catalogs hold at the time
THAI = {
    "This field is required.": "ต้องกรอกช่องนี้",
    "Must be from %(low)s to %(high)s.": "ต้องอยู่ระหว่าง %(low)s ถึง %(high)s",
    "Nothing was stored: please correct the fields marked below.": "ยังไม่ได้บันทึก โปรดแก้ไขช่องที่ทำเครื่องหมายไว้",
    "This value is not valid.": "ค่านี้ไม่ถูกต้อง",
}


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


def token_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def sign_in(node, role: str = "editor", locale: str = "en", name: str | None = None):
    name = name or f"{role}-user"
    accounts = StaffAccounts(node.home)
    if accounts.get(name) is None:
        accounts.add(name, PASSWORD, role)
    page = node.client.get(f"/{locale}/staff/login").get_data(as_text=True)
    return node.client.post(f"/{locale}/staff/login", data={
        "name": name, "password": PASSWORD, "csrf_token": token_of(page)})


def form_token(node, url: str) -> str:
    resp = node.client.get(url)
    assert resp.status_code == 200, resp.status_code
    return token_of(resp.get_data(as_text=True))


def tech_form(**over) -> dict:
    data = {"title.th": "เซลล์แสงอาทิตย์เพอรอฟสไกต์", "title.en": "Perovskite solar cells",
            "summary.en": "Line one\r\nline two", "owner": INST_A,
            "fields": ["new_energy", "ict"], "keywords": "perovskite\r\nphotovoltaic\r\n",
            "trl": "6", "ip.status": "granted", "ip.patents": "CN1234567A",
            "transfer_modes": ["licence", "equity"], "stage": "registered",
            "visibility": "public"}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


class _FormFields(HTMLParser):
    """What a browser would send for the first POST form of a page, left as it is."""

    def __init__(self):
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._in_form = self._done = False
        self._select: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("method") == "post" and not self._done:
            self._in_form = "record" in (a.get("class") or "")
        if not self._in_form or "name" not in a and tag != "option":
            return
        if tag == "input":
            if a.get("type") == "checkbox" and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value") or ""))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a.get("value") or ""))
        elif tag == "textarea":
            self._textarea, self._text = a["name"], []

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.fields.append((self._textarea, "".join(self._text)))
            self._textarea = None
        elif tag == "form" and self._in_form:
            self._in_form, self._done = False, True


def form_fields(html: str) -> MultiDict:
    parser = _FormFields()
    parser.feed(html)
    return MultiDict(parser.fields)


def field_block(html: str, name: str) -> str:
    """The form's block of one body field (its inputs and its messages)."""
    blocks = re.split(r'<div class="field', html)
    for block in blocks[1:]:
        if f'name="{name}' in block:
            return block
    raise AssertionError(f"no field {name} in the form")


@pytest.fixture
def thai_node(tmp_path: Path):
    folder = tmp_path / "catalogs" / "th" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    catalog = Catalog(locale="th")
    for msgid, text in THAI.items():
        catalog.add(msgid, text)
    with open(folder / "messages.mo", "wb") as f:
        write_mo(f, catalog)
    node = make_node(tmp_path / "node", BABEL_TRANSLATION_DIRECTORIES=(
        f"{TRANSLATIONS_DIR};{tmp_path / 'catalogs'}"))
    yield node
    node.app.extensions["jembatan"].close()


# -- sign-in ---------------------------------------------------------------------------------

def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(node):
    resp = sign_in(node)
    assert resp.status_code == 302 and resp.headers["Location"] == "/en/"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(COOKIE + "=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    page = node.client.get("/en/catalogue")
    assert "Signed in as editor-user" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "private, no-store"
    assert node.client.get("/en/catalogue").headers.get("Cache-Control") == "private, no-store"
    old = node.client.get_cookie(COOKIE).value

    html = node.client.get("/en/").get_data(as_text=True)
    out = node.client.post("/en/staff/logout", data={"csrf_token": token_of(html)})
    assert out.status_code == 302
    assert "Signed in as" not in node.client.get("/en/").get_data(as_text=True)
    # the cookie from before signing out is worth nothing now: the node ended its session
    node.client.set_cookie(COOKIE, old)
    assert "Signed in as" not in node.client.get("/en/").get_data(as_text=True)
    assert node.client.get("/en/staff/new/technology").status_code == 302


def test_the_session_id_changes_at_sign_in(node):
    node.client.get("/en/staff/login")
    before = node.client.get_cookie(COOKIE).value
    sign_in(node)
    assert node.client.get_cookie(COOKIE).value != before


def test_a_secure_node_sends_the_cookie_secure_only(tmp_path):
    node = make_node(tmp_path / "node", JEMBATAN_SECURE_COOKIES=True)
    try:
        assert "Secure" in sign_in(node).headers["Set-Cookie"]
    finally:
        node.app.extensions["jembatan"].close()


def test_the_secret_key_is_made_private_on_first_use(node):
    key_file = node.home / "secret_key"
    assert not key_file.exists()
    node.client.get("/api/v1/technologies")          # the API uses no session: no key yet
    assert not key_file.exists()
    sign_in(node)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) == 64


def test_a_failed_sign_in_does_not_tell_whether_the_name_exists(node):
    StaffAccounts(node.home).add("alice", PASSWORD, "editor")
    answers = []
    for name, password in (("alice", "wrong password!!"), ("nobody", "wrong password!!")):
        page = node.client.get("/th/staff/login").get_data(as_text=True)
        resp = node.client.post("/th/staff/login", data={
            "name": name, "password": password, "csrf_token": token_of(page)})
        assert resp.status_code == 200
        html = resp.get_data(as_text=True)
        answers.append(re.search(r'<p class="error" role="alert">([^<]+)</p>', html).group(1))
    assert answers[0] == answers[1]
    assert "Signed in as" not in node.client.get("/en/").get_data(as_text=True)


def test_five_failures_lock_the_name_for_a_while(node):
    StaffAccounts(node.home).add("alice", PASSWORD, "editor")
    lockout = node.app.extensions["jembatan_staff"].lockout
    now = [1000.0]
    lockout.clock = lambda: now[0]
    page = node.client.get("/en/staff/login").get_data(as_text=True)
    token = token_of(page)

    def attempt(name: str, password: str):
        return node.client.post("/en/staff/login", data={
            "name": name, "password": password, "csrf_token": token})

    for _ in range(5):
        assert attempt("alice", "not the password").status_code == 200
    refused = attempt("Alice", PASSWORD)        # the right password, but the name is locked
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert "Signed in as" not in node.client.get("/en/").get_data(as_text=True)
    StaffAccounts(node.home).add("bob", PASSWORD, "viewer")
    assert attempt("bob", PASSWORD).status_code == 302       # other names are not locked
    node.client.post("/en/staff/logout", data={"csrf_token": token_of(
        node.client.get("/en/").get_data(as_text=True))})
    now[0] += 15 * 60 + 1
    token = token_of(node.client.get("/en/staff/login").get_data(as_text=True))
    assert attempt("alice", PASSWORD).status_code == 302


def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(node):
    StaffAccounts(node.home).add("alice", PASSWORD, "editor")
    for target, expected in (("/en/catalogue?kind=demand", "/en/catalogue?kind=demand"),
                             ("//evil.example/x", "/en/"), ("https://evil.example/", "/en/"),
                             ("/\\evil.example", "/en/")):
        page = node.client.get("/en/staff/login").get_data(as_text=True)
        resp = node.client.post("/en/staff/login", data={
            "name": "alice", "password": PASSWORD, "csrf_token": token_of(page), "next": target})
        assert resp.headers["Location"] == expected
        page = node.client.get("/en/").get_data(as_text=True)
        node.client.post("/en/staff/logout", data={"csrf_token": token_of(page)})


# -- CSRF --------------------------------------------------------------------------------------

def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(node):
    StaffAccounts(node.home).add("alice", PASSWORD, "editor")
    node.client.get("/th/staff/login")
    resp = node.client.post("/th/staff/login", data={"name": "alice", "password": PASSWORD})
    assert resp.status_code == 400 and 'lang="th"' in resp.get_data(as_text=True)
    assert "Signed in as" not in node.client.get("/en/").get_data(as_text=True)

    sign_in(node)
    before = node.snapshot()
    resp = node.client.post("/th/staff/new/technology", data=tech_form())
    assert resp.status_code == 400
    resp = node.client.post("/th/staff/new/technology", data=tech_form(csrf_token="forged"))
    assert resp.status_code == 400
    assert node.snapshot() == before
    # the bearer-token API is not a form: it needs no CSRF token
    assert node.create("technology").status_code == 201


def test_every_staff_form_carries_the_token(node):
    sign_in(node)
    for url in ("/en/staff/new/technology", "/en/staff/new/demand", "/en/staff/new/institution",
                "/en/staff/new/event", "/en/staff/new/agreement", "/en/"):
        html = node.client.get(url).get_data(as_text=True)
        for form in re.findall(r'<form[^>]*method="post".*?</form>', html, re.S):
            assert 'name="csrf_token"' in form, (url, form[:80])


# -- who may do what -------------------------------------------------------------------------

def test_anonymous_readers_are_sent_to_sign_in(node):
    resp = node.client.get("/th/staff/new/technology")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/th/staff/login?next=")
    assert "staff/new/technology" in unescape(resp.headers["Location"]).replace("%2F", "/")
    env = node.created("technology")
    assert node.client.get(f"/th/staff/edit/{env['rid']}").status_code == 302


def test_a_viewer_cannot_write(node):
    sign_in(node, "viewer")
    assert node.client.get("/en/staff/new/technology").status_code == 403
    html = node.client.get("/en/").get_data(as_text=True)
    before = node.snapshot()
    resp = node.client.post("/en/staff/new/technology",
                            data=tech_form(csrf_token=token_of(html)))
    assert resp.status_code == 403 and node.snapshot() == before
    env = node.created("technology")
    page = node.client.get(f"/en/records/{env['rid']}").get_data(as_text=True)
    assert 'class="edit"' not in page
    assert node.client.get(f"/en/staff/edit/{env['rid']}").status_code == 403


def test_private_records_show_to_signed_in_staff_only(node):
    env = node.created("technology", body("technology", title={"en": "Secret sauce"}),
                       visibility="private")
    assert node.client.get(f"/en/records/{env['rid']}").status_code == 404
    assert "Secret sauce" not in node.client.get("/en/catalogue").get_data(as_text=True)
    sign_in(node, "viewer")
    assert node.client.get(f"/en/records/{env['rid']}").status_code == 200
    assert "Secret sauce" in node.client.get("/en/catalogue").get_data(as_text=True)


# -- the forms ----------------------------------------------------------------------------------

def test_a_technology_made_with_the_thai_form_is_stored_signed_and_served(node):
    sign_in(node, locale="th")
    token = form_token(node, "/th/staff/new/technology")
    resp = node.client.post("/th/staff/new/technology", data=tech_form(
        csrf_token=token, **{"title:lang": "zh-Hans", "title:new": "钙钛矿太阳能电池"}))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    rid = re.search(r"/th/records/(urn:.+)$", resp.headers["Location"]).group(1)
    page = node.client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'class="flash"' in page and 'class="edit"' in page

    served = node.get("technology", rid).get_json()
    assert served["version"] == 1 and served["visibility"] == "public"
    kept = dict(served["body"])
    [change] = kept.pop("stage_history")       # the node records who set the stage
    assert (change["stage"], change["by"]) == ("registered", "editor-user")
    assert kept == {
        "title": {"th": "เซลล์แสงอาทิตย์เพอรอฟสไกต์", "en": "Perovskite solar cells",
                  "zh-Hans": "钙钛矿太阳能电池"},
        "summary": {"en": "Line one\nline two"}, "owner": INST_A,
        "fields": ["new_energy", "ict"], "keywords": ["perovskite", "photovoltaic"], "trl": 6,
        "ip": {"status": "granted", "patents": ["CN1234567A"]},
        "transfer_modes": ["licence", "equity"], "stage": "registered"}
    [sig] = served["sigs"]
    key = {k.kid: k.public for k in read_key_infos(node.home)}[sig["kid"]]
    assert sig["signer"] == NODE_ID and verify_signature(key, sig["sig"], signing_bytes(served))


def test_bad_trl_and_missing_title_are_named_in_thai_and_nothing_is_stored(thai_node):
    node = thai_node
    sign_in(node, locale="th")
    token = form_token(node, "/th/staff/new/technology")
    before = node.snapshot()
    resp = node.client.post("/th/staff/new/technology", data=tech_form(
        csrf_token=token, trl="12", **{"title.th": "", "title.en": ""}))
    assert resp.status_code == 422
    assert node.snapshot() == before
    html = resp.get_data(as_text=True)
    assert THAI["Nothing was stored: please correct the fields marked below."] in html
    assert "ต้องอยู่ระหว่าง 1 ถึง 9" in text_of(field_block(html, "trl"))
    assert THAI["This field is required."] in text_of(field_block(html, "title"))
    assert THAI["This field is required."] not in text_of(field_block(html, "trl"))
    for english in ("Missing data", "greater than", "This field is required", "Must be from"):
        assert english not in html
    # what the reader gave is kept (a level that is none of the choices is not chosen)
    assert "selected" not in field_block(html, "trl")
    assert "photovoltaic" in field_block(html, "keywords")
    assert 'value="ict" checked' in field_block(html, "fields")


def test_an_unknown_schema_message_falls_back_to_the_generic_translation(thai_node):
    from flask import g

    from jembatan.api.staff_forms import message

    with thai_node.app.test_request_context("/th/"):
        g.locale = "th"
        assert message("Something nobody planned for.") == THAI["This value is not valid."]
        assert message("Missing data for required field.") == THAI["This field is required."]


def test_every_message_the_schemas_give_has_a_catalog_message(node):
    """Each invalid form field is named with a message of our own (not marshmallow's)."""
    from flask import g

    from jembatan.api.staff_forms import message

    samples = ["Not a valid integer.", "Length must be between 1 and 5.", "Not a valid URL.",
               "Must be one of: a, b.", "Not a well-formed rid (urn:jembatan:<node>:<kind>:<uuid7>).",
               "Must reference a institution, not a technology.", "Not a date in the form YYYY-MM-DD.",
               "Not an ISO 4217 currency code.", "USD has 2 decimal places.",
               "Items must not repeat.", "Must not be before starts_on.", "Longer than 300 characters.",
               "At least one language must have non-empty text.", "Not a decimal number.",
               "Longer than maximum length 20.", "Must be greater than or equal to 1."]
    with node.app.test_request_context("/en/"):
        g.locale = "en"
        generic = message("?")
        for sample in samples:
            assert message(sample) not in (generic, sample), sample


def test_editing_makes_a_new_version_and_a_stale_form_is_refused(node):
    env = node.created("technology")
    sign_in(node)
    html = node.client.get(f"/en/staff/edit/{env['rid']}").get_data(as_text=True)
    assert 'name="version" value="1"' in html and "Efficient perovskite solar cells" in html
    assert 'value="高效钙钛矿太阳能电池"' in html      # every language the record has
    token = token_of(html)
    form = tech_form(csrf_token=token, version="1", trl="7")
    resp = node.client.post(f"/en/staff/edit/{env['rid']}", data=form)
    assert resp.status_code == 302
    assert node.get("technology", env["rid"]).get_json()["body"]["trl"] == 7

    before = node.snapshot()
    stale = node.client.post(f"/en/staff/edit/{env['rid']}", data=dict(form, trl="9"))
    assert stale.status_code == 409
    assert "newer version" in stale.get_data(as_text=True)
    assert node.snapshot() == before
    stored = node.get("technology", env["rid"]).get_json()
    assert stored["version"] == 2 and stored["body"]["trl"] == 7


def test_narrowing_visibility_by_the_form_leaves_a_tombstone_for_peers(node):
    env = node.created("technology")
    sign_in(node)
    token = form_token(node, f"/en/staff/edit/{env['rid']}")
    resp = node.client.post(f"/en/staff/edit/{env['rid']}", data=tech_form(
        csrf_token=token, version="1", visibility="private"))
    assert resp.status_code == 302
    assert node.get("technology", env["rid"]).status_code in (404, 410)
    stored = node.store.get(env["rid"], LOCAL)
    assert stored.envelope["visibility"] == "private" and stored.shadow is not None


def test_only_this_nodes_records_can_be_edited(node):
    rid = new_rid("other-node", "technology")
    foreign = load_envelope(make_envelope(rid=rid, body=body("technology"), version=1,
                                          hlc=node.app.extensions["jembatan"].clock.tick(),
                                          visibility="public"))
    node.store.apply([foreign], trusted=True)
    sign_in(node)
    assert 'class="edit"' not in node.client.get(f"/en/records/{rid}").get_data(as_text=True)
    assert node.client.get(f"/en/staff/edit/{rid}").status_code == 403
    assert node.client.get("/en/staff/new/endorsement").status_code == 404


@pytest.mark.parametrize("kind, form", [
    ("technology", tech_form(visibility=None)),
    ("demand", {"title.en": "Smart irrigation", "requester": INST_B,
                "fields": ["modern_agriculture"], "trl_min": "5", "budget.amount": "150000.00",
                "budget.currency": "USD", "deadline": "2026-12-31", "countries": ["CN", "TH"]}),
    ("institution", {"name.en": "Bandung Tech", "kind": "university", "country": "ID",
                     "city": "Bandung", "website": "https://utb.example.ac.id",
                     "identifiers.ror": "01abcd234"}),
    ("event", {"name.en": "Matchmaking", "kind": "matchmaking", "starts_on": "2025-09-17",
               "ends_on": "2025-09-18", "country": "CN", "organisers": INST_A,
               "participants": f"{INST_B}\r\n"}),
    ("agreement", {"kind": "licence", "parties.0.institution": INST_A,
                   "parties.0.role": "provider", "parties.1.institution": "",
                   "parties.1.role": "", "parties.2.institution": INST_B,
                   "parties.2.role": "recipient", "status": "active",
                   "value.amount": "2500000.00", "value.currency": "CNY"}),
])
def test_each_kind_has_a_working_form(node, kind, form):
    sign_in(node)
    html = node.client.get(f"/en/staff/new/{kind}").get_data(as_text=True)
    resp = node.client.post(f"/en/staff/new/{kind}",
                            data=dict(form, csrf_token=token_of(html), visibility="alliance"))
    assert resp.status_code == 302, text_of(resp.get_data(as_text=True))[-800:]
    rid = resp.headers["Location"].split("/records/")[1]
    stored = node.store.get(rid, LOCAL).envelope
    assert stored["kind"] == kind and stored["visibility"] == "alliance"
    if kind == "agreement":
        assert [p["institution"] for p in stored["body"]["parties"]] == [INST_A, INST_B]
    # the edit form shows every field as stored: sent back as it is, it stores the same body
    edit = node.client.get(f"/en/staff/edit/{rid}").get_data(as_text=True)
    resp = node.client.post(f"/en/staff/edit/{rid}", data=form_fields(edit))
    assert resp.status_code == 302, text_of(resp.get_data(as_text=True))[-800:]
    again = node.store.get(rid, LOCAL).envelope
    assert again["version"] == 2 and again["body"] == stored["body"]
    assert again["visibility"] == "alliance"


def test_an_event_ending_before_it_starts_is_refused_in_the_readers_language(node):
    sign_in(node, locale="th")
    token = form_token(node, "/th/staff/new/event")
    before = node.snapshot()
    resp = node.client.post("/th/staff/new/event", data={
        "csrf_token": token, "name.en": "Forum", "kind": "forum", "starts_on": "2025-09-18",
        "ends_on": "2025-09-17", "country": "CN", "visibility": "public"})
    assert resp.status_code == 422 and node.snapshot() == before
    assert "Must not be before" not in resp.get_data(as_text=True)
    assert 'class="error" id="error-ends_on"' in field_block(resp.get_data(as_text=True), "ends_on")


@pytest.mark.parametrize("kind", ["technology", "demand", "institution", "event", "agreement"])
def test_every_body_field_has_an_input(node, kind):
    from jembatan.network.schemas import BODY_SCHEMAS

    sign_in(node)
    html = node.client.get(f"/en/staff/new/{kind}").get_data(as_text=True)
    from jembatan.api.staff_forms import NODE_KEPT

    for name in BODY_SCHEMAS[kind]().fields.keys() - NODE_KEPT:
        assert re.search(rf'name="{name}[".:]', html), name
    assert re.search(r'<select id="visibility" name="visibility">', html)


def test_text_fields_offer_the_records_languages_the_readers_and_english(node):
    env = node.created("technology", body("technology", title={"zh-Hans": "钙钛矿", "vi": "Pin"}))
    sign_in(node, locale="th")
    html = node.client.get(f"/th/staff/edit/{env['rid']}").get_data(as_text=True)
    block = field_block(html, "title")
    shown = re.findall(r'<input id="title\.([^"]+)"', block)
    assert sorted(shown[:2]) == ["vi", "zh-Hans"] and shown[2:] == ["th", "en"]
    offered = re.findall(r'<option value="([^"]+)"', block.split('name="title:lang"')[1])
    assert offered and not set(offered) & set(shown)

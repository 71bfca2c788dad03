"""Staff pages: sign-in, and the forms that create and edit this node's records.

    GET/POST /<locale>/staff/login         sign in (name + password; the session cookie)
    POST     /<locale>/staff/logout        sign out (the session ends on the node too)
    GET/POST /<locale>/staff/new/<kind>    a new technology, demand, institution, event or
                                           agreement (editors and admins)
    GET/POST /<locale>/staff/edit/<rid>    a new version of a record of this node

Signed-in staff read what the node holds (``viewer_scope`` is LOCAL for them); their pages
are sent ``Cache-Control: private, no-store``. Sessions live in ``api.staff_accounts``; the
cookie is HttpOnly, SameSite=Lax, and Secure with ``JEMBATAN_SECURE_COOKIES``. Every POST
under ``/<locale>/`` needs Flask-WTF's CSRF token (forms carry ``csrf_token()``); the REST
API, which authenticates with bearer tokens and never with cookies, is not checked.

The forms themselves are drawn from ``network/schemas.py`` by ``api.staff_forms``; what they
send is validated by that schema only, through ``api.writes`` (the API's path).
"""
from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path
from urllib.parse import urlsplit

from flask import (Blueprint, Flask, Response, current_app, flash, g, has_request_context,
                   redirect, render_template, request, session, url_for)
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect

from jembatan.graph.store import LOCAL
from jembatan.network import errors

from . import writes
from .auth import WRITER_ROLES, read_scope
from .staff_accounts import SESSION_SECONDS, Lockout, StaffAccount, StaffAccounts
from .staff_forms import FORM_KINDS, form_page, read_body

SESSION_KEY = "staff"
SECRET_FILE = "secret_key"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_key_lock = threading.Lock()


class StaffState:
    """The node's staff accounts and this process's sign-in lockout."""

    def __init__(self, home: Path):
        self.accounts = StaffAccounts(home)
        self.lockout = Lockout()


def _staff_state() -> StaffState:
    return current_app.extensions["jembatan_staff"]


# -- the secret key and the session cookie -------------------------------------------------

def secret_key(home: Path) -> str:
    """The node's session key from ``DIR/secret_key``, made (0600) on first use.

    The file appears whole or not at all: it is written under a private name and linked
    into place, so servers starting together agree on one key.
    """
    path = Path(home) / SECRET_FILE
    if not path.exists():
        tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass            # another process made it first: theirs is the key
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise RuntimeError(f"{path} is empty; remove it to have a new key made")
    return key


def _ensure_key(app: Flask) -> None:
    if not app.secret_key:
        with _key_lock:
            if not app.secret_key:
                app.secret_key = secret_key(app.extensions["jembatan"].node.home)


class _StaffSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session whose key is read only once a cookie is used: a request
    without one (every API call) touches no file."""

    def open_session(self, app, request):
        if request.cookies.get(self.get_cookie_name(app)) is None:
            return self.session_class()
        return super().open_session(app, request)

    def get_signing_serializer(self, app):
        _ensure_key(app)
        return super().get_signing_serializer(app)


def init_staff(app: Flask) -> None:
    """Sessions, CSRF protection and the staff helpers of the templates."""
    node = app.extensions["jembatan"].node
    if app.config.get("JEMBATAN_SECRET_KEY"):
        app.secret_key = app.config["JEMBATAN_SECRET_KEY"]
    app.config.update(
        # one cookie per node: several nodes on one host (ports do not separate cookies)
        SESSION_COOKIE_NAME=f"jembatan_{node.node_id}",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(app.config.get("JEMBATAN_SECURE_COOKIES")),
        # only the pages' forms are checked (add_staff_pages); the bearer-token API is not
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=SESSION_SECONDS,
    )
    app.session_interface = _StaffSessions()
    app.extensions["jembatan_staff"] = StaffState(node.home)
    app.extensions["jembatan_csrf"] = CSRFProtect(app)
    app.jinja_env.globals.update(staff_user=current_staff, staff_can_edit=can_edit,
                                 staff_kinds=FORM_KINDS, staff_writer_roles=WRITER_ROLES)


# -- who is reading ---------------------------------------------------------------------------

def current_staff() -> StaffAccount | None:
    """The signed-in staff account of this request, or None."""
    if not has_request_context():
        return None
    if "staff_account" not in g:
        sid = session.get(SESSION_KEY)
        g.staff_account = (_staff_state().accounts.session_account(sid)
                           if isinstance(sid, str) else None)
    return g.staff_account


def viewer_scope() -> frozenset[str]:
    """What the pages may show their reader: everything the node holds for signed-in staff,
    else what the request's credentials allow (public records for anonymous visitors)."""
    return LOCAL if current_staff() is not None else read_scope()


def can_edit(env: dict) -> bool:
    """Whether the signed-in reader may edit the record ``env`` here."""
    user = current_staff()
    return (user is not None and user.role in WRITER_ROLES and env.get("kind") in FORM_KINDS
            and not env.get("deleted")
            and env.get("origin") == current_app.extensions["jembatan"].node.node_id)


# -- the pages --------------------------------------------------------------------------------

def _refused(status: int, message: str) -> tuple[str, int]:
    return render_template("staff/refused.html", status=status, message=message), status


def _safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (never another host: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return None
    return target


def _writer() -> Response | tuple[str, int] | None:
    """None if the reader may write; else the answer: sign-in first, or 403."""
    user = current_staff()
    if user is None:
        return redirect(url_for("views.staff_login", next=request.full_path.rstrip("?")))
    if user.role not in WRITER_ROLES:
        return _refused(403, _("Your role may read records but not create or change them."))
    return None


def _saved(stored) -> Response:
    flash(_("Saved: version %(version)s.", version=stored.version))
    return redirect(url_for("views.record", rid=stored.envelope["rid"]))


def add_staff_pages(bp: Blueprint) -> None:
    """The staff routes, and CSRF protection of every POST of the pages in ``bp``."""

    @bp.before_request
    def _check_csrf() -> None:
        _ensure_key(current_app)
        if request.method in _WRITES:
            current_app.extensions["jembatan_csrf"].protect()

    @bp.after_request
    def _private(response: Response) -> Response:
        if SESSION_KEY in session or (request.endpoint or "").startswith("views.staff_"):
            response.headers["Cache-Control"] = "private, no-store"
        return response

    @bp.errorhandler(CSRFError)
    def _csrf_refused(exc: CSRFError) -> tuple[str, int]:
        return _refused(400, _("This form has expired or did not come from this site; nothing "
                               "was changed. Open the page again and resend it."))

    @bp.route("/staff/login", methods=["GET", "POST"])
    def staff_login() -> Response | tuple[str, int] | str:
        target = _safe_next(request.values.get("next"))
        if request.method == "GET":
            if current_staff() is not None:
                return redirect(target or url_for("views.home"))
            return render_template("staff/login.html", next=target, name="", error=None)
        st = _staff_state()
        name = request.form.get("name", "")[:200]
        password = request.form.get("password", "")
        if st.lockout.locked(name):
            page = render_template("staff/login.html", next=target, name=name, error=_(
                "Too many failed sign-ins with this name. Try again in %(minutes)s minutes.",
                minutes=int(st.lockout.window // 60)))
            return Response(page, 429, {"Retry-After": str(int(st.lockout.window))})
        account = st.accounts.verify(name, password)
        if account is None:
            st.lockout.failed(name)
            # one message whether the name exists or not
            return render_template("staff/login.html", next=target, name=name,
                                   error=_("The name or the password is wrong."))
        st.lockout.succeeded(name)
        old = session.get(SESSION_KEY)
        if isinstance(old, str):
            st.accounts.close_session(old)
        session.clear()     # a new session (and CSRF token) at sign-in: no fixation
        session[SESSION_KEY] = st.accounts.open_session(account.name)
        g.staff_account = account
        return redirect(target or url_for("views.home"))

    @bp.route("/staff/logout", methods=["POST"])
    def staff_logout() -> Response:
        sid = session.get(SESSION_KEY)
        if isinstance(sid, str):
            _staff_state().accounts.close_session(sid)
        session.clear()
        g.staff_account = None
        flash(_("You are signed out."))
        return redirect(url_for("views.home"))

    @bp.route("/staff/new/<kind>", methods=["GET", "POST"])
    def staff_new(kind: str) -> Response | tuple[str, int] | str:
        if kind not in FORM_KINDS:
            return render_template("error.html", status=404, problems=[]), 404
        refusal = _writer()
        if refusal is not None:
            return refusal
        if request.method == "GET":
            return form_page(kind, {}, "public")
        body, visibility = read_body(kind, request.form), request.form.get("visibility", "")
        try:
            stored = writes.create(kind, body, visibility, by=current_staff().name)
        except errors.ValidationError as exc:
            return form_page(kind, body, visibility, problems=exc.errors), 422
        return _saved(stored)

    @bp.route("/staff/edit/<path:rid>", methods=["GET", "POST"])
    def staff_edit(rid: str) -> Response | tuple[str, int] | str:
        refusal = _writer()
        if refusal is not None:
            return refusal
        stored = current_app.extensions["jembatan"].store.get(rid, LOCAL)
        env = stored.envelope if stored is not None else {}
        if stored is None or env["deleted"] or env["kind"] not in FORM_KINDS:
            return render_template("error.html", status=404, problems=[]), 404
        if not can_edit(env):
            return _refused(403, _("This record belongs to the node %(node)s; only that node "
                                   "can change it.", node=env["origin"]))
        kind = env["kind"]
        if request.method == "GET":
            return form_page(kind, env["body"], env["visibility"], rid=rid,
                             version=stored.version)
        body = read_body(kind, request.form)
        visibility = request.form.get("visibility", "")
        version = request.form.get("version", "")
        try:
            saved = writes.update(kind, rid, body, visibility,
                                  int(version) if version.isdigit() else -1,
                                  by=current_staff().name)
        except errors.PreconditionFailed:
            # the reader's text stays on the page to copy; the version stays the stale one,
            # so sending it again cannot overwrite the newer version either
            return form_page(kind, body, visibility, rid=rid, version=version, stale=True), 409
        except errors.ValidationError as exc:
            return form_page(kind, body, visibility, problems=exc.errors, rid=rid,
                             version=version), 422
        except (errors.Conflict, errors.Gone, errors.NotFound) as exc:
            return _refused(exc.status, _("This record can no longer be changed here."))
        return _saved(saved)

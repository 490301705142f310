"""The ops page under ``/admin``: server-rendered (Jinja2, autoescaped), no build step.

Sign-in: a form takes the admin token and sets ``wobot_admin``, an HttpOnly, SameSite=Strict
cookie holding a signed, timed value (who, and a CSRF token). Its key is derived from
ADMIN_TOKEN, so changing the token signs everybody out. Every POST form carries the CSRF
token, checked in constant time; the sign-in form has its own double-submit token. A
Content-Security-Policy with a per-response nonce allows only our own inline scripts
(confirmation dialogs and the auto-refresh of the list).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from itsdangerous import BadSignature

from bot.adapters.audio import to_wav
from bot.adapters.storage import content_type_of
from bot.dialogue.machine import STATES
from bot.ops import TTL_MAX, TTL_MIN, Ambiguous, Conflict, Invalid, NotFound, UnknownUser
from bot.ports import ORDER_STATUSES, ServiceError, VoiceRejected
from handlers.web.admin import export, times, views
from handlers.web.admin.auth import bearer, token_name
from handlers.web.admin.context import admin, ops

log = logging.getLogger(__name__)

COOKIE = "wobot_admin"
LOGIN_COOKIE = "wobot_admin_login"
COOKIE_MAX_AGE = 12 * 3600
REFRESH_SECONDS = 15
# A voice note browsers cannot play (WeCom's AMR) is served as WAV, decoded when the page asks for it (``?play=1``).
# Why not a playable copy stored beside it when a report keeps it: no second key on the order to record, show and
# delete with the first, no work in the user's turn, and notes stored before this play too; decoding a minute of
# AMR takes milliseconds, and only signed-in ops ask. WAV rather than Ogg/Opus or AAC: every browser plays it
# (Safari plays no Ogg before 17), and it needs no encoder beyond PCM.
_PLAYABLE = {"audio/amr": "audio/wav"}
_MESSAGES = {
    "reset": "Session reset: back to idle, pending fields cleared, history kept.",
    "reset_notified": "Session reset, and the user was told.",
    "reset_not_notified": "Session reset. The user could not be told (no push channel on this platform).",
    "deleted": "Session deleted.",
    "ttl": "Time to live changed.",
    "cancelled": "Order cancelled.",
    "signed_out": "Signed out.",
}


def ago(iso_text: str | None) -> str:
    if not iso_text:
        return "-"
    try:
        moment = datetime.fromisoformat(iso_text.replace("Z", "+00:00"))
    except ValueError:
        return iso_text
    seconds = int((datetime.now(UTC) - moment).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes}:{secs:02d}"


bp = Blueprint("admin_page", __name__, url_prefix="/admin", template_folder="templates")


def signed_in() -> dict[str, str] | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = admin().cookie_signer.loads(raw, max_age=COOKIE_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("who") not in admin().tokens or not data.get("csrf"):
        return None
    return data


def check_csrf() -> None:
    given = request.form.get("csrf", "")
    if not hmac.compare_digest(given.encode(), g.admin["csrf"].encode()):
        abort(400, "the form expired; reload the page and try again")


def who() -> str:
    return str(g.admin["who"])


@bp.before_request
def gate() -> Any:
    g.csp_nonce = secrets.token_urlsafe(16)
    if request.endpoint in ("admin_page.login", "admin_page.static"):
        return None
    g.admin = signed_in()
    if g.admin is None and request.endpoint == "admin_page.image":
        name = token_name(admin().tokens, bearer(request.headers.get("Authorization", "")))
        if name is not None:
            g.admin = {"who": name, "csrf": ""}
    if g.admin is None:
        if request.method == "GET" and request.endpoint != "admin_page.image":
            return redirect(url_for("admin_page.login", next=request.full_path.rstrip("?")))
        abort(401)
    if request.method == "POST":
        check_csrf()
    return None


@bp.after_request
def headers(resp: Response) -> Response:
    if resp.mimetype == "text/html":
        nonce = getattr(g, "csp_nonce", "")
        resp.headers["Content-Security-Policy"] = (
            f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; "
            "img-src 'self' http: https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["X-Frame-Options"] = "DENY"
    return resp


@bp.errorhandler(NotFound)
def not_found(exc: NotFound) -> Any:
    return page("error.html", status=404, title="Not found", message=str(exc)), 404


@bp.errorhandler(Invalid)
def invalid(exc: Invalid) -> Any:
    return page("error.html", status=400, title="Not accepted", message=str(exc)), 400


@bp.errorhandler(Conflict)
def conflict(exc: Conflict) -> Any:
    return page("error.html", status=409, title="Not possible now", message=str(exc)), 409


@bp.errorhandler(ServiceError)
def down(exc: ServiceError) -> Any:
    log.warning("admin page: %s", exc)
    return page("error.html", status=503, title="Temporarily unavailable", message=str(exc)), 503


def page(template: str, **values: Any) -> str:
    zone = ops().settings.zone
    return render_template(
        f"admin/{template}",
        admin=getattr(g, "admin", None),
        nonce=g.csp_nonce,
        message=values.pop("message", None) or _MESSAGES.get(request.args.get("done", "")),
        ago=ago,
        duration=duration,
        # times in TIMEZONE, as the users see them: ``when`` for a column headed with ``zone``, ``named`` alone
        when=lambda moment: times.local(moment, zone),
        named=lambda moment: times.named(moment, zone),
        zone=zone.key,
        **values,
    )


# -- sign in / out ------------------------------------------------------------------------------------------
def _safe_next(target: str | None) -> str:
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return url_for("admin_page.sessions")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    g.admin = None
    error = None
    if request.method == "POST":
        form_token = request.form.get("login_csrf", "")
        cookie_token = request.cookies.get(LOGIN_COOKIE, "")
        name = token_name(admin().tokens, request.form.get("token", ""))
        if not cookie_token or not hmac.compare_digest(form_token.encode(), cookie_token.encode()):
            error = "The sign-in form expired; please try again."
        elif name is None:
            log.warning("admin sign-in refused from %s", request.remote_addr)
            time.sleep(0.2)  # a little friction for guessing
            error = "Wrong token."
        else:
            value = admin().cookie_signer.dumps({"who": name, "csrf": secrets.token_urlsafe(24)})
            resp = redirect(_safe_next(request.form.get("next")))
            resp.set_cookie(
                COOKIE,
                value,
                max_age=COOKIE_MAX_AGE,
                path="/admin",
                httponly=True,
                samesite="Strict",
                secure=request.is_secure,
            )
            resp.delete_cookie(LOGIN_COOKIE, path="/admin/login")
            log.info("admin %s signed in", name)
            return resp
    login_token = secrets.token_urlsafe(24)
    resp = Response(
        page("login.html", login_csrf=login_token, next=request.values.get("next", ""), error=error),
        status=401 if error else 200,
        mimetype="text/html",
    )
    resp.set_cookie(
        LOGIN_COOKIE,
        login_token,
        max_age=3600,
        path="/admin/login",
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
    )
    return resp


@bp.post("/logout")
def logout() -> Any:
    resp = redirect(url_for("admin_page.login", done="signed_out"))
    resp.delete_cookie(COOKIE, path="/admin")
    return resp


# -- sessions -------------------------------------------------------------------------------------------------
@bp.get("/")
def index() -> Any:
    return redirect(url_for("admin_page.sessions"))


@bp.get("/sessions")
def sessions() -> Any:
    a = request.args
    filters = {"q": a.get("q", "").strip(), "state": a.get("state", ""), "platform": a.get("platform", "")}
    result = ops().list_sessions(
        state=filters["state"],
        platform=filters["platform"],
        q=filters["q"],
        cursor=a.get("cursor"),
        limit=a.get("limit") or 50,
    )
    counts = ops().session_counts()
    return page(
        "sessions.html",
        page=views.page(result, views.session_row),
        filters=filters,
        states=STATES,
        platforms=ops().platforms,
        counts=counts,
        refresh=REFRESH_SECONDS,
        first_page=not a.get("cursor"),
    )


@bp.get("/sessions/<path:key>")
def session(key: str) -> Any:
    if key.count(":") < 2:  # a bare user id, as the API and the CLI take it: its one session, else the search
        try:
            return redirect(url_for("admin_page.session", key=ops().resolve(key)))
        except (Ambiguous, UnknownUser):
            return redirect(url_for("admin_page.sessions", q=key))
    return page("session.html", s=views.session_detail(ops(), ops().session(key)), ttl_min=TTL_MIN, ttl_max=TTL_MAX)


@bp.post("/sessions/<path:key>/reset")
def reset(key: str) -> Any:
    notify = request.form.get("notify") == "1"
    result = ops().reset(key, who=who(), notify=notify)
    done = "reset" if not notify else ("reset_notified" if result["notified"] else "reset_not_notified")
    return redirect(url_for("admin_page.session", key=key, done=done))


@bp.post("/sessions/<path:key>/delete")
def delete(key: str) -> Any:
    ops().delete(key, who=who())
    return redirect(url_for("admin_page.sessions", done="deleted"))


@bp.post("/sessions/<path:key>/ttl")
def ttl(key: str) -> Any:
    try:
        seconds = int(request.form.get("seconds", ""))
    except ValueError:
        raise Invalid(f"seconds must be a whole number from {TTL_MIN} to {TTL_MAX}") from None
    ops().set_ttl(key, seconds, who=who())
    return redirect(url_for("admin_page.session", key=key, done="ttl"))


# -- orders ---------------------------------------------------------------------------------------------------
@bp.get("/orders")
def orders() -> Any:
    a = request.args
    filters = {"q": a.get("q", "").strip(), "status": a.get("status", "")}
    result = ops().list_orders(
        status=filters["status"], q=filters["q"], cursor=a.get("cursor"), limit=a.get("limit") or 50
    )
    rows = views.page(result, lambda o: views.order_row(ops(), o))
    return page("orders.html", page=rows, filters=filters, statuses=ORDER_STATUSES)


@bp.get("/orders.csv")
def orders_csv() -> Response:
    """The Download button: the orders the page's filters name, as CSV."""
    return export.response(request.args)


@bp.get("/orders/<order_id>")
def order(order_id: str) -> Any:
    return page("order.html", o=views.order_detail(ops(), ops().order(order_id)), playable=playable_type)


@bp.post("/orders/<order_id>/cancel")
def cancel(order_id: str) -> Any:
    ops().cancel_order(order_id, request.form.get("reason", ""), who=who())
    return redirect(url_for("admin_page.order", order_id=order_id, done="cancelled"))


# -- audit ----------------------------------------------------------------------------------------------------
@bp.get("/audit")
def audit() -> Any:
    entries = ops().audit_log(cursor=request.args.get("cursor"), limit=100)
    return page("audit.html", page=views.page(entries, views.audit_row))


# -- photos and voice notes ---------------------------------------------------------------------------------
def playable_type(key: str) -> str:
    """The content type a stored object is served under with ``?play=1`` (an AMR note: WAV)."""
    stored = content_type_of(key)
    return _PLAYABLE.get(stored, stored)


@bp.get("/images/<path:key>")
def image(key: str) -> Any:
    """A stored photo or voice note (signed-in page or bearer token); ``?thumb=1`` for a small JPEG, ``?play=1``
    for a voice note a browser plays."""
    try:
        data = ops().storage.get(key)
    except KeyError:
        abort(404)
    content_type = content_type_of(key)
    if request.args.get("thumb"):
        small = admin().thumbs.get(key, data)
        if small is not None:
            data, content_type = small, "image/jpeg"
    if request.args.get("play") and content_type in _PLAYABLE:
        try:
            data, content_type = to_wav(data), _PLAYABLE[content_type]
        except VoiceRejected:  # served as stored: downloadable, if not playable
            log.info("admin page: voice note %s not decodable", key)
    resp = Response(data, mimetype=content_type)
    resp.headers["Cache-Control"] = "private, max-age=3600"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if content_type.startswith("audio/"):  # Safari plays audio only from a server that answers byte ranges
        resp.make_conditional(request, accept_ranges=True, complete_length=len(data))
    return resp

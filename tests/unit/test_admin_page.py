"""The admin page through Flask's test client: sign-in and its cookie, CSRF, the forms, escaping, sign-out."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from tests.support.admin import AUTH, TOKEN, admin_app, report_order, runtime, stuck_closing
from tests.support.audio import note, probe
from tests.support.engine import photo
from tests.unit.test_admin_api import app, chat, client  # noqa: F401 - fixtures


# -- the page -------------------------------------------------------------------------------------------------------
def _login(client: FlaskClient, token: str = TOKEN) -> Any:
    form = client.get("/admin/login").get_data(as_text=True)
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    return client.post("/admin/login", data={"token": token, "login_csrf": login_csrf, "next": "/admin/sessions"})


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def test_page_needs_sign_in_and_sets_a_strict_httponly_cookie(client: FlaskClient) -> None:
    resp = client.get("/admin/sessions")
    assert resp.status_code == 302 and "/admin/login" in resp.headers["Location"]
    assert client.get("/admin/sessions", headers=AUTH).status_code == 302  # the page is cookie-only
    wrong = _login(client, "nope")
    assert wrong.status_code == 401 and "Wrong token" in wrong.get_data(as_text=True)
    ok = _login(client)
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/admin/sessions")
    cookie = next(v for k, v in ok.headers.items() if k == "Set-Cookie" and v.startswith("wobot_admin="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert TOKEN not in cookie
    page = client.get("/admin/sessions")
    assert page.status_code == 200 and "Live sessions" in page.get_data(as_text=True)
    assert "nonce-" in page.headers["Content-Security-Policy"]


def test_sign_in_form_is_csrf_protected(client: FlaskClient) -> None:
    resp = client.post("/admin/login", data={"token": TOKEN, "login_csrf": "forged"})
    assert resp.status_code == 401 and "expired" in resp.get_data(as_text=True)


def test_page_search_view_and_reset_with_csrf(app: Flask, client: FlaskClient) -> None:
    user = chat(app, "zhang-0042")
    stuck_closing(user, report_order(user))
    chat(app, "li-9").text("hi")
    _login(client)
    listing = client.get("/admin/sessions?q=0042").get_data(as_text=True)
    assert "zhang-0042" in listing and "li-9" not in listing and "waiting_close_photo" in listing
    view = client.get(f"/admin/sessions/{user.key}")
    html = view.get_data(as_text=True)
    assert view.status_code == 200 and "waiting_close_photo" in html and "data-confirm" in html
    assert 'src="/admin/images/' in html  # the report photo as a thumbnail in the history

    assert client.post(f"/admin/sessions/{user.key}/reset", data={"csrf": "forged"}).status_code == 400
    done = client.post(f"/admin/sessions/{user.key}/reset", data={"csrf": _csrf(html)})
    assert done.status_code == 302
    after = client.get(done.headers["Location"]).get_data(as_text=True)
    assert 'id="state">idle<' in after and "Session reset" in after
    audit = client.get("/admin/audit").get_data(as_text=True)
    assert "session.reset" in audit and user.key in audit


def test_a_bare_user_id_in_the_page_address_opens_that_users_session(app: Flask, client: FlaskClient) -> None:
    wangwu = chat(app, "wangwu", platform="wecom")
    wangwu.text("hi")
    _login(client)
    found = client.get("/admin/sessions/wangwu")
    assert found.status_code == 302 and found.headers["Location"].endswith("/admin/sessions/wecom:t1:wangwu")
    chat(app, "wangwu", platform="slack").text("hi")  # two sessions: the search shows both to choose from
    both = client.get("/admin/sessions/wangwu", follow_redirects=True).get_data(as_text=True)
    assert "wecom:t1:wangwu" in both and "slack:t1:wangwu" in both


def test_page_delete_ttl_orders_and_thumbnails(app: Flask, client: FlaskClient) -> None:
    user = chat(app, "alice")
    order_id = report_order(user)
    _login(client)
    html = client.get(f"/admin/sessions/{user.key}").get_data(as_text=True)
    token = _csrf(html)
    assert client.post(f"/admin/sessions/{user.key}/ttl", data={"csrf": token, "seconds": "5"}).status_code == 400
    assert client.post(f"/admin/sessions/{user.key}/ttl", data={"csrf": token, "seconds": "3600"}).status_code == 302
    orders = client.get("/admin/orders").get_data(as_text=True)
    assert order_id in orders
    thumb_url = re.search(r'src="(/admin/images/[^"]+thumb=1)"', orders).group(1)  # type: ignore[union-attr]
    thumb = client.get(thumb_url)
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg" and len(thumb.data) < len(photo(1))
    assert order_id in client.get(f"/admin/orders/{order_id}").get_data(as_text=True)
    assert client.post(f"/admin/orders/{order_id}/cancel", data={"csrf": token, "reason": "dup"}).status_code == 302
    cancelled = client.get(f"/admin/orders/{order_id}").get_data(as_text=True)
    assert re.search(r"<dt>Cancelled by</dt><dd>[^<]+ \(ops\)</dd>", cancelled), cancelled
    assert client.post(f"/admin/sessions/{user.key}/delete", data={"csrf": token}).status_code == 302
    assert client.get(f"/admin/sessions/{user.key}").status_code == 404
    assert client.get("/admin/images/../../etc/passwd").status_code == 404


def test_page_escapes_user_text(app: Flask, client: FlaskClient) -> None:
    chat(app, "evil").text("<script>alert(1)</script>")
    _login(client)
    html = client.get("/admin/sessions/generic:t1:evil").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_sign_out(client: FlaskClient) -> None:
    _login(client)
    html = client.get("/admin/sessions").get_data(as_text=True)
    resp = client.post("/admin/logout", data={"csrf": _csrf(html)})
    assert resp.status_code == 302
    assert client.get("/admin/sessions").status_code == 302


def test_page_shows_times_in_the_users_time_zone_and_names_it(
    settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> None:
    """The bot tells users the time in TIMEZONE; the engineer comparing notes with them reads the same clock."""
    app = admin_app(settings, fake_store, storage, orders, timezone="America/Sao_Paulo")
    client, zone = app.test_client(), ZoneInfo("America/Sao_Paulo")
    user = chat(app, "alice")
    order_id = report_order(user)
    session = runtime(app).store.load(user.key)
    assert session is not None
    order = orders.get(order_id)
    assert order is not None

    def local(moment: datetime | float) -> str:
        at = moment if isinstance(moment, datetime) else datetime.fromtimestamp(moment, zone)
        return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    _login(client)
    html = client.get(f"/admin/sessions/{user.key}").get_data(as_text=True)
    assert f'id="last-activity">{local(session.updated_at)} (America/Sao_Paulo), ' in html
    assert f'id="started">{local(session.created_at)} (America/Sao_Paulo)<' in html
    assert f'title="{local(session.history[0]["at"])} (America/Sao_Paulo)"' in html  # the history's When

    listing = client.get("/admin/sessions").get_data(as_text=True)
    assert f'title="{local(session.updated_at)} (America/Sao_Paulo)"' in listing
    assert f'title="{local(order.created_at)} (America/Sao_Paulo)"' in client.get("/admin/orders").get_data(
        as_text=True
    )
    detail = client.get(f"/admin/orders/{order_id}").get_data(as_text=True)
    assert f'id="created">{local(order.created_at)} (America/Sao_Paulo)<' in detail
    assert "<th>When (America/Sao_Paulo)</th>" in detail

    client.post(f"/admin/sessions/{user.key}/reset", data={"csrf": _csrf(html)})
    audit = client.get("/admin/audit").get_data(as_text=True)
    audited_at = client.get("/admin/api/audit", headers=AUTH).json["items"][0]["at"]
    assert "<th>When (America/Sao_Paulo)</th>" in audit
    assert f">{local(datetime.fromisoformat(audited_at))}<" in audit


def test_stored_voice_notes_are_served_as_audio_and_amr_as_wav_when_played(
    client: FlaskClient, storage: LocalFolderStore
) -> None:
    m4a, amr = storage.put(note("m4a"), "audio/mp4"), storage.put(note("amr"), "audio/amr")
    broken = storage.put(b"#!AMR\n" + b"\xff" * 40, "audio/amr")  # an AMR header, then frames without sound
    assert client.get(f"/admin/images/{m4a}", headers=AUTH).mimetype == "audio/mp4"
    assert client.get(f"/admin/images/{m4a}?play=1", headers=AUTH).mimetype == "audio/mp4"  # browsers play it
    assert client.get(f"/admin/images/{amr}", headers=AUTH).mimetype == "audio/amr"  # the original, to download
    played = client.get(f"/admin/images/{amr}?play=1", headers=AUTH)
    assert played.mimetype == "audio/wav" and probe(played.data)[:3] == ("wav", "pcm_s16le", 8000)
    assert client.get(f"/admin/images/{broken}?play=1", headers=AUTH).mimetype == "audio/amr"  # as stored

"""``GET /admin/api/reports``: the figures of a week with known timestamps as JSON and as CSV, the parameters it
refuses (400 naming them), and the same numbers as ``bot.reports`` computes."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from tests.support.admin import AUTH, TOKEN, admin_app
from tests.support.order_history import NOW, History, a_week

pytestmark = pytest.mark.integration

API = "/admin/api/reports"
WEEK = "from=2026-12-01&to=2026-12-07"


@pytest.fixture
def app(settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders) -> Flask:
    a_week(History(orders.engine))
    app = admin_app(settings, fake_store, storage, orders)
    app.extensions["wobot_admin"].ops.clock = NOW.timestamp  # "now" is Tuesday 2026-12-08 09:00 in Shanghai
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def get(client: FlaskClient, query: str) -> Any:
    resp = client.get(f"{API}?{query}", headers=AUTH)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def test_the_week_as_json(client: FlaskClient) -> None:
    report = get(client, WEEK)
    assert report["period"] == {
        "from": "2026-12-01",
        "to": "2026-12-07",
        "timezone": "Asia/Shanghai",
        "start": "2026-11-30T16:00:00+00:00",
        "end": "2026-12-07T16:00:00+00:00",
    }
    s = report["summary"]
    assert (s["created"], s["resolved"], s["backlog"]) == (5, 3, 3)
    assert s["time_to_fix"] == {"count": 3, "median": 9600, "p90": 90000}
    assert s["claim_sla_breached"]["share"] == 0.5
    assert [o["id"] for o in report["breaching_now"]["orders"]] == ["WO-20261125-EEEEE", "WO-20261203-CCCCC"]
    assert report["by_assignee"][0]["assignee"] == "bob"
    assert get(client, "")["period"]["to"] == "2026-12-08"  # the default: the last 7 days


def test_the_csv_holds_the_same_numbers(client: FlaskClient) -> None:
    report = get(client, f"{WEEK}&site=A栋")
    resp = client.get(f"{API}?{WEEK}&site=A栋&format=csv", headers=AUTH)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert 'filename="report-2026-12-01-2026-12-07.csv"' in resp.headers["Content-Disposition"]
    text = resp.get_data(as_text=True)
    assert text.startswith("\ufeff")  # Excel reads the Chinese names right
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert table[0] == ["table", "key", "measure", "value"]
    cells = {(t, k, m): v for t, k, m, v in table[1:]}
    assert cells["filters", "", "site"] == "A栋"
    assert cells["summary", "", "created"] == str(report["summary"]["created"]) == "3"
    assert cells["summary", "", "time_to_fix.median"] == str(report["summary"]["time_to_fix"]["median"])
    assert cells["per_day", "2026-12-03", "resolved"] == "1"
    assert cells["backlog_by_age", "older", "orders"] == "1"
    assert cells["by_site", "A栋", "orders"] == "3"
    assert cells["by_assignee", "bob", "reopened"] == "1"
    assert cells["breaching_now", "WO-20261125-EEEEE", "breach"] == "resolve"


def test_an_unknown_site_or_person_is_an_empty_report(client: FlaskClient) -> None:
    for query in ("site=no-such-site", "assignee=nobody", "zone=火星"):
        report = get(client, f"{WEEK}&{query}")
        assert report["summary"]["created"] == 0 and report["by_site"] == [] and report["breaching_now"]["count"] == 0
        assert sum(report["backlog"]["by_age"].values()) == 0


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("from=last-week", "from"),
        ("to=2026-02-30", "to"),
        ("from=2026-12-07&to=2026-12-01", "from (2026-12-07) is after to"),
        ("from=2025-01-01&to=2026-12-07", "at most 366"),
        ("severity=critical", "severity"),
        ("format=xlsx", "format"),
        ("from=0001-01-01&to=0001-01-02", "from"),
        ("sites=A", "'sites'"),
        ("from=20261201", "from"),  # ISO 8601's basic form: fromisoformat takes it, the OpenAPI pattern does not
        ("from=%202026-12-01", "from"),  # the API refuses what its document refuses (schemathesis checks)
    ],
)
def test_unusable_parameters_are_400_naming_them(client: FlaskClient, query: str, named: str) -> None:
    resp = client.get(f"{API}?{query}", headers=AUTH)
    assert resp.status_code == 400
    assert named in resp.get_json()["error"]


def test_an_empty_from_or_to_is_not_given(client: FlaskClient) -> None:
    assert get(client, "from=&to=")["period"] == get(client, "")["period"]


def test_the_token_is_needed_and_the_route_is_documented(client: FlaskClient) -> None:
    assert client.get(f"{API}?{WEEK}").status_code == 401
    doc = client.get("/admin/api/openapi.json").get_json()
    names = {p["name"] for p in doc["paths"]["/reports"]["get"]["parameters"]}
    assert names == {"from", "to", "tenant", "platform", "site", "zone", "type", "severity", "assignee", "format"}
    assert doc["components"]["schemas"]["Report"]["required"][0] == "period"


def _signed_in(client: FlaskClient) -> FlaskClient:
    form = client.get("/admin/login").get_data(as_text=True)
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    client.post("/admin/login", data={"token": TOKEN, "login_csrf": login_csrf})
    return client


def test_the_page_shows_the_same_figures_and_runs_no_script_of_pygal(client: FlaskClient) -> None:
    assert client.get(f"/admin/reports?{WEEK}").status_code == 302  # signed out: to the sign-in form
    _signed_in(client)
    resp = client.get(f"/admin/reports?{WEEK}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    nonce = re.search(r"script-src 'nonce-([^']+)'", resp.headers["Content-Security-Policy"]).group(1)  # type: ignore[union-attr]
    assert html.count("<svg") == 6 and html.count(f'<style nonce="{nonce}"') >= 7
    assert html.count("<script") == 1  # the page's own (confirmation dialogs), none from pygal; no CDN
    assert "kozea.github.io" not in html and "//cdn" not in html
    assert ">2 h 40 min<" in html and "WO-20261203-CCCCC" in html
    download = client.get(f"/admin/reports.csv?{WEEK}")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert download.get_data() == client.get(f"{API}?{WEEK}&format=csv", headers=AUTH).get_data()
    bad = client.get("/admin/reports?from=2026-12-09&to=2026-12-01")
    assert bad.status_code == 400 and "is after to" in bad.get_data(as_text=True)

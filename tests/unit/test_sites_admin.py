"""The site registry through the admin API, the CLI and the page: import, export, list, refusals, audit."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from tests.support.admin import AUTH, admin_app
from tests.support.sites import CAMPUS_CSV

API = "/admin/api"
T1 = "platform=test&tenant=t1"


@pytest.fixture
def app(settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders) -> Flask:
    return admin_app(settings, fake_store, storage, orders)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _put(client: FlaskClient, data: bytes, query: str = T1) -> tuple[int, dict[str, object]]:
    resp = client.put(f"{API}/sites.csv?{query}", data=data, headers={**AUTH, "Content-Type": "text/csv"})
    return resp.status_code, resp.json or {}


def test_import_list_export_and_the_audit_trail(client: FlaskClient) -> None:
    assert client.get(f"{API}/sites?{T1}", headers=AUTH).json == {"items": []}  # no registry: nothing, no error
    status, body = _put(client, ("\ufeff" + CAMPUS_CSV).encode())
    assert status == 200 and body == {"added": 6, "updated": 0, "removed": 0, "total": 6}
    items = client.get(f"{API}/sites?{T1}&zone=west", headers=AUTH).json["items"]
    assert [(s["id"], s["name"], s["parent"]) for s in items] == [("B5", "5号楼", None), ("B5-P", "5号楼水泵房", "B5")]
    exported = client.get(f"{API}/sites.csv?{T1}", headers=AUTH)
    assert exported.mimetype == "text/csv" and exported.get_data(as_text=True).startswith("\ufeffid,name,aliases")
    again = _put(client, exported.get_data(), f"{T1}&replace=true")
    assert again == (200, {"added": 0, "updated": 6, "removed": 0, "total": 6})
    tenants = client.get(f"{API}/sites/tenants", headers=AUTH).json["items"]
    assert tenants == [{"platform": "test", "tenant": "t1", "sites": 6}]
    audit = client.get(f"{API}/audit?limit=1", headers=AUTH).json["items"][0]
    assert (audit["action"], audit["target"], audit["who"]) == ("sites.import", "test:t1", "admin")
    assert audit["before"] == {"sites": 6} and audit["after"]["updated"] == 6


def test_a_bad_row_refuses_the_whole_file_with_its_line(client: FlaskClient) -> None:
    _put(client, CAMPUS_CSV.encode())
    bad = "id,name,latitude,longitude\nNEW1,新楼,31.2,121.4\nNEW2,坏楼,north,121.4\n"
    status, body = _put(client, bad.encode(), f"{T1}&replace=true")
    assert status == 400 and str(body["error"]).startswith("line 3: latitude must be a number")
    ids = [s["id"] for s in client.get(f"{API}/sites?{T1}", headers=AUTH).json["items"]]
    assert ids == ["B3", "B3-E", "B3-W", "B5", "B5-P", "LOBBY"]  # nothing of the file, nothing removed
    assert client.get(f"{API}/audit", headers=AUTH).json["items"][0]["after"]["added"] == 6  # only the good one


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("platform=test", "tenant must be"),
        ("platform=a b&tenant=t1", "platform must be"),
        (f"{T1}&replace=yes", "replace"),
    ],
)
def test_bad_parameters_are_400_with_a_reason(client: FlaskClient, query: str, problem: str) -> None:
    status, body = _put(client, CAMPUS_CSV.encode(), query)
    assert status == 400 and problem in str(body["error"])


def test_a_file_over_two_megabytes_is_413(client: FlaskClient) -> None:
    status, body = _put(client, b"id,name\n" + b"A,b\n" * 600_000)
    assert status == 413 and "2 MB" in str(body["error"])


def test_the_cli_imports_exports_and_refuses_a_bad_file(app: Flask, tmp_path: object) -> None:
    cli = app.test_cli_runner()
    good = tmp_path / "campus.csv"  # type: ignore[operator]
    good.write_bytes(CAMPUS_CSV.encode())
    done = cli.invoke(args=["sites", "import", "test", "t1", str(good)])
    assert done.exit_code == 0 and done.output.strip() == "6 added, 0 updated, 0 removed; 6 sites now"
    listed = cli.invoke(args=["sites", "list", "test", "t1", "--zone", "east"])
    assert "3号楼东门" in listed.output and "5号楼" not in listed.output
    exported = cli.invoke(args=["sites", "export", "test", "t1"])
    assert exported.output.startswith("\ufeffid,name") and "B5-P,5号楼水泵房" in exported.output
    bad = tmp_path / "bad.csv"  # type: ignore[operator]
    bad.write_bytes(b"id,name\nB9,\n")
    refused = cli.invoke(args=["sites", "import", "test", "t1", str(bad), "--replace"])
    assert refused.exit_code == 2 and "line 2: name must be" in refused.output
    assert "6" in cli.invoke(args=["sites", "tenants"]).output


def _login(client: FlaskClient) -> str:
    form = client.get("/admin/login").get_data(as_text=True)
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    client.post("/admin/login", data={"token": AUTH["Authorization"][7:], "login_csrf": login_csrf})
    html = client.get("/admin/sites").get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def test_the_page_uploads_a_csv_and_shows_the_sites(client: FlaskClient) -> None:
    csrf = _login(client)
    form = {"csrf": csrf, "platform": "test", "tenant": "t1", "file": (io.BytesIO(CAMPUS_CSV.encode()), "c.csv")}
    resp = client.post("/admin/sites/import", data=form, content_type="multipart/form-data", follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Imported: 6 added" in html and "3号楼东门" in html and "B3 east gate" in html
    bad = {"csrf": csrf, "platform": "test", "tenant": "t1", "file": (io.BytesIO(b"id,name\n,x\n"), "c.csv")}
    refused = client.post("/admin/sites/import", data=bad, content_type="multipart/form-data")
    assert refused.status_code == 400 and "line 2: id" in refused.get_data(as_text=True)
    forged = {**form, "csrf": "forged", "file": (io.BytesIO(CAMPUS_CSV.encode()), "c.csv")}
    assert client.post("/admin/sites/import", data=forged, content_type="multipart/form-data").status_code in (400, 403)
    assert "sites.import" in client.get("/admin/audit").get_data(as_text=True)

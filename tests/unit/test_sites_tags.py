"""QR tags: each PNG and every tag of an A4 sheet decoded back by zxing-cpp; served by the API, the CLI and the
page; refused for a site that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from bot.ports import Tenant
from bot.sites.csv_io import read_sites
from bot.sites.model import Site
from bot.sites.tags import A4_150DPI, SHEET_MAX_SITES, sheet_pdf, tag_png
from tests.support.admin import AUTH, admin_app
from tests.support.qr import decoded, pdf_pages
from tests.support.sites import CAMPUS_CSV

API = "/admin/api"
T1 = "platform=test&tenant=t1"
SITES = read_sites(CAMPUS_CSV.encode())


def test_a_tag_png_decodes_to_its_tenant_and_site() -> None:
    for site in SITES:
        assert decoded(tag_png("t1", site)) == [f"WOBOT:t1:{site.id}"]


def test_a_long_name_still_fits_and_decodes() -> None:
    site = Site("R-101", "5号楼地下二层东侧消防水泵房控制柜旁边的检修通道入口")
    assert decoded(tag_png("ww1436e0e65a779aee", site)) == ["WOBOT:ww1436e0e65a779aee:R-101"]


def test_the_a4_sheet_holds_every_tag_twelve_a_page() -> None:
    many = [Site(f"R-{n:03d}", f"{n}号房") for n in range(14)]
    pages = pdf_pages(sheet_pdf("t1", many))
    assert [page.size for page in pages] == [A4_150DPI, A4_150DPI]
    assert decoded(pages[0]) == sorted(f"WOBOT:t1:R-{n:03d}" for n in range(12))
    assert decoded(pages[1]) == ["WOBOT:t1:R-012", "WOBOT:t1:R-013"]


@pytest.fixture
def app(settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders) -> Flask:
    flask_app = admin_app(settings, fake_store, storage, orders)
    flask_app.extensions["wobot_admin"].sites.registry.apply(Tenant("test", "t1"), SITES, replace=True)
    return flask_app


def test_the_api_serves_a_tag_and_a_zones_sheet(app: Flask) -> None:
    client: FlaskClient = app.test_client()
    tag = client.get(f"{API}/sites/tag.png?{T1}&site=B3-E", headers=AUTH)
    assert tag.status_code == 200 and tag.mimetype == "image/png" and decoded(tag.data) == ["WOBOT:t1:B3-E"]
    sheet = client.get(f"{API}/sites/tags.pdf?{T1}&zone=west", headers=AUTH)
    assert sheet.mimetype == "application/pdf"
    assert decoded(pdf_pages(sheet.data)[0]) == ["WOBOT:t1:B5", "WOBOT:t1:B5-P"]
    missing = client.get(f"{API}/sites/tag.png?{T1}&site=NOPE", headers=AUTH)
    assert missing.status_code == 404 and "no site 'NOPE'" in missing.json["error"]
    empty = client.get(f"{API}/sites/tags.pdf?platform=test&tenant=t2", headers=AUTH)
    assert empty.status_code == 404 and "no sites" in empty.json["error"]


def test_the_cli_writes_a_tag_and_a_sheet(app: Flask, tmp_path: Path) -> None:
    cli = app.test_cli_runner()
    done = cli.invoke(args=["sites", "tag", "test", "t1", "B5-P", "-o", str(tmp_path / "t.png")])
    assert done.exit_code == 0 and decoded((tmp_path / "t.png").read_bytes()) == ["WOBOT:t1:B5-P"]
    done = cli.invoke(args=["sites", "sheet", "test", "t1", "-o", str(tmp_path / "s.pdf")])
    assert done.exit_code == 0 and len(decoded(pdf_pages((tmp_path / "s.pdf").read_bytes())[0])) == len(SITES)
    missing = cli.invoke(args=["sites", "tag", "test", "t1", "NOPE", "-o", str(tmp_path / "x.png")])
    assert missing.exit_code == 1 and "no site 'NOPE'" in missing.output


def test_the_page_links_each_tag_and_the_sheet(app: Flask) -> None:
    client = app.test_client()
    form = client.get("/admin/login").get_data(as_text=True)
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    client.post("/admin/login", data={"token": AUTH["Authorization"][7:], "login_csrf": login_csrf})
    html = client.get(f"/admin/sites?{T1}").get_data(as_text=True)
    links = re.findall(r'href="(/admin/sites/(?:tag\.png|tags\.pdf)[^"]*)"', html)
    assert len(links) == len(SITES) + 1
    tag = client.get(links[1].replace("&amp;", "&"))
    assert tag.status_code == 200 and decoded(tag.data) == [f"WOBOT:t1:{SITES[0].id}"]
    assert client.get(links[0].replace("&amp;", "&")).mimetype == "application/pdf"


MANY = [Site(f"R-{n:03d}", f"{n}号房") for n in range(SHEET_MAX_SITES + 10)]  # more than one sheet holds


def test_more_sites_than_a_sheet_holds_are_printed_by_part(app: Flask, tmp_path: Path) -> None:
    app.extensions["wobot_admin"].sites.registry.apply(Tenant("test", "t3"), MANY, replace=True)
    client: FlaskClient = app.test_client()
    whole = client.get(f"{API}/sites/tags.pdf?platform=test&tenant=t3", headers=AUTH)
    assert whole.status_code == 400
    assert f"at most {SHEET_MAX_SITES}" in whole.json["error"] and "part=1 … part=2" in whole.json["error"]
    assert "zone=" in whole.json["error"]
    second = client.get(f"{API}/sites/tags.pdf?platform=test&tenant=t3&part=2", headers=AUTH)
    assert second.status_code == 200 and second.headers["Content-Disposition"] == 'inline; filename="tags-2.pdf"'
    [page] = pdf_pages(second.data)
    assert decoded(page) == [f"WOBOT:t3:R-{n:03d}" for n in range(SHEET_MAX_SITES, len(MANY))]
    for bad in ("3", "0", "x", "１"):
        answer = client.get(f"{API}/sites/tags.pdf?platform=test&tenant=t3&part={bad}", headers=AUTH)
        assert answer.status_code == 400 and "part" in answer.json["error"]
    done = app.test_cli_runner().invoke(args=["sites", "sheet", "test", "t3", "-o", str(tmp_path / "s.pdf")])
    assert done.exit_code == 2 and "part=1 … part=2" in done.output  # a usage error
    out = str(tmp_path / "p.pdf")
    done = app.test_cli_runner().invoke(args=["sites", "sheet", "test", "t3", "--part", "2", "-o", out])
    assert done.exit_code == 0 and len(decoded(pdf_pages((tmp_path / "p.pdf").read_bytes())[0])) == 10
    with pytest.raises(ValueError, match=f"at most {SHEET_MAX_SITES}"):
        sheet_pdf("t3", MANY)


def test_the_page_links_each_part_and_serves_files_as_the_api_does(app: Flask) -> None:
    app.extensions["wobot_admin"].sites.registry.apply(Tenant("test", "t3"), MANY, replace=True)
    client = app.test_client()
    form = client.get("/admin/login").get_data(as_text=True)
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    client.post("/admin/login", data={"token": AUTH["Authorization"][7:], "login_csrf": login_csrf})
    html = client.get("/admin/sites?platform=test&tenant=t3").get_data(as_text=True)
    parts = re.findall(r'class="sheet-part" href="([^"]+)"', html)
    assert [p.replace("&amp;", "&") for p in parts] == [
        f"/admin/sites/tags.pdf?platform=test&tenant=t3&part={n}" for n in (1, 2)
    ]
    assert 'id="sheet"' not in html  # no link to a sheet that would be refused
    second = client.get(parts[1].replace("&amp;", "&"))
    assert second.status_code == 200 and second.headers["Content-Disposition"] == 'inline; filename="tags-2.pdf"'
    assert client.get("/admin/sites/tags.pdf?platform=test&tenant=t3").status_code == 400
    tag = client.get("/admin/sites/tag.png?platform=test&tenant=t3&site=R-001")
    assert tag.headers["Content-Disposition"] == 'inline; filename="tag-R-001.png"'

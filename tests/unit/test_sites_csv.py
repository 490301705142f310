"""The site registry's CSV: read whole, a bad row refused by its line number, written back the same."""

from __future__ import annotations

import pytest

from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.sql.sites import SqlSites
from bot.ports import Tenant
from bot.sites.csv_io import BadSiteFile, read_sites, write_sites
from bot.sites.model import Site
from tests.support.sites import CAMPUS_CSV, HOME, campus


def test_the_campus_reads_with_aliases_coordinates_zones_and_parents() -> None:
    sites = {site.id: site for site in read_sites(CAMPUS_CSV.encode())}
    gate = sites["B3-E"]
    assert gate.name == "3号楼东门" and gate.aliases == ("B3 east gate", "东门3号楼", "3号楼东侧")
    assert (gate.latitude, gate.longitude, gate.datum, gate.zone, gate.parent) == (
        31.2304,
        121.4743,
        "gcj02",
        "east",
        "B3",
    )
    assert sites["B5-P"].latitude is None and sites["B5-P"].datum == "wgs84" and sites["LOBBY"].zone == ""


def test_a_bom_crlf_and_columns_in_any_order_are_fine() -> None:
    data = "\ufeffname,id\r\n大堂,LOBBY\r\n\r\n3号楼,B3\r\n".encode()
    assert [(s.id, s.name) for s in read_sites(data)] == [("LOBBY", "大堂"), ("B3", "3号楼")]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("", 1, "empty"),
        ("id,title\nB3,x\n", 1, "unknown column 'title'"),
        ("id,aliases\nB3,x\n", 1, "must name id and name"),
        ("id,name\nB3,ok\nB 4,bad id\n", 3, "id 'B 4'"),
        ("id,name\nB3,ok\nB4,\n", 3, "name must be"),
        ("id,name,latitude,longitude\nB3,ok,91,10\n", 2, "latitude must be a number between -90 and 90"),
        ("id,name,latitude,longitude\nB3,ok,31.2,\n", 2, "give both or neither"),
        ("id,name,latitude,longitude,datum\nB3,ok,31.2,121.4,bd09\n", 2, "datum must be one of wgs84, gcj02"),
        ("id,name\nB3,ok\nB4,ok\nB3,again\n", 4, "already on line 2"),
        ("id,name,parent\nB3,ok,\nB3-E,gate,B9\n", 3, "parent 'B9' is no site"),
        ("id,name,parent\nA,a,B\nB,b,A\n", 2, "circle"),
        ("id,name,parent\nA,a,\nB,b,A\nC,c,B\nD,d,C\n", 5, "at most 3 levels"),
        ("id,name\nB3,ok,extra\n", 2, "3 values under a header of 2"),
    ],
)
def test_a_bad_row_is_refused_naming_its_line(text: str, line: int, problem: str) -> None:
    with pytest.raises(BadSiteFile) as caught:
        read_sites(text.encode())
    assert caught.value.line == line and problem in str(caught.value), str(caught.value)
    assert str(caught.value).startswith(f"line {line}: ")


def test_bytes_that_are_not_utf8_name_their_line() -> None:
    data = "id,name\nB3,3号楼\n".encode() + "B5,5号楼\n".encode("gbk")
    with pytest.raises(BadSiteFile, match=r"^line 3: not UTF-8"):
        read_sites(data)


def test_an_export_reads_back_the_same_even_with_formula_like_names() -> None:
    sites = [*read_sites(CAMPUS_CSV.encode()), Site("X-1", "=SUM(A1)", ("-1楼", "@home"), zone="+z")]
    written = write_sites(sites)
    assert written.startswith("\ufeffid,name,") and ",'=SUM(A1),'-1楼|@home," in written
    assert read_sites(written.encode()) == sites


def test_the_sql_registry_applies_all_or_nothing_per_tenant(orders: SqlWorkOrders) -> None:
    registry = campus(orders)
    other = Tenant("test", "t2")
    assert len(registry.all(HOME)) == 6 and registry.all(other) == []
    upsert = registry.apply(HOME, [Site("B3", "三号楼", ("Building 3",)), Site("B7", "7号楼")], replace=False)
    assert (upsert.added, upsert.updated, upsert.removed, upsert.total) == (1, 1, 0, 7)
    assert next(s for s in registry.all(HOME) if s.id == "B3").name == "三号楼"
    replaced = registry.apply(HOME, [Site("B7", "7号楼")], replace=True)
    assert (replaced.added, replaced.updated, replaced.removed, replaced.total) == (0, 1, 6, 1)
    assert registry.tenants() == {HOME: 1}
    fresh = SqlSites(orders.engine)  # another process: reads the database, not this one's cache
    assert [s.id for s in fresh.all(HOME)] == ["B7"]

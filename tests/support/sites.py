"""A site registry for the tests: a campus of two buildings, their gates, a pump room, in both languages."""

from __future__ import annotations

from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.sql.sites import SqlSites
from bot.ports import Tenant
from bot.sites.csv_io import read_sites

# GCJ-02 coordinates as a Chinese map app gives them (Shanghai); B3-E and B3-W are 60 m apart.
CAMPUS_CSV = (
    "id,name,aliases,latitude,longitude,datum,zone,parent\n"
    "B3,3号楼,Building 3|三号楼,31.230400,121.473700,gcj02,east,\n"
    "B3-E,3号楼东门,B3 east gate|东门3号楼|3号楼东侧,31.230400,121.474300,gcj02,east,B3\n"
    "B3-W,3号楼西门,B3 west gate|西门3号楼,31.230400,121.473100,gcj02,east,B3\n"
    "B5,5号楼,Building 5|五号楼,31.235000,121.480000,gcj02,west,\n"
    "B5-P,5号楼水泵房,B5 pump room|水泵房,,,,west,B5\n"
    "LOBBY,大堂,Main lobby|前台,,,,,\n"
)
HOME = Tenant("test", "t1")


def campus(orders: SqlWorkOrders, home: Tenant = HOME) -> SqlSites:
    """The registry on the orders' database, with the campus imported for ``home``."""
    registry = SqlSites(orders.engine)
    registry.apply(home, read_sites(CAMPUS_CSV.encode()), replace=True)
    return registry

"""Ops list and stats with 100 000 sessions on a 3-master Redis Cluster, beside one plain Redis, in one run.

    .venv/bin/python bench/ops_cluster.py [--sessions 100000] [--repeat 20]

Both are throwaway ``redis-server``s on free ports (the cluster made with ``redis-cli --cluster create``, as the
tests do). The same sessions and index entries are loaded into each; then the admin API's first page of
sessions, a filtered page, a second page, a search and the stats are timed through the real app (median and
worst of ``--repeat`` calls). The index is sharded in 16 buckets with their own hash tags, so on the cluster
the reads fan out over the nodes in one pipeline per call.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.adapters.redis.store import build_store
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from tests.integration.test_admin_scale import bulk_load
from tests.support.admin import AUTH, admin_app, runtime
from tests.support.redis_servers import redis_cluster, redis_server

CALLS = {
    "first page (50)": "/admin/api/sessions?limit=50",
    "state+platform page (20)": "/admin/api/sessions?state=waiting_close_photo&platform=slack&limit=20",
    "search q=user04242": "/admin/api/sessions?q=user04242",
    "stats": "/admin/api/stats",
}


def measure(settings: Settings, folder: Path, sessions: int, repeat: int) -> dict[str, tuple[float, float]]:
    store = build_store(settings)
    loaded = time.perf_counter()
    bulk_load(store, sessions)
    print(f"  loaded {sessions:,} sessions in {time.perf_counter() - loaded:.1f} s", file=sys.stderr)
    orders = SqlWorkOrders(f"sqlite:///{folder / 'orders.db'}")
    app = admin_app(settings, store, LocalFolderStore(str(folder / "images")), orders)
    client = app.test_client()
    out: dict[str, tuple[float, float]] = {}
    first = client.get(CALLS["first page (50)"], headers=AUTH).json
    calls = {**CALLS, "second page (50)": f"/admin/api/sessions?limit=50&cursor={first['next_cursor']}"}
    for name, url in calls.items():
        took = []
        for _ in range(repeat):
            started = time.perf_counter()
            answer = client.get(url, headers=AUTH)
            took.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, answer.get_data(as_text=True)
        out[name] = (statistics.median(took), max(took))
    runtime(app).stop()  # its turn consumers, before the servers go
    orders.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-ops-") as tmp:
        folder = Path(tmp)
        plain_url = stack.enter_context(redis_server(folder / "plain"))
        cluster_url = stack.enter_context(redis_cluster(folder / "cluster"))
        base = Settings(admin_token="bench", redis_prefix="bench")
        print("one Redis:", file=sys.stderr)
        plain = measure(base.with_(redis_url=plain_url), folder, args.sessions, args.repeat)
        print("3-master cluster:", file=sys.stderr)
        cluster = measure(base.with_(redis_url=cluster_url, redis_cluster=True), folder, args.sessions, args.repeat)
    print(f"{args.sessions:,} sessions; admin API through the app; median and worst of {args.repeat} calls, ms")
    print(f"{'call':28} {'one Redis':>18} {'3-master cluster':>20}")
    for name in plain:
        p, c = plain[name], cluster[name]
        print(f"{name:28} {p[0]:8.1f} ({p[1]:6.1f}) {c[0]:10.1f} ({c[1]:6.1f})")


if __name__ == "__main__":
    main()

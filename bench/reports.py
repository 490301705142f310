"""What a report costs at 100 000 orders: ``Reports.report`` for the last 7 days and for a whole year.

    .venv/bin/python bench/reports.py [--orders 100000] [--postgresql postgresql://postgres@127.0.0.1:5432/test]

Orders (and their timelines: created, claimed, started, resolved, closed; some holds, refusals and reopens) spread
over the 365 days before now, written straight into a fresh SQLite file (and a throwaway PostgreSQL schema when
``--postgresql`` is given). Each report is timed beside the baseline of a plain ``COUNT(*)`` over the order table.
Figures, not a timed test: machines are noisy.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, create_engine, func, insert, select, text

from bot.adapters.sql.reports import SqlReportFacts
from bot.adapters.sql.tables import ensure_schema, order_timeline, work_orders
from bot.config import Settings
from bot.reports.figures import Filters
from bot.reports.service import Reports

TYPES = ("漏水", "火情/烟雾", "电气故障", "非法入侵", "设备故障", "通道堵塞", "其他")
SEVERITIES = ("high", "medium", "medium", "low")


def generate(engine: Engine, count: int, now: datetime, seed: int = 7) -> None:
    rnd = random.Random(seed)
    ensure_schema(engine)
    batch: list[dict[str, Any]] = []
    moves: list[dict[str, Any]] = []

    def move(oid: str, kind: str, at: datetime, actor: str | None = "tech") -> None:
        moves.append({"order_id": oid, "at": at, "kind": kind, "actor_user": actor, "from_status": None})

    for n in range(count):
        oid = f"WO-B-{n:07d}"
        created = now - timedelta(seconds=rnd.uniform(0, 365 * 86400))
        row: dict[str, Any] = {
            "id": oid,
            "report_key": f"bench-{n}",
            "status": "open",
            "alarm_type": rnd.choice(TYPES),
            "description": "bench",
            "severity": rnd.choice(SEVERITIES),
            "location_text": "3号楼",
            "report_photo_key": "img/x.jpg",
            "reporter_platform": rnd.choice(("slack", "feishu", "wecom")),
            "reporter_tenant": f"T{rnd.randrange(3)}",
            "reporter_user": f"u{rnd.randrange(500)}",
            "created_at": created,
            "history": [],
            "site_id": f"site-{rnd.randrange(40)}",
            "site_name": f"{rnd.randrange(40)}号楼",
            "zone": f"区{rnd.randrange(6)}",
            "held_seconds": 0.0,
            "reopen_count": 0,
            "vlm_resolved": rnd.random() < 0.7,
            **dict.fromkeys(("claimed_at", "assignee_user", "stage", "resolved_at", "closed_at", "auto_confirmed")),
        }
        move(oid, "created", created, "reporter")
        claimed = created + timedelta(seconds=rnd.expovariate(1 / 1800))
        if claimed < now and rnd.random() < 0.97:
            row.update(claimed_at=claimed, assignee_user=f"tech{rnd.randrange(60)}", stage="claimed")
            move(oid, "claimed", claimed)
            fixed = claimed + timedelta(seconds=rnd.expovariate(1 / 20000))
            if rnd.random() < 0.1:
                row["held_seconds"] = rnd.uniform(600, 7200)
                fixed += timedelta(seconds=row["held_seconds"])
                move(oid, "on_hold", claimed + timedelta(seconds=60))
                move(oid, "resumed", claimed + timedelta(seconds=60 + row["held_seconds"]))
            if rnd.random() < 0.05:
                move(oid, "fix_rejected", fixed - timedelta(seconds=600))
            if fixed < now:
                row.update(stage="resolved", resolved_at=fixed)
                move(oid, "resolved", fixed)
                if rnd.random() < 0.04:
                    row["reopen_count"] = 1
                closed = fixed + timedelta(seconds=rnd.expovariate(1 / 7200))
                if closed < now:
                    auto = rnd.random() < 0.3
                    row.update(status="closed", closed_at=closed, auto_confirmed=auto)
                    move(oid, "auto_confirmed" if auto else "confirmed", closed)
        batch.append(row)
        if len(batch) == 5000:
            _flush(engine, batch, moves)
    _flush(engine, batch, moves)


def _flush(engine: Engine, batch: list[dict[str, Any]], moves: list[dict[str, Any]]) -> None:
    if batch:
        with engine.begin() as conn:
            conn.execute(insert(work_orders), batch)
            conn.execute(insert(order_timeline), moves)
    batch.clear()
    moves.clear()


def timed(run: Callable[[], object], rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def measure(name: str, engine: Engine, now: datetime, rounds: int) -> None:
    reports = Reports(Settings(), SqlReportFacts(engine), clock=lambda: now)
    week = reports.parse({})
    year = reports.parse({"from": (now - timedelta(days=364)).date().isoformat(), "to": now.date().isoformat()})

    def count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(work_orders)).scalar_one())

    reports.report(*week)  # indexes made, caches warm
    print(f"\n{name}: {count()} orders")
    print(f"{'what':<34}{'median ms':>11}{'max ms':>10}")
    for label, run in (
        ("baseline: COUNT(*) work_orders", count),
        ("report, last 7 days", lambda: reports.report(*week)),
        ("report, last 7 days, one site", lambda: reports.report(week[0], Filters(site="7号楼"))),
        ("report, the whole year", lambda: reports.report(*year)),
    ):
        median, worst = timed(run, rounds)
        print(f"{label:<34}{median:>11.1f}{worst:>10.1f}")


@contextmanager
def postgres_schema(url: str) -> Iterator[Engine]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(
        url.replace("postgresql://", "postgresql+psycopg://"), connect_args={"options": f"-csearch_path={schema}"}
    )
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgresql", default="", help="a PostgreSQL URL: also time it there (a throwaway schema)")
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{folder}/bench.db")
        start = time.perf_counter()
        generate(engine, args.orders, now)
        print(f"generated {args.orders} orders in {time.perf_counter() - start:.1f} s")
        measure("SQLite", engine, now, args.rounds)
        engine.dispose()
    if args.postgresql:
        with postgres_schema(args.postgresql) as engine:
            generate(engine, args.orders, now)
            measure("PostgreSQL", engine, now, args.rounds)


if __name__ == "__main__":
    main()

"""Drive N text turns through the engine on real Redis and print what they cost, beside a naive baseline.

    .venv/bin/python bench/engine_turns.py [--turns 2000] [--users 20] [--redis-url redis://…]

Without ``--redis-url`` a throwaway ``redis-server`` is started on a free loopback port and stopped
afterwards, so the command counts (``INFO commandstats`` deltas) are exact. With ``--redis-url`` the
bench uses a unique key prefix and deletes it afterwards, but other clients' commands would be
counted too.

What runs:
  engine  ``Conversation.handle`` per turn: the per-user FIFO lock (with its heartbeat thread),
          the dedupe lookup and result record (every turn carries a message id, as platform
          deliveries do), session load/save with the ops index and turn counters. Each user is
          first put into ``waiting_location`` with one photo (VLM off, photos in a temporary
          folder, orders in a temporary SQLite file; not measured), then gets a mix of text turns:
          "状态", "帮助", a location text (moves to / corrects ``waiting_confirm``), "类型 2".
  naive   the same users, texts and replies with GET + merge (append, cap the history) + SETEX
          per turn: no lock, no dedupe, no index.

Printed per run: turns/s, p50/p99 latency, Redis commands and round trips per turn, the stored
session (bytes of JSON and Redis ``MEMORY USAGE``, with a full history) and all Redis memory per
user (sessions plus lock, dedupe and index keys).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bot.adapters.redis.records import record_json  # noqa: E402
from bot.adapters.redis.sessions import RedisSessions  # noqa: E402
from bot.adapters.redis.store import ANSWERED, ANSWERED_SECONDS, SessionStore  # noqa: E402
from bot.adapters.sql.orders import SqlWorkOrders  # noqa: E402
from bot.adapters.storage import LocalFolderStore  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.dialogue.engine import Conversation, Services  # noqa: E402
from bot.messages import Incoming  # noqa: E402

# Commands the bench itself sends around the measured loop; never counted.
_OWN_COMMANDS = {"info", "config", "memory", "scan", "strlen", "dbsize", "ping", "client", "hello", "select"}


class CountingConnection(redis.Connection):
    """A redis-py connection that counts network round trips (one per command or pipeline)."""

    round_trips = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.round_trips += 1
        super().send_packed_command(command, check_health)


@dataclass
class Run:
    name: str
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    commands: Counter[str] = field(default_factory=Counter)
    round_trips: int = 0
    session_json_bytes: float = 0.0
    session_memory_bytes: float = 0.0
    all_keys_bytes_per_user: float = 0.0
    memory_by_kind: Counter[str] = field(default_factory=Counter)
    history_entries: float = 0.0


# -- Redis -------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis() -> tuple[subprocess.Popen[bytes], str, str]:
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("error: redis-server is not installed; install it or pass --redis-url")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    probe = redis.Redis.from_url(url, socket_connect_timeout=0.2)
    for _ in range(100):
        try:
            probe.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        proc.kill()
        sys.exit(f"error: the throwaway redis-server did not start on port {port}")
    probe.close()
    return proc, url, workdir


def command_counts(client: redis.Redis) -> Counter[str]:
    stats = client.info("commandstats")
    counts: Counter[str] = Counter()
    for name, value in stats.items():
        command = name.removeprefix("cmdstat_").lower()
        if command.split("|")[0] not in _OWN_COMMANDS:
            counts[command] += int(value["calls"])
    return counts


def measure_keys(client: redis.Redis, pattern: str) -> tuple[list[int], list[int], list[int]]:
    """(JSON bytes, MEMORY USAGE, history length) of every key matching ``pattern`` (JSON before compression)."""
    lengths, memory, entries = [], [], []
    for key in client.scan_iter(match=pattern, count=1000):
        raw = client.get(key)
        if raw is None:
            continue
        text = record_json(raw)
        lengths.append(len(text))
        memory.append(int(client.memory_usage(key, samples=0) or 0))
        entries.append(len(json.loads(text).get("history", [])))
    return lengths, memory, entries


def prefix_memory(client: redis.Redis, prefix: str) -> Counter[str]:
    """MEMORY USAGE of every key under the prefix, summed by kind (the key part after the prefix)."""
    kinds: Counter[str] = Counter()
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        kinds[key.decode().split(":")[1]] += int(client.memory_usage(key, samples=0) or 0)
    return kinds


def wipe(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


# -- the two runs --------------------------------------------------------------------------------------------------
def tiny_jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def script(turns: int, users: int) -> list[tuple[str, str]]:
    """(user, text) for every measured turn, users round-robin, a fixed mix of texts."""
    plan = []
    for n in range(turns):
        user = f"u{n % users:03d}"
        k = n // users
        texts = ("状态", "帮助", f"3号楼 {k % 9 + 1} 层东侧走廊，靠近 {k} 号消防栓", "类型 2")
        plan.append((user, texts[k % len(texts)]))
    return plan


def run_engine(url: str, prefix: str, plan: list[tuple[str, str]], users: int, workdir: Path) -> tuple[Run, list]:
    settings = Settings(
        redis_prefix=prefix,
        storage_dir=str(workdir / "images"),
        database_url=f"sqlite:///{workdir / 'orders.db'}",
    )
    client = redis.Redis(connection_pool=redis.ConnectionPool.from_url(url, connection_class=CountingConnection))
    store = SessionStore(client, settings)
    orders = SqlWorkOrders(settings.database_url)
    engine = Conversation(
        Services(settings, RedisSessions(store), LocalFolderStore(settings.storage_dir), orders, None)
    )
    picture = tiny_jpeg()
    for u in range(users):  # not measured: put every user into waiting_location
        engine.handle(Incoming("bench", "t", f"u{u:03d}", "image", image=picture, event_id=f"setup-{u}"))

    run = Run("engine: lock + dedupe + index")
    transcript = []
    before, trips = command_counts(client), CountingConnection.round_trips
    started = time.perf_counter()
    for n, (user, text) in enumerate(plan):
        t = time.perf_counter()
        result = engine.handle(Incoming("bench", "t", user, "text", text=text, event_id=f"m-{n}"))
        run.latencies.append(time.perf_counter() - t)
        transcript.append((user, text, [r.text for r in result.replies]))
    run.seconds = time.perf_counter() - started
    run.round_trips = CountingConnection.round_trips - trips
    run.commands = command_counts(client) - before
    # What a platform's edge does once a turn's replies are sent (one SET per turn; not the engine's, not counted).
    for n, (user, _) in enumerate(plan):
        store.settle_result(f"bench:t:{user}", f"m-{n}")

    lengths, memory, entries = measure_keys(client, f"{prefix}:session:*")
    run.session_json_bytes, run.session_memory_bytes = statistics.mean(lengths), statistics.mean(memory)
    run.history_entries = statistics.mean(entries)
    run.memory_by_kind = prefix_memory(client, prefix)
    run.all_keys_bytes_per_user = sum(run.memory_by_kind.values()) / users
    orders.dispose()
    client.close()
    return run, transcript


def run_naive(url: str, prefix: str, transcript: list, users: int, ttl: int, max_turns: int) -> Run:
    """The same conversation persisted the naive way: GET, merge, SETEX."""
    client = redis.Redis(connection_pool=redis.ConnectionPool.from_url(url, connection_class=CountingConnection))
    for u in range(users):  # same starting point as the engine's users
        start = {"v": 1, "state": "waiting_location", "pending": {}, "history": [], "turns": 0}
        client.execute_command("SETEX", f"{prefix}:session:bench:t:u{u:03d}", ttl, json.dumps(start))
    run = Run("naive: GET + merge + SETEX")
    before, trips = command_counts(client), CountingConnection.round_trips
    started = time.perf_counter()
    for user, text, replies in transcript:
        t = time.perf_counter()
        key = f"{prefix}:session:bench:t:{user}"
        raw = client.get(key)
        session = json.loads(raw) if raw else {"v": 1, "state": "idle", "pending": {}, "history": [], "turns": 0}
        now = round(time.time(), 3)
        session["history"].append({"role": "user", "text": text, "at": now, "kind": "text"})
        session["history"].extend({"role": "bot", "text": r, "at": now} for r in replies)
        del session["history"][: max(0, len(session["history"]) - 2 * max_turns)]
        session["turns"] += 1
        session["updated_at"] = now
        client.execute_command("SETEX", key, ttl, json.dumps(session, ensure_ascii=False, separators=(",", ":")))
        run.latencies.append(time.perf_counter() - t)
    run.seconds = time.perf_counter() - started
    run.round_trips = CountingConnection.round_trips - trips
    run.commands = command_counts(client) - before
    lengths, memory, entries = measure_keys(client, f"{prefix}:session:*")
    run.session_json_bytes, run.session_memory_bytes = statistics.mean(lengths), statistics.mean(memory)
    run.history_entries = statistics.mean(entries)
    run.memory_by_kind = prefix_memory(client, prefix)
    run.all_keys_bytes_per_user = sum(run.memory_by_kind.values()) / users
    client.close()
    return run


# -- output --------------------------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def table(runs: list[Run]) -> str:
    headers = (
        "run",
        "turns",
        "turns/s",
        "p50 ms",
        "p99 ms",
        "cmds/turn",
        "trips/turn",
        "history",
        "JSON B",
        "MEMORY B",
        "all keys B/user",
    )
    rows = []
    for r in runs:
        n = len(r.latencies)
        rows.append(
            (
                r.name,
                str(n),
                f"{n / r.seconds:,.0f}",
                f"{percentile(r.latencies, 0.50) * 1000:.2f}",
                f"{percentile(r.latencies, 0.99) * 1000:.2f}",
                f"{sum(r.commands.values()) / n:.1f}",
                f"{r.round_trips / n:.1f}",
                f"{r.history_entries:.0f}",
                f"{r.session_json_bytes:,.0f}",
                f"{r.session_memory_bytes:,.0f}",
                f"{r.all_keys_bytes_per_user:,.0f}",
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(cells: tuple[str, ...]) -> str:
        padded = (c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded)

    return "\n".join([line(headers), line(tuple("-" * w for w in widths)), *(line(row) for row in rows)])


# Platform ids of their real shapes (PLATFORMS.md): what one event's dedupe mark is keyed by, and its user.
EVENT_IDS = {
    "slack": ("D0123ABCD:1652227646.593159",),
    "wecom": ("7300000000000000123",),
    "feishu": ("om_5ce6d572455d361153b7cb51da133945",),
}
USERS = {
    "slack": "slack:T0123ABCD:U0123ABCDE",
    "wecom": "wecom:ww1436e0e65a779aee:zhangsan",
    "feishu": "feishu:2ca1d211f64f6438:ou_84aad35d084aa403a838cf73ee18467",
}


def mark_sizes(url: str, prefix: str) -> str:
    """MEMORY USAGE of one platform event's dedupe marks and of its turn's "answered" marker (``settle_result``),
    with the default prefix's length."""
    client = redis.Redis.from_url(url)
    store = SessionStore(client, Settings(redis_prefix=prefix[:5]))
    marks, markers = [], []
    for platform, idents in EVENT_IDS.items():
        store.mark_all(platform, idents)
        keys = [store.mark_key(platform, ident) for ident in idents]
        marks.append(f"{platform} {sum(int(client.memory_usage(key, samples=0) or 0) for key in keys)}")
        marker = store.result_key(USERS[platform], idents[0])
        client.set(marker, ANSWERED, ex=ANSWERED_SECONDS)
        markers.append(f"{platform} {int(client.memory_usage(marker, samples=0) or 0)}")
        client.delete(*keys, marker)
    client.close()
    return (
        f"dedupe mark per platform event, MEMORY USAGE B: {', '.join(marks)} (goal <= 100)\n"
        f"answered marker per platform event, MEMORY USAGE B: {', '.join(markers)} (goal <= 100)"
    )


def breakdown(run: Run, users: int) -> str:
    n = len(run.latencies)
    name = run.name.split(":")[0]
    commands = ", ".join(f"{command} {count / n:.2f}" for command, count in run.commands.most_common())
    memory = ", ".join(f"{kind} {size / users:,.0f}" for kind, size in run.memory_by_kind.most_common())
    return f"{name} commands/turn: {commands}\n{name} memory B/user by key kind: {memory}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=2000, help="measured text turns per run (default 2000)")
    parser.add_argument("--users", type=int, default=20, help="users the turns are spread over (default 20)")
    parser.add_argument("--redis-url", default="", help="use this Redis instead of a throwaway redis-server")
    args = parser.parse_args()
    if args.turns < 1 or args.users < 1:
        parser.error("--turns and --users must be at least 1")

    proc = None
    url = args.redis_url
    if not url:
        proc, url, redis_dir = start_redis()
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    naive_prefix = f"{prefix}naive"
    admin = redis.Redis.from_url(url)
    version = admin.info("server")["redis_version"]
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            plan = script(args.turns, args.users)
            engine_run, transcript = run_engine(url, prefix, plan, args.users, Path(tmp))
            settings = Settings()
            naive_run = run_naive(
                url, naive_prefix, transcript, args.users, settings.session_ttl_seconds, settings.history_max_turns
            )
            marks = mark_sizes(url, prefix)
    finally:
        wipe(admin, prefix)
        wipe(admin, naive_prefix)
        admin.close()
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
            shutil.rmtree(redis_dir, ignore_errors=True)

    where = "throwaway redis-server (exact counts)" if proc else f"{url} (counts include other clients)"
    print(
        f"Redis {version} at {where}; {args.turns} text turns over {args.users} users, one thread, "
        f"history cap {Settings().history_max_turns} turns; every engine turn carries a message id"
    )
    print(table([engine_run, naive_run]))
    print(breakdown(engine_run, args.users))
    print(breakdown(naive_run, args.users))
    print(marks)
    print("history = messages kept per session; JSON B = stored session JSON; MEMORY B = MEMORY USAGE of that key;")
    print(
        "all keys B/user = MEMORY USAGE of every key under the prefix (sessions, flow, dedupe results, index) / users"
    )


if __name__ == "__main__":
    main()

"""Instructions per request, counted by valgrind's callgrind: the figures of ``bench/turn_cpu.py`` without the noise.

CPU time on a small shared machine moves by a third from run to run, more than the differences worth knowing
(is the WeCom ack within 10 % of Slack's?). callgrind counts the instructions a process executes in user space,
the same count each run for the same code and inputs, whatever else the machine is doing. Each route runs in a
process of its own under valgrind twice: both build the app and the same requests (signed, encrypted: the
bench's own work), then one serves a warm-up only and the other the warm-up and ``-n`` requests; the difference
over ``-n`` is the figure. What it does not count: system calls' own work in the kernel (a Redis
round trip's ``sendto``/``recvfrom``, page faults), Redis's side, and gunicorn's per-connection work. The
platform acks are measured alone: no consumer threads run in their process, so the turns they hand on wait
(``bench/turn_cpu.py`` measures the acks the same way: the calling thread's CPU).

    .venv/bin/python bench/turn_instructions.py [-n 300] [--redis redis://127.0.0.1:6379/0] [--jobs 2]

Needs ``valgrind`` (each route takes about a minute under it). Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

WARM_UP = 200
ROUTES = ("bare", "naive", "generic", "slack", "wecom", "feishu")
LABELS = {
    "bare": "bare Flask route",
    "naive": "naive Redis session route",
    "generic": "generic text turn",
    "slack": "slack ack, new event",
    "wecom": "wecom ack, new event",
    "feishu": "feishu ack, new event",
}


def child(route: str, count: int, served: int, redis_url: str, prefix: str) -> None:
    """Build the route's app like ``bench/turn_cpu.py`` does and ``WARM_UP + count`` requests (signed, encrypted),
    then serve the first ``served`` of them and exit: both runs build the same, so the difference is serving."""
    import redis
    import turn_cpu
    import webhook_ack as ack

    import handlers.runner.runtime
    import handlers.web.app

    # No consumer threads (they would start with the first hand-off): an ack's instructions are the ack's own.
    handlers.web.app.background_after_fork = True
    handlers.runner.runtime.Runtime.start_workers = lambda self: None  # type: ignore[method-assign]
    settings = turn_cpu.bench_settings(redis_url, prefix, tempfile.mkdtemp(), slack_secret=ack.SLACK_SECRET)
    app: Any
    if route == "bare":
        app, make = turn_cpu.bare_app(), lambda i: turn_cpu.environ("/hook", b"{}", {})
    elif route == "naive":
        app = turn_cpu.naive_app(redis.Redis.from_url(redis_url))

        def make(i: int) -> dict[str, Any]:
            body = json.dumps({"session_id": f"{prefix}-s{i % turn_cpu.USERS}", "text": turn_cpu.TEXT}).encode()
            return turn_cpu.environ("/hook", body, {})
    else:
        app = handlers.web.app.create_app(settings)
        platforms = {"slack": ack.slack_request, "wecom": ack.wecom_request, "feishu": ack.feishu_request}
        make = turn_cpu.generic_request if route == "generic" else turn_cpu.first_time(platforms[route])
    logging.getLogger().setLevel(logging.CRITICAL)
    requests = [make(i) for i in range(WARM_UP + count)]
    gc.collect()
    gc.freeze()  # as gunicorn.conf.py does: the collector does not walk the app's objects on every full pass
    statuses: list[str] = []
    for environ in requests[:served]:
        b"".join(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    failed = [s for s in statuses if not s.startswith("200")]
    if failed:
        raise SystemExit(f"{len(failed)} requests failed, e.g. {failed[0]}")
    sys.stdout.flush()
    os._exit(0)  # not the interpreter's teardown: its instructions would be counted in one run and not the other


def instructions(route: str, count: int, served: int, redis_url: str, prefix: str) -> int:
    """Instructions of one child process under callgrind."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--child",
        route,
        "-n",
        str(count),
        "--served",
        str(served),
        "--redis",
        redis_url,
        "--prefix",
        prefix,
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not found:
        raise SystemExit(f"{route}: valgrind run failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_request(route: str, count: int, redis_url: str) -> float:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    try:
        warm = instructions(route, count, WARM_UP, redis_url, prefix)
        full = instructions(route, count, WARM_UP + count, redis_url, prefix + "x")
    finally:
        import redis

        client = redis.Redis.from_url(redis_url)
        for pattern in (f"{prefix}*", f"naive:{prefix}*"):  # the naive route's keys: "naive:<session id>"
            for key in client.scan_iter(match=pattern):
                client.delete(key)
    return (full - warm) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=300, help="requests measured per route (default 300)")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--jobs", type=int, default=2, help="valgrind runs at a time (default 2)")
    parser.add_argument("--child", choices=ROUTES, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--served", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.n, args.served, args.redis, args.prefix)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    with ThreadPoolExecutor(args.jobs) as pool:
        counts = dict(zip(ROUTES, pool.map(lambda route: per_request(route, args.n, args.redis), ROUTES), strict=True))
    naive, slack = counts["naive"], counts["slack"]
    print(f"{'route':28} {'instructions/request':>21} {'x naive':>8} {'x slack ack':>12}")
    for route, count in counts.items():
        against_slack = f"{count / slack:12.2f}" if route in ("slack", "wecom", "feishu") else ""
        print(f"{LABELS[route]:28} {count:21,.0f} {count / naive:8.2f} {against_slack}")


if __name__ == "__main__":
    main()

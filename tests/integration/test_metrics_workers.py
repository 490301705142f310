"""``/metrics`` sums every gunicorn worker: a real ``gunicorn wsgi:app --workers 2`` started from the project
root (so it reads ``gunicorn.conf.py`` by itself, as every way of starting gunicorn does), turns spread over
both workers, and every scrape, whichever worker answers it, counts all of them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from tests.integration.test_kill_mid_turn import ROOT, wait_for
from tests.support.engine import REDIS_URL, wipe_prefix
from tests.support.tcp_forward import free_port

pytestmark = pytest.mark.integration

TOKEN = "generic-token-for-metrics"
BATCH = 16


def _turn(base: str, n: int) -> int:
    body = json.dumps({"user_id": f"guard{n}", "text": "help"}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}", "Connection": "close"}
    request = urllib.request.Request(f"{base}/webhook/generic", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status


def _counted(base: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    line = next(
        line for line in text.splitlines() if line.startswith('wobot_turns_total{kind="text",platform="generic"}')
    )
    return float(line.rsplit(" ", 1)[1])


@pytest.mark.parametrize("folder_given", [True, False], ids=["folder-set", "folder-unset"])
def test_every_scrape_counts_the_turns_of_both_workers(
    tmp_path: Path, redis_client: redis.Redis, folder_given: bool
) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set (a stale file in it is cleared) and unset (a fresh folder is made)."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    temp = tmp_path / "tmp"
    temp.mkdir()
    (folder / "counter_999999.db").write_bytes(b"left over from an earlier run")  # must be cleared at start
    prefix = f"t{os.getpid()}m"
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
        "GENERIC_WEBHOOK_TOKEN": TOKEN,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'orders.db'}",
        "STORAGE_DIR": str(tmp_path / "images"),
        "PROMETHEUS_MULTIPROC_DIR": str(folder) if folder_given else "",
        "TMPDIR": str(temp),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("gunicorn to answer", lambda: _counted_or_none(base) is not None)
        if not folder_given:  # gunicorn.conf.py made a fresh folder under our TMPDIR
            folder = wait_for("the fresh metrics folder", lambda: next(temp.glob("wobot-metrics-*"), None))
        # A worker still importing the app accepts nothing, so the first batch may all go to one worker:
        # send batches until both have counted (the sum is what every scrape must say).
        sent = 0

        def both_workers_counted() -> bool:
            nonlocal sent
            with ThreadPoolExecutor(8) as pool:
                assert set(pool.map(lambda n: _turn(base, n), range(sent, sent + BATCH))) == {200}
            sent += BATCH
            return len(_worker_files(folder)) == 2

        wait_for("turns served by both workers", both_workers_counted)
        assert "999999" not in _worker_files(folder)  # the stale file was cleared at start
        assert [_counted(base) for _ in range(8)] == [float(sent)] * 8
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
        wipe_prefix(redis_client, prefix)


def _worker_files(folder: Path) -> set[str]:
    return {p.stem.rsplit("_", 1)[1] for p in folder.glob("counter_*.db")}


def _counted_or_none(base: str) -> float | None:
    try:
        return _counted(base) if _healthy(base) else None
    except (OSError, StopIteration):
        return 0.0 if _healthy(base) else None


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=1):
            return True
    except OSError:
        return False

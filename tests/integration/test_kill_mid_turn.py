"""Nothing acked is lost: every process running a turn is SIGKILLed after the webhook answered 200.

Thread mode: real ``gunicorn wsgi:app`` processes built from the environment, as the Procfile runs
them. A Slack photo is acked while the VLM (the local FakeOpenAI) is slow; the whole gunicorn (master
and workers) is killed mid-VLM-call; a new gunicorn started afterwards takes the turn over from the
Redis stream, and the user gets exactly one answer. The report then completes with one order.

RQ mode: a real ``rq worker`` process killed while its work horse runs the turn; the job is retried
by the next worker, again with exactly one answer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.sql.orders import SqlWorkOrders
from bot.config import Settings, env_name
from bot.replies import say
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.platform_servers import FakeSlack
from tests.support.engine import REDIS_URL, photo, wipe_prefix
from tests.support.live import order_id_in
from tests.support.slack import BOT_TOKEN, SECRET, SlackClient
from tests.support.tcp_forward import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LEAK = {"alarm_type": "water leak", "description": "water on the floor", "severity": "high", "confidence": 0.9}
VISIBILITY = 1.0  # seconds before a dead process's turn is taken over
# The dead process's lock ticket frees the user after this (not the default 30 s, which is as long as the test waits)
LOCK_TIMEOUT = 5.0


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class HttpTarget:
    """What SlackClient needs of ``Live``: POST over HTTP to a server in another process."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def call(self, method: str, path: str, body: bytes, headers: dict[str, str], settle: bool = True) -> Any:
        request = urllib.request.Request(self.base_url + path, data=body, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status


@pytest.fixture
def env(settings: Settings, fake_openai: FakeOpenAI, redis_client: Any) -> Iterator[dict[str, str]]:
    configured = settings.with_(
        language="en",
        redis_url=REDIS_URL,
        vlm_base_url=fake_openai.base_url,
        vlm_api_key="sk-kill",
        vlm_model="vlm-kill",
        vlm_timeout_seconds=60,
        slack_signing_secret=SECRET,
        slack_bot_token=BOT_TOKEN,
        turn_visibility_seconds=VISIBILITY,
        lock_timeout_seconds=LOCK_TIMEOUT,
    )
    names = (
        "language",
        "redis_url",
        "redis_prefix",
        "database_url",
        "storage_dir",
        "vlm_base_url",
        "vlm_api_key",
        "vlm_model",
        "vlm_timeout_seconds",
        "slack_signing_secret",
        "slack_bot_token",
        "turn_visibility_seconds",
        "lock_timeout_seconds",
    )
    values = {env_name(n): str(getattr(configured, n)) for n in names}
    yield {**os.environ, **values, "PYTHONPATH": str(ROOT)}
    wipe_prefix(redis_client, settings.redis_prefix)


def start_gunicorn(env: dict[str, str], slack: FakeSlack) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=ROOT,
        env={**env, "SLACK_API_BASE": slack.base_url},
        start_new_session=True,  # its own process group: killpg takes master and workers
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                return True
        except OSError:
            return False

    wait_for("gunicorn to answer", healthy)
    return process, base


def kill_all(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def test_every_web_process_killed_mid_turn_the_user_still_gets_one_answer(
    env: dict[str, str], fake_openai: FakeOpenAI, settings: Settings
) -> None:
    with FakeSlack(bot_token=BOT_TOKEN) as slack:
        fake_openai.respond_with(json.dumps(LEAK))
        fake_openai.delay(8, times=1)  # the first analysis hangs: the process dies inside it
        first, base = start_gunicorn(env, slack)
        client = SlackClient(HttpTarget(base))  # type: ignore[arg-type]
        try:
            assert client.image(slack, photo(1)) == 200  # acked
            wait_for("the VLM call to start", lambda: fake_openai.requests)
        finally:
            kill_all(first)
        assert slack.texts() == []  # nobody answered: the acked turn exists only in the stream

        second, base = start_gunicorn(env, slack)
        client = SlackClient(HttpTarget(base))  # type: ignore[arg-type]
        try:
            analysis = say(
                "en",
                "analysis",
                alarm_type="water leak",
                severity=say("en", "severity_high"),
                description="water on the floor",
            )
            expected = [f"{analysis}\n\n{say('en', 'ask_location')}"]  # one message for the turn
            wait_for("the taken-over turn to answer", lambda: len(slack.texts()) >= len(expected))
            answer = slack.texts()
            assert answer == expected
            time.sleep(VISIBILITY * 4)  # long enough for any second take-over to have answered too
            after_photo = slack.texts()
            assert after_photo == answer, after_photo  # exactly one answer set
            assert len(fake_openai.requests) == 2  # the dead call and the one that answered

            client.text("B3 pump room")
            client.text("confirm")
            order_id = order_id_in(wait_for("the order", lambda: [t for t in slack.texts() if "created" in t]))
        finally:
            kill_all(second)
    orders = SqlWorkOrders(settings.database_url)
    try:
        assert orders.counts()["open"] == 1
        assert orders.get(order_id) is not None
    finally:
        orders.dispose()


def test_a_graceful_stop_finishes_the_running_turn(env: dict[str, str], fake_openai: FakeOpenAI) -> None:
    """SIGTERM (a deploy): the process takes no new turns but answers the one it is running before it exits."""
    with FakeSlack(bot_token=BOT_TOKEN) as slack:
        fake_openai.respond_with(json.dumps(LEAK))
        fake_openai.delay(3, times=1)
        server, base = start_gunicorn(env, slack)
        try:
            assert SlackClient(HttpTarget(base)).image(slack, photo(1)) == 200  # type: ignore[arg-type]
            wait_for("the VLM call to start", lambda: fake_openai.requests)
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(40)
        finally:
            if server.poll() is None:
                kill_all(server)
        assert len(slack.texts()) == 1, slack.texts()  # the turn's one message: the analysis and "where?"

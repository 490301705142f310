"""Nothing acked is lost: every process running a turn is SIGKILLed after the webhook answered 200.

The processes are real, started as the Procfile starts them, from the environment: a Slack photo is acked while
the VLM (the local FakeOpenAI) is slow; every process is killed mid-VLM-call; processes started afterwards take
the turn over from the Redis stream, and the user gets exactly one answer. The report then completes with one
order.

Thread mode (the default): ``gunicorn wsgi:app``, master and workers; its workers run the turns.

Worker mode (``WORKER_MODE=worker``): a gunicorn that only acks, and the Procfile's ``worker`` processes
(``flask --app wsgi turns work``, the command read from the Procfile) that run the turns. The web process alone
answers nobody: an acked message waits in the stream until a worker runs.
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
from tests.support.procfile import start_process
from tests.support.slack import BOT_TOKEN, SECRET, SlackClient
from tests.support.tcp_forward import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LEAK = {"alarm_type": "water leak", "description": "water on the floor", "severity": "high", "confidence": 0.9}
VISIBILITY = 1.0  # seconds before a dead process's turn is taken over
# The dead process's lock ticket frees the user after this (not the default 30 s, which is as long as the test waits)
LOCK_TIMEOUT = 5.0
WORKERS = 2  # worker processes: two live ones race for the dead one's turn, and only one may answer it


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30, logs: Callable[[], str] = str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}{logs()}")


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
        nlu_base_url="off",
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
        "nlu_base_url",
        "slack_signing_secret",
        "slack_bot_token",
        "turn_visibility_seconds",
        "lock_timeout_seconds",
    )
    values = {env_name(n): str(getattr(configured, n)) for n in names}
    yield {**os.environ, **values, "PYTHONPATH": str(ROOT)}
    wipe_prefix(redis_client, settings.redis_prefix)


@pytest.fixture
def worker_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, env_name("worker_mode"): "worker"}


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


class Workers:
    """The Procfile's ``worker`` processes of one test, and what they logged."""

    def __init__(self, env: dict[str, str], slack: FakeSlack, folder: Path) -> None:
        self.env = {**env, "SLACK_API_BASE": slack.base_url}
        self.folder = folder
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, count: int) -> list[Path]:
        """Start ``count`` more worker processes; their logs."""
        started = []
        for _ in range(count):
            log = self.folder / f"worker-{len(self.logs)}.log"
            self.processes.append(start_process("worker", self.env, log))
            self.logs.append(log)
            started.append(log)
        return started

    def kill_all(self) -> None:
        kill_all(*self.processes)
        self.processes = []

    def output(self) -> str:
        """Every worker's log, for a failure message."""
        return "".join(f"\n--- {log.name}\n{log.read_text(errors='replace')}" for log in self.logs if log.exists())


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[dict[str, str], FakeSlack], Workers]]:
    made: list[Workers] = []

    def make(env: dict[str, str], slack: FakeSlack) -> Workers:
        made.append(Workers(env, slack, tmp_path))
        return made[-1]

    yield make
    for each in made:
        each.kill_all()  # whatever a failed test left running


def kill_all(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    for process in processes:
        process.wait(10)


def the_photo_is_answered_once_then_the_report_completes(
    slack: FakeSlack, client: SlackClient, fake_openai: FakeOpenAI, settings: Settings, logs: Callable[[], str] = str
) -> None:
    """After the crash: the taken-over photo turn answers exactly once, and the user completes the report."""
    analysis = say(
        "en", "analysis", alarm_type="water leak", severity=say("en", "severity_high"), description="water on the floor"
    )
    expected = [f"{analysis}\n\n{say('en', 'ask_location')}"]  # one message for the turn
    wait_for("the taken-over turn to answer", lambda: len(slack.texts()) >= len(expected), logs=logs)
    answer = slack.texts()
    assert answer == expected
    time.sleep(VISIBILITY * 4)  # long enough for any second take-over to have answered too
    after_photo = slack.texts()
    assert after_photo == answer, after_photo  # exactly one answer set
    assert len(fake_openai.requests) == 2  # the dead call and the one that answered

    client.text("B3 pump room")
    client.text("confirm")
    order_id = order_id_in(wait_for("the order", lambda: [t for t in slack.texts() if "created" in t], logs=logs))
    orders = SqlWorkOrders(settings.database_url)
    try:
        assert orders.counts()["open"] == 1
        assert orders.get(order_id) is not None
    finally:
        orders.dispose()


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
        try:
            the_photo_is_answered_once_then_the_report_completes(
                slack,
                SlackClient(HttpTarget(base)),  # type: ignore[arg-type]
                fake_openai,
                settings,
            )
        finally:
            kill_all(second)


def test_every_web_and_worker_process_killed_mid_turn_the_user_still_gets_one_answer(
    worker_env: dict[str, str],
    fake_openai: FakeOpenAI,
    settings: Settings,
    workers: Callable[[dict[str, str], FakeSlack], Workers],
) -> None:
    """WORKER_MODE=worker: the web process acks, a ``turns work`` process runs the turn and dies in it (and so
    does every other process); the processes started again answer the user exactly once."""
    with FakeSlack(bot_token=BOT_TOKEN) as slack:
        fake_openai.respond_with(json.dumps(LEAK))
        fake_openai.delay(8, times=1)  # the first analysis hangs: the worker running it dies inside it
        turn_workers = workers(worker_env, slack)
        turn_workers.start(WORKERS)  # starting while gunicorn starts
        web, base = start_gunicorn(worker_env, slack)
        try:
            assert SlackClient(HttpTarget(base)).image(slack, photo(1)) == 200  # type: ignore[arg-type]
            wait_for("the VLM call to start", lambda: fake_openai.requests, logs=turn_workers.output)
        finally:
            kill_all(web)
            turn_workers.kill_all()
        assert slack.texts() == []  # nobody answered: the acked turn exists only in the stream

        restarted = turn_workers.start(WORKERS)
        web, base = start_gunicorn(worker_env, slack)
        try:
            the_photo_is_answered_once_then_the_report_completes(
                slack,
                SlackClient(HttpTarget(base)),  # type: ignore[arg-type]
                fake_openai,
                settings,
                logs=turn_workers.output,
            )
        finally:
            kill_all(web)
            turn_workers.kill_all()
        take_overs = [line for log in restarted for line in log.read_text().splitlines() if "took over" in line]
        # A restarted worker took the dead one's turn (on a starved machine two may: one answer all the same)
        assert take_overs, turn_workers.output()


def test_in_worker_mode_the_web_process_alone_runs_no_turn(
    worker_env: dict[str, str],
    settings: Settings,
    redis_client: Any,
    workers: Callable[[dict[str, str], FakeSlack], Workers],
) -> None:
    """WORKER_MODE=worker: gunicorn acks and hands the turn on, and runs no consumer; a worker answers it."""
    stream = f"{settings.redis_prefix}:turns-stream"
    with FakeSlack(bot_token=BOT_TOKEN) as slack:
        web, base = start_gunicorn(worker_env, slack)
        try:
            assert SlackClient(HttpTarget(base)).text("help") == 200  # type: ignore[arg-type]
            time.sleep(2)  # a consumer thread would have read it in milliseconds
            assert slack.texts() == []
            assert redis_client.xlen(stream) == 1  # handed on…
            (group,) = redis_client.xinfo_groups(stream)
            assert group["pending"] == 0 and group["last-delivered-id"] in (b"0-0", "0-0"), group  # …and unread

            turn_workers = workers(worker_env, slack)
            turn_workers.start(1)
            texts = wait_for("the worker to answer", slack.texts, logs=turn_workers.output)
            assert len(texts) == 1 and "I can:" in texts[0], texts
            wait_for("the turn to be done", lambda: redis_client.xlen(stream) == 0)
        finally:
            kill_all(web)


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

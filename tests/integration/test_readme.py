"""The README's examples, run as written: every shell block marked ``<!-- tested: NAME -->``.

``./scripts/run`` is started as the README says (embedded defaults: no Redis, S3 or VLM), the report
and close examples are run with bash, curl and jq against it with the shipped sample photos, the
console chat is fed the lines the README shows, and the ops commands run against a real Redis. Only
the port (the README says 8000) and the example order id are swapped for this run's.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.adapters.redis.sessions import RedisSessions
from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from bot.dialogue.engine import Conversation, Services
from tests.support.admin import report_order
from tests.support.engine import REDIS_URL, Chat, photo
from tests.support.tcp_forward import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_ORDER = "WO-20261121-7KQ2M"
_BLOCK = re.compile(r"<!-- tested: (?P<name>[\w-]+) -->\n```(?P<lang>sh|text)\n(?P<code>.*?)```", re.S)


def readme_blocks() -> dict[str, str]:
    """The marked blocks of the README and of docs/ops.md (where the ops commands live)."""
    return {m["name"]: m["code"] for m in _marked()}


def _marked() -> list[re.Match[str]]:
    texts = [(ROOT / page).read_text() for page in ("README.md", "docs/ops.md")]
    return [m for text in texts for m in _BLOCK.finditer(text)]


def quiet_env(**extra: str) -> dict[str, str]:
    """This environment without the settings of the test run (a newcomer's shell has none of them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_", "GENERIC_", "ADMIN_"))}
    return env | extra


def bash(code: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + code],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def answers(output: str) -> list[dict[str, Any]]:
    """The JSON documents ``jq .`` printed one after another."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(output):
        if output[at].isspace():
            at += 1
            continue
        doc, at = decoder.raw_decode(output, at)
        found.append(doc)
    return found


def test_the_readme_marks_every_example_it_promises() -> None:
    assert set(readme_blocks()) == {"run", "report", "close", "chat", "chat-transcript", "ops"}


def test_every_shell_block_can_be_pasted_into_a_shell() -> None:
    """A ``sh`` block holds commands only: what is typed into a program (``you> …``) is a ``text`` transcript."""
    for block in _marked():
        if block["lang"] == "sh":
            assert not re.search(r"^\s*(you|bot)>", block["code"], re.M), block["name"]
    assert readme_blocks()["chat"].strip() == ".venv/bin/flask --app wsgi bot chat --user zhangsan"


@pytest.fixture(scope="module")
def bot_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``./scripts/run`` as the README says, on a free port, its data in a temporary folder."""
    command = readme_blocks()["run"].strip()
    assert command == "./scripts/run"
    data = tmp_path_factory.mktemp("readme-run")
    port = free_port()
    env = quiet_env(PORT=str(port), DATABASE_URL=f"sqlite:///{data / 'orders.db'}", STORAGE_DIR=str(data / "img"))
    log = (data / "server.log").open("w")
    server = subprocess.Popen(
        ["bash", "-c", command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as ready:
                    assert json.load(ready)["checks"]["redis"] == "embedded"
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"./scripts/run did not come up:\n{(data / 'server.log').read_text()[-3000:]}")
                time.sleep(0.3)
        yield f"localhost:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()


def test_run_says_at_once_that_the_port_is_taken_and_how_to_change_it() -> None:
    """Before: "bot on :8000", then gunicorn's retries and "Can't connect" after about 6 s."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run(
            ["./scripts/run"], cwd=ROOT, env=quiet_env(PORT=str(port)), capture_output=True, text=True, timeout=20
        )
    assert done.returncode != 0
    assert f"port {port} is taken" in done.stderr, done.stderr
    assert f"PORT={port + 1} ./scripts/run" in done.stderr
    assert "bot on" not in done.stdout and "Can't connect" not in done.stderr
    assert time.monotonic() - started < 5


def test_report_then_close_with_the_sample_photos(bot_url: str) -> None:
    blocks = readme_blocks()
    report = blocks["report"].replace("localhost:8000", bot_url)
    done = bash(report, quiet_env())
    assert done.returncode == 0, done.stderr
    replies = answers(done.stdout)
    assert [r["state"] for r in replies] == ["idle", "waiting_location", "waiting_location", "waiting_confirm", "idle"]
    assert replies[1]["replies"][0].startswith("照片已收到")  # the sample is a photo the bot took
    order_id = replies[-1]["order_id"]
    assert re.fullmatch(r"WO-\d{8}-[0-9A-Z]{5}", order_id)
    assert replies[-1]["replies"][0].startswith(f"工单已创建：{order_id}（")

    send = next(line for line in report.splitlines() if line.startswith("send()"))
    close = blocks["close"].replace(EXAMPLE_ORDER, order_id)
    done = bash(send + "\n" + close, quiet_env())
    assert done.returncode == 0, done.stderr
    replies = answers(done.stdout)
    assert [r["state"] for r in replies] == ["waiting_close_photo", "idle"]
    assert replies[-1]["order_id"] == order_id  # closed (unverified: no VLM)


def test_the_console_chat_as_shown(tmp_path: Path) -> None:
    command = readme_blocks()["chat"].strip()
    transcript = readme_blocks()["chat-transcript"].strip().splitlines()
    typed = [line.removeprefix("you> ") for line in transcript if line.startswith("you> ")]
    assert typed and all(line.startswith(("you> ", "bot> ")) for line in transcript)
    env = quiet_env(DATABASE_URL=f"sqlite:///{tmp_path / 'orders.db'}", STORAGE_DIR=str(tmp_path / "img"))
    done = bash(command, env, stdin="\n".join([*typed, "/photo", "/quit"]) + "\n")
    assert done.returncode == 0, done.stderr
    assert "You are console:local:zhangsan" in done.stdout and "generic:default:zhangsan" in done.stdout
    assert "bot> 工单已创建：WO-" in done.stdout
    assert "usage: /photo PATH" in done.stdout  # "/photo" alone explains itself
    assert done.stderr == ""  # quiet: no log lines between the messages


def test_the_ops_commands_as_shown(tmp_path: Path, redis_client: redis.Redis) -> None:
    settings = Settings(
        redis_url=REDIS_URL,
        redis_prefix=f"readme{os.getpid()}",
        database_url=f"sqlite:///{tmp_path / 'orders.db'}",
        storage_dir=str(tmp_path / "img"),
    )
    orders = SqlWorkOrders(settings.database_url)
    engine = Conversation(
        Services(
            settings,
            RedisSessions(SessionStore(redis_client, settings)),
            LocalFolderStore(settings.storage_dir),
            orders,
            None,
        )
    )
    try:
        to_cancel = report_order(Chat(engine, user="lisi", platform="generic", tenant="default"))
        zhangsan = Chat(engine, user="zhangsan", platform="generic", tenant="default")
        assert zhangsan.image(photo(4)).state == "waiting_location"
        env = quiet_env(
            REDIS_URL=REDIS_URL,
            REDIS_KEY_PREFIX=settings.redis_prefix,
            DATABASE_URL=settings.database_url,
            STORAGE_DIR=settings.storage_dir,
        )
        outputs = []
        for line in readme_blocks()["ops"].strip().splitlines():
            done = bash(line.replace(EXAMPLE_ORDER, to_cancel), env)
            assert done.returncode == 0, (line, done.stdout, done.stderr)
            assert done.stderr == "", line  # quiet unless --verbose
            outputs.append(done.stdout)
        listed, shown = outputs[0], outputs[1]
        assert "generic:default:zhangsan" in listed and "waiting_location" in listed
        assert "generic:default:zhangsan" in shown and "the alarm type" in shown  # no VLM: the type is asked first
        assert "generic:default:zhangsan: waiting_location → idle" in outputs[3]
        assert to_cancel in outputs[4] and f"{to_cancel}: cancelled" in outputs[5]
        assert orders.get(to_cancel).status == "cancelled"  # type: ignore[union-attr]
        verbose = bash(readme_blocks()["ops"].splitlines()[-1] + " --verbose", env)
        assert "platforms on:" in verbose.stderr
    finally:
        orders.dispose()
        for key in redis_client.scan_iter(match=f"{settings.redis_prefix}:*"):
            redis_client.delete(key)

"""The Procfile's processes at start-up: the ``worker`` line is ``flask --app wsgi turns work``, which refuses to
run without a shared Redis, and ``WORKER_MODE=rq`` (retired) stops both processes with a sentence naming the
replacement. That the worker line runs and consumes turns is in test_kill_mid_turn.py, which starts it from the
Procfile too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import handlers.runner.work
from bot.config import Settings, SettingsError, env_name
from handlers.runner.work import NEEDS_REDIS
from tests.support.engine import REDIS_URL
from tests.support.procfile import procfile_command, procfile_lines, run_process
from tests.support.tcp_forward import free_port

pytestmark = pytest.mark.integration

WORKER_COMMAND = "flask --app wsgi turns work"  # what the docs, the settings' errors and work.py name
REDIS_VARIABLES = ("redis_url", "redis_cluster", "redis_sentinels", "redis_sentinel_master")


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """The environment without any Redis, each process's files in the test's folder."""
    unset = {env_name(n) for n in REDIS_VARIABLES} | {env_name("worker_mode")}
    return {
        **{k: v for k, v in os.environ.items() if k not in unset},
        env_name("storage_dir"): str(tmp_path / "images"),
        env_name("database_url"): f"sqlite:///{tmp_path / 'orders.db'}",
        env_name("redis_prefix"): f"t{tmp_path.name[-10:]}",
        "PORT": str(free_port()),  # the web line's ${PORT}
        "WEB_CONCURRENCY": "1",
    }


def test_the_procfile_worker_line_is_the_documented_command() -> None:
    assert procfile_command("worker") == WORKER_COMMAND
    assert set(procfile_lines()) == {"web", "worker"}
    assert "rq" not in " ".join(procfile_lines().values()).split()
    assert (handlers.runner.work.__doc__ or "").startswith(f"``{WORKER_COMMAND}``")


def test_turns_work_without_a_shared_redis_exits_with_the_reason(base_env: dict[str, str]) -> None:
    done = run_process("worker", {**base_env, env_name("worker_mode"): "worker"})
    assert done.returncode != 0, (done.stdout, done.stderr)
    assert f"Error: {NEEDS_REDIS}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr  # a sentence for the operator, not a crash


@pytest.mark.parametrize("process", ["worker", "web"])
def test_worker_mode_rq_stops_start_up_naming_the_replacement(base_env: dict[str, str], process: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings(worker_mode="rq")
    sentence = str(refused.value)
    assert "WORKER_MODE=worker" in sentence and f"`{procfile_command('worker')}`" in sentence

    done = run_process(process, {**base_env, env_name("redis_url"): REDIS_URL, env_name("worker_mode"): "rq"})
    assert done.returncode != 0, (done.stdout, done.stderr)
    # The sentence is the last line the operator reads, and no traceback before it (``wsgi`` reads the settings).
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line == f"error: {sentence}", done.stderr
    assert "Traceback" not in done.stderr

"""The Redis settings: plain, Cluster or Sentinel, read in one place and built into a client in one place
(``bot/adapters/redis/client.py``). The topologies themselves run in tests/integration/test_redis_topologies.py."""

from __future__ import annotations

import re

import pytest

from bot.adapters.redis.client import build_redis
from bot.config import Settings, SettingsError

SENTINELS = "10.0.0.1:26379,10.0.0.2:26379,[::1]:26380"


def test_sentinel_alone_is_a_complete_redis_setting() -> None:
    settings = Settings.from_env({"REDIS_SENTINELS": SENTINELS, "REDIS_SENTINEL_MASTER": "mymaster"})
    assert settings.redis_configured and not settings.redis_url
    assert settings.sentinel_addresses == [("10.0.0.1", 26379), ("10.0.0.2", 26379), ("::1", 26380)]
    assert settings.generic_webhook_mode == "off"  # a shared store: the generic webhook needs its token


def test_redis_url_gives_the_sentinel_master_its_password_and_db() -> None:
    settings = Settings(
        redis_sentinels=SENTINELS, redis_sentinel_master="mymaster", redis_url="redis://:p%40ss@ignored:6379/3"
    )
    client = build_redis(settings)  # connects lazily: nothing is reached here
    assert client is not None
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["password"], kwargs["db"]) == ("p@ss", 3)
    assert client.connection_pool.service_name == "mymaster"  # type: ignore[attr-defined]


def test_cluster_flag_is_read_from_the_environment() -> None:
    settings = Settings.from_env({"REDIS_CLUSTER": "true", "REDIS_URL": "redis://10.0.0.5:7000"})
    assert settings.redis_cluster and settings.redis_configured


def test_no_redis_means_the_embedded_store() -> None:
    assert build_redis(Settings()) is None and not Settings().redis_configured


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"REDIS_CLUSTER": "true"}, "REDIS_CLUSTER=true needs REDIS_URL"),
        ({"REDIS_SENTINELS": SENTINELS}, "REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together"),
        ({"REDIS_SENTINEL_MASTER": "mymaster"}, "REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together"),
        ({"REDIS_SENTINELS": "10.0.0.1", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINELS entry '10.0.0.1'"),
        ({"REDIS_SENTINELS": "h:99999", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINELS entry 'h:99999'"),
        (
            {"REDIS_CLUSTER": "1", "REDIS_URL": "redis://h:7000", "REDIS_SENTINELS": SENTINELS},
            "exclude each other",
        ),
        (
            {"WORKER_MODE": "rq"},
            "WORKER_MODE=rq is retired: use WORKER_MODE=worker and run `flask --app wsgi turns work`",
        ),
        ({"WORKER_MODE": "threads"}, "WORKER_MODE must be thread or worker, not 'threads'"),
    ],
)
def test_a_wrong_redis_setting_stops_start_up_naming_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(named)):
        Settings.from_env(env)

"""The one place a Redis client is built from settings: a plain server, a Cluster, or a master found
through Sentinel.

Every user's keys carry the hash tag ``{platform:tenant:user}`` and every shared structure is either
sharded into buckets with their own tags (the ops index, the turn counters) or kept in one slot on
purpose (an outbox sink), so the same code runs on all three.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from bot.config import Settings

# One quick retry, no backoff: with Redis down the caller should get its 503 in well under a second.
# A Sentinel-managed connection looks the master up again on that retry, so a failover costs the turns
# that arrive while no master is elected (they get 503 and the platform redelivers).
_TIMEOUTS: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 2}


def build_redis(settings: Settings) -> redis.Redis | None:
    """The shared client the settings describe, or None when none is configured (the embedded store).

    A ``RedisCluster`` is returned typed as ``redis.Redis``: it answers every command the bot uses, and
    a pipeline on it groups the commands by node.
    """
    if settings.redis_sentinels:
        return _sentinel_master(settings)
    if not settings.redis_url:
        return None
    if settings.redis_cluster:
        cluster = RedisCluster.from_url(settings.redis_url, retry=Retry(NoBackoff(), 1), **_TIMEOUTS)
        return cast(redis.Redis, cluster)
    return redis.Redis.from_url(settings.redis_url, health_check_interval=30, retry=Retry(NoBackoff(), 1), **_TIMEOUTS)


def _sentinel_master(settings: Settings) -> redis.Redis:
    """The master named ``REDIS_SENTINEL_MASTER``; ``REDIS_URL``, if set, gives its password and db."""
    password: str | None = None
    db = 0
    if settings.redis_url:
        url = urlsplit(settings.redis_url)
        password = unquote(url.password) if url.password else None
        path = url.path.strip("/")
        db = int(path) if path.isdigit() else 0
    sentinel = Sentinel(settings.sentinel_addresses, sentinel_kwargs=dict(_TIMEOUTS))  # type: ignore[no-untyped-call]
    master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        settings.redis_sentinel_master,
        password=password,
        db=db,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1),
        **_TIMEOUTS,
    )
    return master

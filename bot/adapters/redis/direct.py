"""Commands sent in one round trip on the calling thread's own connection, past redis-py's per-command layers.

redis-py wraps every command (or pipeline) in a pool checkout with a readiness poll, a retry policy, reply
callbacks and observability hooks, as much CPU as the round trip's own system calls (``bench/turn_cpu.py``
measures it). The hot paths (a turn's two round trips, a webhook's dedupe claim and hand-off)
send through a ``Line`` instead: one connection per thread, kept. Replies come raw (no callbacks).

Only for a plain client, a Sentinel master included (its connections find the master themselves). A Cluster
routes each command by key, and fakeredis has no sockets: both go through an ordinary pipeline. Any
connection trouble drops the thread's connection and sends the commands the ordinary way, with redis-py's
retries, so a restart or a failover costs a turn nothing more than it did.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import redis
from hiredis import pack_command
from redis.cluster import RedisCluster

log = logging.getLogger(__name__)


class Line:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        plain = not isinstance(client, RedisCluster) and not type(client).__module__.startswith("fakeredis")
        self._pool = client.connection_pool if plain else None
        self._local = threading.local()

    @property
    def direct(self) -> bool:
        """Does this line reach one Redis (not a Cluster, not fakeredis)? Then a script may touch any key."""
        return self._pool is not None

    def send(self, commands: list[tuple[Any, ...]], *, raise_on_error: bool = False) -> list[Any]:
        """The replies in order; an error reply is returned as its exception, or raised (the first) if
        ``raise_on_error``."""
        replies = self._send(commands)
        if raise_on_error:
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return replies

    def _send(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        if self._pool is not None:
            try:
                return self._direct(commands)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.info("direct Redis connection failed (%s); sending through the client", type(exc).__name__)
        pipe: Any = self.redis.pipeline(transaction=False)
        for command in commands:
            # execute_command, not e.g. pipe.evalsha: a Cluster pipeline refuses some methods but routes any command.
            pipe.execute_command(*command)
        replies: list[Any] = pipe.execute(raise_on_error=False)
        return replies

    def _direct(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        conn = self._connection()
        try:
            # connect() first, by name: a Sentinel connection finds the master there, and the send would
            # otherwise open the socket itself, to the default host.
            conn.connect()
            conn.send_packed_command(_packed(commands), check_health=False)
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except redis.ResponseError as exc:  # the reply was read whole: the connection is still in step
                    replies.append(exc)
            return replies
        except BaseException:
            self._local.conn = None
            conn.disconnect()
            raise

    def _connection(self) -> Any:
        conn, pid = getattr(self._local, "conn", None), os.getpid()
        if conn is None or self._local.pid != pid:  # a new thread, or a forked child: never share a socket
            assert self._pool is not None
            # Built as the pool builds its own (a Sentinel pool's kwargs carry how to find the master), but not
            # by ``make_connection``: that counts it against the pool's ``max_connections`` (100) for good, and
            # every thread, and every connection remade after a restart, would use one up.
            conn = self._pool.connection_class(**self._pool.connection_kwargs)
            self._local.conn, self._local.pid = conn, pid
        return conn


def _packed(commands: list[tuple[Any, ...]]) -> list[bytes]:
    """The commands in Redis's protocol, as one buffer: one ``sendall`` a round trip.

    hiredis packs a command in C. redis-py's packer around it first walks every argument in Python, to split
    a command name with a space in it and copy buffers, neither of which a caller here sends
    (``bench/turn_instructions.py`` counts what it cost).
    """
    try:
        return [b"".join(map(pack_command, commands))]
    except TypeError as exc:  # an argument Redis cannot take (None, a list…): redis-py's error for it
        raise redis.DataError(str(exc)) from None

"""The Lua scripts of a turn, so that a text turn costs two Redis round trips: one to queue for the user's
lock and read the session (``BEGIN``), one to save it, release the lock and record the turn (``FINISH`` and
``RECORD`` in one pipeline).

Every key a script touches is in one Cluster slot: ``BEGIN``, ``FINISH`` and ``RELEASE`` work on one user's
keys (hash tag ``{platform:tenant:user}``, the wake key built from that user's prefix), ``RECORD`` on one
shard of the ops index (``{sB}``). Scripts run by ``EVALSHA``; a server that has not seen one yet (a new
node, a restart, ``SCRIPT FLUSH``) answers NOSCRIPT and the script is loaded and run again.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

import redis

from bot.redis_direct import Line

# Drop the ticket ARGV[t] from the queue KEYS[q], delete its heartbeat KEYS[a], and wake the next waiter:
# a push on its wake list (ARGV[w] .. its token), which it waits on with BLPOP instead of polling.
_RELEASE = """
redis.call('LREM', KEYS[{q}], 1, ARGV[{t}])
redis.call('DEL', KEYS[{a}])
local nxt = redis.call('LINDEX', KEYS[{q}], 0)
if nxt then
  local wake = ARGV[{w}] .. nxt
  redis.call('RPUSH', wake, '1')
  redis.call('PEXPIRE', wake, 10000)
end
"""

# KEYS: queue, heartbeat, session, result. ARGV: token, heartbeat ms, "1" when there is a result to read.
# At the head of the queue: {1, session, result}. Behind another turn: {0}.
BEGIN_LUA = """
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 4)
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then
  return {0}
end
local result = false
if ARGV[3] == '1' then result = redis.call('GET', KEYS[4]) end
return {1, redis.call('GET', KEYS[3]), result}
"""

# KEYS: session, flow, result, queue, heartbeat.
# ARGV: session JSON, TTL, flow state ('' when idle: forget it), flow TTL, result JSON ('' none), result TTL,
#       ticket token ('' when the lock is not released here), wake-key prefix.
FINISH_LUA = (
    """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if ARGV[3] == '' then
  redis.call('DEL', KEYS[2])
else
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
end
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[6]) end
if ARGV[7] ~= '' then
"""
    + _RELEASE.format(q=4, a=5, t=7, w=8)
    + """
end
return 1
"""
)

# KEYS: queue, heartbeat. ARGV: token, wake-key prefix.
RELEASE_LUA = _RELEASE.format(q=1, a=2, t=1, w=2) + "return 1\n"

# KEYS: the shard's index of all sessions, of the platform, of the state, its turn counter of the hour, then
# the state indexes the session is no longer in. ARGV: session key, now, minute, counter TTL.
RECORD_LUA = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('HINCRBY', KEYS[4], ARGV[3], 1)
redis.call('EXPIRE', KEYS[4], ARGV[4])
for i = 5, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1
"""


class Script(NamedTuple):
    source: str
    sha: str  # Redis names a script by the SHA-1 of its text: computed once, not per call


def script(source: str) -> Script:
    return Script(source, hashlib.sha1(source.encode()).hexdigest())  # noqa: S324 - Redis's naming, not security


BEGIN, FINISH, RELEASE, RECORD = map(script, (BEGIN_LUA, FINISH_LUA, RELEASE_LUA, RECORD_LUA))


class Scripts:
    """Runs the scripts above by SHA on one client, alone (``call``) or several in one round trip (``batch``)."""

    def __init__(self, client: redis.Redis, line: Line | None = None) -> None:
        self.redis = client
        self.line = line or Line(client)

    def call(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        return self.run([(script, keys, args)])[0]

    def batch(self) -> ScriptBatch:
        return ScriptBatch(self)

    def run(self, runs: list[tuple[Script, list[str], list[Any]]]) -> list[Any]:
        """The results of ``runs``, sent in one round trip; a script Redis did not know is loaded and run again."""
        results = self.line.send([("EVALSHA", script.sha, len(keys), *keys, *args) for script, keys, args in runs])
        for i, outcome in enumerate(results):
            if isinstance(outcome, redis.exceptions.NoScriptError):
                script, keys, args = runs[i]
                self.redis.script_load(script.source)
                results[i] = self.redis.evalsha(script.sha, len(keys), *keys, *args)
            elif isinstance(outcome, Exception):
                raise outcome
        return results


class ScriptBatch:
    """Script runs sent together in one round trip (``Scripts.run``)."""

    def __init__(self, scripts: Scripts) -> None:
        self._scripts = scripts
        self._runs: list[tuple[Script, list[str], list[Any]]] = []

    def add(self, script: Script, keys: list[str], args: list[Any]) -> None:
        self._runs.append((script, keys, args))

    def execute(self) -> list[Any]:
        return self._scripts.run(self._runs)

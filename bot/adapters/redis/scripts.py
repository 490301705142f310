"""The Lua scripts of a turn, so that a text turn costs two Redis round trips: one to queue for the user's
lock and read the session (``BEGIN``), one to save it, release the lock and record the turn (``FINISH`` and
``RECORD``: one script, ``SAVE``, on one Redis; two in one pipeline on a Cluster).

On a Cluster every key a script touches is in one slot: ``BEGIN``, ``FINISH`` and ``RELEASE`` work on one
user's keys (hash tag ``{platform:tenant:user}``, the wake key built from that user's prefix), ``RECORD`` on one
shard of the ops index (``{sB}``); ``SAVE`` runs only where there are no slots. Scripts run by ``EVALSHA``; a
server that has not seen one yet (a new node, a restart, ``SCRIPT FLUSH``) answers NOSCRIPT and the script is
loaded and run again.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

import redis

from bot.adapters.redis.direct import Line

# Drop the ticket ARGV[t] from the queue KEYS[q], delete its heartbeat KEYS[a], and wake the next waiter:
# a push on its wake list (ARGV[w] .. its token), which it waits on with BLPOP instead of polling.
RELEASE_STEPS = """
redis.call('LREM', KEYS[{q}], 1, ARGV[{t}])
redis.call('DEL', KEYS[{a}])
local nxt = redis.call('LINDEX', KEYS[{q}], 0)
if nxt then
  local wake = ARGV[{w}] .. nxt
  redis.call('RPUSH', wake, '1')
  redis.call('PEXPIRE', wake, 10000)
end
"""

# KEYS: queue, heartbeat, session, result, flow, the reservation's heartbeat. ARGV: token, heartbeat ms, "1" when
# there is a result to read, the reservation's token. A turn whose place in the queue was reserved when its message
# arrived (``user_lock.Reservation``, still marked 'r': nobody took it up) takes that place; any other queues at the
# end. At the head of the queue: {1, session, result, flow, reserved} (flow: the state of a session that expired
# mid-flow, read only when there is no session; the save forgets it). Behind another turn: {0, reserved}.
BEGIN_LUA = """
local token, reserved = ARGV[1], 0
if ARGV[4] ~= '' and redis.call('GET', KEYS[6]) == 'r' then
  token, reserved = ARGV[4], 1
  redis.call('SET', KEYS[6], '1', 'PX', ARGV[2])
else
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
  redis.call('RPUSH', KEYS[1], token)
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 4)
if redis.call('LINDEX', KEYS[1], 0) ~= token then
  return {0, reserved}
end
local result = false
if ARGV[3] == '1' then result = redis.call('GET', KEYS[4]) end
local session = redis.call('GET', KEYS[3])
local flow = false
if not session then flow = redis.call('GET', KEYS[5]) end
return {1, session, result, flow, reserved}
"""

# KEYS: session, flow, result, queue, heartbeat.
# ARGV: session JSON, TTL, flow state ('' when idle: forget it), flow TTL, result JSON ('' none), result TTL,
#       ticket token ('' when the lock is not released here), wake-key prefix.
_FINISH = (
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
    + RELEASE_STEPS.format(q=4, a=5, t=7, w=8)
    + """
end
"""
)
FINISH_LUA = _FINISH + "return 1\n"
FINISH_KEYS, FINISH_ARGS = 5, 8

# KEYS: queue, heartbeat. ARGV: token, wake-key prefix.
RELEASE_LUA = RELEASE_STEPS.format(q=1, a=2, t=1, w=2) + "return 1\n"

# A turn's place in the user's queue, reserved as its message arrives (``user_lock.Reservation``): the ticket queued,
# its heartbeat marked 'r' (nobody has taken it up yet). KEYS: queue, the reservation's heartbeat. ARGV: token, ms.
RESERVE_LUA = """
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 4)
redis.call('SET', KEYS[2], 'r', 'PX', ARGV[2])
return 1
"""

# A reservation no turn took up (still 'r') is given back, waking the next turn; one taken up is its turn's to
# release. Formatted like RELEASE_STEPS (KEYS[q] queue, KEYS[a] heartbeat, ARGV[t] token, ARGV[w] wake prefix).
GIVE_BACK_STEPS = "if redis.call('GET', KEYS[{a}]) == 'r' then\n" + RELEASE_STEPS + "end\n"
GIVE_BACK_LUA = GIVE_BACK_STEPS.format(q=1, a=2, t=1, w=2) + "return 1\n"

# A platform turn's replies were sent while it held the lock: its stored result becomes the "answered" marker (when
# there is one: ARGV[1] ''), and the lock is released. KEYS: result, queue, heartbeat. ARGV: marker, its TTL, ticket
# token, wake-key prefix. 1 if the result was replaced by the marker (the replies were this run's to send).
ANSWER_LUA = (
    """
local replaced = 0
if ARGV[1] ~= '' then
  local old = redis.call('SET', KEYS[1], ARGV[1], 'XX', 'EX', ARGV[2], 'GET')
  if old and old ~= ARGV[1] then replaced = 1 end
end
"""
    + RELEASE_STEPS.format(q=2, a=3, t=3, w=4)
    + "return replaced\n"
)

# KEYS: the shard's index of all sessions, of the platform, of the state, its turn counter of the hour, then
# the state indexes the session is no longer in. ARGV: session key, now, minute, counter TTL (set with a minute's
# first turn: the counter outlives the last minute it counts by the TTL). K and A: where
# its keys and arguments start (after FINISH's, when the two run as one script).
_RECORD = """
redis.call('ZADD', KEYS[K + 1], ARGV[A + 2], ARGV[A + 1])
redis.call('ZADD', KEYS[K + 2], ARGV[A + 2], ARGV[A + 1])
redis.call('ZADD', KEYS[K + 3], ARGV[A + 2], ARGV[A + 1])
if redis.call('HINCRBY', KEYS[K + 4], ARGV[A + 3], 1) == 1 then redis.call('EXPIRE', KEYS[K + 4], ARGV[A + 4]) end
for i = K + 5, #KEYS do redis.call('ZREM', KEYS[i], ARGV[A + 1]) end
"""
RECORD_LUA = "local K, A = 0, 0\n" + _RECORD + "return 1\n"

# FINISH and RECORD as one script, where one script may touch any key (one Redis, not a Cluster: there the
# user's keys and the index shard's are in different slots). KEYS and ARGV: FINISH's, then RECORD's.
SAVE_LUA = f"local K, A = {FINISH_KEYS}, {FINISH_ARGS}\n" + _FINISH + _RECORD + "return 1\n"


class Script(NamedTuple):
    source: str
    sha: str  # Redis names a script by the SHA-1 of its text: computed once, not per call


def script(source: str) -> Script:
    return Script(source, hashlib.sha1(source.encode()).hexdigest())  # noqa: S324 - Redis's naming, not security


BEGIN, FINISH, RELEASE, RECORD, SAVE, ANSWER, RESERVE, GIVE_BACK = map(
    script, (BEGIN_LUA, FINISH_LUA, RELEASE_LUA, RECORD_LUA, SAVE_LUA, ANSWER_LUA, RESERVE_LUA, GIVE_BACK_LUA)
)


class Scripts:
    """Runs the scripts above by SHA on one client, alone (``call``) or several in one round trip (``run``)."""

    def __init__(self, client: redis.Redis, line: Line | None = None) -> None:
        self.redis = client
        self.line = line or Line(client)

    def call(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        return self.run([(script, keys, args)])[0]

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

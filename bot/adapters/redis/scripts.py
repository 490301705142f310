"""The Lua scripts (``lua/*.lua``) and their named keys and arguments, declared once here.

Each script's keys and arguments are named in its ``Script`` declaration below; its file uses those names only
(a ``local`` for each is written above its text when it loads), and callers pass them by name
(``scripts.call(BEGIN.bind(queue=…, token=…))``), so no position is matched by hand. A script may end with a variable
number of keys or arguments (``rest_keys``/``rest_args``): its text finds where they start as ``<name>_from``.
``lua/lock.lua`` holds the lock's shared functions (``release``, ``give_back``) for the scripts that ``use`` it.

A text turn costs two Redis round trips: one to queue for the user's lock and read the session (``BEGIN``), one to
save it, release the lock and record the turn (``SAVE``: ``FINISH`` and ``RECORD`` as one script on one Redis; the
two in one pipeline on a Cluster). On a Cluster every key a script touches is in one slot: ``BEGIN``, ``FINISH``
and the lock's scripts work on one user's keys (hash tag ``{platform:tenant:user}``, the wake key built from that
user's prefix), ``RECORD`` on one shard of the ops index (``{sB}``); ``SAVE`` and ``ACCEPT`` run only where there are
no slots. Scripts run by ``EVALSHA``; a server that has not seen one yet (a new node, a restart, ``SCRIPT FLUSH``)
answers NOSCRIPT and the script is loaded and run again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import redis

from bot.adapters.redis.direct import Line

LUA = Path(__file__).with_name("lua")
# A call of a script: the script, its keys and its arguments in order (a plain tuple: one is made per round trip).
Call = tuple["Script", list[Any], list[Any]]


@dataclass(frozen=True)
class Script:
    name: str
    keys: tuple[str, ...]
    args: tuple[str, ...]
    body: str  # the file's text, with the shared functions it uses
    rest_keys: str = ""  # the name of a variable tail of keys, if any
    rest_args: str = ""

    @cached_property
    def source(self) -> str:
        names = [*_locals("KEYS", self.keys), *_locals("ARGV", self.args)]
        if self.rest_keys:
            names.append(f"local {self.rest_keys}_from = {len(self.keys) + 1}")
        if self.rest_args:
            names.append(f"local {self.rest_args}_from = {len(self.args) + 1}")
        return "\n".join(names) + "\n" + self.body

    @cached_property
    def sha(self) -> str:  # Redis names a script by the SHA-1 of its text: computed once, not per call
        return _sha(self.source)

    @cached_property
    def bind(self) -> Callable[..., Call]:
        """A call of this script, its keys and arguments passed by their names, as keyword-only parameters: a name
        missing or unknown is refused by Python, naming it. A Python function of its own (made once, from the
        names above) rather than a ``**named`` mapping: a turn binds three scripts, and mappings cost a tenth of
        its instructions (``bench/turn_instructions.py``)."""
        names = (*self.keys, *self.args)
        if not all(name.isidentifier() for name in names):
            raise ValueError(f"{self.name}: a key or argument name that is not an identifier")
        source = (
            f"def bind(*, {', '.join(names)}, rest_keys=(), rest_args=()):\n"
            f"    return script, [{''.join(k + ', ' for k in self.keys)}*rest_keys], "
            f"[{''.join(a + ', ' for a in self.args)}*rest_args]\n"
        )
        namespace: dict[str, Any] = {"script": self}
        exec(source, namespace)  # noqa: S102 - the text is built from the identifiers above, nothing from outside
        binder: Callable[..., Call] = namespace["bind"]
        return binder


def _locals(array: str, names: tuple[str, ...]) -> list[str]:
    return [f"local {name} = {array}[{n}]" for n, name in enumerate(names, 1)]


def _sha(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis's naming of scripts, not security


def load(
    name: str,
    keys: tuple[str, ...],
    args: tuple[str, ...],
    *,
    uses: tuple[str, ...] = (),
    rest_keys: str = "",
    rest_args: str = "",
) -> Script:
    body = "".join((LUA / f"{library}.lua").read_text() for library in uses) + (LUA / f"{name}.lua").read_text()
    return Script(name, keys, args, body, rest_keys, rest_args)


def joined(script: Script, first: Call, then: Call) -> Call:
    """The call of ``script`` made by ``combine`` of the two scripts ``first`` and ``then`` are calls of."""
    return script, first[1] + then[1], first[2] + then[2]


def combine(name: str, first: Script, then: Script) -> Script:
    """``first`` and ``then`` as one script (where one script may touch every key: one Redis, not a Cluster): their
    keys and arguments in that order, ``first``'s result dropped (it must end in ``return 1``)."""
    clash = (set(first.keys) | set(first.args)) & (set(then.keys) | set(then.args))
    if clash or first.rest_keys or first.rest_args:
        raise ValueError(f"cannot combine {first.name} and {then.name}: {sorted(clash) or 'a variable tail'}")
    head, _, last = first.body.rstrip().rpartition("\n")
    if last.strip() != "return 1":
        raise ValueError(f"{first.name} must end in 'return 1' to be combined")
    return Script(
        name, first.keys + then.keys, first.args + then.args, head + "\n" + then.body, then.rest_keys, then.rest_args
    )


USER = ("queue", "alive")  # a user's lock queue and a ticket's heartbeat
BEGIN = load(
    "begin", (*USER, "session", "result", "flow", "place_alive"), ("token", "alive_ms", "read_result", "place_token")
)
FINISH = load(
    "finish",
    ("session", "flow", "result", *USER),
    ("record", "ttl", "flow_state", "flow_ttl", "result_json", "result_ttl", "token", "wake_prefix"),
    uses=("lock",),
)
RECORD = load(
    "record",
    ("all_index", "platform_index", "state_index", "counter"),
    ("member", "now", "minute", "counter_ttl"),
    rest_keys="stale",
)
SAVE = combine("save", FINISH, RECORD)
RELEASE = load("release", USER, ("token", "wake_prefix"), uses=("lock",))
RESERVE = load("reserve", USER, ("token", "alive_ms"))
GIVE_BACK = load("give_back", USER, ("token", "wake_prefix"), uses=("lock",))
ANSWER = load("answer", ("result", *USER), ("marker", "marker_ttl", "token", "wake_prefix"), uses=("lock",))
ACCEPT = load(
    "accept",
    ("stream", "queue", "place_alive"),
    ("mark_ttl", "max_len", "place_token", "place_ttl_ms"),
    rest_keys="marks",
    rest_args="fields",
)
DONE = load(
    "done", ("stream", "queue", "place_alive"), ("group", "entry", "place_token", "wake_prefix"), uses=("lock",)
)
RETIME = load("retime", ("session", "flow"), ("ttl", "flow_memory"))
ALL = (BEGIN, FINISH, RECORD, SAVE, RELEASE, RESERVE, GIVE_BACK, ANSWER, ACCEPT, DONE, RETIME)


class Scripts:
    """Runs scripts by SHA on one client, alone (``call``) or several in one round trip (``run``)."""

    def __init__(self, client: redis.Redis, line: Line | None = None) -> None:
        self.redis = client
        self.line = line or Line(client)

    def call(self, bound: Call) -> Any:
        return self.run([bound])[0]

    def run(self, calls: list[Call]) -> list[Any]:
        """The results of ``calls``, sent in one round trip; a script Redis did not know is loaded and run again."""
        results = self.line.send([("EVALSHA", script.sha, len(keys), *keys, *args) for script, keys, args in calls])
        for i, outcome in enumerate(results):
            if isinstance(outcome, redis.exceptions.NoScriptError):
                script, keys, args = calls[i]
                self.redis.script_load(script.source)
                results[i] = self.redis.evalsha(script.sha, len(keys), *keys, *args)
            elif isinstance(outcome, Exception):
                raise outcome
        return results

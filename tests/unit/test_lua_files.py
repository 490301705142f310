"""The Lua scripts are files (``bot/adapters/redis/lua``) whose keys and arguments are named once, in
``bot/adapters/redis/scripts.py``: a file never indexes ``KEYS``/``ARGV`` by a number, uses every name it is given,
and a call must name every key and argument — on fakeredis with Lua (lupa), the scripts run."""

from __future__ import annotations

import re

import fakeredis
import pytest

from bot.adapters.redis import scripts
from bot.adapters.redis.scripts import ALL, LUA, RESERVE, SAVE, Scripts, combine, load
from bot.adapters.redis.store import SessionStore
from bot.adapters.redis.user_lock import reservation, reserve


@pytest.mark.parametrize("script", ALL, ids=lambda s: s.name)
def test_a_script_file_names_its_keys_and_arguments_and_uses_them(script: scripts.Script) -> None:
    assert not re.search(r"\b(KEYS|ARGV)\[\d", script.body), f"{script.name} indexes KEYS/ARGV by position"
    for name in script.keys + script.args:
        assert re.search(rf"\b{name}\b", script.body), f"{script.name} never uses {name!r}"
    for tail in (script.rest_keys, script.rest_args):
        assert not tail or f"{tail}_from" in script.body


def test_every_lua_file_is_a_declared_script_or_the_lock_library() -> None:
    declared = {script.name for script in ALL} | {"lock"}
    assert {path.stem for path in LUA.glob("*.lua")} <= declared


def test_the_header_binds_each_name_to_its_position() -> None:
    assert SAVE.source.startswith("local session = KEYS[1]\n")
    assert "local all_index = KEYS[6]" in SAVE.source and "local member = ARGV[9]" in SAVE.source
    assert "local stale_from = 10" in SAVE.source  # FINISH's 5 keys and RECORD's 4, then the stale indexes


def test_a_call_must_name_every_key_and_argument() -> None:
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'alive_ms'"):
        RESERVE.bind(queue="q", alive="a", token="t")
    with pytest.raises(TypeError, match="unexpected keyword argument 'tokn'"):
        RESERVE.bind(queue="q", alive="a", tokn="t", alive_ms=1)
    with pytest.raises(TypeError, match="positional"):
        RESERVE.bind("q", "a", "t", 1)  # names only: no position is matched by hand
    assert RESERVE.bind(queue="q", alive="a", token="t", alive_ms=1) == (RESERVE, ["q", "a"], ["t", 1])


def test_combining_scripts_that_share_a_name_is_refused() -> None:
    reserve = load("reserve", ("queue", "alive"), ("token", "alive_ms"))
    with pytest.raises(ValueError, match="cannot combine"):
        combine("twice", reserve, reserve)


def test_a_named_script_runs() -> None:
    client = fakeredis.FakeRedis()
    runner = Scripts(client)
    assert runner.call(RESERVE.bind(queue="q", alive="a", token="t1", alive_ms=5000)) == 1
    assert client.lrange("q", 0, -1) == [b"t1"] and client.get("a") == b"r"


def test_a_place_reserved_again_while_its_turn_holds_it_is_left_as_it_is(fake_store: SessionStore) -> None:
    """The same message handed on twice (a mark given back after its hand-off reached Redis, then the platform's
    retry) must not reset its place to 'reserved' under the turn that holds it: a second run would then take the
    place too and run beside the first, answering twice."""
    place = reservation(fake_store, "slack:T1:U1", "Ev1")
    reserve(fake_store, place, 5000)
    with fake_store.lock("slack:T1:U1", event_id="Ev1") as ticket:
        assert ticket.token == place.token  # the turn took its place up: its heartbeat says held
        reserve(fake_store, place, 5000)
        assert fake_store.redis.get(place.alive_key) == b"1"
        assert fake_store.redis.lrange(place.queue, 0, -1) == [place.token.encode()]

"""The language model for free text over HTTP: the real ``openai`` client against the local fake server
(``tests/fakes/openai_server.py``, which speaks OpenAI's chat.completions as the VLM tests use it), alone and
in the conversation."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

from bot.adapters.nlu import OpenAINlu
from bot.config import Settings
from bot.dialogue.engine import Conversation
from bot.dialogue.understanding import accepted
from bot.ports import UNSURE, NluError, Reading
from bot.replies import say
from tests.fakes.openai_server import FakeOpenAI
from tests.support.engine import Chat, photo

TYPES = ("漏水", "电气故障", "其他")
PLACE_INTENTS = accepted("waiting_confirm")


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def answer(**values: object) -> str:
    return json.dumps(values, ensure_ascii=False)


def model(server: FakeOpenAI, **changes: object) -> OpenAINlu:
    settings = Settings(nlu_base_url=server.base_url, nlu_api_key="sk-nlu", nlu_model="qwen-turbo-test")
    return OpenAINlu(settings.with_(nlu_timeout_seconds=0.5, **changes))


def test_a_reading_carries_the_model_the_text_and_the_offered_intents(server: FakeOpenAI) -> None:
    server.respond_with(answer(intent="place", place="二楼", confidence=0.9))
    assert model(server).read("其实在二楼", PLACE_INTENTS, TYPES) == Reading("place", place="二楼")
    (request,) = server.requests
    assert request.path == "/v1/chat/completions" and request.model == "qwen-turbo-test"
    assert request.headers["authorization"] == "Bearer sk-nlu"
    assert request.messages[-1] == {"role": "user", "content": "其实在二楼"}
    for name in PLACE_INTENTS:
        assert f"- {name}:" in request.messages[0]["content"]
    assert "漏水" in request.messages[0]["content"] and request.json["temperature"] == 0


def test_the_same_text_in_the_same_situation_is_read_once(server: FakeOpenAI) -> None:
    server.respond_with(answer(intent="confirm", confidence=0.9))
    nlu = model(server)
    assert nlu.read("就这么办", PLACE_INTENTS, TYPES) == Reading("confirm")
    assert nlu.read("就这么办", PLACE_INTENTS, TYPES) == Reading("confirm")
    assert len(server.requests) == 1
    nlu.read("就这么办", {"confirm": "yes"}, TYPES)  # offered other intents: another situation, asked again
    assert len(server.requests) == 2


def test_an_unsure_answer_is_kept_too_but_a_failure_is_not(server: FakeOpenAI) -> None:
    nlu = model(server)
    server.respond_with(answer(intent="launch"), times=1)
    assert nlu.read("嗯哼", PLACE_INTENTS, TYPES) == UNSURE
    assert nlu.read("嗯哼", PLACE_INTENTS, TYPES) == UNSURE and len(server.requests) == 1
    server.fail_with(500, times=1)
    with pytest.raises(NluError, match="HTTP 500"):
        nlu.read("哈哈", PLACE_INTENTS, TYPES)
    server.respond_with(answer(intent="help"), times=1)
    assert nlu.read("哈哈", PLACE_INTENTS, TYPES) == Reading("help")  # the failure was not remembered


def test_a_slow_model_is_an_error_within_its_timeout(server: FakeOpenAI) -> None:
    server.delay(3, times=1)
    started = time.monotonic()
    with pytest.raises(NluError, match=r"0\.5 s"):
        model(server).read("三楼", PLACE_INTENTS, TYPES)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("broken", ["malformed", "not json"])
def test_a_garbled_answer_is_an_error_and_names_no_secret(
    server: FakeOpenAI, broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    if broken == "malformed":
        server.malformed(times=1)
    else:
        server.respond_with("the east gate I think", times=1)
    with caplog.at_level("DEBUG"), pytest.raises(NluError):
        model(server).read("东门", PLACE_INTENTS, TYPES)
    assert "sk-nlu" not in caplog.text


def test_unreachable_is_an_error() -> None:
    with FakeOpenAI() as gone:
        url = gone.base_url
    with pytest.raises(NluError, match="reached"):
        OpenAINlu(Settings(nlu_base_url=url, nlu_timeout_seconds=0.5)).read("东门", PLACE_INTENTS, TYPES)


# -- in the conversation -----------------------------------------------------------------------------------
@pytest.fixture
def chat(make_engine: Callable[..., Conversation], server: FakeOpenAI, settings: Settings) -> Chat:
    nlu = OpenAINlu(settings.with_(nlu_base_url=server.base_url, nlu_timeout_seconds=0.5))
    chat = Chat(make_engine(nlu=nlu))
    chat.image(photo(1))
    chat.tap("漏水")
    chat.text("位置 3号楼东门")  # the rules understood it: no reading
    assert server.requests == []
    return chat


def test_a_place_the_model_reads_at_the_summary_replaces_the_place_and_is_shown(chat: Chat, server: FakeOpenAI) -> None:
    server.respond_with(answer(intent="place", place="二楼", confidence=0.9))
    r = chat.text("哦不对其实是在二楼")
    assert r.state == "waiting_confirm" and "位置：二楼" in r.replies[0].text
    assert len(server.requests) == 1


def test_a_model_that_is_down_leaves_the_rules_line_the_bot_asks(chat: Chat, server: FakeOpenAI) -> None:
    server.fail_with(503)
    r = chat.text("其实在二楼")
    assert [reply.text for reply in r.replies] == [
        say("zh", "place_check_change", place="其实在二楼", current="3号楼东门")
    ]


def test_text_the_rules_understand_never_reaches_the_model(chat: Chat, server: FakeOpenAI) -> None:
    for text in ("类型 电气故障", "帮助", "漏水", "状态", "位置：B2"):
        chat.text(text)
    assert chat.text("確 認").order_id
    assert server.requests == []

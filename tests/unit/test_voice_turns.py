"""Voice notes in the conversation: the words count as the turn's text, are quoted first, and nothing is a dead end.

The speech-to-text service here is an in-process stand-in that answers what the test says was spoken; the
adapter over HTTP, the audio formats and the platforms' payloads are tested in the integration tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import DEFAULT_ALARM_TYPES, Settings
from bot.dialogue.engine import Conversation
from bot.dialogue.voice import MAX_PROMPT_CHARS, prompt
from bot.ports import SttError, Transcript, VoiceRejected
from bot.replies import say
from bot.sites.model import Site
from tests.support.admin import report_order
from tests.support.engine import Chat, photo
from tests.support.outbox import staged

OGG = b"OggS" + b"\x00" * 60  # a voice note's first bytes (the stand-in does not decode it)


class SpokenStt:
    """Hears what the test queued; records what it was asked."""

    def __init__(self) -> None:
        self.spoken: list[str | Exception] = []
        self.calls: list[dict[str, object]] = []

    def say(self, *words: str | Exception) -> SpokenStt:
        self.spoken.extend(words)
        return self

    def transcribe(self, audio: bytes, *, language: str, prompt: str) -> Transcript:
        self.calls.append({"audio": audio, "language": language, "prompt": prompt})
        heard = self.spoken.pop(0)
        if isinstance(heard, Exception):
            raise heard
        return Transcript(heard, 3.0)


def texts(result: object) -> list[str]:
    return [r.text for r in result.replies]  # type: ignore[attr-defined]


def voice(chat: Chat, **fields: object) -> object:
    return chat._send(kind="voice", voice=fields.pop("audio", OGG), **fields)


@pytest.fixture
def stt() -> SpokenStt:
    return SpokenStt()


@pytest.fixture
def chat(make_engine: Callable[..., Conversation], stt: SpokenStt) -> Chat:
    chat = Chat(make_engine(stt=stt))
    chat.image(photo(1))
    chat.tap("漏水")
    return chat


def test_a_spoken_place_is_quoted_then_taken_and_a_spoken_confirm_makes_the_order(
    chat: Chat, stt: SpokenStt, orders: SqlWorkOrders, storage: LocalFolderStore
) -> None:
    stt.say("3号楼东门。", "好的，确认")
    r = voice(chat)
    assert texts(r)[0] == say("zh", "voice_heard", words="3号楼东门。") and r.state == "waiting_confirm"  # type: ignore[attr-defined]
    assert "位置：3号楼东门" in texts(r)[1]
    assert stt.calls[0]["language"] == "zh" and "漏水" in str(stt.calls[0]["prompt"])
    done = voice(chat)
    order = orders.get(done.order_id)  # type: ignore[attr-defined]
    assert order is not None and order.location_text == "3号楼东门"
    assert len(order.voice_keys) == 2 and all(storage.get(key) == OGG for key in order.voice_keys)


def test_words_that_are_no_place_become_the_reporters_note(chat: Chat, stt: SpokenStt, orders: SqlWorkOrders) -> None:
    stt.say("水管一直在往下滴水，地上积了一大摊，旁边还有配电箱", "B2 停车场", "确认")
    r = voice(chat)
    assert texts(r)[1:] == [say("zh", "note_added"), say("zh", "ask_location")]
    assert "备注：水管一直在往下滴水" in texts(voice(chat))[1]
    order = orders.get(voice(chat).order_id)  # type: ignore[attr-defined]
    assert order is not None and order.note.startswith("水管一直在往下滴水") and order.location_text == "B2 停车场"


def test_a_spoken_place_then_a_description_asks_about_the_place_and_keeps_the_rest_as_the_note(
    chat: Chat, stt: SpokenStt, orders: SqlWorkOrders
) -> None:
    stt.say("在3号楼东门，水管一直在往下滴水。", "确认")
    r = voice(chat)
    assert texts(r)[1:] == [say("zh", "note_added"), say("zh", "place_check_new", place="3号楼东门")]
    assert r.waiting_for == "place_check"  # type: ignore[attr-defined]
    summary = chat.tap(say("zh", "choice_place_yes"))
    assert "位置：3号楼东门" in texts(summary)[-1] and "备注：水管一直在往下滴水。" in texts(summary)[-1]
    order = orders.get(voice(chat).order_id)  # type: ignore[attr-defined]
    assert order is not None and order.location_text == "3号楼东门" and order.note == "水管一直在往下滴水。"


@pytest.mark.parametrize("spoken", ["水管一直在往下滴水，地上积了一大摊", "3号楼漏水了，很严重"])
def test_a_first_clause_that_is_no_place_is_all_note_and_where_is_asked_again(
    chat: Chat, stt: SpokenStt, spoken: str
) -> None:
    stt.say(spoken)  # no word of a place in the first clause, or a type inside it: never offered as the place
    r = voice(chat)
    assert texts(r) == [say("zh", "voice_heard", words=spoken), say("zh", "note_added"), say("zh", "ask_location")]


def test_a_spoken_cancel_cancels_and_its_recordings_go(chat: Chat, stt: SpokenStt, settings: Settings) -> None:
    stt.say("B2", "取消")
    voice(chat)
    assert len(list(Path(settings.storage_dir).rglob("*.ogg"))) == 1
    r = voice(chat)
    assert texts(r) == [say("zh", "voice_heard", words="取消"), say("zh", "cancelled")] and r.state == "idle"  # type: ignore[attr-defined]
    assert list(Path(settings.storage_dir).rglob("*.ogg")) == []  # no order will hold them


@pytest.mark.parametrize(
    ("problem", "sentence"),
    [
        (SttError("timeout"), "voice_stt_failed"),
        (VoiceRejected("unsupported"), "voice_unsupported"),
        (VoiceRejected("too_long", 300.0), "voice_too_long"),
        ("", "voice_empty"),
    ],
)
def test_a_note_not_heard_says_why_and_asks_the_question_again(
    chat: Chat, stt: SpokenStt, problem: str | Exception, sentence: str
) -> None:
    stt.say(problem)
    r = voice(chat)
    assert texts(r) == [say("zh", sentence, limit=120), say("zh", "ask_location")]
    assert r.state == "waiting_location"  # type: ignore[attr-defined]


def test_a_note_the_platform_says_is_too_long_is_never_sent(chat: Chat, stt: SpokenStt) -> None:
    r = voice(chat, voice_seconds=600.0)
    assert texts(r)[0] == say("zh", "voice_too_long", limit=120) and stt.calls == []


def test_the_platforms_own_transcript_is_used_without_a_call(chat: Chat, stt: SpokenStt) -> None:
    r = voice(chat, audio=None, transcript="地下车库入口")
    assert stt.calls == [] and texts(r)[0] == say("zh", "voice_heard", words="地下车库入口")
    assert r.state == "waiting_confirm"  # type: ignore[attr-defined]


def test_the_platforms_transcript_keeps_its_recording_and_needs_no_download_to_count(
    chat: Chat, stt: SpokenStt, settings: Settings
) -> None:
    assert voice(chat, transcript="地下车库入口").state == "waiting_confirm"  # type: ignore[attr-defined]
    assert stt.calls == [] and len(list(Path(settings.storage_dir).rglob("*.ogg"))) == 1  # the report keeps it
    chat.text("改位置")
    r = voice(chat, audio=None, transcript="B2 停车场", voice_problem="download_failed")
    assert stt.calls == [] and texts(r)[0] == say("zh", "voice_heard", words="B2 停车场")


@pytest.mark.parametrize("problem", ["too_large", "download_failed"])
def test_a_note_the_edge_could_not_fetch_is_told(chat: Chat, stt: SpokenStt, problem: str) -> None:
    r = voice(chat, audio=None, voice_problem=problem)
    assert texts(r) == [say("zh", f"voice_{problem}"), say("zh", "ask_location")] and stt.calls == []


def test_without_speech_to_text_the_user_is_asked_to_type(make_engine: Callable[..., Conversation]) -> None:
    chat = Chat(make_engine())
    chat.image(photo(1))
    r = voice(chat)
    assert r.state == "waiting_location"  # type: ignore[attr-defined]
    types = "\n".join(f"{n}. {t}" for n, t in enumerate(DEFAULT_ALARM_TYPES["zh"], 1))
    assert texts(r) == [say("zh", "voice_no_stt"), say("zh", "ask_type", choices=types)]


def test_a_voice_note_in_a_group_continues_an_open_flow_without_a_mention(
    make_engine: Callable[..., Conversation], stt: SpokenStt
) -> None:
    chat = Chat(make_engine(stt=stt), group="chat-9")
    chat.image(photo(1))
    chat.tap("漏水")
    stt.say("3号楼东门")
    r = voice(chat, addressed=False)
    assert r.state == "waiting_confirm"  # type: ignore[attr-defined]
    stt.say("大家好")
    quiet = Chat(chat.engine, user="u2", group="chat-9")
    assert texts(voice(quiet, addressed=False)) == [] and len(stt.calls) == 1  # chatter: nothing heard, nothing said


def test_an_ops_reset_deletes_the_reports_voice_notes(chat: Chat, stt: SpokenStt, settings: Settings) -> None:
    stt.say("B2")
    voice(chat)
    assert len(list(Path(settings.storage_dir).rglob("*.ogg"))) == 1
    chat.engine.reset(chat.key)
    assert list(Path(settings.storage_dir).rglob("*.ogg")) == []


def test_the_prompt_adds_places_after_the_types_while_it_stays_short() -> None:
    types = ("漏水", "火警")
    many = [Site(f"S{n}", f"{n}号楼设备间", zone="东区") for n in range(100)]
    text = prompt(types, many)
    assert text.startswith("漏水、火警、0号楼设备间、东区、1号楼设备间、2号楼设备间")  # the zone once
    kept = [word for word in text.split("、") if word.endswith("设备间")]
    assert len(text) <= MAX_PROMPT_CHARS < len(f"{text}、{len(kept)}号楼设备间")  # the next one would not fit
    assert prompt(types) == "漏水、火警"  # a tenant without sites: the types alone


def test_a_spoken_note_on_an_order_keeps_the_words_as_said_and_the_recording(
    make_engine: Callable[..., Conversation], stt: SpokenStt, orders: SqlWorkOrders, storage: LocalFolderStore
) -> None:
    chat = Chat(make_engine(stt=stt))
    order_id = report_order(chat)
    said = f"备注 {order_id} 阀门已关，等水务公司。"
    stt.say(said)
    r = voice(chat)
    assert texts(r) == [say("zh", "voice_heard", words=said), say("zh", "did_note", order_id=order_id)]
    (row,) = [row for row in orders.timeline(order_id) if row["kind"] == "note_added"]
    assert row["detail"]["text"] == "阀门已关，等水务公司。"  # as transcribed: "，" and "。" are not folded away
    assert storage.get(row["detail"]["voice_key"]) == OGG
    event = staged(orders, order_id)[-1]
    assert event["type"] == "order.note_added" and event["details"]["voice_key"] == row["detail"]["voice_key"]
    assert event["details"]["text"] == "阀门已关，等水务公司。"


def test_a_spoken_note_with_a_comma_after_the_order_and_no_spaces_is_a_note_on_that_order(
    make_engine: Callable[..., Conversation], stt: SpokenStt, orders: SqlWorkOrders
) -> None:
    chat = Chat(make_engine(stt=stt))
    order_id = report_order(chat)
    stt.say(f"备注{order_id[-5:]}，阀门已关。")  # how speech-to-text writes "备注 7KQ2M 阀门已关"
    assert texts(voice(chat))[1] == say("zh", "did_note", order_id=order_id)
    (row,) = [row for row in orders.timeline(order_id) if row["kind"] == "note_added"]
    assert row["detail"]["text"] == "阀门已关。"


def test_a_spoken_note_on_an_unknown_order_keeps_no_recording(
    make_engine: Callable[..., Conversation], stt: SpokenStt, settings: Settings
) -> None:
    chat = Chat(make_engine(stt=stt))
    stt.say("备注 WO-20240101-ZZZZZ 阀门已关")
    assert texts(voice(chat))[1] == say("zh", "refuse_unknown", order_id="WO-20240101-ZZZZZ")
    assert list(Path(settings.storage_dir).rglob("*.ogg")) == []


def test_a_spoken_close_command_asks_for_the_fix_photo(
    make_engine: Callable[..., Conversation], stt: SpokenStt, orders: SqlWorkOrders
) -> None:
    chat = Chat(make_engine(stt=stt))
    order_id = report_order(chat)
    order = orders.get(order_id)
    assert order is not None
    stt.say(f"结单 {order_id}。")
    r = voice(chat)
    asked = say("zh", "ask_close_photo", order_id=order_id, alarm_type=order.alarm_type, location=order.location_text)
    assert texts(r) == [say("zh", "voice_heard", words=f"结单 {order_id}。"), asked]
    assert r.state == "waiting_close_photo"  # type: ignore[attr-defined]


@pytest.mark.parametrize("spoken", ["2", "二", "第二个。", "the second one", "漏水。"])
def test_a_spoken_choice_picks_the_type(make_engine: Callable[..., Conversation], stt: SpokenStt, spoken: str) -> None:
    chat = Chat(make_engine(stt=stt))
    chat.image(photo(1))  # no VLM: the bot asks for the type
    stt.say(spoken)
    r = voice(chat)
    assert texts(r)[:2] == [say("zh", "voice_heard", words=spoken), say("zh", "type_set", alarm_type="漏水")]
    assert r.state == "waiting_location"  # type: ignore[attr-defined]

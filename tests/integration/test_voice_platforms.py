"""Voice notes at the edge, on each platform: the webhook body as the platform sends it (signed, encrypted) goes
through the platform module's ``parse``, the turn stream's JSON and ``run_turn``; the audio is downloaded from
the local fake platform API under ``MAX_VOICE_BYTES`` and reaches the real engine as ``kind="voice"``.

Payload sources: WeCom, the "接收消息 / 语音消息" page of the self-built app callback (``MsgType=voice``,
``MediaId``, ``Format``; ``Recognition`` as the WeChat Official Account sends it); Feishu, lark-oapi's
``im.message.receive_v1`` with ``message_type="audio"`` and ``content`` ``{"file_key", "duration"}`` (PLATFORMS.md
§5.2); Slack, a ``file_share`` message with a ``slack_audio`` file as Slack's Events API fixtures show it
(PLATFORMS.md §5.3). The audio is real, encoded by PyAV (``tests.support.audio``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.adapters.stt import OpenAIStt
from bot.config import Settings
from bot.dialogue.engine import Deliver, Engine, FetchImage, FetchVoice
from bot.messages import Incoming, TurnResult
from bot.replies import say
from bot.session import Session
from handlers.platforms import feishu, slack, wecom
from handlers.platforms.base import Accepted, PlatformModule, WebhookRequest
from handlers.platforms.job import Job
from handlers.runner.bootstrap import build_runtime
from handlers.runner.runtime import Runtime
from handlers.runner.turns import run_turn
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.platform_servers import FakeFeishu, FakeSlack, FakeWeCom
from tests.integration import test_feishu as feishu_test
from tests.integration import test_wecom as wecom_test
from tests.support import slack as slack_test
from tests.support.audio import note

pytestmark = pytest.mark.integration


@dataclass
class Recording(Engine):
    """The real engine, watched: what each turn was given and what its ``fetch_voice`` downloaded."""

    engine: Engine
    given: list[Incoming] = field(default_factory=list)
    fetched: list[tuple[bytes | None, str | None]] = field(default_factory=list)

    def handle(
        self,
        incoming: Incoming,
        fetch_image: FetchImage | None = None,
        deliver: Deliver | None = None,
        fetch_voice: FetchVoice | None = None,
    ) -> TurnResult:
        def watched() -> tuple[bytes | None, str | None]:
            assert fetch_voice is not None
            self.fetched.append(fetch_voice())
            return self.fetched[-1]

        self.given.append(incoming)
        return self.engine.handle(incoming, fetch_image, deliver, watched if fetch_voice else None)

    def reset(self, skey: str) -> Session | None:
        return self.engine.reset(skey)


@pytest.fixture
def stt_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def turn(real_store: Any, storage: Any, orders: Any, stt_server: FakeOpenAI) -> Any:
    """Run one parsed webhook as the turn stream would: its job through JSON, then ``run_turn``."""

    def run(settings: Settings, module: PlatformModule, request: WebhookRequest, *, stt: bool = True) -> Recording:
        speech = OpenAIStt(settings.with_(stt_base_url=stt_server.base_url)) if stt else None
        runtime: Runtime = build_runtime(
            settings, store=real_store, vlm=None, stt=speech, storage=storage, orders=orders
        )
        recording = Recording(runtime.engine)
        runtime.engine = recording
        outcome = module.parse(settings, request)
        assert isinstance(outcome, Accepted), outcome
        run_turn(runtime, module, Job.from_json(outcome.job.to_json()))
        return recording

    return run


# -- WeCom ---------------------------------------------------------------------------------------------------
@pytest.fixture
def wecom_api() -> Iterator[FakeWeCom]:
    with FakeWeCom(corp_id=wecom_test.CORP, secret="wecom-app-secret") as server:
        yield server


def wecom_voice(fields: str) -> WebhookRequest:
    client = wecom_test.WeComClient(None)  # type: ignore[arg-type]  # builds bodies only, sends nothing
    body, query = client.envelope(client.message("voice", fields))
    return WebhookRequest("POST", body, {}, query)


AMR_FIELDS = "<MediaId><![CDATA[MVOICE1]]></MediaId><Format><![CDATA[amr]]></Format>"


def test_wecom_voice_is_downloaded_by_media_id_and_acknowledged(
    settings: Settings, wecom_api: FakeWeCom, turn: Any
) -> None:
    amr = note("amr", 3.0)
    wecom_api.add_media("MVOICE1", amr, "audio/amr")
    config = wecom_test.wecom_settings(settings, wecom_api)
    seen = turn(config, wecom, wecom_voice(AMR_FIELDS))

    (given,) = seen.given
    assert (given.kind, given.user, given.transcript, given.addressed) == ("voice", wecom_test.USER, None, True)
    assert seen.fetched == [(amr, None)]
    assert say("en", "voice_being_transcribed") in wecom_api.sent_texts(wecom_test.USER)
    (download,) = [r for r in wecom_api.requests if r.endpoint == "media"]
    assert download.query["media_id"] == "MVOICE1"


def test_wecom_recognition_is_the_transcript_without_a_call_and_its_audio_is_still_fetched(
    settings: Settings, wecom_api: FakeWeCom, turn: Any, stt_server: FakeOpenAI
) -> None:
    amr = note("amr", 2.0)
    wecom_api.add_media("MVOICE1", amr, "audio/amr")
    fields = AMR_FIELDS + "<Recognition><![CDATA[三号楼漏水]]></Recognition>"
    seen = turn(wecom_test.wecom_settings(settings, wecom_api), wecom, wecom_voice(fields))

    (given,) = seen.given
    assert given.kind == "voice" and given.transcript == "三号楼漏水"
    assert seen.fetched == [(amr, None)]  # after the ack, in the worker: a report or a note keeps the recording
    assert not stt_server.requests  # the words needed no transcription
    assert say("en", "voice_being_transcribed") not in wecom_api.sent_texts(wecom_test.USER)
    (answer,) = wecom_api.sent_texts(wecom_test.USER)
    assert answer.startswith(say("en", "voice_heard", words="三号楼漏水"))


def test_wecom_voice_over_the_size_cap_is_too_large(settings: Settings, wecom_api: FakeWeCom, turn: Any) -> None:
    wecom_api.add_media("MVOICE1", note("amr", 3.0), "audio/amr")
    config = wecom_test.wecom_settings(settings, wecom_api, max_voice_bytes=500)
    assert turn(config, wecom, wecom_voice(AMR_FIELDS)).fetched == [(None, "too_large")]


def test_wecom_voice_whose_media_is_gone_is_download_failed(
    settings: Settings, wecom_api: FakeWeCom, turn: Any
) -> None:
    seen = turn(wecom_test.wecom_settings(settings, wecom_api), wecom, wecom_voice(AMR_FIELDS))
    assert seen.fetched == [(None, "download_failed")]


def test_without_speech_to_text_the_voice_is_fetched_but_not_announced(
    settings: Settings, wecom_api: FakeWeCom, turn: Any
) -> None:
    wecom_api.add_media("MVOICE1", note("amr"), "audio/amr")
    seen = turn(wecom_test.wecom_settings(settings, wecom_api), wecom, wecom_voice(AMR_FIELDS), stt=False)
    assert seen.fetched[0][0] is not None
    assert say("en", "voice_being_transcribed") not in wecom_api.sent_texts(wecom_test.USER)


# -- Feishu --------------------------------------------------------------------------------------------------
@pytest.fixture
def feishu_api() -> Iterator[FakeFeishu]:
    with FakeFeishu(app_id=feishu_test.APP_ID, app_secret=feishu_test.APP_SECRET) as server:
        yield server


def feishu_settings(settings: Settings, api: FakeFeishu, **extra: Any) -> Settings:
    return settings.with_(
        language="en",
        feishu_app_id=feishu_test.APP_ID,
        feishu_app_secret=feishu_test.APP_SECRET,
        feishu_verification_token=feishu_test.VERIFY_TOKEN,
        feishu_encrypt_key=feishu_test.ENCRYPT_KEY,
        feishu_api_base=api.base_url,
        **extra,
    )


def feishu_audio(message_id: str, duration_ms: int, *, group: bool = False) -> WebhookRequest:
    client = feishu_test.FeishuClient(None)  # type: ignore[arg-type]  # builds bodies only
    event = client.event("audio", {"file_key": "file_v3_voice1", "duration": duration_ms}, message_id=message_id)
    if group:
        event["event"]["message"]["chat_type"] = "group"
    body, headers = client.signed(event)
    return WebhookRequest("POST", body, headers)


def test_feishu_audio_is_a_file_resource_with_its_length(settings: Settings, feishu_api: FakeFeishu, turn: Any) -> None:
    ogg = note("ogg", 2.0)
    feishu_api.add_resource("om_voice1", "file_v3_voice1", ogg, "audio/ogg", kind="file")
    seen = turn(feishu_settings(settings, feishu_api), feishu, feishu_audio("om_voice1", 2000))

    (given,) = seen.given
    assert (given.kind, given.voice_seconds, given.addressed) == ("voice", 2.0, True)
    assert seen.fetched == [(ogg, None)]
    (download,) = [r for r in feishu_api.requests if r.endpoint == "resource"]
    assert download.path.endswith("/om_voice1/resources/file_v3_voice1") and download.query["type"] == "file"
    assert {"message_id": "om_voice1", "emoji_type": "OK"} in feishu_api.reactions


def test_feishu_ogg_is_heard_through_the_engine_sent_as_voice_ogg(
    settings: Settings, feishu_api: FakeFeishu, turn: Any, stt_server: FakeOpenAI
) -> None:
    ogg = note("ogg", 2.0)
    feishu_api.add_resource("om_voice9", "file_v3_voice1", ogg, "audio/ogg", kind="file")
    stt_server.transcribe_as("my orders", times=1)
    turn(feishu_settings(settings, feishu_api), feishu, feishu_audio("om_voice9", 2000))

    (heard,) = [r for r in stt_server.requests if "transcriptions" in r.path]
    assert heard.file_name == "voice.ogg" and heard.file_bytes == ogg  # Opus in Ogg is taken as it came
    (answer,) = feishu_api.texts()
    assert answer.startswith(say("en", "voice_heard", words="my orders")) and say("en", "my_orders_none") in answer


def test_wecom_amr_is_heard_through_the_engine_sent_as_voice_wav(
    settings: Settings, wecom_api: FakeWeCom, turn: Any, stt_server: FakeOpenAI
) -> None:
    wecom_api.add_media("MVOICE1", note("amr", 2.0), "audio/amr")
    stt_server.transcribe_as("my orders", times=1)
    turn(wecom_test.wecom_settings(settings, wecom_api), wecom, wecom_voice(AMR_FIELDS))

    (heard,) = [r for r in stt_server.requests if "transcriptions" in r.path]
    assert heard.file_name == "voice.wav" and heard.file_bytes[:4] == b"RIFF"  # AMR is not accepted: converted
    answer = wecom_api.sent_texts(wecom_test.USER)[-1]
    assert answer.startswith(say("en", "voice_heard", words="my orders")) and say("en", "my_orders_none") in answer


def test_feishu_audio_declared_too_long_is_not_downloaded(
    settings: Settings, feishu_api: FakeFeishu, turn: Any
) -> None:
    feishu_api.add_resource("om_voice2", "file_v3_voice1", note("ogg"), "audio/ogg", kind="file")
    seen = turn(feishu_settings(settings, feishu_api), feishu, feishu_audio("om_voice2", 300_000))

    assert seen.given[0].voice_seconds == 300.0
    assert seen.fetched == [(None, None)]  # the engine refuses it by voice_seconds
    assert not [r for r in feishu_api.requests if r.endpoint == "resource"]
    assert not feishu_api.reactions


def test_feishu_audio_in_a_group_is_not_addressed_and_unheard_without_a_flow(
    settings: Settings, feishu_api: FakeFeishu, turn: Any
) -> None:
    feishu_api.add_resource("om_voice3", "file_v3_voice1", note("ogg"), "audio/ogg", kind="file")
    seen = turn(feishu_settings(settings, feishu_api), feishu, feishu_audio("om_voice3", 2000, group=True))

    assert seen.given[0].addressed is False and seen.given[0].group
    assert seen.fetched == []  # group chatter: nothing fetched, no reaction
    assert not feishu_api.reactions


# -- Slack ---------------------------------------------------------------------------------------------------
@pytest.fixture
def slack_api() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=slack_test.BOT_TOKEN) as server:
        yield server


def slack_clip(api: FakeSlack, data: bytes, mimetype: str, duration_ms: int) -> WebhookRequest:
    file = api.add_file("F0VOICE1", data, mimetype, name="audio_message.m4a")
    file.update(subtype="slack_audio", duration_ms=duration_ms, media_display_type="audio")
    file["transcription"] = {"status": "processing"}  # often still processing when the event arrives
    client = slack_test.SlackClient(None)  # type: ignore[arg-type]  # builds bodies only
    payload = client.event({"subtype": "file_share", "text": "", "files": [file]})
    body, headers = client.signed(payload)
    return WebhookRequest("POST", body, headers)


@pytest.mark.parametrize(("kind", "mimetype"), [("m4a", "audio/mp4"), ("m4a", "video/mp4"), ("webm", "audio/webm")])
def test_a_slack_audio_clip_is_a_voice_note_downloaded_with_the_bot_token(
    settings: Settings, slack_api: FakeSlack, turn: Any, kind: str, mimetype: str
) -> None:
    clip = note(kind, 2.0)
    seen = turn(slack_test.slack_settings(settings, slack_api), slack, slack_clip(slack_api, clip, mimetype, 2000))

    (given,) = seen.given
    assert (given.kind, given.voice_seconds) == ("voice", 2.0)
    assert seen.fetched == [(clip, None)]
    (download,) = [r for r in slack_api.requests if r.endpoint == "download"]
    assert download.headers["authorization"] == f"Bearer {slack_test.BOT_TOKEN}"
    assert [r["name"] for r in slack_api.reactions] == ["ear"]


def test_a_slack_clip_larger_than_the_cap_is_too_large_unfetched(
    settings: Settings, slack_api: FakeSlack, turn: Any
) -> None:
    config = slack_test.slack_settings(settings, slack_api, max_voice_bytes=1000)
    seen = turn(config, slack, slack_clip(slack_api, note("m4a"), "audio/mp4", 2000))
    assert seen.fetched == [(None, "too_large")]
    assert not [r for r in slack_api.requests if r.endpoint == "download"]  # the file's size said so


def test_a_voice_job_keeps_its_reference_through_the_turn_stream() -> None:
    job = Job(
        "feishu", "t", "u", "voice", voice={"message_id": "om", "file_key": "fk"}, transcript="", voice_seconds=2.5
    )
    again = Job.from_json(job.to_json())
    assert again == job and json.loads(job.to_json())["voice"] == {"message_id": "om", "file_key": "fk"}
    assert again.incoming().voice_seconds == 2.5 and again.incoming().transcript is None

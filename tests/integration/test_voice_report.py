"""A report spoken on Slack, end to end: photo, then "3号楼东门" and "确认" as voice clips. Real Redis, the real
``openai`` client for both the VLM and speech to text against the local fake server (which records the audio
file it received), Slack's ``slack_audio`` clips as Slack sends them (../shared/PLATFORMS.md §5.3), real m4a audio
encoded by PyAV (tests/support/audio.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import DEFAULT_ALARM_TYPES, Settings
from bot.ports import Tenant
from bot.replies import say
from bot.sites.csv_io import read_sites
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.platform_servers import FakeSlack
from tests.support.audio import note
from tests.support.engine import photo
from tests.support.live import Live, live_app
from tests.support.sites import CAMPUS_CSV
from tests.support.slack import BOT_TOKEN, TEAM, SlackClient, slack_settings

pytestmark = pytest.mark.integration

CHANNEL = "DVOICE"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN) as server:
        yield server


@pytest.fixture
def live(
    settings: Settings, slack: FakeSlack, fake_openai: FakeOpenAI, real_store: Any, orders: Any, storage: Any
) -> Iterator[Live]:
    configured = slack_settings(
        settings,
        slack,
        language="zh",
        vlm_base_url=fake_openai.base_url,
        nlu_base_url="off",
        stt_base_url=fake_openai.base_url,
        stt_model="whisper-test",
    )
    with live_app(configured, store=real_store, orders=orders, storage=storage) as app:
        yield app


def clip(slack: FakeSlack, client: SlackClient, file_id: str) -> None:
    file = slack.add_file(file_id, note("m4a", 2.0), "audio/mp4", name="audio_message.m4a")
    file.update(subtype="slack_audio", duration_ms=2000, media_display_type="audio")
    client.post(client.event({"subtype": "file_share", "text": "", "files": [file], "user": "uv", "channel": CHANNEL}))


def test_a_spoken_report_is_heard_quoted_and_kept_with_the_order(
    live: Live, slack: FakeSlack, fake_openai: FakeOpenAI, orders: Any, storage: Any
) -> None:
    client = SlackClient(live)
    fake_openai.respond_with(
        json.dumps({"alarm_type": "漏水", "description": "地面有水。", "severity": "high", "confidence": 0.9})
    )
    shot = slack.add_file("FVPHOTO", photo(30))
    client.post(client.event({"subtype": "file_share", "text": "", "files": [shot], "user": "uv", "channel": CHANNEL}))

    fake_openai.transcribe_as("3号楼东门。", times=1)
    clip(slack, client, "FVOICE1")
    summary = slack.texts(CHANNEL)[-1]
    assert summary.startswith(say("zh", "voice_heard", words="3号楼东门。")) and "位置：3号楼东门" in summary
    (heard,) = [r for r in fake_openai.requests if "transcriptions" in r.path]
    assert heard.form["model"] == "whisper-test" and heard.form["language"] == "zh" and "漏水" in heard.form["prompt"]

    fake_openai.transcribe_as("好的，确认", times=1)
    clip(slack, client, "FVOICE2")
    assert "工单已创建" in slack.texts(CHANNEL)[-1]
    (order,) = orders.list()[0]
    assert order.location_text == "3号楼东门" and len(order.voice_keys) == 2
    assert storage.get(order.voice_keys[0])[4:8] == b"ftyp"  # the m4a as it came, playable from the admin page
    assert [r["name"] for r in slack.reactions if r["name"] == "ear"] == ["ear", "ear"]  # "listening…", each clip


def test_the_speech_prompt_names_the_teams_sites_after_the_alarm_types(
    live: Live, slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    registry = live.runtime.services.sites
    assert registry is not None
    registry.apply(Tenant("slack", TEAM), read_sites(CAMPUS_CSV.encode()), replace=True)  # the campus of tests/support
    fake_openai.transcribe_as("3号楼东门", times=1)
    clip(slack, SlackClient(live), "FVOICE3")

    (heard,) = [r for r in fake_openai.requests if "transcriptions" in r.path]
    words = heard.form["prompt"].split("、")
    assert words[:7] == list(DEFAULT_ALARM_TYPES["zh"]) and "3号楼东门" in words[7:]  # the sites after the types
    assert "east" in words and "5号楼水泵房" in words  # zones too, each once
    assert len(words) == len(set(words))

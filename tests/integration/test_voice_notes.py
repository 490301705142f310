"""Voice notes on an order from the duty chat: a Slack voice clip replying in a duty card's thread becomes a note
on that order — its recording stored, its words transcribed by the real ``openai`` client against the local
fake server — and a clip the speech service fails on is kept all the same, saying so.

Payloads: the thread reply is a channel ``message`` with ``thread_ts`` (as in tests/integration/test_life_slack.py);
the clip is a ``file_share`` whose file has ``subtype: "slack_audio"``, ``audio/mp4``, ``audio_message.m4a``,
``duration_ms`` as Slack's Events API fixtures show it (../shared/PLATFORMS.md §5.3); the m4a is real, encoded by
PyAV (tests/support/audio.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.replies import say
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.platform_servers import FakeSlack
from tests.integration import test_duty_slack as duty_tests
from tests.integration import test_life_slack as life_tests
from tests.support.audio import note
from tests.support.live import Live, live_app, order_id_in
from tests.support.slack import SlackClient

pytestmark = pytest.mark.integration

slack = duty_tests.slack
TECH = life_tests.TECH


@pytest.fixture
def live(
    settings: Settings, slack: FakeSlack, fake_openai: FakeOpenAI, real_store: Any, orders: Any, storage: Any
) -> Iterator[Live]:
    configured = duty_tests._settings(settings, slack, stt_base_url=fake_openai.base_url)
    with live_app(configured, store=real_store, orders=orders, storage=storage) as app:
        yield app


def claimed_card(live: Live, slack: FakeSlack, client: SlackClient) -> tuple[str, dict]:
    """A typed report's order, claimed by TECH on its duty card: (its id, the card)."""
    order_id = order_id_in([duty_tests.report(client, slack, "Gate 4, pump room")])
    life_tests._settle(live, slack)
    [card] = duty_tests.duty_cards(slack)
    client.tap(slack, say("en", "choice_claim"), card, user=TECH)
    life_tests._settle(live, slack)
    return order_id, card


def clip_in_thread(slack: FakeSlack, client: SlackClient, card: dict, file_id: str, user: str) -> bytes:
    clip = note("m4a", 2.0)
    file = slack.add_file(file_id, clip, "audio/mp4", name="audio_message.m4a")
    file.update(subtype="slack_audio", duration_ms=2000, media_display_type="audio")
    thread = {"channel": duty_tests.DUTY, "channel_type": "channel", "thread_ts": card["ts"]}
    client.post(client.event({"subtype": "file_share", "text": "", "files": [file], "user": user, **thread}))
    return clip


def notes(orders: Any, order_id: str) -> list[dict]:
    return [row for row in orders.timeline(order_id) if row["kind"] == "note_added"]


def test_a_voice_reply_in_the_duty_cards_thread_is_a_note_with_its_words_and_recording(
    live: Live, slack: FakeSlack, fake_openai: FakeOpenAI, orders: Any, storage: Any
) -> None:
    client = SlackClient(live)
    order_id, card = claimed_card(live, slack, client)
    fake_openai.transcribe_as("Valve closed, waiting for the plumber.", times=1)
    clip = clip_in_thread(slack, client, card, "FVNOTE1", user=life_tests.OTHER)

    (row,) = notes(orders, order_id)
    assert row["actor_user"] == life_tests.OTHER and row["detail"]["text"] == "Valve closed, waiting for the plumber."
    assert storage.get(row["detail"]["voice_key"]) == clip  # the recording as it came
    (heard,) = [r for r in fake_openai.requests if "transcriptions" in r.path]
    assert heard.file_name == "voice.m4a" and heard.form["language"] == "en"
    quoted = say("en", "voice_heard", words="Valve closed, waiting for the plumber.")
    life_tests._hears(slack, life_tests.OTHER, f"{quoted}\n\n{say('en', 'did_note', order_id=order_id)}")
    told = say("en", "tell_assignee_note", order_id=order_id, who=life_tests.OTHER, text=f"🎤 {row['detail']['text']}")
    life_tests._hears(slack, TECH, told)


def test_a_voice_reply_the_speech_service_fails_on_is_kept_and_says_so(
    live: Live, slack: FakeSlack, fake_openai: FakeOpenAI, orders: Any, storage: Any
) -> None:
    client = SlackClient(live)
    order_id, card = claimed_card(live, slack, client)
    fake_openai.fail_with(503, times=1)
    clip = clip_in_thread(slack, client, card, "FVNOTE2", user=TECH)

    (row,) = notes(orders, order_id)
    assert row["detail"]["text"] == say("en", "voice_note_untranscribed")
    assert storage.get(row["detail"]["voice_key"]) == clip
    kept = f"{say('en', 'did_note', order_id=order_id)}\n\n{say('en', 'voice_note_kept')}"
    life_tests._hears(slack, TECH, kept)

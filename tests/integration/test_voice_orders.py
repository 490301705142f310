"""A report spoken on WeCom, end to end, and where its voice goes: the reporter's note (words that are no place) on
the duty card, in the ``order.created`` event and on the admin order page, with the recordings playable there.

Real Redis, the real ``openai`` client against the local fake server (which records the file it received), the
WeCom self-built app's ``MsgType=voice`` callback as its "接收消息 / 语音消息" page documents it (``MediaId``,
``Format=amr``; ``Recognition`` as the WeChat Official Account sends it, ../shared/PLATFORMS.md §5.1), encrypted
like any callback (tests/integration/test_wecom.py), and real 8 kHz AMR-NB encoded by PyAV (tests/support/audio.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.replies import say
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.platform_servers import FakeWeCom
from tests.integration.test_wecom import CORP, USER, WeComClient, wecom_settings
from tests.support.admin import TOKEN, admin_app, runtime
from tests.support.audio import note
from tests.support.engine import photo
from tests.support.live import Live, live_app, order_id_in
from tests.support.outbox import staged

pytestmark = pytest.mark.integration

SPOKEN_NOTE = "水管一直在往下滴水，地上积了一大摊，旁边还有配电箱"


@pytest.fixture
def wecom() -> Iterator[FakeWeCom]:
    with FakeWeCom(corp_id=CORP, secret="wecom-app-secret") as server:
        yield server


@pytest.fixture
def configured(settings: Settings, wecom: FakeWeCom, fake_openai: FakeOpenAI) -> Settings:
    duty = f"wecom:{CORP}=chat:wrkDUTY"
    return wecom_settings(settings, wecom, duty_routes=duty, stt_base_url=fake_openai.base_url).with_(language="zh")


@pytest.fixture
def live(configured: Settings, real_store: Any, orders: Any, storage: Any) -> Iterator[Live]:
    with live_app(configured, store=real_store, orders=orders, storage=storage) as app:
        yield app


def voice(client: WeComClient, media_id: str, recognition: str = "") -> None:
    fields = f"<MediaId><![CDATA[{media_id}]]></MediaId><Format><![CDATA[amr]]></Format>"
    if recognition:
        fields += f"<Recognition><![CDATA[{recognition}]]></Recognition>"
    client.post_plain(client.message("voice", fields))


def spoken_report(live: Live, wecom: FakeWeCom, fake_openai: FakeOpenAI) -> str:
    """Photo, "2" (the type), a voice note heard as the reporter's note, a voice note WeCom recognised as the
    place, "确认": the new order's id."""
    client = WeComClient(live)
    wecom.add_media("MPHOTO", photo(1))
    client.image("MPHOTO")
    client.text("2")
    wecom.add_media("MVNOTE", note("amr", 3.0), "audio/amr")
    fake_openai.transcribe_as(SPOKEN_NOTE, times=1)
    voice(client, "MVNOTE")
    assert say("zh", "note_added") in "\n".join(wecom.sent_texts(USER))  # the words are no place: a note
    wecom.add_media("MVPLACE", note("amr", 2.0), "audio/amr")
    voice(client, "MVPLACE", recognition="B2 停车场")
    client.text("确认")
    return order_id_in(wecom.sent_texts(USER))


def test_a_spoken_report_keeps_both_recordings_and_transcribes_only_the_note_wecom_did_not(
    live: Live, wecom: FakeWeCom, fake_openai: FakeOpenAI, orders: Any, storage: Any
) -> None:
    order = orders.get(spoken_report(live, wecom, fake_openai))

    (heard,) = [r for r in fake_openai.requests if "transcriptions" in r.path]  # none for the recognised note
    assert heard.file_name == "voice.wav" and heard.file_bytes[:4] == b"RIFF"  # AMR converted for the API
    downloads = [r.query["media_id"] for r in wecom.requests if r.endpoint == "media"]
    assert downloads.count("MVNOTE") == 1 and downloads.count("MVPLACE") == 1
    assert order.note == SPOKEN_NOTE and order.location_text == "B2 停车场"
    assert [storage.get(key)[:6] for key in order.voice_keys] == [b"#!AMR\n", b"#!AMR\n"]  # both kept as sent


def test_the_reporters_note_is_on_the_duty_card_in_the_event_and_on_the_admin_page(
    live: Live,
    configured: Settings,
    wecom: FakeWeCom,
    fake_openai: FakeOpenAI,
    real_store: Any,
    orders: Any,
    storage: Any,
) -> None:
    order_id = spoken_report(live, wecom, fake_openai)
    live.delivered()

    card = [m["text"]["content"] for m in wecom.sent() if m.get("chatid") == "wrkDUTY" and m["msgtype"] == "text"]
    assert say("zh", "duty_note", value=SPOKEN_NOTE) in card[0].splitlines()
    (created,) = [e for e in staged(orders, order_id) if e["type"] == "order.created"]
    assert created["order"]["note"] == SPOKEN_NOTE and len(created["order"]["voice_keys"]) == 2

    app = admin_app(configured, real_store, storage, orders)
    try:
        client = app.test_client()
        form = client.get("/admin/login").get_data(as_text=True)
        login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        client.post("/admin/login", data={"token": TOKEN, "login_csrf": login_csrf, "next": "/admin/orders"})
        html = client.get(f"/admin/orders/{order_id}").get_data(as_text=True)
        assert f'<dd id="note">{SPOKEN_NOTE}</dd>' in html
        sources = re.findall(r'<audio controls preload="none"><source src="([^"]+)" type="([^"]+)">', html)
        assert len(sources) == 2 and {kind for _, kind in sources} == {"audio/wav"}  # AMR: no browser plays it
        played = client.get(sources[0][0].replace("&amp;", "&"))
        assert played.status_code == 200 and played.mimetype == "audio/wav" and played.data[:4] == b"RIFF"
        part = client.get(sources[0][0].replace("&amp;", "&"), headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and part.data == played.data[:100]  # Safari asks for ranges
    finally:
        runtime(app).stop()

"""WeCom photos as phones send them, end to end: a HEIC sent as a file (``MsgType`` ``file`` with a
``MediaId``, downloaded by ``media/get``) is a photo kept as JPEG, and a ``video`` (``MediaId`` and
``ThumbMediaId``, as WeCom's "接收消息" page lists them) gets a polite request for a photo."""

from __future__ import annotations

import io
from typing import Any

import pillow_heif
import pytest
from PIL import Image

from bot.images import sniff_image_type
from bot.replies import say
from tests.fakes.platform_servers import FakeWeCom
from tests.integration import test_wecom_buttons as buttons
from tests.integration.test_wecom import CORP, USER, WeComClient
from tests.support.engine import photo

pytestmark = pytest.mark.integration
wecom, client = buttons.wecom, buttons.client  # the same app on the same fake WeCom


def test_a_heic_file_is_a_photo_and_a_video_gets_a_polite_answer(
    client: WeComClient, wecom: FakeWeCom, real_store: Any, storage: Any
) -> None:
    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    Image.open(io.BytesIO(photo(1))).save(out, format="HEIF")
    wecom.add_media("MFILE1", out.getvalue())
    fields = "<MediaId><![CDATA[MFILE1]]></MediaId><FileName><![CDATA[IMG_0007.HEIC]]></FileName>"
    client.post_plain(client.message("file", fields))
    pending = real_store.load(f"wecom:{CORP}:{USER}").pending
    assert pending["image_type"] == "image/jpeg" and sniff_image_type(storage.get(pending["image_key"])) == "image/jpeg"

    video = "<MediaId><![CDATA[MVIDEO1]]></MediaId><ThumbMediaId><![CDATA[MTHUMB1]]></ThumbMediaId>"
    client.post_plain(client.message("video", video))
    sent = wecom.sent_texts(USER) + [c.get("main_title", {}).get("desc", "") for c in wecom.cards(USER)]
    assert any(say("en", "video_not_photo") in text for text in sent)

"""The digest in a chat, as each platform shows a message with a picture (``handlers/runner/digest.py`` decides
what and when):

* Slack: the chart uploaded by the files upload flow (``files.getUploadURLExternal``, the bytes, then
  ``files.completeUploadExternal``), shared in the channel with the digest's text as its message;
* Feishu: the chart uploaded to ``im/v1/images``, then one card with the text and the image by its ``image_key``;
* WeCom: the text (in pieces of at most 2048 bytes), then the chart uploaded by ``media/upload`` and sent as an
  image message after it.

Each raises SendFailed (``retry`` when trying later may help).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from handlers.platforms.feishu import FeishuApi
from handlers.platforms.outbound import SendFailed, fail, sent, split_utf8
from handlers.platforms.slack_api import SlackApi
from handlers.platforms.wecom import MAX_TEXT_BYTES
from handlers.platforms.wecom_api import WeComApi

if TYPE_CHECKING:
    from handlers.platforms.base import PlatformContext

Post = Callable[["PlatformContext", str, str, str, bytes, str], None]  # runtime, address, title, text, png, key


def slack(runtime: PlatformContext, address: str, title: str, text: str, png: bytes, key: str) -> None:
    SlackApi(runtime.settings).upload_file("digest.png", png, title, address.removeprefix("chat:"), text)


def feishu(runtime: PlatformContext, address: str, title: str, text: str, png: bytes, key: str) -> None:
    api = FeishuApi(runtime.settings, runtime)
    image = api.upload_image(png)
    lines = text.split("\n")
    card = {
        "schema": "2.0",
        "header": {"title": {"tag": "plain_text", "content": lines[0]}, "template": "blue"},
        "body": {
            "elements": [
                {"tag": "div", "text": {"tag": "plain_text", "content": "\n".join(lines[1:])}},
                {"tag": "img", "img_key": image, "alt": {"tag": "plain_text", "content": title}},
            ]
        },
    }
    uuid = hashlib.sha256(f"digest|{address}|{key}".encode()).hexdigest()[:40]  # a retry is not posted twice
    api.send_card(address.removeprefix("chat:"), card, uuid)


def wecom(runtime: PlatformContext, address: str, title: str, text: str, png: bytes, key: str) -> None:
    api = WeComApi(runtime.settings, runtime)
    for piece in split_utf8(text, MAX_TEXT_BYTES):
        sent(api.send_to(address, "text", {"content": piece}))
    sent(api.send_to(address, "image", {"media_id": api.upload_image(png)}))


POSTS: dict[str, Post] = {"slack": slack, "feishu": feishu, "wecom": wecom}


def post(runtime: PlatformContext, platform: str, address: str, title: str, text: str, png: bytes, key: str) -> None:
    poster = POSTS.get(platform)
    if poster is None:
        raise SendFailed(fail(f"no digest on {platform}"))
    poster(runtime, address, title, text, png, key)

"""The digest in a chat, as each platform shows a message with a picture (``handlers/runner/digest.py`` decides
what and when):

* Slack: the chart uploaded by the files upload flow (``files.getUploadURLExternal``, the bytes, then
  ``files.completeUploadExternal``), shared in the channel with the digest's text as its message;
* Feishu: the chart uploaded to ``im/v1/images``, then one card with the text and the image by its ``image_key``;
* WeCom: the chart uploaded by ``media/upload`` first (so a failed upload, tried again later, has posted nothing),
  then the text (in pieces of at most 2048 bytes), then the image message.

Without a chart (``png`` empty: drawing it failed) each posts the text alone. Each raises SendFailed (``retry`` when
trying later may help).
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
    api, channel = SlackApi(runtime.settings), address.removeprefix("chat:")
    if not png:
        sent(api.post_message(channel, text))
        return
    api.upload_file("digest.png", png, title, channel, text)


def feishu(runtime: PlatformContext, address: str, title: str, text: str, png: bytes, key: str) -> None:
    api = FeishuApi(runtime.settings, runtime)
    lines = text.split("\n")
    elements: list[dict[str, object]] = [{"tag": "div", "text": {"tag": "plain_text", "content": "\n".join(lines[1:])}}]
    if png:
        image = api.upload_image(png)
        elements.append({"tag": "img", "img_key": image, "alt": {"tag": "plain_text", "content": title}})
    card = {
        "schema": "2.0",
        "header": {"title": {"tag": "plain_text", "content": lines[0]}, "template": "blue"},
        "body": {"elements": elements},
    }
    uuid = hashlib.sha256(f"digest|{address}|{key}".encode()).hexdigest()[:40]  # a retry is not posted twice
    api.send_card(address.removeprefix("chat:"), card, uuid)


def wecom(runtime: PlatformContext, address: str, title: str, text: str, png: bytes, key: str) -> None:
    api = WeComApi(runtime.settings, runtime)
    media_id = api.upload_image(png) if png else ""  # before any text: a failed upload leaves nothing to post twice
    for piece in split_utf8(text, MAX_TEXT_BYTES):
        sent(api.send_to(address, "text", {"content": piece}))
    if media_id:
        sent(api.send_to(address, "image", {"media_id": media_id}))


POSTS: dict[str, Post] = {"slack": slack, "feishu": feishu, "wecom": wecom}


def post(runtime: PlatformContext, platform: str, address: str, title: str, text: str, png: bytes, key: str) -> None:
    poster = POSTS.get(platform)
    if poster is None:
        raise SendFailed(fail(f"no digest on {platform}"))
    poster(runtime, address, title, text, png, key)

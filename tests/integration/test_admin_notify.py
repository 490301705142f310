"""Ops reset with {"notify": true} reaches the user through their own platform's API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.replies import say
from tests.fakes.platform_servers import FakeSlack, FakeWeCom
from tests.support.engine import REDIS_URL, photo, wipe_prefix
from tests.support.live import live_app
from tests.support.slack import BOT_TOKEN, SECRET, TEAM, USER, SlackClient
from tests.support.wecom import AES_KEY

pytestmark = pytest.mark.integration
ADMIN = "ops-secret-token"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN) as server:
        yield server


def reset(live: Any, key: str, notify: bool) -> dict:
    answer = live.call(
        "POST",
        f"/admin/api/sessions/{key}/reset",
        body=json.dumps({"notify": notify}).encode(),
        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
    )
    assert answer.status == 200, answer.text
    return json.loads(answer.body)


def test_slack_user_is_told_about_the_reset(settings: Settings, slack: FakeSlack, redis_client: Any):
    configured = settings.with_(
        language="en",
        redis_url=REDIS_URL,
        admin_token=ADMIN,
        slack_signing_secret=SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_api_base=slack.base_url,
    )
    try:
        with live_app(configured) as live:
            client = SlackClient(live)
            client.image(slack, photo(3))  # stuck in waiting_location
            key = f"slack:{TEAM}:{USER}"
            assert reset(live, key, notify=True)["notified"] is True
            notice = slack.posted[-1]
            assert notice["channel"] == USER  # the app's DM with that user
            assert notice["text"] == say("en", "reset_by_ops")
    finally:
        wipe_prefix(redis_client, configured.redis_prefix)


def test_wecom_user_is_told_about_the_reset(settings: Settings, redis_client: Any):
    with FakeWeCom() as wecom:
        configured = settings.with_(
            redis_url=REDIS_URL,
            admin_token=ADMIN,
            wecom_corp_id=wecom.corp_id,
            wecom_agent_id="1000002",
            wecom_secret=wecom.secret,
            wecom_token="tok",
            wecom_encoding_aes_key=AES_KEY,
            wecom_api_base=wecom.base_url,
        )
        try:
            with live_app(configured) as live:
                live.runtime.engine.handle(_text("wecom", wecom.corp_id, "zhangsan", "帮助"))
                assert reset(live, f"wecom:{wecom.corp_id}:zhangsan", notify=True)["notified"] is True
            assert wecom.sent_texts("zhangsan")[-1] == say("zh", "reset_by_ops")
        finally:
            wipe_prefix(redis_client, configured.redis_prefix)


def _text(platform: str, tenant: str, user: str, text: str) -> Any:
    from bot.messages import Incoming

    return Incoming(platform=platform, tenant=tenant, user=user, kind="text", text=text)

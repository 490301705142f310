"""Every record a platform message leaves in Redis is at most 100 bytes (``MEMORY USAGE``).

A message leaves its dedupe mark (``P:seen:…``, kept ``DEDUPE_TTL_SECONDS``) and its turn's stored result, shrunk to
the "answered" marker once the replies were sent (``P:r:…``, an hour). Past some 44 bytes of key Redis's allocator
moves a key up a size class (88 → 104 B), so both are named by digests where the platform's ids are long
(``SessionStore.mark_key``, ``SessionStore.result_key``). Each platform's message goes through its real webhook on
real Redis, with ids of the lengths the platforms use (../shared/PLATFORMS.md) and the default prefix's length.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from bot.adapters.redis.store import ANSWERED, SessionStore
from bot.config import Settings
from tests.fakes.platform_servers import FakeFeishu, FakeSlack, FakeWeCom
from tests.integration.test_feishu import APP_ID, APP_SECRET, FeishuClient, feishu_settings
from tests.integration.test_wecom import CORP, WeComClient, wecom_settings
from tests.support.engine import store_for, wipe_prefix
from tests.support.live import Live, live_app
from tests.support.slack import BOT_TOKEN, SECRET, SlackClient

pytestmark = pytest.mark.integration

LIMIT = 100
# Slack ids of their usual lengths (the test helpers' T111/U111 are shorter than any real one)
SLACK_TEAM, SLACK_USER, SLACK_DM = "T0123ABCDEF", "U0123ABCDEF", "D0123ABCDEF"


@pytest.fixture
def live(
    settings: Settings, redis_client: redis.Redis, orders: Any, storage: Any, fake_openai: Any
) -> Iterator[tuple[Live, SessionStore]]:
    """One app with the three platforms on, on real Redis under a prefix as long as the default ("wobot")."""
    configured = settings.with_(
        redis_prefix=f"w{uuid.uuid4().hex[:4]}",
        slack_signing_secret=SECRET,
        slack_bot_token=BOT_TOKEN,
        vlm_base_url=fake_openai.base_url,
        nlu_base_url="off",
        vlm_api_key="sk-test",
    )
    with (
        FakeSlack(bot_token=BOT_TOKEN) as slack,
        FakeWeCom(corp_id=CORP, secret="wecom-app-secret") as wecom,
        FakeFeishu(app_id=APP_ID, app_secret=APP_SECRET) as feishu,
    ):
        configured = feishu_settings(wecom_settings(configured, wecom), feishu, slack_api_base=slack.base_url)
        store = store_for(redis_client, configured)
        try:
            with live_app(configured, store=store, orders=orders, storage=storage) as app:
                yield app, store
        finally:
            wipe_prefix(redis_client, configured.redis_prefix)


def _slack(app: Live) -> Callable[[str], Any]:
    client = SlackClient(app)

    def send(text: str) -> Any:
        payload = client.event({"text": text, "user": SLACK_USER, "channel": SLACK_DM})
        payload["team_id"] = SLACK_TEAM
        return client.post(payload)

    return send


def _wecom(app: Live) -> Callable[[str], Any]:
    client = WeComClient(app)
    return lambda text: client.text(text)


def _feishu(app: Live) -> Callable[[str], Any]:
    client = FeishuClient(app)
    return lambda text: client.text(text)


@pytest.mark.parametrize("platform", ["slack", "wecom", "feishu"])
def test_every_record_a_platform_message_leaves_is_at_most_100_bytes(
    live: tuple[Live, SessionStore], platform: str
) -> None:
    app, store = live
    send = {"slack": _slack, "wecom": _wecom, "feishu": _feishu}[platform](app)
    assert send("help").status == 200  # the user's own records (session, index, lock queue…) exist from here on
    before = set(store.redis.scan_iter(match=f"{store.prefix}:*"))
    assert send("status").status == 200
    # The ops index's shards and its hourly turn counter are per user and per hour, not per message.
    left = {key.decode() for key in set(store.redis.scan_iter(match=f"{store.prefix}:*")) - before}
    left = {key for key in left if ":idx:" not in key}
    sizes = {key: store.redis.memory_usage(key, samples=0) or 0 for key in left}
    kinds = sorted(key.split(":")[1] for key in left)
    assert kinds == ["r", "seen"], sizes  # the dedupe mark and the turn's result, nothing else
    (marker,) = (key for key in left if key.split(":")[1] == "r")
    assert store.redis.get(marker) == ANSWERED  # the replies were sent: the result shrank to the marker
    assert all(size <= LIMIT for size in sizes.values()), sizes

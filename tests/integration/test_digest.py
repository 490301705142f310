"""The digest posted into chats (DIGEST_ROUTES), through the fake platform servers: on Slack the PNG goes up by the
files upload flow and is shared with the text as its message; on Feishu it is uploaded to ``im/v1/images`` and the
card shows it by its ``image_key``; on WeCom the chart is uploaded first, then the text is sent, then the image by the
``media_id`` of its upload (a failed upload has posted nothing to post twice). Once per period with two processes at
once, none before DIGEST_AT, none on a day when nothing happened; a chart that cannot be drawn leaves the text alone,
and an unexpected error at one chat leaves the others posted.

Requests follow docs.slack.dev (files.getUploadURLExternal / completeUploadExternal, form-encoded as slack_sdk's
files_upload_v2 sends them), open.feishu.cn (im/v1/images, im/v1/messages) and developer.work.weixin.qq.com
(media/upload, appchat/send), as the fakes in tests/fakes record them.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from handlers.platforms import digest_post
from handlers.runner.bootstrap import build_runtime
from handlers.runner.digest import post_due
from handlers.runner.runtime import Runtime
from tests.fakes.platform_servers import FakeFeishu, FakeSlack, FakeWeCom, json_answer, server_error
from tests.integration.test_feishu import APP_ID, APP_SECRET, TENANT, feishu_settings
from tests.integration.test_wecom import CORP, wecom_settings
from tests.support.order_history import History, a_week, local
from tests.support.slack import BOT_TOKEN, slack_settings

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n"
MORNING = local(6, 8, 45)  # Sunday 2026-12-06, after 08:30: Saturday 12-05's digest is due


def runtime_for(settings: Settings, store: SessionStore, orders: SqlWorkOrders, storage: LocalFolderStore) -> Runtime:
    """A process's runtime (nothing started: the test says when the digest clock looks)."""
    return build_runtime(settings, store=store, orders=orders, storage=storage, vlm=None, nlu=None, stt=None)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN) as server:
        yield server


@pytest.fixture
def on_slack(
    settings: Settings, slack: FakeSlack, real_store: SessionStore, orders: SqlWorkOrders, storage: LocalFolderStore
) -> Runtime:
    a_week(History(orders.engine))
    return runtime_for(slack_settings(settings, slack, digest_routes="slack:T1=C0DIGEST"), real_store, orders, storage)


def test_slack_gets_yesterdays_figures_and_the_chart(on_slack: Runtime, slack: FakeSlack) -> None:
    assert post_due(on_slack, MORNING) == {"slack:T1/chat:C0DIGEST": "sent"}
    [shared] = slack.shared_files
    assert shared["channel_id"] == "C0DIGEST" and shared["data"].startswith(PNG)
    asked = [r for r in slack.requests if r.endpoint in ("upload_url", "upload", "complete_upload")]
    assert [r.endpoint for r in asked] == ["upload_url", "upload", "complete_upload"]  # uploaded, then shared
    text = shared["initial_comment"]
    assert text.startswith("📊 Daily work-order digest 2026-12-05")
    assert "In brackets: the period before (2026-12-04)" in text
    # 12-05: one order made and closed (claimed in 20 min, fixed in 2 h 40); 12-04: one made (and cancelled)
    assert "Created 1 (1) · resolved 1 (0) · closed 1 (0)" in text
    assert "Median time to claim 20 min (—) · to fix 2 h 40 min (—)" in text
    assert "Breaching now, 1:\n· WO-20261125-EEEEE not fixed in time, over by" in text  # CCCCC is WeCom's


def test_once_per_period_even_with_two_processes_at_once(
    on_slack: Runtime, slack: FakeSlack, real_store: SessionStore, orders: SqlWorkOrders, storage: LocalFolderStore
) -> None:
    other = runtime_for(on_slack.settings, real_store, orders, storage)
    results: list[dict[str, str]] = []
    start = threading.Barrier(2)

    def process(runtime: Runtime) -> None:
        start.wait()
        results.append(post_due(runtime, MORNING))

    threads = [threading.Thread(target=process, args=(rt,)) for rt in (on_slack, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results, key=len) == [{}, {"slack:T1/chat:C0DIGEST": "sent"}]
    assert post_due(on_slack, local(6, 20)) == {}  # later that day: already posted
    assert len(slack.shared_files) == 1
    assert post_due(on_slack, local(7, 8, 31)) == {"slack:T1/chat:C0DIGEST": "sent"}  # the next day's
    assert len(slack.shared_files) == 2


def test_none_before_digest_at_nor_after_a_quiet_day(on_slack: Runtime, slack: FakeSlack) -> None:
    assert post_due(on_slack, local(6, 8, 29)) == {}
    # Monday 12-07: nothing made, claimed, fixed or closed (the digest of 12-08 morning)
    assert post_due(on_slack, local(8, 9)) == {"slack:T1/chat:C0DIGEST": "skipped"}
    assert slack.shared_files == [] and slack.posted == []


def test_a_platform_outage_is_tried_again(on_slack: Runtime, slack: FakeSlack) -> None:
    slack.script("upload_url", server_error())
    assert post_due(on_slack, MORNING) == {"slack:T1/chat:C0DIGEST": "retry"}
    key = on_slack.store.key("digest", "slack:T1", "chat:C0DIGEST", "2026-12-05")
    assert 0 < on_slack.store.redis.pttl(key) <= 60_000  # another round tries again in a minute
    on_slack.store.redis.delete(key)  # … that minute has passed
    assert post_due(on_slack, MORNING) == {"slack:T1/chat:C0DIGEST": "sent"}
    assert len(slack.shared_files) == 1


def test_an_unreachable_upload_url_is_not_logged(
    on_slack: Runtime, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nothing listens on: the upload's connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    grant = f"http://127.0.0.1:{port}/upload/v1/ChSecretGrant0123"  # the URL's path is a credential
    slack.script("upload_url", json_answer({"ok": True, "upload_url": grant, "file_id": "F0GRANT"}))
    assert post_due(on_slack, MORNING) == {"slack:T1/chat:C0DIGEST": "retry"}
    assert "upload: HttpError (" in caplog.text  # what failed, by its type
    assert "ChSecretGrant0123" not in caplog.text and "/upload/v1" not in caplog.text


def test_weekly_on_monday(on_slack: Runtime, slack: FakeSlack) -> None:
    weekly = on_slack.settings.with_(digest_every="week", digest_at="07:00")
    runtime = runtime_for(weekly, on_slack.store, on_slack.services.orders, on_slack.services.storage)
    assert post_due(runtime, local(6, 23)) == {"slack:T1/chat:C0DIGEST": "sent"}  # week 11-23 … 11-29 had E
    assert post_due(runtime, local(7, 6, 59)) == {}
    assert post_due(runtime, local(7, 7)) == {"slack:T1/chat:C0DIGEST": "sent"}
    text = slack.shared_files[-1]["initial_comment"]
    assert text.startswith("📊 Weekly work-order digest 2026-11-30 – 2026-12-06")
    # 11-30 … 12-06 on Slack: A, B, F and G made (11-23 … 11-29: E); A, B and G fixed and closed
    assert "Created 4 (1) · resolved 3 (0) · closed 3 (0)" in text


def test_a_site_or_zone_route_counts_that_site_or_zone(on_slack: Runtime, slack: FakeSlack) -> None:
    routes = "slack:T1:zone:东区=C0EAST,slack:T1:site:B栋=C0B"  # B栋's one order is WeCom's
    weekly = on_slack.settings.with_(digest_every="week", digest_at="07:00", digest_routes=routes)
    runtime = runtime_for(weekly, on_slack.store, on_slack.services.orders, on_slack.services.storage)
    assert post_due(runtime, local(7, 7)) == {
        "slack:T1:site:B栋/chat:C0B": "skipped",
        "slack:T1:zone:东区/chat:C0EAST": "sent",
    }
    [shared] = slack.shared_files
    text = shared["initial_comment"]
    # 11-30 … 12-06 on Slack in 东区: A, B and F made (G has no site; 11-23 … 11-29: E); A and B fixed and closed
    assert shared["channel_id"] == "C0EAST" and "Created 3 (1) · resolved 2 (0) · closed 2 (0)" in text


def test_feishu_card_shows_the_uploaded_chart(
    settings: Settings, real_store: SessionStore, orders: SqlWorkOrders, storage: LocalFolderStore
) -> None:
    a_week(History(orders.engine), platform="feishu", tenant=TENANT)
    with FakeFeishu(app_id=APP_ID, app_secret=APP_SECRET) as feishu:
        routed = feishu_settings(settings, feishu, digest_routes="feishu:*=oc_digest")
        runtime = runtime_for(routed, real_store, orders, storage)
        assert post_due(runtime, MORNING) == {"feishu:*/chat:oc_digest": "sent"}
        [key] = feishu.images
        assert feishu.images[key].startswith(PNG)
        [message] = [m for m in feishu.delivered if m.get("receive_id") == "oc_digest"]
        card = json.loads(message["content"])
        assert card["header"]["title"]["content"] == "📊 Daily work-order digest 2026-12-05"
        assert [e["img_key"] for e in card["body"]["elements"] if e["tag"] == "img"] == [key]
        assert "Created 1 (1)" in card["body"]["elements"][0]["text"]["content"]


def test_wecom_text_then_the_chart(
    settings: Settings, real_store: SessionStore, orders: SqlWorkOrders, storage: LocalFolderStore
) -> None:
    a_week(History(orders.engine), platform="wecom", tenant=CORP)
    with FakeWeCom(corp_id=CORP, secret="wecom-app-secret") as wecom:
        routed = wecom_settings(settings, wecom, digest_routes=f"wecom:{CORP}=chat:wrkDIGEST").with_(language="zh")
        runtime = runtime_for(routed, real_store, orders, storage)
        assert post_due(runtime, MORNING) == {f"wecom:{CORP}/chat:wrkDIGEST": "sent"}
        sent: list[Any] = [m for m in wecom.delivered if m.get("chatid") == "wrkDIGEST"]
        assert [m["msgtype"] for m in sent] == ["text", "image"]
        assert sent[0]["text"]["content"].startswith("📊 工单日报 2026-12-05")
        assert "新建 1（1）" in sent[0]["text"]["content"]
        media = sent[1]["image"]["media_id"]
        assert wecom.media[media][0].startswith(PNG)
        asked = [r.endpoint for r in wecom.requests if r.endpoint in ("upload", "appchat")]
        assert asked == ["upload", "appchat", "appchat"]  # the chart uploaded before any text is sent


def test_wecom_upload_failing_posts_no_text_to_repeat(
    settings: Settings, real_store: SessionStore, orders: SqlWorkOrders, storage: LocalFolderStore
) -> None:
    a_week(History(orders.engine), platform="wecom", tenant=CORP)
    with FakeWeCom(corp_id=CORP, secret="wecom-app-secret") as wecom:
        routed = wecom_settings(settings, wecom, digest_routes=f"wecom:{CORP}=chat:wrkDIGEST")
        runtime = runtime_for(routed, real_store, orders, storage)
        wecom.script("upload", server_error())
        assert post_due(runtime, MORNING) == {f"wecom:{CORP}/chat:wrkDIGEST": "retry"}
        assert [m for m in wecom.delivered if m.get("chatid") == "wrkDIGEST"] == []  # nothing posted yet
        runtime.store.redis.delete(runtime.store.key("digest", f"wecom:{CORP}", "chat:wrkDIGEST", "2026-12-05"))
        assert post_due(runtime, MORNING) == {f"wecom:{CORP}/chat:wrkDIGEST": "sent"}
        sent: list[Any] = [m for m in wecom.delivered if m.get("chatid") == "wrkDIGEST"]
        assert [m["msgtype"] for m in sent] == ["text", "image"]  # the text once, after the retry


def test_a_chart_that_cannot_be_drawn_leaves_the_text_alone(
    on_slack: Runtime, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from handlers import charts

    def broken(chart: Any, scale: float = 2.0) -> bytes:
        raise OSError("no library called 'cairo-2' was found: /usr/lib/secret/path")

    monkeypatch.setattr(charts, "png", broken)
    assert post_due(on_slack, MORNING) == {"slack:T1/chat:C0DIGEST": "sent"}
    assert slack.shared_files == []
    [posted] = [p for p in slack.posted if p.get("channel") == "C0DIGEST"]
    assert posted["text"].startswith("📊 Daily work-order digest 2026-12-05")
    assert "Created 1 (1) · resolved 1 (0) · closed 1 (0)" in posted["text"]
    assert "OSError" in caplog.text and "/usr/lib/secret/path" not in caplog.text


def test_an_unexpected_error_at_one_chat_leaves_the_others_posted(
    settings: Settings,
    slack: FakeSlack,
    real_store: SessionStore,
    orders: SqlWorkOrders,
    storage: LocalFolderStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a_week(History(orders.engine))
    routed = slack_settings(settings, slack, digest_routes="slack:*=C0FIRST,slack:T1=C0SECOND")
    runtime = runtime_for(routed, real_store, orders, storage)
    real = digest_post.POSTS["slack"]

    def flaky(rt: Any, address: str, *rest: Any) -> None:
        if address == "chat:C0FIRST":
            raise KeyError("a bug")
        real(rt, address, *rest)

    monkeypatch.setitem(digest_post.POSTS, "slack", flaky)
    outcomes = post_due(runtime, MORNING)
    assert outcomes == {"slack:*/chat:C0FIRST": "failed", "slack:T1/chat:C0SECOND": "sent"}
    key = runtime.store.key("digest", "slack:*", "chat:C0FIRST", "2026-12-05")
    assert runtime.store.redis.get(key) == b"failed"  # not left 'sending'
    assert [f["channel_id"] for f in slack.shared_files] == ["C0SECOND"]

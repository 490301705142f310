"""The bot on a real 3-master Redis Cluster and on a real Sentinel set-up (1 master, 1 replica, 3 sentinels),
both started from ``redis-server`` on free ports (``tests/support/redis_servers.py``) and reached only through
the settings (``REDIS_CLUSTER`` + a seed ``REDIS_URL``; ``REDIS_SENTINELS`` + ``REDIS_SENTINEL_MASTER``).

On each: the Feishu webhook (encrypted, signed) carries a report and a close, the Feishu token is cached in
that Redis, a redelivered event is answered once, and the ops API lists, counts and resets the user. The
Sentinel test then kills the master: turns resume on the promoted replica, with the session intact. On the
Cluster a user's turns also keep the order their messages arrived in.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.adapters.redis.store import SessionStore, build_store
from bot.adapters.sql.orders import SqlWorkOrders
from bot.config import Settings
from bot.session import Session
from tests.fakes.platform_servers import FakeFeishu
from tests.integration import test_feishu as fs
from tests.integration.test_arrival_order import check_the_second_message_picked_up_first_waits
from tests.support.admin import AUTH, TOKEN
from tests.support.engine import photo
from tests.support.live import Live, live_app, order_id_in
from tests.support.redis_servers import SentinelSetup, redis_cluster, redis_sentinel

pytestmark = pytest.mark.integration

feishu = fs.feishu
API = "/admin/api"
USER_KEY = f"feishu:{fs.TENANT}:{fs.OPEN_ID}"


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as url:
        yield url


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSetup]:
    with redis_sentinel(tmp_path_factory.mktemp("sentinel")) as setup:
        yield setup


@pytest.fixture(params=["cluster", "sentinel"])
def topology(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The test's settings pointed at one topology, and nothing else about Redis."""
    if request.param == "cluster":
        return settings.with_(redis_url=request.getfixturevalue("cluster_url"), redis_cluster=True)
    setup: SentinelSetup = request.getfixturevalue("sentinel")
    return settings.with_(redis_sentinels=setup.sentinels, redis_sentinel_master=setup.master_name)


def _live(app_settings: Settings, orders: SqlWorkOrders, storage: Any) -> Any:
    # The store is built from the settings, as in production: no client handed in.
    return live_app(app_settings.with_(admin_token=TOKEN), orders=orders, storage=storage, vlm=None)


def _api(live: Live, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    answer = live.call(method, API + path, body=data, headers={**AUTH, "Content-Type": "application/json"})
    return answer.status, json.loads(answer.body)


def test_report_close_dedupe_token_cache_and_ops(
    topology: Settings, feishu: FakeFeishu, orders: SqlWorkOrders, storage: Any
) -> None:
    app_settings = fs.feishu_settings(topology, feishu, max_image_bytes=200_000)
    with _live(app_settings, orders, storage) as live:
        store: SessionStore = live.runtime.store
        assert store.shared and store.redis is not None
        client = fs.FeishuClient(live)
        assert client.image(feishu, photo(1)).status == 200
        client.text("1")  # no VLM: the user picks the type from the list
        client.location("北京市 东城区 3号楼", "39.90", "116.39")
        confirm = client.event("text", {"text": "确认"})
        client.post(confirm)
        order_id = order_id_in(feishu.texts())
        replies = len(feishu.calls("reply"))

        # Feishu redelivers an event it thinks was lost: answered 200, nothing said or done twice.
        assert client.post(confirm).status == 200
        assert len(feishu.calls("reply")) == replies
        assert sum(order_id in text for text in feishu.texts()) == 1

        client.text(f"close {order_id}")
        client.image(feishu, photo(2))
        assert orders.get(order_id).status == "closed"
        assert f"Order {order_id} is closed" in feishu.texts()[-1]
        # One token for every call of the run, cached in this Redis for every process.
        assert len(feishu.calls("token")) == 1
        assert store.redis.get(store.key("token", "feishu", fs.APP_ID))

        status, found = _api(live, "GET", f"/sessions?q={fs.OPEN_ID[-8:]}")
        assert status == 200 and [s["key"] for s in found["items"]] == [USER_KEY]
        status, stats = _api(live, "GET", "/stats")
        assert status == 200 and stats["sessions"]["active"] >= 1 and stats["turns_last_hour"] == 6
        if topology.redis_cluster:  # the whole cluster's memory, not one node's
            assert stats["redis"]["masters"] == 3 and stats["redis"]["used_memory"] > 3 * 1_000_000
        client.text(f"close {order_id}")  # stuck waiting for a close photo of a closed order, say
        status, reset = _api(live, "POST", f"/sessions/{USER_KEY}/reset", {"notify": True})
        assert status == 200 and reset["state"] == "idle" and reset["notified"] is True
        assert feishu.texts()[-1] == "Ops have reset your conversation; you can start again."


def test_sentinel_failover_turns_resume_with_the_session(
    sentinel: SentinelSetup, settings: Settings, orders: SqlWorkOrders, storage: Any
) -> None:
    """Kill the master: the sentinels promote the replica, and the bot follows without a restart."""
    app_settings = settings.with_(
        redis_sentinels=sentinel.sentinels,
        redis_sentinel_master=sentinel.master_name,
        generic_webhook_token="generic-token",
    )
    headers = {"Authorization": "Bearer generic-token", "Content-Type": "application/json"}
    with _live(app_settings, orders, storage) as live:

        def turn(text: str, n: int) -> Any:
            body = json.dumps({"user_id": "guard-9", "text": text, "message_id": f"m{n}"}).encode()
            return live.call("POST", "/webhook/generic", body=body, headers=headers, settle=False)

        first = turn("report", 0)
        assert first.status == 200 and json.loads(first.body)["state"] == "idle"
        store = live.runtime.store
        store.redis.wait(1, 5000)  # the replica has everything acknowledged so far (see README: what can be lost)
        before = store.load("generic:default:guard-9")
        assert before is not None and before.turns == 1

        sentinel.kill_master()
        killed_at = time.monotonic()
        answers = []
        n = 1
        while time.monotonic() - killed_at < 30:
            answer = turn("help", n)
            answers.append(answer.status)
            if answer.status == 200:
                break
            assert answer.status == 503, answer.text  # the store is briefly away: never a 500
            n += 1
            time.sleep(0.2)
        resumed_after = time.monotonic() - killed_at
        assert answers[-1] == 200 and resumed_after < 15, (answers, resumed_after)
        assert sentinel.current_master() == sentinel.replica_port
        after = store.load("generic:default:guard-9")
        assert after is not None and after.turns == 2  # the turn before the failover survived it


def test_a_waiting_turn_is_woken_on_the_cluster(cluster_url: str, settings: Settings) -> None:
    """The release script pushes to the next ticket's wake list, a key it builds itself (same slot as the user)."""
    store = build_store(settings.with_(redis_url=cluster_url, redis_cluster=True))
    skey, order, holding = "slack:T1:U1", [], threading.Event()

    def second() -> None:
        holding.wait()
        with store.lock(skey) as ticket:
            order.append(("second", time.monotonic()))
            _, session = store.open_turn(skey, None, ticket)
            assert session is not None and session.turns == 1

    waiter = threading.Thread(target=second)
    waiter.start()
    with store.lock(skey) as ticket:
        holding.set()
        time.sleep(0.3)  # the second turn queues behind this one
        order.append(("first", time.monotonic()))  # then releases in the save
        store.save(Session(key=skey, turns=1), ticket=ticket)
    waiter.join(5)
    assert [name for name, _ in order] == ["first", "second"]
    assert order[1][1] - order[0][1] < 0.5  # woken by the release, not by the once-a-second check


def test_turns_keep_arrival_order_on_the_cluster(cluster_url: str, settings: Settings) -> None:
    """On a Cluster the claim, the stream and the user's lock queue are in three slots: the turn's place is reserved
    on a round trip of its own, on the user's slot, and the second message's turn still waits for the first."""
    store = build_store(settings.with_(redis_url=cluster_url, redis_cluster=True))
    check_the_second_message_picked_up_first_waits(settings, store)

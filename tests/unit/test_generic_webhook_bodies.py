"""``POST /webhook/generic`` with what nobody should send: random bodies (never a 500), text that cannot be UTF-8,
an empty photo; and a VLM that is down, answered through the app like any turn.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from flask.testing import FlaskClient

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from bot.ports import Analysis, Photo, Verdict, VlmError
from bot.replies import say
from handlers.web.app import create_app
from tests.unit.test_generic_webhook import TYPE_LIST, URL, b64, client, make_client, pic, post  # noqa: F401 - fixtures


# -- a turn that logs a warning (VLM down) still answers normally through the app ------------------------------
class DownVlm:
    """The Vlm port, always failing the way a timeout or an HTTP 500 does."""

    def analyze(self, photos: Sequence[Photo], alarm_types: tuple[str, ...], history: list[dict]) -> Analysis:
        raise VlmError("timed out")

    def verify_fixed(self, before: Sequence[Photo], after: Photo, description: str, history: list[dict]) -> Verdict:
        raise VlmError("timed out")


def test_vlm_down_through_the_app(
    settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> None:
    app = create_app(settings, store=fake_store, storage=storage, orders=orders, vlm=DownVlm())
    client = app.test_client()
    r = post(client, user_id="carol", image_base64=b64(pic(1)))
    assert r.status_code == 200
    assert r.get_json()["replies"] == [say("zh", "vlm_failed"), say("zh", "ask_type", choices=TYPE_LIST)]
    assert say("zh", "choice_retry") in [a["label"] for a in r.get_json()["actions"]]
    assert r.get_json()["state"] == "waiting_location"


# -- fuzz -----------------------------------------------------------------------------------------------------
def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["none", "bool", "int", "float", "str", "b64", "b64img"] + (["list", "dict"] if depth < 2 else [])
    kind = rng.choice(kinds)
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, -1, 1, 91, 181, 2**63, -(2**70), rng.randint(-1000, 1000)])
    if kind == "float":
        return rng.choice([float("nan"), float("inf"), -0.0, 1e308, rng.uniform(-200, 200)])
    if kind == "str":
        alphabet = "ab:确认取消结单WO-ALM12 \n\t\x00\u202e\ud800😀/\\\"'%"
        return "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 5, 40, 200])))
    if kind == "b64":
        return b64(rng.randbytes(rng.randint(0, 64)))
    if kind == "b64img":
        data = pic(rng.randint(1, 3))
        return b64(data[: rng.randint(0, len(data))])  # often truncated: a header that does not decode
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {
        rng.choice(["latitude", "longitude", "label", "x"]): _random_value(rng, depth + 1)
        for _ in range(rng.randint(0, 4))
    }


def _random_body(rng: random.Random) -> bytes:
    shape = rng.random()
    if shape < 0.1:
        return rng.randbytes(rng.randint(0, 50))
    if shape < 0.2:
        return json.dumps(_random_value(rng)).encode("utf-8", "surrogatepass")
    body: dict[str, Any] = {}
    if rng.random() < 0.9:
        body["user_id"] = rng.choice(["fz1", "fz2", "fz3"] * 12 + ["", "a:b", 7, None, "x" * 130])
    if rng.random() < 0.15:
        body["tenant"] = _random_value(rng)
    if rng.random() < 0.3:
        body["message_id"] = rng.choice(["m1", "m2", 3, True, "", None])
    field = rng.choice(["text", "text", "image_base64", "location", "location"])
    if field == "text" and rng.random() < 0.6:
        body["text"] = rng.choice(["确认", "取消", "1", "2", "结单", "帮助", "状态", "我的工单", "告警 ALM-1", "某处"])
    elif field == "location" and rng.random() < 0.5:
        body["location"] = {
            "latitude": rng.uniform(-100, 100),
            "longitude": rng.uniform(-200, 200),
            "label": rng.choice(["", "B1", 3]),
        }
    else:
        body[field] = _random_value(rng)
    if rng.random() < 0.15:
        body[rng.choice(["text", "image_base64", "location"])] = _random_value(rng)
    return json.dumps(body, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")


def test_fuzz_never_500(client: FlaskClient) -> None:
    rng = random.Random(20240521)
    seen: dict[int, int] = {}
    for i in range(200):
        body = _random_body(rng)
        r = client.post(URL, data=body, content_type="application/json")
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
        # 503 would be the catch-all hiding a bug: with the store up, only these are valid answers
        assert r.status_code in (200, 400, 413), (i, body[:300], r.status_code, r.get_data(as_text=True)[:300])
        payload = r.get_json()
        assert isinstance(payload, dict) and ("error" in payload or "replies" in payload)
    assert seen.get(200, 0) >= 20 and seen.get(400, 0) >= 20, seen  # the fuzz reaches both sides


def test_replies_are_readable_utf8_not_unicode_escapes(client: FlaskClient) -> None:
    r = post(client, user_id="alice", text="帮助")
    raw = r.get_data()
    assert r.status_code == 200 and b"\\u" not in raw
    assert "我可以" in raw.decode("utf-8")


def test_a_response_that_cannot_be_utf8_falls_back_to_escapes(client: FlaskClient) -> None:
    app = client.application
    with app.app_context():
        text = app.json.dumps({"reply": "bad \ud800 half"})
    assert text.isascii() and json.loads(text) == {"reply": "bad \ud800 half"}


def test_an_empty_photo_is_called_empty(client: FlaskClient) -> None:
    r = post(client, user_id="alice", image_base64="")
    assert r.status_code == 400 and r.get_json()["error"] == "image_base64 is empty"

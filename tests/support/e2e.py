"""The end-to-end tests' app on real parts (``Stack``) and how they drive it over ``/webhook/generic`` (``Web``)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from flask import Flask
from flask.testing import FlaskClient

from bot.adapters.redis.records import record_json
from bot.config import Settings
from bot.ports import Order, Reporter
from handlers.runner.runtime import Runtime
from handlers.web.app import runtime_of
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.s3_server import LocalS3
from tests.support.engine import REDIS_URL

USER = "alice"
SESSION = f"generic:default:{USER}"
REPORTER = Reporter("generic", "default", USER)

LEAK = {
    "alarm_type": "漏水",
    "description": "泵房地面有大片积水，水从管道接头渗出。",
    "severity": "high",
    "confidence": 0.92,
}
FIXED = {"resolved": True, "reason": "地面已干燥，接头已更换。"}
NOT_FIXED = {"resolved": False, "reason": "地面仍有积水。"}


def answer(values: dict[str, Any]) -> str:
    return json.dumps(values, ensure_ascii=False)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def data_url_bytes(url: str) -> bytes:
    head, _, payload = url.partition(",")
    assert head.startswith("data:image/") and head.endswith(";base64"), head
    return base64.b64decode(payload)


# -- the stack ------------------------------------------------------------------------------------------------
class Web:
    """One user of the generic webhook, through any ``post(body) -> (status, json)`` transport."""

    def __init__(self, post: Callable[[dict], tuple[int, dict]], user: str = USER, tenant: str = "default") -> None:
        self.post, self.user, self.tenant = post, user, tenant

    def send(self, message_id: str | None = None, **fields: Any) -> dict:
        body: dict[str, Any] = {"user_id": self.user, "tenant": self.tenant, **fields}
        if message_id is not None:
            body["message_id"] = message_id
        status, data = self.post(body)
        assert status == 200, (status, data)
        return data

    def text(self, text: str, message_id: str | None = None) -> dict:
        return self.send(message_id, text=text)

    def image(self, data: bytes, message_id: str | None = None) -> dict:
        return self.send(message_id, image_base64=b64(data))

    def location(self, label: str, lat: float, lng: float) -> dict:
        return self.send(location={"latitude": lat, "longitude": lng, "label": label})


WEBHOOK_TOKEN = "e2e-generic-token"
WEBHOOK_AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}


def authorized_client(app: Flask) -> FlaskClient:
    """A client that sends the generic webhook's bearer token (needed whenever REDIS_URL is set)."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = WEBHOOK_AUTH["Authorization"]
    return client


def flask_post(app: Flask) -> Callable[[dict], tuple[int, dict]]:
    client = authorized_client(app)

    def post(body: dict) -> tuple[int, dict]:
        # Encoded as a client would (stdlib json escapes non-ASCII, so lone surrogates travel as \ud800).
        response = client.post("/webhook/generic", data=json.dumps(body), content_type="application/json")
        return response.status_code, response.get_json()

    return post


@dataclass
class Stack:
    app: Flask
    settings: Settings
    vlm: FakeOpenAI
    s3: LocalS3
    redis: redis.Redis
    web: Web = field(init=False)

    def __post_init__(self) -> None:
        self.web = Web(flask_post(self.app))

    @property
    def runtime(self) -> Runtime:
        return runtime_of(self.app)

    @property
    def orders(self) -> Any:
        return self.runtime.services.orders

    def session_json(self, skey: str = SESSION) -> dict | None:
        raw = self.redis.get(self.runtime.store.session_redis_key(skey))
        return json.loads(record_json(raw)) if raw is not None else None

    def objects(self) -> list[str]:
        """This test's objects in the bucket (the bucket is shared by the module, the prefix is not)."""
        return [k for k in self.s3.objects() if k.startswith(self.settings.s3_prefix)]

    def object_bytes(self, key: str) -> bytes:
        return self.s3.client().get_object(Bucket=self.s3.bucket, Key=key)["Body"].read()

    def order(self, order_id: str) -> Order:
        found = self.orders.get(order_id)
        assert found is not None, order_id
        return found


def base_settings(tmp_path: Path, vlm: FakeOpenAI, s3: LocalS3) -> Settings:
    tag = uuid.uuid4().hex[:10]
    return Settings(
        redis_url=REDIS_URL,
        generic_webhook_token=WEBHOOK_TOKEN,
        redis_prefix=f"e2e{tag}",
        lock_timeout_seconds=5,
        database_url=f"sqlite:///{tmp_path / f'orders-{tag}.db'}",
        vlm_base_url=vlm.base_url,
        nlu_base_url="off",
        vlm_api_key="sk-e2e",
        vlm_model="vlm-e2e-model",
        vlm_timeout_seconds=5,
        s3_bucket=s3.bucket,
        s3_endpoint_url=s3.endpoint_url,
        s3_region="us-east-1",
        s3_prefix=f"e2e-{tag}/",
        storage_dir=str(tmp_path / "unused-images"),
    )


def choices(settings: Settings) -> str:
    return "\n".join(f"{i}. {name}" for i, name in enumerate(settings.alarm_type_list, 1))


def report(stack: Stack, picture: bytes, web: Web | None = None) -> str:
    """Photo → location → 确认 with a scripted analysis; the new order's id."""
    web = web or stack.web
    stack.vlm.respond_with(answer(LEAK), times=1)
    assert web.image(picture)["state"] == "waiting_location"
    assert web.text("3号楼地下一层泵房")["state"] == "waiting_confirm"
    done = web.text("确认")
    assert done["state"] == "idle" and done["order_id"], done
    return done["order_id"]

"""A local server that speaks the Feishu/Lark APIs the bot calls: tokens, replies, cards, images."""

from __future__ import annotations

import json

from tests.fakes.api_server import Answer, FakeServer, Recorded, bearer, form_parts, json_answer


class FakeFeishu(FakeServer):
    """Tenant token, message reply/create (with uuid de-duplication) and message resources."""

    name = "feishu"

    def __init__(self, app_id: str = "cli_test", app_secret: str = "feishu-secret") -> None:  # noqa: S107
        super().__init__()
        self.app_id, self.app_secret = app_id, app_secret
        self.valid_tokens: set[str] = set()
        self.resources: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.resource_kinds: dict[tuple[str, str], str] = {}
        self._uuids: dict[str, str] = {}
        self.delivered: list[dict] = []  # messages actually posted (after auth and uuid de-duplication)
        self.images: dict[str, bytes] = {}  # image_key → the bytes uploaded with im/v1/images
        self.reactions: list[dict] = []
        self.bot_open_id = "ou_bot_0001"  # GET /open-apis/bot/v3/info
        self.bot_info_calls = 0

    @property
    def base_url(self) -> str:
        return self.root_url

    def add_resource(
        self, message_id: str, file_key: str, data: bytes, content_type: str = "image/jpeg", kind: str = "image"
    ) -> None:
        """A message's resource, downloadable with ``?type=<kind>`` (``image`` or ``file``)."""
        with self._lock:
            self.resources[(message_id, file_key)] = (data, content_type)
            self.resource_kinds[(message_id, file_key)] = kind

    def expire_tokens(self) -> None:
        with self._lock:
            self.valid_tokens.clear()

    def texts(self, **match: str) -> list[str]:
        """The text of every message delivered (a card's text is its first element's)."""
        with self._lock:
            items = list(self.delivered)
        return [_feishu_text(d) for d in items if all(d.get(k) == v for k, v in match.items())]

    def message(self, message_id: str) -> dict:
        with self._lock:
            return next(d for d in self.delivered if d["message_id"] == message_id)

    def route(self, method: str, path: str) -> str:
        if method == "POST" and path == "/open-apis/auth/v3/tenant_access_token/internal":
            return "token"
        if method == "POST" and path == "/open-apis/im/v1/messages":
            return "create"
        if method == "GET" and path == "/open-apis/bot/v3/info":
            return "bot_info"
        if method == "POST" and path == "/open-apis/im/v1/images":
            return "image_upload"
        parts = path.split("/")  # ['', 'open-apis', 'im', 'v1', 'messages', ID, 'reply' | 'resources', KEY]
        if path.startswith("/open-apis/im/v1/messages/"):
            if method == "POST" and len(parts) == 7 and parts[6] == "reply":
                return "reply"
            if method == "GET" and len(parts) == 8 and parts[6] == "resources":
                return "resource"
            if method == "POST" and len(parts) == 7 and parts[6] == "reactions":
                return "reaction"
            if method == "PATCH" and len(parts) == 6:
                return "patch"
        return ""

    def on_token(self, rec: Recorded) -> Answer:
        body = rec.json or {}
        if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
            return json_answer({"code": 10014, "msg": "app secret invalid"}, 400)
        token = f"t-{self.next_id()}"
        self.valid_tokens.add(token)
        return json_answer({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200})

    def _auth_error(self, rec: Recorded) -> Answer | None:
        if bearer(rec) not in self.valid_tokens:
            return json_answer({"code": 99991663, "msg": "Invalid access token for authorization."}, 400)
        return None

    def _deliver(self, rec: Recorded, target: dict[str, str]) -> Answer:
        error = self._auth_error(rec)
        if error:
            return error
        body = rec.json or {}
        if body.get("msg_type") not in ("text", "interactive") or not _valid_content(body):
            return json_answer({"code": 230001, "msg": "invalid message content"}, 400)
        uuid = body.get("uuid")
        if uuid and uuid in self._uuids:
            return json_answer({"code": 0, "msg": "success", "data": {"message_id": self._uuids[uuid]}})
        message_id = f"om_sent_{self.next_id()}"
        if uuid:
            self._uuids[uuid] = message_id
        self.delivered.append(
            {**target, "msg_type": body["msg_type"], "content": body["content"], "message_id": message_id}
        )
        return json_answer({"code": 0, "msg": "success", "data": {"message_id": message_id}})

    def on_patch(self, rec: Recorded) -> Answer:
        """Update a sent card (only cards: Feishu refuses to PATCH a text message)."""
        error = self._auth_error(rec)
        if error:
            return error
        message_id, body = rec.path.split("/")[5], rec.json or {}
        sent = next((d for d in self.delivered if d["message_id"] == message_id), None)
        if sent is None or sent["msg_type"] != "interactive":
            return json_answer({"code": 230001, "msg": "message is not a card"}, 400)
        if not _valid_content({"msg_type": "interactive", "content": body.get("content")}):
            return json_answer({"code": 230001, "msg": "invalid card content"}, 400)
        sent["content"] = body["content"]
        return json_answer({"code": 0, "msg": "success"})

    def on_reaction(self, rec: Recorded) -> Answer:
        error = self._auth_error(rec)
        if error:
            return error
        emoji = ((rec.json or {}).get("reaction_type") or {}).get("emoji_type")
        if not emoji:
            return json_answer({"code": 231001, "msg": "reaction type is invalid"}, 400)
        self.reactions.append({"message_id": rec.path.split("/")[5], "emoji_type": emoji})
        return json_answer({"code": 0, "msg": "success", "data": {"reaction_id": f"r{self.next_id()}"}})

    def on_image_upload(self, rec: Recorded) -> Answer:
        """``im/v1/images``: multipart/form-data with ``image_type=message`` and the ``image`` file."""
        error = self._auth_error(rec)
        if error:
            return error
        fields = {part.get_param("name", header="content-disposition"): part for part in form_parts(rec)}
        image = fields.get("image")
        kind = fields.get("image_type")
        if image is None or kind is None or kind.get_content().strip() != "message":
            return json_answer({"code": 234001, "msg": "Invalid request param."}, 400)
        key = f"img_v2_{self.next_id()}"
        self.images[key] = image.get_payload(decode=True)
        return json_answer({"code": 0, "msg": "success", "data": {"image_key": key}})

    def on_bot_info(self, rec: Recorded) -> Answer:
        error = self._auth_error(rec)
        if error:
            return error
        self.bot_info_calls += 1
        bot = {"activate_status": 2, "app_name": "wobot", "open_id": self.bot_open_id, "ip_white_list": []}
        return json_answer({"code": 0, "msg": "ok", "bot": bot})

    def on_reply(self, rec: Recorded) -> Answer:
        in_thread = bool((rec.json or {}).get("reply_in_thread"))
        return self._deliver(rec, {"reply_to": rec.path.split("/")[5], "in_thread": in_thread})

    def on_create(self, rec: Recorded) -> Answer:
        body = rec.json or {}
        return self._deliver(
            rec, {"receive_id": str(body.get("receive_id")), "receive_id_type": rec.query.get("receive_id_type", "")}
        )

    def on_resource(self, rec: Recorded) -> Answer:
        error = self._auth_error(rec)
        if error:
            return error
        parts = rec.path.split("/")
        found = self.resources.get((parts[5], parts[7]))
        if found is None or rec.query.get("type") != self.resource_kinds.get((parts[5], parts[7])):
            return json_answer({"code": 234003, "msg": "File not in msg."}, 400)
        data, content_type = found
        return Answer(200, data, (("Content-Type", content_type),))


def _valid_content(body: dict) -> bool:
    """Text content is {"text": …}; card content a card JSON 2.0 with body.elements (as Feishu checks)."""
    try:
        content = json.loads(body.get("content") or "")
    except (TypeError, ValueError):
        return False
    if body.get("msg_type") == "text":
        return isinstance(content, dict) and isinstance(content.get("text"), str)
    return (
        isinstance(content, dict)
        and content.get("schema") == "2.0"
        and isinstance((content.get("body") or {}).get("elements"), list)
    )


def _feishu_text(delivered: dict) -> str:
    content = json.loads(delivered["content"])
    if delivered.get("msg_type") == "interactive":  # a group card opens with an @mention (markdown)
        return next(e["text"]["content"] for e in content["body"]["elements"] if "text" in e)
    return content["text"]


def feishu_buttons(delivered: dict) -> dict[str, dict]:
    """label → callback value of a delivered card's buttons."""
    if delivered.get("msg_type") != "interactive":
        return {}
    elements = json.loads(delivered["content"])["body"]["elements"]
    return {
        e["text"]["content"]: e["behaviors"][0]["value"]
        for e in elements
        if e.get("tag") == "button" and e.get("behaviors")
    }

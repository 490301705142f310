"""Local HTTP servers that speak the WeCom, Feishu and Slack APIs the bot calls.

Each records every request and answers like the platform does, including its
failure modes: tokens that expire (``expire_tokens()``), one-shot scripted answers
(``script(endpoint, answer, times=1)`` with ``rate_limited()``, ``server_error()``,
``html_login_page()`` or any ``Answer``), and platform-shaped error bodies.

    with FakeWeCom(corp_id="ww1", secret="s") as wecom:
        settings = Settings(wecom_api_base=wecom.base_url, ...)
        ...
        assert wecom.sent_texts("zhangsan") == ["收到"]
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import urllib.parse
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackServer

HTML_LOGIN = (
    b"<!DOCTYPE html><html><head><title>Slack</title></head>"
    b"<body><form action='/signin'>Sign in to your workspace</form></body></html>"
)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes = field(repr=False)
    endpoint: str = ""

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json; charset=utf-8"),)


def json_answer(data: Any, status: int = 200, **headers: str) -> Answer:
    extra = tuple((k.replace("_", "-"), v) for k, v in headers.items())
    return Answer(
        status,
        json.dumps(data, ensure_ascii=False).encode(),
        (("Content-Type", "application/json; charset=utf-8"), *extra),
    )


def rate_limited(retry_after: int = 1, body: Any = None) -> Answer:
    return json_answer(
        body if body is not None else {"ok": False, "error": "ratelimited"}, 429, Retry_After=str(retry_after)
    )


def server_error() -> Answer:
    return Answer(502, b"<html>bad gateway</html>", (("Content-Type", "text/html"),))


def html_login_page() -> Answer:
    """What Slack serves for a file URL without valid auth: a sign-in page, with status 200."""
    return Answer(200, HTML_LOGIN, (("Content-Type", "text/html; charset=utf-8"),))


class _FakeServer(LoopbackServer):
    """A threaded loopback server; subclasses route requests to endpoint names and answer them."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self._counter = itertools.count(1)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    # -- scripting and records ------------------------------------------------------------------------
    def script(self, endpoint: str, answer: Answer, times: int = 1) -> Any:
        """Answer the next ``times`` calls to ``endpoint`` with ``answer`` instead of the normal one."""
        with self._lock:
            self._scripts[endpoint].extend([answer] * times)
        return self

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def calls(self, endpoint: str) -> list[Recorded]:
        return [r for r in self.requests if r.endpoint == endpoint]

    def next_id(self) -> int:
        return next(self._counter)

    # -- serving ----------------------------------------------------------------------------------------
    def _serve(self, rec: Recorded) -> Answer:
        endpoint = self.route(rec.method, rec.path)
        rec = Recorded(rec.method, rec.path, rec.query, rec.headers, rec.body, endpoint)
        with self._lock:
            self._requests.append(rec)
            scripted = self._scripts[endpoint].popleft() if self._scripts[endpoint] else None
        if scripted is not None:
            return scripted
        if not endpoint:
            return json_answer({"error": "not found"}, 404)
        with self._lock:
            return getattr(self, f"on_{endpoint}")(rec)

    def route(self, method: str, path: str) -> str:
        raise NotImplementedError


def _handler_for(fake: _FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            parts = urllib.parse.urlsplit(self.path)
            rec = Recorded(
                self.command,
                parts.path,
                dict(urllib.parse.parse_qsl(parts.query)),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            answer = fake._serve(rec)
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = do_PATCH = _handle

    return Handler


def _bearer(rec: Recorded) -> str:
    auth = rec.headers.get("authorization", "")
    return auth[7:] if auth.startswith("Bearer ") else ""


# --- WeCom -------------------------------------------------------------------------------------------------


class FakeWeCom(_FakeServer):
    """``/cgi-bin/gettoken``, ``/cgi-bin/message/send``, ``/cgi-bin/media/get``. ``base_url`` = the API root."""

    name = "wecom"

    def __init__(self, corp_id: str = "ww-test-corp", secret: str = "wecom-secret") -> None:  # noqa: S107
        super().__init__()
        self.corp_id, self.secret = corp_id, secret
        self.valid_tokens: set[str] = set()
        self.media: dict[str, tuple[bytes, str]] = {}
        self.delivered: list[dict] = []
        self.card_updates: list[dict] = []
        self.used_codes: set[str] = set()

    @property
    def base_url(self) -> str:
        return self.root_url

    def add_media(self, media_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        with self._lock:
            self.media[media_id] = (data, content_type)

    def expire_tokens(self) -> None:
        """Every token issued so far is rejected from now on (as after an early invalidation)."""
        with self._lock:
            self.valid_tokens.clear()

    def sent(self, user: str | None = None) -> list[dict]:
        """Messages actually delivered (valid token, valid body), optionally to one user."""
        with self._lock:
            items = list(self.delivered)
        return [b for b in items if user is None or b.get("touser") == user]

    def sent_texts(self, user: str | None = None) -> list[str]:
        """What the user reads: text messages, and a card's title and text."""
        return [_wecom_text(b) for b in self.sent(user)]

    def cards(self, user: str | None = None) -> list[dict]:
        return [b["template_card"] for b in self.sent(user) if b.get("msgtype") == "template_card"]

    def route(self, method: str, path: str) -> str:
        return {
            ("GET", "/cgi-bin/gettoken"): "gettoken",
            ("POST", "/cgi-bin/message/send"): "send",
            ("POST", "/cgi-bin/message/update_template_card"): "update_card",
            ("GET", "/cgi-bin/media/get"): "media",
            ("POST", "/cgi-bin/appchat/send"): "appchat",
            ("POST", "/cgi-bin/media/upload"): "upload",
        }.get((method, path), "")

    def on_appchat(self, rec: Recorded) -> Answer:
        """``appchat/send``: to a group chat the app made; no template cards there."""
        error = self._token_error(rec)
        if error:
            return error
        body = rec.json
        if not isinstance(body, dict) or not body.get("chatid") or body.get("msgtype") not in ("text", "image"):
            return json_answer({"errcode": 40008, "errmsg": "invalid message type"})
        if body["msgtype"] == "image" and body["image"].get("media_id") not in self.media:
            return json_answer({"errcode": 40007, "errmsg": "invalid media_id"})
        self.delivered.append(body)
        return json_answer({"errcode": 0, "errmsg": "ok"})

    def on_upload(self, rec: Recorded) -> Answer:
        """``media/upload?type=image``: multipart/form-data with the file in field ``media``."""
        error = self._token_error(rec)
        if error:
            return error
        head = f"Content-Type: {rec.headers.get('content-type', '')}\r\n\r\n".encode()
        form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + rec.body)
        files = [p for p in form.iter_parts() if p.get_param("name", header="content-disposition") == "media"]
        if rec.query.get("type") != "image" or len(files) != 1:
            return json_answer({"errcode": 40004, "errmsg": "invalid media type"})
        media_id = f"up-{self.next_id()}"
        self.media[media_id] = (files[0].get_payload(decode=True), "image/jpeg")
        return json_answer({"errcode": 0, "errmsg": "ok", "type": "image", "media_id": media_id, "created_at": "1"})

    def on_gettoken(self, rec: Recorded) -> Answer:
        if rec.query.get("corpid") != self.corp_id or rec.query.get("corpsecret") != self.secret:
            return json_answer({"errcode": 40001, "errmsg": "invalid credential"})
        token = f"wecom-token-{self.next_id()}"
        self.valid_tokens.add(token)
        return json_answer({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})

    def _token_error(self, rec: Recorded) -> Answer | None:
        token = rec.query.get("access_token", "")
        if not token:
            return json_answer({"errcode": 41001, "errmsg": "access_token missing"})
        if token not in self.valid_tokens:
            return json_answer({"errcode": 42001, "errmsg": "access_token expired"})
        return None

    def on_send(self, rec: Recorded) -> Answer:
        error = self._token_error(rec)
        if error:
            return error
        body = rec.json
        if not isinstance(body, dict) or not isinstance(body.get("agentid"), int):
            return json_answer({"errcode": 40056, "errmsg": "invalid agentid"})
        if body.get("msgtype") == "template_card" and not _valid_card(body.get("template_card")):
            return json_answer({"errcode": 40058, "errmsg": "invalid template_card"})
        self.delivered.append(body)
        return json_answer(
            {
                "errcode": 0,
                "errmsg": "ok",
                "invaliduser": "",
                "invalidparty": "",
                "invalidtag": "",
                "unlicenseduser": "",
                "msgid": f"msg-{self.next_id()}",
            }
        )

    def on_update_card(self, rec: Recorded) -> Answer:
        """``update_template_card``: each response_code once (WeCom: single use, 72 h)."""
        error = self._token_error(rec)
        if error:
            return error
        body = rec.json or {}
        code = body.get("response_code")
        if not code or code in self.used_codes or not (body.get("button") or {}).get("replace_name"):
            return json_answer({"errcode": 40099, "errmsg": "invalid response_code"})
        self.used_codes.add(code)
        self.card_updates.append(body)
        return json_answer({"errcode": 0, "errmsg": "ok", "invaliduser": []})

    def on_media(self, rec: Recorded) -> Answer:
        error = self._token_error(rec)
        if error:
            return error
        found = self.media.get(rec.query.get("media_id", ""))
        if found is None:
            return json_answer({"errcode": 40007, "errmsg": "invalid media_id"})
        data, content_type = found
        return Answer(
            200, data, (("Content-Type", content_type), ("Content-disposition", 'attachment; filename="photo.jpg"'))
        )


def _valid_card(card: Any) -> bool:
    """A button_interaction card as WeCom checks it: task_id, a title, 1–6 buttons, ≤ 10 options."""
    if not isinstance(card, dict) or card.get("card_type") != "button_interaction":
        return False
    buttons = card.get("button_list") or []
    options = (card.get("button_selection") or {}).get("option_list") or []
    return (
        bool(card.get("task_id"))
        and bool((card.get("main_title") or {}).get("title"))
        and 1 <= len(buttons) <= 6
        and len(options) <= 10
        and all(b.get("key") and b.get("text") for b in buttons)
    )


def _wecom_text(sent: dict) -> str:
    if sent.get("msgtype") == "template_card":
        card = sent["template_card"]
        return "\n".join(p for p in (card["main_title"]["title"], card.get("sub_title_text", "")) if p)
    return sent["text"]["content"]


# --- Feishu ------------------------------------------------------------------------------------------------


class FakeFeishu(_FakeServer):
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
        if _bearer(rec) not in self.valid_tokens:
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
        head = f"Content-Type: {rec.headers.get('content-type', '')}\r\n\r\n".encode()
        form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + rec.body)
        fields = {part.get_param("name", header="content-disposition"): part for part in form.iter_parts()}
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


# --- Slack -------------------------------------------------------------------------------------------------


class FakeSlack(_FakeServer):
    """``/api/chat.postMessage``, ``chat.update``, ``reactions.add``, ``/api/files.info`` and
    ``/files-pri/...`` downloads (Bearer checked). Messages keep their ``blocks``; an update replaces them."""

    name = "slack"

    def __init__(self, bot_token: str = "xoxb-test-token") -> None:  # noqa: S107
        super().__init__()
        self.bot_token = bot_token
        self.files: dict[str, tuple[bytes, str]] = {}
        self.posted: list[dict] = []
        self.reactions: list[dict] = []
        self.ephemeral: list[dict] = []  # chat.postEphemeral: seen by one user only

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/api"

    def add_file(self, file_id: str, data: bytes, mimetype: str = "image/jpeg", name: str = "photo.jpg") -> dict:
        """Host a file and return its ``files[]`` entry as it appears in a message event."""
        with self._lock:
            self.files[file_id] = (data, mimetype)
        url = f"{self.root_url}/files-pri/T111-{file_id}/download/{name}"
        return {
            "id": file_id,
            "name": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "size": len(data),
            "url_private": url,
            "url_private_download": url,
        }

    def texts(self, channel: str | None = None) -> list[str]:
        with self._lock:
            items = list(self.posted)
        return [p["text"] for p in items if channel is None or p.get("channel") == channel]

    def route(self, method: str, path: str) -> str:
        if method == "POST" and path == "/api/chat.postMessage":
            return "post"
        if method == "POST" and path == "/api/chat.update":
            return "update"
        if method == "POST" and path == "/api/reactions.add":
            return "reaction"
        if method == "POST" and path == "/api/chat.postEphemeral":
            return "ephemeral"
        if method == "GET" and path == "/api/files.info":
            return "files_info"
        if method == "GET" and path.startswith("/files-pri/"):
            return "download"
        return ""

    def on_post(self, rec: Recorded) -> Answer:
        if _bearer(rec) != self.bot_token:
            return json_answer({"ok": False, "error": "invalid_auth"})
        body = rec.json or {}
        if not body.get("channel"):
            return json_answer({"ok": False, "error": "channel_not_found"})
        ts = f"1700000000.{self.next_id():06d}"
        self.posted.append(
            {
                "channel": body["channel"],
                "text": body.get("text", ""),
                "thread_ts": body.get("thread_ts"),
                "ts": ts,
                "blocks": body.get("blocks"),
            }
        )
        return json_answer({"ok": True, "channel": body["channel"], "ts": ts, "message": {"text": body.get("text")}})

    def on_update(self, rec: Recorded) -> Answer:
        if _bearer(rec) != self.bot_token:
            return json_answer({"ok": False, "error": "invalid_auth"})
        body = rec.json or {}
        sent = next((p for p in self.posted if p["ts"] == body.get("ts") and p["channel"] == body.get("channel")), None)
        if sent is None:
            return json_answer({"ok": False, "error": "message_not_found"})
        sent.update(text=body.get("text", sent["text"]), blocks=body.get("blocks"))
        return json_answer({"ok": True, "channel": sent["channel"], "ts": sent["ts"]})

    def on_reaction(self, rec: Recorded) -> Answer:
        if _bearer(rec) != self.bot_token:
            return json_answer({"ok": False, "error": "invalid_auth"})
        body = rec.json or {}
        if not body.get("name") or not body.get("timestamp") or not body.get("channel"):
            return json_answer({"ok": False, "error": "invalid_arguments"})
        self.reactions.append(body)
        return json_answer({"ok": True})

    def on_ephemeral(self, rec: Recorded) -> Answer:
        if _bearer(rec) != self.bot_token:
            return json_answer({"ok": False, "error": "invalid_auth"})
        body = rec.json or {}
        if not body.get("channel") or not body.get("user") or not body.get("text"):
            return json_answer({"ok": False, "error": "invalid_arguments"})
        self.ephemeral.append(body)
        return json_answer({"ok": True, "message_ts": f"1700000001.{self.next_id():06d}"})

    def message(self, ts: str) -> dict:
        with self._lock:
            return next(p for p in self.posted if p["ts"] == ts)

    def on_files_info(self, rec: Recorded) -> Answer:
        if _bearer(rec) != self.bot_token:
            return json_answer({"ok": False, "error": "invalid_auth"})
        file_id = rec.query.get("file", "")
        if file_id not in self.files:
            return json_answer({"ok": False, "error": "file_not_found"})
        url = f"{self.root_url}/files-pri/T111-{file_id}/download/photo"
        return json_answer({"ok": True, "file": {"id": file_id, "url_private_download": url}})

    def on_download(self, rec: Recorded) -> Answer:
        if _bearer(rec) != self.bot_token:
            return html_login_page()
        file_id = rec.path.split("/")[2].split("-", 1)[-1]
        found = self.files.get(file_id)
        if found is None:
            return Answer(404, b"not found", (("Content-Type", "text/plain"),))
        data, mimetype = found
        return Answer(200, data, (("Content-Type", mimetype),))

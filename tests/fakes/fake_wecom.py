"""A local server that speaks the WeCom APIs the bot calls: tokens, messages, cards, media."""

from __future__ import annotations

from typing import Any

from tests.fakes.api_server import Answer, FakeServer, Recorded, form_parts, json_answer


class FakeWeCom(FakeServer):
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
        files = [p for p in form_parts(rec) if p.get_param("name", header="content-disposition") == "media"]
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

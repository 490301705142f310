"""A Slack client for the tests: events as Slack sends them, signed with slack_sdk's own SignatureVerifier."""

from __future__ import annotations

import itertools
import json
import time
import urllib.parse
from typing import Any

from slack_sdk.signature import SignatureVerifier

from bot.config import Settings
from tests.fakes.platform_servers import FakeSlack
from tests.support.live import Live

SECRET, BOT_TOKEN = "8f742231b10e8888abcd99yyyzzz85a5", "xoxb-111-222-abc"
TEAM, USER, BOT_USER, CHANNEL = "T111", "U111", "U222", "D111"


def slack_settings(settings: Settings, api: FakeSlack, **extra: Any) -> Settings:
    """``settings`` for the Slack app served by the fake ``api`` (English unless ``extra`` says otherwise)."""
    return settings.with_(
        **{
            "language": "en",
            "slack_signing_secret": SECRET,
            "slack_bot_token": BOT_TOKEN,
            "slack_api_base": api.base_url,
            **extra,
        }
    )


class SlackClient:
    _ids = itertools.count(1)

    def __init__(self, live: Live, secret: str = SECRET) -> None:
        self.live = live
        self.verifier = SignatureVerifier(secret)

    def signed(self, payload: dict, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload, ensure_ascii=False).encode()
        ts = str(timestamp if timestamp is not None else int(time.time()))
        return body, {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=ts, body=body),
        }

    def post(
        self, payload: dict, headers: dict[str, str] | None = None, settle: bool = True, timestamp: int | None = None
    ) -> Any:
        body, signed = self.signed(payload, timestamp)
        return self.live.call("POST", "/webhook/slack", body=body, headers={**signed, **(headers or {})}, settle=settle)

    def event(self, event: dict, event_id: str | None = None) -> dict:
        n = next(self._ids)
        ts = f"{1652227646 + n}.{n:06d}"
        return {
            "token": "deprecated",
            "team_id": TEAM,
            "api_app_id": "A111",
            "type": "event_callback",
            "event_id": event_id or f"Ev{n:010d}",
            "event_time": 1652227646,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM,
                    "user_id": BOT_USER,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "event": {
                "type": "message",
                "channel": CHANNEL,
                "channel_type": "im",
                "user": USER,
                "ts": ts,
                "event_ts": ts,
                **event,
            },
        }

    def tap(self, slack: FakeSlack, label: str, message: dict | None = None, user: str = USER) -> Any:
        """Tap the button (or pick the select option) labelled ``label`` on the bot's last message that has
        one (or on ``message``): a ``block_actions`` payload as PLATFORMS.md §4.1 describes, form-encoded
        and signed like events."""
        message = message or next(p for p in reversed(slack.posted) if p.get("blocks") and _controls(p, label))
        element, value = _controls(message, label)[0]
        n = next(self._ids)
        block_id = next(b.get("block_id") for b in message["blocks"] if b.get("type") == "actions")
        action: dict[str, Any] = {
            "action_id": element["action_id"],
            "block_id": block_id,
            "type": element["type"],
            "action_ts": f"{1652227646 + n}.{n:06d}",
        }
        if element["type"] == "static_select":
            action["selected_option"] = {"text": {"type": "plain_text", "text": label}, "value": value}
        else:
            action.update(value=value, text=element["text"])
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": "guard", "name": "guard", "team_id": TEAM},
            "api_app_id": "A111",
            "token": "deprecated",
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": message["channel"],
                "is_ephemeral": False,
            },
            "trigger_id": f"{n}.111.abc",
            "team": {"id": TEAM, "domain": "field"},
            "channel": {"id": message["channel"], "name": "directmessage"},
            "message": {
                "type": "message",
                "user": BOT_USER,
                "ts": message["ts"],
                "text": message["text"],
                "blocks": message["blocks"],
                **({"thread_ts": message["thread_ts"]} if message.get("thread_ts") else {}),
            },
            "response_url": "https://hooks.slack.com/actions/T111/1/abc",
            "actions": [action],
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode()
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=ts, body=body),
        }
        return self.live.call("POST", "/webhook/slack", body=body, headers=headers)

    def text(self, text: str, **extra: Any) -> Any:
        return self.post(self.event({"text": text, "client_msg_id": f"c-{next(self._ids)}", **extra}))

    def image(self, slack: FakeSlack, data: bytes, text: str = "", **extra: Any) -> Any:
        f = slack.add_file(f"F{next(self._ids):08d}", data, "image/jpeg")
        return self.post(self.event({"subtype": "file_share", "text": text, "files": [f], **extra}))


def _controls(message: dict, label: str) -> list[tuple[dict, str]]:
    """(element, value) of the message's buttons and select options labelled ``label``."""
    found: list[tuple[dict, str]] = []
    for block in message.get("blocks") or []:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element["type"] == "button" and element["text"]["text"] == label:
                found.append((element, element["value"]))
            for option in element.get("options", []):
                if option["text"]["text"] == label:
                    found.append((element, option["value"]))
    return found


def buttons(message: dict) -> list[str]:
    """The labels a user sees on a message: buttons and select options."""
    labels: list[str] = []
    for block in message.get("blocks") or []:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            labels += [element["text"]["text"]] if element["type"] == "button" else []
            labels += [option["text"]["text"] for option in element.get("options", [])]
    return labels

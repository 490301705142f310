"""Feishu message cards (card JSON 2.0) for replies with choices, and the ``card.action.trigger`` tap.

A reply with choices is an ``interactive`` message: its text, then one button per choice whose
callback ``value`` is ``{"choice": <Choice.id>, "label": <label>}``. A tap arrives on the event URL,
encrypted and signed like any event (lark-oapi ``P2CardActionTrigger``: ``event.operator``,
``event.action.value``, ``event.context.open_message_id``); it is answered within Feishu's 3 s
with a toast, and the card is redrawn after the turn (``PATCH im/v1/messages/{id}``) without buttons.
"""

from __future__ import annotations

import json
from typing import Any

from bot.messages import Reply
from bot.orders.duty_card import DutyCard
from bot.replies import say
from handlers.platforms.base import Accepted, Ack, Ignored, Outcome, Rejected, string
from handlers.platforms.job import make_job

PLATFORM = "feishu"
_BUTTON_TYPES = {"primary": "primary", "danger": "danger", "": "default"}


def _text(content: str, *, grey: bool = False) -> dict[str, Any]:
    text: dict[str, Any] = {"tag": "plain_text", "content": content}
    if grey:
        text["text_color"] = "grey"
    return {"tag": "div", "text": text}


def _card(elements: list[dict[str, Any]]) -> dict[str, Any]:
    # update_multi: a shared card, so the redraw after a tap is what everyone in the chat sees
    return {"schema": "2.0", "config": {"update_multi": True}, "body": {"elements": elements}}


def card(reply: Reply, to: str = "") -> dict[str, Any]:
    """In a group the card opens with an @mention of ``to`` and its buttons carry ``for``: theirs only."""
    owner = {"for": to} if to else {}
    buttons = [
        {
            "tag": "button",
            "text": {"tag": "plain_text", "content": choice.label},
            "type": _BUTTON_TYPES[choice.style],
            "behaviors": [{"type": "callback", "value": {"choice": choice.id, "label": choice.label, **owner}}],
        }
        for choice in reply.choices
    ]
    mention = [{"tag": "markdown", "content": f"<at id={to}></at>"}] if to else []
    return _card([*mention, _text(reply.text), *buttons])


def duty(card: DutyCard, image_keys: list[str]) -> dict[str, Any]:
    """A duty card: a header, its fields, its photos (uploaded image keys), its status, and its buttons."""
    elements: list[dict[str, Any]] = [_text("\n".join(card.lines))]
    elements += [
        {"tag": "img", "img_key": key, "alt": {"tag": "plain_text", "content": card.order_id}} for key in image_keys
    ]
    elements.append(_text(card.status, grey=True))
    for n, button in enumerate(card.buttons):
        label = button.label
        elements.append(
            {
                "tag": "button",
                "text": {"tag": "plain_text", "content": label},
                "type": "primary" if n == 0 else "default",
                "behaviors": [{"type": "callback", "value": {"choice": button.id, "label": label}}],
            }
        )
    colour = "orange" if card.claim is not None else "blue" if card.buttons else "green"
    return {**_card(elements), "header": {"title": {"tag": "plain_text", "content": card.title}, "template": colour}}


def closed(text: str, note: str) -> dict[str, Any]:
    """The card after a tap: its text, and what became of its buttons."""
    return _card([_text(text), _text(note, grey=True)])


def content(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False)


def tap(settings_language: str, header: dict[str, Any], event: Any) -> Outcome:
    """``card.action.trigger``: a turn of the operator, by the choice id of the button's value."""
    if not isinstance(event, dict):
        raise Rejected(400, "card.action.trigger without an event")
    operator: dict[str, Any] = event["operator"] if isinstance(event.get("operator"), dict) else {}
    action: dict[str, Any] = event["action"] if isinstance(event.get("action"), dict) else {}
    context: dict[str, Any] = event["context"] if isinstance(event.get("context"), dict) else {}
    value: dict[str, Any] = action["value"] if isinstance(action.get("value"), dict) else {}
    open_id, tenant = string(operator, "open_id"), string(header, "tenant_key") or string(operator, "tenant_key")
    message_id, choice, event_id = (
        string(context, "open_message_id"),
        string(value, "choice"),
        string(header, "event_id"),
    )
    if not all((open_id, tenant, message_id, event_id)):
        raise Rejected(400, "card.action.trigger lacks operator open_id, tenant_key, open_message_id or event_id")
    if not choice:
        raise Rejected(400, "card.action.trigger: the button's value has no choice")
    owner = string(value, "for")
    if owner and owner != open_id:  # a card in a group for someone else: a toast, nothing changes
        return Ignored("a tap on someone else's card", answer=_toast(say(settings_language, "not_your_card")))
    job = make_job(
        PLATFORM,
        tenant=tenant,
        user=open_id,
        kind="action",
        action=choice,
        event_id=f"tap-{event_id}",
        chat=string(context, "open_chat_id"),
        card={"message_id": message_id},
        group=bool(owner),
        thread=message_id,
    )
    label = string(value, "label") or choice
    return Accepted(job, dedupe=(event_id,), answer=_toast(say(settings_language, "tap_received", label=label)))


def _toast(text: str) -> Ack:
    toast = {"toast": {"type": "info", "content": text}}
    return Ack(json.dumps(toast, ensure_ascii=False), "application/json")

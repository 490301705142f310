"""A reply as Slack Block Kit: its text in plain-text sections, its choices in one ``actions`` block.

Up to five choices are buttons; more (the alarm types) are one ``static_select``, with the ways out
("Cancel") still buttons beside it. Every button carries its ``Choice.id`` as ``value``; the message's
``text`` stays the whole reply, for notifications and clients without blocks. A tapped card is redrawn
with its text and a context line saying what was chosen, and no buttons.
"""

from __future__ import annotations

from typing import Any

from bot.messages import Choice, Reply
from bot.orders.duty_card import DutyCard
from bot.replies import say

MAX_BUTTONS = 5  # more choices than this become a select
_SECTION_CHARS = 3000  # Block Kit's limit for a section's text
_LABEL_CHARS = 75  # a button's or an option's text
ACTION_PREFIX = "wobot-"  # our action_ids; a tap on anything else is not ours


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit] or " ", "emoji": True}


def _sections(text: str) -> list[dict[str, Any]]:
    pieces = [text[i : i + _SECTION_CHARS] for i in range(0, len(text), _SECTION_CHARS)] or [" "]
    return [{"type": "section", "text": _plain(piece, _SECTION_CHARS)} for piece in pieces]


def _button(choice: Choice, n: int) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": f"{ACTION_PREFIX}{n}",
        "text": _plain(choice.label, _LABEL_CHARS),
        "value": choice.id,
    }
    if choice.style:
        button["style"] = choice.style
    return button


OWNER_PREFIX = "wobot-for-"  # the actions block of a card in a group names the user it is for


def blocks(reply: Reply, language: str, *, mention: str = "", owner: str = "") -> list[dict[str, Any]]:
    """The reply's blocks; in a group, ``mention`` (a user id) opens it and ``owner`` marks whose buttons
    they are, so a tap by anyone else is told apart (``card_owner``)."""
    top = [{"type": "section", "text": {"type": "mrkdwn", "text": f"<@{mention}>"}}] if mention else []
    if not reply.choices:
        return [*top, *_sections(reply.text)]
    picks = [c for c in reply.choices if c.style != "danger"]
    exits = [c for c in reply.choices if c.style == "danger"]
    elements: list[dict[str, Any]] = []
    if len(picks) > MAX_BUTTONS:
        elements.append(
            {
                "type": "static_select",
                "action_id": f"{ACTION_PREFIX}select",
                "placeholder": _plain(say(language, "choose_placeholder"), 150),
                "options": [{"text": _plain(c.label, _LABEL_CHARS), "value": c.id} for c in picks[:100]],
            }
        )
    else:
        elements += [_button(c, n) for n, c in enumerate(picks)]
    elements += [_button(c, len(picks) + n) for n, c in enumerate(exits)]
    block_id = f"{OWNER_PREFIX}{owner}" if owner else "wobot-choices"
    return [*top, *_sections(reply.text), {"type": "actions", "block_id": block_id, "elements": elements}]


def duty(card: DutyCard, photo_urls: list[str]) -> list[dict[str, Any]]:
    """A duty card: title and fields, up to four photos, its status, and the buttons of the order's life status."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(card.title, 150)},
        *_sections("\n".join(card.lines)),
        *(
            {"type": "image", "image_url": url, "alt_text": f"{card.order_id} photo {n}"}
            for n, url in enumerate(photo_urls[:4], 1)
        ),
        {"type": "context", "elements": [_plain(card.status, _SECTION_CHARS)]},
    ]
    if card.buttons:
        elements = [_button(c, n) for n, c in enumerate(card.buttons)]  # a tap is read by its value; ids unique
        blocks.append({"type": "actions", "block_id": "wobot-duty", "elements": elements})
    return blocks


def card_owner(action: dict[str, Any]) -> str:
    """The user a tapped card was for ("" when it was sent in a direct chat)."""
    block_id = action.get("block_id")
    return (
        block_id.removeprefix(OWNER_PREFIX) if isinstance(block_id, str) and block_id.startswith(OWNER_PREFIX) else ""
    )


def closed(text: str, note: str) -> list[dict[str, Any]]:
    """The card after a tap: its text, and what became of its buttons."""
    return [*_sections(text), {"type": "context", "elements": [_plain(note, _SECTION_CHARS)]}]


def tapped_value(action: dict[str, Any]) -> str:
    """The choice id a ``block_actions`` action carries: a button's value or the selected option's."""
    value = action.get("value")
    if isinstance(value, str):
        return value
    selected = action.get("selected_option")
    chosen = selected.get("value") if isinstance(selected, dict) else None
    return chosen if isinstance(chosen, str) else ""

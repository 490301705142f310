"""WeCom template cards (``button_interaction``) for replies with choices, and the ``template_card_event`` tap.

Up to six choices are buttons whose ``key`` is the ``Choice.id``. More (the alarm types) are a
``button_selection`` dropdown (its option ids are the choice ids) with a submit button whose key ends
in ``.pick``: the tap then carries the picked option in ``SelectedItems``. WeCom shows a card's title
and about 112 characters of text; a longer reply goes out as text first, and the card then carries
its first line and the buttons. After the turn, ``update_template_card`` greys the buttons out with the choice taken.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET  # only the Element type; parsing is defusedxml's
from typing import Any

from bot.messages import Choice, Reply
from bot.orders.duty_card import DutyCard
from bot.replies import say
from handlers.platforms.base import Accepted, Outcome, Rejected
from handlers.platforms.job import make_job

PLATFORM = "wecom"
MAX_BUTTONS = 6
MAX_OPTIONS = 10
TITLE_CHARS, TEXT_CHARS = 26, 112  # what a card shows of its title and its text
PICK = "pick"  # the submit button of a dropdown: the choice is the selected option
_STYLES = {"primary": 1, "": 2, "danger": 3}


def duty(card: DutyCard) -> dict[str, Any]:
    """A duty card's buttons as a ``button_interaction`` card (its full text was sent just before; at most 6)."""
    assert card.buttons
    return {
        "card_type": "button_interaction",
        "main_title": {"title": card.title[:TITLE_CHARS]},
        "sub_title_text": card.status[:TEXT_CHARS],
        "task_id": f"wobot-duty-{secrets.token_hex(8)}",
        "button_list": [{"text": c.label, "style": _STYLES[c.style], "key": c.id} for c in card.buttons[:6]],
    }


def fits(text: str) -> bool:
    """Does the whole text fit on a card (a short first line, and the rest within the card's text)?"""
    title, _, rest = text.partition("\n")
    return len(title) <= TITLE_CHARS and len(rest.strip()) <= TEXT_CHARS


def template_card(reply: Reply, language: str) -> dict[str, Any]:
    """The ``template_card`` of a ``message/send`` body: the reply's text when it ``fits``, else only its
    first line as the title (the sender has sent the whole text just before)."""
    title, _, rest = reply.text.strip().partition("\n")
    if not fits(reply.text):
        rest = ""
    token = reply.choices[0].id.partition(".")[0]
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "main_title": {"title": title[:TITLE_CHARS]},
        "task_id": f"wobot-{token}-{secrets.token_hex(6)}",
    }
    if rest.strip():
        card["sub_title_text"] = rest.strip()[:TEXT_CHARS]
    shown_as_buttons = list(reply.choices)
    if len(reply.choices) > MAX_BUTTONS:
        picks = [c for c in reply.choices if c.style != "danger"]
        shown_as_buttons = [Choice(f"{token}.{PICK}", say(language, "choice_confirm"), "primary")]
        shown_as_buttons += [c for c in reply.choices if c.style == "danger"]
        card["button_selection"] = {
            "question_key": "choice",
            "title": say(language, "choose_placeholder"),
            "option_list": [{"id": c.id, "text": c.label} for c in picks[:MAX_OPTIONS]],
        }
    card["button_list"] = [{"text": c.label, "style": _STYLES[c.style], "key": c.id} for c in shown_as_buttons]
    return card


def tap(corp_id: str, user: str, msg: ET.Element) -> Outcome:
    """``template_card_event``: a turn of the user who tapped, by the button's key (or the picked option)."""
    key = (msg.findtext("EventKey") or "").strip()
    task_id = (msg.findtext("TaskId") or "").strip()
    code = (msg.findtext("ResponseCode") or "").strip()
    if not key or not task_id:
        raise Rejected(400, "template_card_event without EventKey or TaskId")
    action = key
    if key.endswith(f".{PICK}"):
        picked = [(o.text or "").strip() for o in msg.iterfind("SelectedItems/SelectedItem/OptionIds/OptionId")]
        action = picked[0] if picked and picked[0] else key  # nothing picked: a stale "pick" says so
    event_id = f"tap-{task_id}-{key}-{(msg.findtext('CreateTime') or '').strip()}"
    job = make_job(
        PLATFORM,
        tenant=corp_id,
        user=user,
        kind="action",
        action=action,
        event_id=event_id,
        chat=user,
        card={"response_code": code, "task_id": task_id},
    )
    return Accepted(job, dedupe=(event_id,))

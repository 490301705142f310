"""Which order a message names: its id, the id's last five characters, or its number in the list last shown."""

from __future__ import annotations

from bot.dialogue.context import TurnContext
from bot.ports import Order


def find_order(ctx: TurnContext, ref: str) -> Order | None:
    """The order ``ref`` names in the user's tenant, or None (unknown, or several share those characters).
    Raises ServiceError when the database is down."""
    orders, me = ctx.services.orders, ctx.reporter()
    if "-" in ref:
        return orders.get(ref, me.home)
    if ref.isdigit():
        number, listed = int(ref), ctx.session.listed
        if listed:
            return orders.get(listed[number - 1], me.home) if number <= len(listed) else None
        mine = orders.open_for(me)  # no list shown yet: the numbers "我的工单" would show
        return mine[number - 1] if number <= len(mine) else None
    mine = [order for order in orders.open_for(me) if order.id.endswith(ref)]
    if len(mine) == 1:
        return mine[0]
    found = orders.ending_with(me.home, ref, limit=2)
    return found[0] if len(found) == 1 else None

"""While a platform's API is down, a turn's replies get one attempt and no waits, so the consumer threads every
platform shares are not held 3.5 s per reply (``handlers.platforms.outbound.Outage``)."""

from __future__ import annotations

import time

import fakeredis

from bot.config import Settings
from handlers.app import create_app, runtime_of
from handlers.platforms.outbound import DONE, Attempt, Outage, RetryPolicy, deliver, fail, retry
from tests.support.engine import store_for


def _policy(outage: Outage, slept: list[float]) -> RetryPolicy:
    return RetryPolicy(attempts=4, base_seconds=0.5, sleep=slept.append, outage=outage)


def test_after_five_undelivered_replies_a_reply_gets_one_attempt_until_one_goes_through() -> None:
    outage, slept, tries = Outage("slack"), [], []

    def unreachable() -> Attempt:
        tries.append(1)
        return retry("connection refused")

    for _ in range(5):
        assert deliver(unreachable, policy=_policy(outage, slept), platform="slack", session="s") is False
    assert len(tries) == 20 and slept == [0.5, 1.0, 2.0] * 5 and outage.down  # retried as usual, then down
    tries.clear()
    slept.clear()
    assert deliver(unreachable, policy=_policy(outage, slept), platform="slack", session="s") is False
    assert len(tries) == 1 and slept == []  # no waits while it is down

    assert deliver(lambda: DONE, policy=_policy(outage, slept), platform="slack", session="s") is True
    assert not outage.down
    tries.clear()
    deliver(unreachable, policy=_policy(outage, slept), platform="slack", session="s")
    assert len(tries) == 4  # up again: retried as usual


def test_refusals_say_the_api_is_up_and_the_down_period_ends_on_its_own() -> None:
    outage, slept = Outage("wecom", after=2, seconds=0.05), []
    for _ in range(5):
        deliver(lambda: fail("81013 user not found"), policy=_policy(outage, slept), platform="wecom", session="s")
    assert not outage.down  # the API answered: it is the message, not the platform
    for _ in range(2):
        deliver(lambda: retry("HTTP 502"), policy=_policy(outage, slept), platform="wecom", session="s")
    assert outage.down
    time.sleep(0.06)
    assert not outage.down  # tried again as usual after the period: the next failure starts a new one


def test_each_platform_of_a_process_has_its_own(settings: Settings) -> None:
    app = create_app(settings, store=store_for(fakeredis.FakeRedis(), settings), vlm=None)
    runtime = runtime_of(app)
    slack, again, wecom = (runtime.reply_policy(p).outage for p in ("slack", "slack", "wecom"))
    assert slack is not None and slack is again and wecom is not None and wecom is not slack
    for _ in range(slack.after):
        slack.undelivered()
    assert slack.down and not wecom.down

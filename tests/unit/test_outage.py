"""While a platform's API is down, a turn's replies are not tried but for a probe every two seconds, so the
consumer threads every platform shares are not held 3.5 s per reply, nor the logs flooded with a line per reply
(``handlers.platforms.outbound.Outage``)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

import fakeredis
import pytest

from bot.config import Settings
from handlers.platforms.outbound import DONE, Attempt, Outage, RetryPolicy, deliver, fail, retry
from handlers.web.app import create_app, runtime_of
from tests.support.engine import store_for


def _policy(outage: Outage, slept: list[float]) -> RetryPolicy:
    return RetryPolicy(attempts=4, base_seconds=0.5, sleep=slept.append, outage=outage)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_after_five_failed_attempts_only_a_probe_every_two_seconds_is_tried_until_one_goes_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    outage, slept, tries = Outage("slack", clock=clock), [], []

    def unreachable() -> Attempt:
        tries.append(1)
        return retry("connection refused")

    def send(attempt: Callable[[], Attempt] = unreachable) -> bool:
        return deliver(attempt, policy=_policy(outage, slept), platform="slack", session="s")

    caplog.set_level(logging.INFO, logger="handlers.platforms.outbound")
    for _ in range(2):
        assert send() is False
    # The first reply retried as usual (4 attempts); the second's first attempt was the fifth failure in a row.
    assert len(tries) == 5 and slept == [0.5, 1.0, 2.0] and outage.down
    tries.clear()
    slept.clear()
    caplog.clear()
    for _ in range(50):  # a burst of turns within the same second: not one of their replies is tried
        assert send() is False
    assert tries == [] and slept == [] and outage.not_sent == 50
    clock.now += 2.0
    assert send() is False and send() is False
    assert len(tries) == 1 and slept == []  # the probe: one attempt, no waits; the next reply waits for the next
    assert [r.levelname for r in caplog.records] == ["INFO"]  # not an ERROR line per reply while it is down

    clock.now += 2.0
    assert send(lambda: DONE) is True  # the probe goes through: up again
    assert not outage.down and outage.not_sent == 0
    assert "slack API answers again: 51 replies were not sent while it was down" in caplog.text
    tries.clear()
    send()
    assert len(tries) == 4  # retried as usual


def test_a_long_outage_is_said_again_every_minute_and_refusals_say_the_api_is_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    outage, slept = Outage("wecom", after=2, clock=clock), []

    def send(attempt: Callable[[], Attempt]) -> None:
        deliver(attempt, policy=_policy(outage, slept), platform="wecom", session="s")

    for _ in range(5):
        send(lambda: fail("81013 user not found"))
    assert not outage.down  # the API answered: it is the message, not the platform
    caplog.set_level(logging.WARNING, logger="handlers.platforms.outbound")
    send(lambda: retry("HTTP 502"))  # two attempts, both failed: down
    assert outage.down and slept == [0.5]
    for _ in range(40):  # a minute, a reply every 1.5 s: every other one is a probe (and fails), the rest not sent
        clock.now += 1.5
        send(lambda: retry("HTTP 502"))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings[0].startswith("wecom API is down (2 attempts in a row failed)")
    assert warnings[1:] == ["wecom API is still down: 20 replies not sent so far"]


def test_a_probe_the_api_refuses_ends_the_outage_but_a_crash_of_ours_does_not() -> None:
    clock = Clock()
    outage, slept = Outage("feishu", after=1, clock=clock), []

    def send(attempt: Callable[[], Attempt]) -> bool:
        return deliver(attempt, policy=_policy(outage, slept), platform="feishu", session="s")

    def crash() -> Attempt:
        raise RuntimeError("a bug in the sender")

    send(lambda: retry("HTTP 503"))
    assert outage.down
    clock.now += 2.0
    assert send(crash) is False and outage.down  # our bug says nothing about the API
    clock.now += 2.0
    assert send(lambda: fail("230002 the bot is not in the chat")) is False
    assert not outage.down  # the API answered, with a reason of its own: it is up


def test_at_the_start_of_an_outage_replies_waiting_to_retry_give_up_instead_of_holding_their_threads() -> None:
    """Eight consumer threads each send a reply as the API goes down: without the breaker each would hold its
    thread for the whole retry sequence (4 attempts, 3.5 s of waits). The fifth failure opens it: the replies
    already waiting retry once more and stop, the later ones are not tried."""
    outage, start = Outage("slack"), threading.Barrier(8)
    tries: Counter[int] = Counter()

    def unreachable() -> Attempt:
        tries[threading.get_ident()] += 1
        return retry("connection refused")

    def wait_for_the_others(seconds: float) -> None:  # a retry's wait, ended as soon as the platform is down
        deadline = time.monotonic() + 5
        while not outage.down and time.monotonic() < deadline:
            time.sleep(0.01)

    policy = RetryPolicy(attempts=4, base_seconds=0.5, sleep=wait_for_the_others, outage=outage)
    results: list[bool] = []

    def consumer() -> None:
        start.wait(5)
        results.append(deliver(unreachable, policy=policy, platform="slack", session="s"))

    threads = [threading.Thread(target=consumer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [False] * 8 and outage.down
    assert sum(tries.values()) >= 5 and max(tries.values()) <= 2  # nobody went through its four attempts


def test_each_platform_of_a_process_has_its_own(settings: Settings) -> None:
    app = create_app(settings, store=store_for(fakeredis.FakeRedis(), settings), vlm=None)
    runtime = runtime_of(app)
    slack, again, wecom = (runtime.reply_policy(p).outage for p in ("slack", "slack", "wecom"))
    assert slack is not None and slack is again and wecom is not None and wecom is not slack
    for _ in range(slack.after):
        slack.undelivered()
    assert slack.down and not wecom.down

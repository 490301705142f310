"""``flask --app wsgi turns work``: the Procfile's ``worker`` process (``WORKER_MODE=worker``).

The same consumers of the turn stream that web processes run in thread mode, and the courier, with no web server:
web processes only ack, so a deployment scales turn workers apart from web workers. It runs until SIGTERM or
SIGINT, then finishes the turns it is running (those it cannot finish in time stay in the stream for another
process to take over).
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click
from flask import Flask

from handlers.runner.runtime import Runtime

log = logging.getLogger(__name__)

NEEDS_REDIS = (
    "turns work needs a shared Redis (REDIS_URL, REDIS_CLUSTER or REDIS_SENTINELS): without one, every process "
    "keeps its own store and the web processes' turns would never reach this one"
)


def work(runtime: Runtime, stop: threading.Event) -> None:
    """Consume turns (and deliver order events) until ``stop`` is set, then stop gracefully."""
    runtime.consumes = True
    runtime.start_workers()
    runtime.start_courier()
    log.info("consuming turns with %d threads", runtime.settings.worker_threads)
    stop.wait()
    log.info("stopping: finishing the turns in hand")
    runtime.stop()


def register(app: Flask, runtime: Runtime) -> None:
    @app.cli.group("turns")
    def turns_group() -> None:
        """Run the turns handed on by the webhooks."""

    @turns_group.command("work")
    def work_command() -> None:
        """Consume the turn stream (WORKER_MODE=worker) until SIGTERM or SIGINT."""
        if not runtime.settings.redis_configured:
            raise click.ClickException(NEEDS_REDIS)
        # A worker is a server, not a one-off command: it logs as the web processes do.
        logging.getLogger().setLevel(runtime.settings.log_level.upper())
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        work(runtime, stop)

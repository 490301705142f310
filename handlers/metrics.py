"""Prometheus metrics: the engine's Observer port, webhook ack latency, and ``GET /metrics``.

Each app gets its own ``CollectorRegistry`` (never the process-global one), so tests can
build many apps. ``/metrics`` is open like ``/healthz``: it carries counts by platform,
kind, state and error kind only — no user ids, keys or texts — and Prometheus scrapers
usually cannot send a token. Put it behind the network boundary (or a reverse-proxy
rule) like the health probes.

Webhook ack latency: a before/after-request hook times every ``/webhook/<platform>``
request (the generic webhook included, whose answer is the whole turn). A platform
that acknowledges outside a Flask request can report with ``observe_ack``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, g, has_app_context, has_request_context, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.dialogue.machine import STATES
from bot.ports import Order, StoreUnavailable

if TYPE_CHECKING:  # runtime builds the observer, so it imports this module
    from handlers.runner.runtime import Runtime

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_VLM_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)


class PrometheusObserver:
    """Implements ``bot.observe.Observer`` with counters and histograms in its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.turns = Counter(
            "wobot_turns", "Turns handled, by platform and message kind.", ["platform", "kind"], registry=r
        )
        self.turn_seconds = Histogram(
            "wobot_turn_duration_seconds",
            "Time to handle one turn (engine only).",
            ["platform"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.transitions = Counter("wobot_state_transitions", "Session state changes.", ["source", "dest"], registry=r)
        self.errors = Counter("wobot_errors", "Failures the user was told about, by kind.", ["kind"], registry=r)
        self.vlm_calls = Counter("wobot_vlm_calls", "VLM calls by kind and outcome.", ["kind", "outcome"], registry=r)
        self.vlm_seconds = Histogram(
            "wobot_vlm_call_duration_seconds", "VLM call latency.", ["kind"], buckets=_VLM_BUCKETS, registry=r
        )
        self.nlu_calls = Counter(
            "wobot_nlu_calls", "Free texts read by the language model, by outcome.", ["outcome"], registry=r
        )
        self.nlu_seconds = Histogram(
            "wobot_nlu_call_duration_seconds", "Language model latency.", buckets=_VLM_BUCKETS, registry=r
        )
        self.stt_calls = Counter("wobot_stt_calls", "Voice notes transcribed, by outcome.", ["outcome"], registry=r)
        self.stt_seconds = Histogram(
            "wobot_stt_call_duration_seconds", "Speech-to-text latency.", buckets=_VLM_BUCKETS, registry=r
        )
        self.escalations = Counter(
            "wobot_order_escalations",
            "Unclaimed orders posted again as overdue, by severity.",
            ["severity"],
            registry=r,
        )
        self.acks = Histogram(
            "wobot_webhook_ack_seconds",
            "Time from webhook request to its answer.",
            ["platform"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

        self.redeliveries = Counter(
            "wobot_webhook_redeliveries",
            "Platform events received again and dropped (answered 200, not run twice).",
            ["platform"],
            registry=r,
        )
        # ``labels(…)`` validates and locks on every call; a turn touches three children, so keep them.
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # -- the Observer port ----------------------------------------------------------------------------------
    def turn(self, platform: str, kind: str, seconds: float) -> None:
        self._child(self.turns, platform, kind).inc()
        self._child(self.turn_seconds, platform).observe(seconds)

    def transition(self, source: str, dest: str) -> None:
        self.transitions.labels(source, dest).inc()

    def error(self, kind: str) -> None:
        self.errors.labels(kind).inc()

    def vlm_call(self, kind: str, seconds: float, ok: bool) -> None:
        self.vlm_calls.labels(kind, "ok" if ok else "error").inc()
        self.vlm_seconds.labels(kind).observe(seconds)

    def nlu_call(self, seconds: float, outcome: str) -> None:
        self.nlu_calls.labels(outcome).inc()
        self.nlu_seconds.observe(seconds)

    def stt_call(self, seconds: float, ok: bool) -> None:
        self.stt_calls.labels("ok" if ok else "error").inc()
        self.stt_seconds.observe(seconds)

    def escalation(self, order: Order) -> None:
        self.escalations.labels(order.severity).inc()

    # -- the edge -------------------------------------------------------------------------------------------
    def ack(self, platform: str, seconds: float) -> None:
        self._child(self.acks, platform).observe(seconds)

    def redelivery(self, platform: str) -> None:
        self._child(self.redeliveries, platform).inc()


class ActiveSessions(Collector):
    """``wobot_active_sessions{state}`` and ``…_by_platform{platform}``, read from the ops index at scrape time."""

    def __init__(self, counts: Callable[[], dict[str, Any]]) -> None:
        self._counts = counts  # Ops.session_counts

    def describe(self) -> Iterator[Metric]:
        # Without this, registering would call collect() and touch Redis while the app is being built.
        yield GaugeMetricFamily(
            "wobot_active_sessions", "Sessions active within one session TTL, by state.", labels=["state"]
        )
        yield GaugeMetricFamily(
            "wobot_active_sessions_by_platform", "Active sessions by platform.", labels=["platform"]
        )
        yield GaugeMetricFamily("wobot_session_store_up", "1 if the session store answered this scrape.")

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("wobot_session_store_up", "1 if the session store answered this scrape.")
        try:
            counts = self._counts()
        except StoreUnavailable as exc:
            log.warning("metrics: session store unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        by_state = GaugeMetricFamily(
            "wobot_active_sessions", "Sessions active within one session TTL, by state.", labels=["state"]
        )
        for state in STATES:
            by_state.add_metric([state], counts["by_state"].get(state, 0))
        yield by_state
        by_platform = GaugeMetricFamily(
            "wobot_active_sessions_by_platform", "Active sessions by platform.", labels=["platform"]
        )
        for platform, n in sorted(counts["by_platform"].items()):
            by_platform.add_metric([platform], n)
        yield by_platform
        up.add_metric([], 1)
        yield up


def known_platforms(runtime: Runtime) -> set[str]:
    """Platforms whose index the stats count: every platform module, plus the generic webhook and the console."""
    return {*runtime.platforms, "generic", "console"}


def observer_of(runtime: Runtime) -> PrometheusObserver | None:
    observer = runtime.services.observer
    return observer if isinstance(observer, PrometheusObserver) else None


def observe_ack(platform: str, seconds: float) -> None:
    """Record one webhook acknowledgement's latency (for acks not made inside a Flask request).

    Inside a request the after-request hook already times ``/webhook/…`` routes; a call here
    during a request replaces that measurement rather than adding a second one.
    """
    if not has_app_context():
        return
    runtime: Runtime | None = current_app.extensions.get("wobot")
    observer = observer_of(runtime) if runtime else None
    if observer is None:
        return
    observer.ack(platform, seconds)
    if has_request_context():
        g.wobot_ack_observed = True


def register(app: Flask, runtime: Runtime, session_counts: Callable[[], dict[str, Any]]) -> PrometheusObserver:
    """``GET /metrics`` and the webhook timing hooks. Uses the runtime's observer if it is ours.

    ``session_counts`` is ``Ops.session_counts``: the active-session gauges are read from Redis at scrape time.
    """
    observer = observer_of(runtime)
    if observer is None:
        # A test handed in its own runtime and observer: serve a registry anyway, with the gauges.
        observer = PrometheusObserver()
    if not runtime.settings.prometheus_multiproc_dir:
        observer.registry.register(ActiveSessions(session_counts))
    app.extensions["wobot_metrics"] = observer

    @app.before_request
    def _start_timer() -> None:
        if request.path.startswith("/webhook/"):
            g.wobot_started = time.perf_counter()

    @app.after_request
    def _observe_ack(response: Response) -> Response:
        started = g.pop("wobot_started", None)
        if started is not None and not g.pop("wobot_ack_observed", False):
            platform = request.blueprint or "unknown"
            observer.ack(platform if request.url_rule else "unknown", time.perf_counter() - started)
        return response

    bp = Blueprint("metrics", __name__)

    multiprocess_dir = runtime.settings.prometheus_multiproc_dir
    if multiprocess_dir:
        # Several gunicorn workers (gunicorn.conf.py): the counters of all of them, summed from their files,
        # and the session gauges, read from Redis once.
        scrape = CollectorRegistry()
        multiprocess.MultiProcessCollector(scrape, path=multiprocess_dir)
        scrape.register(ActiveSessions(session_counts))
    else:
        scrape = observer.registry

    @bp.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(scrape), content_type=CONTENT_TYPE_LATEST)

    app.register_blueprint(bp)
    return observer

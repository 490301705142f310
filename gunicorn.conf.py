"""gunicorn reads this file by itself from the working directory: every way of starting gunicorn gets it.

The app is imported once, in the master, before the port opens (``preload_app``): a worker is ready the
moment it is forked (a cold import takes about a second, and requests that arrived meanwhile waited), a
worker that died is replaced at once, and the workers share the imported code's memory. Threads do not
survive a fork, so the app starts its background threads in each worker (``post_worker_init``), never in
the master.

Metrics from every worker: prometheus_client's multiprocess mode. Each worker writes its counters to
files in ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` sums them, so a scrape sees the whole server,
not the one worker that happened to answer. The folder is made fresh (a new temporary folder when the
variable is unset) or emptied at start, before any worker imports prometheus_client, and a worker that
exits is marked dead so its live gauges stop counting.
"""

from __future__ import annotations

import gc
import os
import tempfile
from pathlib import Path
from typing import Any


def _fresh_metrics_folder() -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="wobot-metrics-")
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for leftover in Path(folder).glob("*.db"):  # counts of an earlier run would be added to ours
        leftover.unlink()


_fresh_metrics_folder()  # at load, in the master: before any worker imports prometheus_client

preload_app = True


def _background_after_fork() -> None:
    import handlers.web.app  # the app is imported in this process anyway: preload_app

    handlers.web.app.background_after_fork = True


_background_after_fork()  # at load: before gunicorn preloads the app


def when_ready(server: Any) -> None:
    """In the master, once the app is loaded and before the first fork: freeze what exists now.

    A full garbage collection walks every tracked object, and the app holds tens of thousands after import
    (SQLAlchemy, boto3, Flask…): a stall every few thousand requests that the requests queued behind it pay for
    (p99; the figures are in docs/redis-and-performance.md). Frozen objects are never walked again, and the collector no
    longer writes to the pages the workers share with the master (copy-on-write stays shared).
    """
    gc.collect()
    gc.freeze()


def post_worker_init(worker: Any) -> None:
    from flask import Flask

    from handlers.web.app import start_background

    if isinstance(worker.wsgi, Flask) and "wobot" in worker.wsgi.extensions:
        start_background(worker.wsgi)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess  # imported late: the folder must be set first

    multiprocess.mark_process_dead(worker.pid)

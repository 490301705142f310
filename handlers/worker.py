"""Entry point for ``rq worker`` processes (WORKER_MODE=rq): run one platform turn job.

The runtime is built from the environment on the first job of each worker process
(never at import), then reused.
"""

from __future__ import annotations

from bot.config import Settings
from handlers.logs import configure_logging
from handlers.runtime import Runtime, build_runtime, run_job_logged

_runtime: Runtime | None = None


def run_job(platform: str, job: dict) -> None:
    global _runtime
    if _runtime is None:
        settings = Settings.from_env()
        configure_logging(settings)
        _runtime = build_runtime(settings)
    run_job_logged(_runtime, platform, job)

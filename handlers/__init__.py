"""The HTTP edge: one module per platform, plus the generic webhook, ops and health routes.

A platform module defines ``PLATFORM`` (its name), ``enabled(settings)``,
``blueprint(runtime)`` and ``run_job(runtime, job)``; ``handlers.app`` finds it by
that shape, so adding a platform means adding one module here.
"""

"""What the three adapters over the ``openai`` client (VLM, language model, speech to text) share: every failure
of a call becomes the port's own error with a short reason and no secret, and a metrics hook never breaks a turn."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bot.ports import ServiceError

log = logging.getLogger(__name__)


@contextmanager
def failures_as(error: type[ServiceError], service: str, timeout_seconds: float) -> Iterator[None]:
    """Run one client call; any failure is raised as ``error`` naming ``service`` ("the VLM server")."""
    import openai  # loaded by the adapter's __init__ already: a lookup in sys.modules

    try:
        yield
    except openai.APITimeoutError:
        raise error(f"{service} did not answer within {timeout_seconds:g} s") from None
    except openai.APIConnectionError:
        raise error(f"{service} could not be reached") from None
    except openai.APIStatusError as exc:
        raise error(f"{service} answered HTTP {exc.status_code}") from None
    except ValueError:  # a 200 whose body is not JSON
        raise error(f"{service} sent a body that is not JSON") from None
    except Exception as exc:  # anything else from a foreign client must not crash the user's turn
        raise error(f"the call to {service} failed ({type(exc).__name__})") from None


def report(hook: Callable[..., None] | None, *values: object) -> None:
    """Tell a metrics hook about one call; its own failure is logged, never raised."""
    if hook is None:
        return
    try:
        hook(*values)
    except Exception:
        log.exception("a model call's metrics hook failed")

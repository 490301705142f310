"""The platform registry: every messenger the bot serves, one module each, listed once.

A new platform is one new module in ``handlers/platforms/`` and one line here.
"""

from __future__ import annotations

from handlers.platforms import feishu, slack, wecom
from handlers.platforms.base import PlatformModule


def _registered(*modules: PlatformModule) -> dict[str, PlatformModule]:
    return {module.PLATFORM: module for module in modules}


PLATFORMS: dict[str, PlatformModule] = _registered(wecom, feishu, slack)

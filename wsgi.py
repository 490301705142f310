"""Composition root for servers: ``gunicorn wsgi:app`` (and ``flask --app wsgi …``).

A setting that does not parse stops start-up with one line naming it, not a traceback (an operator reads it).
"""

import sys

from bot.config import Settings, SettingsError
from handlers.web.app import create_app

try:
    settings = Settings.from_env()
except SettingsError as exc:
    sys.exit(f"error: {exc}")

app = create_app(settings)

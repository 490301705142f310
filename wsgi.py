"""Composition root for servers: ``gunicorn wsgi:app``."""

from handlers.web.app import create_app

app = create_app()

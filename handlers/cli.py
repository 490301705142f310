"""``flask --app wsgi bot chat --user NAME``: talk to the engine from a terminal.

Same engine, same store and services as the web process. Type text; ``/photo PATH``
sends a photo, ``/location LAT,LNG LABEL`` a location, ``/quit`` leaves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask import Flask

from bot.messages import Incoming, Location, TurnResult
from bot.ports import StoreUnavailable
from handlers.logs import verbose_option
from handlers.runner.runtime import Runtime

HELP = "Type a message. /photo PATH sends a photo, /location LAT,LNG LABEL a location, /quit leaves."


def parse_line(line: str, user: str, tenant: str) -> Incoming | str:
    """Turn one console line into an Incoming, or return an error sentence for the console."""
    common: dict[str, Any] = {"platform": "console", "tenant": tenant, "user": user}
    if line.startswith("/photo"):
        given = line[len("/photo") :].strip()
        if not given:
            return "usage: /photo PATH   e.g. /photo samples/wall.jpg"
        path = Path(given).expanduser()
        if not path.is_file():
            return f"no such file: {path}"
        return Incoming(kind="image", image=path.read_bytes(), **common)
    if line.startswith("/location"):
        rest = line[len("/location") :].strip()
        coords, _, label = rest.partition(" ")
        try:
            lat_text, lng_text = coords.split(",")
            lat, lng = float(lat_text), float(lng_text)
        except ValueError:
            return "usage: /location LAT,LNG LABEL   e.g. /location 31.2304,121.4737 3号楼东门"
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            return "latitude must be within ±90 and longitude within ±180"
        return Incoming(kind="location", location=Location(label.strip(), lat, lng), **common)
    return Incoming(kind="text", text=line, **common)


def status_line(result: TurnResult) -> str:
    """What the bot waits for after a turn: the open question first (the type, the place…), then the stored state
    ("waiting_location" while the type is asked too), and the order a turn made or closed."""
    parts = [f"waiting for {result.waiting_for}", f"state {result.state}"] if result.waiting_for else [result.state]
    if result.order_id:
        parts.append(f"order {result.order_id}")
    return f"[{', '.join(parts)}]"


def who_you_are(user: str, tenant: str) -> str:
    """The console is its own platform: the same name on the generic webhook is another person (another session)."""
    return (
        f"You are console:{tenant}:{user}, a session of your own: {user!r} on the generic webhook is "
        f"generic:default:{user}, a different person to the bot."
    )


def register(app: Flask, runtime: Runtime) -> None:
    @app.cli.group("bot")
    def bot_group() -> None:
        """Talk to the bot."""

    @bot_group.command("chat")
    @click.option("--user", required=True, help="user id for the session (console:<tenant>:<user>)")
    @click.option("--tenant", default="local", show_default=True)
    @verbose_option
    def chat(user: str, tenant: str) -> None:
        """Chat with the bot in this terminal."""
        click.echo(who_you_are(user, tenant))
        click.echo(HELP)
        while True:
            try:
                line = input("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                click.echo()
                break
            if not line:
                continue
            if line in ("/quit", "/exit"):
                break
            incoming = parse_line(line, user, tenant)
            if isinstance(incoming, str):
                click.echo(incoming)
                continue
            try:
                result = runtime.engine.handle(incoming)
            except StoreUnavailable as exc:
                click.echo(f"[store unavailable: {exc}]")
                continue
            for reply in result.replies:
                click.echo(f"bot> {reply.text}")
            if result.choices:  # a terminal cannot be tapped: the labels show what can be typed instead
                click.echo("     " + "  ".join(f"[{choice.label}]" for choice in result.choices))
            click.echo(click.style(f"    {status_line(result)}", dim=True))

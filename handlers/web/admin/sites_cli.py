"""Ops on the site registry from a shell: ``flask --app wsgi sites tenants|list|export|import …``.

The same operations as the admin API (``bot.sites.admin``), audited as "cli"; exit codes as ``cli``'s.
"""

from __future__ import annotations

from typing import IO

import click
from flask import Flask
from flask.cli import AppGroup

from bot.sites.admin import SiteOps, site_json, tenant_of
from handlers.web.admin import cli, context
from handlers.web.admin.terminal import table


def _sites() -> SiteOps:
    cli.ops()  # the audit trail needs the shared store: refused (exit 3) without one
    with cli._errors():
        return context.sites()


@click.group("sites", cls=AppGroup)
def sites() -> None:
    """The tenants' site registries: list, export and import CSV, print QR tags."""


@sites.command("tenants")
@cli._as_json_option
def sites_tenants(as_json: bool) -> None:
    """Tenants with sites, and how many."""
    with cli._errors():
        counts = _sites().tenants()
    rows = [(t.platform, t.tenant, n) for t, n in sorted(counts.items(), key=str)]
    if as_json:
        cli._json([{"platform": p, "tenant": t, "sites": n} for p, t, n in rows])
    else:
        click.echo(table(rows, ("PLATFORM", "TENANT", "SITES")))


@sites.command("list")
@click.argument("platform")
@click.argument("tenant")
@click.option("--zone", default=None, help="only this zone")
@cli._as_json_option
def sites_list(platform: str, tenant: str, zone: str | None, as_json: bool) -> None:
    """A tenant's sites."""
    with cli._errors():
        found = _sites().list(tenant_of(platform, tenant), zone)
    if as_json:
        cli._json([site_json(s) for s in found])
        return
    rows = [(s.id, s.name, ", ".join(s.aliases), s.zone, s.parent, "yes" if s.located else "") for s in found]
    click.echo(table(rows, ("ID", "NAME", "ALIASES", "ZONE", "PARENT", "COORDINATES")))


@sites.command("export")
@click.argument("platform")
@click.argument("tenant")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-", help="a file (default: stdout)")
def sites_export(platform: str, tenant: str, output: IO[str]) -> None:
    """A tenant's registry as CSV (UTF-8 with BOM)."""
    with cli._errors():
        output.write(_sites().export_csv(tenant_of(platform, tenant)))


@sites.command("import")
@click.argument("platform")
@click.argument("tenant")
@click.argument("csv_file", type=click.File("rb"))
@click.option("--replace", is_flag=True, help="also remove the tenant's sites that are not in the file")
@cli._as_json_option
def sites_import(platform: str, tenant: str, csv_file: IO[bytes], replace: bool, as_json: bool) -> None:
    """Import a CSV: all of it or, at the first bad row (named by its line), nothing (audited as "cli")."""
    with cli._errors():
        applied = _sites().import_csv(tenant_of(platform, tenant), csv_file.read(), replace=replace, who=cli.WHO)
    if as_json:
        cli._json(SiteOps.applied_json(applied))
    else:
        click.echo(
            f"{applied.added} added, {applied.updated} updated, {applied.removed} removed; {applied.total} sites now"
        )


@sites.command("tag")
@click.argument("platform")
@click.argument("tenant")
@click.argument("site_id")
@click.option("-o", "--output", type=click.File("wb"), required=True, help="the PNG file to write")
def sites_tag(platform: str, tenant: str, site_id: str, output: IO[bytes]) -> None:
    """A site's QR tag as a PNG."""
    with cli._errors():
        output.write(_sites().tag(tenant_of(platform, tenant), site_id))


@sites.command("sheet")
@click.argument("platform")
@click.argument("tenant")
@click.option("--zone", default=None, help="only this zone's sites")
@click.option("--part", type=click.IntRange(min=1), default=None, help="sites 240(N-1)+1 … 240N (over 240)")
@click.option("-o", "--output", type=click.File("wb"), required=True, help="the PDF file to write")
def sites_sheet(platform: str, tenant: str, zone: str | None, part: int | None, output: IO[bytes]) -> None:
    """A4 sheets of QR tags (12 a page, at most 240 a PDF: more by --part) as one PDF."""
    with cli._errors():
        output.write(_sites().sheet(tenant_of(platform, tenant), zone, part))


def register(app: Flask) -> None:
    app.cli.add_command(sites)

"""The running admin API checked against its own OpenAPI document with schemathesis.

Schemathesis loads ``/admin/api/openapi.json`` from the app over WSGI, generates requests
for every operation (valid and invalid ones, with and without the token), and checks each
answer: no 5xx, status codes and bodies as documented, content types, 401 without auth.
A few sessions and an order exist under the document's example ids, so the happy paths
are reached as well as the 404s.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import hypothesis
import pytest
import schemathesis
from flask import Flask
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig

from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from handlers.web.admin.openapi import EXAMPLE_SESSION_KEY
from tests.support.admin import TOKEN, admin_app, report_order, runtime, stuck_closing
from tests.support.engine import Chat, store_for


@pytest.fixture
def api_app(settings: Settings, tmp_path: Path) -> Iterator[Flask]:
    orders = SqlWorkOrders(settings.database_url)
    app = admin_app(
        settings, store_for(fakeredis.FakeRedis(), settings), LocalFolderStore(str(tmp_path / "img")), orders
    )
    engine = runtime(app).engine
    platform, tenant, user = EXAMPLE_SESSION_KEY.split(":")
    example = Chat(engine, user=user, platform=platform, tenant=tenant)
    stuck_closing(example, report_order(example))
    report_order(Chat(engine, user="lisi", platform="generic"), seed=2)
    yield app
    orders.dispose()


def _load(app: Flask) -> Any:
    """The document as the app serves it; schemathesis sends the token itself (and leaves it out to test 401)."""
    config = SchemathesisConfig.from_dict({"auth": {"openapi": {"bearer": {"bearer": TOKEN}}}})
    return schemathesis.openapi.from_wsgi("/admin/api/openapi.json", app, config=config)


def _run(strategy: Any, examples: int) -> None:
    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(hypothesis.HealthCheck)
    )
    def check(case: schemathesis.Case) -> None:
        # A cursor is opaque: one the API did not hand out is rightly refused (400) even though any
        # string fits the document, so "schema-valid data must be accepted" cannot hold for it; nor for a
        # date of the documented shape that is no date (2026-13-45).
        query = case.query or {}
        opaque = any(query.get(name) is not None for name in ("cursor", "from", "to"))
        # Nor for a site CSV: its rows are checked (ids, coordinates, parents) beyond what a string schema says.
        opaque = opaque or (case.operation.path == "/sites.csv" and case.method.upper() == "PUT")
        # Nor for a hand-over: its ``to`` must be of the order's own platform and tenant (400 otherwise), which
        # depends on the order, not on the document.
        body = case.body if isinstance(case.body, dict) else {}
        opaque = opaque or (body.get("action") == "hand_over" and isinstance(body.get("to"), dict))
        excluded = [positive_data_acceptance] if opaque else []
        case.call_and_validate(excluded_checks=excluded)

    check()


def test_api_matches_its_openapi_document(api_app: Flask) -> None:
    schema = _load(api_app)
    _run(schema.as_strategy(GenerationMode.POSITIVE), 300)
    _run(schema.as_strategy(GenerationMode.NEGATIVE), 300)


def test_api_happy_paths_match_the_document(api_app: Flask) -> None:
    """The same checks with path parameters that exist, so 200 answers are validated too."""
    schema = _load(api_app)
    order_id = runtime(api_app).services.orders.list(limit=1)[0][0].id
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        if not names:
            continue
        params = {"key": EXAMPLE_SESSION_KEY} if "key" in names else {"order_id": order_id}
        _run(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=params), 25)

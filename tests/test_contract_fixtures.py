"""Contract: every wire fixture the client tests decode is a valid Kalshi payload per the spec.

Fixtures are checked without closing objects: they deliberately carry fields the spec does not
name (``some_future_field``, production's ``Clock``) because the client must tolerate them.
A few fixtures deliberately break the schema to exercise the client's tolerance; each such
violation is listed in ``DELIBERATE`` with its reason, and must stay exactly that.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.kalshi_schema import AsyncApi, OpenApi, asyncapi, openapi


WIRE = Path(__file__).parent / "data" / "wire"

# fixture → the operation (method, path, status) whose response it stands for
REST_FIXTURES = {
    "account_limits.json": ("GET", "/account/limits", 200),
    "balance.json": ("GET", "/portfolio/balance", 200),
    "batch_cancel.json": ("DELETE", "/portfolio/events/orders/batched", 200),
    "batch_create.json": ("POST", "/portfolio/events/orders/batched", 201),
    "cancel_ack.json": ("DELETE", "/portfolio/events/orders/x", 200),
    "create_ack.json": ("POST", "/portfolio/events/orders", 201),
    "event_nested.json": ("GET", "/events/KXTSAW-26AUG30", 200),
    "exchange_status.json": ("GET", "/exchange/status", 200),
    "fills_page.json": ("GET", "/portfolio/fills", 200),
    "markets_page.json": ("GET", "/markets", 200),
    "order.json": ("GET", "/portfolio/orders/x", 200),
    "orderbook.json": ("GET", "/markets/KXTSAW-26AUG30-A2.50/orderbook", 200),
    "orders_page.json": ("GET", "/portfolio/orders", 200),
    "positions_page.json": ("GET", "/portfolio/positions", 200),
}


# fixture → the violations it is meant to have, and why
DELIBERATE = {
    # a pre-2026 order row without outcome_side/book_side (decoded from side/action)
    "orders_page.json": [
        "GET /portfolio/orders [orders__get-orders.yaml] at orders/2: "
        "'outcome_side' is a required property",
        "GET /portfolio/orders [orders__get-orders.yaml] at orders/2: "
        "'book_side' is a required property",
    ],
    # a failed batch item whose ids are null (as observed), not omitted
    "batch_create.json": [
        "POST /portfolio/events/orders/batched [orders__batch-create-orders-v2.yaml] at "
        "orders/1/order_id: None is not of type 'string'",
    ],
}


@pytest.fixture(name="loose_rest")
def loose_rest_fixture() -> OpenApi:
    return openapi(strict=False)


@pytest.fixture(name="loose_ws")
def loose_ws_fixture() -> AsyncApi:
    return asyncapi(strict=False)


def test_every_rest_fixture_is_mapped():
    """A new REST fixture must say which response it stands for."""
    assert sorted(p.name for p in WIRE.glob("*.json")) == sorted(REST_FIXTURES)


@pytest.mark.parametrize("name", sorted(REST_FIXTURES))
def test_rest_fixture_conforms(loose_rest: OpenApi, name: str):
    """The fixture validates against the newest spec text of its operation."""
    method, path, status = REST_FIXTURES[name]
    body = json.loads((WIRE / name).read_text())
    assert loose_rest.errors(method, path, status, body) == DELIBERATE.get(name, [])


@pytest.mark.parametrize("path", sorted((WIRE / "ws").glob("*.json")), ids=lambda p: p.stem)
def test_ws_fixture_conforms(loose_ws: AsyncApi, path: Path):
    """The websocket fixture validates against the AsyncAPI payload of its type."""
    assert loose_ws.errors(json.loads(path.read_text())) == []

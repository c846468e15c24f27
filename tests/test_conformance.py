"""Conformance: Kalshi's official Python SDK parses what the emulator serves, as our client does."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tsad.core.orders import BookSide, OrderRequest
from tsad.kalshi.rest import KalshiClient
from tsad.kalshi.signing import Signer


sdk = pytest.importorskip("kalshi_python_sync")


def sdk_client(rest_url: str, key_id: str, rsa_key: Any) -> Any:
    """Build the SDK's KalshiClient against ``rest_url`` (its documented configuration)."""
    config = sdk.Configuration(host=rest_url)
    config.api_key_id = key_id
    config.private_key_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return sdk.KalshiClient(config)


async def test_official_sdk_parses_emulator(sim, rsa_key, key_id):
    """The SDK reads event, markets, orderbook, orders, positions, fills and balance cleanly."""
    ours = KalshiClient(sim.rest_url, Signer(key_id, rsa_key), tier="premier",
                        rng=random.Random(0))
    try:
        async with asyncio.timeout(20):
            event = await ours.get_event(sim.event_ticker)
            ticker = event.markets[len(event.markets) // 2].ticker
            book = await ours.get_orderbook(ticker)
            price = max(100, (book.yes[-1][0] - 500) if book.yes else 100)
            ack = await ours.create_order(OrderRequest(
                ticker=ticker, side=BookSide.BID, price=price, count=500,
                client_order_id="conformance-1"))
            ours_orders = await ours.list_orders(event_ticker=sim.event_ticker)
            client = sdk_client(sim.rest_url, key_id, rsa_key)

            def read_all() -> dict[str, Any]:
                return {
                    "status": client.get_exchange_status(),
                    "event": client.get_event(sim.event_ticker, with_nested_markets=True),
                    "markets": client.get_markets(event_ticker=sim.event_ticker, limit=100),
                    "orderbook": client.get_market_orderbook(ticker),
                    "orders": client.get_orders(event_ticker=sim.event_ticker),
                    "order": client.get_order(ack.order_id),
                    "positions": client.get_positions(),
                    "fills": client.get_fills(),
                    "balance": client.get_balance(),
                }

            got = await asyncio.to_thread(read_all)
    finally:
        await ours.aclose()
    assert got["status"].trading_active in (True, False)
    assert got["event"].event.event_ticker == sim.event_ticker
    assert len(got["event"].event.markets) == len(event.markets)
    assert sorted(m.ticker for m in got["markets"].markets) == sorted(
        m.ticker for m in event.markets)
    assert got["orderbook"].orderbook_fp is not None
    assert [o.order_id for o in got["orders"].orders] == [o.order_id for o in ours_orders]
    assert got["order"].order.client_order_id == "conformance-1"
    assert got["order"].order.yes_price_dollars is not None
    assert got["positions"].market_positions is not None
    assert got["fills"].fills is not None
    assert got["balance"].balance > 0

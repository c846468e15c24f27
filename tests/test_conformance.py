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


def test_official_sdk_writes_and_reads_everything(sim_thread):
    """Through the SDK's own request and response models: V2 create, batch create, amend
    (after a partial fill, and crossing), decrease, cancel, batch cancel, order groups, and
    the series, events, trades, schedule and settlement reads."""
    sim, client = sim_thread
    orders = sdk.OrdersApi(client)
    groups = sdk.OrderGroupsApi(client)
    t = sim["ticker"]
    ask, ask_size, ask2 = sim["ask"], sim["ask_size"], sim["ask2"]

    def v2(**fields: Any) -> dict[str, Any]:
        return {"time_in_force": "good_till_canceled",
                "self_trade_prevention_type": "taker_at_cross", **fields}

    group = groups.create_order_group(contracts_limit=1000)
    gid = group.order_group_id
    ack = orders.create_order_v2(**v2(ticker=t, side="bid", price=f"{ask / 10_000:.4f}",
                                      count=f"{ask_size / 100 + 5:.2f}", client_order_id="sdk-1",
                                      order_group_id=gid))
    assert ack.fill_count == f"{ask_size / 100:.2f}" and ack.remaining_count == "5.00"
    amended = orders.amend_order_v2(ack.order_id, ticker=t, side="bid",
                                    price=f"{ask / 10_000:.4f}",
                                    count=f"{ask_size / 100 + 8:.2f}")
    assert (amended.fill_count, amended.remaining_count) == ("0.00", "8.00")
    crossed = orders.amend_order_v2(ack.order_id, ticker=t, side="bid",
                                    price=f"{ask2 / 10_000:.4f}",
                                    count=f"{(ask_size + sim['ask2_size']) / 100 + 3:.2f}")
    assert crossed.average_fill_price == f"{ask2 / 10_000:.4f}"
    assert (crossed.fill_count, crossed.remaining_count) == (
        f"{sim['ask2_size'] / 100:.2f}", "3.00")
    dec = orders.decrease_order_v2(ack.order_id, reduce_by="1.00")
    assert dec.order_id == ack.order_id
    group_read = groups.get_order_group(gid)
    assert ack.order_id in group_read.orders
    cancel = orders.cancel_order_v2(ack.order_id)
    assert cancel.order_id == ack.order_id
    batch = orders.batch_create_orders_v2(orders=[
        sdk.CreateOrderV2Request(**v2(ticker=t, side="bid", price="0.0100", count="1.00",
                                      client_order_id=f"sdk-b{i}")) for i in range(2)])
    ids = [item.order_id for item in batch.orders]
    cancelled = orders.batch_cancel_orders_v2(orders=[
        sdk.BatchCancelOrdersV2RequestOrdersInner(order_id=i) for i in ids])
    assert [c.reduced_by for c in cancelled.orders] == ["1.00", "1.00"]
    groups.update_order_group_limit(gid, contracts_limit=5)
    groups.trigger_order_group(gid)
    groups.reset_order_group(gid)
    assert [g.id for g in groups.get_order_groups().order_groups] == [gid]
    groups.delete_order_group(gid)

    market = sdk.MarketApi(client)
    assert market.get_series("KXTSAW").series.ticker == "KXTSAW"
    assert market.get_trades(ticker=t).trades
    assert sdk.ExchangeApi(client).get_exchange_schedule().schedule is not None
    events = sdk.EventsApi(client).get_events(series_ticker="KXTSAW")
    assert events.events[0].settlement_sources
    settlements = sdk.PortfolioApi(client).get_settlements()
    assert settlements.settlements is not None


@pytest.fixture
def sim_thread(rsa_key, key_id):
    """An emulator served from its own thread's loop, for the SDK's blocking calls."""
    import threading

    from tests.conftest import public_pem
    from tsad.sim import Emulator

    ready: dict[str, Any] = {}
    started = threading.Event()
    stop: list[Any] = []

    async def serve() -> None:
        async with Emulator(seed=0, tier="premier") as emulator:
            emulator.register_key(key_id, public_pem(rsa_key))
            market = min(emulator.event.markets,
                         key=lambda m: abs(emulator.fair[int(m.floor_strike or 0)] - 0.5))
            _, asks = emulator.engine.levels(market.ticker)
            ready.update(rest_url=emulator.rest_url, ticker=market.ticker, ask=asks[0][0],
                         ask_size=asks[0][1], ask2=asks[1][0], ask2_size=asks[1][1])
            done = asyncio.Event()
            stop.append((asyncio.get_running_loop(), done))
            started.set()
            await done.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(20)
    try:
        yield ready, sdk_client(ready["rest_url"], key_id, rsa_key)
    finally:
        loop, done = stop[0]
        loop.call_soon_threadsafe(done.set)
        thread.join(20)

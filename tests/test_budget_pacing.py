"""Pacing under load: back-to-back re-prices on the Basic tier draw no 429 from the emulator."""

from __future__ import annotations

import asyncio
import random

import httpx

from tsad.core.orders import BookSide, OrderRequest, WriteAck
from tsad.kalshi.budget import Budget
from tsad.kalshi.rest import KalshiClient
from tsad.kalshi.signing import Signer


LADDER = 6
REPRICES = 20


class Jittery(httpx.AsyncBaseTransport):
    """Loopback with network-like latency: each request waits 0-50 ms before it goes out."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._rng = random.Random(7)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(self._rng.uniform(0, 0.05))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def ladder_spots(client: KalshiClient, event_ticker: str) -> list[tuple[str, int]]:
    """Markets with room for a bid two cents under the best ask (and one cent lower)."""
    event = await client.get_event(event_ticker)
    spots: list[tuple[str, int]] = []
    for m in event.markets:
        book = await client.get_orderbook(m.ticker)
        best_ask = 10000 - book.no[-1][0] if book.no else 10000
        price = min(best_ask - 200, 9000)
        if price - 100 >= 100:
            spots.append((m.ticker, price))
        if len(spots) == LADDER:
            return spots
    raise AssertionError("not enough markets with room for a ladder")


async def test_back_to_back_reprices_draw_no_429(sim, rsa_key, key_id):
    """20 re-prices of a 6-quote ladder, six concurrent amends each, with delivery jitter:
    zero 429s, and every re-price lands."""
    client = KalshiClient(sim.rest_url, Signer(key_id, rsa_key), tier="basic", timeout=10.0,
                          transport=Jittery())
    try:
        async with asyncio.timeout(120):
            await client.prepare()
            spots = await ladder_spots(client, sim.event_ticker)
            acks = await client.batch_create([
                OrderRequest(ticker=t, side=BookSide.BID, price=p, count=100,
                             client_order_id=f"pace-{i}") for i, (t, p) in enumerate(spots)])
            assert all(isinstance(a, WriteAck) for a in acks)
            ids = [a.order_id for a in acks if isinstance(a, WriteAck)]
            for n in range(REPRICES):
                step = 100 * ((n + 1) % 2)
                results = await asyncio.gather(*(
                    client.amend_order(oid, ticker=t, side="bid", price=p - step, count=100)
                    for oid, (t, p) in zip(ids, spots, strict=True)))
                assert all(isinstance(r, WriteAck) for r in results)
    finally:
        await client.aclose()
    rate_limited = [r for r in sim.request_log if r.status == 429]
    assert rate_limited == []
    final_step = 100 * (REPRICES % 2)
    resting = {o.order_id: o.price for o in sim.resting_orders("test-key-id")}
    assert resting == {oid: p - final_step for oid, (_, p) in zip(ids, spots, strict=True)}


def test_budget_tolerates_delivery_skew_on_basic():
    """The Basic write bucket leaves the exchange ≥ 0.2 s of delivery skew (module docstring)."""
    budget = Budget("basic")
    exchange = budget.limits.write
    skew = (exchange.bucket_capacity - budget.write.capacity) / budget.write.rate
    assert skew >= 0.2
    assert budget.write.rate < exchange.refill_rate
